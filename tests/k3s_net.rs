//! Issue 21, service discovery on k3s (docs/k3s-discovery.md): a stack pushed with the k3s
//! scheduler selected gets one plugin-owned Service per compose name and alias and, for its
//! datastore, a selector-less Service named like the link host with an EndpointSlice on the
//! Dokku host's private address; every object goes through the sandbox's kubectl stand-in,
//! which validates it against the Kubernetes 1.33 API schema (`KUBE_VALIDATE_BIN`), and the
//! names are resolved with `sandbox:k3s-resolve`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{git, sandbox_bin, spawn_paused, text, wait_for_done, Host};

const ADDRESS: &str = "10.0.0.5";

const STACK: &str = "services:
  web:
    image: nginx:1.27
    ports: ['8080:80']
    environment:
      DATABASE_URL: postgres://postgres:pw@db:5432/app
      API_URL: http://backend:3000
    depends_on: [db, api]
  api:
    image: nginx:1.27
    expose: ['3000']
    networks:
      default:
        aliases: [backend]
    environment:
      DATABASE_URL: postgres://postgres:pw@db:5432/app
    depends_on: [db]
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: pw
";

/// The schema validator the stand-in runs (scripts/setup-kube-validate): required.
fn validator() -> String {
    std::env::var("KUBE_VALIDATE_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("KUBE_VALIDATE_BIN must name kubernetes-validate (scripts/setup-kube-validate): the k3s tests validate every object")
}

/// A sandbox with the k3s scheduler selected globally and the datastore address set, and
/// the kubectl stand-in (a link named `kubectl` to the sandbox binary).
fn k3s_host() -> (Host, PathBuf) {
    let h = Host::new();
    for args in [
        vec!["scheduler-k3s:initialize"],
        vec!["scheduler:set", "--global", "selected", "k3s"],
        vec!["registry:set", "--global", "server", "registry.test"],
        vec!["registry:set", "--global", "push-on-release", "true"],
        vec!["compose:set", "--global", "k3s-datastore-address", ADDRESS],
    ] {
        let o = h.dokku(&args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    let bin = h.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let kubectl = bin.join("kubectl");
    std::os::unix::fs::symlink(sandbox_bin(), &kubectl).unwrap();
    (h, kubectl)
}

fn repo(h: &Host, files: &[(&str, &str)]) -> PathBuf {
    let dir = h.path().join("src-shop");
    for (name, content) in files {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), content).unwrap();
    }
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "one"]);
    h.remote(&dir, "shop");
    dir
}

fn push(dir: &Path, kubectl: &Path, extra: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(["push", "dokku", "main"])
        .env("DOKKU_COMPOSE_KUBECTL", kubectl)
        .env("KUBE_VALIDATE_BIN", validator());
    for (k, v) in extra {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (o.status.success(), text(&o))
}

/// `dokku <args>` in the sandbox with the kubectl stand-in `kubectl` and the validator.
fn dokku(h: &Host, kubectl: &Path, args: &[&str]) -> std::process::Output {
    h.cmd()
        .args(args)
        .env("DOKKU_COMPOSE_KUBECTL", kubectl)
        .env("KUBE_VALIDATE_BIN", validator())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn commit(dir: &Path, content: &str) {
    std::fs::write(dir.join("compose.yaml"), content).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "change"]);
}

fn kubectl(h: &Host, kubectl: &Path, args: &[&str], stdin: Option<&Value>) -> (bool, String) {
    let mut child = Command::new(kubectl)
        .args(args)
        .env("DOKKU_SANDBOX_ROOT", h.path())
        .env("KUBECONFIG", "/etc/rancher/k3s/k3s.yaml")
        .env("KUBE_VALIDATE_BIN", validator())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(v) = stdin {
        std::io::Write::write_all(&mut input, v.to_string().as_bytes()).unwrap();
    }
    drop(input);
    let o = child.wait_with_output().unwrap();
    (o.status.success(), text(&o))
}

/// The objects of the store, file -> content.
fn store(h: &Host) -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                );
            }
        }
    }
    let root = h.path().join("k3s/objects");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

fn without_identity(store: &BTreeMap<String, String>) -> BTreeMap<String, Value> {
    store
        .iter()
        .map(|(k, v)| {
            let mut o: Value = serde_json::from_str(v).unwrap();
            let meta = o["metadata"].as_object_mut().unwrap();
            meta.remove("uid");
            meta.remove("creationTimestamp");
            // A Service created again gets a new cluster IP from the API server.
            if let Some(spec) = o["spec"].as_object_mut() {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
            // The rollback restarts the apps, and Dokku's chart stamps each release with a new
            // version: the objects are otherwise the same.
            if let Some(a) = o
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                a.remove("app.kubernetes.io/version");
            }
            if let Some(a) = o
                .pointer_mut("/spec/template/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                a.remove("app.kubernetes.io/version");
            }
            (k.clone(), o)
        })
        .collect()
}

