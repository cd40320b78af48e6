//! Conversion of one app service (not a datastore): image or build, the container-shaping
//! keys, ports, volumes, configs, resources and docker options. Called from
//! [`super::project`] for every service that is not a datastore.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::docker_opt::{DockerOpt, Flag};
use super::error::ModelError;
use super::names::{AppName, ServiceName, StorageName};
use super::project::{env_map, is_unset, service_networks, shape, Ctx, Fields};
use super::service::{
    AppSpec, Build, DockerOption, EnvVar, FileSource, Healthcheck, Mount, Port, Resources,
    SecretDelivery, SecretUse, Source,
};
use super::xdokku::ServiceSettings;

/// `command`/`entrypoint` (`key`) of the service at `base`, as an argv.
fn exec_form(v: &Value, base: &str, key: &str) -> Result<Option<Vec<String>>, ModelError> {
    let path = || format!("{base}.{key}");
    match v {
        Value::Null => Ok(None),
        Value::String(s) => split_shell_words(s)
            .map(Some)
            .map_err(|e| shape(&path(), &e)),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| shape(&path(), "must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(shape(&path(), "must be a string or a list of strings")),
    }
}

/// Splits a command string the way compose does (POSIX shell words: quotes and backslashes,
/// nothing expanded); unbalanced quotes are an error.
pub fn split_shell_words(s: &str) -> Result<Vec<String>, String> {
    shell_words::split(s)
        .map_err(|e| format!("`{}` is not a valid command line: {e}", s.escape_debug()))
}

/// Parses a compose duration (`1m30s`, `500ms`, `10s`) into whole seconds, rounding up.
pub fn duration_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    // The loader prints durations in Go's form; a bare number is nanoseconds.
    let ns = if s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse::<i128>().ok()?
    } else {
        crate::compose::syntax::parse_duration(s).ok()?
    };
    u64::try_from(ns).ok().map(|ns| ns.div_ceil(1_000_000_000))
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

/// The docker options of one service, each built as a typed (flag, value) pair and checked
/// against the flag's grammar before it is rendered (see [`super::docker_opt`]).
struct Opts {
    base: String,
    list: Vec<DockerOption>,
}

impl Opts {
    /// Adds `flag value` from the key at `<base>.<key>`; a value that is not one safe word of
    /// the flag's grammar is refused with the key path and the reason.
    fn add(&mut self, key: &str, flag: Flag, value: Option<&str>) -> Result<(), ModelError> {
        let path = format!("{}.{key}", self.base);
        self.add_at(path, flag, value)
    }

    fn add_at(&mut self, path: String, flag: Flag, value: Option<&str>) -> Result<(), ModelError> {
        let typed = match value {
            Some(v) => DockerOpt::new(flag, v),
            None => DockerOpt::bare(flag),
        };
        let typed = typed.map_err(|problem| ModelError::Rejected {
            path: path.clone(),
            reason: format!(
                "{problem}; it becomes the docker option `{}`, and Dokku splits stored docker options into words, so a value that is not one word of that form could add docker flags of its own",
                flag.name()
            ),
        })?;
        self.list.push(DockerOption {
            phase: flag.phase(),
            option: typed.render(),
            path,
            rule: typed.rule(),
        });
        Ok(())
    }
}

