//! One compose service: its `x-dokku` settings, datastore or app, the key-table pass over its
//! keys, and its edges to other services (`depends_on`, `links`, `volumes_from`,
//! `network_mode`/`ipc`/`pid: service:x`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::ctx::{is_unset, Ctx};
use super::error::ModelError;
use super::keys::{self, Support};
use super::names::{AppName, ServiceName};
use super::service::{Dependency, Kind, Service};
use super::xdokku::{ServiceSettings, StackSettings};
use crate::compose::types;
use crate::dokku::catalog;

pub(super) fn convert_service(
    ctx: &mut Ctx<'_>,
    stack_settings: &StackSettings,
    name: &ServiceName,
    app: AppName,
    raw: &types::Service,
) -> Result<Service, ModelError> {
    let base = format!("services.{name}");
    let settings = service_settings(stack_settings, name, raw, &base)?;
    let datastore = match (
        raw.image.as_deref(),
        raw.build.is_some(),
        settings.datastore,
    ) {
        (Some(img), false, None | Some(true)) => catalog::classify(img),
        _ => None,
    };
    if settings.datastore == Some(true) && datastore.is_none() {
        return Err(ModelError::Extension {
            path: format!("{base}.x-dokku.datastore"),
            message: "the image is not one of the official datastore plugins' images".into(),
        });
    }
    classify_keys(ctx, raw, &base)?;
    let depends_on = depends_on(raw);
    let other_edges = other_edges(ctx, raw, &base)?;
    let kind = match datastore {
        Some(ds) => Kind::Datastore(Box::new(super::datastore::convert_datastore(
            ctx, name, raw, ds,
        )?)),
        None => Kind::App(Box::new(super::app::convert_app(
            ctx, name, app, raw, &settings,
        )?)),
    };
    Ok(Service {
        name: name.clone(),
        kind,
        depends_on,
        other_edges,
        settings,
    })
}

/// The service's `x-dokku`, from `services.<svc>.x-dokku` or `x-dokku.services.<svc>` (not
/// both).
fn service_settings(
    stack_settings: &StackSettings,
    name: &ServiceName,
    raw: &types::Service,
    base: &str,
) -> Result<ServiceSettings, ModelError> {
    match (
        raw.extensions.get("x-dokku"),
        stack_settings.services.get(name.as_str()),
    ) {
        (Some(_), Some(_)) => Err(ModelError::Extension {
            path: format!("{base}.x-dokku"),
            message: format!(
                "settings for `{name}` are also in `x-dokku.services.{name}`; keep one"
            ),
        }),
        (Some(v), None) => ServiceSettings::from_json(v, &format!("{base}.x-dokku")),
        (None, Some(s)) => Ok(s.clone()),
        (None, None) => Ok(ServiceSettings::default()),
    }
}

/// The keys of a service with whether each is set (not `null`, `false`, empty), in key
/// order; `x-*` keys left out.
pub(super) fn present_keys(raw: &types::Service) -> Vec<(&str, bool)> {
    let list = |v: Option<&Vec<String>>| v.is_some_and(|c| !c.is_empty());
    let typed = [
        ("image", raw.image.is_some()),
        ("build", raw.build.is_some()),
        ("command", list(raw.command.as_ref())),
        ("entrypoint", list(raw.entrypoint.as_ref())),
        ("environment", !raw.environment.is_empty()),
        ("labels", !raw.labels.is_empty()),
        ("ports", !raw.ports.is_empty()),
        ("expose", !raw.expose.is_empty()),
        ("volumes", !raw.volumes.is_empty()),
        ("depends_on", !raw.depends_on.is_empty()),
        ("networks", !raw.networks.is_empty()),
        ("secrets", !raw.secrets.is_empty()),
        ("configs", !raw.configs.is_empty()),
        (
            "healthcheck",
            raw.healthcheck.as_ref().is_some_and(|h| {
                h.test.is_some()
                    || h.disable.is_some()
                    || h.interval.is_some()
                    || h.timeout.is_some()
                    || h.retries.is_some()
                    || h.start_period.is_some()
                    || h.start_interval.is_some()
                    || !h.other.is_empty()
            }),
        ),
        ("restart", raw.restart.is_some()),
        ("profiles", !raw.profiles.is_empty()),
    ];
    // Typed keys hold no value when unset, and unset keys are skipped after the lookup.
    let mut out: Vec<(&str, bool)> = typed.into_iter().filter(|(_, set)| *set).collect();
    // Typed runtime keys: listed when present, set unless `null`, `false` or empty.
    let runtime = [
        ("scale", written(&raw.scale)),
        ("cpus", written(&raw.cpus)),
        ("mem_limit", written(&raw.mem_limit)),
        ("memswap_limit", written(&raw.memswap_limit)),
        ("mem_reservation", written(&raw.mem_reservation)),
        ("stop_grace_period", written(&raw.stop_grace_period)),
        ("stop_signal", written(&raw.stop_signal)),
        ("shm_size", written(&raw.shm_size)),
        ("deploy", written(&raw.deploy)),
        ("logging", written(&raw.logging)),
        ("extra_hosts", written(&raw.extra_hosts)),
        ("ulimits", written(&raw.ulimits)),
        ("devices", written(&raw.devices)),
        ("sysctls", written(&raw.sysctls)),
        ("working_dir", written(&raw.working_dir)),
        ("user", written(&raw.user)),
        ("use_api_socket", written(&raw.use_api_socket)),
        ("network_mode", written(&raw.network_mode)),
        ("cpu_shares", written(&raw.cpu_shares)),
        ("cpu_quota", written(&raw.cpu_quota)),
        ("cpu_period", written(&raw.cpu_period)),
        ("cpuset", written(&raw.cpuset)),
        ("mem_swappiness", written(&raw.mem_swappiness)),
        ("oom_score_adj", written(&raw.oom_score_adj)),
        ("pids_limit", written(&raw.pids_limit)),
        ("init", written(&raw.init)),
        ("read_only", written(&raw.read_only)),
        ("privileged", written(&raw.privileged)),
        ("tmpfs", written(&raw.tmpfs)),
        ("cap_add", written(&raw.cap_add)),
        ("cap_drop", written(&raw.cap_drop)),
        ("device_cgroup_rules", written(&raw.device_cgroup_rules)),
        ("security_opt", written(&raw.security_opt)),
        ("dns", written(&raw.dns)),
        ("dns_opt", written(&raw.dns_opt)),
        ("dns_search", written(&raw.dns_search)),
        ("group_add", written(&raw.group_add)),
        ("links", written(&raw.links)),
        ("volumes_from", written(&raw.volumes_from)),
        ("pid", written(&raw.pid)),
        ("ipc", written(&raw.ipc)),
        ("uts", written(&raw.uts)),
        ("userns_mode", written(&raw.userns_mode)),
        ("cgroup", written(&raw.cgroup)),
        ("hostname", written(&raw.hostname)),
        ("container_name", written(&raw.container_name)),
    ];
    out.extend(
        runtime
            .into_iter()
            .filter_map(|(k, v)| Some((k, !is_unset(&v?)))),
    );
    let other = raw.other.iter().filter(|(k, _)| !k.starts_with("x-"));
    out.extend(other.map(|(k, v)| (k.as_str(), !is_unset(v))));
    out.sort_unstable();
    out
}

