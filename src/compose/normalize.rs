//! Canonical form: every short syntax of one file's services and resources rewritten to the
//! reference's long syntax, relative paths made absolute against the file's base directory.
//! Runs per file, before merging, so merges only ever see one shape per key.

use std::collections::BTreeMap;
use std::path::Path;

use super::syntax;
use super::tree::{Map, Node};
use super::ComposeError;

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

fn invalid(message: String) -> ComposeError {
    ComposeError::Invalid { message }
}

fn syntax_error(path: &str, reason: syntax::SyntaxError) -> ComposeError {
    ComposeError::Syntax {
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
                        invalid(format!(
                            "{path}.{k} must be a boolean, null, number or string"
                        ))
                    })?),
                };
                out.insert(k, v);
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let s = scalar_string(&item)
                    .ok_or_else(|| invalid(format!("{path}[{i}] must be a string")))?;
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
            return Err(invalid(format!(
                "{path} must be a mapping or a list, not {}",
                other.kind()
            )))
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
            .map_err(|_| invalid(format!("{path}: failed to cast to expected type: strconv.Atoi: parsing {s:?}: invalid syntax"))),
        other => Ok(other),
    }
}

fn to_float(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => s
            .trim()
            .parse::<f64>()
            .map(num)
            .map_err(|_| invalid(format!("{path}: invalid number {s:?}"))),
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
            _ => Err(invalid(format!(
                "{path}: failed to cast to expected type: invalid boolean: {s}"
            ))),
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
            return Err(invalid(format!(
                "{p} must be a mapping, not {}",
                other.kind()
            )))
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
                return Err(invalid(format!(
                    "{}: port ranges expand to more than {MAX_PORT_MAPPINGS} mappings",
                    path()
                )));
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

fn command(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) => Ok(Node::Seq(
            syntax::split_command(&s)
                .map_err(|reason| syntax_error(path, reason))?
                .into_iter()
                .map(Node::Str)
                .collect(),
        )),
        Node::Seq(items) => Ok(Node::Seq(
            items
                .into_iter()
                .map(|n| scalar_string(&n).map_or(n, Node::Str))
                .collect(),
        )),
        other => Ok(other),
    }
}

/// A build's `context` resolved against the project directory (a remote one as written),
/// and `dockerfile` defaulted to `Dockerfile` unless an inline one is given.
fn build_context(m: &mut Map, ctx: &Ctx<'_>) {
    let context = m
        .get("context")
        .and_then(scalar_string)
        .unwrap_or_else(|| ".".into());
    let context = if is_remote(&context) {
        context
    } else {
        ctx.path(&context)
    };
    m.insert("context".into(), Node::Str(context));
    if !m.contains_key("dockerfile") && !m.contains_key("dockerfile_inline") {
        m.insert("dockerfile".into(), Node::Str("Dockerfile".into()));
    }
}

fn build(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut m = match node {
        Node::Str(s) => {
            let mut m = Map::new();
            m.insert("context".into(), Node::Str(s));
            m
        }
        Node::Map(m) => m,
        other => {
            return Err(invalid(format!(
                "{path} must be a string or a mapping, not {}",
                other.kind()
            )))
        }
    };
    build_context(&mut m, ctx);
    edit(&mut m, "args", |v| {
        list_or_map(v, &format!("{path}.args"), Bare::Lookup, ctx)
    })?;
    edit(&mut m, "labels", |v| {
        list_or_map(v, &format!("{path}.labels"), Bare::Empty, ctx)
    })?;
    edit(&mut m, "additional_contexts", |v| {
        additional_contexts(v, &format!("{path}.additional_contexts"), ctx)
    })?;
    edit(&mut m, "extra_hosts", |v| {
        extra_hosts(v, &format!("{path}.extra_hosts"))
    })?;
    edit(&mut m, "secrets", |v| {
        file_refs(v, &format!("{path}.secrets"))
    })?;
    edit(&mut m, "shm_size", |v| {
        bytes(v, &format!("{path}.shm_size"))
    })?;
    edit(&mut m, "ulimits", |v| {
        ulimits(v, &format!("{path}.ulimits"))
    })?;
    edit(&mut m, "ssh", |v| match v {
        Node::Map(m) => Ok(Node::Seq(
            m.into_iter()
                .map(|(k, v)| Node::Str(format!("{k}={}", scalar_string(&v).unwrap_or_default())))
                .collect(),
        )),
        other => Ok(string_or_list(other)),
    })?;
    for key in ["cache_from", "cache_to", "tags", "platforms"] {
        edit(&mut m, key, |v| Ok(string_or_list(v)))?;
    }
    for key in ["no_cache", "pull", "privileged"] {
        edit(&mut m, key, |v| to_bool(v, &format!("{path}.{key}")))?;
        if matches!(m.get(key), Some(Node::Bool(false))) {
            m.remove(key);
        }
    }
    Ok(Node::Map(m))
}

