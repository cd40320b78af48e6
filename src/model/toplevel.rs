//! Top-level `networks` and `volumes`: the stack's Docker networks and storage entries
//! (externals are attached or mounted by name).

use std::collections::BTreeMap;

use super::ctx::{is_unset, Ctx};
use super::names::{NetworkName, StorageName};
use crate::compose::types::{set, Network, Volume};

/// `networks.<key>` -> `network:create <stack>-<key>`, or an external network by name.
pub(super) fn read_networks(ctx: &mut Ctx<'_>, nets: &BTreeMap<String, Network>) {
    for (key, def) in nets {
        let path = format!("networks.{key}");
        if def.external == Some(true) {
            let name = if def.name.is_empty() { key } else { &def.name };
            ctx.external_networks
                .insert(key.clone(), NetworkName::external(name));
            continue;
        }
        if def.driver.as_deref().is_some_and(|d| d != "bridge") {
            ctx.warn(
                format!("{path}.driver"),
                "Dokku creates plain attachable bridge networks; not applied",
            );
        }
        for (k, v) in &def.other {
            if k != "attachable" && !is_unset(v) {
                ctx.warn(
                    format!("{path}.{k}"),
                    "Dokku creates plain attachable bridge networks; not applied",
                );
            }
        }
        ctx.networks
            .insert(key.clone(), NetworkName::for_network(ctx.stack, key));
    }
}

/// `volumes.<key>` -> a storage entry `<stack>-<key>`, or an external volume by name.
pub(super) fn read_volumes(ctx: &mut Ctx<'_>, vols: &BTreeMap<String, Volume>) {
    for (key, def) in vols {
        let path = format!("volumes.{key}");
        let external = def.external == Some(true);
        let docker_name = if def.name.is_empty() {
            key.clone()
        } else {
            def.name.clone()
        };
        let driver = def.driver.as_ref().map(|_| "driver");
        let mut other: Vec<&str> = def
            .other
            .iter()
            .filter(|(_, v)| !is_unset(v))
            .map(|(k, _)| k.as_str())
            .collect();
        if set(&def.driver_opts).is_some_and(|o| !o.is_empty()) {
            other.push("driver_opts");
            other.sort_unstable();
        }
        for k in driver.into_iter().chain(other) {
            ctx.warn(format!("{path}.{k}"), "Dokku storage entries are host directories; volume drivers and labels are not applied");
        }
        let storage = StorageName::for_volume(ctx.stack, key);
        ctx.volumes
            .insert(key.clone(), (storage, external, docker_name));
    }
}
