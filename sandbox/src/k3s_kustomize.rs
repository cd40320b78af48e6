//! scheduler-k3s's Kustomize post-renderer (plugins/scheduler-k3s `TriggerCorePostExtract`
//! copies the pushed `kustomize-root-path` directory, default `config/kustomize`, to
//! `$DOKKU_LIB_ROOT/data/scheduler-k3s/<app>/kustomization`; `KustomizeRenderer` writes the
//! rendered chart there as `rendered.yaml` and runs Kustomize on the directory). This is how a
//! Dokku k3s app gets a `nodeSelector`, tolerations or affinity (placement onto the nodes a
//! profile labels `dokku.com/node-profile`).
//!
//! The sandbox applies the subset that such patches use: `resources` (`rendered.yaml` and
//! YAML files of the directory), `patches` with an inline `patch` or a `path`, as a JSON 6902
//! list (`add`, `replace`, `remove`, `test`) or a strategic-merge document (maps merged,
//! `containers` merged by `name`, other lists replaced), with a `target` (`group`, `version`,
//! `kind`, `name`, `namespace`). Any other Kustomization field fails the deploy with a
//! "(sandbox) … not modelled" line, so a test never takes it for Kustomize's behaviour.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ctx::{io_err, remove_any, Ctx, Res};
use crate::k3s::err;

/// Where the extracted kustomization of an app lives.
pub fn dir(ctx: &Ctx, app: &str) -> PathBuf {
    ctx.paths
        .data_dir("scheduler-k3s", app)
        .join("kustomization")
}

/// `CorePostExtract` for `config/kustomize`: copy the directory (regular files and
/// directories only: a symlink in the pushed tree is not followed) or forget the old one.
pub fn extract(ctx: &Ctx, app: &str, work: &Path) -> Res {
    let to = dir(ctx, app);
    remove_any(&to)?;
    // Dokku copies it for every app; the sandbox only for k3s apps, so that a docker-local
    // push leaves no scheduler-k3s state behind.
    if ctx.prop_computed("scheduler", app, "selected", "docker-local")? != "k3s" {
        return Ok(());
    }
    let root = crate::cmd::k3s::k3s_computed(ctx, app, "kustomize-root-path")?;
    let rel = root.trim_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == ".." || c == ".") {
        return Ok(());
    }
    let from = work.join(rel);
    let Ok(meta) = std::fs::symlink_metadata(&from) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Ok(());
    }
    copy_tree(&from, &to)
}

fn copy_tree(from: &Path, to: &Path) -> Res {
    crate::store::mkdirs(to)?;
    for e in std::fs::read_dir(from).map_err(io_err(from))?.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let dest = to.join(e.file_name());
        if m.is_dir() {
            copy_tree(&p, &dest)?;
        } else if m.is_file() {
            std::fs::copy(&p, &dest).map_err(io_err(&p))?;
        }
    }
    Ok(())
}

fn not_modelled(what: &str) -> crate::ctx::Fail {
    err(format!(
        "(sandbox) Kustomization {what} is not modelled by the dokku sandbox (see docs/sandbox.md)"
    ))
}

/// A plain file name of the kustomization directory.
fn local_file(d: &Path, name: &str) -> Res<PathBuf> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(not_modelled(&format!("file reference `{name}`")));
    }
    let p = d.join(name);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.is_file() => Ok(p),
        _ => Err(err(format!("must build at directory: '{name}' not found"))),
    }
}

fn yaml_docs(text: &str) -> Res<Vec<Value>> {
    let mut v = Vec::new();
    for d in serde_yaml::Deserializer::from_str(text) {
        let val: Value = serde::Deserialize::deserialize(d)
            .map_err(|e| err(format!("Error applying kustomization: {e}")))?;
        if !val.is_null() {
            v.push(val);
        }
    }
    Ok(v)
}

