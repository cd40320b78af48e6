//! Canonical form: every short syntax of one file's services and resources rewritten to the
//! reference's long syntax, relative paths made absolute against the file's base directory.
//! Runs per file, before merging, so merges only ever see one shape per key.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{Expected, KeyProblem};
use super::syntax;
use super::tree::{Map, Node};
use super::ComposeError;

mod build;
mod runtime;
mod wiring;

use build::{additional_contexts, build, build_context, command, env_file};
use runtime::{
    blkio, deploy, develop, devices, extra_hosts, file_refs, gpus, healthcheck, hooks, ulimits,
};
use wiring::{depends_on, networks, ports, ports_indexed, volumes};

/// Where a file's relative paths and lookups resolve.
pub(crate) struct Ctx<'a> {
    /// Directory relative paths are resolved against.
    pub base: &'a Path,
    /// The project environment (for `~`, and `KEY` entries without a value).
    pub env: &'a BTreeMap<String, String>,
    /// Port mappings produced so far in this file (ranges expand to one entry per port).
    pub ports: &'a std::cell::Cell<usize>,
    /// The untyped model of `--no-interpolate`: only the keys the reference canonicalises
    /// there (build, depends_on, env_file, networks, ports, volumes, secrets, configs).
    pub untyped: bool,
    /// Where each expanded port entry was written: `(services.<s>.ports, entry's text)` ->
    /// index in the written list (a range is one written entry and many expanded ones), so
    /// messages can name the entry as the file has it.
    pub written: Option<&'a std::cell::RefCell<BTreeMap<(String, String), usize>>>,
}

/// Most port mappings one file may expand to: four full `1-65535` ranges. Far above real
/// stacks, small enough that a file of range specs cannot exhaust memory.
pub(crate) const MAX_PORT_MAPPINGS: usize = 4 * 65536;

impl Ctx<'_> {
    fn home(&self) -> Option<&str> {
        self.env.get("HOME").map(String::as_str)
    }

    fn path(&self, p: &str) -> String {
        syntax::resolve_path(p, self.base, self.home())
    }
}

fn key_error(path: impl Into<String>, problem: KeyProblem) -> ComposeError {
    ComposeError::Key {
        file: None,
        path: path.into(),
        problem,
    }
}

fn syntax_error(path: &str, reason: syntax::SyntaxError) -> ComposeError {
    ComposeError::Syntax {
        file: None,
        path: path.to_owned(),
        reason,
    }
}

