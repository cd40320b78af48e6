//! `services.<svc>.environment` (with `env_file`), the compose secrets delivered as
//! environment variables, and the stack's own config vars (managed keys, build digest,
//! docker options, mounts, secret fingerprints, paths digest): `config:set` (or
//! `config:import` when a value is secret) and `config:unset` of the keys the stack set
//! before and no longer wants.

use std::collections::{BTreeMap, BTreeSet};

use super::App;
use crate::dokku;
use crate::model::SecretDelivery;
use crate::plan::planner::secrets::secret_or_mask;
use crate::plan::planner::{
    undo, PlanError, Steps, DIGEST_VAR, KEYS_VAR, MOUNTS_VAR, OPTIONS_VAR, SECRETS_VAR,
};
use crate::plan::step::Action;
use crate::routing::PATHS_VAR;

/// What the earlier concerns decided that the config records.
pub(crate) struct Managed<'m> {
    /// The docker options the stack manages (`<phase> <option>`).
    pub(crate) options: &'m [String],
    /// The mount keys the stack manages.
    pub(crate) mounts: &'m BTreeSet<String>,
    /// The secret files' fingerprints.
    pub(crate) secret_fingerprints: &'m [String],
    /// Digest of the build context.
    pub(crate) digest: &'m str,
}

/// What the config steps changed.
pub(crate) struct Changes {
    /// Whether the running containers must restart (a value they read changed).
    pub(crate) changed: bool,
    /// Whether `paths` left the compose file (its include is removed).
    pub(crate) paths_gone: bool,
}

/// Wanted config: key -> (value, secret).
type Want = BTreeMap<String, (String, bool)>;

/// The config keys the stack bookkeeps, not read by the app: a change of one alone does not
/// restart it (`SECRETS_VAR` is not one: a changed secret file is only seen by a restarted
/// container).
const BOOKKEEPING: [&str; 5] = [DIGEST_VAR, KEYS_VAR, OPTIONS_VAR, PATHS_VAR, MOUNTS_VAR];

/// `config:set`/`config:import` of what differs, then `config:unset` of what is gone.
pub(crate) fn steps(
    a: &App<'_>,
    managed: &Managed<'_>,
    out: &mut Steps<'_>,
) -> Result<Changes, PlanError> {
    let want = wanted(a, managed)?;
    let mut changed = set(a, &want, out);
    let (unset_changed, paths_gone) = unset(a, &want, out);
    changed |= unset_changed;
    Ok(Changes {
        changed,
        paths_gone,
    })
}

/// Every config var the app should have.
fn wanted(a: &App<'_>, managed: &Managed<'_>) -> Result<Want, PlanError> {
    let (spec, plain) = (a.spec, &a.project.settings.plain);
    let mut want: Want = spec
        .env
        .iter()
        .map(|(k, v)| (k.clone(), (v.value.clone(), v.secret && !plain.contains(k))))
        .collect();
    for use_ in &spec.secrets {
        if let SecretDelivery::Env(var) = &use_.delivery {
            let value = secret_or_mask(a.settings, &a.svc.name, &use_.name)?;
            want.insert(var.clone(), (value, true));
        }
    }
    let mut keys: Vec<&str> = spec.env.keys().map(String::as_str).collect();
    keys.extend(spec.secrets.iter().filter_map(|u| match &u.delivery {
        SecretDelivery::Env(v) => Some(v.as_str()),
        SecretDelivery::File(_) => None,
    }));
    keys.sort_unstable();
    keys.dedup();
    if !managed.secret_fingerprints.is_empty() {
        // Masked: even keyed, a fingerprint is not for printing.
        want.insert(
            SECRETS_VAR.into(),
            (managed.secret_fingerprints.join(";"), true),
        );
    }
    want.insert(KEYS_VAR.into(), (keys.join(","), false));
    want.insert(DIGEST_VAR.into(), (managed.digest.to_owned(), false));
    want.insert(OPTIONS_VAR.into(), (json(managed.options), false));
    if !managed.mounts.is_empty() || a.cur.config.contains_key(MOUNTS_VAR) {
        want.insert(MOUNTS_VAR.into(), (json(managed.mounts), false));
    }
    if let Some(route) = a.route {
        want.insert(PATHS_VAR.into(), (route.digest.clone(), false));
    }
    Ok(want)
}