/// `additional_contexts` as a map, local paths made absolute.
fn additional_contexts(v: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    if let Node::Seq(items) = &v {
        if let Some(bare) = items
            .iter()
            .filter_map(scalar_string)
            .find(|s| !s.contains('='))
        {
            return Err(invalid(format!(
                "{path}: invalid value {bare}, expected key=value"
            )));
        }
    }
    let m = into_map(list_or_map(v, path, Bare::Null, ctx)?);
    Ok(Node::Map(
        m.into_iter()
            .map(|(k, v)| match v {
                Node::Str(s) if !s.contains("://") && !s.contains(':') => {
                    (k, Node::Str(ctx.path(&s)))
                }
                other => (k, other),
            })
            .collect(),
    ))
}

fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

fn env_file(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        let mut m = Map::new();
        match item {
            Node::Str(s) => {
                m.insert("path".into(), Node::Str(ctx.path(&s)));
                m.insert("required".into(), Node::Bool(true));
            }
            Node::Map(mut e) => {
                let file = e
                    .remove("path")
                    .and_then(|p| scalar_string(&p))
                    .ok_or_else(|| invalid(format!("{path}[{i}].path is required")))?;
                m.insert("path".into(), Node::Str(ctx.path(&file)));
                let required = to_bool(
                    e.remove("required").unwrap_or(Node::Bool(true)),
                    &format!("{path}[{i}].required"),
                )?;
                m.insert("required".into(), required);
                if let Some(f) = e.remove("format") {
                    m.insert("format".into(), f);
                }
            }
            other => {
                return Err(invalid(format!(
                    "{path}[{i}] must be a string or a mapping, not {}",
                    other.kind()
                )))
            }
        }
        out.push(Node::Map(m));
    }
    Ok(Node::Seq(out))
}

fn ports(node: Node, path: &str) -> Result<Node, ComposeError> {
    Ok(Node::Seq(
        ports_indexed(node, path)?
            .into_iter()
            .map(|(_, n)| n)
            .collect(),
    ))
}

/// The long-syntax port entries, each with the index of the written entry it came from.
fn ports_indexed(node: Node, path: &str) -> Result<Vec<(usize, Node)>, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Int(n) => out.extend(
                syntax::parse_port(&n.to_string())
                    .map_err(|reason| syntax_error(&format!("{path}[{i}]"), reason))?
                    .into_iter()
                    .map(|n| (i, n)),
            ),
            Node::Str(s) => out.extend(
                syntax::parse_port(&s)
                    .map_err(|reason| syntax_error(&format!("{path}[{i}]"), reason))?
                    .into_iter()
                    .map(|n| (i, n)),
            ),
            Node::Map(mut m) => {
                if !m.contains_key("mode") {
                    m.insert("mode".into(), Node::Str("ingress".into()));
                }
                if !m.contains_key("protocol") {
                    m.insert("protocol".into(), Node::Str("tcp".into()));
                }
                edit(&mut m, "target", |v| {
                    to_int(v, &format!("{path}[{i}].target"))
                })?;
                edit(&mut m, "published", |v| {
                    Ok(scalar_string(&v).map_or(v, Node::Str))
                })?;
                out.push((i, Node::Map(m)));
            }
            other => {
                return Err(invalid(format!(
                    "{path}[{i}] must be a number, a string or a mapping, not {}",
                    other.kind()
                )))
            }
        }
    }
    Ok(out)
}

