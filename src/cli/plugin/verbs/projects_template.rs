//! `compose:projects:template`: store a project's compose template from stdin.

use std::io::Read as _;

use anyhow::Context as _;
use clap::Parser;

use crate::cli::plugin::projects::{load, root, write_json_text};
use crate::dokku::env::DokkuEnv;
use crate::report::info1;

#[derive(Debug, Parser)]
#[command(
    about = "Store the project's template from stdin",
    long_about = "Store the project's compose template from stdin"
)]
pub(super) struct Args {
    /// The project
    project: String,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    load(env, &a.project)?.with_context(|| format!("project `{}` does not exist", a.project))?;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the template from stdin")?;
    if text.trim().is_empty() {
        anyhow::bail!(
            "no template on stdin: `dokku compose:projects:template {} < compose.yaml`",
            a.project
        );
    }
    let path = root(env).join(&a.project).join("template/compose.yaml");
    write_json_text(&path, &text)?;
    println!(
        "{}",
        info1(&format!("Template of project {} stored", a.project))
    );
    Ok(0)
}
