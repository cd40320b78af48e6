//! Binary tests of `dokku-compose plan` (style R18 tier 4): full stdout, stderr and exit code.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{dokku_compose_plan, stderr_failed, stdout_ok};

fn write(dir: &Path, json: &serde_json::Value) -> PathBuf {
    let p = dir.join("compose.json");
    std::fs::write(&p, serde_json::to_string(json).unwrap()).unwrap();
    p
}

/// `dokku-compose plan <args> --json <json>`.
fn plan(args: &[&str], json: &Path) -> Output {
    dokku_compose_plan()
        .args(args)
        .arg("--json")
        .arg(json)
        .output()
        .unwrap()
}

/// The normalised compose JSON of the golden case `name` (tests/fixtures/plans).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/plans/{name}/compose.json"))
}

/// A plan's text where the web service's `MODE=prod` and `TOKEN=s3cret` are imported through
/// stdin (`config:import`), never argv, and the token is masked.
pub(crate) fn assert_secret_config_masked(stdout: &str) {
    assert!(
        stdout.contains("dokku config:import --no-restart --format json demo-web -\n"),
        "{stdout}"
    );
    assert!(stdout.contains(" MODE=prod TOKEN=********\n"), "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn prints_the_plan_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        &serde_json::json!({"services": {"web": {"image": "nginx:1.27", "environment": {"TOKEN": "s3cret", "MODE": "prod"}, "x-dokku": {"plain": ["MODE"]}}}}),
    );
    let out = plan(&["--stack", "demo"], &f);
    let stdout = stdout_ok(&out);
    assert!(stdout.contains("dokku apps:create demo-web\n"), "{stdout}");
    assert_secret_config_masked(&stdout);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn json_format_masks_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        &serde_json::json!({"services": {"web": {"image": "nginx", "environment": {"TOKEN": "s3cret"}}}}),
    );
    let stdout = stdout_ok(&plan(&["--stack", "demo", "--format", "json"], &f));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["stack"], "demo");
    assert!(!stdout.contains("s3cret"));
}

#[test]
fn policy_violation_fails_with_every_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        &serde_json::json!({"services": {"x": {"image": "busybox", "privileged": true, "pid": "host"}}}),
    );
    assert_eq!(
        stderr_failed(&plan(&["--stack", "demo"], &f)),
        " !     the security policy refuses 2 setting(s):\n  `services.x.pid`: would run the container with `--pid host` (allow with `--allow host-namespaces`)\n  `services.x.privileged`: would run the container with `--privileged` (allow with `--allow privileged`)\n"
    );
    let out = plan(
        &["--stack", "demo", "--allow", "privileged,host-namespaces"],
        &f,
    );
    assert!(stdout_ok(&out).contains("dokku docker-options:add demo-x deploy --privileged\n"));
}

#[test]
fn bad_stack_name_and_unknown_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), &serde_json::json!({"services": {}}));
    assert_eq!(
        stderr_failed(&plan(&["--stack", "Demo"], &f)),
        " !     stack name `Demo` must begin with a lowercase alphanumeric character and contain only lowercase alphanumerics and hyphens\n"
    );
    let out = plan(&["--stack", "demo", "--allow", "root"], &f);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        " !     unknown policy rule `root`; valid rules: privileged, cap-add, devices, host-namespaces, host-path, docker-socket, security-opt, sysctls, nginx-custom, host-hooks\n"
    );
}

#[test]
fn state_snapshot_makes_the_plan_empty() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        &serde_json::json!({"services": {"web": {"image": "nginx", "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}]}}}),
    );
    let first = stdout_ok(&plan(&["--stack", "demo", "--format", "json"], &f));
    // Build the snapshot by hand from what the first plan does.
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let digest = first["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["kind"] == "deploy")
        .unwrap()["action"]["digest"]
        .clone();
    let state = serde_json::json!({
        "apps": {"demo-web": {
            "config": {"DOKKU_COMPOSE_DIGEST": digest, "DOKKU_COMPOSE_KEYS": "", "DOKKU_COMPOSE_OPTIONS": "[\"deploy --network-alias web\"]"},
            "deployed": true, "ports": ["http:8080:80"], "proxy_enabled": true, "domains": [],
            "docker_options": {"deploy": ["--network-alias web"]}, "mounts": [],
            "properties": {"builder:selected": "dockerfile", "network:initial-network": "demo-default"},
            "scale": {}, "resources": {}, "letsencrypt": false
        }},
        "datastores": {}, "networks": ["demo-default"], "storage": []
    });
    let s = dir.path().join("state.json");
    std::fs::write(&s, state.to_string()).unwrap();
    let out = plan(&["--stack", "demo", "--state", s.to_str().unwrap()], &f);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "# dokku-compose plan for stack `demo`: 0 step(s)\n#   web -> app `demo-web`\n"
    );
}

#[test]
fn cycle_error_names_the_whole_path() {
    let out = plan(&["--stack", "demo"], &fixture("cycle"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        stderr_failed(&out),
        " !     service `api` has circular dependency `api -> queue -> worker -> api`\n"
    );
}

#[test]
fn unknown_dependency_error() {
    let out = plan(&["--stack", "demo"], &fixture("unknown-dependency"));
    assert_eq!(
        stderr_failed(&out),
        " !     service `web` depends on unknown service `dbb` (`services.web.links`)\n"
    );
}
