//! Path routing (issue 7, docs/routing.md): the rendered nginx include is golden-tested
//! (tests/fixtures/routing/<case>/{compose.yaml, expected.conf}; `UPDATE_GOLDEN=1` rewrites),
//! validated by the real `nginx -t` (`NGINX_BIN`, installed by scripts/test; the tests fail,
//! never skip, without it), and applied end to end in the Dokku sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dokku_compose::cli::plan_cmd::LoadedProject;
use dokku_compose::compose::{self, LoadOptions};
use dokku_compose::model::{from_compose_json, ConvertOptions, StackName};
use dokku_compose::routing::{self, Include};

use crate::support::{self, golden, ok, updating};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/routing")
}

/// The includes of the compose project in `dir`, as the planner makes them.
fn includes(dir: &Path) -> Vec<Include> {
    let opts = LoadOptions {
        files: vec!["compose.yaml".into()],
        environment: BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]),
        working_dir: dir.to_path_buf(),
        ..LoadOptions::default()
    };
    let loaded = LoadedProject::new(&compose::load(&opts).unwrap(), dir.to_path_buf()).unwrap();
    let stack = StackName::sanitise(&loaded.name);
    let convert = ConvertOptions {
        stack: stack.clone(),
        project_dir: dir.display().to_string(),
    };
    let (project, _) = from_compose_json(&loaded.json, &convert).unwrap();
    let graph = dokku_compose::graph::build(&project).unwrap();
    routing::includes(
        &project,
        &graph,
        &format!("/var/lib/dokku/data/compose/{stack}/static"),
    )
    .unwrap()
    .into_values()
    .collect()
}

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.join("expected.conf").exists()
                || updating() && p.join("compose.yaml").exists() && !p.ends_with("e2e")
        })
        .collect();
    dirs.sort();
    dirs
}