fn volumes(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Str(s) => out.push(Node::Map(
                syntax::parse_volume(&s, ctx.base, ctx.home())
                    .map_err(|reason| syntax_error(&format!("{path}[{i}]"), reason))?,
            )),
            Node::Map(mut m) => {
                let kind = m
                    .get("type")
                    .and_then(Node::as_str)
                    .unwrap_or("volume")
                    .to_string();
                if kind == "bind" {
                    match m.get("source").and_then(scalar_string) {
                        Some(src) if !src.is_empty() => {
                            m.insert("source".into(), Node::Str(ctx.path(&src)));
                        }
                        _ => return Err(invalid(format!("{path}[{i}]: invalid mount config for type \"bind\": field Source must not be empty"))),
                    }
                }
                edit(&mut m, "read_only", |v| {
                    to_bool(v, &format!("{path}[{i}].read_only"))
                })?;
                if matches!(m.get("read_only"), Some(Node::Bool(false))) {
                    m.remove("read_only");
                }
                edit(&mut m, "tmpfs", |v| {
                    let mut t = into_map(v);
                    edit(&mut t, "size", |s| {
                        bytes(s, &format!("{path}[{i}].tmpfs.size"))
                    })?;
                    Ok(Node::Map(t))
                })?;
                edit(&mut m, "target", |t| {
                    Ok(scalar_string(&t).map_or(t, |s| Node::Str(syntax::clean_target(&s))))
                })?;
                // `false` options are not printed (Go `omitempty`).
                for key in ["bind", "volume"] {
                    if let Some(Node::Map(opts)) = m.get_mut(key) {
                        opts.retain(|_, v| !matches!(v, Node::Bool(false)));
                    }
                }
                out.push(Node::Map(m));
            }
            other => {
                return Err(invalid(format!(
                    "{path}[{i}] must be a string or a mapping, not {}",
                    other.kind()
                )))
            }
        }
    }
    Ok(Node::Seq(out))
}

fn depends_on(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Map::new();
    match node {
        Node::Seq(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let name = scalar_string(&item)
                    .ok_or_else(|| invalid(format!("{path}[{i}] must be a string")))?;
                let mut d = Map::new();
                d.insert("condition".into(), Node::Str("service_started".into()));
                d.insert("required".into(), Node::Bool(true));
                out.insert(name, Node::Map(d));
            }
        }
        Node::Map(m) => {
            for (name, v) in m {
                let mut d = into_map(v);
                if !d.contains_key("condition") {
                    d.insert("condition".into(), Node::Str("service_started".into()));
                }
                edit(&mut d, "required", |v| {
                    to_bool(v, &format!("{path}.{name}.required"))
                })?;
                edit(&mut d, "restart", |v| {
                    to_bool(v, &format!("{path}.{name}.restart"))
                })?;
                if !d.contains_key("required") {
                    d.insert("required".into(), Node::Bool(true));
                }
                if matches!(d.get("restart"), Some(Node::Bool(false))) {
                    d.remove("restart");
                }
                out.insert(name, Node::Map(d));
            }
        }
        other => {
            return Err(invalid(format!(
                "{path} must be a list or a mapping, not {}",
                other.kind()
            )))
        }
    }
    Ok(Node::Map(out))
}

