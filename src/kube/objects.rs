//! The objects themselves, typed against the Kubernetes API the sandbox validates with
//! (`k8s-openapi`, feature `v1_33`), serialized to JSON values.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::{owned_labels, ContainerPort, DatastoreEndpoint};

/// The annotation naming the compose service an object serves (for messages).
pub(crate) const SERVICE_ANNOTATION: &str = "dokku-compose.io/service";

/// The process type whose pods serve a compose service: the plugin runs each service as the
/// app's `web` process (its generated Procfile / image command).
pub(crate) const PROCESS: &str = "web";

fn meta(stack: &str, name: &str, service: &str, extra: &[(&str, &str)]) -> ObjectMeta {
    let mut labels = owned_labels(stack);
    for (k, v) in extra {
        labels.insert((*k).to_owned(), (*v).to_owned());
    }
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(stack.to_owned()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            SERVICE_ANNOTATION.to_owned(),
            service.to_owned(),
        )])),
        ..ObjectMeta::default()
    }
}

/// `tcp-5432`: ports are named so that a Service and its EndpointSlice pair them.
fn port_name(port: u16, protocol: &str) -> String {
    format!("{}-{port}", protocol.to_ascii_lowercase())
}

fn to_value<T: serde::Serialize>(o: &T) -> Value {
    serde_json::to_value(o).expect("Kubernetes objects serialize")
}

/// The Service `name` reaching the `web` pods of `app` (Dokku's chart labels:
/// `app.kubernetes.io/part-of: <app>`, `app.kubernetes.io/name: web`) on the compose ports.
pub(crate) fn app_service(
    stack: &str,
    name: &str,
    service: &str,
    app: &str,
    ports: &BTreeSet<ContainerPort>,
) -> Value {
    let svc = Service {
        metadata: meta(stack, name, service, &[]),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_owned(), PROCESS.to_owned()),
                ("app.kubernetes.io/part-of".to_owned(), app.to_owned()),
            ])),
            ports: Some(
                ports
                    .iter()
                    .map(|p| ServicePort {
                        name: Some(port_name(p.port, p.protocol)),
                        port: i32::from(p.port),
                        protocol: Some(p.protocol.to_owned()),
                        target_port: Some(IntOrString::Int(i32::from(p.port))),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    };
    to_value(&svc)
}

/// The selector-less Service `name` of a datastore: the link URL's host and port resolve to
/// it; its EndpointSlice ([`datastore_slice`]) says where the datastore is.
pub(crate) fn datastore_service(
    stack: &str,
    name: &str,
    service: &str,
    ep: &DatastoreEndpoint,
) -> Value {
    let svc = Service {
        metadata: meta(stack, name, service, &[]),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            ports: Some(
                ep.ports
                    .iter()
                    .map(|(container, _)| ServicePort {
                        name: Some(port_name(*container, "TCP")),
                        port: i32::from(*container),
                        protocol: Some("TCP".into()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    };
    to_value(&svc)
}

/// The EndpointSlice of a datastore's Service (named like it; `kubernetes.io/service-name`
/// ties them): the Dokku host's private address and the host ports the datastore is exposed on.
pub(crate) fn datastore_slice(
    stack: &str,
    name: &str,
    service: &str,
    ep: &DatastoreEndpoint,
) -> Value {
    let slice = EndpointSlice {
        metadata: meta(
            stack,
            name,
            service,
            &[
                ("kubernetes.io/service-name", name),
                ("endpointslice.kubernetes.io/managed-by", "dokku-compose"),
            ],
        ),
        address_type: "IPv4".into(),
        endpoints: vec![Endpoint {
            addresses: vec![ep.address.clone()],
            ..Endpoint::default()
        }],
        ports: Some(
            ep.ports
                .iter()
                .map(|(container, host)| EndpointPort {
                    name: Some(port_name(*container, "TCP")),
                    port: Some(i32::from(*host)),
                    protocol: Some("TCP".into()),
                    ..EndpointPort::default()
                })
                .collect(),
        ),
    };
    to_value(&slice)
}
