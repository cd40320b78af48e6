//! Dokku's scheduler-k3s as the sandbox models it (dokku/dokku 33896f5d7, plugins/scheduler-k3s
//! `chart.go` `BuildAppChart`, `triggers.go` `TriggerSchedulerDeploy`/`Stop`/`PostDelete`,
//! `functions.go`, `portmap.go`, `storage.go`, `templates/chart/*.yaml`): a deploy renders the
//! objects of the app's Helm chart and writes them into the cluster object store shared with the
//! kubectl stand-in (docs/sandbox.md "scheduler-k3s"):
//!
//! `<root>/k3s/objects/<namespace>/<Kind>/<name>.json`, one object per file, pretty JSON as the
//! API stores it; cluster-scoped objects (Namespace, PersistentVolume) under `_cluster`. The
//! nodes are `<root>/k3s/nodes/<name>.json`; a Helm release's object list is
//! `<root>/k3s/releases/<namespace>/<release>.json` (an upgrade removes what the chart no longer
//! renders, an uninstall removes the list).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::ctx::{read_opt, remove_any, write_atomic, Ctx, Fail, Paths, Res};
use crate::deploy::AppState;

/// A one-line Dokku failure.
pub fn err(msg: impl Into<String>) -> Fail {
    Fail::Dokku {
        code: 1,
        lines: vec![msg.into()],
        raw: false,
    }
}

/// A parser of one resource value into a Kubernetes quantity.
type Quantity = fn(&str) -> Result<String, String>;

/// `<root>/k3s` (the root is the parent of `DOKKU_LIB_ROOT`, i.e. `DOKKU_SANDBOX_ROOT`).
pub fn dir(paths: &Paths) -> PathBuf {
    paths.lib.parent().unwrap_or(&paths.lib).join("k3s")
}

/// `<root>/k3s/objects`.
pub fn objects_dir(paths: &Paths) -> PathBuf {
    dir(paths).join("objects")
}

/// The directory of a namespace (`_cluster` for cluster-scoped objects).
fn ns_dir(ns: &str) -> &str {
    if ns.is_empty() {
        "_cluster"
    } else if !safe_component(ns) {
        // A namespace the API would refuse never names a directory (no `..` traversal).
        "_invalid"
    } else {
        ns
    }
}

/// The file of one object.
pub fn object_path(paths: &Paths, ns: &str, kind: &str, name: &str) -> PathBuf {
    objects_dir(paths)
        .join(ns_dir(ns))
        .join(kind)
        .join(format!("{name}.json"))
}

fn meta<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj["metadata"][key].as_str().unwrap_or("")
}

/// Whether a path component of the store is safe (no separator, no dot file).
fn safe_component(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && !s.starts_with('.') && !s.contains('\0')
}

/// Write an object where its kind, namespace and name say.
pub fn put(paths: &Paths, obj: &Value) -> Res {
    let kind = obj["kind"].as_str().unwrap_or("");
    let (ns, name) = (meta(obj, "namespace"), meta(obj, "name"));
    if !safe_component(kind) || !safe_component(name) || !(ns.is_empty() || safe_component(ns)) {
        return Err(err(format!(
            "(sandbox) refusing to store {kind} {ns}/{name}: not a Kubernetes object name"
        )));
    }
    let p = object_path(paths, ns, kind, name);
    write_atomic(&p, &serde_json::to_string_pretty(obj).unwrap_or_default())
}

/// Read an object.
pub fn get(paths: &Paths, ns: &str, kind: &str, name: &str) -> Res<Option<Value>> {
    Ok(read_opt(&object_path(paths, ns, kind, name))?.and_then(|s| serde_json::from_str(&s).ok()))
}

/// Delete an object (no error when absent).
pub fn delete(paths: &Paths, ns: &str, kind: &str, name: &str) -> Res {
    remove_any(&object_path(paths, ns, kind, name))
}

/// Every object of a kind in a namespace, by name.
pub fn list(paths: &Paths, ns: &str, kind: &str) -> Res<Vec<Value>> {
    json_files(&objects_dir(paths).join(ns_dir(ns)).join(kind))
}

/// The JSON documents of the files of `dir`, in file-name order (none when it is missing;
/// a file that is not JSON is skipped).
fn json_files(dir: &Path) -> Res<Vec<Value>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    let mut v = Vec::new();
    for p in names {
        if let Some(o) = read_opt(&p)?.and_then(|s| serde_json::from_str(&s).ok()) {
            v.push(o);
        }
    }
    Ok(v)
}

fn nodes_dir(paths: &Paths) -> PathBuf {
    dir(paths).join("nodes")
}

/// Record a node.
pub fn save_node(paths: &Paths, name: &str, node: &Value) -> Res {
    write_atomic(
        &nodes_dir(paths).join(format!("{name}.json")),
        &serde_json::to_string_pretty(node).unwrap_or_default(),
    )
}

/// A node by name.
pub fn node(paths: &Paths, name: &str) -> Res<Option<Value>> {
    if name.is_empty() || name.contains('/') {
        return Ok(None);
    }
    Ok(read_opt(&nodes_dir(paths).join(format!("{name}.json")))?
        .and_then(|s| serde_json::from_str(&s).ok()))
}

/// Every node, by name.
pub fn nodes(paths: &Paths) -> Res<Vec<Value>> {
    json_files(&nodes_dir(paths))
}

/// Remove a node.
pub fn remove_node(paths: &Paths, name: &str) -> Res {
    remove_any(&nodes_dir(paths).join(format!("{name}.json")))
}

/// Whether `scheduler-k3s:initialize` made a cluster (a control-plane node exists): Dokku's
/// k3s commands need `/etc/rancher/k3s/k3s.yaml`, which only the installer writes.
pub fn cluster_ready(paths: &Paths) -> bool {
    nodes(paths).is_ok_and(|n| {
        n.iter().any(|x| {
            x["metadata"]["labels"]["node-role.kubernetes.io/control-plane"].as_str()
                == Some("true")
        })
    })
}

fn release_path(paths: &Paths, ns: &str, release: &str) -> PathBuf {
    dir(paths)
        .join("releases")
        .join(ns_dir(ns))
        .join(format!("{release}.json"))
}