/// A list of strings as a JSON array: the config vars that list what the stack manages.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("strings serialise")
}

/// Sets the values that differ: `config:set` when none is secret (the plan shows them),
/// else `config:import` with the values on stdin, so that no secret is in any argv. The
/// undo sets the previous values (masked by the same classification) and unsets new keys.
fn set(a: &App<'_>, want: &Want, out: &mut Steps<'_>) -> bool {
    let (name, cur) = (a.name, a.cur);
    let to_set: Vec<(&String, &(String, bool))> = want
        .iter()
        .filter(|(k, (v, _))| cur.config.get(*k) != Some(v))
        .collect();
    if to_set.is_empty() {
        return false;
    }
    let values: BTreeMap<String, String> = to_set
        .iter()
        .map(|(k, (v, _))| ((*k).clone(), v.clone()))
        .collect();
    let secret: BTreeSet<String> = to_set
        .iter()
        .filter(|(_, (_, s))| *s)
        .map(|(k, _)| (*k).clone())
        .collect();
    let mut back = Vec::new();
    let old: BTreeMap<String, String> = to_set
        .iter()
        .filter_map(|(k, _)| cur.config.get_key_value(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !old.is_empty() {
        let keys = old
            .iter()
            .filter(|(k, v)| {
                want.get(*k).is_some_and(|(_, s)| *s)
                    || crate::model::env_is_secret(k, v, &a.project.settings.plain)
            })
            .map(|(k, _)| k.clone())
            .collect();
        back.push(set_config(name, old, keys));
    }
    let new: Vec<&str> = to_set
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !cur.config.contains_key(*k))
        .collect();
    if !new.is_empty() {
        back.push(dokku::config_unset(name, new));
    }
    let keys: Vec<String> = to_set.iter().map(|(k, _)| (*k).clone()).collect();
    let changed = keys.iter().any(|k| !BOOKKEEPING.contains(&k.as_str()));
    out.push(
        "config",
        Action::SetConfig {
            app: name.to_owned(),
            keys: keys.clone(),
        },
        set_config(name, values, secret),
        format!("config differs in {}", keys.join(", ")),
        undo(back),
    );
    changed
}

/// Unsets the keys the stack managed before and no longer wants (and the paths digest when
/// `paths` left the compose file); returns whether the containers must restart and whether
/// the paths are gone.
fn unset(a: &App<'_>, want: &Want, out: &mut Steps<'_>) -> (bool, bool) {
    let (name, cur) = (a.name, a.cur);
    let previously: BTreeSet<&str> = cur
        .config
        .get(KEYS_VAR)
        .map(|k| k.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut gone: Vec<&str> = previously
        .into_iter()
        .filter(|k| !want.contains_key(*k) && cur.config.contains_key(*k))
        .collect();
    // Paths removed from the compose file: the include goes too (the `paths` step).
    let paths_gone = a.route.is_none() && cur.config.contains_key(PATHS_VAR);
    if paths_gone {
        gone.push(PATHS_VAR);
    }
    if gone.is_empty() {
        return (false, paths_gone);
    }
    let old: BTreeMap<String, String> = gone
        .iter()
        .map(|k| ((*k).to_owned(), cur.config[*k].clone()))
        .collect();
    let keys = old.keys().cloned().collect();
    let back = set_config(name, old, keys);
    out.push(
        "config-unset",
        Action::UnsetConfig {
            app: name.to_owned(),
            keys: gone.iter().map(|k| (*k).to_owned()).collect(),
        },
        dokku::config_unset(name, gone.iter().copied()),
        format!("{} no longer in the compose file", gone.join(", ")),
        undo(vec![back]),
    );
    (gone.iter().any(|k| *k != PATHS_VAR), paths_gone)
}

/// Sets config values of `app`: `config:set` when none is secret (the plan shows them),
/// else `config:import` with the values on stdin, so that no secret is in any argv.
fn set_config(app: &str, values: BTreeMap<String, String>, secret: BTreeSet<String>) -> dokku::Cmd {
    if secret.is_empty() {
        dokku::config_set(app, &values)
    } else {
        dokku::config_import(app, values, secret)
    }
}