/// Apply the app's kustomization, if it has one, to the rendered objects.
pub fn apply(ctx: &Ctx, app: &str, rendered: Vec<Value>) -> Res<Vec<Value>> {
    let d = dir(ctx, app);
    let file = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|f| d.join(f))
        .find(|p| p.is_file());
    let Some(file) = file else {
        if d.is_dir() {
            return Err(err("kustomization.yaml not found"));
        }
        return Ok(rendered);
    };
    ctx.verbose(format!("Applying kustomization to {app}"));
    let text = std::fs::read_to_string(&file).map_err(io_err(&file))?;
    let k: Value = serde_yaml::from_str(&text)
        .map_err(|e| err(format!("Error applying kustomization: {e}")))?;
    let Some(k) = k.as_object() else {
        return Err(err("Error applying kustomization: not a Kustomization"));
    };
    for key in k.keys() {
        if !matches!(
            key.as_str(),
            "apiVersion" | "kind" | "resources" | "patches"
        ) {
            return Err(not_modelled(&format!("field `{key}`")));
        }
    }
    let mut objs = Vec::new();
    for r in k
        .get("resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let name = r.as_str().unwrap_or("");
        if name == "rendered.yaml" {
            objs.extend(rendered.iter().cloned());
            continue;
        }
        let p = local_file(&d, name)?;
        let t = std::fs::read_to_string(&p).map_err(io_err(&p))?;
        objs.extend(yaml_docs(&t)?);
    }
    for (i, patch) in k
        .get("patches")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        for key in patch
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_else(Vec::new)
        {
            if !matches!(key.as_str(), "patch" | "path" | "target") {
                return Err(not_modelled(&format!("patches[{i}].{key}")));
            }
        }
        let body = match (patch["patch"].as_str(), patch["path"].as_str()) {
            (Some(p), None) => p.to_string(),
            (None, Some(f)) => {
                let p = local_file(&d, f)?;
                std::fs::read_to_string(&p).map_err(io_err(&p))?
            }
            _ => {
                return Err(err(format!(
                    "Error applying kustomization: patches[{i}] needs exactly one of patch and path"
                )))
            }
        };
        let doc: Value = serde_yaml::from_str(&body)
            .map_err(|e| err(format!("Error applying kustomization: patches[{i}]: {e}")))?;
        let target = &patch["target"];
        let mut hit = false;
        for o in &mut objs {
            let matched = if target.is_object() {
                matches(o, target)
            } else {
                // A strategic-merge patch without target names its object itself.
                doc["kind"] == o["kind"] && doc["metadata"]["name"] == o["metadata"]["name"]
            };
            if !matched {
                continue;
            }
            hit = true;
            if let Some(ops) = doc.as_array() {
                json6902(o, ops)
                    .map_err(|e| err(format!("Error applying kustomization: patches[{i}]: {e}")))?;
            } else if doc.is_object() {
                merge(o, &doc);
            } else {
                return Err(err(format!(
                    "Error applying kustomization: patches[{i}] is neither a patch list nor a document"
                )));
            }
        }
        if !hit && !target.is_object() && doc.is_object() {
            return Err(err(format!(
                "Error applying kustomization: no resource matches strategic merge patch \"{}.{}\"",
                doc["kind"].as_str().unwrap_or(""),
                doc["metadata"]["name"].as_str().unwrap_or("")
            )));
        }
    }
    Ok(objs)
}

/// Whether an object matches a patch `target`.
fn matches(o: &Value, t: &Value) -> bool {
    let api = o["apiVersion"].as_str().unwrap_or("");
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    let eq = |k: &str, actual: &str| t[k].as_str().is_none_or(|want| want == actual);
    eq("group", group)
        && eq("version", version)
        && eq("kind", o["kind"].as_str().unwrap_or(""))
        && eq("name", o["metadata"]["name"].as_str().unwrap_or(""))
        && eq(
            "namespace",
            o["metadata"]["namespace"].as_str().unwrap_or(""),
        )
}

/// Strategic merge (the subset): maps merge, `null` deletes, `containers` merge by `name`,
/// other lists are replaced.
fn merge(base: &mut Value, patch: &Value) {
    let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) else {
        *base = patch.clone();
        return;
    };
    for (k, v) in p {
        if v.is_null() {
            b.remove(k);
            continue;
        }
        if (k == "containers" || k == "initContainers") && v.is_array() {
            let cur = b
                .entry(k.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let (Some(cur), Some(new)) = (cur.as_array_mut(), v.as_array()) {
                for n in new {
                    match cur.iter_mut().find(|c| c["name"] == n["name"]) {
                        Some(c) => merge(c, n),
                        None => cur.push(n.clone()),
                    }
                }
                continue;
            }
        }
        match b.get_mut(k) {
            Some(cur) if cur.is_object() && v.is_object() => merge(cur, v),
            _ => {
                b.insert(k.clone(), v.clone());
            }
        }
    }
}

