//! The last stage over the merged canonical project: profiles, `env_file` resolution, the
//! reference's defaults (command/entrypoint, default network, resource names, secret targets)
//! and the consistency checks (image or build, undefined references, dependency cycles).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::dotenv;
use super::error::{FileKind, FileProblem, KeyProblem, RefKind};
use super::tree::{Map, Node};
use super::warning::Warning;
use super::ComposeError;

/// Completes a merged canonical project for project `name` with the active `profiles`.
/// With `untyped` (`--no-interpolate`), the reference prints its untyped model: env files and
/// label files stay unresolved, no implied dependencies, no `command: null`, no `ipam`, and
/// nothing is dropped for being empty.
#[expect(
    clippy::too_many_arguments,
    reason = "the loader's state at this stage"
)]
pub(crate) fn finalize(
    project: Map,
    name: &str,
    profiles: &[String],
    vars: &BTreeMap<String, String>,
    project_dir: &Path,
    untyped: bool,
    vault: Option<&crate::vault::VaultPassword>,
    jail: Option<&crate::confine::Jail>,
    warnings: &mut Vec<Warning>,
) -> Result<Map, ComposeError> {
    // `merge::project` already removed every merge tag.
    let mut p = project;
    // Top-level `models` stay in the model; the JSON output leaves them out (`output.rs`).
    p.remove("include");
    p.insert("name".into(), Node::Str(name.to_string()));
    let mut services = match p.remove("services") {
        Some(Node::Map(m)) => m,
        _ => Map::new(),
    };
    // Keys starting with `x-` in resource maps are extensions, not resources.
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Node::Map(m)) = p.get_mut(kind) {
            m.retain(|k, _| !k.starts_with("x-"));
        }
    }
    services.retain(|_, svc| enabled(svc, profiles));
    // A dependency on a service disabled by profiles is as undefined as a missing one.
    let all_names: BTreeSet<String> = services.keys().cloned().collect();
    for (sname, svc) in &mut services {
        let Node::Map(s) = svc else {
            *svc = Node::Map(Map::new());
            continue;
        };
        service(sname, s, vars, project_dir, untyped, vault, jail, warnings)?;
    }
    check_references(&services, &all_names, &p)?;
    // Nested `x-*` keys stay in the model; the JSON output leaves them out (`output.rs`).
    check_cycles(&services)?;

    let uses_default = services.values().any(|s| {
        s.as_map()
            .and_then(|m| m.get("networks"))
            .and_then(Node::as_map)
            .is_some_and(|n| n.contains_key("default"))
    });
    if uses_default {
        let nets = p
            .entry("networks".to_string())
            .or_insert_with(|| Node::Map(Map::new()));
        if let Node::Map(n) = nets {
            n.entry("default".to_string())
                .or_insert_with(|| Node::Map(Map::new()));
        }
    }
    drop_unused(&services, &mut p);
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let Some(Node::Map(resources)) = p.get_mut(kind) else {
            continue;
        };
        for (key, res) in resources.iter_mut() {
            if !matches!(res, Node::Map(_)) {
                *res = Node::Map(Map::new());
            }
            let Node::Map(r) = res else { continue };
            let external = matches!(r.get("external"), Some(Node::Bool(true)));
            if !r.contains_key("name") {
                let n = if external {
                    key.clone()
                } else {
                    format!("{name}_{key}")
                };
                r.insert("name".into(), Node::Str(n));
            }
            if kind == "networks" && !untyped && !r.contains_key("ipam") {
                r.insert("ipam".into(), Node::Map(Map::new()));
            }
        }
    }
    p.insert("services".into(), Node::Map(services));
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if matches!(p.get(kind), Some(Node::Map(m)) if m.is_empty()) {
            p.remove(kind);
        }
    }
    Ok(p)
}

fn enabled(svc: &Node, active: &[String]) -> bool {
    let Some(list) = svc
        .as_map()
        .and_then(|m| m.get("profiles"))
        .and_then(Node::as_seq)
    else {
        return true;
    };
    if list.is_empty() {
        return true;
    }
    active
        .iter()
        .any(|a| a == "*" || list.iter().any(|p| p.as_str() == Some(a.as_str())))
}

