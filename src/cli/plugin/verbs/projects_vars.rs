//! `compose:projects:vars`: a project's (or the global) shared variables.

use anyhow::Context as _;
use clap::Parser;

use crate::cli::plugin::projects::{global_vars, load};
use crate::dokku::env::DokkuEnv;

#[derive(Debug, Parser)]
#[command(
    about = "List shared variables (masked)",
    long_about = "List shared variables (values masked unless --show)"
)]
pub(super) struct Args {
    /// The project (or --global)
    #[arg(allow_hyphen_values = true, value_name = "<project>|--global")]
    project: String,
    /// The environment
    #[arg(long, value_name = "ENV")]
    environment: Option<String>,
    /// Show values (they may be secrets)
    #[arg(long)]
    show: bool,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let map = if a.project == "--global" {
        global_vars(env)?
    } else {
        let p = load(env, &a.project)?
            .with_context(|| format!("project `{}` does not exist", a.project))?;
        match &a.environment {
            Some(e) => p.env_vars.get(e).cloned().unwrap_or_default(),
            None => p.vars,
        }
    };
    for (k, v) in map {
        println!(
            "{k}={}",
            if a.show {
                v
            } else {
                crate::dokku::cmd::MASK.to_owned()
            }
        );
    }
    Ok(0)
}
