//! `environment`: the config vars of an app (keys Dokku can store, secret or plain) and the
//! variables a datastore's image reads.

use std::collections::BTreeMap;

use super::error::{ModelError, Warning};
use super::names::is_valid_config_key;
use super::service::EnvVar;
use super::xdokku::ServiceSettings;
use crate::compose::types;

/// `environment` as a map; a name without a value is warned and left out. With `validate`,
/// a key Dokku cannot store is an error.
pub(super) fn env_map(
    raw: &types::Service,
    base: &str,
    validate: bool,
    warnings: &mut Vec<Warning>,
) -> Result<BTreeMap<String, String>, ModelError> {
    let mut env = BTreeMap::new();
    for (k, v) in &raw.environment {
        let path = || format!("{base}.environment.{k}");
        if validate && !is_valid_config_key(k) {
            return Err(ModelError::ConfigKey {
                path: path(),
                key: k.clone(),
            });
        }
        match v {
            None => warnings.push(Warning {
                path: path(),
                message: "has no value in the environment of the loader; not set".into(),
            }),
            Some(s) => {
                env.insert(k.clone(), s.clone());
            }
        }
    }
    Ok(env)
}

/// An app's config vars, each classified secret or plain (`x-dokku.plain`).
pub(super) fn app_env(
    raw: &types::Service,
    base: &str,
    settings: &ServiceSettings,
    warnings: &mut Vec<Warning>,
) -> Result<BTreeMap<String, EnvVar>, ModelError> {
    Ok(env_map(raw, base, true, warnings)?
        .into_iter()
        .map(|(k, v)| {
            let secret = super::secret::env_is_secret(&k, &v, &settings.plain);
            (k, EnvVar { value: v, secret })
        })
        .collect())
}
