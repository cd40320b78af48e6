//! `compose:projects:apply`: redeploy every stack of a project.

use anyhow::Context as _;
use clap::Parser;

use crate::cli::plugin::projects::{load, members};
use crate::cli::plugin::props::Props;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::runner::Runner;
use crate::report::{info2, verbose};

#[derive(Debug, Parser)]
#[command(
    about = "Redeploy a project's stacks",
    long_about = "Redeploy every stack of a project (of one environment with --environment)"
)]
pub(super) struct Args {
    /// The project
    project: String,
    /// Only stacks of this environment
    #[arg(long, value_name = "ENV")]
    environment: Option<String>,
    /// Stacks applied at once
    #[arg(long, default_value_t = 2, value_name = "N")]
    concurrency: usize,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let props = Props::new(&env.config_dir());
    load(env, &a.project)?.with_context(|| format!("project `{}` does not exist", a.project))?;
    let stacks: Vec<String> = members(env, &props)
        .into_iter()
        .filter(|(_, p, e)| {
            p.as_deref() == Some(a.project.as_str())
                && a.environment
                    .as_deref()
                    .is_none_or(|want| e.as_deref() == Some(want))
        })
        .map(|(s, ..)| s)
        .collect();
    println!(
        "{}",
        info2(&format!(
            "Applying {} stack(s) of project {}",
            stacks.len(),
            a.project
        ))
    );
    let runner = super::stack::runner();
    // The host-wide reads (`apps:list`, the networks, the datastores' lists…) are
    // asked once for the run, not once per stack (issue #19): `apps:list` now, the
    // others by the first stack that needs them; each stack drops what it changed.
    let host_wide = crate::exec::host_wide::HostWide::create(&env.data_dir())
        .context("cannot create the run's cache of host-wide reads")?;
    if !stacks.is_empty() {
        let q = crate::workflow::query(&runner);
        if let Err(e) = host_wide.query(&Cmd::dokku(["apps:list", "--format", "json"]), &q) {
            host_wide.remove();
            return Err(e.into());
        }
    }
    let run_id = host_wide.id();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..a.concurrency.max(1).min(stacks.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(stack) = stacks.get(i) else { break };
                // Each stack's apply is its own transaction (and takes its own lock).
                let r = runner.run(
                    &Cmd::dokku([
                        "compose:up",
                        stack.as_str(),
                        "--wait",
                        "--host-wide",
                        run_id.as_str(),
                    ]),
                    None,
                    None,
                );
                results
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((stack.clone(), r));
            });
        }
    });
    host_wide.remove();
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut failed = 0;
    for (stack, r) in &results {
        match r {
            Ok(out) => println!(
                "{}",
                verbose(&format!(
                    "{stack}: {}",
                    if out.stdout.contains("up to date") {
                        "up to date"
                    } else {
                        "applied"
                    }
                ))
            ),
            Err(e) => {
                failed += 1;
                eprintln!(" !     {stack}: {e}");
            }
        }
    }
    Ok(u8::from(failed > 0))
}
