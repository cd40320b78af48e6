//! The converted compose project and the conversion itself: from the JSON that
//! `docker compose config --format json` prints (our loader prints the same) to the domain
//! model. Every key is looked up in [`super::keys`]: mapped keys are converted here, warned
//! keys produce a [`Warning`], rejected keys an error; nothing is dropped silently.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::convert_app::convert_app;
pub use super::convert_app::{duration_secs, split_shell_words};
use super::error::{ModelError, Warning};
use super::keys::{self, Support};
use super::names::{
    is_valid_config_key, AppName, DatastoreName, NetworkName, ServiceName, StackName, StorageName,
};
use super::service::{Dependency, Kind, Mount, Service};
use super::xdokku::{ServiceSettings, StackSettings};
use crate::dokku::catalog;

/// A compose project mapped onto Dokku names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// The stack.
    pub stack: StackName,
    /// Services by compose name.
    pub services: BTreeMap<ServiceName, Service>,
    /// Networks the stack creates (compose key -> Docker network), externals excluded.
    pub networks: BTreeMap<String, NetworkName>,
    /// Storage entries the stack creates, with the directory to seed a new one from.
    pub storage: BTreeMap<StorageName, Option<String>>,
    /// Top-level `x-dokku`.
    pub settings: StackSettings,
    /// Environment values rewritten to reach datastores (key path -> rule), for the plan header.
    pub rewrites: BTreeMap<String, String>,
    /// The claims of the storage entries on k3s (issue 21, [`super::k3s::claims`]).
    pub claims: BTreeMap<StorageName, super::k3s::Claim>,
}

/// Inputs of the conversion besides the JSON.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// The stack name.
    pub stack: StackName,
    /// The project directory as it is written in the JSON's absolute paths.
    pub project_dir: String,
}

pub(super) struct Ctx<'a> {
    pub(super) stack: &'a StackName,
    project_dir: &'a str,
    pub(super) warnings: Vec<Warning>,
    networks: BTreeMap<String, NetworkName>,
    external_networks: BTreeMap<String, NetworkName>,
    pub(super) volumes: BTreeMap<String, (StorageName, bool, String)>,
    pub(super) storage: BTreeMap<StorageName, Option<String>>,
    pub(super) configs: Map<String, Value>,
    pub(super) secrets: Map<String, Value>,
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

/// A service's mapping with a one-word summary of its keys: most of the keys the converter
/// asks for are absent, and the summary answers those without a search of the map.
pub(super) struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// The union of [`key_bit`] over the keys present.
    bits: u64,
}

/// A bit standing for `key` (length and first and last byte). With a literal key it folds to
/// a constant.
#[inline(always)]
fn key_bit(key: &str) -> u64 {
    let b = key.as_bytes();
    let (first, last) = (
        b.first().copied().unwrap_or(0),
        b.last().copied().unwrap_or(0),
    );
    1 << ((b.len() * 7 + usize::from(first) * 3 + usize::from(last)) & 63)
}

impl<'a> Fields<'a> {
    pub(super) fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            bits: map.keys().fold(0, |bits, k| bits | key_bit(k)),
        }
    }

    /// The value of `key`, as [`Map::get`].
    #[inline(always)]
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        if self.bits & key_bit(key) == 0 {
            return None;
        }
        self.map.get(key)
    }

    /// Whether `key` is present, as [`Map::contains_key`].
    #[inline]
    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries in key order.
    pub(super) fn iter(&self) -> serde_json::map::Iter<'a> {
        self.map.iter()
    }
}

pub(super) fn shape(path: &str, message: &str) -> ModelError {
    ModelError::Shape {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

pub(super) fn is_unset(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false))
        || v.as_array().is_some_and(Vec::is_empty)
        || v.as_object().is_some_and(Map::is_empty)
}

