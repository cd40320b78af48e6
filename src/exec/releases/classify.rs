//! The one secret classification of a compose project ([`SecretRule`]): what the release
//! store seals (and fingerprints, which is what `compose:diff` compares) and what
//! `compose:config` and the stored `masked.json` show as `********`. It is built on the
//! model's rule for one key and value ([`crate::model::secret`]), which the planner uses to
//! mask the config it sets, so a value is secret in a plan, a release, a diff and the output
//! alike.

use std::collections::BTreeSet;

use serde_json::Value;

use super::MASK;
use crate::model::secret::{env_is_secret, env_key_is_secret};

/// Which values of a compose project are secret.
///
/// By position: every non-null `services.<svc>.environment.<KEY>` value that
/// [`env_is_secret`] calls secret (its key or a credential in it), unless its key is plain;
/// every non-null scalar below a sensitive key ([`SecretRule::sensitive_key`]) under
/// `services.<svc>.x-dokku`. By value: in a top-level extension block (`x-*`), every
/// environment value, every scalar below a sensitive key, and every scalar whose value is a
/// secret found by position. An extension block exists to be referenced (a YAML anchor copies
/// its values into services), so what it holds is what it becomes: the value of
/// `x-app.environment.SECRET_KEY`, reached through `<<: *app`, is the secret it is in the
/// service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SecretRule<'a> {
    plain: &'a BTreeSet<String>,
}

impl<'a> SecretRule<'a> {
    /// The rule with the project's plain keys (`x-dokku.plain`: shown even when they look
    /// secret).
    #[must_use]
    pub(crate) fn new(plain: &'a BTreeSet<String>) -> Self {
        SecretRule { plain }
    }

    /// Whether an environment value is secret ([`env_is_secret`]; a non-string value is judged
    /// by its JSON text, a null is no value).
    #[must_use]
    pub(crate) fn env_value(&self, key: &str, value: &Value) -> bool {
        if value.is_null() {
            return false;
        }
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        env_is_secret(key, &text, self.plain)
    }

    /// Whether a configuration key (under `x-dokku`, in an extension block) makes everything
    /// below it secret: the same words as an environment key ([`env_key_is_secret`]), so
    /// `password`, `encryption_passphrase`, `secret_access_key`, `secrets`, `token`.
    #[must_use]
    pub(crate) fn sensitive_key(key: &str) -> bool {
        env_key_is_secret(key)
    }

    /// The key paths (keys joined with `.`, array indices as numbers) of every secret.
    #[must_use]
    pub(crate) fn paths(&self, compose: &Value) -> BTreeSet<String> {
        let mut paths = BTreeSet::new();
        let mut values: BTreeSet<String> = BTreeSet::new();
        let mut note = |paths: &mut BTreeSet<String>, path: String, v: &Value| {
            values.insert(v.to_string());
            paths.insert(path);
        };
        if let Some(services) = compose.get("services").and_then(Value::as_object) {
            for (svc, service) in services {
                if let Some(env) = service.get("environment").and_then(Value::as_object) {
                    for (k, v) in env.iter().filter(|(k, v)| self.env_value(k, v)) {
                        note(&mut paths, format!("services.{svc}.environment.{k}"), v);
                    }
                }
                if let Some(x) = service.get("x-dokku") {
                    let path = format!("services.{svc}.x-dokku");
                    self.below_keys(x, &path, false, false, &mut |p, v| note(&mut paths, p, v));
                }
            }
        }
        let Some(top) = compose.as_object() else {
            return paths;
        };
        let blocks = || top.iter().filter(|(k, _)| k.starts_with("x-"));
        for (key, block) in blocks() {
            self.below_keys(block, key, false, true, &mut |p, v| note(&mut paths, p, v));
        }
        for (key, block) in blocks() {
            let mut block = block.clone();
            let _ = walk_scalars(&mut block, key, &mut |p, v| {
                if values.contains(&v.to_string()) {
                    paths.insert(p.to_owned());
                }
                Ok::<(), ()>(())
            });
        }
        paths
    }