fn rendered(dir: &Path) -> String {
    includes(dir)
        .iter()
        .map(routing::render)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn routing_golden_includes() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 2, "{all:?}");
    for dir in all {
        golden(&dir.join("expected.conf"), &rendered(&dir), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `NGINX_BIN`: required; these tests fail without it.
fn nginx_bin() -> PathBuf {
    match std::env::var_os("NGINX_BIN") {
        Some(b) if !b.is_empty() => PathBuf::from(b),
        _ => panic!("NGINX_BIN is not set: the rendered includes are validated by the real `nginx -t`; run scripts/test (it installs Debian's nginx-light) or export NGINX_BIN=/usr/sbin/nginx"),
    }
}

/// Runs `nginx -t` on a minimal nginx.conf whose one server block includes `include` the way
/// Dokku's nginx.conf.sigil does, with the upstreams Dokku would define.
fn nginx_t(include: &Include, text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let conf_d = dir.path().join("app/nginx.conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(conf_d.join(routing::INCLUDE_FILE), text).unwrap();
    let mut upstreams: Vec<String> = include
        .locations
        .iter()
        .filter_map(|l| l.upstream.clone())
        .collect();
    // The owning app's own upstream (a custom block may proxy to it).
    upstreams.push(format!("{}-3000", include.app));
    upstreams.push(format!("{}-80", include.app));
    upstreams.sort();
    upstreams.dedup();
    let ups: String = upstreams
        .iter()
        .map(|u| format!("  upstream {u} {{ server 127.0.0.1:9; }}\n"))
        .collect();
    let p = dir.path().display();
    let conf = format!(
        "pid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n{ups}  server {{\n    listen 127.0.0.1:18080;\n    server_name example.com;\n    location / {{ proxy_pass http://{}-80; }}\n    include {}/*.conf;\n  }}\n}}\n",
        include.app,
        conf_d.display()
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let out = Command::new(nginx_bin())
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .output()
        .unwrap();
    drop(dir);
    out
}

#[test]
fn routing_real_nginx_accepts_every_golden_include() {
    let mut checked = 0;
    for dir in cases() {
        for inc in includes(&dir) {
            checked += 1;
            let text = routing::render(&inc);
            let out = nginx_t(&inc, &text);
            assert!(
                out.status.success(),
                "{}: nginx -t refused:\n{}\n{text}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(checked >= 2, "{checked} includes checked");
}

#[test]
fn routing_real_nginx_rejects_a_bad_custom_block() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "name: bad\nx-dokku:\n  services:\n    web:\n      paths:\n        - {path: /x, nginx: \"retrun 200;\"}\nservices:\n  web:\n    image: nginx\n    ports: [\"80:80\"]\n",
    )
    .unwrap();
    // Balanced, so our validation passes it through: nginx is the judge of directives.
    let inc = includes(dir.path()).remove(0);
    let out = nginx_t(&inc, &routing::render(&inc));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unknown directive \"retrun\""),
        "{err}"
    );
}

/// The Dokku sandbox (`root`) and the project directory of the e2e fixture.
struct Host(support::ProjectHost);

impl std::ops::Deref for Host {
    type Target = support::ProjectHost;
    fn deref(&self) -> &support::ProjectHost {
        &self.0
    }
}

impl Host {
    fn new() -> Self {
        let h = Host(support::ProjectHost::new());
        std::fs::create_dir_all(h.project.path().join("public")).unwrap();
        std::fs::copy(
            fixtures().join("e2e/public/index.html"),
            h.project.path().join("public/index.html"),
        )
        .unwrap();
        h
    }
    fn include(&self) -> Option<String> {
        std::fs::read_to_string(
            self.root
                .path()
                .join("home/rt-web/nginx.conf.d")
                .join(routing::INCLUDE_FILE),
        )
        .ok()
    }
    fn apply(&self, api_path: &str) -> Output {
        let text = std::fs::read_to_string(fixtures().join("e2e/compose.yaml"))
            .unwrap()
            .replace("@API_PATH@", api_path);
        let f = self.project.path().join("compose.yaml");
        std::fs::write(&f, text).unwrap();
        self.root
            .compose()
            .env("DOKKU_ROOT", self.root.path().join("home"))
            .args(["apply", "-f", f.to_str().unwrap(), "--data-dir"])
            .arg(self.data())
            .output()
            .unwrap()
    }
    fn expected(&self) -> String {
        includes(self.project.path())
            .iter()
            .map(routing::render)
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                "/var/lib/dokku/data/compose",
                &self.root.path().join("compose-data").display().to_string(),
            )
    }
}

#[test]
fn routing_apply_writes_the_include_is_idempotent_and_rolls_back() {
    let h = Host::new();
    let out = ok(&h.apply("/api/"));
    assert!(out.contains("proxy:build-config rt-web"), "{out}");
    let first = h.include().expect("the include is written");
    assert_eq!(first, h.expected());
    assert!(first.contains("proxy_pass http://rt-api-5000;"), "{first}");
    let copied = h
        .root
        .path()
        .join("compose-data/rt/static/rt-web/1/index.html");
    assert!(
        copied.is_file(),
        "the static directory is copied to {}",
        copied.display()
    );
    let config = String::from_utf8_lossy(
        &h.dokku(&["config:get", "rt-web", routing::PATHS_VAR])
            .stdout,
    )
    .into_owned();
    assert!(config.trim().starts_with("sha256:"), "{config}");

    // Unchanged: nothing to do.
    let out = ok(&h.apply("/api/"));
    assert!(out.contains("up to date"), "{out}");
    assert!(!out.contains("build-config"), "{out}");

    // A changed path rewrites it.
    ok(&h.apply("/v2/"));
    let second = h.include().unwrap();
    assert!(
        second.contains("location /v2/ {") && !second.contains("location /api/"),
        "{second}"
    );
    assert_eq!(second, h.expected());

    // A failure at the build-config step puts the previous include back, and the previous
    // static directory (issue #14).
    let served = std::fs::read(&copied).unwrap();
    let index = h.project.path().join("public/index.html");
    let original = std::fs::read(&index).unwrap();
    std::fs::write(&index, "changed by the failed apply").unwrap();
    std::fs::write(h.project.path().join("public/new.html"), "new").unwrap();
    h.set_faults(&serde_json::json!([{ "match": "proxy:build-config rt-web", "message": "injected at build-config" }]));
    let o = h.apply("/v3/");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    h.set_faults(&serde_json::json!([]));
    assert!(
        !o.status.success() && text.contains("injected at build-config"),
        "{text}"
    );
    assert_eq!(
        h.include().as_deref(),
        Some(second.as_str()),
        "the previous include is restored: {text}"
    );
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        served,
        "the previous static directory is restored: {text}"
    );
    assert!(
        !copied.with_file_name("new.html").exists(),
        "nothing of the failed apply's static directory stays"
    );
    assert!(
        !h.root.path().join("compose-data/rt/undo").exists(),
        "no saved tree is left behind"
    );
    std::fs::write(&index, original).unwrap();
    std::fs::remove_file(h.project.path().join("public/new.html")).unwrap();
    let config = String::from_utf8_lossy(
        &h.dokku(&["config:get", "rt-web", routing::PATHS_VAR])
            .stdout,
    )
    .into_owned();
    let after = ok(&h.apply("/v2/"));
    assert!(
        after.contains("up to date"),
        "the rollback restored {} too: {after}",
        config.trim()
    );
}