/// Converts the compose JSON into a [`Project`], with the warnings for keys that have no
/// (full) Dokku meaning.
pub fn from_compose_json(
    json: &Value,
    opts: &ConvertOptions,
) -> Result<(Project, Vec<Warning>), ModelError> {
    // Compose prints a literal `$` as `$$` in every string value; the container sees one `$`.
    let unescaped;
    let json = if has_escape(json) {
        unescaped = unescape_dollars(json);
        &unescaped
    } else {
        json
    };
    let top = json
        .as_object()
        .ok_or_else(|| shape("(root)", "must be a mapping"))?;
    let mut ctx = Ctx {
        stack: &opts.stack,
        project_dir: opts.project_dir.trim_end_matches('/'),
        warnings: Vec::new(),
        networks: BTreeMap::new(),
        external_networks: BTreeMap::new(),
        volumes: BTreeMap::new(),
        storage: BTreeMap::new(),
        configs: Map::new(),
        secrets: Map::new(),
    };
    let mut settings = StackSettings::default();
    for (key, value) in top {
        if key == "x-dokku" {
            settings = StackSettings::from_json(value)?;
            continue;
        }
        if key.starts_with("x-") {
            continue; // extension fields are the user's own anchors; compose keeps them verbatim
        }
        match keys::top_level_key(key) {
            None => return Err(ModelError::UnknownKey { path: key.clone() }),
            Some(Support::Rejected(reason)) => {
                return Err(ModelError::Rejected {
                    path: key.clone(),
                    reason: reason.into(),
                })
            }
            Some(Support::Warned(reason)) if !is_unset(value) => ctx.warn(key.clone(), reason),
            _ => {}
        }
    }
    if let Some(nets) = top.get("networks").and_then(Value::as_object) {
        read_networks(&mut ctx, nets);
    }
    if let Some(vols) = top.get("volumes").and_then(Value::as_object) {
        read_volumes(&mut ctx, vols);
    }
    if let Some(c) = top.get("secrets").and_then(Value::as_object) {
        ctx.secrets = c.clone();
    }
    if let Some(c) = top.get("configs").and_then(Value::as_object) {
        ctx.configs = c.clone();
    }
    let empty = Map::new();
    let raw_services = match top.get("services") {
        Some(Value::Object(s)) => s,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(shape("services", "must be a mapping")),
    };

    // Names first, so collisions are resolved in name order and reported.
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    let mut app_names: Vec<(ServiceName, AppName)> = Vec::with_capacity(raw_services.len());
    for name in raw_services.keys() {
        let svc = ServiceName::new(name.as_str());
        let base = AppName::for_service(&opts.stack, &svc);
        let mut app = base.clone();
        let mut n = 2;
        while taken.contains_key(app.as_str()) {
            app = base.with_suffix(n);
            n += 1;
        }
        if app != base {
            let other = &taken[base.as_str()];
            ctx.warn(
                format!("services.{name}"),
                format!("app name `{base}` is already service `{other}`'s; using `{app}`"),
            );
        }
        taken.insert(app.as_str().to_owned(), name.clone());
        app_names.push((svc, app));
    }

    if let Some(unknown) = settings
        .services
        .keys()
        .find(|s| !raw_services.contains_key(*s))
    {
        return Err(ModelError::Extension {
            path: format!("x-dokku.services.{unknown}"),
            message: "names no service of the project".into(),
        });
    }
    let mut services = BTreeMap::new();
    // `app_names` is in the order of `raw_services`.
    for ((svc_name, app), raw) in app_names.into_iter().zip(raw_services.values()) {
        let service = convert_service(&mut ctx, &settings, &svc_name, app, raw)?;
        services.insert(svc_name, service);
    }
    resolve_volumes_from(&mut services);
    if settings.letsencrypt_email.is_none() {
        for (name, svc) in &services {
            if svc.settings.letsencrypt {
                ctx.warn(
                    format!("services.{name}.x-dokku.letsencrypt"),
                    "no `x-dokku.letsencrypt_email`: `letsencrypt:enable` needs the host's global e-mail, which this plan does not see; the push refuses before any change when it is not set (`dokku letsencrypt:set --global email …`)",
                );
            }
        }
    }
    infer_one_shot(&mut services, &mut ctx.warnings);
    let mut rewrites = BTreeMap::new();
    super::rewrite::rewrite_datastore_refs(
        &mut services,
        &settings,
        &mut rewrites,
        &mut ctx.warnings,
    )?;

    let claims = super::k3s::claims(
        &settings.k3s,
        &ctx.volumes,
        top.get("volumes").and_then(Value::as_object),
    )?;
    ctx.warnings.sort();
    ctx.warnings.dedup();
    let project = Project {
        claims,
        stack: opts.stack.clone(),
        services,
        networks: ctx.networks,
        storage: ctx.storage,
        settings,
        rewrites,
    };
    Ok((project, ctx.warnings))
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

fn read_networks(ctx: &mut Ctx<'_>, nets: &Map<String, Value>) {
    for (key, def) in nets {
        let path = format!("networks.{key}");
        let def = def.as_object().cloned().unwrap_or_default();
        if def.get("external").and_then(Value::as_bool) == Some(true) {
            let name = def.get("name").and_then(Value::as_str).unwrap_or(key);
            ctx.external_networks
                .insert(key.clone(), NetworkName::external(name));
            continue;
        }
        for (k, v) in &def {
            match k.as_str() {
                "name" | "attachable" | "external" => {}
                "driver" if v.as_str() == Some("bridge") => {}
                "ipam" if is_unset(v) => {}
                _ if is_unset(v) => {}
                _ => ctx.warn(
                    format!("{path}.{k}"),
                    "Dokku creates plain attachable bridge networks; not applied",
                ),
            }
        }
        ctx.networks
            .insert(key.clone(), NetworkName::for_network(ctx.stack, key));
    }
}

fn read_volumes(ctx: &mut Ctx<'_>, vols: &Map<String, Value>) {
    for (key, def) in vols {
        let path = format!("volumes.{key}");
        let def = def.as_object().cloned().unwrap_or_default();
        let external = def.get("external").and_then(Value::as_bool) == Some(true);
        let docker_name = def
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_owned();
        for (k, v) in &def {
            if !matches!(k.as_str(), "name" | "external") && !is_unset(v) {
                ctx.warn(format!("{path}.{k}"), "Dokku storage entries are host directories; volume drivers and labels are not applied");
            }
        }
        let storage = StorageName::for_volume(ctx.stack, key);
        ctx.volumes
            .insert(key.clone(), (storage, external, docker_name));
    }
}

fn convert_service(
    ctx: &mut Ctx<'_>,
    stack_settings: &StackSettings,
    name: &ServiceName,
    app: AppName,
    raw: &Value,
) -> Result<Service, ModelError> {
    let base = format!("services.{name}");
    let obj = &Fields::new(
        raw.as_object()
            .ok_or_else(|| shape(&base, "must be a mapping"))?,
    );
    let settings = match (
        obj.get("x-dokku"),
        stack_settings.services.get(name.as_str()),
    ) {
        (Some(_), Some(_)) => {
            return Err(ModelError::Extension {
                path: format!("{base}.x-dokku"),
                message: format!(
                    "settings for `{name}` are also in `x-dokku.services.{name}`; keep one"
                ),
            })
        }
        (Some(v), None) => ServiceSettings::from_json(v, &format!("{base}.x-dokku"))?,
        (None, Some(s)) => s.clone(),
        (None, None) => ServiceSettings::default(),
    };
    let image = obj.get("image").and_then(Value::as_str);
    let datastore = match (image, obj.contains_key("build"), settings.datastore) {
        (Some(img), false, None | Some(true)) => catalog::classify(img),
        _ => None,
    };
    if settings.datastore == Some(true) && datastore.is_none() {
        return Err(ModelError::Extension {
            path: format!("{base}.x-dokku.datastore"),
            message: "the image is not one of the official datastore plugins' images".into(),
        });
    }
    // Key table pass: every key is classified.
    for (key, value) in obj.iter() {
        if key.starts_with("x-") {
            continue;
        }
        let path = || format!("{base}.{key}");
        let support =
            keys::service_key(key).ok_or_else(|| ModelError::UnknownKey { path: path() })?;
        if is_unset(value) {
            continue;
        }
        match support {
            Support::Rejected(reason) => {
                return Err(ModelError::Rejected {
                    path: path(),
                    reason: reason.into(),
                })
            }
            Support::Warned(reason) => ctx.warn(path(), reason),
            Support::Mapped(_) | Support::Policy(..) => {}
        }
    }

    let mut depends_on = BTreeMap::new();
    if let Some(deps) = obj.get("depends_on").and_then(Value::as_object) {
        for (dep, spec) in deps {
            depends_on.insert(
                ServiceName::new(dep.as_str()),
                Dependency {
                    condition: spec
                        .get("condition")
                        .and_then(Value::as_str)
                        .unwrap_or("service_started")
                        .to_owned(),
                    required: spec
                        .get("required")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                    restart: spec
                        .get("restart")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                },
            );
        }
    }
    let mut other_edges = BTreeMap::new();
    for link in obj
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let (target, alias) = link.split_once(':').unwrap_or((link, ""));
        if !alias.is_empty() && alias != target {
            ctx.warn(
                format!("{base}.links"),
                format!("alias `{alias}` of `{target}` is not created; use the service name"),
            );
        }
        other_edges.insert(ServiceName::new(target), "links".to_owned());
    }
    for from in obj
        .get("volumes_from")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let target = from.split(':').next().unwrap_or(from);
        if target == "container" {
            return Err(ModelError::Rejected {
                path: format!("{base}.volumes_from"),
                reason: "containers outside the stack cannot be referenced".into(),
            });
        }
        other_edges.insert(ServiceName::new(target), "volumes_from".to_owned());
    }
    for key in ["network_mode", "ipc", "pid"] {
        if let Some(target) = obj
            .get(key)
            .and_then(Value::as_str)
            .and_then(|m| m.strip_prefix("service:"))
        {
            other_edges.insert(ServiceName::new(target), key.to_owned());
        }
    }

    let kind = match datastore {
        Some(ds) => Kind::Datastore(Box::new(convert_datastore(ctx, name, obj, ds)?)),
        None => Kind::App(Box::new(convert_app(ctx, name, app, obj, &settings)?)),
    };
    Ok(Service {
        name: name.clone(),
        kind,
        depends_on,
        other_edges,
        settings,
    })
}