/// The `(namespace, kind, name)` of the objects a release holds.
fn release_objects(paths: &Paths, ns: &str, release: &str) -> Res<Vec<(String, String, String)>> {
    Ok(read_opt(&release_path(paths, ns, release))?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// The namespace an app's release was installed in, if any.
fn installed_namespace(paths: &Paths, release: &str) -> Option<String> {
    let rd = std::fs::read_dir(dir(paths).join("releases")).ok()?;
    let mut found: Vec<String> = rd
        .flatten()
        .filter(|e| e.path().join(format!("{release}.json")).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Install or upgrade a release: write every object, remove the ones the previous revision
/// had that this one lacks, record the list.
fn install_release(paths: &Paths, ns: &str, release: &str, objs: &[Value]) -> Res {
    let old = release_objects(paths, ns, release)?;
    let mut objs = objs.to_vec();
    for o in &mut objs {
        // Helm's `setMetadataVisitor`: the release owns what it installs; a namespaced
        // object without a namespace lands in the release's.
        let kind = o["kind"].as_str().unwrap_or("").to_string();
        let cluster_scoped = matches!(
            kind.as_str(),
            "Namespace"
                | "PersistentVolume"
                | "Node"
                | "StorageClass"
                | "ClusterRole"
                | "ClusterRoleBinding"
                | "ClusterIssuer"
                | "ClusterTriggerAuthentication"
        );
        if !o["metadata"].is_object() {
            o["metadata"] = json!({});
        }
        if !cluster_scoped && meta(o, "namespace").is_empty() {
            o["metadata"]["namespace"] = json!(ns);
        }
        if !o["metadata"]["labels"].is_object() {
            o["metadata"]["labels"] = json!({});
        }
        o["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("Helm");
        if !o["metadata"]["annotations"].is_object() {
            o["metadata"]["annotations"] = json!({});
        }
        o["metadata"]["annotations"]["meta.helm.sh/release-name"] = json!(release);
        o["metadata"]["annotations"]["meta.helm.sh/release-namespace"] = json!(ns);
    }
    let objs = &objs;
    // An object that exists outside this release (another app's, or one applied with
    // kubectl) is not adopted: Helm refuses the install before changing anything.
    for o in objs {
        let (ons, kind, name) = (
            meta(o, "namespace"),
            o["kind"].as_str().unwrap_or(""),
            meta(o, "name"),
        );
        if old.iter().any(|k| k.0 == ons && k.1 == kind && k.2 == name) {
            continue;
        }
        if let Some(cur) = get(paths, ons, kind, name)? {
            let a = &cur["metadata"]["annotations"];
            let owned = a["meta.helm.sh/release-name"].as_str() == Some(release)
                && a["meta.helm.sh/release-namespace"].as_str() == Some(ns);
            if !owned {
                return Err(err(format!("Error deploying: rendered manifests contain a resource that already exists. Unable to continue with install: {kind} \"{name}\" in namespace \"{ons}\" exists and cannot be imported into the current release: invalid ownership metadata")));
            }
        }
    }
    let new: Vec<(String, String, String)> = objs
        .iter()
        .map(|o| {
            (
                meta(o, "namespace").to_string(),
                o["kind"].as_str().unwrap_or("").to_string(),
                meta(o, "name").to_string(),
            )
        })
        .collect();
    for o in objs {
        put(paths, o)?;
    }
    for k in old.iter().filter(|k| !new.contains(k)) {
        delete(paths, &k.0, &k.1, &k.2)?;
    }
    write_atomic(
        &release_path(paths, ns, release),
        &serde_json::to_string_pretty(&new).unwrap_or_default(),
    )
}

/// `helm uninstall`: remove a release's objects and its record.
fn uninstall_release(paths: &Paths, ns: &str, release: &str) -> Res {
    for k in release_objects(paths, ns, release)? {
        delete(paths, &k.0, &k.1, &k.2)?;
    }
    remove_any(&release_path(paths, ns, release))
}

/// Objects of a release as they are now (for a rollback).
fn snapshot(paths: &Paths, ns: &str, release: &str) -> Res<Vec<Value>> {
    let mut v = Vec::new();
    for k in release_objects(paths, ns, release)? {
        if let Some(o) = get(paths, &k.0, &k.1, &k.2)? {
            v.push(o);
        }
    }
    Ok(v)
}

/// A Kubernetes quantity in canonical form (`resource.ParseQuantity(s).String()`), or the
/// parse error text.
pub fn canonical_quantity(s: &str) -> Result<String, String> {
    let bad = || {
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".to_string()
    };
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(split);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    // (base, exponent, format): format 0 = decimal SI, 1 = binary SI, 2 = decimal exponent.
    let (base, exp, format): (i128, i32, u8) = match suffix {
        "" => (10, 0, 0),
        "n" => (10, -9, 0),
        "u" => (10, -6, 0),
        "m" => (10, -3, 0),
        "k" => (10, 3, 0),
        "M" => (10, 6, 0),
        "G" => (10, 9, 0),
        "T" => (10, 12, 0),
        "P" => (10, 15, 0),
        "E" => (10, 18, 0),
        "Ki" => (2, 10, 1),
        "Mi" => (2, 20, 1),
        "Gi" => (2, 30, 1),
        "Ti" => (2, 40, 1),
        "Pi" => (2, 50, 1),
        "Ei" => (2, 60, 1),
        e if e.starts_with(['e', 'E']) => {
            let n: i32 = e[1..].parse().map_err(|_| bad())?;
            (10, n, 2)
        }
        _ => return Err(bad()),
    };
    // The value in nano-units: int.frac × base^exp × 10^9, rounded up as Kubernetes rounds.
    let digits = format!("{int_part}{frac_part}");
    let mut mant: i128 = digits.parse().map_err(|_| bad())?;
    let mut scale10: i32 = 9 - frac_part.len() as i32;
    if base == 10 {
        scale10 += exp;
    } else {
        mant = mant.checked_mul(1i128 << exp).ok_or_else(bad)?;
    }
    let nano = if scale10 >= 0 {
        mant.checked_mul(10i128.checked_pow(scale10 as u32).ok_or_else(bad)?)
            .ok_or_else(bad)?
    } else {
        let d = 10i128.checked_pow((-scale10) as u32).ok_or_else(bad)?;
        (mant + d - 1) / d
    };
    let sign = if neg && nano != 0 { "-" } else { "" };
    const G: i128 = 1_000_000_000;
    if format == 1 && nano % G == 0 && nano / G >= 1024 {
        let mut v = nano / G;
        let mut k = 0;
        while k < 6 && v % 1024 == 0 {
            v /= 1024;
            k += 1;
        }
        let suf = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
        return Ok(format!("{sign}{v}{suf}"));
    }
    if nano == 0 {
        return Ok("0".into());
    }
    let mut e: i32 = 18;
    loop {
        let d = 10i128.pow((e + 9) as u32);
        if nano % d == 0 || e == -9 {
            let v = nano / d;
            let suf = if format == 2 {
                if e == 0 {
                    String::new()
                } else {
                    format!("e{e}")
                }
            } else {
                match e {
                    -9 => "n",
                    -6 => "u",
                    -3 => "m",
                    0 => "",
                    3 => "k",
                    6 => "M",
                    9 => "G",
                    12 => "T",
                    15 => "P",
                    _ => "E",
                }
                .to_string()
            };
            return Ok(format!("{sign}{v}{suf}"));
        }
        e -= 3;
    }
}

/// `parseMemoryQuantity`: a bare integer is mebibytes, anything else a Kubernetes quantity
/// (so `512m` is 512 milli-bytes).
pub fn memory_quantity(s: &str) -> Result<String, String> {
    if s.parse::<i64>().is_ok() {
        return canonical_quantity(&format!("{s}Mi"));
    }
    canonical_quantity(s)
}

/// `getProcessResources`: requests default to `100m` CPU and `128Mi` memory; `0` and empty
/// values are unset; the process type's value wins over `_default_` (`GetResourceValue`).
fn process_resources(ctx: &Ctx, app: &str, proc: &str) -> Res<Value> {
    let get = |kind: &str, r: &str| -> Res<String> {
        let v = ctx.prop_or("resource", app, &format!("{proc}.{kind}.{r}"))?;
        if !v.is_empty() {
            return Ok(v);
        }
        ctx.prop_or("resource", app, &format!("_default_.{kind}.{r}"))
    };
    let mut limits = Map::new();
    let mut requests = Map::new();
    requests.insert("cpu".into(), json!("100m"));
    requests.insert("memory".into(), json!("128Mi"));
    for (kind, map, what) in [
        ("limit", &mut limits, "limit"),
        ("reserve", &mut requests, "request"),
    ] {
        let parsers: [(&str, Quantity); 2] =
            [("cpu", canonical_quantity), ("memory", memory_quantity)];
        for (resource, parse) in parsers {
            let value = get(kind, resource)?;
            if value.is_empty() || value == "0" {
                continue;
            }
            let q = parse(&value).map_err(|e| {
                err(format!(
                    "Error getting process resources: Error parsing {resource} {what}: {e}"
                ))
            })?;
            if q == "0" {
                map.remove(resource);
            } else {
                map.insert(resource.into(), json!(q));
            }
        }
        if kind == "limit" {
            let gpu = get(kind, "nvidia-gpu")?;
            if !gpu.is_empty() && gpu != "0" {
                canonical_quantity(&gpu).map_err(|e| {
                    err(format!(
                        "Error getting process resources: Error parsing nvidia-gpu limit: {e}"
                    ))
                })?;
                map.insert("nvidia.com/gpu".into(), json!(gpu));
            }
        }
    }
    let mut r = Map::new();
    if !limits.is_empty() {
        r.insert("limits".into(), Value::Object(limits));
    }
    if !requests.is_empty() {
        r.insert("requests".into(), Value::Object(requests));
    }
    Ok(Value::Object(r))
}

/// A port map as `getPortMaps` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PortMap {
    name: String,
    scheme: String,
    host: u32,
    container: u32,
}

impl PortMap {
    fn new(scheme: &str, host: u32, container: u32) -> PortMap {
        PortMap {
            name: format!("{scheme}-{host}-{container}"),
            scheme: scheme.into(),
            host,
            container,
        }
    }
}

/// `getPortMaps`: the app's port maps (`ports-get`; the default `http:80:5000` when none is
/// set), keeping only those `IsAllowedHttp`/`IsAllowedHttps` allow: scheme http or https, or
/// container port 80 or 443. Others (tcp, udp) are dropped without a message (Dokku's
/// `// todo: log warning`).
fn port_maps(ctx: &Ctx, app: &str) -> Res<BTreeMap<String, PortMap>> {
    let mut maps = crate::cmd::ports::mappings(ctx, app)?;
    if maps.is_empty() {
        maps.push("http:80:5000".into());
    }
    let mut out = BTreeMap::new();
    for m in maps {
        let p: Vec<&str> = m.split(':').collect();
        let (Some(s), Some(h), Some(c)) = (p.first(), p.get(1), p.get(2)) else {
            continue;
        };
        let (Ok(h), Ok(c)) = (h.parse::<u32>(), c.parse::<u32>()) else {
            continue;
        };
        let allowed = *s == "http" || *s == "https" || c == 80 || c == 443;
        if allowed {
            let pm = PortMap::new(s, h, c);
            out.insert(pm.name.clone(), pm);
        }
    }
    Ok(out)
}

/// `domainSlug`: `slug.Make` (lowercase, runs of other characters as one `-`), a leading
/// `*.` as `wildcard-`.
fn domain_slug(d: &str) -> String {
    let (prefix, d) = match d.strip_prefix("*.") {
        Some(r) => ("wildcard-", r),
        None => ("", d),
    };
    let mut s = String::new();
    for c in d.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    format!("{prefix}{}", s.trim_end_matches('-'))
}

/// The pod security settings: privileged, capabilities added, dropped, sysctls.
type Security = (bool, Vec<String>, Vec<String>, Vec<(String, String)>);

/// `getSecurityContext(app, "deploy")`: only `--cap-add`, `--cap-drop`, `--privileged` and
/// `--sysctl` of the app's default-scope deploy options (`GetSpecifiedDockerOptionsForPhase`);
/// every other docker option is ignored on k3s.
fn security_context(ctx: &Ctx, app: &str) -> Res<Security> {
    let mut privileged = false;
    let (mut add, mut drop_caps, mut sysctls) = (Vec::new(), Vec::new(), Vec::new());
    for o in crate::cmd::options::options(ctx, app, "deploy")? {
        for want in ["--cap-add", "--cap-drop", "--privileged", "--sysctl"] {
            let val = if o == want {
                Some(None)
            } else if let Some(v) = o.strip_prefix(&format!("{want}=")) {
                Some(Some(v.to_string()))
            } else {
                o.strip_prefix(&format!("{want} "))
                    .map(|v| Some(v.to_string()))
            };
            let Some(val) = val else { continue };
            match (want, val) {
                ("--privileged", _) => privileged = true,
                ("--cap-add", Some(v)) => add.push(v.to_uppercase()),
                ("--cap-drop", Some(v)) => drop_caps.push(v.to_uppercase()),
                ("--sysctl", Some(v)) => {
                    let Some((n, x)) = v.split_once('=').filter(|(n, _)| !n.is_empty()) else {
                        return Err(err(format!(
                            "Error getting security context: Invalid --sysctl value, expected name=value: {v}"
                        )));
                    };
                    // `isNamespacedSysctl`.
                    let namespaced = n == "kernel.sem"
                        || ["net.", "kernel.shm", "kernel.msg", "fs.mqueue."]
                            .iter()
                            .any(|p| n.starts_with(p));
                    if !namespaced {
                        return Err(err(format!("Error getting security context: Sysctl {n} is not namespaced and cannot be set on a pod, apply it to the nodes with 'dokku scheduler-k3s:node-sysctls:set {n} <value>' instead")));
                    }
                    sysctls.push((n.to_string(), x.to_string()));
                }
                _ => {}
            }
            break;
        }
    }
    sysctls.sort();
    Ok((privileged, add, drop_caps, sysctls))
}

/// `getProcessHealtchecks`: app.json checks become probes only when they carry a `type`
/// (`liveness`, `readiness`, `startup`); the first of each type is used.
fn probes(ctx: &Ctx, checks: &[Value], primary_port: u32) -> BTreeMap<&'static str, Value> {
    let mut out: BTreeMap<&'static str, Value> = BTreeMap::new();
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    for c in checks {
        let mut p = Map::new();
        let num = |k: &str| c[k].as_i64().filter(|n| *n != 0);
        if let Some(n) = num("initialDelay") {
            p.insert("initialDelaySeconds".into(), json!(n));
        }
        if let Some(n) = num("timeout") {
            p.insert("timeoutSeconds".into(), json!(n));
        }
        if let Some(n) = num("wait") {
            p.insert("periodSeconds".into(), json!(n));
        }
        p.insert("successThreshold".into(), json!(1));
        if let Some(n) = num("attempts") {
            p.insert("failureThreshold".into(), json!(n));
        }
        let headers: Vec<(String, String)> = c["httpHeaders"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|h| {
                        (
                            h["name"].as_str().unwrap_or("").to_string(),
                            h["value"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let command: Vec<Value> = c["command"].as_array().cloned().unwrap_or_default();
        if !command.is_empty() {
            p.insert("exec".into(), json!({"command": command}));
        } else if c["listening"].as_bool() == Some(true) {
            let mut t = Map::new();
            t.insert("port".into(), json!(primary_port));
            if let Some((_, v)) = headers.iter().find(|(n, _)| n == "Host") {
                t.insert("host".into(), json!(v));
            }
            p.insert("tcpSocket".into(), Value::Object(t));
        } else if let Some(path) = c["path"].as_str().filter(|s| !s.is_empty()) {
            let mut h = Map::new();
            h.insert("path".into(), json!(path));
            h.insert("port".into(), json!(primary_port));
            if let Some(s) = c["scheme"].as_str().filter(|s| !s.is_empty()) {
                h.insert("scheme".into(), json!(s.to_uppercase()));
            }
            if !headers.is_empty() {
                let hs: Vec<Value> = headers
                    .iter()
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect();
                h.insert("httpHeaders".into(), Value::Array(hs));
            }
            p.insert("httpGet".into(), Value::Object(h));
        }
        let kind = match c["type"].as_str() {
            Some("liveness") => "livenessProbe",
            Some("readiness") => "readinessProbe",
            Some("startup") => "startupProbe",
            _ => continue,
        };
        let n = counts.entry(kind).or_insert(0);
        *n += 1;
        if *n == 1 {
            out.insert(kind, Value::Object(p));
        }
    }
    for (kind, n) in counts {
        if n > 1 {
            let t = kind.trim_end_matches("Probe");
            ctx.warn(format!(
                "Multiple {t} checks are not supported, only the first one will be used"
            ));
        }
    }
    out
}

/// Replace `[[ .KEY ]]` in autoscaling trigger metadata (`getAutoscaling`).
fn template_meta(v: &str, repl: &[(&str, String)]) -> String {
    let mut s = v.to_string();
    for (k, val) in repl {
        for pat in [format!("[[ .{k} ]]"), format!("[[.{k}]]")] {
            s = s.replace(&pat, val);
        }
    }
    s
}

/// `getAutoscaling` + `GetAutoscalingConfig`: the KEDA settings of a process type from
/// app.json `formation.<proc>.autoscaling`, or `None`.
fn autoscaling(app_json: &Value, app: &str, proc: &str, replicas: u32) -> Res<Option<Value>> {
    let a = &app_json["formation"][proc]["autoscaling"];
    if !a.is_object() {
        return Ok(None);
    }
    let int = |k: &str| a[k].as_i64();
    let min = int("min_quantity").unwrap_or(i64::from(replicas));
    let max = int("max_quantity").unwrap_or(i64::from(replicas).max(min));
    let repl = [
        ("APP_NAME", app.to_string()),
        ("PROCESS_TYPE", proc.to_string()),
        ("DEPLOYMENT_NAME", format!("{app}-{proc}")),
    ];
    let mut triggers = Vec::new();
    let mut http = false;
    for (i, t) in a["triggers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let ty = t["type"].as_str().unwrap_or("");
        if ty.is_empty() {
            return Err(err(format!(
                "Error getting autoscaling: Autoscaling trigger type is required for trigger: index {i}"
            )));
        }
        let name = t["name"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map_or_else(|| format!("trigger-{ty}-{}", i + 1), str::to_string);
        let mut md = BTreeMap::new();
        if let Some(m) = t["metadata"].as_object() {
            for (k, v) in m {
                md.insert(k.clone(), template_meta(v.as_str().unwrap_or(""), &repl));
            }
        }
        if ty == "http" {
            if http {
                return Err(err(
                    "Error getting autoscaling: Only one http trigger is allowed",
                ));
            }
            http = true;
            let method = md.get("scale_by").map_or("request_rate", String::as_str);
            if method != "request_rate" && method != "concurrency" {
                return Err(err(format!(
                    "Error getting autoscaling: Invalid http scale method: {method}"
                )));
            }
            triggers.push(json!({
                "name": name,
                "type": "external-push",
                "metadata": {
                    "httpScaledObject": format!("{app}-{proc}"),
                    "scalerAddress": "keda-add-ons-http-external-scaler.keda:9090",
                }
            }));
            continue;
        }
        triggers.push(json!({"name": name, "type": ty, "metadata": md}));
    }
    Ok(Some(json!({
        "enabled": !triggers.is_empty(),
        "cooldown": int("cooldown_period_seconds").unwrap_or(300),
        "polling": int("polling_interval_seconds").unwrap_or(30),
        "min": min,
        "max": max,
        "triggers": triggers,
    })))
}

/// Expand `$NAME`/`${NAME}` as `shell.Fields` does with the app env (`PORT` is the primary
/// port).
fn expand(word: &str, env: &BTreeMap<String, String>, port: u32) -> String {
    let look = |n: &str| {
        if n == "PORT" {
            port.to_string()
        } else {
            env.get(n).cloned().unwrap_or_default()
        }
    };
    let mut out = String::new();
    let cs: Vec<char> = word.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        if cs[i] == '$' && i + 1 < cs.len() {
            if cs[i + 1] == '{' {
                if let Some(end) = cs[i + 2..].iter().position(|c| *c == '}') {
                    let n: String = cs[i + 2..i + 2 + end].iter().collect();
                    out.push_str(&look(&n));
                    i += end + 3;
                    continue;
                }
            } else if cs[i + 1].is_ascii_alphabetic() || cs[i + 1] == '_' {
                let mut j = i + 1;
                while j < cs.len() && (cs[j].is_ascii_alphanumeric() || cs[j] == '_') {
                    j += 1;
                }
                let n: String = cs[i + 1..j].iter().collect();
                out.push_str(&look(&n));
                i = j;
                continue;
            }
        }
        out.push(cs[i]);
        i += 1;
    }
    out
}

fn labels(app: &str, proc: &str) -> Value {
    json!({
        "app.kubernetes.io/instance": format!("{app}-{proc}"),
        "app.kubernetes.io/name": proc,
        "app.kubernetes.io/part-of": app,
    })
}

/// The image the chart runs (`ResolveDeployingAppImageName`): registry server + computed
/// image repo + the pushed tag version (`latest` without push-on-release).
fn deploying_image(ctx: &Ctx, app: &str) -> Res<String> {
    use crate::cmd::k3s::{registry_image_repo, registry_push_on_release, registry_server};
    let tag = if registry_push_on_release(ctx, app)? {
        let t = ctx.prop_or("registry", app, "tag-version")?;
        if t.trim().is_empty() {
            "1".to_string()
        } else {
            t.trim().to_string()
        }
    } else {
        "latest".to_string()
    };
    Ok(format!(
        "{}{}:{tag}",
        registry_server(ctx, app)?,
        registry_image_repo(ctx, app)?
    ))
}

/// The registry plugin's `post-release-builder` with `push-on-release`: bump `tag-version`
/// and push `<server><repo>:<n>` (any scheduler).
pub fn registry_push(ctx: &Ctx, app: &str) -> Res {
    use crate::cmd::k3s::{registry_image_repo, registry_push_on_release, registry_server};
    if !registry_push_on_release(ctx, app)? {
        return Ok(());
    }
    ctx.info1("Pushing image to registry");
    let cur = ctx.prop_or("registry", app, "tag-version")?;
    let cur = if cur.trim().is_empty() {
        "0"
    } else {
        cur.trim()
    };
    let n: u64 = cur.parse().map_err(|_| {
        err(format!(
            "Unable to convert existing tag version ({cur}) to integer: strconv.Atoi: parsing \"{cur}\": invalid syntax"
        ))
    })?;
    let n = n + 1;
    ctx.verbose(format!("Bumping tag to {n}"));
    ctx.set_prop("registry", app, "tag-version", &n.to_string())?;
    let full = format!(
        "{}{}:{n}",
        registry_server(ctx, app)?,
        registry_image_repo(ctx, app)?
    );
    ctx.verbose(format!("Pushing {full}"));
    ctx.verbose(format!("Image {full} pushed"));
    Ok(())
}

/// Go's `time.ParseDuration` accepts this (units ns, us, µs, ms, s, m, h; a bare number only
/// after `deploy-timeout`'s own integer check turned it into seconds).
fn valid_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 || rest[..n] == *"." {
            return false;
        }
        rest = &rest[n..];
        let u = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len());
        let Some(u) = u else { return false };
        rest = &rest[u.len()..];
    }
    true
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// What the chart needs to know about a mounted k3s storage entry.
struct Volume {
    name: String,
    mount_path: String,
    sub_path: String,
    read_only: bool,
    claim: Option<(String, String)>,
    empty_dir: Option<String>,
}

/// `LoadAppMounts(app, "deploy")` + `ToProcessVolumes`: a docker-local entry (every legacy
/// `host:container` mount is one) fails the deploy.
fn volumes(ctx: &Ctx, app: &str) -> Res<Vec<Volume>> {
    let mut v = Vec::new();
    let shm = crate::cmd::k3s::k3s_computed(ctx, app, "shm-size")?;
    if !shm.is_empty() {
        v.push(Volume {
            name: "shmem".into(),
            mount_path: "/dev/shm".into(),
            sub_path: String::new(),
            read_only: false,
            claim: None,
            empty_dir: Some(shm),
        });
    }
    for m in crate::cmd::storage::mounts(ctx, app)? {
        if !m.phases.is_empty() && !m.phases.iter().any(|p| p == "deploy") {
            continue;
        }
        let name = if m.entry_name.is_empty() {
            crate::cmd::storage::legacy_entry_name(&m.host_path)
        } else {
            m.entry_name.clone()
        };
        let e = crate::cmd::storage_entries::load(ctx, &name)?;
        let k3s_entry = e.as_ref().filter(|e| e.scheduler == "k3s");
        let Some(e) = k3s_entry else {
            return Err(err(format!("error loading storage app mounts: storage entry \"{name}\" is scheduler=docker-local but is mounted on a k3s app; recreate it with --scheduler k3s")));
        };
        let ns = if e.namespace.is_empty() {
            "default".to_string()
        } else {
            e.namespace.clone()
        };
        v.push(Volume {
            name: e.name.clone(),
            mount_path: m.container_path.clone(),
            sub_path: m.subpath.clone(),
            read_only: m.readonly,
            claim: Some((ns, e.name.clone())),
            empty_dir: None,
        });
    }
    Ok(v)
}

/// The PersistentVolumeClaim (and, for a host path, PersistentVolume) of a k3s storage entry,
/// as the `storage-<entry>` release renders them (`TriggerStorageCreate`,
/// templates/storage-chart).
pub fn storage_objects(e: &crate::cmd::storage_entries::Entry) -> Vec<Value> {
    let ns = if e.namespace.is_empty() {
        "default"
    } else {
        &e.namespace
    };
    let mut labels = json!({
        "app.kubernetes.io/name": e.name,
        "app.kubernetes.io/managed-by": "dokku",
    });
    for (k, v) in &e.labels {
        labels[k] = json!(v);
    }
    let mut annotations = json!({"dokku.com/managed": "true"});
    for (k, v) in &e.annotations {
        annotations[k] = json!(v);
    }
    let mode = if e.access_mode.is_empty() {
        "ReadWriteOnce"
    } else {
        &e.access_mode
    };
    let mut spec = json!({
        "accessModes": [mode],
        "resources": {"requests": {"storage": e.size}},
    });
    if !e.storage_class.is_empty() {
        spec["storageClassName"] = json!(e.storage_class);
    }
    if !e.host_path.is_empty() {
        spec["volumeName"] = json!(e.name);
        spec["storageClassName"] = json!("");
    }
    let mut v = vec![json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": e.name, "namespace": ns, "labels": labels, "annotations": annotations},
        "spec": spec,
    })];
    if !e.host_path.is_empty() {
        let reclaim = if e.reclaim_policy.is_empty() {
            "Retain"
        } else {
            &e.reclaim_policy
        };
        v.push(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": e.name, "labels": labels, "annotations": annotations},
            "spec": {
                "capacity": {"storage": e.size},
                "accessModes": [mode],
                "persistentVolumeReclaimPolicy": reclaim,
                "hostPath": {"path": e.host_path},
                "storageClassName": "",
                "claimRef": {"namespace": ns, "name": e.name},
            }
        }));
    }
    v
}

/// `storage-create` for a k3s entry: install the `storage-<entry>` release. Without a cluster
/// the trigger fails as Dokku's does.
pub fn storage_create(ctx: &Ctx, e: &crate::cmd::storage_entries::Entry) -> Res {
    if e.scheduler != "k3s" {
        return Ok(());
    }
    if !cluster_ready(&ctx.paths) {
        return Err(err("kubernetes not available: kubernetes api not available (sandbox: run scheduler-k3s:initialize first)"));
    }
    let ns = if e.namespace.is_empty() {
        "default"
    } else {
        &e.namespace
    };
    check_namespace(ns).map_err(|e| err(format!("error creating namespace: {e}")))?;
    if !crate::cmd::k3s::is_dns1123_subdomain(&e.name) {
        return Err(err(format!(
            "error installing storage chart: PersistentVolumeClaim \"{}\" is invalid",
            e.name
        )));
    }
    put(&ctx.paths, &namespace_object(ns))?;
    ctx.verbose(format!("Installing storage chart for {}", e.name));
    install_release(
        &ctx.paths,
        ns,
        &format!("storage-{}", e.name),
        &storage_objects(e),
    )
}

/// `storage-destroy` for a k3s entry: uninstall its release.
pub fn storage_destroy(ctx: &Ctx, e: &crate::cmd::storage_entries::Entry) -> Res {
    if e.scheduler != "k3s" {
        return Ok(());
    }
    let ns = if e.namespace.is_empty() {
        "default"
    } else {
        &e.namespace
    };
    let release = format!("storage-{}", e.name);
    if release_path(&ctx.paths, ns, &release).is_file() {
        ctx.verbose(format!("Removing storage chart for {}", e.name));
        uninstall_release(&ctx.paths, ns, &release)?;
    }
    Ok(())
}

fn namespace_object(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
    })
}

