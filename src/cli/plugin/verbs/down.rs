//! `compose:down`: destroy the stack's service apps (and with `--datastores` its datastores).

use clap::Parser;

use super::{missing_app, released_project};
use crate::cli::plugin::stack::runner;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::apply::stack_dir as apply_stack_dir;
use crate::exec::runner::Runner;
use crate::model::Kind;
use crate::report::{info1, info2, verbose};

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
    let graph = crate::graph::build(&project)?;
    let what = if a.datastores {
        "This command will destroy every service app and datastore of the stack"
    } else {
        "This command will destroy every service app of the stack (datastores and volumes stay)"
    };
    if !a.force && !env.force && !confirm(&a.app, what)? {
        return Ok(1);
    }
    let r = runner();
    let dir = apply_stack_dir(&env.data_dir(), &a.app);
    let _lock = crate::exec::lock::StackLock::acquire(&dir.lock(), &a.app, "compose:down", false)?;
    let mut failed = 0;
    // On k3s, the stack's Services and EndpointSlices go first (issue 21).
    let compose = super::store(env, &a.app)?
        .and_then(|s| {
            let l = s.latest().ok().flatten()?;
            s.masked_compose(l.id).ok()
        })
        .unwrap_or(serde_json::Value::Null);
    let query = |c: &Cmd| r.run(c, None, None).ok().map(|o| o.stdout);
    match crate::exec::kube::down(&a.app, &compose, &query) {
        Ok(gone) => {
            for o in gone {
                println!("{}", verbose(&format!("deleted {o} from the cluster")));
            }
        }
        Err(e) => {
            eprintln!(" !     {e}");
            failed += 1;
        }
    }
    let mut attempt = |cmd: Cmd| {
        println!("{}", verbose(&cmd.to_string()));
        if let Err(e) = r.run(&cmd, None, None) {
            eprintln!(" !     {e}");
            failed += 1;
        }
    };
    for name in graph.order.iter().rev() {
        match &project.services[name].kind {
            Kind::App(app) => {
                if r.run(&Cmd::dokku(["apps:exists", app.app.as_str()]), None, None)
                    .is_ok()
                {
                    println!("{}", info1(&format!("Destroying {name} ({})", app.app)));
                    attempt(Cmd::dokku(["apps:destroy", app.app.as_str(), "--force"]));
                }
            }
            Kind::Datastore(d) if a.datastores => {
                let plugin = d.plugin;
                if r.run(
                    &Cmd::dokku([format!("{plugin}:exists"), d.name.to_string()]),
                    None,
                    None,
                )
                .is_err()
                {
                    continue;
                }
                println!(
                    "{}",
                    info1(&format!("Destroying {name} ({plugin} service {})", d.name))
                );
                let links = r
                    .run(
                        &Cmd::dokku([format!("{plugin}:links"), d.name.to_string()]),
                        None,
                        None,
                    )
                    .map(|o| o.stdout)
                    .unwrap_or_default();
                for linked in links.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    attempt(Cmd::dokku([
                        format!("{plugin}:unlink"),
                        d.name.to_string(),
                        linked.to_owned(),
                        "--no-restart".into(),
                    ]));
                }
                attempt(Cmd::dokku([
                    format!("{plugin}:destroy"),
                    d.name.to_string(),
                    "--force".into(),
                ]));
            }
            Kind::Datastore(d) => println!(
                "{}",
                verbose(&format!(
                    "keeping {} service {} and its data (--datastores destroys it)",
                    d.plugin, d.name
                ))
            ),
        }
    }
    for net in project.networks.values() {
        if a.datastores
            || !project
                .services
                .values()
                .any(|s| matches!(&s.kind, Kind::Datastore(d) if d.network.as_ref() == Some(net)))
        {
            let _ = r.run(
                &Cmd::dokku(["network:destroy", "--force", net.as_str()]),
                None,
                None,
            );
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} command(s) failed; the stack is partly destroyed");
    }
    println!("{}", info2(&format!("Stack {} is down", a.app)));
    Ok(0)
}