fn owned(h: &Host, kind: &str) -> Vec<String> {
    store(h)
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("shop/{kind}/")))
        .filter(|(_, c)| c.contains("\"app.kubernetes.io/managed-by\": \"dokku-compose\""))
        .map(|(p, _)| {
            p.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect()
}

/// The `web` Deployment Dokku's scheduler-k3s chart rendered for `app` in the stack's
/// namespace (the sandbox's k3s deploy writes it; the plan set `scheduler-k3s:set <app>
/// namespace shop`): the pods the plugin's Services select.
fn chart_deployment(h: &Host, app: &str) {
    let file = h
        .path()
        .join(format!("k3s/objects/shop/Deployment/{app}-web.json"));
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the deploy did not render the app's Deployment",
            file.display()
        )
    }))
    .unwrap();
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"],
        app
    );
}

fn resolve(h: &Host, host: &str, port: u16) -> (bool, String) {
    let o = h.dokku(&["sandbox:k3s-resolve", "shop", host, &port.to_string()]);
    (o.status.success(), text(&o))
}

#[test]
fn k3s_every_compose_name_alias_and_datastore_host_resolves_with_its_ports() {
    let (h, k) = k3s_host();
    let dir = repo(&h, &[("compose.yaml", STACK)]);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("postgres:expose"), "{out}");
    assert_eq!(
        owned(&h, "Service"),
        ["api", "backend", "db", "dokku-postgres-shop-db", "web"]
    );
    assert_eq!(owned(&h, "EndpointSlice"), ["db", "dokku-postgres-shop-db"]);
    chart_deployment(&h, "shop-web");
    chart_deployment(&h, "shop-api");
    // The linked URL's host, unchanged, and the compose names, from each consumer.
    let config = h.json(&["config:export", "shop-web", "--format", "json"]);
    let url = config["DATABASE_URL"].as_str().unwrap();
    assert!(url.contains("@dokku-postgres-shop-db:5432/"), "{url}");
    let exposed = text(&h.dokku(&["postgres:info", "shop-db", "--exposed-ports"]));
    let host_port = exposed
        .trim()
        .strip_prefix(&format!("5432->{ADDRESS}:"))
        .unwrap_or_else(|| panic!("exposed on the private address: {exposed}"))
        .to_owned();
    for (host, port, target) in [
        ("api", 3000, "Deployment shop-api-web".to_owned()),
        ("backend", 3000, "Deployment shop-api-web".to_owned()),
        (
            "backend.shop.svc.cluster.local",
            3000,
            "Deployment shop-api-web".to_owned(),
        ),
        ("web", 80, "Deployment shop-web-web".to_owned()),
        (
            "dokku-postgres-shop-db",
            5432,
            format!("{ADDRESS}:{host_port}"),
        ),
        ("db", 5432, format!("{ADDRESS}:{host_port}")),
    ] {
        let (ok, out) = resolve(&h, host, port);
        assert!(ok && out.contains(&target), "{host}:{port}: {out}");
    }
    // Wrong ports and unknown names do not resolve.
    for (host, port) in [("api", 80), ("web", 3000), ("cache", 6379), ("db", 3306)] {
        let (ok, out) = resolve(&h, host, port);
        assert!(!ok, "{host}:{port}: {out}");
    }
    // The objects are as the cluster stores them: a second push changes nothing.
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "noop"]);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(ok && out.contains("up to date"), "{out}");
    // A Service removed by hand is put back by the next push.
    let (ok, out) = kubectl(
        &h,
        &k,
        &["delete", "service", "backend", "-n", "shop"],
        None,
    );
    assert!(ok, "{out}");
    // `compose:plan` shows it, as text and JSON.
    let plan = |format: &str| {
        let o = dokku(&h, &k, &["compose:plan", "shop", "--format", format]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = plan("text");
    assert!(
        shown.contains("## cluster objects (in the same transaction)")
            && shown
                .contains("# kube: apply Service shop/backend (ports 3000/TCP -> app shop-api)"),
        "{shown}"
    );
    let json: Value = serde_json::from_str(&plan("json")).unwrap();
    assert_eq!(json["kube"].as_array().map(Vec::len), Some(1), "{json:#}");
    assert_eq!(json["kube"][0]["op"], "apply");
    assert_eq!(json["kube"][0]["object"]["metadata"]["name"], "backend");
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "noop"]);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(ok && out.contains("apply Service shop/backend"), "{out}");
    assert!(resolve(&h, "backend", 3000).0);
}