/// A string-or-list key as `(key path, value)` pairs: `key` for a string, `key[i]` for items.
fn items(obj: &Fields<'_>, key: &str) -> Vec<(String, String)> {
    match obj.get(key) {
        Some(Value::String(s)) => vec![(key.to_owned(), s.clone())],
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .filter_map(|(i, v)| number_text(v).map(|t| (format!("{key}[{i}]"), t)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A compose integer or numeric string as text; other JSON values as their JSON text (which
/// the flag grammars then refuse).
fn int_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How one compose port is published.
#[derive(Debug, PartialEq, Eq)]
enum PortRoute<'a> {
    /// Through Dokku's HTTP proxy, with this scheme (`http`, `https`, `grpc`, `grpcs`).
    Proxy(&'static str),
    /// By docker (`-p`), on `ip` when the port is bound to one address.
    Direct { ip: Option<&'a str>, udp: bool },
}

/// Container ports whose well-known protocol is not HTTP: mail, DNS, directory, MQTT,
/// databases, message brokers, game servers, VPNs. Published directly unless `app_protocol`
/// says HTTP.
const NON_HTTP_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 110, 143, 389, 465, 587, 636, 993, 995, 1194, 1433, 1521, 1883, 2049, 3306,
    3478, 4222, 5222, 5269, 5432, 5672, 6379, 6380, 7687, 8883, 9042, 9092, 11211, 19132, 25565,
    26379, 27015, 27017, 51820,
];

/// Which way a compose port entry (long form) goes (docs/mapping.md "Ports"): a UDP port or
/// one bound to one address (`host_ip`) is published by docker; else `app_protocol` decides
/// when given (the proxy's protocols go through the proxy, any other is published by docker);
/// else a container port serving TLS itself (443) or one whose well-known protocol is not HTTP
/// is published by docker, and the rest goes through the proxy as HTTP.
fn port_route(p: &Value, target: u16) -> PortRoute<'_> {
    let udp = p.get("protocol").and_then(Value::as_str) == Some("udp");
    let ip = p
        .get("host_ip")
        .and_then(Value::as_str)
        .filter(|ip| !matches!(*ip, "" | "0.0.0.0" | "::"));
    let direct = PortRoute::Direct { ip, udp };
    if udp || ip.is_some() {
        return direct;
    }
    match p
        .get("app_protocol")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("http" | "http1" | "http2" | "ws") => PortRoute::Proxy("http"),
        Some("https" | "wss") => PortRoute::Proxy("https"),
        Some("grpc" | "h2c") => PortRoute::Proxy("grpc"),
        Some("grpcs") => PortRoute::Proxy("grpcs"),
        Some(_) => direct,
        None if target == 443 || NON_HTTP_PORTS.contains(&target) => direct,
        None => PortRoute::Proxy("http"),
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one arm per compose key keeps the mapping readable in one place"
)]
pub(super) fn convert_app(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    app: AppName,
    obj: &Fields<'_>,
    settings: &ServiceSettings,
) -> Result<AppSpec, ModelError> {
    let base = format!("services.{name}");
    let mut opts = Opts {
        base: base.clone(),
        list: Vec::new(),
    };

    let source = match obj.get("build") {
        Some(b) => Source::Build(convert_build(ctx, b, &format!("{base}.build"))?),
        None => match obj.get("image").and_then(Value::as_str) {
            Some(image) => Source::Image {
                image: image.to_owned(),
            },
            None => return Err(shape(&base, "has neither `image` nor `build`")),
        },
    };
    let is_build = matches!(source, Source::Build(_));
    let command = exec_form(obj.get("command").unwrap_or(&Value::Null), &base, "command")?;
    let entrypoint = exec_form(
        obj.get("entrypoint").unwrap_or(&Value::Null),
        &base,
        "entrypoint",
    )?;
    let working_dir = obj
        .get("working_dir")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let user = obj.get("user").and_then(Value::as_str).map(str::to_owned);
    if is_build {
        if let Some(ep) = &entrypoint {
            // `docker run --entrypoint` takes one executable; its arguments cannot follow it.
            match ep.as_slice() {
                [exe] => opts.add("entrypoint", Flag::Entrypoint, Some(exe))?,
                [] => {}
                _ => {
                    return Err(ModelError::Rejected {
                        path: format!("{base}.entrypoint"),
                        reason: "a build service's entrypoint is set with `docker run --entrypoint`, which takes one executable; put its arguments in `command`".into(),
                    })
                }
            }
            ctx.warn(
                format!("{base}.entrypoint"),
                "set with a docker option, which the k3s scheduler ignores",
            );
        }
        if let Some(u) = &user {
            opts.add("user", Flag::User, Some(u))?;
        }
        if let Some(w) = &working_dir {
            opts.add("working_dir", Flag::Workdir, Some(w))?;
        }
    }

    let healthcheck = match obj.get("healthcheck").and_then(Value::as_object) {
        Some(h) if h.get("disable").and_then(Value::as_bool) != Some(true) => {
            convert_healthcheck(ctx, h, &base)
        }
        _ => None,
    };

    let env = env_map(obj, &base, true, &mut ctx.warnings)?
        .into_iter()
        .map(|(k, v)| {
            let secret = super::secret::env_is_secret(&k, &v, &settings.plain);
            (k, EnvVar { value: v, secret })
        })
        .collect();

    let mut ports = Vec::new();
    for (i, p) in obj
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = || format!("{base}.ports[{i}]");
        let target = p
            .get("target")
            .and_then(Value::as_u64)
            .and_then(|t| u16::try_from(t).ok())
            .ok_or_else(|| shape(&path(), "needs a numeric `target`"))?;
        let host = match p.get("published").and_then(Value::as_str) {
            None | Some("") => target,
            Some(s) => s.parse::<u16>().ok().filter(|h| *h > 0).ok_or_else(|| ModelError::Rejected {
                path: format!("{}.published", path()),
                reason: format!("`{s}` is not one host port; Dokku publishes fixed ports (no ranges, no random port)"),
            })?,
        };
        match port_route(p, target) {
            PortRoute::Proxy(scheme) => ports.push(Port {
                scheme: scheme.into(),
                host,
                container: target,
            }),
            PortRoute::Direct { ip, udp } => {
                // Published by docker itself (`docker-options` `-p`), as Dokku users publish
                // TCP/UDP and address-bound ports: the proxy speaks HTTP on every address.
                let addr = match ip {
                    Some(ip) if ip.contains(':') => format!("[{ip}]:"),
                    Some(ip) => format!("{ip}:"),
                    None => String::new(),
                };
                if matches!(host, 80 | 443) && ip.is_none() && !udp {
                    ctx.warn(path(), format!("published by docker on host port {host}, which Dokku's nginx proxy listens on; the deploy fails while the proxy holds it"));
                }
                opts.add_at(
                    path(),
                    Flag::Publish,
                    Some(&format!(
                        "{addr}{host}:{target}{}",
                        if udp { "/udp" } else { "" }
                    )),
                )?;
            }
        }
    }
    ports.sort_by_key(|p| (p.host, p.container));
    ports.dedup();
    if ports.is_empty() {
        if let Some(pp) = settings.proxy_port {
            ports.push(Port {
                scheme: "http".into(),
                host: 80,
                container: pp,
            });
        }
    }

    if ports.is_empty() && !settings.domains.is_empty() {
        ctx.warn(format!("{base}.x-dokku.domains"), "the service publishes no port and has no `proxy_port`, so the proxy is disabled and the domains serve nothing");
    }
    let (networks, aliases) = service_networks(ctx, name, obj, &base);

    let mut mounts = Vec::new();
    let mut files = BTreeMap::new();
    for (i, v) in obj
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        convert_volume(
            ctx,
            name,
            v,
            &|| format!("{base}.volumes[{i}]"),
            is_build,
            &mut mounts,
            &mut files,
            &mut opts,
        )?;
    }
    if obj.get("use_api_socket").and_then(Value::as_bool) == Some(true) {
        mounts.push(Mount::HostPath {
            source: "/var/run/docker.sock".into(),
            target: "/var/run/docker.sock".into(),
            read_only: false,
            path: format!("{base}.use_api_socket"),
        });
    }
    for (i, c) in obj
        .get("configs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = || format!("{base}.configs[{i}]");
        let src = c.get("source").and_then(Value::as_str).unwrap_or_default();
        let target = c
            .get("target")
            .and_then(Value::as_str)
            .map_or_else(|| format!("/{src}"), str::to_owned);
        if is_build {
            ctx.warn(
                path(),
                "configs of build services are not copied; add the file to the build context",
            );
            continue;
        }
        let def = ctx.configs.get(src);
        if let Some(file) = def.and_then(|d| d.get("file")).and_then(Value::as_str) {
            files.insert(
                target,
                FileSource::Source {
                    path: ctx.relative(file),
                },
            );
        } else if let Some(content) = def.and_then(|d| d.get("content")).and_then(Value::as_str) {
            files.insert(
                target,
                FileSource::Content {
                    content: content.to_owned(),
                },
            );
        } else {
            ctx.warn(
                path(),
                "only `file` and `content` configs can be copied into the image; not applied",
            );
        }
    }

    let mut secrets = Vec::new();
    for (i, c) in obj
        .get("secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("{base}.secrets[{i}]");
        let Some(src) = c.get("source").and_then(Value::as_str) else {
            continue;
        };
        let def = ctx.secrets.get(src);
        if def
            .and_then(|d| d.get("file").or_else(|| d.get("environment")))
            .is_none()
        {
            return Err(ModelError::Extension {
                path,
                message: format!(
                    "secret `{src}` needs `file` or `environment` to have a value on Dokku"
                ),
            });
        }
        let delivery = if settings.secrets_as_env {
            let var: String = src
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let var = if var.starts_with(|c: char| c.is_ascii_digit()) {
                format!("_{var}")
            } else {
                var
            };
            SecretDelivery::Env(var)
        } else {
            let target = c.get("target").and_then(Value::as_str).unwrap_or(src);
            SecretDelivery::File(if target.starts_with('/') {
                target.to_owned()
            } else {
                format!("/run/secrets/{target}")
            })
        };
        secrets.push(SecretUse {
            name: src.to_owned(),
            delivery,
        });
    }
    if settings.backup.is_some() {
        return Err(ModelError::Extension {
            path: format!("x-dokku.services.{name}.backup"),
            message: "backups are for datastore services".into(),
        });
    }

    // Counts beyond u32 saturate, so the stack's limit refuses them instead of ignoring them.
    let mut replicas = obj
        .get("scale")
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let mut replicas_path = replicas.map(|_| format!("{base}.scale"));
    let cpus = |v: &Value, path: String| -> Result<String, ModelError> {
        let t = number_text(v).unwrap_or_default();
        // Dokku prints the value into the `docker run` arguments as `--cpus=<value>`.
        if !t.is_empty()
            && t.chars().all(|c| c.is_ascii_digit() || c == '.')
            && t.parse::<f64>().is_ok_and(|c| c > 0.0)
        {
            Ok(t)
        } else {
            Err(ModelError::Rejected { path, reason: format!("`{t}` is not a positive number of CPUs; Dokku passes it to docker as `--cpus={t}`, where anything but a number could add docker flags") })
        }
    };
    let mut limits = Resources {
        cpu: obj
            .get("cpus")
            .filter(|v| !v.is_null())
            .map(|v| cpus(v, format!("{base}.cpus")))
            .transpose()?,
        memory_mb: obj.get("mem_limit").and_then(megabytes),
        memory_swap_mb: obj.get("memswap_limit").and_then(megabytes),
    };
    let mut reservations = Resources {
        memory_mb: obj.get("mem_reservation").and_then(megabytes),
        ..Resources::default()
    };
    let mut restart_policy = obj.get("restart").and_then(Value::as_str).map(|r| match r {
        "no" => "no".to_owned(),
        other => other.to_owned(),
    });
    if let Some(deploy) = obj.get("deploy").and_then(Value::as_object) {
        for (k, v) in deploy {
            let path = || format!("{base}.deploy.{k}");
            match k.as_str() {
                "replicas" => {
                    replicas = v.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX));
                    replicas_path = replicas.map(|_| path());
                }
                "resources" => {
                    for (which, target) in
                        [("limits", &mut limits), ("reservations", &mut reservations)]
                    {
                        let Some(r) = v.get(which).and_then(Value::as_object) else {
                            continue;
                        };
                        for (rk, rv) in r {
                            match rk.as_str() {
                                "cpus" if rv.is_null() => {}
                                "cpus" => {
                                    target.cpu = Some(cpus(rv, format!("{}.{which}.cpus", path()))?)
                                }
                                "memory" => target.memory_mb = megabytes(rv),
                                "pids" if which == "limits" && !rv.is_null() => opts.add(
                                    "deploy.resources.limits.pids",
                                    Flag::PidsLimit,
                                    Some(&int_text(rv)),
                                )?,
                                _ => ctx.warn(
                                    format!("{}.{which}.{rk}", path()),
                                    "no Dokku resource setting; not applied",
                                ),
                            }
                        }
                    }
                }
                "restart_policy" => {
                    let cond = v.get("condition").and_then(Value::as_str).unwrap_or("any");
                    restart_policy = Some(
                        match (cond, v.get("max_attempts").and_then(Value::as_u64)) {
                            ("none", _) => "no".to_owned(),
                            ("on-failure", Some(n)) => format!("on-failure:{n}"),
                            ("on-failure", None) => "on-failure".to_owned(),
                            _ => "always".to_owned(),
                        },
                    );
                    for extra in ["delay", "window"] {
                        if v.get(extra).is_some() {
                            ctx.warn(
                                format!("{}.{extra}", path()),
                                "Docker restart policies have no delay or window; not applied",
                            );
                        }
                    }
                }
                "mode" if v.as_str() == Some("replicated") => {}
                _ if is_unset(v) => {}
                _ => ctx.warn(
                    path(),
                    "Swarm deployment settings have no Dokku equivalent; not applied",
                ),
            }
        }
    }
    if settings.state == super::xdokku::ExpectedState::Stopped {
        replicas = Some(0);
    }
    let stop_timeout = obj
        .get("stop_grace_period")
        .and_then(Value::as_str)
        .and_then(duration_secs);
    let mut log_max_size = None;
    if let Some(logging) = obj.get("logging").and_then(Value::as_object) {
        let driver = logging
            .get("driver")
            .and_then(Value::as_str)
            .unwrap_or("json-file");
        if matches!(driver, "json-file" | "local") {
            log_max_size = logging
                .get("options")
                .and_then(|o| o.get("max-size"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if logging
                .get("options")
                .and_then(Value::as_object)
                .is_some_and(|o| o.keys().any(|k| k != "max-size"))
            {
                ctx.warn(format!("{base}.logging.options"), "only `max-size` has a Dokku setting (`logs:set max-size`); other options not applied");
            }
        } else {
            ctx.warn(
                format!("{base}.logging.driver"),
                format!("Dokku uses the host's logging driver; `{driver}` not applied"),
            );
        }
    }

    // Container shaping through docker options (docker-local; see docs/mapping.md for k3s).
    if let Some(sig) = obj.get("stop_signal").filter(|v| !v.is_null()) {
        opts.add("stop_signal", Flag::StopSignal, Some(&int_text(sig)))?;
    }
    if let Some(sz) = obj.get("shm_size").filter(|v| !v.is_null()) {
        let text = bytes(sz).map_or_else(|| int_text(sz), |b| b.to_string());
        opts.add("shm_size", Flag::ShmSize, Some(&text))?;
    }
    if obj.get("init").and_then(Value::as_bool) == Some(true) {
        opts.add("init", Flag::Init, None)?;
    }
    if obj.get("read_only").and_then(Value::as_bool) == Some(true) {
        opts.add("read_only", Flag::ReadOnly, None)?;
    }
    if obj.get("privileged").and_then(Value::as_bool) == Some(true) {
        opts.add("privileged", Flag::Privileged, None)?;
    }
    for (key, t) in items(obj, "tmpfs") {
        opts.add(&key, Flag::Tmpfs, Some(&t))?;
    }
    match obj.get("extra_hosts") {
        Some(Value::Array(a)) => {
            for (i, h) in a.iter().enumerate() {
                let h = int_text(h);
                let (host, ip) = h
                    .split_once('=')
                    .or_else(|| h.split_once(':'))
                    .unwrap_or((&h, ""));
                opts.add(
                    &format!("extra_hosts[{i}]"),
                    Flag::AddHost,
                    Some(&format!("{host}:{ip}")),
                )?;
            }
        }
        Some(Value::Object(m)) => {
            for (host, ips) in m {
                let ips: Vec<(String, Value)> = match ips {
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("extra_hosts.{host}[{i}]"), v.clone()))
                        .collect(),
                    v => vec![(format!("extra_hosts.{host}"), v.clone())],
                };
                for (key, ip) in ips {
                    opts.add(
                        &key,
                        Flag::AddHost,
                        Some(&format!("{host}:{}", int_text(&ip))),
                    )?;
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
                    v.get("soft").map(int_text).unwrap_or_default(),
                    v.get("hard").map(int_text).unwrap_or_default()
                ),
            };
            opts.add(
                &format!("ulimits.{k}"),
                Flag::Ulimit,
                Some(&format!("{k}={val}")),
            )?;
        }
    }
    for (key, cap) in items(obj, "cap_add") {
        opts.add(&key, Flag::CapAdd, Some(&cap))?;
    }
    for (key, cap) in items(obj, "cap_drop") {
        opts.add(&key, Flag::CapDrop, Some(&cap))?;
    }
    for (i, d) in obj
        .get("devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let spec = match d {
            Value::String(s) => s.clone(),
            _ => {
                let s = d.get("source").and_then(Value::as_str).unwrap_or_default();
                let t = d.get("target").and_then(Value::as_str).unwrap_or(s);
                let p = d
                    .get("permissions")
                    .and_then(Value::as_str)
                    .unwrap_or("rwm");
                format!("{s}:{t}:{p}")
            }
        };
        opts.add(&format!("devices[{i}]"), Flag::Device, Some(&spec))?;
    }
    for (key, r) in items(obj, "device_cgroup_rules") {
        opts.add(&key, Flag::DeviceCgroupRule, Some(&r))?;
    }
    for (key, s) in items(obj, "security_opt") {
        opts.add(&key, Flag::SecurityOpt, Some(&s))?;
    }
    match obj.get("sysctls") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                opts.add(
                    &format!("sysctls.{k}"),
                    Flag::Sysctl,
                    Some(&format!("{k}={}", int_text(v))),
                )?;
            }
        }
        Some(Value::Array(_)) => {
            for (key, s) in items(obj, "sysctls") {
                opts.add(&key, Flag::Sysctl, Some(&s))?;
            }
        }
        _ => {}
    }
    for (key, flag) in [
        ("network_mode", Flag::Network),
        ("pid", Flag::Pid),
        ("ipc", Flag::Ipc),
        ("uts", Flag::Uts),
        ("userns_mode", Flag::Userns),
        ("cgroup", Flag::Cgroupns),
    ] {
        match obj.get(key).and_then(Value::as_str) {
            Some(m) if m.starts_with("service:") => ctx.warn(format!("{base}.{key}"), "shared namespaces become an ordering edge; the service gets its own namespace on Dokku"),
            Some(m) if m.starts_with("container:") => {
                return Err(ModelError::Rejected { path: format!("{base}.{key}"), reason: "containers outside the stack cannot be referenced".into() })
            }
            Some("bridge" | "default" | "private") | None => {}
            Some(m) => opts.add(key, flag, Some(m))?,
        }
    }
    for (key, flag) in [
        ("dns", Flag::Dns),
        ("dns_opt", Flag::DnsOption),
        ("dns_search", Flag::DnsSearch),
        ("group_add", Flag::GroupAdd),
    ] {
        for (k, v) in items(obj, key) {
            opts.add(&k, flag, Some(&v))?;
        }
    }
    for (key, flag) in [
        ("cpu_shares", Flag::CpuShares),
        ("cpu_quota", Flag::CpuQuota),
        ("cpu_period", Flag::CpuPeriod),
        ("cpuset", Flag::CpusetCpus),
        ("mem_swappiness", Flag::MemorySwappiness),
        ("oom_score_adj", Flag::OomScoreAdj),
        ("pids_limit", Flag::PidsLimit),
    ] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            opts.add(key, flag, Some(&int_text(v)))?;
        }
    }
    if let Source::Build(b) = &source {
        for (k, v) in &b.args {
            opts.add(
                &format!("build.args.{k}"),
                Flag::BuildArg,
                Some(&format!("{k}={v}")),
            )?;
        }
        if let Some(t) = &b.target {
            opts.add("build.target", Flag::Target, Some(t))?;
        }
    }
    for alias in &aliases {
        // The alias becomes `--network-alias <alias>` (the planner renders it through the
        // same typed option); refuse here, with the key path, what it could not carry.
        if let Err(problem) = DockerOpt::new(Flag::NetworkAlias, alias.as_str()) {
            let path = if alias == name.as_str() {
                base.clone()
            } else {
                format!("{base}.networks")
            };
            return Err(ModelError::Rejected {
                path,
                reason: format!("{problem}; it becomes the docker option `--network-alias`, and Dokku splits stored docker options into words, so a value that is not one word of that form could add docker flags of its own"),
            });
        }
    }
    let opts = opts.list;

    Ok(AppSpec {
        secrets,
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
        replicas_path,
        limits,
        reservations,
        restart_policy,
        stop_timeout,
        log_max_size,
        docker_options: opts,
        autoscaling: settings.k3s.autoscaling.clone(),
    })
}

