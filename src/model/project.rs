//! The converted compose project and the conversion itself: from the JSON that
//! `docker compose config --format json` prints (our loader prints the same) to the domain
//! model. Every key is looked up in [`super::keys`]: mapped keys are converted here, warned
//! keys produce a [`Warning`], rejected keys an error; nothing is dropped silently.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{ModelError, Warning};
use super::keys::{self, Support};
use super::names::{is_valid_config_key, AppName, DatastoreName, NetworkName, ServiceName, StackName, StorageName};
use super::service::{
    AppSpec, Build, Dependency, DockerOption, EnvVar, FileSource, Healthcheck, Kind, Mount, PolicyRule, Port,
    Resources, Service, Source,
};
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
}

/// Inputs of the conversion besides the JSON.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// The stack name.
    pub stack: StackName,
    /// The project directory as it is written in the JSON's absolute paths.
    pub project_dir: String,
}

struct Ctx<'a> {
    stack: &'a StackName,
    project_dir: &'a str,
    warnings: Vec<Warning>,
    networks: BTreeMap<String, NetworkName>,
    external_networks: BTreeMap<String, NetworkName>,
    volumes: BTreeMap<String, (StorageName, bool, String)>,
    storage: BTreeMap<StorageName, Option<String>>,
    configs: Map<String, Value>,
}

impl Ctx<'_> {
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning { path: path.into(), message: message.into() });
    }

    fn relative(&self, abs: &str) -> String {
        relative_path(self.project_dir, abs)
    }
}

fn shape(path: &str, message: &str) -> ModelError {
    ModelError::Shape { path: path.to_owned(), message: message.to_owned() }
}

fn is_unset(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false)) || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty)
}

/// Converts the compose JSON into a [`Project`], with the warnings for keys that have no
/// (full) Dokku meaning.
pub fn from_compose_json(json: &Value, opts: &ConvertOptions) -> Result<(Project, Vec<Warning>), ModelError> {
    // Compose prints a literal `$` as `$$` in every string value; the container sees one `$`.
    let unescaped;
    let json = if has_escape(json) {
        unescaped = unescape_dollars(json);
        &unescaped
    } else {
        json
    };
    let top = json.as_object().ok_or_else(|| shape("(root)", "must be a mapping"))?;
    let mut ctx = Ctx {
        stack: &opts.stack,
        project_dir: opts.project_dir.trim_end_matches('/'),
        warnings: Vec::new(),
        networks: BTreeMap::new(),
        external_networks: BTreeMap::new(),
        volumes: BTreeMap::new(),
        storage: BTreeMap::new(),
        configs: Map::new(),
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
            Some(Support::Rejected(reason)) => return Err(ModelError::Rejected { path: key.clone(), reason: reason.into() }),
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
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut app_names: BTreeMap<ServiceName, AppName> = BTreeMap::new();
    for name in raw_services.keys() {
        let svc = ServiceName::new(name.as_str());
        let base = AppName::for_service(&opts.stack, &svc);
        let mut app = base.clone();
        let mut n = 2;
        while !taken.insert(app.as_str().to_owned()) {
            app = base.with_suffix(n);
            n += 1;
        }
        if app != base {
            ctx.warn(format!("services.{name}"), format!("app name `{base}` is taken by another service; using `{app}`"));
        }
        app_names.insert(svc, app);
    }

    if let Some(unknown) = settings.services.keys().find(|s| !raw_services.contains_key(*s)) {
        return Err(ModelError::Extension { path: format!("x-dokku.services.{unknown}"), message: "names no service of the project".into() });
    }
    let mut services = BTreeMap::new();
    for (name, raw) in raw_services {
        let svc_name = ServiceName::new(name.as_str());
        let app = app_names[&svc_name].clone();
        let service = convert_service(&mut ctx, &settings, &svc_name, app, raw)?;
        services.insert(svc_name, service);
    }
    resolve_volumes_from(&mut services);
    if settings.letsencrypt_email.is_none() {
        for (name, svc) in &services {
            if svc.settings.letsencrypt {
                ctx.warn(
                    format!("services.{name}.x-dokku.letsencrypt"),
                    "no `x-dokku.letsencrypt_email`: `letsencrypt:enable` needs the global e-mail (`dokku letsencrypt:set --global email …`)",
                );
            }
        }
    }
    infer_one_shot(&mut services, &mut ctx.warnings);
    let mut rewrites = BTreeMap::new();
    super::rewrite::rewrite_datastore_refs(&mut services, &settings, &mut rewrites, &mut ctx.warnings);

    ctx.warnings.sort();
    ctx.warnings.dedup();
    let project = Project {
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
        Value::String(s) => s.contains("$$"),
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
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), unescape_dollars(v))).collect()),
        other => other.clone(),
    }
}

fn read_networks(ctx: &mut Ctx<'_>, nets: &Map<String, Value>) {
    for (key, def) in nets {
        let path = format!("networks.{key}");
        let def = def.as_object().cloned().unwrap_or_default();
        if def.get("external").and_then(Value::as_bool) == Some(true) {
            let name = def.get("name").and_then(Value::as_str).unwrap_or(key);
            ctx.external_networks.insert(key.clone(), NetworkName::external(name));
            continue;
        }
        for (k, v) in &def {
            match k.as_str() {
                "name" | "attachable" | "external" => {}
                "driver" if v.as_str() == Some("bridge") => {}
                "ipam" if is_unset(v) => {}
                _ if is_unset(v) => {}
                _ => ctx.warn(format!("{path}.{k}"), "Dokku creates plain attachable bridge networks; not applied"),
            }
        }
        ctx.networks.insert(key.clone(), NetworkName::for_network(ctx.stack, key));
    }
}