/// A scalar rendered as the reference renders it in a string position.
pub(crate) fn scalar_string(node: &Node) -> Option<String> {
    match node {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(format_float(*f)),
        Node::Bool(b) => Some(b.to_string()),
        Node::Tagged(_, inner) => scalar_string(inner),
        _ => None,
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

/// How a `KEY` list entry without `=` is valued.
#[derive(Clone, Copy)]
enum Bare {
    /// From the environment, else null (`environment`, `build.args`).
    Lookup,
    /// The empty string (`labels`, `annotations`, `sysctls`, `logging.options`: Go
    /// `map[string]string`).
    Empty,
    /// Null (`additional_contexts` maps; a bare list entry is an error there).
    Null,
}

/// A list of `KEY=VALUE` strings or a map, as a map of strings.
fn list_or_map(node: Node, path: &str, bare: Bare, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut out = Map::new();
    match node {
        Node::Map(m) => {
            for (k, v) in m {
                let v = match v {
                    tagged @ Node::Tagged(..) => tagged,
                    Node::Null => match bare {
                        Bare::Lookup => {
                            ctx.env.get(&k).map_or(Node::Null, |s| Node::Str(s.clone()))
                        }
                        Bare::Empty => Node::Str(String::new()),
                        Bare::Null => Node::Null,
                    },
                    other => Node::Str(scalar_string(&other).ok_or_else(|| {
                        key_error(format!("{path}.{k}"), KeyProblem::must_be(Expected::Scalar))
                    })?),
                };
                out.insert(k, v);
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let s = scalar_string(&item).ok_or_else(|| {
                    key_error(
                        format!("{path}[{i}]"),
                        KeyProblem::must_be(Expected::String),
                    )
                })?;
                match s.split_once('=') {
                    Some((k, v)) => {
                        out.insert(k.to_string(), Node::Str(v.to_string()));
                    }
                    None => {
                        let v = match bare {
                            Bare::Lookup => {
                                ctx.env.get(&s).map_or(Node::Null, |v| Node::Str(v.clone()))
                            }
                            Bare::Empty => Node::Str(String::new()),
                            Bare::Null => Node::Null,
                        };
                        out.insert(s, v);
                    }
                }
            }
        }
        Node::Null => {}
        other => {
            return Err(key_error(
                path,
                KeyProblem::wrong(Expected::MappingOrList, other.kind()),
            ))
        }
    }
    Ok(Node::Map(out))
}

/// A string or a list of strings, as a list.
fn string_or_list(node: Node) -> Node {
    match node {
        Node::Str(s) => Node::Seq(vec![Node::Str(s)]),
        Node::Seq(items) => Node::Seq(
            items
                .into_iter()
                .map(|n| scalar_string(&n).map_or(n, Node::Str))
                .collect(),
        ),
        other => other,
    }
}

fn bytes(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => syntax::parse_bytes(&s)
            .map(|b| Node::Str(b.to_string()))
            .map_err(|reason| syntax_error(path, reason)),
        Node::Int(i) => Ok(Node::Str(i.to_string())),
        Node::Float(f) => Ok(Node::Str(format_float(f.trunc()))),
        other => Ok(other),
    }
}

fn to_int(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => s
            .trim()
            .parse::<i64>()
            .map(Node::Int)
            .map_err(|_| key_error(path, KeyProblem::NotInteger(s))),
        other => Ok(other),
    }
}

fn to_float(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => s
            .trim()
            .parse::<f64>()
            .map(num)
            .map_err(|_| key_error(path, KeyProblem::InvalidNumber(s))),
        Node::Int(i) => Ok(Node::Int(i)),
        other => Ok(other),
    }
}

fn num(f: f64) -> Node {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "only whole numbers that fit are converted"
    )]
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Node::Int(f as i64)
    } else {
        Node::Float(f)
    }
}

fn duration(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => syntax::parse_duration(&s)
            .map(|ns| Node::Str(syntax::format_duration(ns)))
            .map_err(|reason| syntax_error(path, reason)),
        other => Ok(other),
    }
}

fn to_bool(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Ok(Node::Bool(true)),
            "false" | "no" | "n" | "off" => Ok(Node::Bool(false)),
            _ => Err(key_error(path, KeyProblem::NotBoolean(s))),
        },
        other => Ok(other),
    }
}

/// Applies `f` to the value under `key`, keeping a merge tag around the result.
fn edit(
    m: &mut Map,
    key: &str,
    f: impl FnOnce(Node) -> Result<Node, ComposeError>,
) -> Result<(), ComposeError> {
    let Some(slot) = m.get_mut(key) else {
        return Ok(());
    };
    let v = std::mem::replace(slot, Node::Null);
    *slot = match v {
        Node::Tagged(t, inner) if matches!(*inner, Node::Null) => Node::Tagged(t, inner),
        Node::Tagged(t, inner) => Node::Tagged(t, Box::new(f(*inner)?)),
        Node::Null => Node::Null,
        other => f(other)?,
    };
    Ok(())
}

const SIZE_KEYS: &[&str] = &["mem_limit", "mem_reservation", "memswap_limit", "shm_size"];
const INT_KEYS: &[&str] = &[
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "oom_score_adj",
    "pids_limit",
    "scale",
];
const BOOL_KEYS: &[&str] = &[
    "privileged",
    "read_only",
    "stdin_open",
    "tty",
    "init",
    "oom_kill_disable",
    "attach",
    "use_api_socket",
];
const LIST_KEYS: &[&str] = &[
    "dns",
    "dns_search",
    "tmpfs",
    "dns_opt",
    "cap_add",
    "cap_drop",
    "security_opt",
    "group_add",
    "external_links",
    "links",
    "profiles",
    "volumes_from",
    "device_cgroup_rules",
];

