//! scheduler-k3s as Dokku v0.38's source has it (plugins/scheduler-k3s, plugins/registry,
//! plugins/storage): what a k3s deploy honours, ignores and refuses, and the objects it writes
//! into the cluster store `<root>/k3s/objects/<namespace>/<Kind>/<name>.json`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::{git, repo, Sandbox};

/// A sandbox with a cluster (`scheduler-k3s:initialize`).
fn cluster() -> Sandbox {
    let s = Sandbox::new();
    s.run(&["scheduler-k3s:initialize"]).ok();
    s
}

/// An app on k3s in namespace `ns`, with a registry it pushes to, and a repo with `files`
/// (a Dockerfile and a Procfile unless given) as its git remote.
fn k3s_app(s: &Sandbox, app: &str, ns: &str, files: &[(&str, &str)]) -> PathBuf {
    s.run(&["apps:create", app]).ok();
    s.run(&["scheduler:set", app, "selected", "k3s"]).ok();
    s.run(&["scheduler-k3s:set", app, "namespace", ns]).ok();
    s.run(&["registry:set", app, "server", "registry.example.com"])
        .ok();
    s.run(&["registry:set", app, "push-on-release", "true"])
        .ok();
    let dir = s.root().join(format!("src-{app}"));
    let mut all: Vec<(&str, &str)> = vec![
        ("Dockerfile", "FROM python:3.12\n"),
        ("Procfile", "web: serve --port $PORT\nworker: work\n"),
    ];
    for f in files {
        all.retain(|(n, _)| n != &f.0);
        all.push(*f);
    }
    repo(&dir, &all);
    s.run(&[
        "sandbox:git-remote",
        app,
        "--repo",
        &dir.display().to_string(),
    ])
    .ok();
    dir
}

/// `git push dokku main`: (success, stderr).
fn push(dir: &Path) -> (bool, String) {
    let o = std::process::Command::new("git")
        .current_dir(dir)
        .args(["push", "dokku", "main"])
        .output()
        .expect("git push");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn pushed(dir: &Path) {
    let (ok, err) = push(dir);
    assert!(ok, "push failed:\n{err}");
}

fn obj(s: &Sandbox, ns: &str, kind: &str, name: &str) -> Option<Value> {
    let p = s
        .root()
        .join("k3s/objects")
        .join(ns)
        .join(kind)
        .join(format!("{name}.json"));
    std::fs::read_to_string(p)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("object json"))
}

#[track_caller]
fn must(s: &Sandbox, ns: &str, kind: &str, name: &str) -> Value {
    obj(s, ns, kind, name).unwrap_or_else(|| panic!("no {kind} {ns}/{name}"))
}

fn container(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]["containers"][0]
}

/// Every object file under the store.
fn all_objects(s: &Sandbox) -> Vec<(PathBuf, Value)> {
    let mut v = Vec::new();
    let mut stack = vec![s.root().join("k3s/objects")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let t = std::fs::read_to_string(&p).expect("read");
                v.push((p, serde_json::from_str(&t).expect("json")));
            }
        }
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn properties_follow_dokku_command_property_set() {
    let s = Sandbox::new();
    s.run(&["apps:create", "web"]).ok();
    s.run(&["scheduler-k3s:set", "web", "bogus", "x"]).fails(
        1,
        "Invalid property specified, valid properties include: cert-issuer-kind, cert-issuer-name, deploy-timeout, image-pull-secrets, ingress-class,",
    );
    s.run(&["scheduler-k3s:set", "--global", "bogus", "x"])
        .fails(1, "Property cannot be specified globally");
    s.run(&["scheduler-k3s:set", "web", "letsencrypt-server", "nope"])
        .fails(1, "Invalid letsencrypt-server: nope, valid values are prod, production, stag, staging, and false");
    s.run(&["scheduler-k3s:set", "web", "cert-issuer-kind", "issuer"])
        .ok();
    s.run(&["scheduler-k3s:set", "web", "deploy-timeout", "60s"])
        .ok();
    s.run(&["scheduler-k3s:set", "web", "--bogus"]).fails(2, "");
    s.run(&["scheduler-k3s:set", "ghost", "namespace", "x"])
        .fails(20, "App ghost does not exist");
    let r = s.json(&["scheduler-k3s:report", "web", "--format", "json"]);
    assert_eq!(r["computed-cert-issuer-kind"], "Issuer");
    assert_eq!(r["computed-deploy-timeout"], "60s");
    assert_eq!(r["computed-namespace"], "default");
    assert_eq!(r["computed-rollback-on-failure"], "false");
    assert_eq!(r["computed-ingress-class"], "nginx");
    s.run(&[
        "scheduler-k3s:report",
        "web",
        "--scheduler-k3s-computed-namespace",
    ])
    .ok();
    // registry: `image-repo` is app-only, `server` both.
    s.run(&["registry:set", "--global", "image-repo", "x"])
        .fails(1, "Property cannot be specified globally");
    s.run(&["registry:set", "web", "nope", "x"]).fails(
        1,
        "Invalid property specified, valid properties include: image-repo, image-repo-template, push-extra-tags, push-on-release, server",
    );
    s.run(&["registry:set", "--global", "server", "hub.docker.com"])
        .ok();
    let r = s.json(&["registry:report", "web", "--format", "json"]);
    assert_eq!(r["computed-server"], "", "Docker Hub is no server prefix");
    assert_eq!(r["computed-image-repo"], "dokku/web");
    assert_eq!(r["computed-push-on-release"], "false");
    s.run(&["registry:set", "web", "server", "reg.example.com/"])
        .ok();
    let r = s.json(&["registry:report", "web", "--format", "json"]);
    assert_eq!(r["computed-server"], "reg.example.com/");
}

