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
