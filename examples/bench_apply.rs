//! Benchmark of `dokku-compose apply` (issue #5), run by `scripts/bench-apply`: a 50-service
//! stack with a known dependency graph (5 levels of 10 services, each depending on two of
//! the level before) is applied to the Dokku sandbox with a latency model (default 300 ms per
//! command, 3 s per deploy). Prints the wall time, the lower bound the graph and the latency
//! model imply, their ratio, a fully sequential apply for comparison, and the Dokku commands
//! per service of a first apply and of a no-op re-apply. Asserts nothing.
//!
//! usage: bench_apply <dokku-compose> <sandbox dokku>   (env: COMMAND_MS, DEPLOY_MS,
//! CONCURRENCY, SKIP_SEQUENTIAL)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const LEVELS: usize = 5;
const WIDTH: usize = 10;

fn compose() -> String {
    let mut s = String::from("name: bench\nservices:\n");
    for level in 0..LEVELS {
        for i in 0..WIDTH {
            s.push_str(&format!("  s{level}x{i}:\n    image: example/s{level}x{i}:1\n    environment:\n      LEVEL: \"{level}\"\n"));
            if level > 0 {
                s.push_str(&format!(
                    "    depends_on: [s{}x{}, s{}x{}]\n",
                    level - 1,
                    i,
                    level - 1,
                    (i + 1) % WIDTH
                ));
            }
            if i % 3 == 0 {
                s.push_str(&format!("    ports: [\"{}:80\"]\n", 8000 + level * 100 + i));
            }
        }
    }
    s
}

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Run {
    wall: Duration,
    calls: Vec<Value>,
}

fn apply(
    bin: &Path,
    dokku: &Path,
    root: &Path,
    file: &Path,
    concurrency: usize,
    extra: &[&str],
) -> Run {
    let log = root.join("lib/sandbox/calls.jsonl");
    let before = std::fs::read_to_string(&log)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let started = Instant::now();
    let out = Command::new(bin)
        .env("DOKKU_SANDBOX_ROOT", root)
        .env("DOKKU_COMPOSE_DOKKU_BIN", dokku)
        .env("DOKKU_QUIET_OUTPUT", "1")
        .args(["apply", "-f"])
        .arg(file)
        .arg("--data-dir")
        .arg(root.join("compose-data"))
        .args(["--concurrency", &concurrency.to_string()])
        .args(extra)
        .output()
        .expect("run dokku-compose");
    let wall = started.elapsed();
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .skip(before)
        .map(|l| serde_json::from_str(l).expect("call log"))
        .filter(|c: &Value| c["depth"] == 0)
        .collect();
    Run { wall, calls }
}

fn mutating(c: &Value) -> bool {
    let argv: Vec<&str> = c["argv"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    !dokku_compose::state::is_query(&argv)
}

fn sandbox(dokku: &Path, command_ms: u64, deploy_ms: u64) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    let ok = Command::new(dokku)
        .env("DOKKU_SANDBOX_ROOT", root.path())
        .arg("apps:list")
        .output()
        .expect("sandbox");
    assert!(ok.status.success());
    let rules = serde_json::json!({"latency": {"command_ms": command_ms, "deploy_ms": deploy_ms}});
    std::fs::write(
        root.path().join("lib/sandbox/rules.json"),
        rules.to_string(),
    )
    .unwrap();
    root
}