fn read_volumes(ctx: &mut Ctx<'_>, vols: &Map<String, Value>) {
    for (key, def) in vols {
        let path = format!("volumes.{key}");
        let def = def.as_object().cloned().unwrap_or_default();
        let external = def.get("external").and_then(Value::as_bool) == Some(true);
        let docker_name = def.get("name").and_then(Value::as_str).unwrap_or(key).to_owned();
        for (k, v) in &def {
            if !matches!(k.as_str(), "name" | "external") && !is_unset(v) {
                ctx.warn(format!("{path}.{k}"), "Dokku storage entries are host directories; volume drivers and labels are not applied");
            }
        }
        let storage = StorageName::for_volume(ctx.stack, key);
        ctx.volumes.insert(key.clone(), (storage, external, docker_name));
    }
}

fn convert_service(ctx: &mut Ctx<'_>, stack_settings: &StackSettings, name: &ServiceName, app: AppName, raw: &Value) -> Result<Service, ModelError> {
    let base = format!("services.{name}");
    let obj = raw.as_object().ok_or_else(|| shape(&base, "must be a mapping"))?;
    let settings = match (obj.get("x-dokku"), stack_settings.services.get(name.as_str())) {
        (Some(_), Some(_)) => {
            return Err(ModelError::Extension {
                path: format!("{base}.x-dokku"),
                message: format!("settings for `{name}` are also in `x-dokku.services.{name}`; keep one"),
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
    for (key, value) in obj {
        let path = format!("{base}.{key}");
        if key.starts_with("x-") {
            continue;
        }
        let support = keys::service_key(key).ok_or_else(|| ModelError::UnknownKey { path: path.clone() })?;
        if is_unset(value) {
            continue;
        }
        match support {
            Support::Rejected(reason) => return Err(ModelError::Rejected { path, reason: reason.into() }),
            Support::Warned(reason) => ctx.warn(path, reason),
            Support::Mapped(_) | Support::Policy(..) => {}
        }
    }

    let mut depends_on = BTreeMap::new();
    if let Some(deps) = obj.get("depends_on").and_then(Value::as_object) {
        for (dep, spec) in deps {
            depends_on.insert(
                ServiceName::new(dep.as_str()),
                Dependency {
                    condition: spec.get("condition").and_then(Value::as_str).unwrap_or("service_started").to_owned(),
                    required: spec.get("required").and_then(Value::as_bool).unwrap_or(true),
                    restart: spec.get("restart").and_then(Value::as_bool).unwrap_or(false),
                },
            );
        }
    }
    let mut other_edges = BTreeMap::new();
    for link in obj.get("links").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let (target, alias) = link.split_once(':').unwrap_or((link, ""));
        if !alias.is_empty() && alias != target {
            ctx.warn(format!("{base}.links"), format!("alias `{alias}` of `{target}` is not created; use the service name"));
        }
        other_edges.insert(ServiceName::new(target), "links".to_owned());
    }
    for from in obj.get("volumes_from").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let target = from.split(':').next().unwrap_or(from);
        if target == "container" {
            return Err(ModelError::Rejected { path: format!("{base}.volumes_from"), reason: "containers outside the stack cannot be referenced".into() });
        }
        other_edges.insert(ServiceName::new(target), "volumes_from".to_owned());
    }
    for key in ["network_mode", "ipc", "pid"] {
        if let Some(target) = obj.get(key).and_then(Value::as_str).and_then(|m| m.strip_prefix("service:")) {
            other_edges.insert(ServiceName::new(target), key.to_owned());
        }
    }

    let kind = match datastore {
        Some(ds) => Kind::Datastore(Box::new(convert_datastore(ctx, name, obj, ds))),
        None => Kind::App(Box::new(convert_app(ctx, name, app, obj, &settings)?)),
    };
    Ok(Service { name: name.clone(), kind, depends_on, other_edges, settings })
}

fn env_map(obj: &Map<String, Value>, base: &str, validate: bool, warnings: &mut Vec<Warning>) -> Result<BTreeMap<String, String>, ModelError> {
    let mut env = BTreeMap::new();
    if let Some(map) = obj.get("environment").and_then(Value::as_object) {
        for (k, v) in map {
            let path = format!("{base}.environment.{k}");
            if validate && !is_valid_config_key(k) {
                return Err(ModelError::ConfigKey { path, key: k.clone() });
            }
            match v {
                Value::Null => warnings.push(Warning { path, message: "has no value in the environment of the loader; not set".into() }),
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

fn convert_datastore(ctx: &mut Ctx<'_>, name: &ServiceName, obj: &Map<String, Value>, ds: catalog::DatastoreImage) -> super::service::DatastoreSpec {
    let base = format!("services.{name}");
    let def = catalog::by_plugin(ds.plugin).expect("classify returns catalog plugins");
    for (key, value) in obj {
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
        if keys::service_key(key).is_some_and(|s| matches!(s, Support::Mapped(_) | Support::Policy(..))) {
            ctx.warn(format!("{base}.{key}"), why.replace("<plugin>", ds.plugin));
        }
    }
    let mut env = env_map(obj, &base, false, &mut ctx.warnings).unwrap_or_default();
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
    let declared_database = take(def.database_keys);
    let mut custom_env = BTreeMap::new();
    for (k, v) in env {
        if v.contains(';') {
            ctx.warn(format!("{base}.environment.{k}"), "values with `;` cannot be passed through `--custom-env`; not set");
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
    super::service::DatastoreSpec {
        config_options: obj.get("command").and_then(config_options),
        plugin: ds.plugin,
        name: DatastoreName::for_service(ctx.stack, name),
        image: ds.image,
        version: ds.version,
        declared_user,
        password,
        root_password,
        declared_database,
        custom_env,
        hosts,
        network: networks.into_iter().next(),
    }
}

/// A datastore's `command` as the plugin's `--config-options`: the server flags, after an
/// optional leading server binary (`mysqld --x`, `--x`, `postgres -c a=b`). Shell wrappers
/// and anything else return `None` (and are warned).
fn config_options(command: &Value) -> Option<String> {
    let words = match command {
        Value::String(s) => split_shell_words(s),
        Value::Array(a) => a.iter().map(|w| w.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let first = words.first()?;
    let flags = if first.starts_with('-') {
        &words[..]
    } else if !["sh", "bash", "/bin/sh", "/bin/bash"].contains(&first.as_str()) && words.get(1).is_some_and(|w| w.starts_with('-')) {
        &words[1..]
    } else {
        return None;
    };
    Some(flags.join(" "))
}

/// The service's networks, primary first, and the aliases it answers to on the primary one.
fn service_networks(ctx: &mut Ctx<'_>, name: &ServiceName, obj: &Map<String, Value>, base: &str) -> (Vec<NetworkName>, BTreeSet<String>) {
    let mut entries: Vec<(i64, String, Map<String, Value>)> = Vec::new();
    match obj.get("networks") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let spec = v.as_object().cloned().unwrap_or_default();
                let prio = spec.get("priority").and_then(Value::as_i64).unwrap_or(0);
                entries.push((-prio, k.clone(), spec));
            }
        }
        // `host`/`none` have no stack network; `service:x` and `bridge` join the default one.
        _ if matches!(obj.get("network_mode").and_then(Value::as_str), Some("host" | "none")) => {}
        _ => entries.push((0, "default".into(), Map::new())),
    }
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut out = Vec::new();
    let mut aliases = BTreeSet::new();
    for (i, (_, key, spec)) in entries.iter().enumerate() {
        let net = match (ctx.networks.get(key), ctx.external_networks.get(key)) {
            (Some(n), _) | (None, Some(n)) => n.clone(),
            (None, None) => {
                let n = NetworkName::for_network(ctx.stack, key);
                ctx.networks.insert(key.clone(), n.clone());
                n
            }
        };
        out.push(net);
        for (k, v) in spec {
            let path = format!("{base}.networks.{key}.{k}");
            match k.as_str() {
                "aliases" if i == 0 => aliases.extend(v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned)),
                "aliases" => ctx.warn(path, "aliases resolve only on the service's primary network"),
                "priority" | "gw_priority" => {}
                _ if is_unset(v) => {}
                _ => ctx.warn(path, "Docker assigns addresses on Dokku networks; not applied"),
            }
        }
    }
    if !out.is_empty() {
        aliases.insert(name.as_str().to_owned());
    }
    (out, aliases)
}

fn exec_form(v: &Value, path: &str) -> Result<Option<Vec<String>>, ModelError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(split_shell_words(s))),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| shape(path, "must be a list of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(shape(path, "must be a string or a list of strings")),
    }
}

/// Splits a command string the way compose does (POSIX shell words: quotes and backslashes).
pub fn split_shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                if !matches!(n, '"' | '\\' | '$' | '`') {
                                    cur.push('\\');
                                }
                                cur.push(n);
                            }
                        }
                        _ => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Parses a compose duration (`1m30s`, `500ms`, `10s`) into whole seconds, rounding up.
pub fn duration_secs(s: &str) -> Option<u64> {
    let mut total_ms: u64 = 0;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    if s.trim().chars().all(|c| c.is_ascii_digit()) {
        return s.trim().parse::<u64>().ok().map(|ns| ns.div_ceil(1_000_000_000));
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let value: f64 = num.parse().ok()?;
        num.clear();
        let ms = match unit.as_str() {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            "us" | "µs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "durations are small and positive")]
        {
            total_ms += (value * ms).ceil() as u64;
        }
    }
    if !num.is_empty() {
        return None;
    }
    Some(total_ms.div_ceil(1000))
}

fn bytes(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn megabytes(v: &Value) -> Option<u64> {
    bytes(v).map(|b| b.div_ceil(1024 * 1024))
}

fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

const DANGEROUS_CAPS: &[&str] = &[
    "ALL", "AUDIT_CONTROL", "BPF", "DAC_READ_SEARCH", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "NET_ADMIN",
    "PERFMON", "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
];

#[expect(clippy::too_many_lines, reason = "one arm per compose key keeps the mapping readable in one place")]
fn convert_app(ctx: &mut Ctx<'_>, name: &ServiceName, app: AppName, obj: &Map<String, Value>, settings: &ServiceSettings) -> Result<AppSpec, ModelError> {
    let base = format!("services.{name}");
    let mut opts: Vec<DockerOption> = Vec::new();
    let mut opt = |key: &str, option: String, rule: Option<PolicyRule>| {
        opts.push(DockerOption { phase: "deploy", option, path: format!("{base}.{key}"), rule });
    };

    let source = match obj.get("build") {
        Some(b) => Source::Build(convert_build(ctx, b, &format!("{base}.build"))?),
        None => match obj.get("image").and_then(Value::as_str) {
            Some(image) => Source::Image { image: image.to_owned() },
            None => return Err(shape(&base, "has neither `image` nor `build`")),
        },
    };
    let is_build = matches!(source, Source::Build(_));
    let command = exec_form(obj.get("command").unwrap_or(&Value::Null), &format!("{base}.command"))?;
    let entrypoint = exec_form(obj.get("entrypoint").unwrap_or(&Value::Null), &format!("{base}.entrypoint"))?;
    let working_dir = obj.get("working_dir").and_then(Value::as_str).map(str::to_owned);
    let user = obj.get("user").and_then(Value::as_str).map(str::to_owned);
    if is_build {
        if let Some(ep) = &entrypoint {
            let json = serde_json::to_string(ep).unwrap_or_default();
            opt("entrypoint", format!("--entrypoint {json}"), None);
            ctx.warn(format!("{base}.entrypoint"), "set with a docker option, which the k3s scheduler ignores");
        }
        if let Some(u) = &user {
            opt("user", format!("--user {u}"), None);
        }
        if let Some(w) = &working_dir {
            opt("working_dir", format!("--workdir {w}"), None);
        }
    }

    let healthcheck = match obj.get("healthcheck").and_then(Value::as_object) {
        Some(h) if h.get("disable").and_then(Value::as_bool) != Some(true) => convert_healthcheck(ctx, h, &format!("{base}.healthcheck")),
        _ => None,
    };

    let env = env_map(obj, &base, true, &mut ctx.warnings)?
        .into_iter()
        .map(|(k, v)| {
            let secret = !settings.plain.contains(&k);
            (k, EnvVar { value: v, secret })
        })
        .collect();

    let mut ports = Vec::new();
    for (i, p) in obj.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let path = format!("{base}.ports[{i}]");
        let target = p.get("target").and_then(Value::as_u64).and_then(|t| u16::try_from(t).ok()).ok_or_else(|| shape(&path, "needs a numeric `target`"))?;
        if p.get("protocol").and_then(Value::as_str) == Some("udp") {
            ctx.warn(path, "the Dokku proxy forwards HTTP only; UDP ports are not published");
            continue;
        }
        if p.get("host_ip").is_some() {
            ctx.warn(format!("{path}.host_ip"), "the Dokku proxy listens on every address; not applied");
        }
        let host = p.get("published").and_then(Value::as_str).and_then(|s| s.parse::<u16>().ok()).unwrap_or(target);
        // The scheme comes from `app_protocol` when it is one the nginx proxy speaks.
        let scheme = match p.get("app_protocol").and_then(Value::as_str) {
            Some(proto @ ("http" | "https" | "grpc" | "grpcs")) => proto,
            Some(other) => {
                ctx.warn(format!("{path}.app_protocol"), format!("the proxy speaks http, https, grpc and grpcs; `{other}` served as http"));
                "http"
            }
            None => "http",
        };
        ports.push(Port { scheme: scheme.into(), host, container: target });
    }
    ports.sort_by_key(|p| (p.host, p.container));
    ports.dedup();
    if ports.is_empty() {
        if let Some(pp) = settings.proxy_port {
            ports.push(Port { scheme: "http".into(), host: 80, container: pp });
        }
    }

    if ports.is_empty() && !settings.domains.is_empty() {
        ctx.warn(format!("{base}.x-dokku.domains"), "the service publishes no port and has no `proxy_port`, so the proxy is disabled and the domains serve nothing");
    }
    let (networks, aliases) = service_networks(ctx, name, obj, &base);

    let mut mounts = Vec::new();
    let mut files = BTreeMap::new();
    for (i, v) in obj.get("volumes").and_then(Value::as_array).into_iter().flatten().enumerate() {
        convert_volume(ctx, name, v, &format!("{base}.volumes[{i}]"), is_build, &mut mounts, &mut files, &mut opt)?;
    }
    if obj.get("use_api_socket").and_then(Value::as_bool) == Some(true) {
        mounts.push(Mount::HostPath {
            source: "/var/run/docker.sock".into(),
            target: "/var/run/docker.sock".into(),
            read_only: false,
            path: format!("{base}.use_api_socket"),
        });
    }
    for (i, c) in obj.get("configs").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let path = format!("{base}.configs[{i}]");
        let src = c.get("source").and_then(Value::as_str).unwrap_or_default();
        let target = c.get("target").and_then(Value::as_str).map_or_else(|| format!("/{src}"), str::to_owned);
        if is_build {
            ctx.warn(path, "configs of build services are not copied; add the file to the build context");
            continue;
        }
        let def = ctx.configs.get(src).cloned().unwrap_or(Value::Null);
        if let Some(file) = def.get("file").and_then(Value::as_str) {
            files.insert(target, FileSource::Source { path: ctx.relative(file) });
        } else if let Some(content) = def.get("content").and_then(Value::as_str) {
            files.insert(target, FileSource::Content { content: content.to_owned() });
        } else {
            ctx.warn(path, "only `file` and `content` configs can be copied into the image; not applied");
        }
    }

    let mut replicas = obj.get("scale").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
    let mut limits = Resources {
        cpu: obj.get("cpus").and_then(number_text),
        memory_mb: obj.get("mem_limit").and_then(megabytes),
        memory_swap_mb: obj.get("memswap_limit").and_then(megabytes),
    };
    let mut reservations = Resources { memory_mb: obj.get("mem_reservation").and_then(megabytes), ..Resources::default() };
    let mut restart_policy = obj.get("restart").and_then(Value::as_str).map(|r| match r {
        "no" => "no".to_owned(),
        other => other.to_owned(),
    });
    if let Some(deploy) = obj.get("deploy").and_then(Value::as_object) {
        for (k, v) in deploy {
            let path = format!("{base}.deploy.{k}");
            match k.as_str() {
                "replicas" => replicas = v.as_u64().and_then(|n| u32::try_from(n).ok()),
                "resources" => {
                    for (which, target) in [("limits", &mut limits), ("reservations", &mut reservations)] {
                        let Some(r) = v.get(which).and_then(Value::as_object) else { continue };
                        for (rk, rv) in r {
                            match rk.as_str() {
                                "cpus" => target.cpu = number_text(rv),
                                "memory" => target.memory_mb = megabytes(rv),
                                "pids" if which == "limits" => opt("deploy.resources.limits.pids", format!("--pids-limit {rv}"), None),
                                _ => ctx.warn(format!("{path}.{which}.{rk}"), "no Dokku resource setting; not applied"),
                            }
                        }
                    }
                }
                "restart_policy" => {
                    let cond = v.get("condition").and_then(Value::as_str).unwrap_or("any");
                    restart_policy = Some(match (cond, v.get("max_attempts").and_then(Value::as_u64)) {
                        ("none", _) => "no".to_owned(),
                        ("on-failure", Some(n)) => format!("on-failure:{n}"),
                        ("on-failure", None) => "on-failure".to_owned(),
                        _ => "always".to_owned(),
                    });
                    for extra in ["delay", "window"] {
                        if v.get(extra).is_some() {
                            ctx.warn(format!("{path}.{extra}"), "Docker restart policies have no delay or window; not applied");
                        }
                    }
                }
                "mode" if v.as_str() == Some("replicated") => {}
                _ if is_unset(v) => {}
                _ => ctx.warn(path, "Swarm deployment settings have no Dokku equivalent; not applied"),
            }
        }
    }
    if settings.state == super::xdokku::ExpectedState::Stopped {
        replicas = Some(0);
    }
    let stop_timeout = obj.get("stop_grace_period").and_then(Value::as_str).and_then(duration_secs);
    let mut log_max_size = None;
    if let Some(logging) = obj.get("logging").and_then(Value::as_object) {
        let driver = logging.get("driver").and_then(Value::as_str).unwrap_or("json-file");
        if matches!(driver, "json-file" | "local") {
            log_max_size = logging.get("options").and_then(|o| o.get("max-size")).and_then(Value::as_str).map(str::to_owned);
            if logging.get("options").and_then(Value::as_object).is_some_and(|o| o.keys().any(|k| k != "max-size")) {
                ctx.warn(format!("{base}.logging.options"), "only `max-size` has a Dokku setting (`logs:set max-size`); other options not applied");
            }
        } else {
            ctx.warn(format!("{base}.logging.driver"), format!("Dokku uses the host's logging driver; `{driver}` not applied"));
        }
    }

    // Container shaping through docker options (docker-local; see docs/mapping.md for k3s).
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(number_text).collect(),
            _ => Vec::new(),
        }
    };
    if let Some(sig) = obj.get("stop_signal").and_then(Value::as_str) {
        opt("stop_signal", format!("--stop-signal {sig}"), None);
    }
    if let Some(sz) = obj.get("shm_size").and_then(bytes) {
        opt("shm_size", format!("--shm-size {sz}"), None);
    }
    if obj.get("init").and_then(Value::as_bool) == Some(true) {
        opt("init", "--init".into(), None);
    }
    if obj.get("read_only").and_then(Value::as_bool) == Some(true) {
        opt("read_only", "--read-only".into(), None);
    }
    if obj.get("privileged").and_then(Value::as_bool) == Some(true) {
        opt("privileged", "--privileged".into(), Some(PolicyRule::Privileged));
    }
    for t in list(obj.get("tmpfs")) {
        opt("tmpfs", format!("--tmpfs {t}"), None);
    }
    match obj.get("extra_hosts") {
        Some(Value::Array(a)) => {
            for h in a.iter().filter_map(Value::as_str) {
                let (host, ip) = h.split_once('=').or_else(|| h.split_once(':')).unwrap_or((h, ""));
                opt("extra_hosts", format!("--add-host {host}:{ip}"), None);
            }
        }
        Some(Value::Object(m)) => {
            for (host, ips) in m {
                for ip in list(Some(ips)) {
                    opt("extra_hosts", format!("--add-host {host}:{ip}"), None);
                }
            }
        }
        _ => {}
    }
    if let Some(u) = obj.get("ulimits").and_then(Value::as_object) {
        for (k, v) in u {
            let val = match v {
                Value::Number(n) => format!("{n}:{n}"),
                _ => format!(
                    "{}:{}",
                    v.get("soft").map(ToString::to_string).unwrap_or_default(),
                    v.get("hard").map(ToString::to_string).unwrap_or_default()
                ),
            };
            opt("ulimits", format!("--ulimit {k}={val}"), None);
        }
    }
    for cap in list(obj.get("cap_add")) {
        let bare = cap.trim_start_matches("CAP_").to_ascii_uppercase();
        let rule = DANGEROUS_CAPS.contains(&bare.as_str()).then_some(PolicyRule::CapAdd);
        opt("cap_add", format!("--cap-add {bare}"), rule);
    }
    for cap in list(obj.get("cap_drop")) {
        opt("cap_drop", format!("--cap-drop {cap}"), None);
    }
    for (i, d) in obj.get("devices").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let spec = match d {
            Value::String(s) => s.clone(),
            _ => {
                let s = d.get("source").and_then(Value::as_str).unwrap_or_default();
                let t = d.get("target").and_then(Value::as_str).unwrap_or(s);
                let p = d.get("permissions").and_then(Value::as_str).unwrap_or("rwm");
                format!("{s}:{t}:{p}")
            }
        };
        opts.push(DockerOption { phase: "deploy", option: format!("--device {spec}"), path: format!("{base}.devices[{i}]"), rule: Some(PolicyRule::Devices) });
    }
    let mut opt = |key: &str, option: String, rule: Option<PolicyRule>| {
        opts.push(DockerOption { phase: "deploy", option, path: format!("{base}.{key}"), rule });
    };
    for r in list(obj.get("device_cgroup_rules")) {
        opt("device_cgroup_rules", format!("--device-cgroup-rule {r}"), Some(PolicyRule::Devices));
    }
    for s in list(obj.get("security_opt")) {
        let harmless = s == "no-new-privileges" || s == "no-new-privileges:true" || s == "no-new-privileges=true";
        opt("security_opt", format!("--security-opt {s}"), (!harmless).then_some(PolicyRule::SecurityOpt));
    }
    match obj.get("sysctls") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                opt("sysctls", format!("--sysctl {k}={}", number_text(v).unwrap_or_default()), Some(PolicyRule::Sysctls));
            }
        }
        Some(Value::Array(a)) => {
            for s in a.iter().filter_map(Value::as_str) {
                opt("sysctls", format!("--sysctl {s}"), Some(PolicyRule::Sysctls));
            }
        }
        _ => {}
    }
    for (key, flag) in [("network_mode", "--network"), ("pid", "--pid"), ("ipc", "--ipc"), ("uts", "--uts"), ("userns_mode", "--userns"), ("cgroup", "--cgroupns")] {
        match obj.get(key).and_then(Value::as_str) {
            Some("host") => opt(key, format!("{flag} host"), Some(PolicyRule::HostNamespaces)),
            Some(m) if m.starts_with("service:") => ctx.warn(format!("{base}.{key}"), "shared namespaces become an ordering edge; the service gets its own namespace on Dokku"),
            Some(m) if m.starts_with("container:") => {
                return Err(ModelError::Rejected { path: format!("{base}.{key}"), reason: "containers outside the stack cannot be referenced".into() })
            }
            Some("bridge" | "default" | "private") | None => {}
            Some(m) => opt(key, format!("{flag} {m}"), None),
        }
    }
    for (key, flag) in [("dns", "--dns"), ("dns_opt", "--dns-option"), ("dns_search", "--dns-search"), ("group_add", "--group-add")] {
        for v in list(obj.get(key)) {
            opt(key, format!("{flag} {v}"), None);
        }
    }
    for (key, flag) in [("cpu_shares", "--cpu-shares"), ("cpu_quota", "--cpu-quota"), ("cpu_period", "--cpu-period"), ("cpuset", "--cpuset-cpus"), ("mem_swappiness", "--memory-swappiness"), ("oom_score_adj", "--oom-score-adj"), ("pids_limit", "--pids-limit")] {
        if let Some(v) = obj.get(key).and_then(number_text) {
            opt(key, format!("{flag} {v}"), None);
        }
    }
    if let Source::Build(b) = &source {
        for (k, v) in &b.args {
            opts.push(DockerOption { phase: "build", option: format!("--build-arg {k}={v}"), path: format!("{base}.build.args.{k}"), rule: None });
        }
        if let Some(t) = &b.target {
            opts.push(DockerOption { phase: "build", option: format!("--target {t}"), path: format!("{base}.build.target"), rule: None });
        }
    }

    Ok(AppSpec {
        app,
        source,
        command,
        entrypoint,
        working_dir,
        user,
        healthcheck,
        env,
        links: BTreeMap::new(),
        ports,
        networks,
        aliases,
        mounts,
        files,
        replicas,
        limits,
        reservations,
        restart_policy,
        stop_timeout,
        log_max_size,
        docker_options: opts,
    })
}

