//! An app member's compose keys from what the host runs: `depends_on`, ports, volumes,
//! networks, state and deploy, domains (docs/export.md).

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{Ctx, Used, FROM_STATE};
use crate::state::AppState;

/// An app member's keys: the recipe (what the host cannot tell), then what the host runs.
pub(super) fn app_fields(
    ctx: &Ctx<'_>,
    svc: &str,
    app: &str,
    rsvc: Option<&Map<String, Value>>,
    out: &mut Map<String, Value>,
    xd: &mut Map<String, Value>,
    used: &mut Used,
) {
    let a = &ctx.input.state.apps[app];
    if let Some(r) = rsvc {
        for (k, v) in r {
            if !FROM_STATE.contains(&k.as_str()) && !v.is_null() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if !out.contains_key("image") && !out.contains_key("build") {
        let image = ctx
            .input
            .images
            .get(app)
            .cloned()
            .unwrap_or_else(|| format!("dokku/{app}:latest"));
        out.insert("image".into(), json!(image));
    }
    let deps = depends_on(ctx, app, rsvc);
    ports(a, rsvc, out, xd);
    volumes(ctx, a, rsvc, out, used);
    networks(ctx, svc, a, out, used);
    state_and_deploy(ctx.recipe, svc, a, out, xd);
    if !deps.is_empty() {
        out.insert("depends_on".into(), Value::Object(deps));
    }
    // Domains and certificates.
    if a.domains.is_empty() {
        xd.remove("domains");
    } else {
        xd.insert("domains".into(), json!(a.domains));
    }
    if a.letsencrypt {
        xd.insert("letsencrypt".into(), json!(true));
        if used.le_email.is_none() {
            used.le_email = a.properties.get("letsencrypt:email").cloned();
        }
    } else {
        xd.remove("letsencrypt");
    }
}

/// `depends_on`: the recipe's (among members), plus every datastore linked.
fn depends_on(ctx: &Ctx<'_>, app: &str, rsvc: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut deps: Map<String, Value> = Map::new();
    if let Some(d) = rsvc
        .and_then(|r| r.get("depends_on"))
        .and_then(Value::as_object)
    {
        for (k, v) in d {
            if ctx.input.services.contains_key(k) {
                deps.insert(k.clone(), v.clone());
            }
        }
    }
    for (plugin, svcs) in &ctx.input.state.datastores {
        for (name, links) in svcs {
            if let Some(dsvc) = ctx
                .ds_of
                .get(&(plugin.as_str(), name.as_str()))
                .filter(|_| links.iter().any(|l| l == app))
            {
                deps.entry((*dsvc).to_owned())
                    .or_insert_with(|| json!({"condition": "service_started", "required": true}));
            }
        }
    }
    deps
}

/// Ports: the http maps (Let's Encrypt adds its https maps itself), or `x-dokku.proxy_port`
/// when that is all they say.
fn ports(
    a: &AppState,
    rsvc: Option<&Map<String, Value>>,
    out: &mut Map<String, Value>,
    xd: &mut Map<String, Value>,
) {
    let http: Vec<(&str, &str)> = a
        .ports
        .iter()
        .filter_map(|p| p.strip_prefix("http:")?.split_once(':'))
        .collect();
    let proxy_port = xd.get("proxy_port").and_then(Value::as_u64);
    let via_proxy_port = proxy_port.is_some_and(|pp| http == [("80", pp.to_string().as_str())])
        && rsvc.is_none_or(|r| {
            r.get("ports")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        });
    if !via_proxy_port {
        xd.remove("proxy_port");
        if a.proxy_enabled && !http.is_empty() {
            let ports: Vec<Value> = http
                .iter()
                .map(|(h, c)| json!(format!("{h}:{c}")))
                .collect();
            out.insert("ports".into(), Value::Array(ports));
        }
    }
}

/// Volumes: recipe volumes the host still mounts (or baked into the image), then the host's
/// other mounts.
fn volumes(
    ctx: &Ctx<'_>,
    a: &AppState,
    rsvc: Option<&Map<String, Value>>,
    out: &mut Map<String, Value>,
    used: &mut Used,
) {
    let mut volumes: Vec<Value> = Vec::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mounts: Vec<(Option<&str>, &str, &str, bool)> = a
        .mounts
        .iter()
        .filter_map(|m| {
            let (m, ro) = m
                .strip_suffix(":ro")
                .map_or((m.as_str(), false), |x| (x, true));
            if let Some(rest) = m.strip_prefix("entry:") {
                let (name, target) = rest.split_once(':')?;
                Some((Some(name), "", target, ro))
            } else {
                let (host, target) = m.split_once(':')?;
                Some((None, host, target, ro))
            }
        })
        .collect();
    for v in rsvc
        .and_then(|r| r.get("volumes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let target = v["target"].as_str().unwrap_or_default();
        let baked = v["type"] == "bind" && v["read_only"] == true;
        if mounts.iter().any(|m| m.2 == target) || baked {
            covered.insert(target.to_owned());
            if v["type"] == "volume" {
                if let Some(s) = v["source"].as_str() {
                    used.volumes.insert(s.to_owned());
                }
            }
            volumes.push(v.clone());
        }
    }
    for (entry, host, target, ro) in mounts {
        if covered.contains(target) {
            continue;
        }
        let ro = if ro { ":ro" } else { "" };
        match entry {
            Some(e) => {
                let vol = e.strip_prefix(&ctx.prefix).unwrap_or(e).to_owned();
                volumes.push(json!(format!("{vol}:{target}{ro}")));
                used.volumes.insert(vol);
            }
            None => volumes.push(json!(format!("{host}:{target}{ro}"))),
        }
    }
    if !volumes.is_empty() {
        out.insert("volumes".into(), Value::Array(volumes));
    }
}

/// Networks: the initial network first, then the attached ones (after creation, then after
/// deploy: the planner puts the third and later networks of a service in
/// `attach-post-deploy`); extra aliases.
fn networks(ctx: &Ctx<'_>, svc: &str, a: &AppState, out: &mut Map<String, Value>, used: &mut Used) {
    let mut nets: Vec<String> = Vec::new();
    for key in [
        "network:initial-network",
        "network:attach-post-create",
        "network:attach-post-deploy",
    ] {
        if let Some(v) = a.properties.get(key) {
            for n in v.split([' ', ',']).filter(|n| !n.is_empty()) {
                if !nets.iter().any(|x| x == n) {
                    nets.push(n.to_owned());
                }
            }
        }
    }
    let aliases: Vec<String> = a
        .docker_options
        .get("deploy")
        .into_iter()
        .flatten()
        .filter_map(|o| o.strip_prefix("--network-alias "))
        .map(|x| x.trim().to_owned())
        .filter(|x| x != svc)
        .collect();
    let short: Vec<String> = nets
        .iter()
        .map(|n| n.strip_prefix(&ctx.prefix).unwrap_or(n).to_owned())
        .collect();
    if short.is_empty() || (short == ["default"] && aliases.is_empty()) {
        return;
    }
    let mut m = Map::new();
    for (i, (full, n)) in nets.iter().zip(&short).enumerate() {
        used.networks.insert(full.clone());
        let mut spec = Map::new();
        if i == 0 {
            if !aliases.is_empty() {
                spec.insert("aliases".into(), json!(aliases));
            }
            if nets.len() > 1 {
                spec.insert("priority".into(), json!(100));
            }
        }
        m.insert(
            n.clone(),
            if spec.is_empty() {
                Value::Null
            } else {
                Value::Object(spec)
            },
        );
    }
    out.insert("networks".into(), Value::Object(m));
}

/// Expected state and scale, resources, restart policy and stop timeout.
fn state_and_deploy(
    recipe: &Value,
    svc: &str,
    a: &AppState,
    out: &mut Map<String, Value>,
    xd: &mut Map<String, Value>,
) {
    let web = a.scale.get("web").copied();
    let implied = recipe["services"].as_object().is_some_and(|s| {
        s.values()
            .any(|o| o["depends_on"][svc]["condition"] == "service_completed_successfully")
    });
    if !xd.contains_key("state") && web == Some(0) && !implied {
        xd.insert("state".into(), json!("stopped"));
    }
    let running = xd.get("state").is_none_or(|s| s == "running") && !(implied && web == Some(0));
    let mut deploy = Map::new();
    if let (true, Some(n)) = (running, web) {
        deploy.insert("replicas".into(), json!(n));
    }
    let mut limits = Map::new();
    let mut reservations = Map::new();
    for (k, v) in &a.resources {
        match k.as_str() {
            "limit:cpu" => {
                limits.insert("cpus".into(), json!(v));
            }
            "limit:memory" => {
                limits.insert("memory".into(), json!(v));
            }
            "limit:memory-swap" => {
                out.insert("memswap_limit".into(), json!(v));
            }
            "reserve:memory" => {
                reservations.insert("memory".into(), json!(v));
            }
            _ => {}
        }
    }
    let mut res = Map::new();
    if !limits.is_empty() {
        res.insert("limits".into(), Value::Object(limits));
    }
    if !reservations.is_empty() {
        res.insert("reservations".into(), Value::Object(reservations));
    }
    if !res.is_empty() {
        deploy.insert("resources".into(), Value::Object(res));
    }
    if !deploy.is_empty() {
        out.insert("deploy".into(), Value::Object(deploy));
    }
    if let Some(p) = a.properties.get("ps:restart-policy") {
        out.insert("restart".into(), json!(p));
    }
    if let Some(t) = a.properties.get("ps:stop-timeout-seconds") {
        out.insert("stop_grace_period".into(), json!(format!("{t}s")));
    }
}