/// The lower bound: the state reads a fresh host needs, then the longer of the dependency
/// graph's critical path and the total work spread over `concurrency` workers.
fn lower_bound(
    plan: &Value,
    command_ms: u64,
    deploy_ms: u64,
    concurrency: usize,
    reads: usize,
) -> (f64, f64, f64) {
    let mut per_service: BTreeMap<String, f64> = BTreeMap::new();
    let mut stack = 0.0;
    for s in plan["steps"].as_array().unwrap() {
        let deploy = s["action"]["kind"] == "deploy";
        let t = (command_ms + if deploy { deploy_ms } else { 0 }) as f64 / 1000.0;
        match s["service"].as_str() {
            Some(svc) => *per_service.entry(svc.to_owned()).or_default() += t,
            None => stack += t,
        }
    }
    let mut finish: BTreeMap<String, f64> = BTreeMap::new();
    for level in 0..LEVELS {
        for i in 0..WIDTH {
            let name = format!("s{level}x{i}");
            let deps = if level == 0 {
                0.0
            } else {
                [i, (i + 1) % WIDTH]
                    .iter()
                    .map(|j| finish[&format!("s{}x{j}", level - 1)])
                    .fold(0.0, f64::max)
            };
            finish.insert(
                name.clone(),
                deps + per_service.get(&name).copied().unwrap_or(0.0),
            );
        }
    }
    let critical = finish.values().copied().fold(0.0, f64::max);
    let work: f64 = per_service.values().sum();
    let read = reads as f64 * command_ms as f64 / 1000.0;
    (
        read + stack + critical.max(work / concurrency as f64),
        critical,
        work,
    )
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (bin, dokku) = (&args[0], &args[1]);
    let command_ms = env_u64("COMMAND_MS", 300);
    let deploy_ms = env_u64("DEPLOY_MS", 3000);
    let concurrency = usize::try_from(env_u64("CONCURRENCY", WIDTH as u64)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, compose()).unwrap();
    println!("stack: {} services in {LEVELS} levels of {WIDTH}; latency model {command_ms} ms per command, {deploy_ms} ms per deploy; concurrency {concurrency}", LEVELS * WIDTH);

    let root = sandbox(dokku, command_ms, deploy_ms);
    let dry = Command::new(bin)
        .env("DOKKU_SANDBOX_ROOT", root.path())
        .env("DOKKU_COMPOSE_DOKKU_BIN", dokku)
        .args(["apply", "--dry-run", "--format", "json", "-f"])
        .arg(&file)
        .arg("--data-dir")
        .arg(root.path().join("compose-data"))
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&dry.stdout).expect("plan json");
    let first = apply(bin, dokku, root.path(), &file, concurrency, &[]);
    let reads = first.calls.iter().filter(|c| !mutating(c)).count();
    let writes = first.calls.iter().filter(|c| mutating(c)).count();
    let (bound, critical, work) = lower_bound(&plan, command_ms, deploy_ms, concurrency, reads);
    let services = (LEVELS * WIDTH) as f64;
    println!("first apply:      {:>8.2} s   lower bound {:.2} s (critical path {:.2} s, work {:.2} s / {concurrency}, {reads} state queries)   ratio {:.3}", first.wall.as_secs_f64(), bound, critical, work, first.wall.as_secs_f64() / bound);
    println!(
        "                  {} mutating commands ({:.1} per service), {} read-only",
        writes,
        writes as f64 / services,
        reads
    );
    let again = apply(bin, dokku, root.path(), &file, concurrency, &[]);
    let writes2 = again.calls.iter().filter(|c| mutating(c)).count();
    println!("no-op re-apply:   {:>8.2} s   {} mutating commands ({:.1} per service), {} read-only ({:.1} per service)", again.wall.as_secs_f64(), writes2, writes2 as f64 / services, again.calls.len() - writes2, (again.calls.len() - writes2) as f64 / services);
    if std::env::var_os("SKIP_SEQUENTIAL").is_none() {
        let root = sandbox(dokku, command_ms, deploy_ms);
        let seq = apply(bin, dokku, root.path(), &file, 1, &[]);
        println!("sequential apply: {:>8.2} s   (--concurrency 1; lower bound {:.2} s)   parallel speed-up {:.1}x", seq.wall.as_secs_f64(), reads as f64 * command_ms as f64 / 1000.0 + work, seq.wall.as_secs_f64() / first.wall.as_secs_f64());
    }
}
