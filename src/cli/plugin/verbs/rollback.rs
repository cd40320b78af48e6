//! `compose:rollback`: re-apply an earlier release.

use clap::Parser;

use super::{missing_app, props, stack_args};
use crate::cli::apply_cmd;
use crate::cli::plugin::stack::{self, app_config, runner, source_dir};
use crate::dokku::env::DokkuEnv;

#[derive(Debug, Parser)]
#[command(
    about = "Re-apply an earlier release",
    long_about = "Re-apply an earlier release (default: the one before the latest)"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// The release to go back to (default: the one before the latest)
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    release: Option<u64>,
    /// Wait for a running apply of the stack instead of failing
    #[arg(long)]
    wait: bool,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let mut run = stack::run_args(env, &props(env), &a.app, app_config(&runner(), &a.app)?)?;
    run.wait = a.wait;
    apply_cmd::run_rollback(
        &stack_args(env, &a.app),
        &run,
        a.release,
        source_dir(env, &a.app),
    )
    .map_err(|e| stack::server_hints(e, &a.app, &run.allow))?;
    Ok(0)
}