#[test]
fn cluster_nodes_and_profiles_are_recorded_as_dokku_labels_them() {
    let s = Sandbox::new();
    s.run(&["scheduler-k3s:cluster:add", "ssh://root@w1.example.com"])
        .fails(1, "k3s not installed, cannot add node to cluster");
    s.run(&["scheduler-k3s:initialize", "--ingress-class", "haproxy"])
        .fails(1, "Invalid ingress-class: haproxy");
    s.run(&["scheduler-k3s:initialize"]).ok();
    s.run(&["scheduler-k3s:initialize"])
        .fails(1, "k3s already installed, cannot re-initialize k3s");
    s.run(&["scheduler-k3s:profiles:add", "edge-"]).fails(
        1,
        "Invalid profile name, must only contain alphanumeric characters and dashes",
    );
    s.run(&["scheduler-k3s:profiles:add", "edge", "--role", "boss"])
        .fails(1, "Invalid role: boss");
    s.run(&["scheduler-k3s:profiles:add", "edge", "--taint-scheduling"])
        .ok();
    let p = s.json(&["scheduler-k3s:profiles:list", "--format", "json"]);
    assert_eq!(
        p,
        json!([{"name": "edge", "role": "worker", "taint_scheduling": true}])
    );
    s.run(&[
        "scheduler-k3s:cluster:add",
        "--profile",
        "nope",
        "ssh://root@w1.example.com",
    ])
    .fails(1, "Node profile nope not found");
    // The profile taints a worker: refused as Dokku refuses it.
    s.run(&[
        "scheduler-k3s:cluster:add",
        "--profile",
        "edge",
        "ssh://root@w1.example.com",
    ])
    .fails(1, "Taint scheduling can only be used on the server role");
    s.run(&["scheduler-k3s:profiles:add", "edge"]).ok();
    s.run(&[
        "scheduler-k3s:cluster:add",
        "--profile",
        "edge",
        "ssh://root@w1.example.com",
    ])
    .ok();
    let nodes = s.json(&["scheduler-k3s:cluster:list", "--format", "json"]);
    let nodes = nodes.as_array().expect("list");
    assert_eq!(nodes.len(), 2);
    let worker = nodes
        .iter()
        .find(|n| n["remote_host"] == "ssh://root@w1.example.com")
        .expect("worker");
    let name = worker["name"].as_str().expect("name").to_string();
    assert!(name.starts_with("ip-w1-example-com-"), "{name}");
    let node: Value = serde_json::from_str(
        &std::fs::read_to_string(s.root().join(format!("k3s/nodes/{name}.json"))).expect("node"),
    )
    .expect("json");
    assert_eq!(
        node["metadata"]["labels"]["dokku.com/node-profile"], "edge",
        "the profile label"
    );
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/worker"],
        "worker"
    );
    let server = nodes
        .iter()
        .find(|n| n["remote_host"] == "")
        .expect("server");
    s.run(&[
        "scheduler-k3s:cluster:remove",
        server["name"].as_str().unwrap(),
    ])
    .fails(1, "is not a remote node managed by Dokku");
    s.run(&["scheduler-k3s:cluster:remove", &name]).ok();
    assert_eq!(
        s.json(&["scheduler-k3s:cluster:list", "--format", "json"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    s.run(&["scheduler-k3s:profiles:remove", "edge"]).ok();
    assert_eq!(
        s.json(&["scheduler-k3s:profiles:list", "--format", "json"]),
        json!([])
    );
}

#[test]
fn deploy_needs_a_cluster_and_a_pushed_image() {
    let s = Sandbox::new();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(err.contains("kubernetes api not available"), "{err}");
    s.run(&["scheduler-k3s:initialize"]).ok();
    // Without push-on-release the image only exists on the Dokku host: the pods cannot pull it
    // and `helm upgrade --wait` times out.
    s.run(&["registry:set", "shop-web", "push-on-release", "false"])
        .ok();
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("Error deploying: context deadline exceeded"),
        "{err}"
    );
    assert!(
        err.contains("Failed to pull image \"registry.example.com/dokku/shop-web:latest\""),
        "{err}"
    );
    // Without a server it is no better.
    s.run(&["registry:set", "shop-web", "push-on-release", "true"])
        .ok();
    s.run(&["registry:set", "shop-web", "server"]).ok();
    let (ok, err) = push(&dir);
    assert!(!ok, "{err}");
    assert!(err.contains("never pushed"), "{err}");
    s.run(&["registry:set", "shop-web", "server", "registry.example.com"])
        .ok();
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    assert!(
        err.contains("Pushing registry.example.com/dokku/shop-web:"),
        "{err}"
    );
    let d = must(&s, "shop", "Deployment", "shop-web-web");
    let image = container(&d)["image"].as_str().unwrap().to_string();
    assert!(
        image.starts_with("registry.example.com/dokku/shop-web:"),
        "{image}"
    );
    assert_ne!(image, "registry.example.com/dokku/shop-web:latest");
}

#[test]
fn chart_labels_selectors_and_service_follow_the_contract() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    s.run(&[
        "ports:set",
        "shop-web",
        "http:80:5000",
        "tcp:9000:9000",
        "udp:53:53",
        "https:443:5000",
    ])
    .ok();
    pushed(&dir);
    let labels = json!({
        "app.kubernetes.io/instance": "shop-web-web",
        "app.kubernetes.io/name": "web",
        "app.kubernetes.io/part-of": "shop-web",
    });
    let d = must(&s, "shop", "Deployment", "shop-web-web");
    assert_eq!(d["metadata"]["namespace"], "shop");
    // Helm adds its ownership label and annotations to the object, not to the selector.
    let mut owned = labels.clone();
    owned["app.kubernetes.io/managed-by"] = json!("Helm");
    assert_eq!(d["metadata"]["labels"], owned);
    assert_eq!(
        d["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "shop-web"
    );
    assert_eq!(
        d["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
        "shop"
    );
    assert_eq!(d["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(d["spec"]["template"]["metadata"]["labels"], labels);
    let svc = must(&s, "shop", "Service", "shop-web-web");
    assert_eq!(svc["spec"]["selector"], labels);
    // tcp and udp maps never reach the Service; http and https do (port = host port,
    // targetPort = container port).
    assert_eq!(
        svc["spec"]["ports"],
        json!([
            {"name": "http-80-5000", "port": 80, "protocol": "TCP", "targetPort": 5000},
            {"name": "https-443-5000", "port": 443, "protocol": "TCP", "targetPort": 5000},
        ])
    );
    // The container port list skips the https map whose http twin exists.
    assert_eq!(
        container(&d)["ports"],
        json!([{"containerPort": 5000, "name": "http-80-5000", "protocol": "TCP"}])
    );
    // A worker gets a Deployment (its own labels) and no Service.
    let w = must(&s, "shop", "Deployment", "shop-web-worker");
    assert_eq!(
        w["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "worker"
    );
    assert!(container(&w).get("env").is_none(), "no PORT for a worker");
    assert!(obj(&s, "shop", "Service", "shop-web-worker").is_none());
    assert_eq!(container(&w)["args"], json!(["work"]));
    assert_eq!(container(&d)["args"], json!(["serve", "--port", "5000"]));
    must(&s, "shop", "ServiceAccount", "shop-web");
    must(&s, "_cluster", "Namespace", "shop");
    // Only tcp maps: the web Service has no port, which the API refuses.
    s.run(&["ports:set", "shop-web", "tcp:9000:9000"]).ok();
    s.run(&["ps:rebuild", "shop-web"]).fails(
        1,
        "Service \"shop-web-web\" is invalid: spec.ports: Required value",
    );
}

#[test]
fn an_exposed_process_type_gets_a_service_on_port_5000() {
    let s = cluster();
    let dir = k3s_app(
        &s,
        "shop-api",
        "shop",
        &[(
            "app.json",
            r#"{"formation": {"worker": {"service": {"exposed": true}}}}"#,
        )],
    );
    pushed(&dir);
    let svc = must(&s, "shop", "Service", "shop-api-worker");
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "http-5000-5000", "port": 5000, "protocol": "TCP", "targetPort": 5000}])
    );
    let w = must(&s, "shop", "Deployment", "shop-api-worker");
    assert_eq!(
        container(&w)["env"],
        json!([{"name": "PORT", "value": "5000"}])
    );
}

#[test]
fn only_security_docker_options_reach_the_pod_and_docker_local_settings_are_ignored() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    s.run(&[
        "docker-options:add",
        "shop-web",
        "deploy",
        "--cap-add net_admin --cap-drop=MKNOD --privileged --sysctl net.core.somaxconn=1024 --link dokku.postgres.db:dokku-postgres-db --restart always -v /srv:/srv --memory 1g",
    ])
    .ok();
    // A process type's own options are not read (app scope only).
    s.run(&[
        "docker-options:add",
        "shop-web",
        "deploy",
        "--cap-add",
        "SYS_TIME",
        "--process",
        "web",
    ])
    .ok();
    // docker-local settings a k3s deploy never reads: a missing network would fail a
    // docker-local deploy; restart policy and checks are ignored.
    s.run(&["network:set", "shop-web", "attach-post-create", "nowhere"])
        .ok();
    s.run(&["ps:set", "shop-web", "restart-policy", "no"]).ok();
    s.run(&["checks:disable", "shop-web"]).ok();
    pushed(&dir);
    let d = must(&s, "shop", "Deployment", "shop-web-web");
    assert_eq!(
        container(&d)["securityContext"],
        json!({"privileged": true, "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]}})
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["securityContext"],
        json!({"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]})
    );
    let text = serde_json::to_string(&d).unwrap();
    for absent in ["dokku-postgres-db", "/srv", "always", "nowhere", "1g"] {
        assert!(!text.contains(absent), "{absent} leaked into {text}");
    }
    assert!(d["spec"]["template"]["spec"].get("volumes").is_none());
    // A sysctl that is not namespaced cannot be set on a pod.
    s.run(&[
        "docker-options:add",
        "shop-web",
        "deploy",
        "--sysctl vm.swappiness=1",
    ])
    .ok();
    s.run(&["ps:rebuild", "shop-web"]).fails(
        1,
        "Sysctl vm.swappiness is not namespaced and cannot be set on a pod",
    );
}

#[test]
fn legacy_bind_mounts_fail_and_k3s_storage_entries_become_claims() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-db", "shop", &[]);
    s.run(&["storage:mount", "shop-db", "/srv/data:/data"]).ok();
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("is scheduler=docker-local but is mounted on a k3s app; recreate it with --scheduler k3s"),
        "{err}"
    );
    assert!(obj(&s, "shop", "Deployment", "shop-db-web").is_none());
    s.run(&["storage:unmount", "shop-db", "/srv/data:/data"])
        .ok();
    // An entry in another namespace than the app's: the claim is not found and the pods never
    // start.
    s.run(&[
        "storage:create",
        "pgdata",
        "--scheduler",
        "k3s",
        "--size",
        "1Gi",
    ])
    .ok();
    let pvc = must(&s, "default", "PersistentVolumeClaim", "pgdata");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    s.run(&[
        "storage:mount",
        "shop-db",
        "pgdata",
        "--container-dir",
        "/var/lib/data",
    ])
    .ok();
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("persistentvolumeclaim \"pgdata\" not found in namespace shop"),
        "{err}"
    );
    s.run(&[
        "storage:unmount",
        "shop-db",
        "pgdata",
        "--container-dir",
        "/var/lib/data",
    ])
    .ok();
    s.run(&[
        "storage:create",
        "shopdata",
        "--scheduler",
        "k3s",
        "--size",
        "2Gi",
        "--namespace",
        "shop",
        "--access-mode",
        "ReadWriteMany",
    ])
    .ok();
    s.run(&[
        "storage:mount",
        "shop-db",
        "shopdata",
        "--container-dir",
        "/var/lib/data",
    ])
    .ok();
    pushed(&dir);
    must(&s, "shop", "PersistentVolumeClaim", "shopdata");
    let d = must(&s, "shop", "Deployment", "shop-db-web");
    assert_eq!(
        d["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "shopdata", "persistentVolumeClaim": {"claimName": "shopdata"}}])
    );
    assert_eq!(
        container(&d)["volumeMounts"],
        json!([{"name": "shopdata", "mountPath": "/var/lib/data"}])
    );
    // `dokku run` is a Job without the volumes.
    s.run(&["run", "shop-db", "ls", "/var/lib/data"]).ok();
    let jobs = std::fs::read_dir(s.root().join("k3s/objects/shop/Job"))
        .expect("jobs")
        .count();
    assert_eq!(jobs, 1);
    for (p, o) in all_objects(&s) {
        if o["kind"] == "Job" {
            assert!(
                o["spec"]["template"]["spec"].get("volumes").is_none(),
                "{p:?}"
            );
            assert_eq!(container(&o)["args"], json!(["ls", "/var/lib/data"]));
        }
    }
    // Without a cluster a k3s entry is refused and not kept.
    let bare = Sandbox::new();
    bare.run(&["storage:create", "x", "--scheduler", "k3s", "--size", "1Gi"])
        .fails(1, "scheduler refused storage entry \"x\"");
    bare.run(&["storage:info", "x"]).fails(1, "does not exist");
}

#[test]
fn replicas_follow_ps_scale_stop_scales_to_zero_and_destroy_removes_the_release() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    pushed(&dir);
    assert_eq!(
        must(&s, "shop", "Deployment", "shop-web-web")["spec"]["replicas"],
        1
    );
    assert_eq!(
        must(&s, "shop", "Deployment", "shop-web-worker")["spec"]["replicas"],
        0
    );
    s.run(&["ps:scale", "shop-web", "web=3", "worker=2"]).ok();
    assert_eq!(
        must(&s, "shop", "Deployment", "shop-web-web")["spec"]["replicas"],
        3
    );
    assert_eq!(
        must(&s, "shop", "Deployment", "shop-web-worker")["spec"]["replicas"],
        2
    );
    s.run(&["ps:stop", "shop-web"]).ok();
    assert_eq!(
        must(&s, "shop", "Deployment", "shop-web-web")["spec"]["replicas"],
        0
    );
    assert_eq!(
        must(&s, "shop", "Deployment", "shop-web-worker")["spec"]["replicas"],
        0
    );
    s.run(&["ps:start", "shop-web"]).ok();
    assert_eq!(
        must(&s, "shop", "Deployment", "shop-web-web")["spec"]["replicas"],
        3
    );
    // An upgrade removes what the chart no longer renders.
    s.run(&["domains:add", "shop-web", "shop.example.com"]).ok();
    s.run(&["ps:rebuild", "shop-web"]).ok();
    let ing = must(&s, "shop", "Ingress", "shop-web-web-shop-example-com");
    assert_eq!(ing["spec"]["rules"][0]["host"], "shop.example.com");
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"],
        json!({"name": "shop-web-web", "port": {"name": "http-80-5000"}})
    );
    s.run(&["domains:remove", "shop-web", "shop.example.com"])
        .ok();
    s.run(&["ps:rebuild", "shop-web"]).ok();
    assert!(obj(&s, "shop", "Ingress", "shop-web-web-shop-example-com").is_none());
    s.run(&["--force", "apps:destroy", "shop-web"]).ok();
    for kind in ["Deployment", "Service", "ServiceAccount"] {
        let d = s.root().join("k3s/objects/shop").join(kind);
        let n = std::fs::read_dir(&d).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "{kind} left after apps:destroy");
    }
}

