//! The plugin-owned Kubernetes objects in an apply (issue 21, docs/k3s-discovery.md): planned
//! from the cluster's current objects ([`plan`]), run in the transaction as one journaled
//! effect whose undo holds every object as it was ([`run`], [`revert`]), and removed by
//! `compose:down` ([`down`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{EffectError, RunError};
use super::executor::Effects;
use super::journal::Revert;
use crate::dokku::Cmd;
use crate::kube::kubectl::{resource, Kubectl};
use crate::kube::{DatastoreEndpoint, KubeEffect, KubeError, KINDS};
use crate::model::{Kind, Project};
use crate::plan::{Action, Plan, Step, Undo};
use crate::state::QueryOutput;

/// The journal id of the cluster effect (and for `DOKKU_COMPOSE_FAIL_AFTER_EFFECT`).
pub(crate) const EFFECT_ID: &str = "kube";

/// What the operator set for the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    /// The Dokku host's private IPv4 address, which cluster nodes reach it on
    /// (`compose:set --global k3s-datastore-address`): datastores are exposed there.
    pub datastore_address: Option<String>,
}

/// One object as it was before the apply, for undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KubeItem {
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The object as the cluster had it (`None`: it did not exist, and is deleted).
    pub previous: Option<Value>,
}

/// The ports a datastore plugin exposes, in the order `<plugin>:expose` takes them
/// (the plugins' `PLUGIN_DATASTORE_PORTS`); the first is the link URL's port.
pub(crate) fn datastore_ports(plugin: &str) -> Vec<u16> {
    match plugin {
        "mongo" => vec![27017, 27018, 27019, 28017],
        "rabbitmq" => vec![5672, 4369, 35197, 15672],
        "elasticsearch" => vec![9200, 9300],
        "rethinkdb" => vec![28015, 29015, 8080],
        "clickhouse" => vec![9000, 8123],
        "omnisci" => vec![6274, 6278],
        "pushpin" => vec![5561, 7999, 5560, 5562, 5563],
        "graphite" => vec![8125, 8126, 80, 81, 2003],
        other => crate::dokku::catalog::by_plugin(other)
            .map(|d| vec![d.port])
            .unwrap_or_default(),
    }
}

/// The host port a datastore is exposed on: fixed per plugin, service and port (so a replan
/// finds the same), in 20000..40000.
fn host_port(plugin: &str, name: &str, container: u16) -> u16 {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(format!("{plugin}/{name}/{container}").as_bytes());
    20000 + u16::from_be_bytes([d[0], d[1]]) % 20000
}

/// Parses `--exposed-ports` (`5432->10.0.0.5:23456 …`, or `-`): container -> (address, host).
fn exposed(text: &str) -> Vec<(u16, Option<String>, u16)> {
    text.split_whitespace()
        .filter_map(|m| {
            let (c, h) = m.split_once("->")?;
            let (addr, port) = match h.rsplit_once(':') {
                Some((a, p)) => (Some(a.to_owned()), p),
                None => (None, h),
            };
            Some((c.parse().ok()?, addr, port.parse().ok()?))
        })
        .collect()
}

/// The cluster part of a plan: the expose steps and the object changes.
pub(crate) type KubePlan = (Vec<Step>, Vec<KubeEffect>);