fn convert_build(ctx: &mut Ctx<'_>, b: &Value, path: &str) -> Result<Build, ModelError> {
    let obj = b.as_object().ok_or_else(|| shape(path, "must be a mapping"))?;
    let mut build = Build { context: ".".into(), dockerfile: "Dockerfile".into(), target: None, args: BTreeMap::new() };
    for (k, v) in obj {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "context" => {
                let c = v.as_str().unwrap_or(".");
                if c.contains("://") || c.starts_with("git@") {
                    return Err(ModelError::Rejected { path: p, reason: "remote build contexts are not in the pushed source".into() });
                }
                build.context = ctx.relative(c);
            }
            "dockerfile" => build.dockerfile = v.as_str().unwrap_or("Dockerfile").to_owned(),
            "target" => build.target = v.as_str().map(str::to_owned),
            "args" => {
                for (ak, av) in v.as_object().into_iter().flatten() {
                    match av {
                        Value::Null => ctx.warn(format!("{p}.{ak}"), "has no value; not passed"),
                        Value::String(s) => {
                            build.args.insert(ak.clone(), s.clone());
                        }
                        other => {
                            build.args.insert(ak.clone(), other.to_string());
                        }
                    }
                }
            }
            "dockerfile_inline" => {
                return Err(ModelError::Rejected { path: p, reason: "Dokku builds from a Dockerfile in the pushed source; commit the Dockerfile".into() })
            }
            "privileged" if v.as_bool() == Some(true) => {
                return Err(ModelError::Rejected { path: p, reason: "privileged builds would give the pusher root on the host".into() })
            }
            _ if is_unset(v) => {}
            _ => ctx.warn(p, "not supported by Dokku's Dockerfile builder; not applied"),
        }
    }
    if build.context.starts_with("..") {
        return Err(ModelError::Rejected { path: format!("{path}.context"), reason: "the build context must be inside the pushed source".into() });
    }
    Ok(build)
}