#[test]
fn resources_use_kubernetes_units_as_release_values_converts_them() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    // `512m` is milli-bytes in Kubernetes; a bare number is mebibytes.
    s.run(&[
        "resource:limit",
        "--memory",
        "512m",
        "--cpu",
        "0.5",
        "shop-web",
    ])
    .ok();
    s.run(&["resource:reserve", "--memory", "256", "shop-web"])
        .ok();
    s.run(&[
        "resource:limit",
        "--memory",
        "1024Mi",
        "--process-type",
        "worker",
        "shop-web",
    ])
    .ok();
    pushed(&dir);
    let web = must(&s, "shop", "Deployment", "shop-web-web");
    assert_eq!(
        container(&web)["resources"],
        json!({"limits": {"cpu": "500m", "memory": "512m"}, "requests": {"cpu": "100m", "memory": "256Mi"}})
    );
    let worker = must(&s, "shop", "Deployment", "shop-web-worker");
    assert_eq!(
        container(&worker)["resources"],
        json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "256Mi"}})
    );
    s.run(&["resource:limit", "--memory", "lots", "shop-web"])
        .ok();
    s.run(&["ps:rebuild", "shop-web"]).fails(
        1,
        "Error parsing memory limit: quantities must match the regular expression",
    );
}

#[test]
fn health_checks_become_probes_only_with_a_type() {
    let s = cluster();
    let app_json = r#"{"healthchecks": {"web": [
        {"path": "/untyped", "attempts": 2},
        {"type": "readiness", "path": "/ready", "attempts": 3, "wait": 2, "timeout": 4, "initialDelay": 1, "scheme": "https"},
        {"type": "liveness", "command": ["/bin/true"]},
        {"type": "liveness", "path": "/second"},
        {"type": "startup", "listening": true}
    ]}}"#;
    let dir = k3s_app(&s, "shop-web", "shop", &[("app.json", app_json)]);
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    assert!(
        err.contains("Multiple liveness checks are not supported, only the first one will be used"),
        "{err}"
    );
    let c = container(&must(&s, "shop", "Deployment", "shop-web-web")).clone();
    assert_eq!(
        c["readinessProbe"],
        json!({"failureThreshold": 3, "httpGet": {"path": "/ready", "port": 5000, "scheme": "HTTPS"}, "initialDelaySeconds": 1, "periodSeconds": 2, "successThreshold": 1, "timeoutSeconds": 4})
    );
    assert_eq!(
        c["livenessProbe"],
        json!({"exec": {"command": ["/bin/true"]}, "successThreshold": 1})
    );
    assert_eq!(
        c["startupProbe"],
        json!({"successThreshold": 1, "tcpSocket": {"port": 5000}})
    );
    assert!(!serde_json::to_string(&c).unwrap().contains("/untyped"));
    // The worker has no checks at all.
    let w = container(&must(&s, "shop", "Deployment", "shop-web-worker")).clone();
    assert!(w.get("readinessProbe").is_none() && w.get("livenessProbe").is_none());
}