fn networks(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Seq(items) => {
            let mut out = Map::new();
            for (i, item) in items.into_iter().enumerate() {
                let name = scalar_string(&item)
                    .ok_or_else(|| invalid(format!("{path}[{i}] must be a string")))?;
                out.insert(name, Node::Null);
            }
            Ok(Node::Map(out))
        }
        Node::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = match v {
                    Node::Map(mut n) => {
                        edit(&mut n, "aliases", |a| Ok(string_or_list(a)))?;
                        edit(&mut n, "priority", |a| {
                            to_int(a, &format!("{path}.{k}.priority"))
                        })?;
                        Node::Map(n)
                    }
                    other => other,
                };
                out.insert(k, v);
            }
            Ok(Node::Map(out))
        }
        other => Err(invalid(format!(
            "{path} must be a list or a mapping, not {}",
            other.kind()
        ))),
    }
}

fn file_refs(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Str(s) => {
                let mut m = Map::new();
                m.insert("source".into(), Node::Str(s));
                out.push(Node::Map(m));
            }
            Node::Map(mut m) => {
                for key in ["uid", "gid"] {
                    edit(&mut m, key, |v| Ok(scalar_string(&v).map_or(v, Node::Str)))?;
                }
                edit(&mut m, "mode", |v| match v {
                    Node::Str(s) => i64::from_str_radix(s.trim_start_matches("0o"), 8)
                        .map(|n| Node::Str(format!("0{n:o}")))
                        .map_err(|_| invalid(format!("{path}[{i}].mode: invalid file mode {s:?}"))),
                    Node::Int(n) => Ok(Node::Str(format!("0{n:o}"))),
                    other => Ok(other),
                })?;
                out.push(Node::Map(m));
            }
            other => {
                return Err(invalid(format!(
                    "{path}[{i}] must be a string or a mapping, not {}",
                    other.kind()
                )))
            }
        }
    }
    Ok(Node::Seq(out))
}

fn healthcheck(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut m = into_map(node);
    edit(&mut m, "test", |v| match v {
        Node::Str(s) => Ok(Node::Seq(vec![Node::Str("CMD-SHELL".into()), Node::Str(s)])),
        other => Ok(other),
    })?;
    edit(&mut m, "retries", |v| to_int(v, &format!("{path}.retries")))?;
    for key in ["interval", "timeout", "start_period", "start_interval"] {
        edit(&mut m, key, |v| duration(v, &format!("{path}.{key}")))?;
    }
    edit(&mut m, "disable", |v| {
        to_bool(v, &format!("{path}.disable"))
    })?;
    if matches!(m.get("disable"), Some(Node::Bool(false))) {
        m.remove("disable");
    }
    Ok(Node::Map(m))
}

fn devices(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        match item {
            Node::Str(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, perms) = match parts.as_slice() {
                    [a] => (*a, *a, "rwm"),
                    [a, b] => (*a, *b, "rwm"),
                    [a, b, c] => (*a, *b, *c),
                    _ => {
                        return Err(invalid(format!(
                            "{path}[{i}]: invalid device specification: {s}"
                        )))
                    }
                };
                let mut m = Map::new();
                m.insert("source".into(), Node::Str(src.into()));
                m.insert("target".into(), Node::Str(dst.into()));
                m.insert("permissions".into(), Node::Str(perms.into()));
                out.push(Node::Map(m));
            }
            other => out.push(other),
        }
    }
    Ok(Node::Seq(out))
}

fn extra_hosts(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    match node {
        Node::Map(m) => {
            for (host, v) in m {
                match v {
                    Node::Seq(ips) => {
                        for ip in ips {
                            out.push(Node::Str(format!(
                                "{host}={}",
                                scalar_string(&ip).unwrap_or_default()
                            )));
                        }
                    }
                    other => out.push(Node::Str(format!(
                        "{host}={}",
                        scalar_string(&other).unwrap_or_default()
                    ))),
                }
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let s = scalar_string(&item)
                    .ok_or_else(|| invalid(format!("{path}[{i}] must be a string")))?;
                let entry = match s.split_once('=') {
                    Some((h, ip)) => format!("{h}={ip}"),
                    None => match s.split_once(':') {
                        Some((h, ip)) => format!("{h}={ip}"),
                        None => {
                            return Err(invalid(format!(
                                "{path}[{i}]: invalid additional host, missing IP address: {s}"
                            )))
                        }
                    },
                };
                out.push(Node::Str(entry));
            }
        }
        other => {
            return Err(invalid(format!(
                "{path} must be a list or a mapping, not {}",
                other.kind()
            )))
        }
    }
    Ok(Node::Seq(out))
}