#[test]
fn k3s_services_of_a_removed_compose_service_go_and_compose_down_removes_them_all() {
    let (h, k) = k3s_host();
    let dir = repo(&h, &[("compose.yaml", STACK)]);
    assert!(push(&dir, &k, &[]).0);
    // Someone else's Service in the namespace is never touched.
    let foreign = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "theirs", "namespace": "shop"},
        "spec": {"ports": [{"port": 1}]}});
    assert!(kubectl(&h, &k, &["apply", "-f", "-"], Some(&foreign)).0);
    let without_api = STACK
        .replace("      API_URL: http://backend:3000\n", "")
        .replace("    depends_on: [db, api]\n", "    depends_on: [db]\n");
    let start = without_api.find("  api:\n").unwrap();
    let end = without_api.find("  db:\n").unwrap();
    let without_api = format!("{}{}", &without_api[..start], &without_api[end..]);
    commit(&dir, &without_api);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(ok, "{out}");
    assert_eq!(
        owned(&h, "Service"),
        ["db", "dokku-postgres-shop-db", "web"],
        "{out}"
    );
    assert!(!resolve(&h, "backend", 3000).0);
    // A dry run shows the deletions in the teardown plan and changes nothing.
    let cluster = store(&h);
    let o = dokku(&h, &k, &["compose:down", "shop", "--dry-run"]);
    let shown = text(&o);
    assert!(o.status.success(), "{shown}");
    assert!(
        shown.contains("## cluster objects (in the same transaction)")
            && shown.contains("delete Service shop/web")
            && shown.contains("delete EndpointSlice shop/dokku-postgres-shop-db")
            && !shown.contains("shop/theirs"),
        "{shown}"
    );
    assert_eq!(store(&h), cluster, "a dry run changed the cluster");
    let o = dokku(&h, &k, &["compose:down", "shop", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("deleted Service/web from the cluster"),
        "{}",
        text(&o)
    );
    assert_eq!(owned(&h, "Service"), Vec::<String>::new(), "{}", text(&o));
    assert_eq!(owned(&h, "EndpointSlice"), Vec::<String>::new());
    assert!(store(&h).contains_key("shop/Service/theirs.json"));
}

