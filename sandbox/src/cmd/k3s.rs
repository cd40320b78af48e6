//! `scheduler-k3s:*` and `registry:*` as Dokku v0.38 has them (dokku/dokku 33896f5d7,
//! plugins/scheduler-k3s `scheduler_k3s.go`, `subcommands.go`, `report.go`, `functions.go`;
//! plugins/registry `registry.go`, `report.go`, `functions.go`). Properties follow
//! plugins/common `CommandPropertySet`: app check, then the global check, then the empty
//! property, then the property list (the app-level list is the union of both lists). The
//! cluster is the store under `<root>/k3s` (`crate::k3s`): `initialize` creates the server node,
//! `cluster:add` a node per remote host, `profiles:*` the `node-profile-<name>.json` properties.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::args::{parse, spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::store::{rows, Report, Row};

/// plugins/scheduler-k3s `DefaultProperties` (settable per app).
const K3S_APP: &[&str] = &[
    "cert-issuer-kind",
    "cert-issuer-name",
    "deploy-timeout",
    "image-pull-secrets",
    "kustomize-root-path",
    "letsencrypt-email-prod",
    "letsencrypt-email-stag",
    "letsencrypt-server",
    "namespace",
    "rollback-on-failure",
    "shm-size",
];

/// plugins/scheduler-k3s `GlobalProperties`.
const K3S_GLOBAL: &[&str] = &[
    "cert-issuer-kind",
    "cert-issuer-name",
    "deploy-timeout",
    "image-pull-secrets",
    "ingress-class",
    "kube-context",
    "kubeconfig-path",
    "kustomize-root-path",
    "letsencrypt-email-prod",
    "letsencrypt-email-stag",
    "letsencrypt-server",
    "namespace",
    "network-interface",
    "node-sysctls-image",
    "node-sysctls-pause-image",
    "rollback-on-failure",
    "shm-size",
    "token",
];

/// plugins/registry `DefaultProperties`.
const REGISTRY_APP: &[&str] = &[
    "image-repo",
    "image-repo-template",
    "push-extra-tags",
    "push-on-release",
    "server",
];

/// plugins/registry `GlobalProperties`.
const REGISTRY_GLOBAL: &[&str] = &[
    "image-repo-template",
    "push-extra-tags",
    "push-on-release",
    "server",
];

/// The charts `scheduler-k3s:set --global chart.<chart>.<key>` may name (`HelmCharts`).
const CHARTS: &[&str] = &[
    "cert-manager",
    "longhorn",
    "traefik",
    "ingress-nginx",
    "keda",
    "keda-add-ons-http",
    "vector",
];

/// plugins/common `CommandPropertySet` for a Go plugin.
fn property_set(
    ctx: &Ctx,
    plugin: &str,
    scope: &str,
    property: &str,
    value: &str,
    app_keys: &[&str],
    global_keys: &[&str],
) -> Res {
    if scope != "--global" {
        ctx.verify_app(scope)?;
    }
    if scope == "--global" && !global_keys.contains(&property) {
        return fail("Property cannot be specified globally");
    }
    if property.is_empty() {
        return fail("No property specified");
    }
    let mut valid: Vec<&str> = app_keys.iter().chain(global_keys).copied().collect();
    valid.sort_unstable();
    valid.dedup();
    if !valid.contains(&property) {
        return fail(format!(
            "Invalid property specified, valid properties include: {}",
            valid.join(", ")
        ));
    }
    crate::cmd::props::set_value(ctx, plugin, scope, property, value)
}

/// `<plugin>:set <app|--global> <property> [<value>]` argv as the Go subcommands read it
/// (pflag; only the first value word counts).
fn set_args(args: &[String]) -> Res<(String, String, String)> {
    let a = parse(args, &spec(&[], &["--global"]))?;
    Ok(if a.has("--global") {
        ("--global".into(), a.arg(0), a.arg(1))
    } else {
        (a.arg(0), a.arg(1), a.arg(2))
    })
}