/// A typed key as the JSON it was written as (`None` when absent).
fn written<T: serde::Serialize>(v: &types::Opt<T>) -> Option<Value> {
    v.as_ref()
        .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
}

/// The key-table pass: every key is classified; unknown and rejected keys are errors.
fn classify_keys(ctx: &mut Ctx<'_>, raw: &types::Service, base: &str) -> Result<(), ModelError> {
    for (key, set) in present_keys(raw) {
        let path = || format!("{base}.{key}");
        let support =
            keys::service_key(key).ok_or_else(|| ModelError::UnknownKey { path: path() })?;
        if !set {
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
    Ok(())
}

fn depends_on(raw: &types::Service) -> BTreeMap<ServiceName, Dependency> {
    raw.depends_on
        .iter()
        .map(|(dep, spec)| {
            let dependency = Dependency {
                condition: spec.condition.clone(),
                required: spec.required,
                restart: spec.restart.unwrap_or(false),
            };
            (ServiceName::new(dep.as_str()), dependency)
        })
        .collect()
}

/// Edges other than `depends_on`: `links`, `volumes_from`, and namespaces shared with
/// another service (`network_mode`/`ipc`/`pid: service:x`).
fn other_edges<'a>(
    ctx: &mut Ctx<'_>,
    raw: &'a types::Service,
    base: &str,
) -> Result<BTreeMap<ServiceName, String>, ModelError> {
    let strings = |v: &'a types::Opt<Vec<Option<types::Scalar>>>| -> Vec<&'a str> {
        types::set(v)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_ref()?.as_str())
            .collect()
    };
    let mut edges = BTreeMap::new();
    for link in strings(&raw.links) {
        let (target, alias) = link.split_once(':').unwrap_or((link, ""));
        if !alias.is_empty() && alias != target {
            ctx.warn(
                format!("{base}.links"),
                format!("alias `{alias}` of `{target}` is not created; use the service name"),
            );
        }
        edges.insert(ServiceName::new(target), "links".to_owned());
    }
    for from in strings(&raw.volumes_from) {
        let target = from.split(':').next().unwrap_or(from);
        if target == "container" {
            return Err(ModelError::Rejected {
                path: format!("{base}.volumes_from"),
                reason: "containers outside the stack cannot be referenced".into(),
            });
        }
        edges.insert(ServiceName::new(target), "volumes_from".to_owned());
    }
    for (key, v) in [
        ("network_mode", &raw.network_mode),
        ("ipc", &raw.ipc),
        ("pid", &raw.pid),
    ] {
        if let Some(target) = types::set(v)
            .and_then(types::Scalar::as_str)
            .and_then(|m| m.strip_prefix("service:"))
        {
            edges.insert(ServiceName::new(target), key.to_owned());
        }
    }
    Ok(edges)
}