/// The API's refusal of a namespace name that is not a DNS-1123 label.
fn check_namespace(ns: &str) -> Res {
    if crate::cmd::k3s::is_dns1123_label(ns) {
        return Ok(());
    }
    Err(err(format!(
        "Namespace \"{ns}\" is invalid: metadata.name: Invalid value: \"{ns}\": {DNS1123_LABEL}"
    )))
}

const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// A label value the API accepts: at most 63 characters, alphanumerics at both ends and
/// `-`, `_`, `.` inside.
fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

/// A Service name: a DNS-1035 label (a letter first).
fn valid_dns1035(v: &str) -> bool {
    crate::cmd::k3s::is_dns1123_label(v) && v.starts_with(|c: char| c.is_ascii_lowercase())
}

/// The first Kubernetes API validation error of the rendered objects that the sandbox
/// checks (what `helm install` would print), if any.
fn api_errors(objs: &[Value]) -> Option<String> {
    for o in objs {
        let kind = o["kind"].as_str().unwrap_or("");
        let name = meta(o, "name");
        let api_kind = match kind {
            "Deployment" => "Deployment.apps",
            "Ingress" => "Ingress.networking.k8s.io",
            "ScaledObject" => "ScaledObject.keda.sh",
            k => k,
        };
        let name_ok = if kind == "Service" {
            valid_dns1035(name)
        } else {
            crate::cmd::k3s::is_dns1123_subdomain(name)
        };
        if !name_ok {
            let rule = if kind == "Service" {
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            } else {
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            };
            return Some(format!(
                "{api_kind} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": {rule}"
            ));
        }
        if let Some(l) = o["metadata"]["labels"].as_object() {
            for (k, v) in l {
                let v = v.as_str().unwrap_or("");
                if !valid_label_value(v) {
                    return Some(format!("{api_kind} \"{name}\" is invalid: metadata.labels: Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, and must be no more than 63 characters ({k})"));
                }
            }
        }
        if kind == "Service" {
            let ports = o["spec"]["ports"].as_array().cloned().unwrap_or_default();
            if ports.is_empty() {
                return Some(format!(
                    "Service \"{name}\" is invalid: spec.ports: Required value"
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, p) in ports.iter().enumerate() {
                let key = (
                    p["port"].as_u64(),
                    p["protocol"].as_str().map(str::to_string),
                );
                if !seen.insert(key) {
                    return Some(format!(
                        "Service \"{name}\" is invalid: spec.ports[{i}]: Duplicate value: {}",
                        p["port"]
                    ));
                }
            }
        }
        if kind == "Deployment" {
            let c = &o["spec"]["template"]["spec"]["containers"][0];
            for (i, p) in c["ports"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let pn = p["name"].as_str().unwrap_or("");
                if pn.len() > 15 {
                    return Some(format!("Deployment.apps \"{name}\" is invalid: spec.template.spec.containers[0].ports[{i}].name: Invalid value: \"{pn}\": must be no more than 15 characters"));
                }
            }
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let p = &c[probe];
                if p.is_object()
                    && p.get("exec").is_none()
                    && p.get("httpGet").is_none()
                    && p.get("tcpSocket").is_none()
                {
                    return Some(format!("Deployment.apps \"{name}\" is invalid: spec.template.spec.containers[0].{probe}: Required value: must specify a handler type"));
                }
            }
        }
    }
    None
}

/// `TriggerSchedulerDeploy` for an app whose scheduler is k3s: render the chart
/// (`BuildAppChart`), check what the cluster would refuse or never get ready, write the objects
/// into the store. `network:*`, `restart-policy`, `checks:*` and every docker option other than
/// the security ones play no part, and Dokku says nothing about them.
pub fn deploy(ctx: &mut Ctx, app: &str, st: &mut AppState) -> Res {
    let ns = crate::cmd::k3s::k3s_computed(ctx, app, "namespace")?;
    if !cluster_ready(&ctx.paths) {
        return Err(err("Error creating kubernetes namespace for deployment: kubernetes api not available: stat /etc/rancher/k3s/k3s.yaml: no such file or directory (sandbox: run scheduler-k3s:initialize first)"));
    }
    check_namespace(&ns).map_err(|e| {
        err(format!(
            "Error creating kubernetes namespace for deployment: {e}"
        ))
    })?;
    put(&ctx.paths, &namespace_object(&ns))?;
    let scale = crate::deploy::scale(ctx, app, st)?;
    let image = deploying_image(ctx, app)?;
    let mut timeout = crate::cmd::k3s::k3s_computed(ctx, app, "deploy-timeout")?;
    if timeout.parse::<i64>().is_ok() {
        timeout.push('s');
    }
    if !valid_duration(&timeout) {
        return Err(err(format!(
            "Error parsing deploy timeout duration: time: invalid duration \"{timeout}\""
        )));
    }
    let rollback_raw = crate::cmd::k3s::k3s_computed(ctx, app, "rollback-on-failure")?;
    let Some(rollback) = parse_bool(&rollback_raw) else {
        return Err(err(format!("Error parsing rollback-on-failure value as boolean: strconv.ParseBool: parsing \"{rollback_raw}\": invalid syntax")));
    };
    let env = {
        let mut e = ctx.env("--global")?;
        e.extend(ctx.env(app)?);
        e
    };
    let maps = port_maps(ctx, app)?;
    // Go map iteration: with several maps the primary port is any of them.
    let (primary, _primary_service) = if maps.is_empty() {
        (5000, 80)
    } else {
        let pick = (crate::harness::now_ms() as usize) % maps.len();
        let m = maps
            .values()
            .nth(pick)
            .map_or((5000, 80), |m| (m.container, m.host));
        m
    };
    let app_json: Value = read_opt(&crate::cmd::appjson::stored_path(ctx, app))?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let domains = if scale.contains_key("web") && crate::cmd::domains::app_vhost_enabled(ctx, app)?
    {
        let mut d = crate::cmd::domains::app_domains(ctx, app)?;
        d.sort();
        d
    } else {
        Vec::new()
    };
    let (privileged, cap_add, cap_drop, sysctls) = security_context(ctx, app)?;
    let vols = volumes(ctx, app)?;
    let pull_secret = crate::cmd::k3s::k3s_computed(ctx, app, "image-pull-secrets")?;
    let ingress_class = crate::cmd::k3s::k3s_computed(ctx, app, "ingress-class")?;
    let le_server = crate::cmd::k3s::k3s_computed(ctx, app, "letsencrypt-server")?;
    let le_email = match le_server.as_str() {
        "stag" | "staging" => crate::cmd::k3s::k3s_computed(ctx, app, "letsencrypt-email-stag")?,
        "false" => String::new(),
        _ => crate::cmd::k3s::k3s_computed(ctx, app, "letsencrypt-email-prod")?,
    };
    let tls = !le_email.is_empty();
    let builder = {
        let b = ctx.prop_or("builder", app, "detected")?;
        if b.is_empty() {
            "herokuish".to_string()
        } else {
            b
        }
    };
    let deployment_id = (crate::harness::now_ms() / 1000).to_string();
    let behaviour = crate::harness::image_behaviour(&ctx.paths, app, &st.source_image);

    let mut objs: Vec<Value> = vec![json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "annotations": {"dokku.com/managed": "true"},
            "labels": {
                "app.kubernetes.io/instance": "service-account",
                "app.kubernetes.io/name": "service-account",
                "app.kubernetes.io/part-of": app,
            },
            "name": app,
            "namespace": ns,
        }
    })];
    for (proc, replicas) in &scale {
        let full = format!("{app}-{proc}");
        let lbl = labels(app, proc);
        // The web section: the http/https maps for `web`, port 5000 for an exposed type.
        let exposed = app_json["formation"][proc]["service"]["exposed"].as_bool() == Some(true);
        let web_maps: Option<Vec<PortMap>> = if proc == "web" {
            let mut v: Vec<PortMap> = maps.values().cloned().collect();
            let base = v.clone();
            for m in &base {
                let has = |n: String| maps.contains_key(&n);
                if m.scheme == "http" && !has(format!("https-443-{}", m.container)) && tls {
                    v.push(PortMap::new("https", 443, m.container));
                }
                if m.scheme == "https" && !has(format!("http-80-{}", m.container)) {
                    v.push(PortMap::new("http", 80, m.container));
                }
            }
            v.sort();
            v.dedup();
            Some(v)
        } else if exposed {
            Some(vec![PortMap::new("http", 5000, 5000)])
        } else {
            None
        };
        let checks: Vec<Value> = app_json["healthchecks"][proc]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pr = probes(ctx, &checks, primary);
        let cmdline = st.procfile.get(proc).cloned().unwrap_or_default();
        let args: Vec<String> = shell_words::split(&cmdline)
            .map_err(|e| err(format!("Error getting start command for deployment: {e}")))?
            .iter()
            .map(|w| expand(w, &env, primary))
            .collect();
        let resources = process_resources(ctx, app, proc)?;
        let scaling = autoscaling(&app_json, app, proc, *replicas)?;
        let keda = scaling
            .as_ref()
            .is_some_and(|s| s["enabled"] == json!(true));

        let mut c = Map::new();
        if !args.is_empty() {
            c.insert("args".into(), json!(args));
        }
        if web_maps.is_some() {
            let port = if proc == "web" { primary } else { 5000 };
            c.insert(
                "env".into(),
                json!([{"name": "PORT", "value": port.to_string()}]),
            );
        }
        c.insert(
            "envFrom".into(),
            json!([{"secretRef": {"name": format!("config-{app}"), "optional": true}}]),
        );
        c.insert("image".into(), json!(image));
        c.insert("imagePullPolicy".into(), json!("Always"));
        c.insert("name".into(), json!(full));
        if let Some(wm) = &web_maps {
            let ports: Vec<Value> = wm
                .iter()
                .filter(|m| {
                    !(m.scheme == "https" && maps.contains_key(&format!("http-80-{}", m.container)))
                })
                .map(|m| {
                    json!({
                        "containerPort": m.container,
                        "name": m.name,
                        "protocol": if m.scheme == "udp" { "UDP" } else { "TCP" },
                    })
                })
                .collect();
            c.insert("ports".into(), Value::Array(ports));
        }
        if resources.as_object().is_some_and(|r| !r.is_empty()) {
            c.insert("resources".into(), resources);
        }
        for (k, p) in pr {
            c.insert(k.into(), p);
        }
        if privileged || !cap_add.is_empty() || !cap_drop.is_empty() {
            let mut sc = Map::new();
            if privileged {
                sc.insert("privileged".into(), json!(true));
            }
            let mut caps = Map::new();
            if !cap_add.is_empty() {
                caps.insert("add".into(), json!(cap_add));
            }
            if !cap_drop.is_empty() {
                caps.insert("drop".into(), json!(cap_drop));
            }
            if !caps.is_empty() {
                sc.insert("capabilities".into(), Value::Object(caps));
            }
            c.insert("securityContext".into(), Value::Object(sc));
        }
        if !vols.is_empty() {
            let vm: Vec<Value> = vols
                .iter()
                .map(|v| {
                    let mut m = json!({"name": v.name, "mountPath": v.mount_path});
                    if !v.sub_path.is_empty() {
                        m["subPath"] = json!(v.sub_path);
                    }
                    if v.read_only {
                        m["readOnly"] = json!(true);
                    }
                    m
                })
                .collect();
            c.insert("volumeMounts".into(), Value::Array(vm));
        }
        let mut pod = Map::new();
        if !sysctls.is_empty() {
            let s: Vec<Value> = sysctls
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect();
            pod.insert("securityContext".into(), json!({"sysctls": s}));
        }
        pod.insert("containers".into(), json!([Value::Object(c)]));
        if !pull_secret.is_empty() {
            pod.insert("imagePullSecrets".into(), json!([{"name": pull_secret}]));
        }
        pod.insert("serviceAccountName".into(), json!(app));
        if !vols.is_empty() {
            let vs: Vec<Value> = vols
                .iter()
                .map(|v| match (&v.claim, &v.empty_dir) {
                    (Some((_, claim)), _) => {
                        json!({"name": v.name, "persistentVolumeClaim": {"claimName": claim}})
                    }
                    (None, Some(size)) => {
                        json!({"name": v.name, "emptyDir": {"medium": "Memory", "sizeLimit": size}})
                    }
                    _ => json!({"name": v.name, "emptyDir": {}}),
                })
                .collect();
            pod.insert("volumes".into(), Value::Array(vs));
        }
        let annotations = json!({
            "app.kubernetes.io/version": deployment_id,
            "dokku.com/builder-type": builder,
            "dokku.com/managed": "true",
            "kubectl.kubernetes.io/default-container": full,
        });
        let mut spec = Map::new();
        if !keda {
            spec.insert("replicas".into(), json!(replicas));
        }
        spec.insert("revisionHistoryLimit".into(), json!(5));
        spec.insert("selector".into(), json!({"matchLabels": lbl}));
        spec.insert("strategy".into(), json!({}));
        spec.insert(
            "template".into(),
            json!({"metadata": {"annotations": annotations, "labels": lbl}, "spec": Value::Object(pod)}),
        );
        objs.push(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"annotations": annotations, "labels": lbl, "name": full, "namespace": ns},
            "spec": Value::Object(spec),
        }));
        if let Some(s) = scaling.as_ref().filter(|_| keda) {
            let triggers = s["triggers"].as_array().cloned().unwrap_or_default();
            let fallback = triggers
                .iter()
                .any(|t| t["type"] != json!("cpu") && t["type"] != json!("memory"));
            let mut spec = json!({
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": full,
                    "envSourceContainerName": full,
                },
                "cooldownPeriod": s["cooldown"],
                "pollingInterval": s["polling"],
                "minReplicaCount": s["min"],
                "maxReplicaCount": s["max"],
                "triggers": triggers,
            });
            if fallback {
                spec["fallback"] = json!({"failureThreshold": 3, "replicas": replicas});
            }
            objs.push(json!({
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": {
                    "annotations": {"app.kubernetes.io/version": deployment_id, "dokku.com/managed": "true"},
                    "labels": lbl,
                    "name": full,
                    "namespace": ns,
                },
                "spec": spec,
            }));
        }
        let Some(wm) = web_maps else { continue };
        let ports: Vec<Value> = wm
            .iter()
            .map(|m| {
                json!({"name": m.name, "port": m.host, "protocol": "TCP", "targetPort": m.container})
            })
            .collect();
        objs.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"annotations": {"dokku.com/managed": "true"}, "labels": lbl, "name": full, "namespace": ns},
            "spec": {"ports": ports, "selector": lbl},
        }));
        if proc != "web" || ingress_class != "nginx" {
            continue;
        }
        let primary_name = primary_port_name(&wm);
        for d in &domains {
            let mut annotations =
                json!({"dokku.com/managed": "true", "dokku.com/ingress-method": "domains"});
            let mut spec = json!({"ingressClassName": "nginx"});
            if tls {
                annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] = json!("true");
                spec["tls"] = json!([{"hosts": [d], "secretName": format!("tls-{app}-{proc}")}]);
            }
            let paths: Vec<Value> = if wm.is_empty() {
                Vec::new()
            } else {
                vec![json!({
                    "backend": {"service": {"name": full, "port": {"name": primary_name}}},
                    "pathType": "ImplementationSpecific",
                    "path": "/",
                })]
            };
            spec["rules"] = json!([{"host": d, "http": {"paths": paths}}]);
            objs.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "annotations": annotations,
                    "labels": lbl,
                    "name": format!("{full}-{}", domain_slug(d)),
                    "namespace": ns,
                },
                "spec": spec,
            }));
        }
    }
    ctx.info2(format!("Installing {app}"));
    // Helm's post-renderer: the app's kustomization (`KustomizeRenderer`).
    let objs = crate::k3s_kustomize::apply(ctx, app, objs)?;
    if let Some(e) = api_errors(&objs) {
        return Err(err(format!("Error deploying: {e}")));
    }
    // What keeps pods from getting ready, so that `helm upgrade --wait` times out.
    let mut stuck = Vec::new();
    let cluster_nodes = nodes(&ctx.paths)?;
    let mut wants_pods = false;
    for d in objs.iter().filter(|o| o["kind"] == "Deployment") {
        let name = meta(d, "name");
        // Without `replicas` KEDA's minimum holds (the API's default is 1).
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or_else(|| {
            objs.iter()
                .find(|o| o["kind"] == "ScaledObject" && meta(o, "name") == name)
                .and_then(|o| o["spec"]["minReplicaCount"].as_i64())
                .unwrap_or(1)
        });
        if replicas < 1 {
            continue;
        }
        wants_pods = true;
        if !crate::k3s_kustomize::schedulable(&d["spec"]["template"]["spec"], &cluster_nodes) {
            stuck.push(format!(
                "0/{} nodes are available for {name}: none matches the pod's node selector and tolerates its taints",
                cluster_nodes.len()
            ));
        }
    }
    if wants_pods {
        let pushed = crate::cmd::k3s::registry_push_on_release(ctx, app)?
            && !crate::cmd::k3s::registry_server(ctx, app)?.is_empty();
        if !pushed {
            stuck.push(format!("Failed to pull image \"{image}\": the image was never pushed to a registry the cluster can reach (registry:set {app} server <host>, registry:set {app} push-on-release true)"));
        }
        for v in &vols {
            if let Some((claim_ns, claim)) = &v.claim {
                if claim_ns != &ns
                    || get(&ctx.paths, &ns, "PersistentVolumeClaim", claim)?.is_none()
                {
                    stuck.push(format!(
                        "persistentvolumeclaim \"{claim}\" not found in namespace {ns}"
                    ));
                }
            }
        }
        if behaviour.exit.is_some()
            || behaviour.unhealthy
            || crate::harness::Rules::load(&ctx.paths).deploy_fault(app)
        {
            stuck.push("pods are not ready (CrashLoopBackOff or failing probes)".to_string());
        }
    }
    let previous = snapshot(&ctx.paths, &ns, app)?;
    // A release installed in another namespace before (`namespace` changed) stays there, as
    // Helm keeps it: remove nothing of it.
    if let Some(old_ns) = installed_namespace(&ctx.paths, app).filter(|o| *o != ns_dir(&ns)) {
        ctx.verbose(format!(
            "(sandbox) release {app} is still installed in namespace {old_ns}"
        ));
    }
    install_release(&ctx.paths, &ns, app, &objs)?;
    if !stuck.is_empty() {
        for s in &stuck {
            ctx.warn(format!("(sandbox) {s}"));
        }
        if rollback {
            uninstall_release(&ctx.paths, &ns, app)?;
            if !previous.is_empty() {
                install_release(&ctx.paths, &ns, app, &previous)?;
            }
        }
        return Err(err("Error deploying: context deadline exceeded"));
    }
    st.containers.clear();
    Ok(())
}

