//! `compose:config`: the normalised compose project of the last push.

use clap::Parser;

use super::{load_stack, missing_app};
use crate::cli::plugin::stack::source_dir;
use crate::dokku::env::DokkuEnv;
use crate::model::{from_compose_json, ConvertOptions, StackName};

#[derive(Debug, Parser)]
#[command(
    about = "Print the project of the last push",
    long_about = "Print the normalised compose project of the last push (secrets masked unless --show-secrets)"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Print secret values (environment values, vault-decrypted and generated ones) instead
    /// of `********`
    #[arg(long)]
    show_secrets: bool,
}

/// `compose:config <app> [--show-secrets]`: the normalised project of the captured push, with
/// secrets masked by the release store's classification unless asked.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let (loaded, dir, ..) = load_stack(env, &a.app, None)?;
    for w in &loaded.warnings {
        eprintln!(
            "{}",
            crate::report::fail(&crate::cli::plugin::repo_relative(w, Some(&dir)))
        );
    }
    if a.show_secrets {
        println!("{}", serde_json::to_string_pretty(&loaded.json)?);
        return Ok(0);
    }
    // Plain keys as the release store reads them; a project that does not convert masks every
    // environment value.
    let stack = StackName::parse(&a.app).map_err(anyhow::Error::msg)?;
    let plain = from_compose_json(
        &loaded.json,
        &ConvertOptions {
            stack,
            project_dir: source_dir(env, &a.app).display().to_string(),
        },
    )
    .map(|(p, _)| p.settings.plain)
    .unwrap_or_default();
    println!(
        "{}",
        serde_json::to_string_pretty(
            &crate::exec::releases::SecretRule::new(&plain).mask(&loaded.json)
        )?
    );
    Ok(0)
}
