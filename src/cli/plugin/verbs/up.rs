//! `compose:up`: apply the stack from the last push, a compose file on stdin or a project
//! template; a stack standing on a rollback re-applies that release.

use clap::Parser;

use super::{load_stack, missing_app, props, stack_args, stdin_file, store};
use crate::cli::apply_cmd;
use crate::cli::plugin::stack::{self, app_config, runner, source_dir};
use crate::dokku::env::DokkuEnv;
use crate::report::info1;

#[derive(Debug, Parser)]
#[command(
    about = "Apply the stack from the last push or stdin",
    long_about = "Apply the stack from the last push or a compose file on stdin or a project template"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// `-`: read the compose file from stdin instead of the last push
    #[arg(long, value_name = "-")]
    file: Option<String>,
    /// Destroy the apps of services that left the compose file
    #[arg(long)]
    prune: bool,
    /// With --prune: also destroy this datastore service and its data
    #[arg(long = "destroy-datastore", value_name = "SERVICE")]
    destroy_datastores: Vec<String>,
    /// Wait for a running apply of the stack instead of failing
    #[arg(long)]
    wait: bool,
    /// Create the stack from this project's template
    #[arg(long = "from-template", value_name = "PROJECT")]
    from_template: Option<String>,
    /// With --from-template: KEY=VALUE for the stack app's config, which the template reads as `${KEY}`
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The run-wide cache of host-wide reads of `compose:projects:apply` (issue #19)
    #[arg(long = "host-wide", hide = true, value_name = "RUN")]
    host_wide: Option<String>,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(project) = &a.from_template {
        if !crate::model::is_valid_app_name(&a.app) {
            anyhow::bail!("Invalid app name `{}`", a.app);
        }
        crate::cli::plugin::projects::from_template(env, &a.app, project, &a.set)?;
    } else if !a.set.is_empty() {
        anyhow::bail!(
            "`--set` goes with `--from-template`; set a stack's values with `dokku config:set`"
        );
    }
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let file = match a.file.as_deref() {
        Some("-") => Some(stdin_file(env, &a.app)?),
        Some(other) => anyhow::bail!("`--file` takes `-` (stdin); got `{other}`"),
        None => None,
    };
    if file.is_none() {
        // After `compose:rollback` the stack stands on an earlier release: `compose:up`
        // re-applies that release, not the push it rolled back from (issue #15 item 15).
        if let Some(to) = store(env, &a.app)?
            .map(|s| -> anyhow::Result<Option<u64>> {
                s.latest()?
                    .map_or(Ok(None), |l| Ok(s.rolled_back_to(l.id)?))
            })
            .transpose()?
            .flatten()
        {
            println!("{}", info1(&format!("Stack {} stands on a rollback to v{to}: re-applying v{to} (`git push` deploys the repository again)", a.app)));
            let mut run =
                stack::run_args(env, &props(env), &a.app, app_config(&runner(), &a.app)?)?;
            run.prune = a.prune;
            run.destroy_datastores.clone_from(&a.destroy_datastores);
            run.wait = a.wait;
            let r = apply_cmd::run_rollback(
                &stack_args(env, &a.app),
                &run,
                Some(to),
                source_dir(env, &a.app),
            )
            .map_err(|e| stack::server_hints(e, &a.app, &run.allow));
            // Read for itself: what it changed is unknown to the run's cache, which the
            // run's next stacks then read again.
            if let Some(h) = a
                .host_wide
                .as_deref()
                .and_then(|id| crate::exec::host_wide::HostWide::open(&env.data_dir(), id))
            {
                h.invalidate(None::<Vec<&crate::dokku::Cmd>>);
            }
            r?;
            return Ok(0);
        }
    }
    // The stack lock covers reading the captured source as well as the apply (issue #14): a
    // push replacing the source meanwhile is waited for (`--wait`) or refused. This is what
    // `compose:projects:apply` runs for each stack.
    let lock_dir = crate::exec::apply::stack_dir(&env.data_dir(), &a.app);
    let _lock = crate::exec::lock::StackLock::hold(
        &lock_dir.lock(),
        &a.app,
        &format!("compose:up since {}", crate::exec::releases::now_rfc3339()),
        a.wait,
    )?;
    let (loaded, dir, rev, config) = load_stack(env, &a.app, file.as_deref())?;
    let mut run = stack::run_args(env, &props(env), &a.app, config)?;
    run.prune = a.prune;
    run.destroy_datastores.clone_from(&a.destroy_datastores);
    run.wait = a.wait;
    run.host_wide = a
        .host_wide
        .as_deref()
        .and_then(|id| crate::exec::host_wide::HostWide::open(&env.data_dir(), id));
    stack::apply_loaded(&mut run, loaded, &a.app, dir, rev, "compose:up")?;
    Ok(0)
}
