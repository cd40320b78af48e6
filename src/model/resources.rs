//! Process count and limits: `scale`/`deploy.replicas` (`ps:scale`), `cpus`, `mem_limit`,
//! `memswap_limit`, `mem_reservation`, `deploy.resources` (`resource:limit`/`reserve`,
//! `--pids-limit`), `restart`/`deploy.restart_policy` (`ps:set restart-policy`),
//! `stop_grace_period` (`ps:set stop-timeout-seconds`) and `logging` (`logs:set max-size`).

use serde_json::Value;

use super::container::Opts;
use super::ctx::{is_unset, Ctx};
use super::docker_opt::Flag;
use super::error::ModelError;
use super::service::Resources;
use super::source::duration_secs;
use super::xdokku::{ExpectedState, ServiceSettings};
use crate::compose::types::{self, set, Scalar};

/// What the process keys of one service become.
pub(super) struct Process {
    pub(super) replicas: Option<u32>,
    pub(super) replicas_path: Option<String>,
    pub(super) limits: Resources,
    pub(super) reservations: Resources,
    pub(super) restart_policy: Option<String>,
    pub(super) stop_timeout: Option<u64>,
    pub(super) log_max_size: Option<String>,
}

fn megabytes(v: &Scalar) -> Option<u64> {
    v.bytes().map(|b| b.div_ceil(1024 * 1024))
}

