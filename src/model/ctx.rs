//! The conversion's shared state ([`Ctx`]: the stack, the project directory, the warnings,
//! the top-level networks, volumes, configs and secrets) and its small helpers.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{ModelError, Warning};
use super::names::{NetworkName, StackName, StorageName};
use crate::compose::types;

/// What every part of the conversion reads and adds to.
pub(super) struct Ctx<'a> {
    pub(super) stack: &'a StackName,
    pub(super) project_dir: &'a str,
    pub(super) warnings: Vec<Warning>,
    /// Stack networks (compose key -> Docker network), created by the stack.
    pub(super) networks: BTreeMap<String, NetworkName>,
    /// External networks, attached by name.
    pub(super) external_networks: BTreeMap<String, NetworkName>,
    /// Named volumes: compose key -> (storage entry, external, Docker name).
    pub(super) volumes: BTreeMap<String, (StorageName, bool, String)>,
    /// Storage entries the stack creates, with the directory to seed a new one from.
    pub(super) storage: BTreeMap<StorageName, Option<String>>,
    /// Top-level `configs`.
    pub(super) configs: &'a BTreeMap<String, types::Config>,
    /// Top-level `secrets`.
    pub(super) secrets: &'a BTreeMap<String, types::Secret>,
}

impl Ctx<'_> {
    pub(super) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn relative(&self, abs: &str) -> String {
        relative_path(self.project_dir, abs)
    }
}

pub(super) fn shape(path: &str, message: &str) -> ModelError {
    ModelError::Shape {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// A value that says nothing: `null`, `false`, an empty list or mapping.
pub(super) fn is_unset(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false))
        || v.as_array().is_some_and(Vec::is_empty)
        || v.as_object().is_some_and(Map::is_empty)
}

/// `abs` relative to `dir` (`.` for the directory itself); `abs` unchanged when it is not below it
/// and not a sibling (then `../x`).
pub(crate) fn relative_path(dir: &str, abs: &str) -> String {
    if abs == dir {
        return ".".into();
    }
    if let Some(rest) = abs.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        return rest.to_owned();
    }
    if let Some((parent, _)) = dir.rsplit_once('/') {
        if let Some(rest) = abs.strip_prefix(parent).and_then(|r| r.strip_prefix('/')) {
            return format!("../{rest}");
        }
    }
    abs.to_owned()
}