/// Rewrites one service to the long syntax.
pub(crate) fn service(name: &str, node: Node, ctx: &Ctx<'_>) -> Result<Map, ComposeError> {
    let p = format!("services.{name}");
    let mut m = match node {
        Node::Map(m) => m,
        Node::Null => Map::new(),
        other => {
            return Err(key_error(
                p,
                KeyProblem::wrong(Expected::Mapping, other.kind()),
            ))
        }
    };
    // One pass over the keys present (not one lookup per known key): this runs for every
    // service of every file.
    for (key, slot) in &mut m {
        let v = std::mem::replace(slot, Node::Null);
        *slot = match v {
            Node::Tagged(t, inner) if matches!(*inner, Node::Null) => Node::Tagged(t, inner),
            Node::Tagged(t, inner) => Node::Tagged(t, Box::new(service_key(&p, key, *inner, ctx)?)),
            Node::Null => Node::Null,
            other => service_key(&p, key, other, ctx)?,
        };
    }
    // The reference drops `false` for these booleans (Go `omitempty`), in its typed model.
    if ctx.untyped {
        return Ok(m);
    }
    for key in [
        "privileged",
        "read_only",
        "stdin_open",
        "tty",
        "oom_kill_disable",
    ] {
        if matches!(m.get(key), Some(Node::Bool(false))) {
            m.remove(key);
        }
    }
    Ok(m)
}

/// Rewrites the value of one service key to the long syntax.
fn service_key(p: &str, key: &str, v: Node, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let path = || format!("{p}.{key}");
    if ctx.untyped {
        return untyped_key(p, key, v, ctx);
    }
    match key {
        "build" => build(v, &path(), ctx),
        "command" | "entrypoint" => command(v, &path()),
        "environment" => list_or_map(v, &path(), Bare::Lookup, ctx),
        "labels" | "annotations" => list_or_map(v, &path(), Bare::Empty, ctx),
        "sysctls" => list_or_map(v, &path(), Bare::Empty, ctx),
        "env_file" => env_file(v, &path(), ctx),
        "label_file" => Ok(Node::Seq(
            seq(string_or_list(v))
                .into_iter()
                .map(|f| scalar_string(&f).map_or(f, |s| Node::Str(ctx.path(&s))))
                .collect(),
        )),
        "ports" => {
            let indexed = ports_indexed(v, &path())?;
            if let Some(w) = ctx.written {
                let mut w = w.borrow_mut();
                for (i, n) in &indexed {
                    w.entry((path(), super::merge::fingerprint(n)))
                        .or_insert(*i);
                }
            }
            let out = Node::Seq(indexed.into_iter().map(|(_, n)| n).collect());
            let total = ctx.ports.get() + out.as_seq().map_or(0, <[Node]>::len);
            if total > MAX_PORT_MAPPINGS {
                return Err(key_error(
                    path(),
                    KeyProblem::TooManyPorts {
                        limit: MAX_PORT_MAPPINGS,
                    },
                ));
            }
            ctx.ports.set(total);
            Ok(out)
        }
        "expose" => Ok(Node::Seq(
            seq(v)
                .into_iter()
                .map(|n| scalar_string(&n).map_or(n, Node::Str))
                .collect(),
        )),
        "volumes" => volumes(v, &path(), ctx),
        "depends_on" => depends_on(v, &path()),
        "networks" => networks(v, &path()),
        "secrets" | "configs" => file_refs(v, &path()),
        "healthcheck" => healthcheck(v, &path()),
        "devices" => devices(v, &path()),
        "extra_hosts" => extra_hosts(v, &path()),
        "ulimits" => ulimits(v, &path()),
        "deploy" => deploy(v, &path()),
        "gpus" => gpus(v, &path()),
        "develop" => develop(v, ctx),
        "cpus" => to_float(v, &path()),
        "stop_grace_period" => duration(v, &path()),
        "provider" => {
            let mut pr = into_map(v);
            edit(&mut pr, "options", |o| {
                let mut out = Map::new();
                for (k, v) in into_map(o) {
                    let list = seq(v)
                        .into_iter()
                        .map(|n| scalar_string(&n).map_or(n, Node::Str))
                        .collect();
                    out.insert(k, Node::Seq(list));
                }
                Ok(Node::Map(out))
            })?;
            Ok(Node::Map(pr))
        }
        "blkio_config" => blkio(v, &path()),
        "post_start" | "pre_stop" => hooks(v, &path(), ctx),
        "models" => match v {
            Node::Seq(items) => Ok(Node::Map(
                items
                    .into_iter()
                    .filter_map(|n| scalar_string(&n))
                    .map(|s| (s, Node::Null))
                    .collect(),
            )),
            other => Ok(other),
        },
        "logging" => {
            let mut l = into_map(v);
            edit(&mut l, "options", |o| {
                list_or_map(o, &format!("{p}.logging.options"), Bare::Empty, ctx)
            })?;
            Ok(Node::Map(l))
        }
        "tmpfs" => Ok(string_or_list(v)),
        // Printed as a string by the reference.
        "mem_swappiness" => Ok(scalar_string(&v).map_or(v, Node::Str)),
        k if SIZE_KEYS.contains(&k) => bytes(v, &path()),
        k if INT_KEYS.contains(&k) => to_int(v, &path()),
        k if BOOL_KEYS.contains(&k) => to_bool(v, &path()),
        k if LIST_KEYS.contains(&k) => Ok(string_or_list(v)),
        _ => Ok(v),
    }
}

