//! The cluster object store as the kubectl stand-in sees it (docs/k3s-discovery.md "The sandbox's kubectl"):
//! `<root>/k3s/objects/<namespace>/<Kind>/<name>.json`, one object per file, pretty JSON as the
//! API server stores it (the root is the parent of `DOKKU_LIB_ROOT`, i.e. `DOKKU_SANDBOX_ROOT`;
//! the same store the sandbox's scheduler-k3s writes Dokku's chart objects to).

pub mod resolve;
pub mod validate;

use std::path::PathBuf;

use serde_json::Value;

use crate::ctx::{read_opt, remove_any, write_atomic, Paths};

/// `<root>/k3s/objects`: the store the sandbox's scheduler-k3s writes ([`crate::k3s`]).
pub fn objects_dir(paths: &Paths) -> PathBuf {
    crate::k3s::objects_dir(paths)
}

/// The kinds the stand-in serves: (resource names kubectl accepts, apiVersion, Kind,
/// namespaced).
pub const KINDS: &[(&[&str], &str, &str, bool)] = &[
    (&["service", "services", "svc"], "v1", "Service", true),
    (
        &["endpointslice", "endpointslices"],
        "discovery.k8s.io/v1",
        "EndpointSlice",
        true,
    ),
    (
        &["deployment", "deployments", "deploy"],
        "apps/v1",
        "Deployment",
        true,
    ),
    (&["configmap", "configmaps", "cm"], "v1", "ConfigMap", true),
    (&["secret", "secrets"], "v1", "Secret", true),
    (
        &["persistentvolumeclaim", "persistentvolumeclaims", "pvc"],
        "v1",
        "PersistentVolumeClaim",
        true,
    ),
    (&["namespace", "namespaces", "ns"], "v1", "Namespace", false),
];

/// The Kind of a resource name (`svc` -> `Service`).
pub fn kind_of(
    resource: &str,
) -> Option<&'static (&'static [&'static str], &'static str, &'static str, bool)> {
    let r = resource.to_ascii_lowercase();
    let r = r.split('.').next().unwrap_or("");
    KINDS.iter().find(|(names, ..)| names.contains(&r))
}

/// The Kind an `apiVersion`/`kind` pair names, if the stand-in serves it.
pub fn served(
    api_version: &str,
    kind: &str,
) -> Option<&'static (&'static [&'static str], &'static str, &'static str, bool)> {
    KINDS
        .iter()
        .find(|(_, v, k, _)| *v == api_version && *k == kind)
}

/// The file of one object: where [`crate::k3s::object_path`] puts it (a namespace the API
/// would refuse never names a directory).
pub fn object_path(paths: &Paths, ns: &str, kind: &str, name: &str) -> PathBuf {
    crate::k3s::object_path(paths, ns, kind, name)
}

/// One object, if stored.
pub fn get(paths: &Paths, ns: &str, kind: &str, name: &str) -> Result<Option<Value>, String> {
    let p = object_path(paths, ns, kind, name);
    match read_opt(&p).map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", p.display())),
    }
}

/// Every object of `kind` in `ns`, by name.
pub fn list(paths: &Paths, ns: &str, kind: &str) -> Result<Vec<Value>, String> {
    // The kind's directory: the parent of any object's file.
    let file = object_path(paths, ns, kind, "_");
    let Some(dir) = file.parent() else {
        return Ok(Vec::new());
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        if let Some(o) = get(paths, ns, kind, &n)? {
            out.push(o);
        }
    }
    Ok(out)
}

/// Stores `object` (pretty JSON).
pub fn put(paths: &Paths, ns: &str, kind: &str, name: &str, object: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(object).map_err(|e| e.to_string())? + "\n";
    write_atomic(&object_path(paths, ns, kind, name), &text).map_err(|e| e.to_string())
}

/// Removes an object; whether it existed.
pub fn remove(paths: &Paths, ns: &str, kind: &str, name: &str) -> Result<bool, String> {
    let p = object_path(paths, ns, kind, name);
    let existed = p.exists();
    remove_any(&p).map_err(|e| e.to_string())?;
    Ok(existed)
}

/// Whether `labels` match a selector as kubectl's `-l` writes it (`k=v,k!=v,k`).
pub fn selector_matches(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels[k.trim()].as_str() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                labels[k.trim()].as_str() == Some(v.trim())
            } else {
                labels.get(term).is_some()
            }
        })
}