#[test]
fn k3s_a_failure_after_the_services_are_applied_rolls_them_back() {
    let (h, k) = k3s_host();
    let dir = repo(&h, &[("compose.yaml", STACK)]);
    assert!(push(&dir, &k, &[]).0);
    let before = store(&h);
    // A changed port, a new alias and a removed one, in one failing push.
    commit(
        &dir,
        &STACK
            .replace("expose: ['3000']", "expose: ['3001']")
            .replace("aliases: [backend]", "aliases: [svc-api]")
            .replace("http://backend:3000", "http://svc-api:3001"),
    );
    let (ok, out) = push(&dir, &k, &[("DOKKU_COMPOSE_FAIL_AFTER_EFFECT", "kube")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("injected failure after effect `kube`"),
        "{out}"
    );
    // Identical, but for the identity the API server gives an object it creates again (the
    // Service `backend` the push deleted): its uid and creation time.
    assert_eq!(
        without_identity(&store(&h)),
        without_identity(&before),
        "{out}"
    );
    assert_eq!(
        store(&h).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (file, content) in &before {
        // Dokku's chart objects are stamped with a new release version by the rollback's
        // restarts; the plugin's own objects come back to the letter.
        if file != "shop/Service/backend.json" && !content.contains("managed-by\": \"Helm\"") {
            assert_eq!(&store(&h)[file], content, "{file}");
        }
    }
    // Without the failure it goes through.
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(ok, "{out}");
    assert_eq!(
        owned(&h, "Service"),
        ["api", "db", "dokku-postgres-shop-db", "svc-api", "web"]
    );
}

#[test]
fn k3s_a_name_the_cluster_cannot_serve_or_a_missing_datastore_address_is_refused_before_any_change()
{
    let (h, k) = k3s_host();
    let dir = repo(
        &h,
        &[(
            "compose.yaml",
            &STACK.replace("aliases: [backend]", "aliases: [back_end]"),
        )],
    );
    let (ok, out) = push(&dir, &k, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("`services.api`: `back_end` cannot be a Kubernetes Service name"),
        "{out}"
    );
    assert!(store(&h).is_empty());
    h.succeeds(&["compose:set", "--global", "k3s-datastore-address"]);
    commit(&dir, STACK);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("`services.db`: on k3s the postgres service `shop-db` runs on the Dokku host")
            && out.contains("compose:set --global k3s-datastore-address"),
        "{out}"
    );
    assert!(store(&h).is_empty());
}

#[test]
fn k3s_the_kubectl_stand_in_refuses_objects_the_api_server_would() {
    let (h, k) = k3s_host();
    let good = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"ports": [{"port": 3000}]}});
    let mut unknown_field = good.clone();
    unknown_field["spec"]["ports"][0]["bogus"] = json!(1);
    let mut wrong_type = good.clone();
    wrong_type["spec"]["ports"][0]["port"] = json!("3000");
    let mut unnamed_ports = good.clone();
    unnamed_ports["spec"]["ports"] = json!([{"port": 1}, {"port": 2}]);
    let mut bad_name = good.clone();
    bad_name["metadata"]["name"] = json!("Api_1");
    let unknown_kind = json!({"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "g"}});
    for (bad, says) in [
        (&unknown_field, "'bogus' was unexpected"),
        (&wrong_type, "is not of type 'integer'"),
        (&unnamed_ports, "spec.ports[0].name: Required value"),
        (&bad_name, "metadata.name: Invalid value"),
        (&unknown_kind, "no matches for kind \"Gadget\""),
    ] {
        // In a List with a valid object: nothing of it is stored.
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [good, bad]});
        let (ok, out) = kubectl(&h, &k, &["apply", "-f", "-"], Some(&list));
        assert!(!ok && out.contains(says), "{bad}: {out}");
        assert!(store(&h).is_empty(), "{bad}");
    }
    let (ok, out) = kubectl(&h, &k, &["apply", "-f", "-"], Some(&good));
    assert!(ok && out.contains("service/api created"), "{out}");
    // Without the validator nothing is applied, loudly.
    let o = Command::new(&k)
        .args(["apply", "-f", "-"])
        .env("DOKKU_SANDBOX_ROOT", h.path())
        .env("KUBECONFIG", "/etc/rancher/k3s/k3s.yaml")
        .env_remove("KUBE_VALIDATE_BIN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            std::io::Write::write_all(c.stdin.as_mut().unwrap(), good.to_string().as_bytes())?;
            drop(c.stdin.take());
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("KUBE_VALIDATE_BIN is not set"),
        "{}",
        text(&o)
    );
    // Nor without k3s's kubeconfig.
    let o = Command::new(&k)
        .args(["get", "svc", "-n", "shop", "-o", "json"])
        .env("DOKKU_SANDBOX_ROOT", h.path())
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
}

/// The off-server `dokku-compose` against the sandbox, with the kubectl stand-in.
fn offserver(h: &Host, k: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dokku-compose"));
    c.env("DOKKU_SANDBOX_ROOT", h.path())
        .env("DOKKU_ROOT", h.path().join("home"))
        .env("DOKKU_COMPOSE_DOKKU_BIN", sandbox_bin())
        .env("DOKKU_COMPOSE_KUBECTL", k)
        .env("KUBE_VALIDATE_BIN", validator())
        .env_remove("DOKKU_QUIET_OUTPUT")
        .env_remove("DOKKU_TRACE")
        .args(args)
        .arg("--data-dir")
        .arg(h.path().join("compose-data"));
    c
}

#[test]
fn k3s_a_kill_after_the_services_are_applied_is_rolled_back_by_recover() {
    let (h, k) = k3s_host();
    let dir = h.path().join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("compose.yaml");
    std::fs::write(&f, STACK).unwrap();
    let file = f.to_str().unwrap();
    let apply = ["apply", "-f", file, "--k3s-datastore-address", ADDRESS];
    let o = offserver(&h, &k, &apply).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let before = store(&h);
    assert!(
        before.contains_key("shop/Service/backend.json"),
        "{before:?}"
    );
    std::fs::write(
        &f,
        STACK
            .replace("expose: ['3000']", "expose: ['3001']")
            .replace("aliases: [backend]", "aliases: [svc-api]"),
    )
    .unwrap();
    let journal = h.path().join("compose-data/shop/journal.jsonl");
    let mut child = spawn_paused(&mut offserver(&h, &k, &apply), "kube");
    let (reached, _) = wait_for_done(&journal, "kube");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reached, "the apply reached the `kube` effect");
    assert!(store(&h).contains_key("shop/Service/svc-api.json"));
    let o = offserver(&h, &k, &["recover", "--stack", "shop"])
        .output()
        .unwrap();
    let recovered = o.clone();
    assert!(
        o.status.success() && text(&o).contains("finished the rollback"),
        "{}",
        text(&o)
    );
    let (after, before) = (without_identity(&store(&h)), without_identity(&before));
    for (file, o) in &before {
        assert_eq!(after.get(file), Some(o), "{file}: {}", text(&recovered));
    }
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
}

