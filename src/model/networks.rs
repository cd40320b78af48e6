//! A service's `networks`: the Dokku networks it joins (primary first, by `priority`) and the
//! names it answers to on the primary one (`--network-alias`).

use std::collections::BTreeSet;

use super::container::carried;
use super::ctx::{is_unset, Ctx};
use super::docker_opt::{DockerOpt, Flag};
use super::error::ModelError;
use super::names::{NetworkName, ServiceName};
use crate::compose::types;

/// The service's networks, primary first, and the aliases it answers to on the primary one.
pub(super) fn service_networks(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    raw: &types::Service,
    base: &str,
) -> (Vec<NetworkName>, BTreeSet<String>) {
    let mut entries: Vec<(i64, &str, Option<&types::ServiceNetwork>)> = Vec::new();
    if !raw.networks.is_empty() {
        for (k, spec) in &raw.networks {
            let prio = spec
                .as_ref()
                .and_then(|s| types::set(&s.priority))
                .and_then(serde_json::Number::as_i64)
                .unwrap_or(0);
            entries.push((-prio, k.as_str(), spec.as_ref()));
        }
    } else if !matches!(
        types::set(&raw.network_mode).and_then(types::Scalar::as_str),
        Some("host" | "none")
    ) {
        // `host`/`none` have no stack network; `service:x` and `bridge` join the default one.
        entries.push((0, "default", None));
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
        let Some(spec) = spec else { continue };
        let path = |k: &str| format!("{base}.networks.{key}.{k}");
        if !spec.aliases.is_empty() {
            if i == 0 {
                aliases.extend(spec.aliases.iter().cloned());
            } else {
                ctx.warn(
                    path("aliases"),
                    "aliases resolve only on the service's primary network",
                );
            }
        }
        for (k, v) in &spec.other {
            if k != "gw_priority" && !is_unset(v) {
                ctx.warn(
                    path(k),
                    "Docker assigns addresses on Dokku networks; not applied",
                );
            }
        }
    }
    if !out.is_empty() {
        aliases.insert(name.as_str().to_owned());
    }
    (out, aliases)
}

/// Each alias becomes `--network-alias <alias>` (the planner renders it through the same
/// typed option); what it could not carry is refused here, with the key path.
pub(super) fn check_aliases(
    aliases: &BTreeSet<String>,
    name: &ServiceName,
    base: &str,
) -> Result<(), ModelError> {
    for alias in aliases {
        if let Err(problem) = DockerOpt::new(Flag::NetworkAlias, alias.as_str()) {
            let path = if alias == name.as_str() {
                base.to_owned()
            } else {
                format!("{base}.networks")
            };
            return Err(carried(path, &problem, "--network-alias"));
        }
    }
    Ok(())
}
