//! A datastore service (an official datastore plugin's image): which keys the plugin takes
//! over, the credentials (`*_PASSWORD`, `*_PASSWORD_FILE` from a compose secret, user,
//! database), the plugin's `--custom-env` and `--config-options`, and the names the
//! datastore answers to.

use std::collections::{BTreeMap, BTreeSet};

use super::ctx::Ctx;
use super::error::ModelError;
use super::keys::{self, Support};
use super::names::{DatastoreName, ServiceName};
use super::service::DatastoreSpec;
use crate::compose::types;
use crate::dokku::catalog;

pub(super) fn convert_datastore(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    raw: &types::Service,
    ds: catalog::DatastoreImage,
) -> Result<DatastoreSpec, ModelError> {
    let base = format!("services.{name}");
    let def = catalog::by_plugin(ds.plugin).expect("classify returns catalog plugins");
    warn_plugin_keys(ctx, raw, &base, ds.plugin);
    let mut env = super::env::env_map(raw, &base, false, &mut ctx.warnings).unwrap_or_default();
    let password_secret = take_password_file(&mut env, raw, &base, ds.plugin, def.password_keys)?;
    let root_password_secret =
        take_password_file(&mut env, raw, &base, ds.plugin, def.root_password_keys)?;
    if password_secret.is_some() || root_password_secret.is_some() {
        // The secret is applied (as the password), so "not applied" would be wrong.
        let path = format!("{base}.secrets");
        ctx.warnings.retain(|w| w.path != path);
    }
    refuse_other_secret_files(&env, raw, &base, ds.plugin, def)?;
    let mut take = |keys: &[&str]| -> Option<String> {
        let mut found = None;
        for k in keys {
            if let Some(v) = env.remove(*k).filter(|v| !v.is_empty()) {
                found.get_or_insert(v);
            }
        }
        found
    };
    let declared_user = take(def.user_keys);
    let password = take(def.password_keys);
    let root_password = take(def.root_password_keys);
    for (value, secret, keys) in [
        (&password, &password_secret, def.password_keys),
        (
            &root_password,
            &root_password_secret,
            def.root_password_keys,
        ),
    ] {
        if let (Some(_), Some(_), Some(k)) = (value, secret, keys.first()) {
            return Err(ModelError::Extension { path: format!("{base}.environment.{k}_FILE"), message: format!("`{k}` and `{k}_FILE` are both set; the image refuses that, and the datastore can have one password: keep one") });
        }
    }
    let declared_database = take(def.database_keys);
    let custom_env = custom_env(ctx, env, &base);
    let (networks, aliases) = super::networks::service_networks(ctx, name, raw, &base);
    let mut hosts: BTreeSet<String> = aliases;
    hosts.insert(name.as_str().to_owned());
    for v in [&raw.hostname, &raw.container_name] {
        if let Some(h) = types::set(v).and_then(types::Scalar::as_str) {
            hosts.insert(h.to_owned());
        }
    }
    Ok(DatastoreSpec {
        config_options: raw.command.as_deref().and_then(config_options),
        plugin: ds.plugin,
        name: DatastoreName::for_service(ctx.stack, name),
        image: ds.image,
        version: ds.version,
        declared_user,
        password,
        password_secret,
        root_password,
        root_password_secret,
        declared_database,
        custom_env,
        hosts,
        network: networks.into_iter().next(),
    })
}

/// Keys the datastore plugin takes over are warned about (they are not applied).
fn warn_plugin_keys(ctx: &mut Ctx<'_>, raw: &types::Service, base: &str, plugin: &str) {
    for (key, set) in super::convert_service::present_keys(raw) {
        if !set {
            continue;
        }
        let why = match key {
            "image" | "environment" | "networks" | "depends_on" | "expose" | "restart" | "container_name" | "hostname" => continue,
            "command" if raw.command.as_deref().and_then(config_options).is_some() => continue,
            "volumes" => "the plugin keeps the data in its own service directory; the compose volume is not used",
            "ports" => "datastore ports are not published; use `dokku <plugin>:expose` if you must",
            "healthcheck" => "the plugin waits for the datastore itself",
            _ => "the datastore plugin manages this container; not applied",
        };
        if keys::service_key(key)
            .is_some_and(|s| matches!(s, Support::Mapped(_) | Support::Policy(..)))
        {
            ctx.warn(format!("{base}.{key}"), why.replace("<plugin>", plugin));
        }
    }
}