#[test]
fn formation_autoscaling_becomes_a_keda_scaled_object() {
    let s = cluster();
    let app_json = r#"{"formation": {"worker": {"autoscaling": {
        "min_quantity": 1, "max_quantity": 10,
        "triggers": [
            {"type": "cpu", "metadata": {"type": "Utilization", "value": "70"}},
            {"name": "queue", "type": "redis", "metadata": {"listName": "[[ .APP_NAME ]]-jobs"}}
        ]}}}}"#;
    let dir = k3s_app(&s, "shop-web", "shop", &[("app.json", app_json)]);
    s.run(&["ps:scale", "shop-web", "worker=2"]).ok();
    pushed(&dir);
    let so = must(&s, "shop", "ScaledObject", "shop-web-worker");
    assert_eq!(so["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(
        so["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop-web-worker", "envSourceContainerName": "shop-web-worker"})
    );
    assert_eq!(so["spec"]["minReplicaCount"], 1);
    assert_eq!(so["spec"]["maxReplicaCount"], 10);
    assert_eq!(so["spec"]["cooldownPeriod"], 300);
    assert_eq!(so["spec"]["pollingInterval"], 30);
    assert_eq!(
        so["spec"]["fallback"],
        json!({"failureThreshold": 3, "replicas": 2})
    );
    assert_eq!(
        so["spec"]["triggers"],
        json!([
            {"name": "trigger-cpu-1", "type": "cpu", "metadata": {"type": "Utilization", "value": "70"}},
            {"name": "queue", "type": "redis", "metadata": {"listName": "shop-web-jobs"}},
        ])
    );
    // KEDA owns the replica count.
    let w = must(&s, "shop", "Deployment", "shop-web-worker");
    assert!(w["spec"].get("replicas").is_none());
    assert!(obj(&s, "shop", "ScaledObject", "shop-web-web").is_none());
}