/// What the stack needs on the cluster: the `<plugin>:expose` steps of datastores not yet
/// exposed on the private address, and the object changes. Nothing for a stack that is not on
/// k3s. `on_host` are its app services that run on the Dokku host (docker-local): the cluster
/// reaches the ports they publish on the private address. `q` runs read-only Dokku commands
/// (`None`: the command failed).
pub(crate) fn plan(
    project: &Project,
    compose: &Value,
    on_k3s: bool,
    on_host: &BTreeSet<String>,
    settings: &KubeSettings,
    q: &dyn Fn(&Cmd) -> Result<QueryOutput, crate::state::StateError>,
    kubectl: &Kubectl,
) -> Result<Option<KubePlan>, KubeError> {
    if !on_k3s {
        return Ok(None);
    }
    let mut steps = Vec::new();
    let mut endpoints = BTreeMap::new();
    for (sname, svc) in &project.services {
        let Kind::Datastore(ds) = &svc.kind else {
            continue;
        };
        let path = format!("services.{sname}");
        let address = host_address(
            settings,
            &path,
            &format!("the {} service `{}`", ds.plugin, ds.name),
        )?;
        let address = address.as_str();
        let ports = datastore_ports(ds.plugin);
        if ports.is_empty() {
            return Err(KubeError::Datastore {
                path,
                message: format!("the {} plugin's ports are not known", ds.plugin),
            });
        }
        let name = ds.name.as_str();
        let shown = q(&Cmd::dokku([
            format!("{}:info", ds.plugin),
            name.to_owned(),
            "--exposed-ports".into(),
        ]))
        .map_err(|e| KubeError::Kubectl(e.to_string()))?
        .unwrap_or_default();
        let now = exposed(shown.trim());
        let mapped: Vec<(u16, u16)> = if now.is_empty() {
            let pairs: Vec<(u16, u16)> = ports
                .iter()
                .map(|c| (*c, host_port(ds.plugin, name, *c)))
                .collect();
            let args: Vec<String> = pairs
                .iter()
                .map(|(_, h)| format!("{address}:{h}"))
                .collect();
            let mut run = vec![format!("{}:expose", ds.plugin), name.to_owned()];
            run.extend(args.clone());
            steps.push(Step {
                id: format!("{sname}/expose"),
                service: Some(sname.clone()),
                // Set by [`extend`] to the level of the datastore's other steps.
                level: 0,
                action: Action::ExposeDatastore {
                    plugin: ds.plugin.to_owned(),
                    name: name.to_owned(),
                    ports: args,
                },
                run: Cmd::dokku(run),
                reason: format!("on k3s the cluster reaches the datastore on the Dokku host's private address {address}"),
                undo: Undo::Commands {
                    cmds: vec![Cmd::dokku([format!("{}:unexpose", ds.plugin), name.to_owned()])],
                },
            });
            pairs
        } else if now.iter().all(|(_, a, _)| a.as_deref() == Some(address)) {
            now.iter().map(|(c, _, h)| (*c, *h)).collect()
        } else {
            return Err(KubeError::Datastore {
                path,
                message: format!("the {} service `{name}` is exposed on `{}`, not on the k3s datastore address {address}: `dokku {}:unexpose {name}` and push again", ds.plugin, shown.trim(), ds.plugin),
            });
        };
        endpoints.insert(
            sname.as_str().to_owned(),
            DatastoreEndpoint {
                address: address.to_owned(),
                ports: mapped,
            },
        );
    }
    endpoints.extend(host_app_endpoints(project, on_host, settings)?);
    let want = crate::kube::desired(project, compose, on_host, &endpoints)?;
    let ns = project.stack.as_str();
    let mut live = Vec::new();
    for kind in KINDS {
        live.extend(kubectl.get(&resource(kind), ns, None)?);
    }
    Ok(Some((steps, crate::kube::diff(ns, &want, &live)?)))
}

/// The Dokku host's private address the cluster reaches `what` (a datastore, an app on
/// docker-local) on: `k3s-datastore-address`, required, an IPv4 address pods can route to.
fn host_address(settings: &KubeSettings, path: &str, what: &str) -> Result<String, KubeError> {
    let Some(address) = settings.datastore_address.as_deref() else {
        return Err(KubeError::Datastore {
            path: path.to_owned(),
            message: format!("on k3s {what} runs on the Dokku host, and the cluster reaches it on the host's private address: set it with `dokku compose:set --global k3s-datastore-address <private IPv4>` (docs/k3s-discovery.md)"),
        });
    };
    let ip: std::net::Ipv4Addr = address.parse().map_err(|_| KubeError::Datastore {
        path: path.to_owned(),
        message: format!("k3s-datastore-address `{address}` is not an IPv4 address"),
    })?;
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
        return Err(KubeError::Datastore {
            path: path.to_owned(),
            message: format!("k3s-datastore-address `{address}` is not an address pods reach the Dokku host on (loopback, unspecified or broadcast)"),
        });
    }
    Ok(address.to_owned())
}

