//! Binary tests of `dokku-compose plan` (style R18 tier 4): full stdout, stderr and exit code.

use crate::support::dokku_compose_plan;

fn write(dir: &std::path::Path, json: &serde_json::Value) -> std::path::PathBuf {
    let p = dir.join("compose.json");
    std::fs::write(&p, serde_json::to_string(json).unwrap()).unwrap();
    p
}

#[test]
fn prints_the_plan_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        &serde_json::json!({"services": {"web": {"image": "nginx:1.27", "environment": {"TOKEN": "s3cret", "MODE": "prod"}, "x-dokku": {"plain": ["MODE"]}}}}),
    );
    let out = dokku_compose_plan()
        .args(["--stack", "demo", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("dokku apps:create demo-web\n"), "{stdout}");
    // Secret config goes on stdin (`config:import`), never in argv; the plan masks it there.
    assert!(
        stdout.contains("dokku config:import --no-restart --format json demo-web -\n"),
        "{stdout}"
    );
    assert!(stdout.contains(" MODE=prod TOKEN=********\n"), "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn json_format_masks_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        &serde_json::json!({"services": {"web": {"image": "nginx", "environment": {"TOKEN": "s3cret"}}}}),
    );
    let out = dokku_compose_plan()
        .args(["--stack", "demo", "--format", "json", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stack"], "demo");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
}

#[test]
fn policy_violation_fails_with_every_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        &serde_json::json!({"services": {"x": {"image": "busybox", "privileged": true, "pid": "host"}}}),
    );
    let out = dokku_compose_plan()
        .args(["--stack", "demo", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        " !     the security policy refuses 2 setting(s):\n  `services.x.pid`: would run the container with `--pid host` (allow with `--allow host-namespaces`)\n  `services.x.privileged`: would run the container with `--privileged` (allow with `--allow privileged`)\n"
    );
    let out = dokku_compose_plan()
        .args([
            "--stack",
            "demo",
            "--allow",
            "privileged,host-namespaces",
            "--json",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("dokku docker-options:add demo-x deploy --privileged\n"));
}

#[test]
fn bad_stack_name_and_unknown_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), &serde_json::json!({"services": {}}));
    let out = dokku_compose_plan()
        .args(["--stack", "Demo", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        " !     stack name `Demo` must begin with a lowercase alphanumeric character and contain only lowercase alphanumerics and hyphens\n"
    );
    let out = dokku_compose_plan()
        .args(["--stack", "demo", "--allow", "root", "--json"])
        .arg(&f)
        .output()
        .unwrap();
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
    let first = dokku_compose_plan()
        .args(["--stack", "demo", "--format", "json", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0));
    // Build the snapshot by hand from what the first plan does.
    let plan: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let digest = plan["steps"]
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
    let out = dokku_compose_plan()
        .args(["--stack", "demo", "--json"])
        .arg(&f)
        .arg("--state")
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "# dokku-compose plan for stack `demo`: 0 step(s)\n#   web -> app `demo-web`\n"
    );
}

#[test]
fn cycle_error_names_the_whole_path() {
    let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plans/cycle/compose.json");
    let out = dokku_compose_plan()
        .args(["--stack", "demo", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        " !     service `api` has circular dependency `api -> queue -> worker -> api`\n"
    );
}

#[test]
fn unknown_dependency_error() {
    let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plans/unknown-dependency/compose.json");
    let out = dokku_compose_plan()
        .args(["--stack", "demo", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        " !     service `web` depends on unknown service `dbb` (`services.web.links`)\n"
    );
}
