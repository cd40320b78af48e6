//! `compose:plan`: the Dokku commands an apply would run now (a dry run).

use clap::Parser;

use super::{load_stack, missing_app, props};
use crate::cli::plugin::stack;
use crate::dokku::env::DokkuEnv;

#[derive(Debug, Parser)]
#[command(
    about = "Print the Dokku commands an apply would run",
    long_about = "Print the Dokku commands an apply would run now (always from a full read of the host)"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Read the whole host, trusting nothing the last release recorded (what `compose:plan`
    /// always does: the flag says so; issue #19)
    #[arg(long)]
    refresh: bool,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    // A dry run never trusts the stack's record (exec::apply: `trust` needs `!dry_run`), so
    // every plan is a refresh; `--refresh` is accepted so drift checks can say so.
    let _ = a.refresh;
    let (loaded, dir, rev, config) = load_stack(env, &a.app, None)?;
    let mut run = stack::run_args(env, &props(env), &a.app, config)?;
    run.dry_run = true;
    run.format.clone_from(&a.format);
    stack::apply_loaded(&mut run, loaded, &a.app, dir, rev, "compose:plan")?;
    Ok(0)
}
