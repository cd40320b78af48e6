//! The stack's own resources: the networks and storage entries its services share, and the
//! network each app on several networks is created on.

use std::collections::{BTreeMap, BTreeSet};

use super::{undo, PlanError, Steps};
use crate::dokku;
use crate::graph::ServiceGraph;
use crate::model::{Kind, NetworkName, Project, Service, ServiceName};
use crate::plan::step::Action;
use crate::state::DokkuState;

/// The networks of a service, app or datastore.
fn networks_of(svc: &Service) -> Vec<&NetworkName> {
    match &svc.kind {
        Kind::App(a) => a.networks.iter().collect(),
        Kind::Datastore(d) => d.network.iter().collect(),
    }
}

/// The network each app on several networks is created on (issue 15 item 6). Dokku sets the
/// `--network-alias` docker options (the compose name and aliases) only on the network a
/// container is created on (`network:set initial-network`); `attach-post-create` and
/// `attach-post-deploy` connect without them. So that every service that uses an app
/// (`depends_on`, `links` and the other dependency edges) resolves it by name, the app is
/// created on a network it shares with all of them: its first one (by compose `priority`,
/// then name) when that one does, else the first that does. When none does, the plan is
/// refused naming two consumers that share none of its networks.
pub(crate) fn primary_networks(
    project: &Project,
    graph: &ServiceGraph,
) -> Result<BTreeMap<ServiceName, NetworkName>, PlanError> {
    let mut out = BTreeMap::new();
    for (name, svc) in &project.services {
        let Kind::App(app) = &svc.kind else { continue };
        if app.networks.len() < 2 {
            continue;
        }
        // Consumers sharing at least one network (one sharing none cannot reach it at all,
        // as under compose) with the networks of the app they share.
        let consumers: Vec<(&ServiceName, Vec<&NetworkName>)> = graph
            .dependencies
            .iter()
            .filter(|(c, deps)| *c != name && deps.contains(name))
            .filter_map(|(c, _)| {
                let shared: Vec<&NetworkName> = project
                    .services
                    .get(c)
                    .map(networks_of)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| app.networks.contains(n))
                    .collect();
                (!shared.is_empty()).then_some((c, shared))
            })
            .collect();
        let fits = |n: &NetworkName| consumers.iter().all(|(_, shared)| shared.contains(&n));
        match app.networks.iter().find(|n| fits(n)) {
            Some(n) => {
                out.insert(name.clone(), n.clone());
            }
            None => {
                let pair = consumers
                    .iter()
                    .enumerate()
                    .find_map(|(i, (a, sa))| {
                        consumers[i + 1..]
                            .iter()
                            .find(|(_, sb)| !sa.iter().any(|n| sb.contains(n)))
                            .map(|(b, _)| (*a, *b))
                    })
                    .or_else(|| {
                        consumers
                            .first()
                            .zip(consumers.last())
                            .map(|((a, _), (b, _))| (*a, *b))
                    });
                if let Some((first, second)) = pair {
                    return Err(PlanError::Unreachable {
                        service: name.clone(),
                        first: first.clone(),
                        second: second.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// `networks` and `volumes` of the stack: `network:create` for every network a service uses
/// and `storage:create` for every named volume, when missing.
pub(crate) fn steps(
    project: &Project,
    state: &DokkuState,
    k3s: &super::k3s::Schedulers,
    out: &mut Steps<'_>,
) {
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for s in project.services.values() {
        match &s.kind {
            Kind::App(a) => used.extend(a.networks.iter().map(|n| n.as_str())),
            Kind::Datastore(d) => used.extend(d.network.iter().map(|n| n.as_str())),
        }
    }
    for net in project
        .networks
        .values()
        .filter(|n| used.contains(n.as_str()))
    {
        if !state.networks.contains(net.as_str()) {
            out.push(
                &format!("network/{net}"),
                Action::CreateNetwork {
                    network: net.to_string(),
                },
                dokku::network_create(net.as_str()),
                format!("network `{net}` does not exist"),
                undo(vec![dokku::network_destroy(net.as_str())]),
            );
        }
    }
    for (name, seed) in &project.storage {
        if !state.storage.contains(name.as_str()) {
            let reason = match seed {
                Some(s) => format!(
                    "storage entry `{name}` does not exist; seeded from `{s}` in the pushed source"
                ),
                None => format!("storage entry `{name}` does not exist"),
            };
            out.push(
                &format!("storage/{name}"),
                Action::CreateStorage {
                    name: name.to_string(),
                    seed_from: seed.clone(),
                },
                super::k3s::storage_create(k3s, project, name),
                reason,
                undo(vec![dokku::storage_destroy(name.as_str())]),
            );
        }
    }
    super::k3s::host_path_steps(k3s, project, state, out);
}