/// Whether `s` is a DNS-1123 subdomain (`validation.IsDNS1123Subdomain`).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Whether `s` is a DNS-1123 label (`validation.IsDNS1123Label`): a namespace name.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_dns1123_subdomain(s)
}

/// `scheduler-k3s:*`.
pub fn scheduler_k3s(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "set" => k3s_set(ctx, args),
        "report" => Report {
            plugin: "scheduler-k3s",
            kind: "scheduler-k3s",
            legacy: true,
        }
        .run(ctx, args, &|c, a| k3s_rows(c, a), &|c| {
            k3s_rows(c, "--global")
        }),
        "initialize" => initialize(ctx, args),
        "cluster:add" => cluster_add(ctx, args),
        "cluster:list" => cluster_list(ctx, args),
        "cluster:remove" => cluster_remove(ctx, args),
        "profiles:add" => profiles_add(ctx, args),
        "profiles:list" => profiles_list(ctx, args),
        "profiles:remove" => profiles_remove(ctx, args),
        _ => Err(Fail::Silent(255)),
    }
}

/// plugins/scheduler-k3s `CommandSet`.
fn k3s_set(ctx: &mut Ctx, args: &[String]) -> Res {
    let (scope, property, mut value) = set_args(args)?;
    if let Some(rest) = property.strip_prefix("chart.") {
        ctx.warn("scheduler-k3s:set chart.* properties are deprecated; use scheduler-k3s:charts:set <chart>.<property> instead");
        if scope != "--global" {
            return fail("Chart properties can only be set globally");
        }
        let Some((chart, key)) = rest.split_once('.') else {
            return fail(format!(
                "Invalid chart property, expected format: chart.$CHART_NAME.$PROPERTY: {property}"
            ));
        };
        if chart.is_empty() {
            return fail("Invalid chart property, missing chart name");
        }
        if !CHARTS.contains(&chart) {
            return fail(format!(
                "Invalid chart property, no matching chart found: {property}"
            ));
        }
        return crate::cmd::props::set_value(
            ctx,
            "scheduler-k3s",
            "--global",
            &format!("chart-overrides.{chart}.{key}"),
            &value,
        );
    }
    match property.as_str() {
        "cert-issuer-kind" => {
            value = match value.to_ascii_lowercase().as_str() {
                "" => String::new(),
                "issuer" => "Issuer".into(),
                "clusterissuer" => "ClusterIssuer".into(),
                _ => {
                    return fail(format!(
                    "Invalid cert-issuer-kind: {value}, valid values are Issuer and ClusterIssuer"
                ))
                }
            }
        }
        "cert-issuer-name"
            if !value.is_empty() && value != "false" && !is_dns1123_subdomain(&value) =>
        {
            return fail(format!("Invalid cert-issuer-name: {value}, a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
        }
        "letsencrypt-server"
            if !matches!(
                value.as_str(),
                "" | "prod" | "production" | "stag" | "staging" | "false"
            ) =>
        {
            return fail(format!("Invalid letsencrypt-server: {value}, valid values are prod, production, stag, staging, and false"));
        }
        _ => {}
    }
    property_set(
        ctx,
        "scheduler-k3s",
        &scope,
        &property,
        &value,
        K3S_APP,
        K3S_GLOBAL,
    )
}

/// A computed scheduler-k3s property: app, then global, then Dokku's default
/// (`getComputed*` in plugins/scheduler-k3s/functions.go).
pub fn k3s_computed(ctx: &Ctx, app: &str, key: &str) -> Res<String> {
    let default = match key {
        "deploy-timeout" => "300s",
        "namespace" => "default",
        "rollback-on-failure" => "false",
        "kustomize-root-path" => "config/kustomize",
        "letsencrypt-server" => "prod",
        "cert-issuer-kind" => "ClusterIssuer",
        "ingress-class" => "nginx",
        "network-interface" => "eth0",
        "kubeconfig-path" => "/etc/rancher/k3s/k3s.yaml",
        "node-sysctls-image" => "busybox:1.36",
        "node-sysctls-pause-image" => "registry.k8s.io/pause:3.9",
        _ => "",
    };
    // Global-only properties ignore an app value (`getComputedIngressClass` reads --global).
    if !K3S_APP.contains(&key) {
        return ctx.prop_computed("scheduler-k3s", "--global", key, default);
    }
    ctx.prop_computed("scheduler-k3s", app, key, default)
}

/// plugins/scheduler-k3s `ReportSingleApp` rows.
fn k3s_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let global = app == "--global";
    let mut v = Vec::new();
    for k in K3S_GLOBAL {
        let gv = ctx.prop_or("scheduler-k3s", "--global", k)?;
        match *k {
            "token" => {
                if global {
                    // The stdout report masks the token (`tokenMask`).
                    let shown = if gv.is_empty() { gv } else { "*******".into() };
                    v.push((format!("scheduler-k3s-global-{k}"), shown));
                }
            }
            "node-sysctls-image" | "node-sysctls-pause-image" => {
                v.push((format!("scheduler-k3s-global-{k}"), gv));
            }
            _ => {
                v.push((
                    format!("scheduler-k3s-computed-{k}"),
                    k3s_computed(ctx, app, k)?,
                ));
                v.push((format!("scheduler-k3s-global-{k}"), gv));
                if !global && K3S_APP.contains(k) {
                    v.push((
                        format!("scheduler-k3s-{k}"),
                        ctx.prop_or("scheduler-k3s", app, k)?,
                    ));
                }
            }
        }
    }
    Ok(rows(v))
}

/// A node of the cluster as the sandbox records it (a `v1` Node object in
/// `<root>/k3s/nodes/<name>.json`).
fn node_object(
    name: &str,
    role: &str,
    profile: &str,
    remote_host: &str,
    taint: bool,
    kubelet_args: &[String],
) -> serde_json::Value {
    // `nodeLabels`: ServerLabels or WorkerLabels, plus the profile label; k3s itself labels a
    // server node control-plane and master.
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/hostname".to_string(), name.to_string());
    if role == "server" {
        labels.insert(
            "svccontroller.k3s.cattle.io/enablelb".to_string(),
            "true".to_string(),
        );
        labels.insert(
            "node-role.kubernetes.io/control-plane".to_string(),
            "true".to_string(),
        );
        labels.insert(
            "node-role.kubernetes.io/master".to_string(),
            "true".to_string(),
        );
    } else {
        labels.insert(
            "node-role.kubernetes.io/worker".to_string(),
            "worker".to_string(),
        );
    }
    if !profile.is_empty() {
        labels.insert("dokku.com/node-profile".to_string(), profile.to_string());
    }
    let mut annotations = BTreeMap::new();
    if !remote_host.is_empty() {
        annotations.insert("dokku.com/remote-host".to_string(), remote_host.to_string());
    }
    if !kubelet_args.is_empty() {
        annotations.insert("dokku.com/kubelet-args".to_string(), kubelet_args.join(","));
    }
    let taints = if taint {
        json!([{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {"taints": taints},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.31.4+k3s1"}
        }
    })
}

/// `ip-<host>-<10 hex>` with dots as dashes, as `CommandInitialize`/`CommandClusterAdd` name
/// nodes.
fn node_name(host: &str) -> String {
    let suffix = format!("{:010X}", crate::harness::now_ms() & 0xff_ffff_ffff);
    format!("ip-{host}-{suffix}")
        .to_ascii_lowercase()
        .replace('.', "-")
}

/// Validate `--kubelet-args key=value` items.
fn kubelet_args(a: &crate::args::Parsed) -> Vec<String> {
    a.all("--kubelet-args")
        .iter()
        .flat_map(|v| v.split(','))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `scheduler-k3s:initialize`: the server node on the Dokku host, the join `token`, and the
/// `ingress-class` property.
fn initialize(ctx: &mut Ctx, args: &[String]) -> Res {
    let a = parse(
        args,
        &spec(
            &["--server-ip", "--ingress-class", "--kubelet-args"],
            &["--taint-scheduling"],
        ),
    )?;
    let class = a.get("--ingress-class").unwrap_or("nginx").to_string();
    if class != "nginx" && class != "traefik" {
        return fail(format!("Invalid ingress-class: {class}"));
    }
    if crate::k3s::cluster_ready(&ctx.paths) {
        return fail("k3s already installed, cannot re-initialize k3s");
    }
    ctx.info1("Initializing k3s");
    if ctx
        .prop_or("scheduler-k3s", "--global", "token")?
        .is_empty()
    {
        let token = format!("{:032x}", crate::harness::now_ms() * 0x9e37_79b9);
        crate::cmd::props::set_value(ctx, "scheduler-k3s", "--global", "token", &token)?;
    }
    let ip = a.get("--server-ip").unwrap_or("127.0.0.1").to_string();
    let name = node_name(&ip);
    crate::cmd::props::set_value(ctx, "scheduler-k3s", "--global", "ingress-class", &class)?;
    let node = node_object(
        &name,
        "server",
        "",
        "",
        a.has("--taint-scheduling"),
        &kubelet_args(&a),
    );
    crate::k3s::save_node(&ctx.paths, &name, &node)?;
    ctx.info2(format!("Labeling node {name}"));
    ctx.verbose("Done");
    Ok(())
}

/// A stored node profile (`NodeProfile`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Profile {
    name: String,
    role: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    allow_unknown_hosts: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    taint_scheduling: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    kubelet_args: Vec<String>,
}

fn profile_key(name: &str) -> String {
    format!("node-profile-{name}.json")
}

fn check_profile_name(name: &str) -> Res {
    if name.is_empty() {
        return fail("Missing profile name");
    }
    let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return fail(format!("Invalid profile name, must only contain alphanumeric characters and dashes and cannot start with a dash: {name}"));
    }
    if name.len() > 32 {
        return fail(format!(
            "Profile name is too long, must be less than 32 characters: {name}"
        ));
    }
    Ok(())
}

/// `scheduler-k3s:cluster:add [--profile P] [--role R] ... <ssh://user@host:port>`.
fn cluster_add(ctx: &mut Ctx, args: &[String]) -> Res {
    let a = parse(
        args,
        &spec(
            &["--profile", "--role", "--server-ip", "--kubelet-args"],
            &["--insecure-allow-unknown-hosts", "--taint-scheduling"],
        ),
    )?;
    if !crate::k3s::cluster_ready(&ctx.paths) {
        return fail("k3s not installed, cannot add node to cluster: k3s binary not found (sandbox: run scheduler-k3s:initialize first)");
    }
    let profile_name = a.get("--profile").unwrap_or("").to_string();
    let mut p = Profile::default();
    if !profile_name.is_empty() {
        let raw = ctx.prop_or("scheduler-k3s", "--global", &profile_key(&profile_name))?;
        if raw.is_empty() {
            return fail(format!("Node profile {profile_name} not found"));
        }
        p = serde_json::from_str(&raw)
            .map_err(|e| crate::k3s::err(format!("Unable to unmarshal node profile: {e}")))?;
    }
    // The flag defaults to `worker`, so it always overrides the profile's role.
    p.role = a.get("--role").unwrap_or("worker").to_string();
    if a.has("--insecure-allow-unknown-hosts") {
        p.allow_unknown_hosts = true;
    }
    if a.has("--taint-scheduling") {
        p.taint_scheduling = true;
    }
    let kargs = kubelet_args(&a);
    if !kargs.is_empty() {
        p.kubelet_args = kargs;
    }
    if p.role != "server" && p.role != "worker" {
        return fail(format!("Invalid role: {}", p.role));
    }
    if ctx
        .prop_or("scheduler-k3s", "--global", "token")?
        .is_empty()
    {
        return fail("Missing k3s token");
    }
    if p.taint_scheduling && p.role == "worker" {
        return fail("Taint scheduling can only be used on the server role");
    }
    let remote = a.arg(0);
    let host = remote
        .strip_prefix("ssh://")
        .map(|r| r.rsplit('@').next().unwrap_or(r))
        .map(|r| r.split(':').next().unwrap_or(r).to_string())
        .filter(|h| !h.is_empty());
    let Some(host) = host else {
        return fail(format!(
            "failed to parse remote host: parse \"{remote}\": invalid URI for request"
        ));
    };
    ctx.info1(format!("Joining {remote} to k3s cluster as {}", p.role));
    let name = node_name(&host);
    ctx.info2(format!("Adding {name} k3s cluster"));
    let node = node_object(
        &name,
        &p.role,
        &profile_name,
        &remote,
        p.taint_scheduling,
        &p.kubelet_args,
    );
    crate::k3s::save_node(&ctx.paths, &name, &node)?;
    if let Some(labels) = node["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if k == "kubernetes.io/hostname"
                || k.starts_with("node-role.kubernetes.io/") && p.role == "server"
            {
                continue;
            }
            ctx.info2(format!("Labeling node {k}={}", v.as_str().unwrap_or("")));
        }
    }
    ctx.info2("Annotating node with connection information");
    ctx.verbose("Done");
    Ok(())
}

