//! `dokku compose:version` (issue #20): the plugin's version (Cargo.toml, the same as
//! plugin.toml's, which `dokku plugin:list` shows) and the commit it was built from.

/// The version this binary was built as.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit the binary was built from: `DOKKU_COMPOSE_COMMIT` at build time (set by
/// `install.sh`'s cargo build and by scripts/build-release), `unknown` otherwise.
pub(crate) const COMMIT: &str = match option_env!("DOKKU_COMPOSE_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// `compose <version> (<commit>)`, the line `compose:version` prints.
pub(in crate::cli::plugin) fn line() -> String {
    format!("compose {VERSION} ({COMMIT})")
}

/// `compose:version` takes no argument (any given is ignored, as before).
#[derive(Debug, clap::Parser)]
#[command(about = "Print the plugin's version and the commit it was built from")]
pub(super) struct Args {
    #[arg(hide = true, allow_hyphen_values = true, trailing_var_arg = true)]
    _ignored: Vec<String>,
}

/// Prints [`line`].
#[allow(clippy::unnecessary_wraps)]
pub(super) fn run(_: &Args, _: &crate::dokku::env::DokkuEnv) -> anyhow::Result<u8> {
    println!("{}", line());
    Ok(0)
}