pub(super) fn env_map(
    obj: &Fields<'_>,
    base: &str,
    validate: bool,
    warnings: &mut Vec<Warning>,
) -> Result<BTreeMap<String, String>, ModelError> {
    let mut env = BTreeMap::new();
    if let Some(map) = obj.get("environment").and_then(Value::as_object) {
        for (k, v) in map {
            let path = || format!("{base}.environment.{k}");
            if validate && !is_valid_config_key(k) {
                return Err(ModelError::ConfigKey {
                    path: path(),
                    key: k.clone(),
                });
            }
            match v {
                Value::Null => warnings.push(Warning {
                    path: path(),
                    message: "has no value in the environment of the loader; not set".into(),
                }),
                Value::String(s) => {
                    env.insert(k.clone(), s.clone());
                }
                other => {
                    env.insert(k.clone(), other.to_string());
                }
            }
        }
    }
    Ok(env)
}

/// `<KEY>_FILE` for one of `keys` (`POSTGRES_PASSWORD_FILE`, the official images'
/// convention): the compose secret mounted at that path, which the plugin gets as the
/// password (docs/mapping.md "Datastore credentials"). The datastore container is the
/// plugin's, so the file exists only when it is a secret this service lists.
fn take_password_file(
    env: &mut BTreeMap<String, String>,
    obj: &Fields<'_>,
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
        let secret = obj
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|c| {
                let source = c.get("source").and_then(Value::as_str)?;
                let target = c.get("target").and_then(Value::as_str).unwrap_or(source);
                let at = if target.starts_with('/') {
                    target.to_owned()
                } else {
                    format!("/run/secrets/{target}")
                };
                (at == file).then(|| source.to_owned())
            });
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