fn convert_build(ctx: &mut Ctx<'_>, b: &Value, path: &str) -> Result<Build, ModelError> {
    let obj = b
        .as_object()
        .ok_or_else(|| shape(path, "must be a mapping"))?;
    let mut build = Build {
        context: ".".into(),
        dockerfile: "Dockerfile".into(),
        target: None,
        args: BTreeMap::new(),
    };
    for (k, v) in obj {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "context" => {
                let c = v.as_str().unwrap_or(".");
                if c.contains("://") || c.starts_with("git@") {
                    return Err(ModelError::Rejected {
                        path: p,
                        reason: "remote build contexts are not in the pushed source".into(),
                    });
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
                return Err(ModelError::Rejected {
                    path: p,
                    reason:
                        "Dokku builds from a Dockerfile in the pushed source; commit the Dockerfile"
                            .into(),
                })
            }
            "privileged" if v.as_bool() == Some(true) => {
                return Err(ModelError::Rejected {
                    path: p,
                    reason: "privileged builds would give the pusher root on the host".into(),
                })
            }
            _ if is_unset(v) => {}
            _ => ctx.warn(
                p,
                "not supported by Dokku's Dockerfile builder; not applied",
            ),
        }
    }
    if build.context.starts_with("..") || build.context.starts_with('/') {
        return Err(ModelError::Rejected { path: format!("{path}.context"), reason: format!("`{}` is outside the pushed tree; the build context must be inside the pushed source", build.context) });
    }
    Ok(build)
}