/// A count; beyond u32 it saturates, so the stack's limit refuses it instead of ignoring it.
fn count(v: &serde_json::Number) -> Option<u32> {
    v.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// A CPU count Dokku prints into `docker run` as `--cpus=<value>`: digits and dots only.
fn cpus(v: &Scalar, path: String) -> Result<String, ModelError> {
    let t = v.text();
    if !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.parse::<f64>().is_ok_and(|c| c > 0.0)
    {
        Ok(t)
    } else {
        Err(ModelError::Rejected { path, reason: format!("`{t}` is not a positive number of CPUs; Dokku passes it to docker as `--cpus={t}`, where anything but a number could add docker flags") })
    }
}

pub(super) fn process(
    ctx: &mut Ctx<'_>,
    raw: &types::Service,
    settings: &ServiceSettings,
    opts: &mut Opts,
) -> Result<Process, ModelError> {
    let base = opts.base.clone();
    let replicas = set(&raw.scale).and_then(count);
    let mut p = Process {
        replicas,
        replicas_path: replicas.map(|_| format!("{base}.scale")),
        limits: Resources {
            cpu: set(&raw.cpus)
                .map(|v| cpus(v, format!("{base}.cpus")))
                .transpose()?,
            memory_mb: set(&raw.mem_limit).and_then(megabytes),
            memory_swap_mb: set(&raw.memswap_limit).and_then(megabytes),
        },
        reservations: Resources {
            memory_mb: set(&raw.mem_reservation).and_then(megabytes),
            ..Resources::default()
        },
        restart_policy: raw.restart.clone(),
        stop_timeout: set(&raw.stop_grace_period)
            .and_then(Scalar::as_str)
            .and_then(duration_secs),
        log_max_size: None,
    };
    if let Some(deploy) = set(&raw.deploy) {
        self::deploy(ctx, deploy, &mut p, opts)?;
    }
    if settings.state == ExpectedState::Stopped {
        p.replicas = Some(0);
    }
    if let Some(logging) = set(&raw.logging) {
        p.log_max_size = log_max_size(ctx, logging, &base);
    }
    Ok(p)
}

/// One key of `deploy`, typed or kept as written.
enum DeployKey<'a> {
    Mode(Option<&'a Scalar>),
    Replicas(Option<&'a serde_json::Number>),
    Resources(Option<&'a types::DeployResources>),
    RestartPolicy(Option<&'a types::RestartPolicy>),
    Other(&'a Value),
}

/// `deploy`: replicas, resources and the restart policy; the Swarm-only rest is warned.
fn deploy(
    ctx: &mut Ctx<'_>,
    deploy: &types::Deploy,
    p: &mut Process,
    opts: &mut Opts,
) -> Result<(), ModelError> {
    let base = opts.base.clone();
    let mut keys: Vec<(&str, DeployKey<'_>)> = deploy
        .other
        .iter()
        .map(|(k, v)| (k.as_str(), DeployKey::Other(v)))
        .collect();
    let typed = [
        (
            "mode",
            deploy.mode.as_ref().map(|v| DeployKey::Mode(v.as_ref())),
        ),
        (
            "replicas",
            deploy
                .replicas
                .as_ref()
                .map(|v| DeployKey::Replicas(v.as_ref())),
        ),
        (
            "resources",
            deploy
                .resources
                .as_ref()
                .map(|v| DeployKey::Resources(v.as_ref())),
        ),
        (
            "restart_policy",
            deploy
                .restart_policy
                .as_ref()
                .map(|v| DeployKey::RestartPolicy(v.as_ref())),
        ),
    ];
    keys.extend(typed.into_iter().filter_map(|(k, v)| Some((k, v?))));
    keys.sort_by_key(|(k, _)| *k);
    for (k, v) in keys {
        let path = || format!("{base}.deploy.{k}");
        match v {
            DeployKey::Replicas(v) => {
                p.replicas = v.and_then(count);
                p.replicas_path = p.replicas.map(|_| path());
            }
            DeployKey::Resources(v) => deploy_resources(ctx, v, &path(), p, opts)?,
            DeployKey::RestartPolicy(v) => {
                let cond = v
                    .and_then(|r| set(&r.condition))
                    .and_then(Scalar::as_str)
                    .unwrap_or("any");
                let attempts = v
                    .and_then(|r| set(&r.max_attempts))
                    .and_then(serde_json::Number::as_u64);
                p.restart_policy = Some(match (cond, attempts) {
                    ("none", _) => "no".to_owned(),
                    ("on-failure", Some(n)) => format!("on-failure:{n}"),
                    ("on-failure", None) => "on-failure".to_owned(),
                    _ => "always".to_owned(),
                });
                for extra in ["delay", "window"] {
                    let written = |r: &types::RestartPolicy| match extra {
                        "delay" => r.delay.is_some(),
                        _ => r.window.is_some(),
                    };
                    if v.is_some_and(written) {
                        ctx.warn(
                            format!("{}.{extra}", path()),
                            "Docker restart policies have no delay or window; not applied",
                        );
                    }
                }
            }
            DeployKey::Mode(m) if m.is_none_or(|m| m.as_str() == Some("replicated")) => {}
            DeployKey::Other(v) if is_unset(v) => {}
            _ => ctx.warn(
                path(),
                "Swarm deployment settings have no Dokku equivalent; not applied",
            ),
        }
    }
    Ok(())
}

/// One key of `deploy.resources.limits`/`reservations`, typed or kept as written.
enum ResourceKey<'a> {
    Cpus(Option<&'a Scalar>),
    Memory(Option<&'a Scalar>),
    Pids(Option<&'a Scalar>),
    Other,
}

/// `deploy.resources.limits`/`reservations`: cpus, memory, pids.
fn deploy_resources(
    ctx: &mut Ctx<'_>,
    v: Option<&types::DeployResources>,
    path: &str,
    p: &mut Process,
    opts: &mut Opts,
) -> Result<(), ModelError> {
    let Some(v) = v else { return Ok(()) };
    for (which, target, r) in [
        ("limits", &mut p.limits, &v.limits),
        ("reservations", &mut p.reservations, &v.reservations),
    ] {
        let Some(r) = set(r) else {
            continue;
        };
        let mut keys: Vec<(&str, ResourceKey<'_>)> = r
            .other
            .keys()
            .map(|k| (k.as_str(), ResourceKey::Other))
            .collect();
        let typed = [
            (
                "cpus",
                r.cpus.as_ref().map(|v| ResourceKey::Cpus(v.as_ref())),
            ),
            (
                "memory",
                r.memory.as_ref().map(|v| ResourceKey::Memory(v.as_ref())),
            ),
            (
                "pids",
                r.pids.as_ref().map(|v| ResourceKey::Pids(v.as_ref())),
            ),
        ];
        keys.extend(typed.into_iter().filter_map(|(k, v)| Some((k, v?))));
        keys.sort_by_key(|(k, _)| *k);
        for (rk, rv) in keys {
            match rv {
                ResourceKey::Cpus(None) => {}
                ResourceKey::Cpus(Some(c)) => {
                    target.cpu = Some(cpus(c, format!("{path}.{which}.cpus"))?);
                }
                ResourceKey::Memory(m) => target.memory_mb = m.and_then(megabytes),
                ResourceKey::Pids(Some(n)) if which == "limits" => opts.add(
                    "deploy.resources.limits.pids",
                    Flag::PidsLimit,
                    Some(&n.text()),
                )?,
                ResourceKey::Pids(_) | ResourceKey::Other => ctx.warn(
                    format!("{path}.{which}.{rk}"),
                    "no Dokku resource setting; not applied",
                ),
            }
        }
    }
    Ok(())
}

/// `logging`: the `json-file`/`local` driver's `max-size`; other drivers and options warned.
fn log_max_size(ctx: &mut Ctx<'_>, logging: &types::Logging, base: &str) -> Option<String> {
    let driver = set(&logging.driver)
        .and_then(Scalar::as_str)
        .unwrap_or("json-file");
    if !matches!(driver, "json-file" | "local") {
        ctx.warn(
            format!("{base}.logging.driver"),
            format!("Dokku uses the host's logging driver; `{driver}` not applied"),
        );
        return None;
    }
    let options = match set(&logging.options) {
        Some(types::LogOptions::Map(m)) => Some(m),
        _ => None,
    };
    if options.is_some_and(|o| o.keys().any(|k| k != "max-size")) {
        ctx.warn(
            format!("{base}.logging.options"),
            "only `max-size` has a Dokku setting (`logs:set max-size`); other options not applied",
        );
    }
    options
        .and_then(|o| o.get("max-size"))
        .and_then(Option::as_ref)
        .and_then(Scalar::as_str)
        .map(str::to_owned)
}