#[test]
fn k3s_a_down_that_fails_after_deleting_the_cluster_objects_puts_them_back() {
    let (h, k) = k3s_host();
    let dir = repo(&h, &[("compose.yaml", STACK)]);
    assert!(push(&dir, &k, &[]).0);
    let services = owned(&h, "Service");
    assert!(!services.is_empty());
    // The deletion is a journaled effect of the teardown: a failure right after it undoes it.
    let o = h
        .cmd()
        .args(["compose:down", "shop", "--force"])
        .env("DOKKU_COMPOSE_KUBECTL", &k)
        .env("KUBE_VALIDATE_BIN", validator())
        .env("DOKKU_COMPOSE_FAIL_AFTER_EFFECT", "kube")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("injected failure after effect `kube`"),
        "{}",
        text(&o)
    );
    assert_eq!(owned(&h, "Service"), services, "{}", text(&o));
    // The next down finishes the job.
    let o = dokku(&h, &k, &["compose:down", "shop", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(owned(&h, "Service"), Vec::<String>::new(), "{}", text(&o));
    assert_eq!(owned(&h, "EndpointSlice"), Vec::<String>::new());
}

#[test]
fn k3s_an_app_kept_on_docker_local_is_reached_on_the_host_address_at_the_ports_it_publishes() {
    let (h, k) = k3s_host();
    let stack = format!(
        "{STACK}  broker:
    image: eclipse-mosquitto:2
    ports: ['1883:1883']
    networks:
      default:
        aliases: [mqtt]
  cron:
    image: busybox:1
    expose: ['9999']
x-dokku:
  services:
    broker: {{scheduler: docker-local}}
    cron: {{scheduler: docker-local}}
"
    );
    let dir = repo(&h, &[("compose.yaml", &stack)]);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(ok, "{out}");
    // The broker runs with Docker on the Dokku host: its names point at the host's private
    // address and the port it publishes there, not at pods that do not exist.
    assert_eq!(
        owned(&h, "Service"),
        [
            "api",
            "backend",
            "broker",
            "db",
            "dokku-postgres-shop-db",
            "mqtt",
            "web"
        ],
        "{out}"
    );
    assert_eq!(
        owned(&h, "EndpointSlice"),
        ["broker", "db", "dokku-postgres-shop-db", "mqtt"]
    );
    for name in ["broker", "mqtt"] {
        let (ok, out) = resolve(&h, name, 1883);
        assert!(
            ok && out.contains(&format!("{ADDRESS}:1883")),
            "{name}: {out}"
        );
    }
    // A host app that publishes nothing is not reachable from the cluster: no Service.
    let (ok, out) = resolve(&h, "cron", 9999);
    assert!(!ok, "{out}");
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "noop"]);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(ok && out.contains("up to date"), "{out}");
}

#[test]
fn k3s_a_host_app_name_taken_by_another_owner_or_not_a_service_name_is_refused_before_any_change() {
    let (h, k) = k3s_host();
    let foreign = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "mqtt", "namespace": "shop"},
        "spec": {"ports": [{"port": 1}]}});
    assert!(kubectl(&h, &k, &["apply", "-f", "-"], Some(&foreign)).0);
    let host_app = |alias: &str| {
        format!(
            "{STACK}  broker:
    image: eclipse-mosquitto:2
    ports: ['1883:1883']
    networks:
      default:
        aliases: [{alias}]
x-dokku:
  services:
    broker: {{scheduler: docker-local}}
"
        )
    };
    let dir = repo(&h, &[("compose.yaml", &host_app("mqtt"))]);
    let before = store(&h);
    let (ok, out) = push(&dir, &k, &[]);
    assert!(
        !ok && out.contains("services.broker") && out.contains("`mqtt`"),
        "{out}"
    );
    assert_eq!(store(&h), before, "a refused push changed the cluster");
    assert!(
        !h.dokku(&["apps:exists", "shop-broker"]).status.success(),
        "a refused push created an app"
    );
    commit(&dir, &host_app("mq_tt"));
    let (ok, out) = push(&dir, &k, &[]);
    assert!(
        !ok && out.contains("services.broker") && out.contains("`mq_tt`"),
        "{out}"
    );
    assert_eq!(store(&h), before, "a refused push changed the cluster");
}