/// `scheduler-k3s:cluster:list [--format stdout|json]`.
fn cluster_list(ctx: &mut Ctx, args: &[String]) -> Res {
    let a = parse(args, &spec(&["--format"], &[]))?;
    let format = a.get("--format").unwrap_or("stdout");
    if format != "stdout" && format != "json" {
        return fail(format!("Invalid format: {format}"));
    }
    if !crate::k3s::cluster_ready(&ctx.paths) {
        return fail("Unable to create kubernetes client: stat /etc/rancher/k3s/k3s.yaml: no such file or directory");
    }
    let mut out = Vec::new();
    for n in crate::k3s::nodes(&ctx.paths)? {
        let labels = n["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut roles: Vec<String> = labels
            .iter()
            .filter(|(k, v)| {
                k.starts_with("node-role.kubernetes.io/") && v.as_str() == Some("true")
            })
            .map(|(k, _)| k.trim_start_matches("node-role.kubernetes.io/").to_string())
            .collect();
        roles.sort();
        out.push(json!({
            "name": n["metadata"]["name"],
            "roles": roles,
            "ready": true,
            "remote_host": n["metadata"]["annotations"]["dokku.com/remote-host"].as_str().unwrap_or(""),
            "version": n["status"]["nodeInfo"]["kubeletVersion"],
        }));
    }
    if format == "json" {
        ctx.out(serde_json::to_string(&out).unwrap_or_default());
        return Ok(());
    }
    let mut lines = vec![vec![
        "name".to_string(),
        "ready".into(),
        "roles".into(),
        "version".into(),
    ]];
    for n in &out {
        let roles: Vec<&str> = n["roles"]
            .as_array()
            .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        lines.push(vec![
            n["name"].as_str().unwrap_or("").to_string(),
            "true".into(),
            roles.join(","),
            n["version"].as_str().unwrap_or("").to_string(),
        ]);
    }
    columnize(ctx, &lines);
    Ok(())
}

/// `columnize.SimpleFormat`: columns padded to the widest cell plus two spaces.
fn columnize(ctx: &Ctx, lines: &[Vec<String>]) {
    let cols = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for l in lines {
        let mut s = String::new();
        for (i, c) in l.iter().enumerate() {
            if i + 1 == l.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        ctx.out(s);
    }
}

/// `scheduler-k3s:cluster:remove <node>`: only nodes Dokku joined over ssh.
fn cluster_remove(ctx: &mut Ctx, args: &[String]) -> Res {
    let a = parse(args, &spec(&[], &[]))?;
    let name = a.arg(0);
    if !crate::k3s::cluster_ready(&ctx.paths) {
        return fail("k3s not installed, cannot remove node from cluster: k3s binary not found");
    }
    ctx.info1(format!("Removing {name} from k3s cluster"));
    ctx.verbose("Getting node remote connection information");
    let Some(node) = crate::k3s::node(&ctx.paths, &name)? else {
        return fail(format!("Unable to get node: nodes \"{name}\" not found"));
    };
    ctx.verbose("Checking if node is a remote node managed by Dokku");
    if node["metadata"]["annotations"]["dokku.com/remote-host"]
        .as_str()
        .unwrap_or("")
        .is_empty()
    {
        return fail(format!("Node {name} is not a remote node managed by Dokku"));
    }
    ctx.verbose("Uninstalling k3s on remote host");
    ctx.verbose("Deleting node from k3s cluster");
    crate::k3s::remove_node(&ctx.paths, &name)?;
    ctx.verbose("Done");
    Ok(())
}

/// `scheduler-k3s:profiles:add <profile> [--role R] ...`.
fn profiles_add(ctx: &mut Ctx, args: &[String]) -> Res {
    let a = parse(
        args,
        &spec(
            &["--role", "--kubelet-args"],
            &["--insecure-allow-unknown-hosts", "--taint-scheduling"],
        ),
    )?;
    let role = a.get("--role").unwrap_or("worker").to_string();
    if role != "server" && role != "worker" {
        return fail(format!("Invalid role: {role}"));
    }
    let name = a.arg(0);
    check_profile_name(&name)?;
    let p = Profile {
        name: name.clone(),
        role,
        allow_unknown_hosts: a.has("--insecure-allow-unknown-hosts"),
        taint_scheduling: a.has("--taint-scheduling"),
        kubelet_args: kubelet_args(&a),
    };
    ctx.set_prop(
        "scheduler-k3s",
        "--global",
        &profile_key(&name),
        &serde_json::to_string(&p).unwrap_or_default(),
    )?;
    ctx.info1(format!("Node profile {name} added"));
    Ok(())
}

fn profiles(ctx: &Ctx) -> Res<Vec<Profile>> {
    let dir = ctx.paths.prop_path("scheduler-k3s", "--global", "x");
    let dir = dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut v = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for n in names {
        if n.starts_with("node-profile-") && n.ends_with(".json") {
            let raw = ctx.prop_or("scheduler-k3s", "--global", &n)?;
            let p: Profile = serde_json::from_str(&raw)
                .map_err(|e| crate::k3s::err(format!("Unable to unmarshal node profile: {e}")))?;
            v.push(p);
        }
    }
    Ok(v)
}

/// `scheduler-k3s:profiles:list [--format stdout|json]`.
fn profiles_list(ctx: &mut Ctx, args: &[String]) -> Res {
    let a = parse(args, &spec(&["--format"], &[]))?;
    let format = a.get("--format").unwrap_or("stdout");
    if format != "stdout" && format != "json" {
        return fail(format!("Invalid format: {format}"));
    }
    let list = profiles(ctx)?;
    if format == "json" {
        ctx.out(serde_json::to_string(&list).unwrap_or_default());
        return Ok(());
    }
    let mut lines = vec![vec!["name".to_string(), "role".to_string()]];
    lines.extend(list.iter().map(|p| vec![p.name.clone(), p.role.clone()]));
    columnize(ctx, &lines);
    Ok(())
}

/// `scheduler-k3s:profiles:remove <profile>`.
fn profiles_remove(ctx: &mut Ctx, args: &[String]) -> Res {
    let a = parse(args, &spec(&[], &[]))?;
    let name = a.arg(0);
    check_profile_name(&name)?;
    ctx.unset_prop("scheduler-k3s", "--global", &profile_key(&name))?;
    ctx.info1(format!("Node profile {name} removed"));
    Ok(())
}

/// `registry:*`.
pub fn registry(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "set" => {
            let (scope, property, value) = set_args(args)?;
            property_set(
                ctx,
                "registry",
                &scope,
                &property,
                &value,
                REGISTRY_APP,
                REGISTRY_GLOBAL,
            )
        }
        "report" => Report {
            plugin: "registry",
            kind: "registry",
            legacy: true,
        }
        .run(ctx, args, &|c, a| registry_rows(c, a), &|c| {
            registry_rows(c, "--global")
        }),
        _ => Err(Fail::Silent(255)),
    }
}

/// `getRegistryServerForApp`: app then global, trimmed, `/` stripped, Docker Hub as empty,
/// then a trailing `/`.
pub fn registry_server(ctx: &Ctx, app: &str) -> Res<String> {
    let mut v = ctx.prop_or("registry", app, "server")?;
    if v.is_empty() {
        v = ctx.prop_or("registry", "--global", "server")?;
    }
    let v = v.trim().trim_end_matches('/');
    Ok(match v {
        "" | "hub.docker.com" | "docker.io" => String::new(),
        s => format!("{s}/"),
    })
}

/// `reportComputedImageRepo`: `image-repo`, else the template, else `dokku/<app>`.
pub fn registry_image_repo(ctx: &Ctx, app: &str) -> Res<String> {
    let v = ctx.prop_or("registry", app, "image-repo")?;
    if !v.trim().is_empty() {
        return Ok(v.trim().to_string());
    }
    let mut t = ctx.prop_or("registry", app, "image-repo-template")?;
    if t.trim().is_empty() {
        t = ctx.prop_or("registry", "--global", "image-repo-template")?;
    }
    let t = t.trim();
    if !t.is_empty() {
        // The template's one field is `.AppName`.
        return Ok(t
            .replace("{{ .AppName }}", app)
            .replace("{{.AppName}}", app)
            .trim()
            .to_string());
    }
    Ok(format!("dokku/{app}"))
}

/// `reportComputedPushOnRelease`.
pub fn registry_push_on_release(ctx: &Ctx, app: &str) -> Res<bool> {
    let mut v = ctx.prop_or("registry", app, "push-on-release")?;
    if v.trim().is_empty() {
        v = ctx.prop_or("registry", "--global", "push-on-release")?;
    }
    Ok(v.trim() == "true")
}

fn registry_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let g = |k: &str| ctx.prop_or("registry", "--global", k);
    let mut v = vec![
        (
            "registry-computed-push-on-release".to_string(),
            registry_push_on_release(ctx, app)?.to_string(),
        ),
        (
            "registry-global-push-on-release".into(),
            g("push-on-release")?,
        ),
        (
            "registry-computed-server".into(),
            registry_server(ctx, app)?,
        ),
        ("registry-global-server".into(), g("server")?),
        (
            "registry-computed-image-repo-template".into(),
            ctx.prop_computed("registry", app, "image-repo-template", "")?,
        ),
        (
            "registry-global-image-repo-template".into(),
            g("image-repo-template")?,
        ),
        (
            "registry-computed-push-extra-tags".into(),
            ctx.prop_computed("registry", app, "push-extra-tags", "")?,
        ),
        (
            "registry-global-push-extra-tags".into(),
            g("push-extra-tags")?,
        ),
    ];
    if app != "--global" {
        let a = |k: &str| ctx.prop_or("registry", app, k);
        v.push((
            "registry-computed-image-repo".into(),
            registry_image_repo(ctx, app)?,
        ));
        v.push(("registry-image-repo".into(), a("image-repo")?));
        v.push(("registry-push-on-release".into(), a("push-on-release")?));
        v.push((
            "registry-image-repo-template".into(),
            a("image-repo-template")?,
        ));
        v.push(("registry-server".into(), a("server")?));
        v.push(("registry-tag-version".into(), a("tag-version")?));
        v.push(("registry-push-extra-tags".into(), a("push-extra-tags")?));
    }
    Ok(rows(v))
}