fn convert_healthcheck(
    ctx: &mut Ctx<'_>,
    h: &Map<String, Value>,
    base: &str,
) -> Option<Healthcheck> {
    let test: Vec<String> = h
        .get("test")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let command = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        Some("NONE") | None => return None,
        Some(_) => test,
    };
    let secs = |k: &str| h.get(k).and_then(Value::as_str).and_then(duration_secs);
    if h.contains_key("start_interval") {
        ctx.warn(
            format!("{base}.healthcheck.start_interval"),
            "Dokku checks have one interval; not applied",
        );
    }
    Some(Healthcheck {
        command,
        interval: secs("interval"),
        timeout: secs("timeout"),
        retries: h.get("retries").and_then(Value::as_u64),
        start_period: secs("start_period"),
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "the volume mapping writes into several parts of the app spec"
)]
fn convert_volume(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    v: &Value,
    path: &dyn Fn() -> String,
    is_build: bool,
    mounts: &mut Vec<Mount>,
    files: &mut BTreeMap<String, FileSource>,
    opts: &mut Opts,
) -> Result<(), ModelError> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("volume");
    let target = v
        .get("target")
        .and_then(Value::as_str)
        .ok_or_else(|| shape(&path(), "needs a `target`"))?
        .to_owned();
    let read_only = v.get("read_only").and_then(Value::as_bool) == Some(true);
    let source = v.get("source").and_then(Value::as_str);
    match (kind, source) {
        ("volume", Some(src)) => {
            let (storage, external, docker_name) = ctx
                .volumes
                .get(src)
                .cloned()
                .ok_or_else(|| shape(&path(), "names an undefined volume"))?;
            if external {
                mounts.push(Mount::HostPath {
                    source: docker_name,
                    target,
                    read_only,
                    path: path(),
                });
            } else {
                ctx.storage.entry(storage.clone()).or_insert(None);
                mounts.push(Mount::Entry {
                    name: storage,
                    target,
                    read_only,
                    seed_from: None,
                });
            }
        }
        ("volume", None) => {
            let storage =
                StorageName::for_volume(ctx.stack, &format!("{name}{}", target.replace('/', "-")));
            ctx.warn(
                path(),
                format!("anonymous volume kept as storage entry `{storage}`"),
            );
            ctx.storage.entry(storage.clone()).or_insert(None);
            mounts.push(Mount::Entry {
                name: storage,
                target,
                read_only,
                seed_from: None,
            });
        }
        ("bind", Some(src)) => {
            let rel = ctx.relative(src);
            // Outside the pushed source (absolute, `~`-expanded, `../`): a host path for the policy.
            if src.ends_with("/docker.sock") || rel.starts_with('/') || rel.starts_with("..") {
                mounts.push(Mount::HostPath {
                    source: src.to_owned(),
                    target,
                    read_only,
                    path: path(),
                });
            } else if !is_build {
                // A source mount follows each push: copied into the image at every deploy, a
                // file stays a file (docs/mapping.md "Source mounts", issue 15 item 5).
                if !read_only {
                    ctx.warn(path(), "the pushed source is copied into the image at every deploy, so the service sees each push; writes inside the container are lost at the next deploy and never reach the source (use a named volume for data)");
                }
                files.insert(target, FileSource::Source { path: rel });
            } else {
                ctx.warn(path(), "a build service's image is its own Dockerfile's: the storage entry is seeded from the pushed source when it is created and later pushes do not change it; COPY the source in the Dockerfile to follow pushes");
                let storage = StorageName::for_volume(ctx.stack, &rel.replace(['/', '.'], "-"));
                ctx.storage.insert(storage.clone(), Some(rel.clone()));
                mounts.push(Mount::Entry {
                    name: storage,
                    target,
                    read_only,
                    seed_from: Some(rel),
                });
            }
        }
        ("tmpfs", _) => opts.add_at(path(), Flag::Tmpfs, Some(&target))?,
        _ => ctx.warn(
            path(),
            format!("`{kind}` mounts have no Dokku equivalent; not applied"),
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::model::{
        from_compose_json, ConvertOptions, Kind, ModelError, PolicyRule, StackName,
    };

    fn convert(
        svc: serde_json::Value,
    ) -> Result<Vec<(String, String, Option<PolicyRule>)>, ModelError> {
        let json = json!({"name": "shop", "services": {"web": svc}});
        let (project, _) = from_compose_json(
            &json,
            &ConvertOptions {
                stack: StackName::sanitise("shop"),
                project_dir: "/src".into(),
            },
        )?;
        let svc = project.services.values().next().unwrap();
        let Kind::App(app) = &svc.kind else {
            panic!("not an app")
        };
        Ok(app
            .docker_options
            .iter()
            .map(|o| (o.path.clone(), o.option.clone(), o.rule))
            .collect())
    }

    fn refused(svc: serde_json::Value) -> (String, String) {
        match convert(svc) {
            Err(ModelError::Rejected { path, reason }) => (path, reason),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn injected_flags_are_refused_with_the_key_path() {
        for (svc, path) in [
            (
                json!({"image": "x", "stop_signal": "SIGTERM --privileged"}),
                "services.web.stop_signal",
            ),
            (
                json!({"image": "x", "dns": ["1.1.1.1", "1.1.1.1 -v /:/host"]}),
                "services.web.dns[1]",
            ),
            (
                json!({"image": "x", "extra_hosts": ["db:10.0.0.1 --privileged"]}),
                "services.web.extra_hosts[0]",
            ),
            (
                json!({"image": "x", "extra_hosts": {"db": "10.0.0.1 --pid host"}}),
                "services.web.extra_hosts.db",
            ),
            (
                json!({"image": "x", "tmpfs": "/tmp -v /:/host"}),
                "services.web.tmpfs",
            ),
            (
                json!({"image": "x", "ulimits": {"nofile": {"soft": "1 --privileged", "hard": 2}}}),
                "services.web.ulimits.nofile",
            ),
            (
                json!({"image": "x", "cpuset": "0 --cap-add ALL"}),
                "services.web.cpuset",
            ),
            (
                json!({"image": "x", "network_mode": "x --network host"}),
                "services.web.network_mode",
            ),
            (
                json!({"image": "x", "pid": "ns:/proc/1/ns/pid"}),
                "services.web.pid",
            ),
            (
                json!({"image": "x", "group_add": ["0 --privileged"]}),
                "services.web.group_add[0]",
            ),
            (
                json!({"image": "x", "sysctls": {"kernel.core_pattern": "|/x"}}),
                "services.web.sysctls.kernel.core_pattern",
            ),
            (
                json!({"image": "x", "volumes": [{"type": "tmpfs", "target": "/t -v /:/host"}]}),
                "services.web.volumes[0]",
            ),
            (
                json!({"image": "x", "cpus": "1 --privileged"}),
                "services.web.cpus",
            ),
            (
                json!({"image": "x", "networks": {"default": {"aliases": ["a --privileged"]}}}),
                "services.web.networks",
            ),
            (
                json!({"build": {"context": ".", "target": "t --privileged"}}),
                "services.web.build.target",
            ),
            (
                json!({"build": {"context": "."}, "user": "root --privileged"}),
                "services.web.user",
            ),
            (
                json!({"build": {"context": "."}, "working_dir": "/srv -v /:/host"}),
                "services.web.working_dir",
            ),
            (
                json!({"build": {"context": ".", "args": {"A": "x\n--privileged"}}}),
                "services.web.build.args.A",
            ),
        ] {
            let (p, reason) = refused(svc);
            assert_eq!(p, path, "{reason}");
            assert!(reason.contains("Dokku"), "{reason}");
        }
    }

    #[test]
    fn ports_go_through_the_proxy_or_docker_by_protocol() {
        let port = |p: serde_json::Value| {
            let json = json!({"name": "shop", "services": {"web": {"image": "x", "ports": [p]}}});
            let (project, _) = from_compose_json(
                &json,
                &ConvertOptions {
                    stack: StackName::sanitise("shop"),
                    project_dir: "/src".into(),
                },
            )
            .unwrap();
            let Kind::App(app) = &project.services.values().next().unwrap().kind else {
                panic!("not an app")
            };
            let proxy: Vec<String> = app
                .ports
                .iter()
                .map(|p| format!("{}:{}:{}", p.scheme, p.host, p.container))
                .collect();
            let direct: Vec<String> = app
                .docker_options
                .iter()
                .map(|o| o.option.clone())
                .collect();
            (proxy, direct)
        };
        let proxy = |m: &str| (vec![m.to_owned()], Vec::<String>::new());
        let direct = |o: &str| (Vec::<String>::new(), vec![o.to_owned()]);
        for (p, want) in [
            (
                json!({"target": 5000, "published": "8080", "protocol": "tcp"}),
                proxy("http:8080:5000"),
            ),
            (
                json!({"target": 1883, "published": "1883", "protocol": "tcp"}),
                direct("-p 1883:1883"),
            ),
            (
                json!({"target": 53, "published": "53", "protocol": "udp"}),
                direct("-p 53:53/udp"),
            ),
            (
                json!({"target": 443, "published": "443", "protocol": "tcp"}),
                direct("-p 443:443"),
            ),
            (
                json!({"target": 8080, "published": "8443", "protocol": "tcp", "app_protocol": "https"}),
                proxy("https:8443:8080"),
            ),
            (
                json!({"target": 8080, "published": "8081", "host_ip": "127.0.0.1", "protocol": "tcp"}),
                direct("-p 127.0.0.1:8081:8080"),
            ),
            (
                json!({"target": 8080, "published": "8081", "host_ip": "::1", "protocol": "tcp"}),
                direct("-p '[::1]:8081:8080'"),
            ),
            (
                json!({"target": 7777, "published": "7777", "protocol": "tcp", "app_protocol": "tcp"}),
                direct("-p 7777:7777"),
            ),
            (
                json!({"target": 25565, "published": "25565", "protocol": "tcp", "app_protocol": "http"}),
                proxy("http:25565:25565"),
            ),
        ] {
            assert_eq!(port(p.clone()), want, "{p}");
        }
        let json = json!({"name": "shop", "services": {"web": {"image": "x", "ports": [{"target": 80, "published": "8000-8010"}]}}});
        let err = from_compose_json(
            &json,
            &ConvertOptions {
                stack: StackName::sanitise("shop"),
                project_dir: "/src".into(),
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("services.web.ports[0].published"),
            "{err}"
        );
    }

    #[test]
    fn valid_values_render_as_one_flag_each() {
        let opts = convert(json!({
            "image": "x",
            "stop_signal": "SIGQUIT",
            "dns": ["1.1.1.1"],
            "cap_add": ["cap_sys_admin", "net_bind_service"],
            "oom_score_adj": -500,
            "sysctls": {"net.core.somaxconn": 1024},
            "device_cgroup_rules": ["c 1:3 mr"],
        }))
        .unwrap();
        let want = [
            ("services.web.stop_signal", "--stop-signal SIGQUIT", None),
            (
                "services.web.cap_add[0]",
                "--cap-add SYS_ADMIN",
                Some(PolicyRule::CapAdd),
            ),
            (
                "services.web.cap_add[1]",
                "--cap-add NET_BIND_SERVICE",
                None,
            ),
            (
                "services.web.device_cgroup_rules[0]",
                "--device-cgroup-rule 'c 1:3 mr'",
                Some(PolicyRule::Devices),
            ),
            (
                "services.web.sysctls.net.core.somaxconn",
                "--sysctl net.core.somaxconn=1024",
                None,
            ),
            ("services.web.dns[0]", "--dns 1.1.1.1", None),
            ("services.web.oom_score_adj", "--oom-score-adj=-500", None),
        ];
        for w in want {
            assert!(
                opts.iter()
                    .any(|(p, o, r)| (p.as_str(), o.as_str(), *r) == w),
                "{w:?} not in {opts:?}"
            );
        }
        let none = convert(json!({"image": "x", "stop_signal": null, "shm_size": null, "cpus": null, "pids_limit": null})).unwrap();
        assert!(none.is_empty(), "{none:?}");
        let build =
            convert(json!({"build": {"context": ".", "args": {"GREETING": "hello world"}}}))
                .unwrap();
        assert!(
            build
                .iter()
                .any(|(_, o, _)| o == "--build-arg 'GREETING=hello world'"),
            "{build:?}"
        );
    }
}