fn convert_healthcheck(ctx: &mut Ctx<'_>, h: &Map<String, Value>, path: &str) -> Option<Healthcheck> {
    let test: Vec<String> = h.get("test")?.as_array()?.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    let command = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        Some("NONE") | None => return None,
        Some(_) => test,
    };
    let secs = |k: &str| h.get(k).and_then(Value::as_str).and_then(duration_secs);
    if h.contains_key("start_interval") {
        ctx.warn(format!("{path}.start_interval"), "Dokku checks have one interval; not applied");
    }
    Some(Healthcheck {
        command,
        interval: secs("interval"),
        timeout: secs("timeout"),
        retries: h.get("retries").and_then(Value::as_u64),
        start_period: secs("start_period"),
    })
}

#[expect(clippy::too_many_arguments, reason = "the volume mapping writes into several parts of the app spec")]
fn convert_volume(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    v: &Value,
    path: &str,
    is_build: bool,
    mounts: &mut Vec<Mount>,
    files: &mut BTreeMap<String, FileSource>,
    opt: &mut impl FnMut(&str, String, Option<PolicyRule>),
) -> Result<(), ModelError> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("volume");
    let target = v.get("target").and_then(Value::as_str).ok_or_else(|| shape(path, "needs a `target`"))?.to_owned();
    let read_only = v.get("read_only").and_then(Value::as_bool) == Some(true);
    let source = v.get("source").and_then(Value::as_str);
    match (kind, source) {
        ("volume", Some(src)) => {
            let (storage, external, docker_name) = ctx.volumes.get(src).cloned().ok_or_else(|| shape(path, "names an undefined volume"))?;
            if external {
                mounts.push(Mount::HostPath { source: docker_name, target, read_only, path: path.to_owned() });
            } else {
                ctx.storage.entry(storage.clone()).or_insert(None);
                mounts.push(Mount::Entry { name: storage, target, read_only, seed_from: None });
            }
        }
        ("volume", None) => {
            let storage = StorageName::for_volume(ctx.stack, &format!("{name}{}", target.replace('/', "-")));
            ctx.warn(path, format!("anonymous volume kept as storage entry `{storage}`"));
            ctx.storage.entry(storage.clone()).or_insert(None);
            mounts.push(Mount::Entry { name: storage, target, read_only, seed_from: None });
        }
        ("bind", Some(src)) => {
            let rel = ctx.relative(src);
            // Outside the pushed source (absolute, `~`-expanded, `../`): a host path for the policy.
            if src.ends_with("/docker.sock") || rel.starts_with('/') || rel.starts_with("..") {
                mounts.push(Mount::HostPath { source: src.to_owned(), target, read_only, path: path.to_owned() });
            } else if read_only && !is_build {
                files.insert(target, FileSource::Source { path: rel });
            } else {
                let storage = StorageName::for_volume(ctx.stack, &rel.replace(['/', '.'], "-"));
                ctx.storage.insert(storage.clone(), Some(rel.clone()));
                mounts.push(Mount::Entry { name: storage, target, read_only, seed_from: Some(rel) });
            }
        }
        ("tmpfs", _) => opt("volumes", format!("--tmpfs {target}"), None),
        _ => ctx.warn(path, format!("`{kind}` mounts have no Dokku equivalent; not applied")),
    }
    Ok(())
}

