//! `dokku compose:export <app> [--output FILE]` and `dokku compose:import-apps <stack> <app>…`
//! (issue #9 "Export", docs/export.md): read the host through the planner's read-only queries,
//! export with [`crate::export`], print or store the compose file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use serde_json::{json, Value};

use super::stack::{runner, source_dir};
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::apply::stack_dir as apply_stack_dir;
use crate::exec::releases::ReleaseStore;
use crate::exec::runner::Runner;
use crate::exec::secrets::HostKey;
use crate::export::{self, ExportInput, Member};
use crate::state::{QueryOutput, StateError};

/// `compose:export`.
#[derive(Parser)]
#[command(
    about = "Write a compose file of the stack",
    long_about = "Write a compose file describing what the stack's apps run now"
)]
pub(super) struct ExportArgs {
    /// The stack app.
    app: String,
    /// Write the compose file here (and `<FILE>.env.example` beside it) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `compose:import-apps`.
#[derive(Parser)]
#[command(
    about = "Adopt existing apps into a new stack",
    long_about = "Adopt existing apps named <stack>-<service> into a new stack"
)]
pub(super) struct ImportArgs {
    /// The new stack (an app; created when missing).
    stack: String,
    /// Existing apps, each named `<stack>-<service>`, and datastores as `<plugin>:<service>`.
    #[arg(required = true, value_name = "APP")]
    apps: Vec<String>,
}

fn query(cmd: &Cmd) -> Result<QueryOutput, StateError> {
    Ok(runner().run(cmd, None, None).ok().map(|o| o.stdout))
}

/// The recipe of the stack: the masked compose JSON of its latest release.
fn latest_recipe(env: &DokkuEnv, app: &str) -> anyhow::Result<Option<Value>> {
    let dir = apply_stack_dir(&env.data_dir(), app);
    if !dir.releases().exists() {
        return Ok(None);
    }
    let store = ReleaseStore::open(&dir.releases(), HostKey::load_or_create(&dir.key())?)?;
    let Some(latest) = store.latest()? else {
        return Ok(None);
    };
    Ok(Some(store.masked_compose(latest.id)?))
}

/// Exports the apps of `stack`: from its latest release, or the given adopted apps.
fn export_stack(
    env: &DokkuEnv,
    stack: &str,
    recipe: Option<&Value>,
    adopted: &[String],
) -> anyhow::Result<export::Export> {
    let project_dir = source_dir(env, stack).display().to_string();
    let synthetic;
    let recipe_json = match recipe {
        Some(r) => r,
        None => {
            // Adopted apps: a placeholder project naming them, only to read their state.
            let mut services = serde_json::Map::new();
            for app in adopted {
                let svc = app.strip_prefix(&format!("{stack}-")).filter(|s| !s.is_empty()).with_context(|| {
                    format!("app `{app}` cannot join stack `{stack}`: its apps are named `{stack}-<service>`; rename it first (`dokku apps:rename {app} {stack}-<service>`)")
                })?;
                services.insert(svc.to_owned(), json!({"image": "scratch"}));
            }
            synthetic = json!({"name": stack, "services": services});
            &synthetic
        }
    };
    let (project, services) = export::members_of(recipe_json, stack, &project_dir)?;
    let state = crate::state::read_parallel(&project, &query, 4)
        .context("cannot read the state of the host")?;
    let mut images = BTreeMap::new();
    for m in services.values() {
        let Member::App(app) = m else { continue };
        if !state.apps.contains_key(app) {
            anyhow::bail!("app `{app}` does not exist");
        }
        let cmd = Cmd::dokku(["git:report", app.as_str(), "--format", "json"]);
        if let Ok(o) = runner().run(&cmd, None, None) {
            let v: Value = serde_json::from_str(o.stdout.trim()).unwrap_or(Value::Null);
            if let Some(img) = v["git-source-image"].as_str().filter(|s| !s.is_empty()) {
                images.insert(app.clone(), img.to_owned());
            }
        }
    }
    let input = ExportInput {
        stack,
        state: &state,
        services,
        recipe,
        project_dir: recipe.map(|_| project_dir.as_str()),
        images,
    };
    Ok(export::export(&input)?)
}

/// `compose:export <app> [--output FILE]`.
pub(super) fn export_cmd(a: &ExportArgs, env: &DokkuEnv) -> anyhow::Result<u8> {
    let recipe = latest_recipe(env, &a.app)?.with_context(|| format!("stack `{}` has not been deployed yet (use `compose:import-apps` to adopt existing apps)", a.app))?;
    let e = export_stack(env, &a.app, Some(&recipe), &[])?;
    let yaml = export::render(&e.doc)?;
    match &a.output {
        Some(f) => {
            std::fs::write(f, &yaml).with_context(|| format!("cannot write `{}`", f.display()))?;
            let example = PathBuf::from(format!("{}.env.example", f.display()));
            std::fs::write(&example, export::env_example(&e))
                .with_context(|| format!("cannot write `{}`", example.display()))?;
            println!(
                "{}",
                crate::report::info1(&format!("Exported stack {} to {}", a.app, f.display()))
            );
        }
        None => print!("{yaml}"),
    }
    Ok(0)
}

/// `compose:import-apps <stack> <app>…`: export the apps, make `<stack>` an app, store the
/// export as its captured source, set the variables on it, and apply with `compose:up`.
///
/// This is also how the operator adopts an app or datastore a push was refused for (the
/// stack does not own it, docs/security.md "Ownership"): each is recorded as the stack's; for
/// a stack that exists already, that is all, and the next push or `compose:up` manages it.
pub(super) fn import_apps(a: &ImportArgs, env: &DokkuEnv) -> anyhow::Result<u8> {
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
