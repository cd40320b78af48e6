//! Process count and limits: `scale`/`deploy.replicas` (`ps:scale`), `cpus`, `mem_limit`,
//! `memswap_limit`, `mem_reservation`, `deploy.resources` (`resource:limit`/`reserve`,
//! `--pids-limit`), `restart`/`deploy.restart_policy` (`ps:set restart-policy`),
//! `stop_grace_period` (`ps:set stop-timeout-seconds`) and `logging` (`logs:set max-size`).

use serde_json::{Map, Value};

use super::container::{bytes, int_text, number_text, Opts};
use super::ctx::{is_unset, Ctx};
use super::docker_opt::Flag;
use super::error::ModelError;
use super::service::Resources;
use super::source::duration_secs;
use super::xdokku::{ExpectedState, ServiceSettings};
use crate::compose::types;

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

fn megabytes(v: &Value) -> Option<u64> {
    bytes(v).map(|b| b.div_ceil(1024 * 1024))
}

/// A count; beyond u32 it saturates, so the stack's limit refuses it instead of ignoring it.
fn count(v: &Value) -> Option<u32> {
    v.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// A CPU count Dokku prints into `docker run` as `--cpus=<value>`: digits and dots only.
fn cpus(v: &Value, path: String) -> Result<String, ModelError> {
    let t = number_text(v).unwrap_or_default();
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
    let replicas = raw.key("scale").and_then(count);
    let mut p = Process {
        replicas,
        replicas_path: replicas.map(|_| format!("{base}.scale")),
        limits: Resources {
            cpu: raw
                .key("cpus")
                .filter(|v| !v.is_null())
                .map(|v| cpus(v, format!("{base}.cpus")))
                .transpose()?,
            memory_mb: raw.key("mem_limit").and_then(megabytes),
            memory_swap_mb: raw.key("memswap_limit").and_then(megabytes),
        },
        reservations: Resources {
            memory_mb: raw.key("mem_reservation").and_then(megabytes),
            ..Resources::default()
        },
        restart_policy: raw.restart.clone(),
        stop_timeout: raw
            .key("stop_grace_period")
            .and_then(Value::as_str)
            .and_then(duration_secs),
        log_max_size: None,
    };
    if let Some(deploy) = raw.key("deploy").and_then(Value::as_object) {
        self::deploy(ctx, deploy, &mut p, opts)?;
    }
    if settings.state == ExpectedState::Stopped {
        p.replicas = Some(0);
    }
    if let Some(logging) = raw.key("logging").and_then(Value::as_object) {
        p.log_max_size = log_max_size(ctx, logging, &base);
    }
    Ok(p)
}

/// `deploy`: replicas, resources and the restart policy; the Swarm-only rest is warned.
fn deploy(
    ctx: &mut Ctx<'_>,
    deploy: &Map<String, Value>,
    p: &mut Process,
    opts: &mut Opts,
) -> Result<(), ModelError> {
    let base = opts.base.clone();
    for (k, v) in deploy {
        let path = || format!("{base}.deploy.{k}");
        match k.as_str() {
            "replicas" => {
                p.replicas = count(v);
                p.replicas_path = p.replicas.map(|_| path());
            }
            "resources" => deploy_resources(ctx, v, &path(), p, opts)?,
            "restart_policy" => {
                let cond = v.get("condition").and_then(Value::as_str).unwrap_or("any");
                p.restart_policy = Some(
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
    Ok(())
}

/// `deploy.resources.limits`/`reservations`: cpus, memory, pids.
fn deploy_resources(
    ctx: &mut Ctx<'_>,
    v: &Value,
    path: &str,
    p: &mut Process,
    opts: &mut Opts,
) -> Result<(), ModelError> {
    for (which, target) in [
        ("limits", &mut p.limits),
        ("reservations", &mut p.reservations),
    ] {
        let Some(r) = v.get(which).and_then(Value::as_object) else {
            continue;
        };
        for (rk, rv) in r {
            match rk.as_str() {
                "cpus" if rv.is_null() => {}
                "cpus" => target.cpu = Some(cpus(rv, format!("{path}.{which}.cpus"))?),
                "memory" => target.memory_mb = megabytes(rv),
                "pids" if which == "limits" && !rv.is_null() => opts.add(
                    "deploy.resources.limits.pids",
                    Flag::PidsLimit,
                    Some(&int_text(rv)),
                )?,
                _ => ctx.warn(
                    format!("{path}.{which}.{rk}"),
                    "no Dokku resource setting; not applied",
                ),
            }
        }
    }
    Ok(())
}

/// `logging`: the `json-file`/`local` driver's `max-size`; other drivers and options warned.
fn log_max_size(ctx: &mut Ctx<'_>, logging: &Map<String, Value>, base: &str) -> Option<String> {
    let driver = logging
        .get("driver")
        .and_then(Value::as_str)
        .unwrap_or("json-file");
    if !matches!(driver, "json-file" | "local") {
        ctx.warn(
            format!("{base}.logging.driver"),
            format!("Dokku uses the host's logging driver; `{driver}` not applied"),
        );
        return None;
    }
    let options = logging.get("options");
    if options
        .and_then(Value::as_object)
        .is_some_and(|o| o.keys().any(|k| k != "max-size"))
    {
        ctx.warn(
            format!("{base}.logging.options"),
            "only `max-size` has a Dokku setting (`logs:set max-size`); other options not applied",
        );
    }
    options
        .and_then(|o| o.get("max-size"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}