#[test]
fn rollback_on_failure_restores_the_previous_release() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    pushed(&dir);
    let before = must(&s, "shop", "Deployment", "shop-web-web");
    s.run(&[
        "scheduler-k3s:set",
        "shop-web",
        "rollback-on-failure",
        "maybe",
    ])
    .ok();
    s.run(&["ps:rebuild", "shop-web"])
        .fails(1, "Error parsing rollback-on-failure value as boolean");
    s.run(&[
        "scheduler-k3s:set",
        "shop-web",
        "rollback-on-failure",
        "true",
    ])
    .ok();
    s.run(&["registry:set", "shop-web", "push-on-release", "false"])
        .ok();
    s.run(&["ps:rebuild", "shop-web"])
        .fails(1, "Error deploying: context deadline exceeded");
    assert_eq!(must(&s, "shop", "Deployment", "shop-web-web"), before);
    // Without rollback the failed revision stays applied, as Helm leaves it.
    s.run(&[
        "scheduler-k3s:set",
        "shop-web",
        "rollback-on-failure",
        "false",
    ])
    .ok();
    s.run(&["ps:rebuild", "shop-web"])
        .fails(1, "Error deploying: context deadline exceeded");
    let after = must(&s, "shop", "Deployment", "shop-web-web");
    assert!(container(&after)["image"]
        .as_str()
        .unwrap()
        .ends_with(":latest"));
}

