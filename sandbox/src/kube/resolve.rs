//! `dokku sandbox:k3s-resolve <namespace> <host> <port>`: what a pod in `<namespace>` reaches
//! at `<host>:<port>` through cluster DNS and kube-proxy, from the object store. `<host>` is a
//! short name, `<name>.<ns>`, `<name>.<ns>.svc` or `<name>.<ns>.svc.cluster.local`. It
//! resolves when it names a Service that has `<port>` and whose selector matches the pod
//! template of a Deployment with replicas >= 1 (or, selector-less, an EndpointSlice of the
//! Service with an address and the port's endpoint port).

use serde_json::Value;

use crate::ctx::Paths;

/// The target, or why nothing answers.
pub fn resolve(paths: &Paths, namespace: &str, host: &str, port: u16) -> Result<String, String> {
    let labels: Vec<&str> = host.split('.').collect();
    let (name, ns) = match labels.as_slice() {
        [name] => (*name, namespace),
        [name, ns] | [name, ns, "svc"] | [name, ns, "svc", "cluster", "local"] => (*name, *ns),
        _ => return Err(format!("`{host}` is not a cluster service name (name, name.namespace or name.namespace.svc.cluster.local)")),
    };
    let svc = super::get(paths, ns, "Service", name)?.ok_or_else(|| {
        format!("`{host}` does not resolve: no Service `{name}` in namespace `{ns}`")
    })?;
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let Some(sp) = ports
        .iter()
        .find(|p| p["port"].as_u64() == Some(u64::from(port)))
    else {
        let have: Vec<String> = ports.iter().map(|p| p["port"].to_string()).collect();
        return Err(format!(
            "Service `{ns}/{name}` has no port {port} (it has: {})",
            if have.is_empty() {
                "none".into()
            } else {
                have.join(" ")
            }
        ));
    };
    let port_name = sp["name"].as_str().unwrap_or("");
    match svc["spec"]["selector"]
        .as_object()
        .filter(|s| !s.is_empty())
    {
        Some(selector) => {
            let target = sp["targetPort"].as_u64().unwrap_or(u64::from(port));
            for d in super::list(paths, ns, "Deployment")? {
                let pod = &d["spec"]["template"]["metadata"]["labels"];
                if !selector.iter().all(|(k, v)| &pod[k] == v) {
                    continue;
                }
                let replicas = d["spec"]["replicas"].as_u64().unwrap_or(1);
                if replicas >= 1 {
                    return Ok(format!(
                        "{host}:{port} -> Service {ns}/{name} -> Deployment {} ({replicas} replica(s)), container port {target}",
                        d["metadata"]["name"].as_str().unwrap_or("")
                    ));
                }
            }
            Err(format!(
                "Service `{ns}/{name}` selects {}: no Deployment with replicas >= 1 has such pods",
                Value::Object(selector.clone())
            ))
        }
        None => {
            for s in super::list(paths, ns, "EndpointSlice")? {
                if s["metadata"]["labels"]["kubernetes.io/service-name"].as_str() != Some(name) {
                    continue;
                }
                let ep_port = s["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["name"].as_str().unwrap_or("") == port_name)
                    .and_then(|p| p["port"].as_u64());
                let addr = s["endpoints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|e| e["addresses"].as_array().into_iter().flatten())
                    .find_map(Value::as_str);
                if let (Some(p), Some(a)) = (ep_port, addr) {
                    return Ok(format!(
                        "{host}:{port} -> Service {ns}/{name} -> EndpointSlice {} -> {a}:{p}",
                        s["metadata"]["name"].as_str().unwrap_or("")
                    ));
                }
            }
            Err(format!(
                "Service `{ns}/{name}` has no selector and no EndpointSlice with an address for its port {port}"
            ))
        }
    }
}
