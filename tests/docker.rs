//! The docker tier (issue #16): stacks pushed with `git push` into a sandbox whose runtime is
//! `docker` really run, and the tests ask them over HTTP through the sandbox's nginx whether
//! every dependency answers. The tier needs a Docker daemon and the images of
//! scripts/docker-images; `scripts/docker-setup` installs and starts Docker. When Docker cannot
//! run, these tests fail with the reason (they never skip). Run the tier alone with
//! `cargo test --test integration docker::`.
//!
//! Container names are global to the daemon, so every test uses its own stack name.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{copy_dir, git, push, push_ok, push_refused, sandbox_bin, text, Host};

/// Docker running and the images built (once per test run).
fn docker_ready() {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for script in ["scripts/docker-setup", "scripts/docker-images"] {
            let o = Command::new(root.join(script))
                .output()
                .unwrap_or_else(|e| panic!("{script}: {e}"));
            assert!(
                o.status.success(),
                "the docker tier needs Docker: {script} failed: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    });
}

/// A docker-runtime sandbox with the plugin installed; torn down (containers, networks,
/// nginx) when dropped.
struct DockerHost(Host);

impl std::ops::Deref for DockerHost {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.0
    }
}

impl DockerHost {
    fn new() -> Self {
        docker_ready();
        let h = DockerHost(Host::empty());
        let o = Command::new(sandbox_bin())
            .args([
                "sandbox:init",
                &h.path().display().to_string(),
                "--runtime",
                "docker",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        // Short uptime checks and retirement, so a test does not wait Dokku's 10 s and 60 s.
        h.ok(&[
            "config:set",
            "--global",
            "--no-restart",
            "DOKKU_DEFAULT_CHECKS_WAIT=1",
        ]);
        h.ok(&["checks:set", "--global", "wait-to-retire", "2"]);
        h.install_plugin();
        h
    }
    /// The example `name` as a repository whose `dokku` remote is the stack app `stack`.
    fn example(&self, name: &str, stack: &str) -> PathBuf {
        let dir = self.path().join(format!("src-{stack}"));
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(name),
            &dir,
        );
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "example"]);
        self.remote(&dir, stack);
        dir
    }
    /// `http://127.0.0.1:<proxy port of app>/path`.
    fn url(&self, app: &str, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}{path}",
            self.ok(&["sandbox:proxy-port", app])
        )
    }
    /// The app's containers once the retiring ones are gone (retirement runs in the
    /// background `wait-to-retire` seconds after a deploy, then stops the containers).
    fn settled(&self, app: &str) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.containers(app);
            if !v.iter().any(|n| n.contains(".retired-")) || Instant::now() > end {
                return v;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    /// Container names of an app (`com.dokku.app-name`), running or not.
    fn containers(&self, app: &str) -> Vec<String> {
        let out = docker(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label=com.dokku.app-name={app}"),
            "--filter",
            &format!(
                "label=com.dokku.sandbox={}",
                self.path().join("lib").display()
            ),
        ]);
        let mut v: Vec<String> = out.lines().map(str::to_owned).collect();
        v.sort();
        v
    }
}

impl Drop for DockerHost {
    fn drop(&mut self) {
        drop(self.dokku(&["sandbox:teardown"]));
    }
}

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().unwrap();
    assert!(o.status.success(), "docker {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Each of `containers` is running.
fn assert_running(containers: &[&str]) {
    for c in containers {
        assert_eq!(
            docker(&["inspect", "--format", "{{.State.Running}}", c]),
            "true",
            "{c}"
        );
    }
}

fn commit_edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let before = std::fs::read_to_string(&p).unwrap();
    assert!(before.contains(from), "{file} has no `{from}`");
    std::fs::write(&p, before.replacen(from, to, 1)).unwrap();
    git(dir, &["commit", "-qam", "change"]);
}

/// GET with curl: the body of a 2xx answer, else the failure.
fn get(url: &str) -> Result<String, String> {
    let o = Command::new("curl")
        .args(["-fsS", "--max-time", "5", url])
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(text(&o))
    }
}

