//! [`Project`]: the top level of a typed compose project.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Config, Network, Secret, Service, Volume};

/// A normalised compose project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The project name.
    #[serde(default)]
    pub name: String,
    /// Services by name.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Networks used by the services, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Named volumes used by the services, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// Secrets used by the services, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    /// Configs used by the services, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Config>,
    /// Top-level `x-*` extensions.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

impl Project {
    /// The project as `config --format json` prints it: `$` re-escaped as `$$` when `escape`
    /// is set (the typed values hold plain dollars).
    pub fn to_json(&self, escape: bool) -> serde_json::Value {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if escape {
            escape_dollars(value)
        } else {
            value
        }
    }
}

pub(super) fn escape_dollars(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let esc = |s: String| {
        if s.contains('$') {
            s.replace('$', "$$")
        } else {
            s
        }
    };
    match value {
        Value::String(s) => Value::String(esc(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(escape_dollars).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (esc(k), escape_dollars(v)))
                .collect(),
        ),
        other => other,
    }
}