fn convert_datastore(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    obj: &Fields<'_>,
    ds: catalog::DatastoreImage,
) -> Result<super::service::DatastoreSpec, ModelError> {
    let base = format!("services.{name}");
    let def = catalog::by_plugin(ds.plugin).expect("classify returns catalog plugins");
    for (key, value) in obj.iter() {
        if is_unset(value) || key.starts_with("x-") {
            continue;
        }
        let why = match key.as_str() {
            "image" | "environment" | "networks" | "depends_on" | "expose" | "restart" | "container_name" | "hostname" => continue,
            "command" if config_options(value).is_some() => continue,
            "volumes" => "the plugin keeps the data in its own service directory; the compose volume is not used",
            "ports" => "datastore ports are not published; use `dokku <plugin>:expose` if you must",
            "healthcheck" => "the plugin waits for the datastore itself",
            _ => "the datastore plugin manages this container; not applied",
        };
        if keys::service_key(key)
            .is_some_and(|s| matches!(s, Support::Mapped(_) | Support::Policy(..)))
        {
            ctx.warn(format!("{base}.{key}"), why.replace("<plugin>", ds.plugin));
        }
    }
    let mut env = env_map(obj, &base, false, &mut ctx.warnings).unwrap_or_default();
    let password_secret = take_password_file(&mut env, obj, &base, ds.plugin, def.password_keys)?;
    let root_password_secret =
        take_password_file(&mut env, obj, &base, ds.plugin, def.root_password_keys)?;
    if password_secret.is_some() || root_password_secret.is_some() {
        // The secret is applied (as the password), so "not applied" would be wrong.
        let path = format!("{base}.secrets");
        ctx.warnings.retain(|w| w.path != path);
    }
    // Any other `*_FILE` variable naming a secret's file names a file the datastore container
    // never has (the plugin mounts no secret into it).
    let secret_files: Vec<String> = obj
        .get("secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let target = c
                .get("target")
                .or_else(|| c.get("source"))
                .and_then(Value::as_str)?;
            Some(if target.starts_with('/') {
                target.to_owned()
            } else {
                format!("/run/secrets/{target}")
            })
        })
        .collect();
    if let Some((k, file)) = env.iter().find(|(k, v)| {
        k.ends_with("_FILE") && (v.starts_with("/run/secrets/") || secret_files.contains(v))
    }) {
        let read = match def.password_keys.first() {
            Some(p) => format!("only `{p}_FILE` is read, as the datastore's password"),
            None => format!("the {} plugin has no password setting", ds.plugin),
        };
        return Err(ModelError::Extension {
            path: format!("{base}.environment.{k}"),
            message: format!("`{file}` is a compose secret's file, and the {} plugin runs the datastore container itself and mounts no secret into it, so the container would not find it; {read}", ds.plugin),
        });
    }
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
    let (networks, aliases) = service_networks(ctx, name, obj, &base);
    let mut hosts: BTreeSet<String> = aliases;
    hosts.insert(name.as_str().to_owned());
    if let Some(h) = obj.get("hostname").and_then(Value::as_str) {
        hosts.insert(h.to_owned());
    }
    if let Some(c) = obj.get("container_name").and_then(Value::as_str) {
        hosts.insert(c.to_owned());
    }
    Ok(super::service::DatastoreSpec {
        config_options: obj.get("command").and_then(config_options),
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

/// A datastore's `command` as the plugin's `--config-options`: the server flags, after an
/// optional leading server binary (`mysqld --x`, `--x`, `postgres -c a=b`). Shell wrappers
/// and anything else return `None` (and are warned).
fn config_options(command: &Value) -> Option<String> {
    let words = match command {
        Value::String(s) => split_shell_words(s).ok()?,
        Value::Array(a) => a
            .iter()
            .map(|w| w.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let first = words.first()?;
    let flags = if first.starts_with('-') {
        &words[..]
    } else if !["sh", "bash", "/bin/sh", "/bin/bash"].contains(&first.as_str())
        && words.get(1).is_some_and(|w| w.starts_with('-'))
    {
        &words[1..]
    } else {
        return None;
    };
    Some(flags.join(" "))
}

/// The service's networks, primary first, and the aliases it answers to on the primary one.
pub(super) fn service_networks(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    obj: &Fields<'_>,
    base: &str,
) -> (Vec<NetworkName>, BTreeSet<String>) {
    let no_spec = Map::new();
    let mut entries: Vec<(i64, &str, &Map<String, Value>)> = Vec::new();
    match obj.get("networks") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let spec = v.as_object().unwrap_or(&no_spec);
                let prio = spec.get("priority").and_then(Value::as_i64).unwrap_or(0);
                entries.push((-prio, k.as_str(), spec));
            }
        }
        // `host`/`none` have no stack network; `service:x` and `bridge` join the default one.
        _ if matches!(
            obj.get("network_mode").and_then(Value::as_str),
            Some("host" | "none")
        ) => {}
        _ => entries.push((0, "default", &no_spec)),
    }
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut out = Vec::new();
    let mut aliases = BTreeSet::new();
    for (i, &(_, key, spec)) in entries.iter().enumerate() {
        let net = match (ctx.networks.get(key), ctx.external_networks.get(key)) {
            (Some(n), _) | (None, Some(n)) => n.clone(),
            (None, None) => {
                let n = NetworkName::for_network(ctx.stack, key);
                ctx.networks.insert(key.to_owned(), n.clone());
                n
            }
        };
        out.push(net);
        for (k, v) in spec {
            let path = || format!("{base}.networks.{key}.{k}");
            match k.as_str() {
                "aliases" if i == 0 => aliases.extend(
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned),
                ),
                "aliases" => ctx.warn(
                    path(),
                    "aliases resolve only on the service's primary network",
                ),
                "priority" | "gw_priority" => {}
                _ if is_unset(v) => {}
                _ => ctx.warn(
                    path(),
                    "Docker assigns addresses on Dokku networks; not applied",
                ),
            }
        }
    }
    if !out.is_empty() {
        aliases.insert(name.as_str().to_owned());
    }
    (out, aliases)
}

