//! Binary tests of `dokku-compose` (tier 4 of docs/style.md R18).

use crate::support::dokku_compose;

#[test]
fn config_prints_json_of_a_simple_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), "services:\n  web:\n    image: nginx\n").unwrap();
    let out = dokku_compose()
        .current_dir(dir.path())
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["services"]["web"]["image"], "nginx");
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dokku_compose().current_dir(dir.path()).args(["config", "-f", "nope.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope.yaml"), "stderr: {stderr}");
}
