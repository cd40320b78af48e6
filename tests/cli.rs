//! Binary tests of `dokku-compose` (tier 4 of docs/style.md R18).

use crate::support::{dokku_compose, stderr_failed};

#[test]
fn config_prints_json_of_a_simple_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx\n",
    )
    .unwrap();
    let out = dokku_compose()
        .current_dir(dir.path())
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    let json = config_json(&out);
    assert_eq!(json["services"]["web"]["image"], "nginx");
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dokku_compose()
        .current_dir(dir.path())
        .args(["config", "-f", "nope.yaml"])
        .output()
        .unwrap();
    let stderr = stderr_failed(&out);
    assert!(stderr.contains("nope.yaml"), "stderr: {stderr}");
}

/// `dokku-compose` in `dir`, whose compose.yaml is now `yaml`, with an empty environment.
fn compose_in(dir: &std::path::Path, yaml: &str) -> std::process::Command {
    std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
    let mut c = dokku_compose();
    c.current_dir(dir).env_clear();
    c
}

fn config_in(dir: &std::path::Path, yaml: &str) -> std::process::Output {
    compose_in(dir, yaml)
        .env("PATH", "/usr/bin:/bin")
        .args(["config", "--format", "json"])
        .output()
        .unwrap()
}

/// The stdout of a `config --format json` that must have succeeded, parsed.
fn config_json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `config` of `yaml` fails to load, its whole stderr naming `cause` (`{file}` in it stands
/// for the compose file's path).
fn assert_load_error(yaml: &str, cause: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = config_in(dir.path(), yaml);
    let file = dir.path().join("compose.yaml");
    assert_eq!(
        stderr_failed(&out),
        format!(
            " !     failed to load the compose project\n !     caused by: {}\n",
            cause.replace("{file}", &file.display().to_string())
        )
    );
}

#[test]
fn bad_port_error_names_file_key_path_and_reason() {
    assert_load_error(
        "services:\n  web:\n    image: x\n    ports:\n      - \"80:80\"\n      - \"99999:80\"\n",
        "{file}: services.web.ports[1]: invalid hostPort: 99999",
    );
}

#[test]
fn unknown_key_error_names_the_service() {
    assert_load_error(
        "services:\n  web:\n    image: x\n    imagee: y\n",
        "validating {file}: services.web additional properties 'imagee' not allowed",
    );
}

#[test]
fn dependency_cycle_error_names_the_whole_path() {
    assert_load_error(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
        "dependency cycle detected: a -> b -> a",
    );
}

#[test]
fn yaml_format_is_the_default_and_escapes_dollars() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "services:\n  web:\n    image: x\n    command: echo $$HOME\n";
    let out = compose_in(dir.path(), yaml)
        .args(["config", "-p", "demo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("name: demo"), "{yaml}");
    assert!(yaml.contains("$$HOME"), "{yaml}");
}

#[test]
fn files_outside_the_project_directory_are_allowed_but_reported() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(dir.path().join("outside.env"), "A=1\n").unwrap();
    std::fs::write(dir.path().join("secret.env"), "B=2\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.env"), project.join("link.env")).unwrap();
    let out = config_in(
        &project,
        "services:\n  web:\n    image: x\n    env_file: [../outside.env, link.env]\n",
    );
    let json = config_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`services.web.env_file[0]` reads `"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`services.web.env_file[1]` reads `"),
        "{stderr}"
    );
    assert!(stderr.contains("outside the project directory"), "{stderr}");
    assert_eq!(
        json["services"]["web"]["environment"],
        serde_json::json!({"A": "1", "B": "2"})
    );
}

#[test]
fn deep_extends_chains_are_a_clear_error_and_wide_ones_stay_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut deep = String::from("services:\n  s0:\n    image: x\n");
    for i in 1..5000 {
        deep.push_str(&format!("  s{i}:\n    extends: s{}\n", i - 1));
    }
    let out = config_in(dir.path(), &deep);
    let stderr = stderr_failed(&out);
    assert!(stderr.contains("chain deeper than 64 services"), "{stderr}");

    let mut wide = String::from("services:\n  base:\n    image: x\n    environment: [A=1]\n");
    for i in 0..3000 {
        wide.push_str(&format!("  s{i}:\n    extends: base\n"));
    }
    let out = config_in(dir.path(), &wide);
    let json = config_json(&out);
    assert_eq!(json["services"]["s2999"]["environment"]["A"], "1");
}

#[test]
fn port_ranges_cannot_expand_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("services:\n");
    for i in 0..5 {
        yaml.push_str(&format!(
            "  s{i}:\n    image: x\n    ports: [\"1-65535:1-65535\"]\n"
        ));
    }
    let out = config_in(dir.path(), &yaml);
    let stderr = stderr_failed(&out);
    assert!(
        stderr.contains("port ranges expand to more than 262144 mappings"),
        "{stderr}"
    );
    let out = config_in(
        dir.path(),
        "services:\n  s:\n    image: x\n    ports: [\"8000-8099:8000-8099\"]\n",
    );
    let json = config_json(&out);
    assert_eq!(
        json["services"]["s"]["ports"].as_array().map(Vec::len),
        Some(100)
    );
}

#[test]
fn empty_file_lists_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let out = compose_in(dir.path(), "services:\n  a:\n    image: x\n")
        .env("COMPOSE_FILE", "::")
        .args(["config"])
        .output()
        .unwrap();
    assert!(stderr_failed(&out).contains("`COMPOSE_FILE` lists no file"));
    let out = config_in(
        dir.path(),
        "include:\n  - path: []\nservices:\n  a:\n    image: x\n",
    );
    assert!(stderr_failed(&out).contains("include[0].path in"));
}

#[test]
fn merging_large_port_lists_keeps_every_distinct_mapping() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "services:\n  a:\n    image: x\n    ports: [\"10000-29999:10000-29999\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.yaml"), "services:\n  a:\n    ports: [\"10000-29999:10000-29999\", \"10000-29999:10000-29999/udp\"]\n").unwrap();
    let out = dokku_compose()
        .current_dir(dir.path())
        .env_clear()
        .args(["config", "-f", "a.yaml", "-f", "b.yaml", "--format", "json"])
        .output()
        .unwrap();
    let json = config_json(&out);
    assert_eq!(
        json["services"]["a"]["ports"].as_array().map(Vec::len),
        Some(40_000)
    );
}