/// A service that another one waits for with `service_completed_successfully` is a job:
/// unless `x-dokku` says otherwise it runs once per deploy (docs/mapping.md "One-shot jobs").
fn infer_one_shot(services: &mut BTreeMap<ServiceName, Service>, warnings: &mut Vec<Warning>) {
    let mut jobs: BTreeMap<ServiceName, String> = BTreeMap::new();
    for (name, svc) in services.iter() {
        for (dep, spec) in &svc.depends_on {
            if spec.condition == "service_completed_successfully" {
                jobs.entry(dep.clone()).or_insert_with(|| format!("services.{name}.depends_on.{dep}"));
            }
        }
    }
    for (job, path) in jobs {
        let Some(svc) = services.get_mut(&job) else { continue };
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
            message: format!("runs as a one-shot job on each deploy, because `{path}` waits for it to complete"),
        });
    }
}

fn resolve_volumes_from(services: &mut BTreeMap<ServiceName, Service>) {
    let shared: BTreeMap<ServiceName, Vec<Mount>> = services
        .iter()
        .filter_map(|(n, s)| s.app().map(|a| (n.clone(), a.mounts.clone())))
        .collect();
    for svc in services.values_mut() {
        let from: Vec<ServiceName> = svc.other_edges.iter().filter(|(_, k)| *k == "volumes_from").map(|(n, _)| n.clone()).collect();
        if let Kind::App(app) = &mut svc.kind {
            for f in from {
                for m in shared.get(&f).into_iter().flatten() {
                    if !app.mounts.contains(m) {
                        app.mounts.push(m.clone());
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
        assert_eq!(split_shell_words(r#"sh -c "echo 'a b'" x\ y"#), ["sh", "-c", "echo 'a b'", "x y"]);
        assert_eq!(split_shell_words("  "), Vec::<String>::new());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_secs("1m30s"), Some(90));
        assert_eq!(duration_secs("500ms"), Some(1));
        assert_eq!(duration_secs("10s"), Some(10));
        assert_eq!(duration_secs("x"), None);
    }

    fn convert(json: serde_json::Value) -> Result<(Project, Vec<Warning>), ModelError> {
        let opts = ConvertOptions { stack: StackName::parse("s").unwrap(), project_dir: "/p".into() };
        from_compose_json(&json, &opts)
    }

    #[test]
    fn every_key_is_classified() {
        let (_, warnings) = convert(serde_json::json!({"services": {"web": {
            "image": "nginx", "labels": {"a": "b"}, "tty": true, "stdin_open": false, "x-anchor": 1
        }}}))
        .unwrap();
        let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["`services.web.labels`: Dokku manages container labels", "`services.web.tty`: Dokku containers run detached"]);
    }

    #[test]
    fn unknown_and_rejected_keys_are_errors() {
        let e = convert(serde_json::json!({"services": {"web": {"image": "x", "imagee": "y"}}})).unwrap_err();
        assert_eq!(e.to_string(), "`services.web.imagee`: unknown compose key");
        let e = convert(serde_json::json!({"services": {"web": {"image": "x", "oom_kill_disable": true}}})).unwrap_err();
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
        assert_eq!(v("JDBC"), "jdbc:postgresql://postgres:pw@dokku-postgres-s-db:5432/s_db?ssl=true");
        assert_eq!(v("OTHER"), "dbx");
        assert!(web.links.contains_key(&ServiceName::new("db")));
        let db = p.services[&ServiceName::new("db")].datastore().unwrap();
        assert_eq!((db.plugin, db.version.as_deref(), db.password.as_deref()), ("postgres", Some("16"), Some("pw")));
    }

    #[test]
    fn generated_passwords_come_from_the_link() {
        let (p, warnings) = convert(serde_json::json!({"services": {
            "cache": {"image": "redis:7"},
            "web": {"image": "x", "environment": {"REDIS_URL": "redis://cache:6379", "JOBS_URL": "redis://cache:6379/1", "RAW": "redis://cache"}}
        }}))
        .unwrap();
        let web = p.services[&ServiceName::new("web")].app().unwrap();
        assert!(!web.env.contains_key("REDIS_URL"));
        assert!(!web.env.contains_key("JOBS_URL"));
        assert_eq!(web.links[&ServiceName::new("cache")].alias.as_deref(), Some("JOBS"));
        assert_eq!(
            warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["`services.web.environment.RAW`: points at datastore `cache`, whose password the plugin generates; read `REDIS_URL` set by the link instead"]
        );
    }

    #[test]
    fn x_dokku_in_both_places_is_an_error() {
        let e = convert(serde_json::json!({
            "x-dokku": {"services": {"web": {"state": "stopped"}}},
            "services": {"web": {"image": "x", "x-dokku": {"state": "running"}}}
        }))
        .unwrap_err();
        assert_eq!(e.to_string(), "`services.web.x-dokku`: settings for `web` are also in `x-dokku.services.web`; keep one");
        let e = convert(serde_json::json!({"x-dokku": {"services": {"nope": {}}}, "services": {}})).unwrap_err();
        assert_eq!(e.to_string(), "`x-dokku.services.nope`: names no service of the project");
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
                "`services.web.x-dokku.letsencrypt`: no `x-dokku.letsencrypt_email`: `letsencrypt:enable` needs the global e-mail (`dokku letsencrypt:set --global email …`)",
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
