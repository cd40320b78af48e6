//! `compose:diff`: what changed between two releases, secrets masked.

use clap::Parser;

use super::{stack_args, with_app};
use crate::cli::apply_cmd;
use crate::dokku::env::DokkuEnv;

#[derive(Debug, Parser)]
#[command(
    about = "Show what changed between two releases",
    long_about = "Show what changed between two releases (secrets masked)"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Older release
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    from: Option<u64>,
    /// Newer release
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    to: Option<u64>,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    with_app(&a.app, || {
        apply_cmd::run_diff(&stack_args(env, &a.app), a.from, a.to)
    })
}