/// Deserialize every object of the store into its `k8s-openapi` type and back: a field the
/// type does not know is dropped on the way, so the round trip must give the same JSON.
#[test]
fn every_object_written_is_a_well_formed_kubernetes_object() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::{
        Namespace, PersistentVolume, PersistentVolumeClaim, Service, ServiceAccount,
    };
    use k8s_openapi::api::networking::v1::Ingress;

    fn round<T: serde::de::DeserializeOwned + serde::Serialize>(p: &Path, v: &Value) {
        let t: T = serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("{p:?} is not a valid object: {e}"));
        let back = serde_json::to_value(&t).expect("serialize");
        assert_eq!(&back, v, "{p:?} has fields its type does not know");
    }

    let s = cluster();
    let app_json = r#"{"healthchecks": {"web": [{"type": "readiness", "path": "/ready"}]},
        "formation": {"worker": {"autoscaling": {"triggers": [{"type": "cpu", "metadata": {"value": "50"}}]}}}}"#;
    let dir = k3s_app(&s, "shop-web", "shop", &[("app.json", app_json)]);
    s.run(&["domains:add", "shop-web", "shop.example.com"]).ok();
    s.run(&[
        "resource:limit",
        "--memory",
        "512",
        "--cpu",
        "1",
        "shop-web",
    ])
    .ok();
    s.run(&[
        "docker-options:add",
        "shop-web",
        "deploy",
        "--cap-add NET_ADMIN --sysctl net.ipv4.ip_forward=1",
    ])
    .ok();
    s.run(&["scheduler-k3s:set", "shop-web", "shm-size", "64Mi"])
        .ok();
    s.run(&[
        "scheduler-k3s:set",
        "shop-web",
        "image-pull-secrets",
        "regcred",
    ])
    .ok();
    s.run(&[
        "scheduler-k3s:set",
        "--global",
        "letsencrypt-email-prod",
        "ops@example.com",
    ])
    .ok();
    s.run(&[
        "storage:create",
        "uploads",
        "--scheduler",
        "k3s",
        "--size",
        "1Gi",
        "--namespace",
        "shop",
        "/srv/uploads",
    ])
    .ok();
    s.run(&[
        "storage:mount",
        "shop-web",
        "uploads",
        "--container-dir",
        "/uploads",
    ])
    .ok();
    pushed(&dir);
    s.run(&["run", "shop-web", "true"]).ok();
    let objs = all_objects(&s);
    let mut kinds: Vec<String> = objs
        .iter()
        .map(|(_, o)| o["kind"].as_str().unwrap_or("").to_string())
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "Ingress",
            "Job",
            "Namespace",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "ScaledObject",
            "Service",
            "ServiceAccount"
        ]
    );
    for (p, o) in &objs {
        match o["kind"].as_str().unwrap_or("") {
            "Deployment" => round::<Deployment>(p, o),
            "Service" => round::<Service>(p, o),
            "Ingress" => round::<Ingress>(p, o),
            "ServiceAccount" => round::<ServiceAccount>(p, o),
            "Namespace" => round::<Namespace>(p, o),
            "PersistentVolumeClaim" => round::<PersistentVolumeClaim>(p, o),
            "PersistentVolume" => round::<PersistentVolume>(p, o),
            "Job" => round::<Job>(p, o),
            "ScaledObject" => {
                // KEDA's CRD is not in k8s-openapi: check its keys against keda.sh/v1alpha1.
                let keys: Vec<&String> = o["spec"].as_object().unwrap().keys().collect();
                for k in keys {
                    assert!(
                        [
                            "scaleTargetRef",
                            "cooldownPeriod",
                            "pollingInterval",
                            "minReplicaCount",
                            "maxReplicaCount",
                            "fallback",
                            "triggers",
                            "advanced",
                            "idleReplicaCount",
                            "initialCooldownPeriod"
                        ]
                        .contains(&k.as_str()),
                        "ScaledObject spec.{k}"
                    );
                }
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    // TLS from the letsencrypt email: an https map next to http, the Ingress redirects.
    let svc = must(&s, "shop", "Service", "shop-web-web");
    assert_eq!(svc["spec"]["ports"][1]["name"], "https-443-5000");
    let ing = must(&s, "shop", "Ingress", "shop-web-web-shop-example-com");
    assert_eq!(
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"],
        "true"
    );
    assert_eq!(
        ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"],
        "https-443-5000"
    );
    let _ = git;
}

#[test]
fn a_linked_datastore_keeps_its_docker_host_name_which_nothing_resolves_in_the_cluster() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    s.run(&["postgres:create", "db"]).ok();
    s.run(&["postgres:link", "db", "shop-web"]).ok();
    pushed(&dir);
    let url = s.run(&["config:get", "shop-web", "DATABASE_URL"]);
    url.ok();
    assert!(
        url.stdout.contains("@dokku-postgres-db:5432/db"),
        "{}",
        url.stdout
    );
    for (p, o) in all_objects(&s) {
        let text = serde_json::to_string(&o).unwrap();
        assert!(
            !text.contains("dokku-postgres-db"),
            "{p:?} names the link host"
        );
        assert!(!text.contains("--link"), "{p:?} carries the link option");
    }
}

#[test]
fn names_the_api_refuses_fail_the_deploy_and_never_leave_the_store() {
    let s = cluster();
    let dir = k3s_app(&s, "shop-web", "../../escape", &[]);
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("Namespace \"../../escape\" is invalid: metadata.name"),
        "{err}"
    );
    assert!(!s.root().join("escape").exists());
    // A process type with `_` names a Deployment the API refuses.
    s.run(&["scheduler-k3s:set", "shop-web", "namespace", "shop"])
        .ok();
    let dir2 = k3s_app(
        &s,
        "shop-jobs",
        "shop",
        &[("Procfile", "web: serve\nmy_worker: work\n")],
    );
    let (ok, err) = push(&dir2);
    assert!(!ok);
    assert!(
        err.contains("Deployment.apps \"shop-jobs-my_worker\" is invalid: metadata.name"),
        "{err}"
    );
    // A Service name must start with a letter (DNS-1035); Dokku app names may not.
    let dir3 = k3s_app(&s, "1shop", "shop", &[]);
    let (ok, err) = push(&dir3);
    assert!(!ok);
    assert!(err.contains("Service \"1shop-web\" is invalid"), "{err}");
    // Label values are at most 63 characters: `<app>-<proc>` of a long app name is not.
    let long = "a-very-long-stack-name-for-a-shop-with-a-long-service-name-x";
    let dir4 = k3s_app(&s, long, "shop", &[]);
    let (ok, err) = push(&dir4);
    assert!(!ok);
    assert!(err.contains("must be no more than 63 characters"), "{err}");
    assert!(obj(&s, "shop", "Deployment", &format!("{long}-web")).is_none());
    pushed(&dir);
    must(&s, "shop", "Deployment", "shop-web-web");
}