/// Where a secret the service lists is mounted (`/run/secrets/<target>` or an absolute
/// target).
fn secret_file(c: &types::FileRef) -> String {
    let target = c.target.as_deref().unwrap_or(&c.source);
    if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/run/secrets/{target}")
    }
}

/// `<KEY>_FILE` for one of `keys` (`POSTGRES_PASSWORD_FILE`, the official images'
/// convention): the compose secret mounted at that path, which the plugin gets as the
/// password (docs/mapping.md "Datastore credentials"). The datastore container is the
/// plugin's, so the file exists only when it is a secret this service lists.
fn take_password_file(
    env: &mut BTreeMap<String, String>,
    raw: &types::Service,
    base: &str,
    plugin: &str,
    keys: &[&str],
) -> Result<Option<String>, ModelError> {
    let mut found = None;
    for k in keys {
        let key = format!("{k}_FILE");
        let Some(file) = env.remove(&key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let secret = raw
            .secrets
            .iter()
            .find_map(|c| (secret_file(c) == file).then(|| c.source.clone()));
        match secret {
            Some(s) if found.is_none() => found = Some(s),
            Some(_) => {}
            None => {
                return Err(ModelError::Extension {
                    path: format!("{base}.environment.{key}"),
                    message: format!("`{file}` is not where a secret of this service is mounted (`{base}.secrets`): the {plugin} plugin runs the datastore container itself, so the password must come from a compose secret the service lists (its value becomes the datastore's password) or from `{k}`"),
                })
            }
        }
    }
    Ok(found)
}

/// Any other `*_FILE` variable naming a secret's file names a file the datastore container
/// never has (the plugin mounts no secret into it).
fn refuse_other_secret_files(
    env: &BTreeMap<String, String>,
    raw: &types::Service,
    base: &str,
    plugin: &str,
    def: &catalog::Datastore,
) -> Result<(), ModelError> {
    let secret_files: Vec<String> = raw.secrets.iter().map(secret_file).collect();
    if let Some((k, file)) = env.iter().find(|(k, v)| {
        k.ends_with("_FILE") && (v.starts_with("/run/secrets/") || secret_files.contains(v))
    }) {
        let read = match def.password_keys.first() {
            Some(p) => format!("only `{p}_FILE` is read, as the datastore's password"),
            None => format!("the {plugin} plugin has no password setting"),
        };
        return Err(ModelError::Extension {
            path: format!("{base}.environment.{k}"),
            message: format!("`{file}` is a compose secret's file, and the {plugin} plugin runs the datastore container itself and mounts no secret into it, so the container would not find it; {read}"),
        });
    }
    Ok(())
}

/// The remaining environment, as the plugin's `--custom-env` (which cannot carry `;`).
fn custom_env(
    ctx: &mut Ctx<'_>,
    env: BTreeMap<String, String>,
    base: &str,
) -> BTreeMap<String, String> {
    let mut custom_env = BTreeMap::new();
    for (k, v) in env {
        if v.contains(';') {
            ctx.warn(
                format!("{base}.environment.{k}"),
                "values with `;` cannot be passed through `--custom-env`; not set",
            );
        } else {
            custom_env.insert(k, v);
        }
    }
    custom_env
}

/// A datastore's `command` as the plugin's `--config-options`: the server flags, after an
/// optional leading server binary (`mysqld --x`, `--x`, `postgres -c a=b`). Shell wrappers
/// and anything else return `None` (and are warned).
fn config_options(words: &[String]) -> Option<String> {
    let first = words.first()?;
    let flags = if first.starts_with('-') {
        words
    } else if !["sh", "bash", "/bin/sh", "/bin/bash"].contains(&first.as_str())
        && words.get(1).is_some_and(|w| w.starts_with('-'))
    {
        &words[1..]
    } else {
        return None;
    };
    Some(flags.join(" "))
}
