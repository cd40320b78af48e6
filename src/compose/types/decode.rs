//! The typed project from its two sources, each error with its key path: the loader's tree
//! ([`Project::from_loaded`], keeping the service-level `x-*` keys the reference's JSON leaves
//! out) and compose JSON ([`Project::from_json`]: `config --format json` output, `--json`
//! files, a stored release). [`Project::to_stored_json`] is the JSON form kept with a
//! release and handed to the executor: the reference's, plus the service-level `x-*` keys.

use serde_json::Value;

use super::project::escape_dollars;
use super::Project;
use crate::compose::{output, ComposeError, Loaded, Node};

/// Compose JSON that does not fit the typed project.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {message}")]
pub struct DecodeError {
    /// Key path (`services.web.ports[0].target`; `(root)` for the document).
    pub path: String,
    /// What is wrong (serde's reason).
    pub message: String,
}

impl Project {
    /// Decodes a loaded project (values unescaped: `$` is a plain dollar here), with each
    /// service's `x-*` keys in [`super::Service::extensions`].
    pub fn from_loaded(loaded: &Loaded) -> Result<Self, ComposeError> {
        let value = output::to_json(&loaded.project, false);
        let mut project = decode(value).map_err(|error| ComposeError::Decode {
            project: loaded.name.clone(),
            error,
        })?;
        let services = loaded
            .project
            .as_map()
            .and_then(|m| m.get("services"))
            .and_then(Node::as_map);
        for (name, node) in services.into_iter().flatten() {
            let (Some(node), Some(service)) = (node.as_map(), project.services.get_mut(name))
            else {
                continue;
            };
            for (key, value) in node.iter().filter(|(k, _)| k.starts_with("x-")) {
                service.extensions.insert(key.clone(), value.to_json());
            }
        }
        Ok(project)
    }

    /// Decodes compose JSON as `config --format json` prints it (`$$` is one dollar); the
    /// service-level `x-*` keys go to [`super::Service::extensions`].
    pub(crate) fn from_json(json: &Value) -> Result<Self, DecodeError> {
        let value = if has_escape(json) {
            unescape_dollars(json)
        } else {
            json.clone()
        };
        let mut project = decode(value)?;
        for service in project.services.values_mut() {
            let keys: Vec<String> = service
                .other
                .keys()
                .filter(|k| k.starts_with("x-"))
                .cloned()
                .collect();
            for key in keys {
                if let Some(v) = service.other.remove(&key) {
                    service.extensions.insert(key, v);
                }
            }
        }
        Ok(project)
    }

    /// The JSON kept with a release and read back by [`Project::from_json`]: the reference's
    /// form plus each service's `x-*` keys, `$` escaped as `$$` when `escape` is set.
    pub(crate) fn to_stored_json(&self, escape: bool) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(out) = value.get_mut("services").and_then(Value::as_object_mut) {
            for (name, service) in &self.services {
                if let Some(slot) = out.get_mut(name).and_then(Value::as_object_mut) {
                    let ext = service.extensions.iter();
                    slot.extend(ext.map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        if escape {
            escape_dollars(value)
        } else {
            value
        }
    }
}

fn decode(value: Value) -> Result<Project, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        DecodeError {
            path: if path == "." { "(root)".into() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

fn has_escape(v: &Value) -> bool {
    match v {
        // `contains(char)` is a memchr; most strings have no `$` at all.
        Value::String(s) => s.contains('$') && s.contains("$$"),
        Value::Array(a) => a.iter().any(has_escape),
        Value::Object(m) => m.values().any(has_escape),
        _ => false,
    }
}

/// `$$` -> `$` in every string value (keys are left alone: they are not interpolated).
fn unescape_dollars(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("$$", "$")),
        Value::Array(a) => Value::Array(a.iter().map(unescape_dollars).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), unescape_dollars(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_errors_name_the_key_path() {
        let e = Project::from_json(&json!({"services": {"web": {"ports": [{"target": "x"}]}}}))
            .unwrap_err();
        assert_eq!(e.path, "services.web.ports[0].target");
        let e = Project::from_json(&json!({"services": []})).unwrap_err();
        assert_eq!(e.path, "services");
    }

    #[test]
    fn service_extensions_are_kept_apart_and_stored() {
        let json = json!({"services": {"web": {"image": "a", "x-dokku": {"domains": ["a.b"]}, "environment": {"P": "$$x"}}}});
        let p = Project::from_json(&json).unwrap();
        let web = &p.services["web"];
        assert_eq!(web.extensions["x-dokku"], json!({"domains": ["a.b"]}));
        assert!(!web.other.contains_key("x-dokku"));
        assert_eq!(web.environment["P"].as_deref(), Some("$x"));
        assert!(p.to_json(true)["services"]["web"].get("x-dokku").is_none());
        let stored = p.to_stored_json(true);
        assert_eq!(
            stored["services"]["web"]["x-dokku"],
            json!({"domains": ["a.b"]})
        );
        assert_eq!(stored["services"]["web"]["environment"]["P"], "$$x");
        assert_eq!(Project::from_json(&stored).unwrap(), p);
    }
}
