//! `compose:projects:unset-var`: remove shared variables and tell which stacks they affect.

use clap::Parser;

use super::projects_set_var;
use crate::dokku::env::DokkuEnv;

#[derive(Debug, Parser)]
#[command(
    about = "Unset variables",
    long_about = "Remove shared variables and show which stacks they affect"
)]
pub(super) struct Args {
    /// The project (or --global)
    #[arg(allow_hyphen_values = true, value_name = "<project>|--global")]
    project: String,
    /// The environment (default: the project level)
    #[arg(long, value_name = "ENV")]
    environment: Option<String>,
    /// The variables' names
    #[arg(required = true, value_name = "VAR")]
    pairs: Vec<String>,
}

/// `compose:projects:unset-var`: the same change, removing.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let a = projects_set_var::Args {
        project: a.project.clone(),
        environment: a.environment.clone(),
        pairs: a.pairs.clone(),
    };
    projects_set_var::change(&a, false, env)
}