/// Where the cluster reaches the apps of `on_host` (on the Dokku host): the private address
/// and each tcp port they publish there, by service; none for an app that publishes nothing.
fn host_app_endpoints(
    project: &Project,
    on_host: &BTreeSet<String>,
    settings: &KubeSettings,
) -> Result<BTreeMap<String, DatastoreEndpoint>, KubeError> {
    let mut endpoints = BTreeMap::new();
    for (sname, svc) in &project.services {
        let Kind::App(app) = &svc.kind else {
            continue;
        };
        if !on_host.contains(sname.as_str()) {
            continue;
        }
        if !app.published.iter().any(|p| !p.udp) {
            continue;
        }
        let path = format!("services.{sname}");
        let address = host_address(
            settings,
            &path,
            &format!("the app `{}` (scheduler docker-local)", app.app),
        )?;
        // A udp port, or one bound to another address of the host, is not one the cluster
        // reaches through the Service's tcp endpoint.
        let ports: Vec<(u16, u16)> = app
            .published
            .iter()
            .filter(|p| !p.udp && p.ip.as_deref().is_none_or(|ip| ip == address))
            .map(|p| (p.container, p.host))
            .collect();
        if !ports.is_empty() {
            endpoints.insert(
                sname.as_str().to_owned(),
                DatastoreEndpoint { address, ports },
            );
        }
    }
    Ok(endpoints)
}

/// Adds the cluster part to `plan`: the expose steps after the datastore's own steps, the
/// object changes in `plan.kube`.
pub(crate) fn extend(plan: &mut Plan, steps: Vec<Step>, effects: Vec<KubeEffect>) {
    for step in steps {
        let at = plan
            .steps
            .iter()
            .rposition(|s| s.service == step.service)
            .map_or(plan.steps.len(), |i| i + 1);
        let mut step = step;
        if let Some(prev) = at.checked_sub(1).and_then(|i| plan.steps.get(i)) {
            if prev.service == step.service {
                step.level = prev.level;
            }
        }
        plan.steps.insert(at, step);
    }
    plan.kube = effects;
}

