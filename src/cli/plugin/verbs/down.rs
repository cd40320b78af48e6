//! `compose:down`: destroy the stack's service apps (and with `--datastores` its datastores).

use std::collections::BTreeMap;

use clap::Parser;

use super::{missing_app, props, released_project};
use crate::cli::apply_cmd;
use crate::cli::plugin::stack;
use crate::dokku::env::DokkuEnv;
use crate::report::info2;

#[derive(Debug, Parser)]
#[command(
    about = "Destroy the stack's service apps",
    long_about = "Destroy the stack's service apps (its datastores and their data only with --datastores)"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Skip the confirmation
    #[arg(long)]
    force: bool,
    /// Also destroy the stack's datastore services and their data
    #[arg(long)]
    datastores: bool,
    /// Print the teardown plan against the host's current state and stop
    #[arg(long)]
    dry_run: bool,
}

/// Dokku's destructive-action confirmation (plugins/common `dokku_confirm` style): type the
/// app's name, unless `--force`.
fn confirm(app: &str, what: &str) -> anyhow::Result<bool> {
    eprintln!(" !     WARNING: Potentially Destructive Action");
    eprintln!(" !     {what}");
    eprintln!(" !     To proceed, type \"{app}\"");
    eprint!("> ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() == app {
        return Ok(true);
    }
    eprintln!(" !     Confirmation did not match {app}. Aborted.");
    Ok(false)
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app)
    };
    let what = if a.datastores {
        "This command will destroy every service app and datastore of the stack"
    } else {
        "This command will destroy every service app of the stack (datastores and volumes stay)"
    };
    if !a.dry_run && !a.force && !env.force && !confirm(&a.app, what)? {
        return Ok(1);
    }
    let run = stack::run_args(env, &props(env), &a.app, BTreeMap::new())?;
    let req = crate::workflow::teardown::DownRequest {
        data_dir: env.data_dir(),
        stack: a.app.clone(),
        project,
        compose: super::store(env, &a.app)?
            .and_then(|s| {
                let l = s.latest().ok().flatten()?;
                s.masked_compose(l.id).ok()
            })
            .unwrap_or(serde_json::Value::Null),
        datastores: a.datastores,
        exec: crate::exec::executor::ExecOptions {
            concurrency: 1,
            step_timeout: Some(std::time::Duration::from_secs(run.step_timeout)),
            apply_timeout: None,
        },
        dry_run: a.dry_run,
    };
    apply_cmd::run_down(&req)?;
    if !a.dry_run {
        println!("{}", info2(&format!("Stack {} is down", a.app)));
    }
    Ok(0)
}