#[test]
fn placement_goes_through_kustomize_onto_profiled_nodes() {
    let s = cluster();
    s.run(&["scheduler-k3s:profiles:add", "edge"]).ok();
    s.run(&[
        "scheduler-k3s:cluster:add",
        "--profile",
        "edge",
        "ssh://root@edge1.example.com",
    ])
    .ok();
    let kustomization = |profile: &str| {
        format!(
            "resources:\n- rendered.yaml\npatches:\n- patch: |-\n    - op: add\n      path: /spec/template/spec/nodeSelector\n      value:\n        dokku.com/node-profile: {profile}\n  target:\n    group: apps\n    version: v1\n    kind: Deployment\n    name: shop-web-web\n"
        )
    };
    let k = kustomization("edge");
    let dir = k3s_app(
        &s,
        "shop-web",
        "shop",
        &[("config/kustomize/kustomization.yaml", &k)],
    );
    let (ok, err) = push(&dir);
    assert!(ok, "{err}");
    let d = must(&s, "shop", "Deployment", "shop-web-web");
    assert_eq!(
        d["spec"]["template"]["spec"]["nodeSelector"],
        json!({"dokku.com/node-profile": "edge"})
    );
    // Only the targeted Deployment is patched.
    let w = must(&s, "shop", "Deployment", "shop-web-worker");
    assert!(w["spec"]["template"]["spec"].get("nodeSelector").is_none());
    // No node carries the profile: the pods stay pending and the deploy times out.
    std::fs::write(
        dir.join("config/kustomize/kustomization.yaml"),
        kustomization("gpu"),
    )
    .unwrap();
    git(&dir, &["commit", "-qam", "gpu"]);
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("0/2 nodes are available for shop-web-web"),
        "{err}"
    );
    // A Kustomization feature the sandbox does not model is refused, not ignored.
    std::fs::write(
        dir.join("config/kustomize/kustomization.yaml"),
        "resources:\n- rendered.yaml\nnamePrefix: x-\n",
    )
    .unwrap();
    git(&dir, &["commit", "-qam", "prefix"]);
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("(sandbox) Kustomization field `namePrefix` is not modelled"),
        "{err}"
    );
}