/// A service that another one waits for with `service_completed_successfully` is a job:
/// unless `x-dokku` says otherwise it runs once per deploy (docs/mapping.md "One-shot jobs").
fn infer_one_shot(services: &mut BTreeMap<ServiceName, Service>, warnings: &mut Vec<Warning>) {
    let mut jobs: BTreeMap<ServiceName, String> = BTreeMap::new();
    for (name, svc) in services.iter() {
        for (dep, spec) in &svc.depends_on {
            if spec.condition == "service_completed_successfully" {
                jobs.entry(dep.clone())
                    .or_insert_with(|| format!("services.{name}.depends_on.{dep}"));
            }
        }
    }
    for (job, path) in jobs {
        let Some(svc) = services.get_mut(&job) else {
            continue;
        };
        if svc.settings.state_given || svc.app().is_none() {
            continue;
        }
        if svc.app().is_some_and(|a| a.command.is_none()) {
            warnings.push(Warning {
                path: format!("services.{job}"),
                message: format!("`{path}` waits for it to complete, but it has no `command` to run as a one-shot job; deployed as a running service"),
            });
            continue;
        }
        svc.settings.state = super::xdokku::ExpectedState::OneShot;
        warnings.push(Warning {
            path: format!("services.{job}"),
            message: format!(
                "runs as a one-shot job on each deploy, because `{path}` waits for it to complete"
            ),
        });
    }
}

fn resolve_volumes_from(services: &mut BTreeMap<ServiceName, Service>) {
    // Only the mounts of services that some `volumes_from` names are copied.
    let sources: BTreeSet<ServiceName> = services
        .values()
        .flat_map(|s| {
            s.other_edges
                .iter()
                .filter(|(_, k)| *k == "volumes_from")
                .map(|(n, _)| n.clone())
        })
        .collect();
    if sources.is_empty() {
        return;
    }
    let shared: BTreeMap<ServiceName, Vec<Mount>> = services
        .iter()
        .filter(|(n, _)| sources.contains(*n))
        .filter_map(|(n, s)| s.app().map(|a| (n.clone(), a.mounts.clone())))
        .collect();
    // Source mounts are copied into the image (issue 15 item 5): into the sharer's too.
    let shared_files: BTreeMap<ServiceName, Vec<(String, super::service::FileSource)>> = services
        .iter()
        .filter(|(n, _)| sources.contains(*n))
        .filter_map(|(n, s)| {
            s.app().map(|a| {
                (
                    n.clone(),
                    a.files
                        .iter()
                        .filter(|(_, f)| matches!(f, super::service::FileSource::Source { .. }))
                        .map(|(t, f)| (t.clone(), f.clone()))
                        .collect(),
                )
            })
        })
        .collect();
    for svc in services.values_mut() {
        let from: Vec<ServiceName> = svc
            .other_edges
            .iter()
            .filter(|(_, k)| *k == "volumes_from")
            .map(|(n, _)| n.clone())
            .collect();
        if let Kind::App(app) = &mut svc.kind {
            for f in from {
                for m in shared.get(&f).into_iter().flatten() {
                    if !app.mounts.contains(m) {
                        app.mounts.push(m.clone());
                    }
                }
                if !matches!(app.source, super::service::Source::Build(_)) {
                    for (target, file) in shared_files.get(&f).into_iter().flatten() {
                        app.files
                            .entry(target.clone())
                            .or_insert_with(|| file.clone());
                    }
                }
            }
        }
    }
}

