//! Service discovery on Dokku's k3s scheduler (issue 21, docs/k3s-discovery.md): the
//! Kubernetes objects dokku-compose owns in a stack's namespace, as plain values.
//!
//! On k3s, Docker network aliases do not exist: Dokku's chart gives an app one Service,
//! `<app>-web`, on its http/https host ports only. So that every compose service name and
//! network alias resolves for its consumers with the compose ports, the plugin owns one Service
//! per name, selecting the pods of the app's `web` process (Dokku's chart labels). A datastore
//! runs on the Dokku host, outside the cluster: the link host name (`dokku-postgres-<s>`) and
//! the datastore's compose names become selector-less Services whose EndpointSlice points at
//! the datastore's port exposed on the Dokku host's private address.
//!
//! This module is pure: [`desired`] renders the objects, [`diff`] compares them with the
//! objects the cluster has and yields the [`KubeEffect`]s the executor runs through kubectl
//! (`exec::kube`), journaled and undone with the rest of the apply.

pub(crate) mod kubectl;
pub(crate) mod objects;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::model::{Kind, Project};

/// `app.kubernetes.io/managed-by` of every object the plugin owns.
pub(crate) const MANAGED_BY: &str = "dokku-compose";
/// The label naming the stack an object belongs to.
pub(crate) const STACK_LABEL: &str = "dokku-compose.io/stack";
/// The kinds the plugin owns, in the order they are applied (a Service before its slices).
pub(crate) const KINDS: [&str; 2] = ["Service", "EndpointSlice"];

/// A change to the cluster, run in the apply's transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KubeEffect {
    /// `kubectl apply` of the object (created or updated); undone by applying the object the
    /// cluster had before, or deleting it when there was none.
    Apply {
        /// `Service` or `EndpointSlice`.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The object.
        object: Value,
    },
    /// `kubectl delete` of an object the stack no longer has; undone by applying it again.
    Delete {
        /// Kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

impl KubeEffect {
    /// (kind, namespace, name).
    pub(crate) fn key(&self) -> (&str, &str, &str) {
        match self {
            KubeEffect::Apply {
                kind,
                namespace,
                name,
                ..
            }
            | KubeEffect::Delete {
                kind,
                namespace,
                name,
            } => (kind, namespace, name),
        }
    }
}

impl std::fmt::Display for KubeEffect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeEffect::Apply {
                kind,
                namespace,
                name,
                object,
            } => {
                let what = describe(object);
                write!(f, "# kube: apply {kind} {namespace}/{name}{what}\n#   undo: apply the previous {kind}, or delete it")
            }
            KubeEffect::Delete {
                kind,
                namespace,
                name,
            } => write!(
                f,
                "# kube: delete {kind} {namespace}/{name}\n#   undo: apply it again"
            ),
        }
    }
}

/// ` (ports 80/TCP -> app shop-web)`, for the plan's text.
fn describe(object: &Value) -> String {
    let ports = |list: &Value| {
        list.as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        format!(
                            "{}/{}",
                            p["port"].as_u64().unwrap_or(0),
                            p["protocol"].as_str().unwrap_or("TCP")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    if object["kind"] == "EndpointSlice" {
        let addrs: Vec<&str> = object["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| e["addresses"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        return format!(" ({} at {})", ports(&object["ports"]), addrs.join(" "));
    }
    let target = match object["spec"]["selector"]["app.kubernetes.io/part-of"].as_str() {
        Some(app) => format!("app {app}"),
        None => "its EndpointSlice".into(),
    };
    format!(" (ports {} -> {target})", ports(&object["spec"]["ports"]))
}

/// Why the objects cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// A name the cluster cannot have as a Service.
    #[error("`{path}`: `{name}` cannot be a Kubernetes Service name on k3s (lowercase letters, digits and `-`, starting with a letter, at most 63 characters): rename it")]
    BadName {
        /// Key path.
        path: String,
        /// The name.
        name: String,
    },
    /// Two services answer to one name.
    #[error("`{path}`: `{name}` names both `{first}` and `{second}`; on k3s one namespace holds the stack, so a name reaches one service")]
    Collision {
        /// Key path.
        path: String,
        /// The name.
        name: String,
        /// One service.
        first: String,
        /// The other.
        second: String,
    },
    /// A port written as the cluster cannot serve it.
    #[error("`{path}`: `{value}` is not a port, a port range or `port/protocol`")]
    BadPort {
        /// Key path.
        path: String,
        /// The value.
        value: String,
    },
    /// More container ports than one Service carries.
    #[error("`{path}`: {count} container ports; a Service of the stack carries at most {MAX_PORTS} (narrow the `expose` ranges)")]
    TooManyPorts {
        /// Key path.
        path: String,
        /// How many.
        count: usize,
    },
    /// The name is taken by an object the stack does not own.
    #[error("`{path}`: {kind} `{name}` exists in namespace `{namespace}` and is not this stack's (no `{STACK_LABEL}: {stack}` label); dokku-compose does not replace it")]
    NotOwned {
        /// Key path.
        path: String,
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// Namespace.
        namespace: String,
        /// Stack.
        stack: String,
    },
    /// A datastore the cluster cannot reach.
    #[error("`{path}`: {message}")]
    Datastore {
        /// Key path.
        path: String,
        /// Why.
        message: String,
    },
    /// kubectl failed or answered what is not an object list.
    #[error("kubectl: {0}")]
    Kubectl(String),
}

/// Whether the stack deploys on the k3s scheduler.
///
/// For `compose:down`, which reads no live state: the top-level `x-dokku.scheduler` of the
/// compose file, else the host's global `scheduler:set` value. An apply decides with the model
/// and the live state instead (`plan::stack_on_k3s`: any app of the stack on k3s).
pub(crate) fn on_k3s(compose: &Value, global_scheduler: &str) -> bool {
    match compose["x-dokku"]["scheduler"].as_str() {
        Some(s) => s == "k3s",
        None => global_scheduler.trim() == "k3s",
    }
}

/// Where a datastore is reached from the cluster: the Dokku host's private address and the
/// host ports its plugin exposed there, in the plugin's port order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatastoreEndpoint {
    /// The address (IPv4).
    pub address: String,
    /// Container port -> host port.
    pub ports: Vec<(u16, u16)>,
}

/// The labels of every object the stack owns.
pub(crate) fn owned_labels(stack: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        ),
        (STACK_LABEL.to_owned(), stack.to_owned()),
    ])
}