/// RFC 6901 tokens of a JSON pointer.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("invalid path {path}"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// RFC 6902 (`add`, `replace`, `remove`, `test`).
fn json6902(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let name = op["op"].as_str().unwrap_or("");
        let path = op["path"].as_str().ok_or("an operation needs a path")?;
        let toks = tokens(path)?;
        let Some((last, parents)) = toks.split_last() else {
            return Err(format!("cannot {name} the document root"));
        };
        let mut cur = &mut *doc;
        for t in parents {
            cur = match cur {
                Value::Object(m) => m.get_mut(t),
                Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            }
            .ok_or_else(|| {
                format!("{name} operation does not apply: doc is missing path: {path}")
            })?;
        }
        let missing = || format!("{name} operation does not apply: doc is missing path: {path}");
        match (name, cur) {
            ("add", Value::Object(m)) => {
                m.insert(last.clone(), op["value"].clone());
            }
            ("add", Value::Array(a)) => {
                let i = if last == "-" {
                    a.len()
                } else {
                    last.parse::<usize>().map_err(|_| missing())?
                };
                if i > a.len() {
                    return Err(missing());
                }
                a.insert(i, op["value"].clone());
            }
            ("replace", Value::Object(m)) if m.contains_key(last) => {
                m.insert(last.clone(), op["value"].clone());
            }
            ("replace", Value::Array(a)) => {
                let slot = last
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| a.get_mut(i))
                    .ok_or_else(missing)?;
                *slot = op["value"].clone();
            }
            ("remove", Value::Object(m)) => {
                m.remove(last).ok_or_else(missing)?;
            }
            ("remove", Value::Array(a)) => {
                let i = last.parse::<usize>().map_err(|_| missing())?;
                if i >= a.len() {
                    return Err(missing());
                }
                a.remove(i);
            }
            ("test", c) => {
                let v = match c {
                    Value::Object(m) => m.get(last),
                    Value::Array(a) => last.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                };
                if v != Some(&op["value"]) {
                    return Err(format!("testing value {path} failed"));
                }
            }
            ("add" | "replace" | "remove", _) => return Err(missing()),
            (other, _) => return Err(format!("unsupported operation \"{other}\" (sandbox)")),
        }
    }
    Ok(())
}

/// Whether the pods of a Deployment can be scheduled on some node: its `nodeSelector` labels
/// all match and every `NoSchedule`/`NoExecute` taint of the node is tolerated.
pub fn schedulable(pod_spec: &Value, nodes: &[Value]) -> bool {
    let selector = pod_spec["nodeSelector"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let tolerations = pod_spec["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    nodes.iter().any(|n| {
        let labels = &n["metadata"]["labels"];
        let selected = selector.iter().all(|(k, v)| &labels[k] == v);
        let taints = n["spec"]["taints"].as_array().cloned().unwrap_or_default();
        let tolerated = taints.iter().all(|t| {
            let effect = t["effect"].as_str().unwrap_or("");
            if effect == "PreferNoSchedule" {
                return true;
            }
            tolerations.iter().any(|tol| {
                let key_ok = tol["key"]
                    .as_str()
                    .is_none_or(|k| k.is_empty() || Some(k) == t["key"].as_str());
                let op = tol["operator"].as_str().unwrap_or("Equal");
                let value_ok = op == "Exists" || tol["value"] == t["value"];
                let effect_ok = tol["effect"]
                    .as_str()
                    .is_none_or(|e| e.is_empty() || e == effect);
                key_ok && value_ok && effect_ok
            })
        });
        selected && tolerated
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patches_follow_rfc_6902() {
        let mut d =
            json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}]}}}});
        json6902(
            &mut d,
            &[
                json!({"op": "replace", "path": "/spec/replicas", "value": 3}),
                json!({"op": "add", "path": "/spec/template/spec/nodeSelector", "value": {"dokku.com/node-profile": "edge"}}),
                json!({"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "b"}}),
            ],
        )
        .unwrap();
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["template"]["spec"]["containers"][1]["name"], "b");
        assert!(json6902(
            &mut d,
            &[json!({"op": "replace", "path": "/spec/nope", "value": 1})]
        )
        .is_err());
        assert!(json6902(
            &mut d,
            &[json!({"op": "move", "path": "/spec/replicas", "from": "/x"})]
        )
        .is_err());
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut d = json!({"spec": {"containers": [{"name": "a", "image": "x"}], "x": [1, 2]}});
        merge(
            &mut d,
            &json!({"spec": {"containers": [{"name": "a", "args": ["y"]}], "x": [3]}}),
        );
        assert_eq!(
            d,
            json!({"spec": {"containers": [{"name": "a", "image": "x", "args": ["y"]}], "x": [3]}})
        );
    }
}