fn ulimits(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut out = Map::new();
    for (k, v) in into_map(node) {
        let v = match v {
            Node::Map(mut l) => {
                edit(&mut l, "soft", |x| to_int(x, &format!("{path}.{k}.soft")))?;
                edit(&mut l, "hard", |x| to_int(x, &format!("{path}.{k}.hard")))?;
                Node::Map(l)
            }
            other => to_int(other, &format!("{path}.{k}"))?,
        };
        out.insert(k, v);
    }
    Ok(Node::Map(out))
}

fn deploy(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut m = into_map(node);
    m.entry("placement".to_string())
        .or_insert_with(|| Node::Map(Map::new()));
    m.entry("resources".to_string())
        .or_insert_with(|| Node::Map(Map::new()));
    edit(&mut m, "replicas", |v| {
        to_int(v, &format!("{path}.replicas"))
    })?;
    edit(&mut m, "labels", |v| {
        let env = BTreeMap::new();
        list_or_map(
            v,
            &format!("{path}.labels"),
            Bare::Empty,
            &Ctx {
                base: Path::new("/"),
                env: &env,
                ports: &std::cell::Cell::new(0),
                untyped: false,
                written: None,
            },
        )
    })?;
    edit(&mut m, "resources", |v| {
        let mut r = into_map(v);
        for key in ["limits", "reservations"] {
            edit(&mut r, key, |l| {
                let mut l = into_map(l);
                let p = format!("{path}.resources.{key}");
                edit(&mut l, "cpus", |x| to_float(x, &format!("{p}.cpus")))?;
                edit(&mut l, "memory", |x| bytes(x, &format!("{p}.memory")))?;
                edit(&mut l, "pids", |x| to_int(x, &format!("{p}.pids")))?;
                edit(&mut l, "devices", |d| {
                    Ok(Node::Seq(
                        seq(d)
                            .into_iter()
                            .map(|d| gpu(d, &format!("{p}.devices")))
                            .collect::<Result<_, _>>()?,
                    ))
                })?;
                Ok(Node::Map(l))
            })?;
        }
        Ok(Node::Map(r))
    })?;
    edit(&mut m, "restart_policy", |v| {
        let mut r = into_map(v);
        edit(&mut r, "max_attempts", |x| {
            to_int(x, &format!("{path}.restart_policy.max_attempts"))
        })?;
        for key in ["delay", "window"] {
            edit(&mut r, key, |x| {
                duration(x, &format!("{path}.restart_policy.{key}"))
            })?;
        }
        Ok(Node::Map(r))
    })?;
    for key in ["update_config", "rollback_config"] {
        edit(&mut m, key, |v| {
            let mut r = into_map(v);
            edit(&mut r, "parallelism", |x| {
                to_int(x, &format!("{path}.{key}.parallelism"))
            })?;
            edit(&mut r, "max_failure_ratio", |x| {
                to_float(x, &format!("{path}.{key}.max_failure_ratio"))
            })?;
            for d in ["delay", "monitor"] {
                edit(&mut r, d, |x| duration(x, &format!("{path}.{key}.{d}")))?;
            }
            Ok(Node::Map(r))
        })?;
    }
    Ok(Node::Map(m))
}