/// Whether `object` carries the stack's ownership labels.
pub(crate) fn owned_by(object: &Value, stack: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    labels["app.kubernetes.io/managed-by"] == MANAGED_BY && labels[STACK_LABEL] == stack
}

/// A Kubernetes Service name (RFC 1035 label).
pub(crate) fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// The most container ports one Service carries (an `expose: ["1-65535"]` would otherwise make
/// an object of 65535 ports).
pub(crate) const MAX_PORTS: usize = 100;

/// A port the service listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ContainerPort {
    /// The number.
    pub port: u16,
    /// `TCP` or `UDP`.
    pub protocol: &'static str,
}

fn protocol(p: &str) -> Option<&'static str> {
    match p.to_ascii_lowercase().as_str() {
        "" | "tcp" => Some("TCP"),
        "udp" => Some("UDP"),
        "sctp" => Some("SCTP"),
        _ => None,
    }
}

/// The container ports of a compose service: `expose` (`3000`, `3000-3002`, `53/udp`) and the
/// targets of `ports`, in order, once each.
pub(crate) fn container_ports(
    service: &str,
    compose: &Value,
) -> Result<BTreeSet<ContainerPort>, KubeError> {
    let svc = &compose["services"][service];
    let mut out = BTreeSet::new();
    for (i, e) in svc["expose"].as_array().into_iter().flatten().enumerate() {
        let path = format!("services.{service}.expose[{i}]");
        let text = match e {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        let bad = || KubeError::BadPort {
            path: path.clone(),
            value: text.clone(),
        };
        let (range, proto) = text.split_once('/').unwrap_or((&text, ""));
        let proto = protocol(proto).ok_or_else(bad)?;
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if lo == 0 || hi < lo {
            return Err(bad());
        }
        if usize::from(hi - lo) >= MAX_PORTS {
            return Err(KubeError::TooManyPorts {
                path,
                count: usize::from(hi - lo) + 1,
            });
        }
        for port in lo..=hi {
            out.insert(ContainerPort {
                port,
                protocol: proto,
            });
        }
    }
    for (i, p) in svc["ports"].as_array().into_iter().flatten().enumerate() {
        let path = format!("services.{service}.ports[{i}]");
        let bad = || KubeError::BadPort {
            path: path.clone(),
            value: p.to_string(),
        };
        let port = p["target"]
            .as_u64()
            .and_then(|t| u16::try_from(t).ok())
            .filter(|t| *t > 0)
            .ok_or_else(bad)?;
        let proto = protocol(p["protocol"].as_str().unwrap_or("")).ok_or_else(bad)?;
        out.insert(ContainerPort {
            port,
            protocol: proto,
        });
    }
    if out.len() > MAX_PORTS {
        return Err(KubeError::TooManyPorts {
            path: format!("services.{service}"),
            count: out.len(),
        });
    }
    Ok(out)
}

/// The names a compose service answers to in the cluster: its name and its network aliases on
/// every network (compose resolves them on the networks a consumer shares; on k3s the stack is
/// one namespace).
fn names_of(service: &str, compose: &Value, extra: &BTreeSet<String>) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = extra.clone();
    names.insert(service.to_owned());
    if let Some(nets) = compose["services"][service]["networks"].as_object() {
        for net in nets.values() {
            for a in net["aliases"].as_array().into_iter().flatten() {
                if let Some(a) = a.as_str() {
                    names.insert(a.to_owned());
                }
            }
        }
    }
    names
}

