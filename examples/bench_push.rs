//! Benchmark of the Dokku calls a push costs (issue #19), run by `scripts/bench-apply`: the
//! plugin is installed in the Dokku sandbox and stacks are pushed with `git push`; for the
//! 4-service example and stacks of 20 and 50 services, a first deploy, a no-op push and a push
//! changing one service's environment variable, then `compose:status` over 50 stacks. Prints
//! the Dokku calls (reads and changes, from the sandbox's call log) and the wall time under
//! the latency model, which charges each call as CPU on a host of `CORES` cores. Asserts
//! nothing.
//!
//! usage: bench_push <sandbox dokku> <dokku-compose-plugin> <repository root>
//! (env: COMMAND_MS=300 DEPLOY_MS=0 CORES=2 STACKS=50 ONLY_STATUS=)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const PLUGIN_FILES: &[&str] = &[
    ".gitignore",
    "install",
    "update",
    "install.sh",
    "commands",
    "plugin.toml",
    "triggers/post-extract",
    "triggers/builder-build",
    "triggers/post-delete",
    "triggers/uninstall",
    "triggers/app-changed",
];

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.test")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.test")
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

struct Host {
    root: tempfile::TempDir,
    dokku: PathBuf,
    plugin: PathBuf,
}

impl Host {
    fn dokku(&self, args: &[&str]) -> std::process::Output {
        let o = Command::new(&self.dokku)
            .env("DOKKU_SANDBOX_ROOT", self.root.path())
            .env("DOKKU_COMPOSE_PREBUILT", &self.plugin)
            .env("DOKKU_QUIET_OUTPUT", "1")
            .args(args)
            .output()
            .expect("dokku");
        assert!(
            o.status.success(),
            "dokku {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }
    fn log_len(&self) -> usize {
        std::fs::read_to_string(self.root.path().join("lib/sandbox/calls.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
    /// The calls logged since `from` made by the plugin (nested), without the push itself.
    fn calls_since(&self, from: usize) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.root.path().join("lib/sandbox/calls.jsonl"))
            .unwrap_or_default();
        text.lines()
            .skip(from)
            .map(|l| serde_json::from_str::<Value>(l).expect("call log"))
            .map(|c| {
                (
                    c["depth"].as_u64().unwrap_or(0),
                    c["argv"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                )
            })
            .filter(|(d, a): &(u64, Vec<String>)| {
                *d != 0 && a.first().map(String::as_str) != Some("git-hook")
            })
            .map(|(_, a)| a)
            .collect()
    }
    fn latency(&self, command_ms: u64, cores: u64) {
        let rules = serde_json::json!({"latency": {"command_ms": command_ms, "deploy_ms": env_u64("DEPLOY_MS", 0), "cores": cores}});
        std::fs::write(
            self.root.path().join("lib/sandbox/rules.json"),
            rules.to_string(),
        )
        .expect("rules");
    }
}

fn mutating(argv: &[String]) -> bool {
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    !dokku_compose::state::is_query(&a)
}

fn install(dokku: &Path, plugin: &Path, repo_root: &Path) -> Host {
    let h = Host {
        root: tempfile::tempdir().expect("temp"),
        dokku: dokku.to_path_buf(),
        plugin: plugin.to_path_buf(),
    };
    h.dokku(&["apps:list"]);
    let repo = h.root.path().join("plugin-repo");
    std::fs::create_dir_all(repo.join("triggers")).expect("mkdir");
    for f in PLUGIN_FILES {
        std::fs::copy(repo_root.join(f), repo.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "plugin"]);
    h.dokku(&[
        "plugin:install",
        &format!("file://{}", repo.display()),
        "--name",
        "compose",
    ]);
    h
}

/// One measured push: calls (reads, changes) and wall time.
fn push(h: &Host, dir: &Path) -> (usize, usize, Duration) {
    let from = h.log_len();
    let started = Instant::now();
    git(dir, &["push", "-q", "dokku", "main"]);
    let wall = started.elapsed();
    let calls = h.calls_since(from);
    let changes = calls.iter().filter(|c| mutating(c)).count();
    (calls.len() - changes, changes, wall)
}

fn stack(n: usize) -> String {
    let mut s =
        String::from("services:\n  db:\n    image: postgres:16\n  cache:\n    image: redis:7\n");
    for i in 0..n - 2 {
        s.push_str(&format!("  s{i:02}:\n    image: example/s{i:02}:1\n    environment:\n      N: \"{i}\"\n    depends_on: [db, cache]\n"));
        if i % 3 == 0 {
            s.push_str(&format!("    ports: [\"{}:80\"]\n", 8000 + i));
        }
    }
    s
}

fn commit(dir: &Path, text: &str) {
    std::fs::write(dir.join("compose.yaml"), text).expect("write");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "change"]);
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (dokku, plugin, root) = (&args[0], &args[1], &args[2]);
    let command_ms = env_u64("COMMAND_MS", 300);
    let cores = env_u64("CORES", 2);
    println!("pushes through the plugin; latency model {command_ms} ms of CPU per Dokku call on {cores} cores, {} ms per deploy", env_u64("DEPLOY_MS", 0));
    println!(
        "{:<36} {:>22} {:>22} {:>22}",
        "stack", "first deploy", "no-op push", "one env change"
    );
    let example =
        std::fs::read_to_string(root.join("examples/web-worker-postgres-redis/compose.yaml"))
            .expect("example");
    let cases = [
        (
            "web-worker-postgres-redis (4)",
            example.clone(),
            example.replace("QUEUE: default", "QUEUE: urgent"),
        ),
        (
            "20 services",
            stack(20),
            stack(20).replacen("N: \"5\"", "N: \"five\"", 1),
        ),
        (
            "50 services",
            stack(50),
            stack(50).replacen("N: \"5\"", "N: \"five\"", 1),
        ),
    ];
    let only_status = std::env::var_os("ONLY_STATUS").is_some();
    for (name, compose, changed) in cases.into_iter().filter(|_| !only_status) {
        let h = install(dokku, plugin, root);
        h.latency(command_ms, cores);
        let client = tempfile::tempdir().expect("temp");
        let dir = client.path().join("shop");
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(&dir, &["init", "-q", "-b", "main"]);
        commit(&dir, &compose);
        h.dokku(&[
            "sandbox:git-remote",
            "shop",
            "--repo",
            &dir.display().to_string(),
        ]);
        let first = push(&h, &dir);
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
        let noop = push(&h, &dir);
        commit(&dir, &changed);
        let env = push(&h, &dir);
        let cell = |(r, c, w): (usize, usize, Duration)| {
            format!("{:>3}+{:<3} {:>8.1} s", r, c, w.as_secs_f64())
        };
        println!(
            "{name:<36} {:>22} {:>22} {:>22}",
            cell(first),
            cell(noop),
            cell(env)
        );
    }
    println!("(calls as reads+changes)");
    // compose:status over STACKS stacks of 4 services (deployed without latency).
    let n = usize::try_from(env_u64("STACKS", 50)).unwrap_or(50);
    let h = install(dokku, plugin, root);
    let small = "services:\n  web:\n    image: nginx:1\n  api:\n    image: example/api:1\n  worker:\n    image: example/worker:1\n  cron:\n    image: example/cron:1\n";
    let client = tempfile::tempdir().expect("temp");
    for i in 0..n {
        let dir = client.path().join(format!("u{i}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(&dir, &["init", "-q", "-b", "main"]);
        commit(&dir, small);
        h.dokku(&[
            "sandbox:git-remote",
            &format!("u{i}"),
            "--repo",
            &dir.display().to_string(),
        ]);
        git(&dir, &["push", "-q", "dokku", "main"]);
    }
    h.latency(command_ms, cores);
    let from = h.log_len();
    let started = Instant::now();
    let _ = Command::new(&h.dokku)
        .env("DOKKU_SANDBOX_ROOT", h.root.path())
        .env("DOKKU_QUIET_OUTPUT", "1")
        .args(["compose:status", "--format", "json"])
        .output()
        .expect("status");
    let wall = started.elapsed();
    println!(
        "compose:status over {n} stacks: {} Dokku calls, {:.1} s",
        h.calls_since(from).len(),
        wall.as_secs_f64()
    );
}