/// The `--no-interpolate` (untyped model) form of one service key: the reference
/// canonicalises only these keys there, and leaves sizes, durations, modes and lists as
/// written.
fn untyped_key(p: &str, key: &str, v: Node, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let path = || format!("{p}.{key}");
    match key {
        "build" => {
            let mut m = match v {
                Node::Str(s) => std::iter::once(("context".to_string(), Node::Str(s))).collect(),
                other => into_map(other),
            };
            build_context(&mut m, ctx);
            edit(&mut m, "additional_contexts", |v| {
                additional_contexts(v, &format!("{}.additional_contexts", path()), ctx)
            })?;
            Ok(Node::Map(m))
        }
        "ports" => Ok(Node::Seq(
            seq(v)
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Node::Map(mut m) => {
                        m.entry("mode".to_string())
                            .or_insert_with(|| Node::Str("ingress".into()));
                        m.entry("protocol".to_string())
                            .or_insert_with(|| Node::Str("tcp".into()));
                        Ok(vec![Node::Map(m)])
                    }
                    other => ports(Node::Seq(vec![other]), &format!("{}[{i}]", path())).map(seq),
                })
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
        )),
        "depends_on" => depends_on(v, &path()),
        "env_file" => env_file(v, &path(), ctx),
        "label_file" => Ok(Node::Seq(
            seq(string_or_list(v))
                .into_iter()
                .map(|f| scalar_string(&f).map_or(f, |s| Node::Str(ctx.path(&s))))
                .collect(),
        )),
        "networks" => networks(v, &path()),
        "devices" => devices(v, &path()),
        "models" => match v {
            Node::Seq(items) => Ok(Node::Map(
                items
                    .into_iter()
                    .filter_map(|n| scalar_string(&n))
                    .map(|s| (s, Node::Null))
                    .collect(),
            )),
            other => Ok(other),
        },
        "gpus" => match v {
            Node::Str(s) => Ok(Node::Seq(vec![Node::Map(
                std::iter::once(("count".to_string(), Node::Str(s))).collect(),
            )])),
            other => Ok(other),
        },
        "develop" => {
            let mut m = into_map(v);
            edit(&mut m, "watch", |w| {
                Ok(Node::Seq(
                    seq(w)
                        .into_iter()
                        .map(|item| {
                            let mut e = into_map(item);
                            if let Some(Node::Str(p)) = e.get("path").cloned() {
                                e.insert("path".into(), Node::Str(ctx.path(&p)));
                            }
                            Node::Map(e)
                        })
                        .collect(),
                ))
            })?;
            Ok(Node::Map(m))
        }
        "volumes" => Ok(Node::Seq(
            seq(v)
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Node::Str(s) => syntax::parse_volume(&s, ctx.base, ctx.home())
                        .map(Node::Map)
                        .map_err(|reason| syntax_error(&format!("{}[{i}]", path()), reason)),
                    Node::Map(mut m) => {
                        if m.get("type").and_then(Node::as_str) == Some("bind") {
                            if let Some(src) = m.get("source").and_then(scalar_string) {
                                m.insert("source".into(), Node::Str(ctx.path(&src)));
                            }
                        }
                        Ok(Node::Map(m))
                    }
                    other => Ok(other),
                })
                .collect::<Result<_, _>>()?,
        )),
        "secrets" | "configs" => Ok(Node::Seq(
            seq(v)
                .into_iter()
                .map(|item| match item {
                    Node::Str(s) => {
                        Node::Map(std::iter::once(("source".to_string(), Node::Str(s))).collect())
                    }
                    other => other,
                })
                .collect(),
        )),
        _ => Ok(v),
    }
}

