//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::process::Command;

/// The built `dokku-compose` binary.
pub(crate) fn dokku_compose() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dokku-compose"))
}

/// The `shared/` folder next to the project root.
#[allow(dead_code, reason = "used by later test modules")]
pub(crate) fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// `dokku-compose plan` (pass `--json FILE` for normalised compose JSON).
pub(crate) fn dokku_compose_plan() -> Command {
    let mut cmd = dokku_compose();
    cmd.arg("plan");
    cmd
}

/// The Dokku sandbox binary (`dokku` of the `dokku-sandbox` crate), built once per test run.
/// The root crate must not depend on the sandbox, so the tests build it and run it.
pub(crate) fn sandbox_bin() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let ok = Command::new(env!("CARGO")).args(["build", "-q", "-p", "dokku-sandbox"]).status().expect("cargo build -p dokku-sandbox");
        assert!(ok.success(), "building the sandbox failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    let bin = target.join("debug/dokku");
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}