#[test]
fn a_cluster_whose_only_node_is_tainted_runs_no_app_pods() {
    let s = Sandbox::new();
    s.run(&["scheduler-k3s:initialize", "--taint-scheduling"])
        .ok();
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("0/1 nodes are available for shop-web-web"),
        "{err}"
    );
    s.run(&["scheduler-k3s:cluster:add", "ssh://root@w1.example.com"])
        .ok();
    pushed(&dir);
}

#[test]
fn an_object_another_release_owns_is_not_taken_over() {
    let s = cluster();
    // Another app's kustomization renders a Service named like this app's.
    let svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop-web-web\nspec:\n  ports:\n  - port: 80\n  selector:\n    app: x\n";
    let other = k3s_app(
        &s,
        "shop-other",
        "shop",
        &[
            (
                "config/kustomize/kustomization.yaml",
                "resources:\n- rendered.yaml\n- svc.yaml\n",
            ),
            ("config/kustomize/svc.yaml", svc),
        ],
    );
    pushed(&other);
    let taken = must(&s, "shop", "Service", "shop-web-web");
    assert_eq!(
        taken["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "shop-other"
    );
    let dir = k3s_app(&s, "shop-web", "shop", &[]);
    let (ok, err) = push(&dir);
    assert!(!ok);
    assert!(
        err.contains("Service \"shop-web-web\" in namespace \"shop\" exists and cannot be imported into the current release"),
        "{err}"
    );
    assert!(
        obj(&s, "shop", "Deployment", "shop-web-web").is_none(),
        "nothing of the release was written"
    );
    assert_eq!(must(&s, "shop", "Service", "shop-web-web"), taken);
}