fn into_map(node: Node) -> Map {
    match node {
        Node::Map(m) => m,
        _ => Map::new(),
    }
}

fn seq(node: Node) -> Vec<Node> {
    match node {
        Node::Seq(items) => items,
        Node::Null => Vec::new(),
        other => vec![other],
    }
}

/// Rewrites a top-level `networks`/`volumes`/`secrets`/`configs` entry: labels to a map and
/// file paths made absolute.
pub(crate) fn resource(
    kind: &str,
    name: &str,
    node: Node,
    ctx: &Ctx<'_>,
) -> Result<Node, ComposeError> {
    let p = format!("{kind}.{name}");
    let mut m = match node {
        Node::Map(m) => m,
        Node::Null => Map::new(),
        other => {
            return Err(key_error(
                p,
                KeyProblem::wrong(Expected::Mapping, other.kind()),
            ))
        }
    };
    if ctx.untyped {
        // Only file paths are resolved in the untyped model.
        if kind == "secrets" || kind == "configs" {
            edit(&mut m, "file", |v| {
                Ok(scalar_string(&v).map_or(v, |s| Node::Str(ctx.path(&s))))
            })?;
        }
        return Ok(Node::Map(m));
    }
    edit(&mut m, "labels", |v| {
        list_or_map(v, &format!("{p}.labels"), Bare::Empty, ctx)
    })?;
    edit(&mut m, "external", |v| match v {
        Node::Map(e) => {
            // Legacy `external: {name: x}`: the name moves up.
            Ok(Node::Map(e))
        }
        other => to_bool(other, &format!("{p}.external")),
    })?;
    if let Some(Node::Map(e)) = m.get("external").cloned() {
        if let Some(n) = e.get("name") {
            m.entry("name".into()).or_insert_with(|| n.clone());
        }
        m.insert("external".into(), Node::Bool(true));
    }
    if matches!(m.get("external"), Some(Node::Bool(false))) {
        m.remove("external");
    }
    if kind == "secrets" || kind == "configs" {
        edit(&mut m, "file", |v| {
            Ok(scalar_string(&v).map_or(v, |s| Node::Str(ctx.path(&s))))
        })?;
    }
    if kind == "networks" {
        for key in ["internal", "attachable", "enable_ipv6", "enable_ipv4"] {
            edit(&mut m, key, |v| to_bool(v, &format!("{p}.{key}")))?;
        }
        for key in ["internal", "attachable"] {
            if matches!(m.get(key), Some(Node::Bool(false))) {
                m.remove(key);
            }
        }
    }
    Ok(Node::Map(m))
}
