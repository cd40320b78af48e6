//! Top-level resources: [`Network`], [`Volume`], [`Secret`], [`Config`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::runtime::{nullable, Opt, Scalar};

/// A network of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// The Docker name (`<project>_<key>` unless set or external).
    #[serde(default)]
    pub name: String,
    /// Whether the network exists outside the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// The driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Every other key (ipam, labels, driver options…).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A named volume of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// The Docker name.
    #[serde(default)]
    pub name: String,
    /// Whether the volume exists outside the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// The driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The driver's options (`size`…).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub driver_opts: Opt<BTreeMap<String, Option<Scalar>>>,
    /// Every other key.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A secret of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// The Docker name.
    #[serde(default)]
    pub name: String,
    /// The absolute file it is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The environment variable it is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Whether it exists outside the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// Every other key.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A config of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The Docker name.
    #[serde(default)]
    pub name: String,
    /// The absolute file it is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Inline content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The environment variable it is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Whether it exists outside the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// Every other key.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}