fn get_json(url: &str) -> Value {
    let body = get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// GET until the answer is all-ok (the worker's first heartbeat may lag the web deploy).
fn all_ok(url: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get_json(url);
        if v["ok"] == true || Instant::now() > end {
            assert_eq!(v["ok"], true, "{v:#}");
            return v;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Requests to `url` in a loop until stopped: (requests, failures with their reasons).
struct Loop {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, Vec<String>)>,
}

impl Loop {
    fn start(url: String, want: impl Fn(&Value) -> bool + Send + 'static) -> Loop {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let n = Arc::new(AtomicUsize::new(0));
        let handle = std::thread::spawn(move || {
            let mut failures = Vec::new();
            while !s.load(Ordering::Relaxed) {
                n.fetch_add(1, Ordering::Relaxed);
                match get(&url).map(|b| serde_json::from_str::<Value>(&b)) {
                    Ok(Ok(v)) if want(&v) => {}
                    other => failures.push(format!("{other:?}")),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (n.load(Ordering::Relaxed), failures)
        });
        Loop { stop, handle }
    }
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// (issue #16) The default example deploys by `git push` into real containers with Dokku's
/// names (two web replicas, one worker, `dokku.postgres.*`/`dokku.redis.*` services) and
/// answers through the proxy that the database (queried with the credentials the link gave),
/// the cache, the worker peer (by its compose name) and the volume all answer; both replicas
/// serve, and a killed process comes back per the restart policy.
#[test]
fn docker_example_answers_all_ok_through_the_proxy_and_restarts_a_crashed_process() {
    let h = DockerHost::new();
    let dir = h.example("web-worker-postgres-redis", "dkok");
    let out = push_ok(&dir);
    assert!(out.contains("Release v1 of stack dkok"), "{out}");
    assert_eq!(
        h.containers("dkok-web"),
        ["dkok-web.web.1", "dkok-web.web.2"]
    );
    assert_eq!(h.containers("dkok-worker"), ["dkok-worker.web.1"]);
    assert_running(&["dokku.postgres.dkok-db", "dokku.redis.dkok-cache"]);
    let v = all_ok(&h.url("dkok-web", "/"));
    for k in ["db", "cache", "worker", "volume"] {
        assert_eq!(v["checks"][k]["ok"], true, "{k}: {v:#}");
    }
    // The URL the link gave names the service's host and the plugin's password.
    let env = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        "dkok-web.web.1",
    ]);
    assert!(
        env.lines().any(|l| l.starts_with(
            "DATABASE_URL=postgres://postgres:hunter2@dokku-postgres-dkok-db:5432/dkok_db"
        )),
        "{env}"
    );
    assert!(
        env.lines().any(|l| l == "DYNO=web.1") && env.lines().any(|l| l == "PORT=8000"),
        "{env}"
    );
    // Both replicas serve behind the proxy.
    let dynos: std::collections::BTreeSet<String> = (0..20)
        .map(|_| {
            get_json(&h.url("dkok-web", "/"))["dyno"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(dynos.into_iter().collect::<Vec<_>>(), ["web.1", "web.2"]);
    // A crashed process comes back per the restart policy (`restart: unless-stopped`).
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{.HostConfig.RestartPolicy.Name}}",
            "dkok-web.web.1"
        ]),
        "unless-stopped"
    );
    docker(&["exec", "dkok-web.web.1", "sh", "-c", "kill -9 -1"]);
    let end = Instant::now() + Duration::from_secs(20);
    while docker(&[
        "inspect",
        "--format",
        "{{.RestartCount}} {{.State.Running}}",
        "dkok-web.web.1",
    ]) != "1 true"
    {
        assert!(Instant::now() < end, "web.1 did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
    all_ok(&h.url("dkok-web", "/"));
    // `enter` runs a command in a running container: of the given type and index, or the
    // app's only type.
    assert_eq!(
        h.ok(&["enter", "dkok-web", "web.2", "--", "sh", "-c", "echo $DYNO"]),
        "web.2"
    );
    assert_eq!(
        h.ok(&["enter", "dkok-worker", "--", "sh", "-c", "echo $DYNO"]),
        "web.1"
    );
    // `ps:inspect` reports the containers as Docker sees them now.
    let state = |app: &str| {
        let v: Value = serde_json::from_str(&h.ok(&["ps:inspect", app])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["state"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(state("dkok-worker"), ["running"]);
    docker(&["stop", "-t", "1", "dkok-worker.web.1"]);
    assert_eq!(state("dkok-worker"), ["exited"]);
}

/// (issue #16) A code change redeploys while a request loop sees no failed request; the
/// volume's data survives the redeploy and a `compose:rollback` to the first release.
#[test]
fn docker_code_change_redeploys_without_a_failed_request_and_keeps_volume_data_through_a_rollback()
{
    let h = DockerHost::new();
    let dir = h.example("web-worker-postgres-redis", "dkrd");
    push_ok(&dir);
    let url = h.url("dkrd-web", "/");
    let hits = |v: &Value| {
        v["checks"]["volume"]["detail"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches(" hits")
            .parse::<u64>()
            .unwrap_or(0)
    };
    let before = hits(&all_ok(&url));
    let requests = Loop::start(url.clone(), |v| v["ok"] == true);
    std::thread::sleep(Duration::from_millis(500));
    commit_edit(&dir, "app/app.py", "RELEASE = \"1\"", "RELEASE = \"2\"");
    push_ok(&dir);
    std::thread::sleep(Duration::from_secs(3)); // past the old containers' retirement
    let (n, failures) = requests.finish();
    assert!(n > 20, "only {n} requests");
    assert!(
        failures.is_empty(),
        "{} of {n} requests failed: {failures:?}",
        failures.len()
    );
    let v = all_ok(&url);
    assert_eq!(v["release"], "2");
    assert!(
        hits(&v) > before + n as u64 / 2,
        "the volume lost its data: {before} then {v:#}"
    );
    assert_eq!(
        h.settled("dkrd-web"),
        ["dkrd-web.web.1", "dkrd-web.web.2"],
        "the old containers are retired"
    );
    // `compose:rollback` re-applies release 1: its code serves again, on the same volume data.
    let after = hits(&v);
    h.ok(&["compose:rollback", "dkrd"]);
    let v = all_ok(&url);
    assert_eq!(v["release"], "1", "{v:#}");
    assert!(
        hits(&v) > after,
        "the rollback lost the volume's data: {after} then {v:#}"
    );
}

/// (issue #16) A release whose health check fails is refused; the previous release keeps
/// serving throughout.
#[test]
fn docker_failing_health_check_keeps_the_previous_release_serving() {
    let h = DockerHost::new();
    let dir = h.example("web-worker-postgres-redis", "dkhc");
    assert!(push(&dir).0);
    let url = h.url("dkhc-web", "/");
    all_ok(&url);
    let requests = Loop::start(url.clone(), |v| v["release"] == "1");
    commit_edit(
        &dir,
        "app/app.py",
        "return self.answer(200, b\"ok\\n\"",
        "return self.answer(500, b\"ok\\n\"",
    );
    commit_edit(
        &dir,
        "app/app.py",
        "RELEASE = \"1\"",
        "RELEASE = \"broken\"",
    );
    let out = push_refused(&dir);
    assert!(
        out.contains("Could not start due to 1 failed checks (web.1)"),
        "{out}"
    );
    let (n, failures) = requests.finish();
    assert!(
        n > 10 && failures.is_empty(),
        "{} of {n} requests failed: {failures:?}",
        failures.len()
    );
    assert_eq!(all_ok(&url)["release"], "1");
    assert_eq!(
        h.settled("dkhc-web"),
        ["dkhc-web.web.1", "dkhc-web.web.2"],
        "the failed release's containers are gone"
    );
}

/// (issue #16) `compose:down` removes every app container, while the datastores keep running
/// with their data.
#[test]
fn docker_compose_down_leaves_no_app_container_but_datastore_data() {
    let h = DockerHost::new();
    let dir = h.example("web-worker-postgres-redis", "dkdn");
    assert!(push(&dir).0);
    let visits = all_ok(&h.url("dkdn-web", "/"))["checks"]["db"]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ok(&["compose:down", "dkdn", "--force"]);
    assert_eq!(h.settled("dkdn-web"), Vec::<String>::new());
    assert_eq!(h.settled("dkdn-worker"), Vec::<String>::new());
    let count = docker(&[
        "exec",
        "dokku.postgres.dkdn-db",
        "su",
        "-",
        "postgres",
        "-c",
        "psql -tAc 'SELECT count(*) FROM visits' dkdn_db",
    ]);
    assert!(
        visits.starts_with(&format!("{count} ")) || count.parse::<u64>().unwrap() >= 1,
        "{count} vs {visits}"
    );
    assert_running(&["dokku.redis.dkdn-cache"]);
    // `:destroy` removes the datastore's container and its data.
    let data = h.path().join("lib/services/postgres/dkdn-db");
    assert!(data.exists(), "{}", data.display());
    h.ok(&["postgres:destroy", "dkdn-db", "--force"]);
    assert!(!data.exists(), "{}", data.display());
    let gone = Command::new("docker")
        .args(["container", "inspect", "dokku.postgres.dkdn-db"])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the container is removed");
}

/// (issue #16) A one-shot migration (`service_completed_successfully`) runs to completion as
/// `dokku run` before the services that wait for it start: the web process finds the schema
/// applied before it started, and the worker (which refuses to start on an unmigrated schema)
/// has written to it; no migration container is left behind.
#[test]
fn docker_one_shot_migration_completes_before_the_services_that_wait_for_it() {
    let h = DockerHost::new();
    let dir = h.example("django-migrate", "dkmg");
    push_ok(&dir);
    let v = all_ok(&h.url("dkmg-web", "/"));
    for k in ["db", "migrations", "migrated_before_start", "worker"] {
        assert_eq!(v["checks"][k]["ok"], true, "{k}: {v:#}");
    }
    assert_eq!(h.settled("dkmg-migrate"), Vec::<String>::new());
    assert_eq!(h.settled("dkmg-worker"), ["dkmg-worker.web.1"]);
}

/// (issue #16) Path routing for real: through the sandbox's nginx (http, and https with the
/// self-signed certificate standing in for Let's Encrypt) the gateway sends `/` to the
/// storefront and `/api/` to the API (prefix stripped), each of which reaches its own
/// dependencies by compose name; the admin answers on its own domain and port map.
#[test]
fn docker_path_routing_answers_as_documented_over_http_and_https() {
    let h = DockerHost::new();
    let dir = h.example("path-routing-domains", "dkpr");
    push_ok(&dir);
    let front = all_ok(&h.url("dkpr-gateway", "/"));
    assert_eq!(
        (front["service"].as_str(), front["path"].as_str()),
        (Some("storefront"), Some("/")),
        "{front:#}"
    );
    let api = all_ok(&h.url("dkpr-gateway", "/api/orders"));
    assert_eq!(
        (
            api["service"].as_str(),
            api["path"].as_str(),
            api["prefix"].as_str()
        ),
        (Some("api"), Some("/orders"), Some("/api")),
        "{api:#}"
    );
    assert_eq!(
        get(&h.url("dkpr-gateway", "/healthz")).unwrap().trim(),
        "ok"
    );
    let https = format!(
        "https://127.0.0.1:{}/api/",
        h.ok(&["sandbox:proxy-port", "dkpr-gateway", "https"])
    );
    let o = Command::new("curl")
        .args(["-ksS", "--max-time", "5", &https])
        .output()
        .unwrap();
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{https}: {e}: {}", text(&o)));
    assert_eq!(
        (v["service"].as_str(), v["ok"].as_bool()),
        (Some("api"), Some(true)),
        "{v:#}"
    );
    let admin = all_ok(&h.url("dkpr-admin", "/"));
    assert_eq!(admin["service"], "admin");
    assert!(
        h.containers("dkpr-storefront").len() == 1
            && h.dokku(&["sandbox:proxy-port", "dkpr-storefront"])
                .status
                .code()
                == Some(1),
        "the storefront is not proxied"
    );
}

const PROBE: &str = r#"import http.server, json, os, urllib.parse
import pymysql

def probe(url):
    u = urllib.parse.urlparse(url)
    try:
        conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username, password=u.password, database=u.path.lstrip("/"), connect_timeout=3)
        with conn.cursor() as cur:
            cur.execute("SELECT DATABASE(), VERSION()")
            return {"ok": True, "detail": list(cur.fetchone())}
    except Exception as e:
        return {"ok": False, "detail": f"{type(e).__name__}: {e}"}

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        checks = {k: probe(v) for k, v in sorted(os.environ.items()) if k.endswith("_URL") and v.startswith("mysql://")}
        body = json.dumps({"ok": bool(checks) and all(c["ok"] for c in checks.values()), "checks": checks}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)

http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"#;

/// (issue #16) mysql and mariadb services run as real containers: an app linked to both
/// reaches each with the URL its link gave (the plugin's user, the service password and
/// database) over the stack network.
#[test]
fn docker_mysql_and_mariadb_services_answer_with_the_linked_credentials() {
    let h = DockerHost::new();
    let compose = "services:\n  app:\n    build: ./app\n    ports: [\"8000:8000\"]\n    environment:\n      ORDERS_URL: mysql://shop:s3cret@orders:3306/shop\n      LEDGER_URL: mysql://shop:s3cret@ledger:3306/shop\n  orders:\n    image: mysql:8\n    environment:\n      MYSQL_ROOT_PASSWORD: root-s3cret\n      MYSQL_DATABASE: shop\n      MYSQL_USER: shop\n      MYSQL_PASSWORD: s3cret\n  ledger:\n    image: mariadb:11\n    environment:\n      MARIADB_ROOT_PASSWORD: root-s3cret\n      MARIADB_DATABASE: shop\n      MARIADB_USER: shop\n      MARIADB_PASSWORD: s3cret\n";
    let dir = h.path().join("src-dkmy");
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
    std::fs::write(dir.join("app/probe.py"), PROBE).unwrap();
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM python:3.11-slim\nCOPY probe.py /app/probe.py\nCMD [\"python\", \"/app/probe.py\"]\n",
    )
    .unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "mysql"]);
    h.ok(&[
        "sandbox:git-remote",
        "dkmy",
        "--repo",
        &dir.display().to_string(),
    ]);
    push_ok(&dir);
    let v = all_ok(&h.url("dkmy-app", "/"));
    let checks = v["checks"].as_object().unwrap();
    assert!(
        checks.contains_key("ORDERS_URL") && checks.contains_key("LEDGER_URL"),
        "{v:#}"
    );
    for c in checks.values() {
        assert_eq!(c["ok"], true, "{v:#}");
    }
    assert_running(&["dokku.mysql.dkmy-orders", "dokku.mariadb.dkmy-ledger"]);
}

/// (issue #16) The monorepo example: three build contexts (a Node frontend built from
/// `Dockerfile.prod` with `NODE_VERSION`, a Go API built to its `runtime` target with
/// `GO_VERSION`, a Python worker) deploy by `git push` and the frontend answers through the
/// proxy that the API answers and, by the API's report, that the database (queried with the URL
/// the link gave), redis, both worker replicas and the scheduler (the API's image run with
/// another command) answer.
#[test]
fn docker_monorepo_answers_all_ok_through_the_frontend() {
    let h = DockerHost::new();
    let dir = h.example("monorepo", "dkmono");
    push_ok(&dir);
    let v = all_ok(&h.url("dkmono-frontend", "/"));
    for k in ["api", "db", "redis", "workers", "scheduler"] {
        assert_eq!(v["checks"][k]["ok"], true, "{k}: {v:#}");
    }
    assert_eq!(v["checks"]["db"]["detail"][0], "dkmono_db", "{v:#}");
    assert_eq!(
        v["checks"]["workers"]["detail"],
        serde_json::json!(["web.1", "web.2"]),
        "{v:#}"
    );
    assert_eq!(v["products"][0]["name"], "Anvil", "{v:#}");
    assert_eq!(
        h.containers("dkmono-worker"),
        ["dkmono-worker.web.1", "dkmono-worker.web.2"]
    );
    assert_eq!(h.containers("dkmono-scheduler"), ["dkmono-scheduler.web.1"]);
    assert_eq!(
        v["checks"]["scheduler"]["detail"],
        serde_json::json!(["web.1"]),
        "{v:#}"
    );
    // The job the scheduler enqueued at its start went through redis to a worker replica.
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let logs: String = ["dkmono-worker.web.1", "dkmono-worker.web.2"]
            .iter()
            .map(|c| text(&Command::new("docker").args(["logs", c]).output().unwrap()))
            .collect();
        if logs.contains("running refresh-prices") {
            break;
        }
        assert!(Instant::now() < end, "no worker ran the job: {logs}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // The API's image is its Dockerfile's `runtime` stage (no Go toolchain), run as `nonroot`.
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{.Config.User}}",
            "dkmono-api.web.1"
        ]),
        "nonroot"
    );
    let o = Command::new("docker")
        .args(["exec", "dkmono-api.web.1", "sh", "-c", "command -v go"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "go in the runtime image: {}", text(&o));
    assert_running(&["dokku.postgres.dkmono-db", "dokku.redis.dkmono-queue"]);
}

/// (issue #16) The WordPress example: the `wordpress` image (a stand-in page on Debian's
/// apache2 and PHP) answers through the proxy, on its domain, that the MySQL service answers
/// with the WORDPRESS_DB_* credentials the plan rewrote to the link's; the read-only
/// `uploads.ini` bind baked into the generated image is read by PHP.
#[test]
fn docker_wordpress_answers_all_ok_with_the_linked_database() {
    let h = DockerHost::new();
    let dir = h.example("wordpress-mysql", "dkwp");
    push_ok(&dir);
    let v = all_ok(&h.url("dkwp-wordpress", "/"));
    assert_eq!(v["service"], "wordpress", "{v:#}");
    assert_eq!(v["checks"]["db"]["detail"][0], "dkwp_db", "{v:#}");
    assert_eq!(v["table_prefix"], "wp_", "{v:#}");
    assert_eq!(v["php_ini"]["upload_max_filesize"], "64M", "{v:#}");
    assert_running(&["dokku.mysql.dkwp-db"]);
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}",
            "dkwp-wordpress.web.1"
        ]),
        format!("{} unless-stopped", 512 * 1024 * 1024)
    );
    // The named volume is the storage mount at wp-content.
    let mounts = docker(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{println .Destination}}{{end}}",
        "dkwp-wordpress.web.1",
    ]);
    assert!(
        mounts.lines().any(|l| l == "/var/www/html/wp-content"),
        "{mounts}"
    );
}

/// The sandbox's long-lived children (its nginx, the retirement shells) keep none of the
/// caller's descriptors: a caller that reads a descriptor it passed to its end (bats does, on
/// fd 3) is not left waiting on the proxy.
#[test]
fn docker_sandbox_children_do_not_hold_the_callers_descriptors() {
    use std::io::Read as _;
    let h = DockerHost::new();
    h.ok(&["apps:create", "fdtest"]);
    // A pipe whose write end the command inherits (not close-on-exec, as a shell's fd 3).
    let (r, w) = nix::unistd::pipe().unwrap();
    let o = Command::new(sandbox_bin())
        .env("DOKKU_SANDBOX_ROOT", h.path())
        .args(["apps:destroy", "fdtest", "--force"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        h.path().join("lib/sandbox/nginx/nginx.pid").exists(),
        "the proxy was started"
    );
    drop(w);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(r);
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "a child of the sandbox still holds the caller's descriptor"
    );
    h.ok(&["sandbox:teardown"]);
}