/// The `primary.port` helper: `https-443-*`, else `http-80-*`, else the first https, else the
/// first http, else the first map (by name).
fn primary_port_name(maps: &[PortMap]) -> String {
    let find = |f: &dyn Fn(&PortMap) -> bool| maps.iter().find(|m| f(m)).map(|m| m.name.clone());
    find(&|m| m.name.starts_with("https-443-"))
        .or_else(|| find(&|m| m.name.starts_with("http-80-")))
        .or_else(|| find(&|m| m.scheme == "https"))
        .or_else(|| find(&|m| m.scheme == "http"))
        .or_else(|| maps.first().map(|m| m.name.clone()))
        .unwrap_or_default()
}

/// `TriggerSchedulerStop`: every Deployment labelled `app.kubernetes.io/part-of=<app>` in the
/// app's namespace is scaled to 0.
pub fn stop(ctx: &Ctx, app: &str) -> Res {
    let ns = crate::cmd::k3s::k3s_computed(ctx, app, "namespace")?;
    if !cluster_ready(&ctx.paths) {
        ctx.warn("k3s is not installed, skipping");
        return Ok(());
    }
    for mut d in list(&ctx.paths, &ns, "Deployment")? {
        if d["metadata"]["labels"]["app.kubernetes.io/part-of"].as_str() != Some(app) {
            continue;
        }
        let proc = d["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        ctx.verbose(format!("Stopping {proc} process"));
        d["spec"]["replicas"] = json!(0);
        put(&ctx.paths, &d)?;
    }
    Ok(())
}

/// `TriggerSchedulerAppStatus`: the process count and running state of a k3s app, from its
/// Deployments' replicas (the sandbox's pods are available as soon as a deploy succeeds).
pub fn app_status(ctx: &Ctx, app: &str) -> Res<(usize, &'static str)> {
    let ns = crate::cmd::k3s::k3s_computed(ctx, app, "namespace")?;
    let mut replicas = 0usize;
    for d in list(&ctx.paths, &ns, "Deployment")? {
        if d["metadata"]["labels"]["app.kubernetes.io/part-of"].as_str() == Some(app) {
            replicas += d["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
        }
    }
    Ok((replicas, if replicas == 0 { "false" } else { "true" }))
}

/// `TriggerSchedulerPostDelete`: uninstall the app's release (its Deployments, Services,
/// Ingresses, ScaledObjects, ServiceAccount). Storage releases stay.
pub fn destroy(ctx: &Ctx, app: &str) -> Res {
    let ns = crate::cmd::k3s::k3s_computed(ctx, app, "namespace")?;
    uninstall_release(&ctx.paths, &ns, app)?;
    if let Some(other) = installed_namespace(&ctx.paths, app) {
        uninstall_release(&ctx.paths, &other, app)?;
    }
    Ok(())
}

/// `TriggerSchedulerRun`: a Job `<app>-run-<suffix>` with the app's image and config and no
/// volumes (the chart's storage mounts are not part of run jobs).
pub fn run_job(ctx: &Ctx, app: &str, cmd: &[String]) -> Res<String> {
    let ns = crate::cmd::k3s::k3s_computed(ctx, app, "namespace")?;
    if !cluster_ready(&ctx.paths) {
        return Err(err("kubernetes api not available"));
    }
    let image = deploying_image(ctx, app)?;
    let suffix = format!("{:05x}", crate::harness::now_ms() & 0xfffff);
    let name = format!("{app}-run-{suffix}");
    let lbl = json!({
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/name": "run",
        "app.kubernetes.io/part-of": app,
    });
    let mut c = json!({
        "envFrom": [{"secretRef": {"name": format!("config-{app}"), "optional": true}}],
        "image": image,
        "imagePullPolicy": "Always",
        "name": format!("{app}-run"),
    });
    if !cmd.is_empty() {
        c["args"] = json!(cmd);
    }
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": lbl, "name": name, "namespace": ns},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": lbl},
                "spec": {"containers": [c], "restartPolicy": "Never", "serviceAccountName": app},
            }
        }
    });
    put(&ctx.paths, &job)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical_as_kubernetes_prints_them() {
        let q = |s: &str| canonical_quantity(s).unwrap();
        assert_eq!(q("512m"), "512m");
        assert_eq!(q("512Mi"), "512Mi");
        assert_eq!(q("1024Mi"), "1Gi");
        assert_eq!(q("1.5Gi"), "1536Mi");
        assert_eq!(q("0.5"), "500m");
        assert_eq!(q("1000m"), "1");
        assert_eq!(q("2"), "2");
        assert_eq!(q("1500"), "1500");
        assert_eq!(q("1000"), "1k");
        assert_eq!(q("1G"), "1G");
        assert_eq!(q("100"), "100");
        assert!(canonical_quantity("12x").is_err());
        assert!(canonical_quantity("abc").is_err());
        assert_eq!(memory_quantity("512").unwrap(), "512Mi");
        assert_eq!(memory_quantity("512m").unwrap(), "512m");
        assert!(memory_quantity("1g").is_err());
    }

    #[test]
    fn durations_follow_go() {
        assert!(valid_duration("300s"));
        assert!(valid_duration("1m30s"));
        assert!(valid_duration("1.5h"));
        assert!(!valid_duration("5 minutes"));
        assert!(!valid_duration("s"));
    }

    #[test]
    fn slugs_follow_gosimple_slug() {
        assert_eq!(domain_slug("www.Example.com"), "www-example-com");
        assert_eq!(domain_slug("*.example.com"), "wildcard-example-com");
    }
}
