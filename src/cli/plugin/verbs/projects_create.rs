//! `compose:projects:create`: a project of stacks with its environments.

use clap::Parser;

use crate::cli::plugin::projects::{load, save, valid_name, Project};
use crate::dokku::env::DokkuEnv;
use crate::report::info1;

#[derive(Debug, Parser)]
#[command(
    about = "Create a project of stacks",
    long_about = "Create a project of stacks with its environments (default: production)"
)]
pub(super) struct Args {
    /// The project
    project: String,
    /// Environments, comma-separated (default: production)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "production",
        value_name = "ENV,..."
    )]
    environments: Vec<String>,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if !valid_name(&a.project) {
        anyhow::bail!(
            "`{}` is not a valid project name (lowercase letters, digits and `-`)",
            a.project
        );
    }
    if let Some(bad) = a.environments.iter().find(|e| !valid_name(e)) {
        anyhow::bail!("`{bad}` is not a valid environment name");
    }
    if load(env, &a.project)?.is_some() {
        anyhow::bail!("project `{}` already exists", a.project);
    }
    save(
        env,
        &a.project,
        &Project {
            environments: a.environments.clone(),
            ..Project::default()
        },
    )?;
    println!(
        "{}",
        info1(&format!(
            "Project {} created with environments {}",
            a.project,
            a.environments.join(", ")
        ))
    );
    Ok(0)
}
