//! `compose:releases`: the stack's releases, newest first.

use clap::Parser;

use super::{stack_args, with_app};
use crate::cli::apply_cmd;
use crate::dokku::env::DokkuEnv;

#[derive(Debug, Parser)]
#[command(about = "List the stack's releases newest first")]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    with_app(&a.app, || {
        apply_cmd::run_releases(&stack_args(env, &a.app), a.format == "json")
    })
}