/// `abs` relative to `dir` (`.` for the directory itself); `abs` unchanged when it is not below it
/// and not a sibling (then `../x`).
pub fn relative_path(dir: &str, abs: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(
            split_shell_words(r#"sh -c "echo 'a b'" x\ y"#).unwrap(),
            ["sh", "-c", "echo 'a b'", "x y"]
        );
        assert_eq!(split_shell_words("  ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_secs("1m30s"), Some(90));
        assert_eq!(duration_secs("500ms"), Some(1));
        assert_eq!(duration_secs("10s"), Some(10));
        assert_eq!(duration_secs("x"), None);
        assert_eq!(duration_secs("1.5s"), Some(2));
        assert_eq!(duration_secs("-1s"), None);
        assert_eq!(duration_secs("2500000000"), Some(3));
    }

    fn convert(json: serde_json::Value) -> Result<(Project, Vec<Warning>), ModelError> {
        let opts = ConvertOptions {
            stack: StackName::parse("s").unwrap(),
            project_dir: "/p".into(),
        };
        from_compose_json(&json, &opts)
    }

    #[test]
    fn every_key_is_classified() {
        let (_, warnings) = convert(serde_json::json!({"services": {"web": {
            "image": "nginx", "labels": {"a": "b"}, "tty": true, "stdin_open": false, "x-anchor": 1
        }}}))
        .unwrap();
        let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "`services.web.labels`: Dokku manages container labels",
                "`services.web.tty`: Dokku containers run detached"
            ]
        );
    }

    #[test]
    fn unknown_and_rejected_keys_are_errors() {
        let e = convert(serde_json::json!({"services": {"web": {"image": "x", "imagee": "y"}}}))
            .unwrap_err();
        assert_eq!(e.to_string(), "`services.web.imagee`: unknown compose key");
        let e = convert(
            serde_json::json!({"services": {"web": {"image": "x", "oom_kill_disable": true}}}),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "`services.web.oom_kill_disable` is not supported: disabling the OOM killer can take the whole host down");
        let e = convert(serde_json::json!({"bogus": 1})).unwrap_err();
        assert_eq!(e.to_string(), "`bogus`: unknown compose key");
        let e = convert(serde_json::json!({"services": {"web": {"image": "x", "environment": {"spring.datasource.url": "x"}}}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`services.web.environment.spring.datasource.url`: `spring.datasource.url` is not a valid Dokku config key (must match ^[A-Za-z_][A-Za-z0-9_]*$)"
        );
    }

    #[test]
    fn datastores_and_rewrites() {
        let (p, _) = convert(serde_json::json!({"services": {
            "db": {"image": "postgres:16", "environment": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "appdb"}},
            "web": {"image": "x", "environment": {
                "DB_HOST": "db", "DB_ADDR": "db:5432", "DB_USER": "app", "DB_NAME": "appdb", "DB_PASSWORD": "pw",
                "JDBC": "jdbc:postgresql://db:5432/appdb?ssl=true", "OTHER": "dbx"
            }}
        }}))
        .unwrap();
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        let v = |k: &str| web.env[k].value.as_str();
        assert_eq!(v("DB_HOST"), "dokku-postgres-s-db");
        assert_eq!(v("DB_ADDR"), "dokku-postgres-s-db:5432");
        assert_eq!(v("DB_USER"), "postgres");
        assert_eq!(v("DB_NAME"), "s_db");
        assert_eq!(v("DB_PASSWORD"), "pw");
        assert_eq!(
            v("JDBC"),
            "jdbc:postgresql://postgres:pw@dokku-postgres-s-db:5432/s_db?ssl=true"
        );
        assert_eq!(v("OTHER"), "dbx");
        assert!(web.links.contains_key(&ServiceName::new("db")));
        let db = p.services[&ServiceName::new("db")].datastore().unwrap();
        assert_eq!(
            (db.plugin, db.version.as_deref(), db.password.as_deref()),
            ("postgres", Some("16"), Some("pw"))
        );
    }

    /// Issue #15 item 7: `POSTGRES_PASSWORD_FILE` naming a secret the datastore lists makes
    /// that secret the datastore's password; any other file is refused, as are both keys.
    #[test]
    fn a_password_file_from_a_compose_secret_is_the_datastore_password() {
        let secrets = serde_json::json!({"db_pw": {"file": "/p/db_pw.txt"}});
        let db = |env: serde_json::Value, target: Option<&str>| {
            let mut use_ = serde_json::json!({"source": "db_pw"});
            if let Some(t) = target {
                use_["target"] = serde_json::json!(t);
            }
            serde_json::json!({"services": {"db": {"image": "postgres:16", "environment": env, "secrets": [use_]}}, "secrets": secrets})
        };
        let (p, _) = convert(db(
            serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/db_pw"}),
            None,
        ))
        .unwrap();
        let ds = p.services[&ServiceName::new("db")]
            .datastore()
            .unwrap()
            .clone();
        assert_eq!(
            (ds.password, ds.password_secret.as_deref()),
            (None, Some("db_pw"))
        );
        assert!(ds.custom_env.is_empty(), "{:?}", ds.custom_env);
        let (_, warnings) = convert(db(
            serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/db_pw"}),
            None,
        ))
        .unwrap();
        assert!(
            warnings.iter().all(|w| w.path != "services.db.secrets"),
            "{warnings:?}"
        );
        let (p, _) = convert(db(
            serde_json::json!({"POSTGRES_PASSWORD_FILE": "/etc/pw"}),
            Some("/etc/pw"),
        ))
        .unwrap();
        assert_eq!(
            p.services[&ServiceName::new("db")]
                .datastore()
                .unwrap()
                .password_secret
                .as_deref(),
            Some("db_pw")
        );
        let e = convert(db(
            serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/other"}),
            None,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("`services.db.environment.POSTGRES_PASSWORD_FILE`: `/run/secrets/other` is not where a secret of this service is mounted"), "{e}");
        let e = convert(db(serde_json::json!({"POSTGRES_PASSWORD_FILE": "/run/secrets/db_pw", "POSTGRES_PASSWORD": "x"}), None)).unwrap_err().to_string();
        assert!(
            e.contains("`POSTGRES_PASSWORD` and `POSTGRES_PASSWORD_FILE` are both set"),
            "{e}"
        );
        let e = convert(db(
            serde_json::json!({"POSTGRES_DB_FILE": "/run/secrets/db_pw"}),
            None,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("`services.db.environment.POSTGRES_DB_FILE`: `/run/secrets/db_pw` is a compose secret's file, and the postgres plugin runs the datastore container itself"), "{e}");
    }

    #[test]
    fn generated_passwords_come_from_the_link() {
        let (p, warnings) = convert(serde_json::json!({"services": {
            "cache": {"image": "redis:7"},
            "web": {"image": "x", "environment": {"REDIS_URL": "redis://cache:6379", "JOBS_URL": "redis://cache:6379/0", "RAW": "redis://cache"}}
        }}))
        .unwrap();
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        assert!(!web.env.contains_key("REDIS_URL"));
        assert!(!web.env.contains_key("JOBS_URL"));
        assert_eq!(
            web.links[&ServiceName::new("cache")].alias.as_deref(),
            Some("JOBS")
        );
        assert_eq!(
            warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["`services.web.environment.RAW`: points at datastore `cache`, whose password the plugin generates; read `REDIS_URL` set by the link instead"]
        );
    }

    #[test]
    fn a_redis_db_index_the_link_cannot_carry_is_refused() {
        let e = convert(serde_json::json!({"services": {
            "cache": {"image": "redis:7"},
            "web": {"image": "x", "environment": {"JOBS_URL": "redis://cache:6379/1"}}
        }}))
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`services.web.environment.JOBS_URL`: `/1` cannot be kept"),
            "{e}"
        );
        // With the password declared, the URL is written whole, index included.
        let (p, _) = convert(serde_json::json!({"services": {
            "cache": {"image": "redis:7", "environment": {"REDIS_PASSWORD": "pw"}},
            "web": {"image": "x", "environment": {"JOBS_URL": "redis://cache:6379/1"}}
        }}))
        .unwrap();
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        assert_eq!(
            web.env["JOBS_URL"].value,
            "redis://:pw@dokku-redis-s-cache:6379/1"
        );
        assert!(web.env["JOBS_URL"].secret);
    }

    #[test]
    fn rewrites_follow_meaning_not_equal_values() {
        let (p, _) = convert(serde_json::json!({"services": {
            "db": {"image": "postgres:16", "environment": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop"}},
            "mq": {"image": "rabbitmq:3", "environment": {"RABBITMQ_DEFAULT_USER": "zulip", "RABBITMQ_DEFAULT_PASS": "pw2"}},
            // An app of an image the catalog does not know, not using `mq`: never rewritten or linked.
            "pg": {"image": "zulip/zulip-postgresql:14", "environment": {"POSTGRES_USER": "zulip"}},
            "web": {"image": "x", "depends_on": {"db": {"condition": "service_started"}, "mq": {"condition": "service_started"}}, "environment": {
                "SITE_NAME": "shop", "OTEL_SERVICE_NAME": "shop", "DB_NAME": "shop", "PG_USER": "app", "RABBITMQ_USER": "zulip"
            }}
        }}))
        .unwrap();
        let pg = p.services[&ServiceName::new("pg")].app().unwrap();
        assert_eq!(pg.env["POSTGRES_USER"].value, "zulip");
        assert!(pg.links.is_empty());
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        let v = |k: &str| web.env[k].value.as_str();
        assert_eq!((v("SITE_NAME"), v("OTEL_SERVICE_NAME")), ("shop", "shop"));
        assert_eq!(
            (v("DB_NAME"), v("PG_USER"), v("RABBITMQ_USER")),
            ("s_db", "postgres", "s-mq")
        );
        assert_eq!(
            p.rewrites["services.web.environment.DB_NAME"],
            "`shop` -> `s_db` (database of datastore `db`)"
        );
        assert!(!p
            .rewrites
            .contains_key("services.web.environment.SITE_NAME"));

        // The same user declared by two datastores the app uses: only a key that names one.
        let (p, warnings) = convert(serde_json::json!({"services": {
            "db": {"image": "postgres:16", "environment": {"POSTGRES_USER": "shop", "POSTGRES_PASSWORD": "pw"}},
            "mq": {"image": "rabbitmq:3", "environment": {"RABBITMQ_DEFAULT_USER": "shop", "RABBITMQ_DEFAULT_PASS": "pw2"}},
            "web": {"image": "x", "depends_on": {"db": {"condition": "service_started"}, "mq": {"condition": "service_started"}}, "environment": {
                "PG_USER": "shop", "AMQP_USER": "shop", "APP_USER": "shop"
            }}
        }}))
        .unwrap();
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        let v = |k: &str| web.env[k].value.as_str();
        assert_eq!(
            (v("PG_USER"), v("AMQP_USER"), v("APP_USER")),
            ("postgres", "s-mq", "shop")
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.path == "services.web.environment.APP_USER"),
            "{warnings:?}"
        );
    }

    #[test]
    fn an_empty_value_leaves_the_link_variable_alone() {
        let (p, _) = convert(serde_json::json!({"services": {
            "cache": {"image": "redis:7"},
            "web": {"image": "x", "depends_on": {"cache": {"condition": "service_started"}}, "environment": {"REDIS_URL": "", "OTHER": ""}}
        }}))
        .unwrap();
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        assert!(!web.env.contains_key("REDIS_URL") && web.env.contains_key("OTHER"));
        assert!(web.links.contains_key(&ServiceName::new("cache")));
    }

    #[test]
    fn x_dokku_in_both_places_is_an_error() {
        let e = convert(serde_json::json!({
            "x-dokku": {"services": {"web": {"state": "stopped"}}},
            "services": {"web": {"image": "x", "x-dokku": {"state": "running"}}}
        }))
        .unwrap_err();
        assert_eq!(e.to_string(), "`services.web.x-dokku`: settings for `web` are also in `x-dokku.services.web`; keep one");
        let e = convert(serde_json::json!({"x-dokku": {"services": {"nope": {}}}, "services": {}}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`x-dokku.services.nope`: names no service of the project"
        );
    }

    #[test]
    fn letsencrypt_and_domains_without_their_prerequisites_warn() {
        let (_, warnings) = convert(serde_json::json!({
            "x-dokku": {"services": {"web": {"domains": ["a.example.com"], "letsencrypt": true}}},
            "services": {"web": {"image": "x"}}
        }))
        .unwrap();
        let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "`services.web.x-dokku.domains`: the service publishes no port and has no `proxy_port`, so the proxy is disabled and the domains serve nothing",
                "`services.web.x-dokku.letsencrypt`: no `x-dokku.letsencrypt_email`: `letsencrypt:enable` needs the host's global e-mail, which this plan does not see; the push refuses before any change when it is not set (`dokku letsencrypt:set --global email …`)",
            ]
        );
    }

    #[test]
    fn dollar_escapes_are_undone() {
        let (p, _) = convert(serde_json::json!({"services": {"web": {"image": "x", "command": ["sh", "-c", "echo $$HOME"], "environment": {"PRICE": "$$5"}}}})).unwrap();
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        assert_eq!(web.command.as_deref().unwrap()[2], "echo $HOME");
        assert_eq!(web.env["PRICE"].value, "$5");
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path("/a/b", "/a/b"), ".");
        assert_eq!(relative_path("/a/b", "/a/b/c/d"), "c/d");
        assert_eq!(relative_path("/a/b", "/a/files/x"), "../files/x");
        assert_eq!(relative_path("/a/b", "/etc/x"), "/etc/x");
    }
}