/// The objects the stack needs in its namespace (the stack name), sorted by kind then name.
/// `endpoints` says where each datastore (by compose name) is reached; a datastore missing
/// there gets no objects (the caller refuses it first).
pub(crate) fn desired(
    project: &Project,
    compose: &Value,
    on_host: &BTreeSet<String>,
    endpoints: &BTreeMap<String, DatastoreEndpoint>,
) -> Result<Vec<Value>, KubeError> {
    let stack = project.stack.as_str();
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |name: &str, service: &str, path: &str| -> Result<(), KubeError> {
        if !valid_name(name) {
            return Err(KubeError::BadName {
                path: path.to_owned(),
                name: name.to_owned(),
            });
        }
        match claimed.get(name) {
            Some(first) if first != service => Err(KubeError::Collision {
                path: path.to_owned(),
                name: name.to_owned(),
                first: first.clone(),
                second: service.to_owned(),
            }),
            _ => {
                claimed.insert(name.to_owned(), service.to_owned());
                Ok(())
            }
        }
    };
    let mut out: Vec<Value> = Vec::new();
    for (sname, svc) in &project.services {
        let service = sname.as_str();
        let path = format!("services.{service}");
        match &svc.kind {
            // An app on the Dokku host is reached as a datastore is, on the ports it publishes
            // (none: no Service, which would select pods that do not exist).
            Kind::App(app) if on_host.contains(service) => {
                let Some(ep) = endpoints.get(service) else {
                    continue;
                };
                for name in names_of(service, compose, &app.aliases) {
                    claim(&name, service, &path)?;
                    out.push(objects::datastore_service(stack, &name, service, ep));
                    out.push(objects::datastore_slice(stack, &name, service, ep));
                }
            }
            Kind::App(app) => {
                let ports = container_ports(service, compose)?;
                if ports.is_empty() {
                    continue;
                }
                for name in names_of(service, compose, &app.aliases) {
                    claim(&name, service, &path)?;
                    out.push(objects::app_service(
                        stack,
                        &name,
                        service,
                        app.app.as_str(),
                        &ports,
                    ));
                }
            }
            Kind::Datastore(ds) => {
                let Some(ep) = endpoints.get(service) else {
                    continue;
                };
                let mut names = names_of(service, compose, &ds.hosts);
                names.insert(crate::model::datastore_host(ds));
                for name in names {
                    claim(&name, service, &path)?;
                    out.push(objects::datastore_service(stack, &name, service, ep));
                    out.push(objects::datastore_slice(stack, &name, service, ep));
                }
            }
        }
    }
    out.sort_by_key(sort_key);
    Ok(out)
}

fn sort_key(o: &Value) -> (usize, String) {
    let kind = o["kind"].as_str().unwrap_or("");
    (
        KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len()),
        o["metadata"]["name"].as_str().unwrap_or("").to_owned(),
    )
}

/// Whether every field `want` sets has the same value in `have` (the API server adds its own:
/// cluster IPs, defaults, status, metadata).
pub(crate) fn subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| subset(a, b))
        }
        _ => want == have,
    }
}

/// The effects that make the namespace hold `want`: applies of what is new or different,
/// deletes of the stack's objects no longer wanted; refused when a wanted name is taken by an
/// object the stack does not own. `live` are the namespace's objects of the kinds in
/// [`KINDS`].
pub(crate) fn diff(
    stack: &str,
    want: &[Value],
    live: &[Value],
) -> Result<Vec<KubeEffect>, KubeError> {
    let key = |o: &Value| {
        (
            o["kind"].as_str().unwrap_or("").to_owned(),
            o["metadata"]["name"].as_str().unwrap_or("").to_owned(),
        )
    };
    let live: BTreeMap<(String, String), &Value> = live.iter().map(|o| (key(o), o)).collect();
    let wanted: BTreeSet<(String, String)> = want.iter().map(key).collect();
    let mut out = Vec::new();
    for o in want {
        let (kind, name) = key(o);
        match live.get(&(kind.clone(), name.clone())) {
            Some(have) if !owned_by(have, stack) => {
                let service = o["metadata"]["annotations"]["dokku-compose.io/service"]
                    .as_str()
                    .unwrap_or("");
                return Err(KubeError::NotOwned {
                    path: format!("services.{service}"),
                    kind,
                    name,
                    namespace: stack.to_owned(),
                    stack: stack.to_owned(),
                });
            }
            Some(have) if subset(o, have) => {}
            _ => out.push(KubeEffect::Apply {
                kind,
                namespace: stack.to_owned(),
                name,
                object: o.clone(),
            }),
        }
    }
    // Slices before their Services, so a Service never lasts without its slice.
    let mut gone: Vec<&(String, String)> = live
        .iter()
        .filter(|(k, o)| owned_by(o, stack) && !wanted.contains(*k))
        .map(|(k, _)| k)
        .collect();
    gone.sort_by_key(|(kind, name)| {
        (
            std::cmp::Reverse(KINDS.iter().position(|k| k == kind)),
            name.clone(),
        )
    });
    for (kind, name) in gone {
        out.push(KubeEffect::Delete {
            kind: kind.clone(),
            namespace: stack.to_owned(),
            name: name.clone(),
        });
    }
    Ok(out)
}

/// The fields of a stored object that make it applicable again (what the API server added
/// removed), for undo.
pub(crate) fn applicable(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = o["metadata"].as_object_mut() {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(k);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    o
}

#[cfg(test)]
mod tests;