fn gpu(node: Node, path: &str) -> Result<Node, ComposeError> {
    let mut d = into_map(node);
    edit(&mut d, "count", |c| match c {
        Node::Str(s) if s == "all" => Ok(Node::Int(-1)),
        other => to_int(other, &format!("{path}.count")),
    })?;
    for key in ["capabilities", "device_ids"] {
        edit(&mut d, key, |v| Ok(string_or_list(v)))?;
    }
    if !d.contains_key("count") && !d.contains_key("device_ids") {
        d.insert("count".into(), Node::Int(-1));
    }
    edit(&mut d, "options", |o| {
        Ok(Node::Map(
            into_map(o)
                .into_iter()
                .map(|(k, v)| (k, scalar_string(&v).map_or(v, Node::Str)))
                .collect(),
        ))
    })?;
    Ok(Node::Map(d))
}

fn gpus(node: Node, path: &str) -> Result<Node, ComposeError> {
    match node {
        Node::Str(s) if s == "all" => {
            let mut d = Map::new();
            d.insert("count".into(), Node::Int(-1));
            Ok(Node::Seq(vec![Node::Map(d)]))
        }
        other => Ok(Node::Seq(
            seq(other)
                .into_iter()
                .map(|d| gpu(d, path))
                .collect::<Result<_, _>>()?,
        )),
    }
}

fn develop(node: Node, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut m = into_map(node);
    edit(&mut m, "watch", |w| {
        let mut out = Vec::new();
        for item in seq(w) {
            let mut e = into_map(item);
            edit(&mut e, "path", |p| {
                Ok(scalar_string(&p).map_or(p, |s| Node::Str(ctx.path(&s))))
            })?;
            let mut exec = e.remove("exec").map(into_map).unwrap_or_default();
            edit(&mut exec, "command", |c| {
                command(c, "develop.watch.exec.command")
            })?;
            exec.entry("command".into()).or_insert(Node::Null);
            e.insert("exec".into(), Node::Map(exec));
            for key in ["ignore", "include"] {
                edit(&mut e, key, |v| Ok(string_or_list(v)))?;
            }
            if matches!(e.get("initial_sync"), Some(Node::Bool(false))) {
                e.remove("initial_sync");
            }
            out.push(Node::Map(e));
        }
        Ok(Node::Seq(out))
    })?;
    Ok(Node::Map(m))
}

fn hooks(node: Node, path: &str, ctx: &Ctx<'_>) -> Result<Node, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in seq(node).into_iter().enumerate() {
        let mut h = into_map(item);
        edit(&mut h, "command", |c| {
            command(c, &format!("{path}[{i}].command"))
        })?;
        edit(&mut h, "environment", |e| {
            list_or_map(e, &format!("{path}[{i}].environment"), Bare::Lookup, ctx)
        })?;
        if matches!(h.get("privileged"), Some(Node::Bool(false))) {
            h.remove("privileged");
        }
        out.push(Node::Map(h));
    }
    Ok(Node::Seq(out))
}

fn blkio(node: Node, path: &str) -> Result<Node, ComposeError> {
    // (The JSON output prints these entries with Go field names: `Path`, `Rate`, `Weight`.)
    let mut m = into_map(node);
    for key in [
        "device_read_bps",
        "device_write_bps",
        "device_read_iops",
        "device_write_iops",
        "weight_device",
    ] {
        edit(&mut m, key, |v| {
            let mut out = Vec::new();
            for d in seq(v) {
                let mut e = Map::new();
                for (k, v) in into_map(d) {
                    let v = match k.as_str() {
                        "rate" if key.ends_with("bps") => bytes(v, &format!("{path}.{key}.rate"))?,
                        "rate" => Node::Str(scalar_string(&v).unwrap_or_default()),
                        _ => v,
                    };
                    e.insert(k, v);
                }
                out.push(Node::Map(e));
            }
            Ok(Node::Seq(out))
        })?;
    }
    Ok(Node::Map(m))
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
            return Err(invalid(format!(
                "{p} must be a mapping, not {}",
                other.kind()
            )))
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