    /// Calls `f` with the key path and the value of every secret of `compose`.
    ///
    /// # Errors
    ///
    /// The first error of `f`.
    pub(crate) fn for_each<E>(
        &self,
        compose: &mut Value,
        f: &mut dyn FnMut(&str, &mut Value) -> Result<(), E>,
    ) -> Result<(), E> {
        let paths = self.paths(compose);
        walk_scalars(compose, "", &mut |path, v| {
            if paths.contains(path) {
                f(path, v)
            } else {
                Ok(())
            }
        })
    }

    /// `compose` with every secret replaced by [`MASK`]: what `compose:config` prints and a
    /// release stores as `masked.json`.
    #[must_use]
    pub(crate) fn mask(&self, compose: &Value) -> Value {
        let mut masked = compose.clone();
        let _ = self.for_each(&mut masked, &mut |_, v| {
            *v = Value::String(MASK.to_owned());
            Ok::<(), ()>(())
        });
        masked
    }

    /// The scalars of `v` secret by their position: below a sensitive key, or (when
    /// `environments`, in an extension block) a secret value of an `environment` map.
    fn below_keys(
        &self,
        v: &Value,
        path: &str,
        sensitive: bool,
        environments: bool,
        f: &mut dyn FnMut(String, &Value),
    ) {
        self.below_keys_in(v, path, sensitive, false, environments, f);
    }

    fn below_keys_in(
        &self,
        v: &Value,
        path: &str,
        sensitive: bool,
        in_env: bool,
        environments: bool,
        f: &mut dyn FnMut(String, &Value),
    ) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let secret_env = in_env && self.env_value(k, child);
                    self.below_keys_in(
                        child,
                        &format!("{path}.{k}"),
                        sensitive || secret_env || Self::sensitive_key(k),
                        environments && k == "environment",
                        environments,
                        f,
                    );
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let p = format!("{path}.{i}");
                    self.below_keys_in(child, &p, sensitive, false, environments, f);
                }
            }
            Value::Null => {}
            Value::Bool(_) | Value::Number(_) | Value::String(_) => {
                if sensitive {
                    f(path.to_owned(), v);
                }
            }
        }
    }
}

/// Every non-null scalar of `v` with its key path (`prefix.key.0`).
pub(super) fn walk_scalars<E>(
    v: &mut Value,
    path: &str,
    f: &mut dyn FnMut(&str, &mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                walk_scalars(child, &join(k), f)?;
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk_scalars(child, &join(&i.to_string()), f)?;
            }
        }
        Value::Null => {}
        Value::Bool(_) | Value::Number(_) | Value::String(_) => f(path, v)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// One word list for environment keys and configuration keys: a backup's
    /// `encryption_passphrase` is as secret as `DB_PASSWORD` (the x-dokku list used to be
    /// `password secret token key`, which left a literal passphrase in clear).
    #[test]
    fn one_rule_for_environment_and_configuration_keys() {
        let plain = BTreeSet::new();
        let rule = SecretRule::new(&plain);
        let compose = json!({"services": {"db": {
            "environment": {"POSTGRES_PASSWORD": "pw-123456", "LOG": "info", "N": null},
            "x-dokku": {"backup": {"encryption_passphrase": "phrase-123456", "bucket": "b"}}
        }}});
        let paths: Vec<String> = rule.paths(&compose).into_iter().collect();
        assert_eq!(
            paths,
            [
                "services.db.environment.POSTGRES_PASSWORD",
                "services.db.x-dokku.backup.encryption_passphrase"
            ]
        );
        let masked = rule.mask(&compose);
        assert_eq!(
            masked["services"]["db"]["x-dokku"]["backup"]["encryption_passphrase"],
            MASK
        );
        assert_eq!(masked["services"]["db"]["x-dokku"]["backup"]["bucket"], "b");
        assert_eq!(masked["services"]["db"]["environment"]["LOG"], "info");
        // The same words decide an environment key: the rules cannot drift apart.
        for k in [
            "password",
            "encryption_passphrase",
            "secret_access_key",
            "token",
        ] {
            assert!(SecretRule::sensitive_key(k), "{k}");
            assert!(rule.env_value(&k.to_ascii_uppercase(), &json!("x")), "{k}");
        }
        let plain: BTreeSet<String> = ["POSTGRES_PASSWORD".to_owned()].into();
        assert!(!SecretRule::new(&plain).env_value("POSTGRES_PASSWORD", &json!("pw")));
    }
}