/// Runs the object changes as one journaled effect whose undo is every object as it was.
pub(crate) fn run(
    fx: &mut Effects<'_>,
    effects: &[KubeEffect],
    kubectl: &Kubectl,
    events: &(dyn Fn(&super::Event) + Sync),
) -> Result<(), (String, RunError)> {
    if effects.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let listed: Vec<String> = effects
        .iter()
        .map(|e| {
            let (kind, ns, name) = e.key();
            match e {
                KubeEffect::Apply { .. } => format!("apply {kind} {ns}/{name}"),
                KubeEffect::Delete { .. } => format!("delete {kind} {ns}/{name}"),
            }
        })
        .collect();
    events(&super::Event::StepStarted {
        step: EFFECT_ID.to_owned(),
        command: format!("{} ({})", kubectl.program, listed.join(", ")),
    });
    let fail = |e: KubeError| {
        (
            EFFECT_ID.to_owned(),
            RunError::Input {
                argv: "kubectl".into(),
                message: e.to_string(),
            },
        )
    };
    let mut live: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    let mut read = std::collections::BTreeSet::new();
    for e in effects {
        let (kind, ns, _) = e.key();
        if read.insert((kind.to_owned(), ns.to_owned())) {
            for o in kubectl.get(&resource(kind), ns, None).map_err(fail)? {
                let name = o["metadata"]["name"].as_str().unwrap_or("").to_owned();
                live.insert((kind.to_owned(), ns.to_owned(), name), o);
            }
        }
    }
    let items: Vec<KubeItem> = effects
        .iter()
        .map(|e| {
            let (kind, ns, name) = e.key();
            KubeItem {
                kind: kind.to_owned(),
                namespace: ns.to_owned(),
                name: name.to_owned(),
                previous: live
                    .get(&(kind.to_owned(), ns.to_owned(), name.to_owned()))
                    .map(crate::kube::applicable),
            }
        })
        .collect();
    fx.run(EFFECT_ID, Revert::Kube { kube: items }, || {
        let objects: Vec<Value> = effects
            .iter()
            .filter_map(|e| match e {
                KubeEffect::Apply { object, .. } => Some(object.clone()),
                KubeEffect::Delete { .. } => None,
            })
            .collect();
        kubectl
            .apply(&objects)
            .map_err(|e| EffectError::Kube(e.to_string()))?;
        for e in effects {
            if let KubeEffect::Delete {
                kind,
                namespace,
                name,
            } = e
            {
                kubectl
                    .delete(&resource(kind), namespace, name)
                    .map_err(|e| EffectError::Kube(e.to_string()))?;
            }
        }
        Ok(())
    })?;
    events(&super::Event::StepFinished {
        step: EFFECT_ID.to_owned(),
        duration: started.elapsed(),
    });
    Ok(())
}

/// Puts every object back as it was: the previous ones applied again (Services first), the
/// new ones deleted (slices first). Idempotent, so a resumed rollback may repeat it.
pub(crate) fn revert(items: &[KubeItem]) -> Result<(), KubeError> {
    let kubectl = Kubectl::from_env();
    let rank = |k: &str| KINDS.iter().position(|x| *x == k).unwrap_or(KINDS.len());
    let mut back: Vec<&KubeItem> = items.iter().filter(|i| i.previous.is_some()).collect();
    back.sort_by_key(|i| rank(&i.kind));
    let objects: Vec<Value> = back.iter().filter_map(|i| i.previous.clone()).collect();
    kubectl.apply(&objects)?;
    let mut gone: Vec<&KubeItem> = items.iter().filter(|i| i.previous.is_none()).collect();
    gone.sort_by_key(|i| std::cmp::Reverse(rank(&i.kind)));
    for i in gone {
        kubectl.delete(&resource(&i.kind), &i.namespace, &i.name)?;
    }
    Ok(())
}

/// `compose:down`: the deletion of every object the stack owns in its namespace (slices
/// first), when the stack is on k3s. Read-only: the teardown runs them as one journaled effect
/// after its steps, and a dry run shows them.
pub(crate) fn down(
    stack: &str,
    compose: &Value,
    q: &dyn Fn(&Cmd) -> Option<String>,
    kubectl: &Kubectl,
) -> Result<Vec<KubeEffect>, KubeError> {
    let global = q(&Cmd::dokku([
        "scheduler:report",
        "--global",
        "--scheduler-global-selected",
    ]))
    .unwrap_or_default();
    if !crate::kube::on_k3s(compose, &global) {
        return Ok(Vec::new());
    }
    let selector = format!(
        "app.kubernetes.io/managed-by={},{}={stack}",
        crate::kube::MANAGED_BY,
        crate::kube::STACK_LABEL
    );
    let mut deletions = Vec::new();
    for kind in KINDS.iter().rev() {
        for o in kubectl.get(&resource(kind), stack, Some(&selector))? {
            if !crate::kube::owned_by(&o, stack) {
                continue;
            }
            deletions.push(KubeEffect::Delete {
                kind: (*kind).to_owned(),
                namespace: stack.to_owned(),
                name: o["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            });
        }
    }
    Ok(deletions)
}