#[expect(
    clippy::too_many_arguments,
    reason = "the loader's state at this stage"
)]
fn service(
    name: &str,
    s: &mut Map,
    vars: &BTreeMap<String, String>,
    project_dir: &Path,
    untyped: bool,
    vault: Option<&crate::vault::VaultPassword>,
    jail: Option<&crate::confine::Jail>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ComposeError> {
    if untyped {
        return untyped_service(name, s);
    }
    let files = ServiceFiles {
        name,
        vars,
        project_dir,
        vault,
        jail,
    };
    if let Some(Node::Seq(list)) = s.remove("env_file") {
        let from_files = files.env_files(list, warnings)?;
        let env = if from_files.is_empty() {
            None
        } else {
            Some(
                s.entry("environment".to_string())
                    .or_insert_with(|| Node::Map(Map::new())),
            )
        };
        if let Some(Node::Map(e)) = env {
            for (k, v) in from_files {
                e.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Node::Seq(list)) = s.remove("label_file") {
        // Labels from files, under the explicit ones.
        let from_files = files.label_files(list, warnings)?;
        if !from_files.is_empty() {
            if let Node::Map(labels) = s
                .entry("labels".to_string())
                .or_insert_with(|| Node::Map(Map::new()))
            {
                for (k, v) in from_files {
                    labels.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(Node::Map(b)) = s.get_mut("build") {
        // The reference resolves build args after merging and drops those still unset
        // (`MappingWithEquals.RemoveEmpty`); every build field is `omitempty`.
        if let Some(Node::Map(args)) = b.get_mut("args") {
            args.retain(|_, v| !matches!(v, Node::Null));
        }
        b.retain(|_, v| match v {
            Node::Str(x) => !x.is_empty(),
            Node::Map(m) => !m.is_empty(),
            Node::Seq(l) => !l.is_empty(),
            _ => true,
        });
    }
    implied_dependencies(s);
    check_limits(name, s)?;
    s.entry("command".to_string()).or_insert(Node::Null);
    s.entry("entrypoint".to_string()).or_insert(Node::Null);
    let has_networks = s.contains_key("networks");
    if let Some(mode) = s.get("network_mode").and_then(Node::as_str) {
        if has_networks {
            return Err(ComposeError::Exclusive {
                service: name.to_owned(),
                first: "network_mode",
                second: "networks",
            });
        }
        let _ = mode;
    } else if !has_networks && !s.contains_key("provider") {
        let mut n = Map::new();
        n.insert("default".into(), Node::Null);
        s.insert("networks".into(), Node::Map(n));
    }
    default_secret_targets(s);
    let has_image = s
        .get("image")
        .and_then(Node::as_str)
        .is_some_and(|i| !i.is_empty());
    if !has_image && !s.contains_key("build") && !s.contains_key("provider") {
        return Err(ComposeError::NoImage {
            service: name.to_owned(),
        });
    }
    // Empty strings, lists and maps are dropped by the reference (Go `omitempty`), except
    // for the fields that are structs or always printed.
    const KEPT: &[&str] = &[
        "develop",
        "healthcheck",
        "deploy",
        "build",
        "logging",
        "blkio_config",
        "credential_spec",
        "provider",
        "command",
        "entrypoint",
        "networks",
    ];
    s.retain(|k, v| match v {
        Node::Str(x) => !x.is_empty(),
        Node::Map(m) => !m.is_empty() || KEPT.contains(&k.as_str()),
        Node::Seq(l) => !l.is_empty() || KEPT.contains(&k.as_str()),
        _ => true,
    });
    Ok(())
}

/// Where a service's `env_file` and `label_file` entries are read from.
struct ServiceFiles<'a> {
    name: &'a str,
    vars: &'a BTreeMap<String, String>,
    project_dir: &'a Path,
    vault: Option<&'a crate::vault::VaultPassword>,
    jail: Option<&'a crate::confine::Jail>,
}

impl ServiceFiles<'_> {
    /// The variables of a service's env files, in order (a later file wins; ansible-vault
    /// files are read decrypted, `format: raw` files verbatim).
    fn env_files(
        &self,
        files: Vec<Node>,
        warnings: &mut Vec<Warning>,
    ) -> Result<Map, ComposeError> {
        let (name, vars, project_dir, vault, jail) = (
            self.name,
            self.vars,
            self.project_dir,
            self.vault,
            self.jail,
        );
        let mut from_files = Map::new();
        let mut acc: BTreeMap<String, String> = BTreeMap::new();
        for (i, f) in files.into_iter().enumerate() {
            let Some(m) = f.as_map() else { continue };
            let Some(path) = m.get("path").and_then(Node::as_str) else {
                continue;
            };
            let required = !matches!(m.get("required"), Some(Node::Bool(false)));
            let path = Path::new(path);
            let key = format!("services.{name}.env_file[{i}]");
            let bytes =
                match read_service_file(jail, &key, FileKind::Env, path, project_dir, warnings)? {
                    Some(b) => b,
                    None if !required => {
                        warnings.push(Warning::new(format!(
                            "env file {} not found",
                            path.display()
                        )));
                        continue;
                    }
                    None => return Err(file_error(key, FileKind::Env, path, FileProblem::Missing)),
                };
            let src = if crate::vault::is_vault(&bytes) {
                // An env file encrypted with ansible-vault (issue #8) is read decrypted.
                let plain =
                    crate::vault::plaintext(bytes, path, vault).map_err(|e| ComposeError::Key {
                        file: None,
                        path: key.clone(),
                        problem: KeyProblem::Vault(e),
                    })?;
                String::from_utf8(plain).map_err(|_| ComposeError::Key {
                    file: None,
                    path: key.clone(),
                    problem: KeyProblem::DecryptedNotUtf8(path.to_path_buf()),
                })?
            } else {
                String::from_utf8(bytes).map_err(|_| {
                    file_error(key.clone(), FileKind::Env, path, FileProblem::NotUtf8)
                })?
            };
            let raw = m.get("format").and_then(Node::as_str) == Some("raw");
            let lookup = |k: &str| vars.get(k).cloned();
            if raw {
                for (k, v) in dotenv::parse_raw(&src, path, &lookup)? {
                    acc.insert(k.clone(), v.clone());
                    from_files.insert(k, Node::Str(v));
                }
            } else {
                for (k, v) in dotenv::parse_into(&src, path, &lookup, &mut acc, warnings)? {
                    from_files.insert(k, Node::Str(v));
                }
            }
        }
        Ok(from_files)
    }

    /// The labels of a service's label files.
    fn label_files(
        &self,
        files: Vec<Node>,
        warnings: &mut Vec<Warning>,
    ) -> Result<Map, ComposeError> {
        let (name, vars, project_dir, jail) = (self.name, self.vars, self.project_dir, self.jail);
        let mut from_files = Map::new();
        for (i, f) in files.into_iter().enumerate() {
            let Some(path) = f.as_str().map(Path::new) else {
                continue;
            };
            let key = format!("services.{name}.label_file[{i}]");
            let Some(bytes) =
                read_service_file(jail, &key, FileKind::Label, path, project_dir, warnings)?
            else {
                return Err(file_error(key, FileKind::Label, path, FileProblem::Missing));
            };
            let src = String::from_utf8(bytes)
                .map_err(|_| file_error(key, FileKind::Label, path, FileProblem::NotUtf8))?;
            let lookup = |k: &str| vars.get(k).cloned();
            for (k, v) in dotenv::parse(&src, path, &lookup)? {
                from_files.insert(k, v.map_or(Node::Null, Node::Str));
            }
        }
        Ok(from_files)
    }
}

/// An unreadable env or label file of a service (`key`: `services.web.env_file[0]`).
/// The bytes of a service's env or label file `path` (named at `key`), `None` when it does not
/// exist; out of the jail, a file outside the project directory is warned about.
fn read_service_file(
    jail: Option<&crate::confine::Jail>,
    key: &str,
    kind: FileKind,
    path: &Path,
    project_dir: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Vec<u8>>, ComposeError> {
    if jail.is_none() {
        if let Some(w) = super::loader::outside_warning(key, path, project_dir) {
            warnings.push(w);
        }
    }
    match super::loader::read_named(jail, key, path) {
        Err(ComposeError::Read { error, .. }) => Err(file_error(
            key.to_owned(),
            kind,
            path,
            FileProblem::Unreadable(error),
        )),
        other => other,
    }
}

fn file_error(key: String, kind: FileKind, file: &Path, problem: FileProblem) -> ComposeError {
    ComposeError::ServiceFile {
        path: key,
        kind,
        file: file.to_path_buf(),
        problem,
    }
}

/// The `--no-interpolate` form of a service: default network and secret targets only.
fn untyped_service(name: &str, s: &mut Map) -> Result<(), ComposeError> {
    let has_networks = s.contains_key("networks");
    if s.get("network_mode").and_then(Node::as_str).is_some() {
        if has_networks {
            return Err(ComposeError::Exclusive {
                service: name.to_owned(),
                first: "network_mode",
                second: "networks",
            });
        }
    } else if !has_networks && !s.contains_key("provider") {
        let mut n = Map::new();
        n.insert("default".into(), Node::Null);
        s.insert("networks".into(), Node::Map(n));
    }
    default_secret_targets(s);
    Ok(())
}

fn default_secret_targets(s: &mut Map) {
    if let Some(Node::Seq(secrets)) = s.get_mut("secrets") {
        for sec in secrets {
            if let Node::Map(m) = sec {
                if !m.contains_key("target") {
                    if let Some(src) = m.get("source").and_then(Node::as_str) {
                        let t = format!("/run/secrets/{src}");
                        m.insert("target".into(), Node::Str(t));
                    }
                }
            }
        }
    }
}

/// A service-level limit and its `deploy.resources` twin must agree.
fn check_limits(name: &str, s: &Map) -> Result<(), ComposeError> {
    let resources = s
        .get("deploy")
        .and_then(Node::as_map)
        .and_then(|d| d.get("resources"))
        .and_then(Node::as_map);
    for (key, section, field) in [
        ("cpus", "limits", "cpus"),
        ("mem_limit", "limits", "memory"),
        ("mem_reservation", "reservations", "memory"),
        ("pids_limit", "limits", "pids"),
    ] {
        // A present section with the field missing counts as 0, as in the reference.
        let zero = Node::Int(0);
        let other = resources
            .and_then(|r| r.get(section))
            .and_then(Node::as_map)
            .map(|l| l.get(field).unwrap_or(&zero));
        if let (Some(a), Some(b)) = (s.get(key), other) {
            let num = |n: &Node| match n {
                Node::Int(i) => Some(*i as f64),
                Node::Float(f) => Some(*f),
                Node::Str(s) => s.parse().ok(),
                _ => None,
            };
            if num(a) != num(b) {
                return Err(ComposeError::Key {
                    file: None,
                    path: format!("services.{name}"),
                    problem: KeyProblem::DistinctValues {
                        key,
                        section,
                        field,
                    },
                });
            }
        }
    }
    Ok(())
}

/// `links`, `volumes_from` and `network_mode: service:x` imply a `depends_on` entry.
fn implied_dependencies(s: &mut Map) {
    let mut implied: Vec<(String, bool)> = Vec::new();
    for l in s.get("links").and_then(Node::as_seq).unwrap_or_default() {
        if let Some(l) = l.as_str() {
            implied.push((l.split(':').next().unwrap_or(l).to_string(), true));
        }
    }
    for v in s
        .get("volumes_from")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        if let Some(v) = v.as_str() {
            if !v.starts_with("container:") {
                implied.push((v.split(':').next().unwrap_or(v).to_string(), false));
            }
        }
    }
    if let Some(svc) = s
        .get("network_mode")
        .and_then(Node::as_str)
        .and_then(|m| m.strip_prefix("service:"))
    {
        implied.push((svc.to_string(), true));
    }
    if implied.is_empty() {
        return;
    }
    let deps = s
        .entry("depends_on".to_string())
        .or_insert_with(|| Node::Map(Map::new()));
    if let Node::Map(d) = deps {
        for (name, restart) in implied {
            d.entry(name).or_insert_with(|| {
                let mut m = Map::new();
                m.insert("condition".into(), Node::Str("service_started".into()));
                m.insert("required".into(), Node::Bool(true));
                if restart {
                    m.insert("restart".into(), Node::Bool(true));
                }
                Node::Map(m)
            });
        }
    }
}

/// Drops top-level networks, volumes, secrets and configs no service uses.
fn drop_unused(services: &Map, p: &mut Map) {
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for svc in services.values() {
        let Some(s) = svc.as_map() else { continue };
        if let Some(n) = s.get("networks").and_then(Node::as_map) {
            used.entry("networks")
                .or_default()
                .extend(n.keys().cloned());
        }
        for v in s.get("volumes").and_then(Node::as_seq).unwrap_or_default() {
            if let Some(src) = v
                .as_map()
                .filter(|m| m.get("type").and_then(Node::as_str) == Some("volume"))
                .and_then(|m| m.get("source"))
                .and_then(Node::as_str)
            {
                used.entry("volumes").or_default().insert(src.to_string());
            }
        }
        for kind in ["secrets", "configs"] {
            for r in s.get(kind).and_then(Node::as_seq).unwrap_or_default() {
                if let Some(src) = r
                    .as_map()
                    .and_then(|m| m.get("source"))
                    .and_then(Node::as_str)
                {
                    used.entry(kind).or_default().insert(src.to_string());
                }
            }
        }
        if let Some(b) = s.get("build").and_then(Node::as_map) {
            for r in b.get("secrets").and_then(Node::as_seq).unwrap_or_default() {
                if let Some(src) = r
                    .as_map()
                    .and_then(|m| m.get("source"))
                    .and_then(Node::as_str)
                {
                    used.entry("secrets").or_default().insert(src.to_string());
                }
            }
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Node::Map(m)) = p.get_mut(kind) {
            let keep = used.get(kind);
            m.retain(|k, _| keep.is_some_and(|u| u.contains(k)));
        }
    }
}

fn check_references(services: &Map, all: &BTreeSet<String>, p: &Map) -> Result<(), ComposeError> {
    let defined = |kind: &str, key: &str| {
        p.get(kind)
            .and_then(Node::as_map)
            .is_some_and(|m| m.contains_key(key))
    };
    for (name, svc) in services {
        let Some(s) = svc.as_map() else { continue };
        if let Some(deps) = s.get("depends_on").and_then(Node::as_map) {
            // The reference rejects an undefined dependency even with `required: false`.
            for dep in deps.keys() {
                if !all.contains(dep) {
                    return Err(undefined(name, RefKind::Service, dep));
                }
            }
        }
        if let Some(nets) = s.get("networks").and_then(Node::as_map) {
            for net in nets.keys() {
                if net != "default" && !defined("networks", net) {
                    return Err(undefined(name, RefKind::Network, net));
                }
            }
        }
        if let Some(vols) = s.get("volumes").and_then(Node::as_seq) {
            for v in vols {
                let Some(m) = v.as_map() else { continue };
                if m.get("type").and_then(Node::as_str) != Some("volume") {
                    continue;
                }
                if let Some(src) = m.get("source").and_then(Node::as_str) {
                    if !defined("volumes", src) {
                        return Err(undefined(name, RefKind::Volume, src));
                    }
                }
            }
        }
        for (kind, what) in [("secrets", RefKind::Secret), ("configs", RefKind::Config)] {
            if let Some(refs) = s.get(kind).and_then(Node::as_seq) {
                for r in refs {
                    if let Some(src) = r
                        .as_map()
                        .and_then(|m| m.get("source"))
                        .and_then(Node::as_str)
                    {
                        if !defined(kind, src) {
                            return Err(undefined(name, what, src));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn undefined(service: &str, kind: RefKind, name: &str) -> ComposeError {
    ComposeError::Undefined {
        service: service.to_owned(),
        kind,
        name: name.to_owned(),
    }
}

/// Finds a `depends_on` cycle in linear time (iterative depth-first search with colours).
fn check_cycles(services: &Map) -> Result<(), ComposeError> {
    let deps = |n: &str| -> Vec<String> {
        services
            .get(n)
            .and_then(Node::as_map)
            .and_then(|m| m.get("depends_on"))
            .and_then(Node::as_map)
            .map(|d| {
                d.keys()
                    .filter(|k| services.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 = on the stack, 2 = done
    for start in services.keys() {
        if state.contains_key(start.as_str()) {
            continue;
        }
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), deps(start))];
        state.insert(start, 1);
        while let Some((node, children)) = stack.last_mut() {
            if let Some(child) = children.pop() {
                match state.get(child.as_str()) {
                    Some(1) => {
                        let pos = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[pos..].iter().map(|(n, _)| n.clone()).collect();
                        cycle.push(child);
                        return Err(ComposeError::Cycle { chain: cycle });
                    }
                    Some(_) => {}
                    None => {
                        let key = services
                            .get_key_value(child.as_str())
                            .map(|(k, _)| k.as_str())
                            .unwrap_or_default();
                        state.insert(key, 1);
                        let grand = deps(&child);
                        stack.push((child, grand));
                    }
                }
            } else {
                let key = services
                    .get_key_value(node.as_str())
                    .map(|(k, _)| k.as_str())
                    .unwrap_or_default();
                state.insert(key, 2);
                stack.pop();
            }
        }
    }
    Ok(())
}
