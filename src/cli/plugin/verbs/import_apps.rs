//! `dokku compose:import-apps <stack> <app>…` (issue #9 "Export", docs/export.md): adopt
//! existing apps and datastores into a stack.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::Parser;

use super::export::{export_stack, latest_recipe};
use crate::cli::plugin::stack::{runner, source_dir};
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::runner::Runner;
use crate::export;

/// `compose:import-apps`.
#[derive(Parser)]
#[command(
    about = "Adopt existing apps into a new stack",
    long_about = "Adopt existing apps named <stack>-<service> into a new stack"
)]
pub(super) struct Args {
    /// The new stack (an app; created when missing).
    stack: String,
    /// Existing apps, each named `<stack>-<service>`, and datastores as `<plugin>:<service>`.
    #[arg(required = true, value_name = "APP")]
    apps: Vec<String>,
}

/// `compose:import-apps <stack> <app>…`: export the apps, make `<stack>` an app, store the
/// export as its captured source, set the variables on it, and apply with `compose:up`.
///
/// This is also how the operator adopts an app or datastore a push was refused for (the
/// stack does not own it, docs/security.md "Ownership"): each is recorded as the stack's; for
/// a stack that exists already, that is all, and the next push or `compose:up` manages it.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let r = runner();
    let (datastores, apps): (Vec<String>, Vec<String>) =
        a.apps.iter().cloned().partition(|x| x.contains(':'));
    for d in &datastores {
        let (plugin, name) = d.split_once(':').unwrap_or_default();
        anyhow::ensure!(
            crate::dokku::catalog::by_plugin(plugin).is_some(),
            "`{d}`: `{plugin}` is not a datastore plugin"
        );
        r.run(
            &Cmd::dokku([format!("{plugin}:exists"), name.to_owned()]),
            None,
            None,
        )
        .map_err(|_| anyhow::anyhow!("{plugin} service `{name}` does not exist"))?;
    }
    for app in &apps {
        r.run(&Cmd::dokku(["apps:exists", app.as_str()]), None, None)
            .map_err(|_| anyhow::anyhow!("app `{app}` does not exist"))?;
    }
    // The storage entries and networks the adopted apps use come with them.
    let mut adopted = crate::plan::Owned {
        apps: apps.iter().cloned().collect(),
        datastores: datastores.iter().cloned().collect(),
        ..crate::plan::Owned::default()
    };
    for app in &apps {
        let cmd = Cmd::dokku(["storage:list", app.as_str(), "--format", "json"]);
        if let Ok(o) = r.run(&cmd, None, None) {
            for m in crate::state::parse_mounts(&cmd, &o.stdout)? {
                if let Some(entry) = m
                    .strip_prefix("entry:")
                    .and_then(|rest| rest.split(':').next())
                {
                    adopted.storage.insert(entry.to_owned());
                }
            }
        }
        let cmd = Cmd::dokku(["network:report", app.as_str(), "--format", "json"]);
        if let Ok(o) = r.run(&cmd, None, None) {
            let report = crate::state::parse_report(&cmd, &o.stdout)?;
            for key in [
                "initial-network",
                "attach-post-create",
                "attach-post-deploy",
            ] {
                adopted.networks.extend(
                    report
                        .get(key)
                        .into_iter()
                        .flat_map(|v| v.split([' ', ',']))
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }
    crate::exec::apply::adopt(&env.data_dir(), &a.stack, &adopted)?;
    if apps.is_empty() || latest_recipe(env, &a.stack)?.is_some() {
        println!(
            "{}",
            crate::report::info1(&format!(
                "Adopted {} into stack {}; its next push or `compose:up` manages them",
                a.apps.join(" "),
                a.stack
            ))
        );
        return Ok(0);
    }
    let e = export_stack(env, &a.stack, None, &apps)?;
    let yaml = export::render(&e.doc)?;
    let exists = r
        .run(&Cmd::dokku(["apps:exists", a.stack.as_str()]), None, None)
        .is_ok();
    if !exists {
        r.run(&Cmd::dokku(["apps:create", a.stack.as_str()]), None, None)
            .with_context(|| format!("cannot create the stack app `{}`", a.stack))?;
    }
    let src = source_dir(env, &a.stack);
    std::fs::create_dir_all(&src).with_context(|| format!("cannot create `{}`", src.display()))?;
    std::fs::write(src.join("compose.yaml"), &yaml)
        .with_context(|| format!("cannot write `{}`", src.display()))?;
    if !e.variables.is_empty() {
        // On stdin (`config:import`): the variables are the adopted apps' secrets.
        let values: BTreeMap<String, String> = e
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let stdin = serde_json::to_vec(&values)?;
        let keys = values.keys().cloned().collect();
        r.run(
            &Cmd::config_import(&a.stack, values, keys),
            Some(&stdin),
            None,
        )
        .context("cannot set the stack's variables")?;
    }
    println!(
        "{}",
        crate::report::info1(&format!(
            "Adopted {} into stack {}; applying",
            a.apps.join(" "),
            a.stack
        ))
    );
    let out = r
        .run(&Cmd::dokku(["compose:up", a.stack.as_str()]), None, None)
        .context("`compose:up` failed")?;
    print!("{}", out.stdout);
    Ok(0)
}
