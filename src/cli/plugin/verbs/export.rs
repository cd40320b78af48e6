//! `dokku compose:export <app> [--output FILE]` (issue #9 "Export", docs/export.md): read the
//! host through the planner's read-only queries, export with [`crate::export`], print or store
//! the compose file. `compose:import-apps` exports through [`export_stack`] too.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use serde_json::{json, Value};

use crate::cli::plugin::stack::{runner, source_dir};
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
pub(super) struct Args {
    /// The stack app.
    app: String,
    /// Write the compose file here (and `<FILE>.env.example` beside it) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

fn query(cmd: &Cmd) -> Result<QueryOutput, StateError> {
    Ok(runner().run(cmd, None, None).ok().map(|o| o.stdout))
}

/// The recipe of the stack: the masked compose JSON of its latest release.
pub(super) fn latest_recipe(env: &DokkuEnv, app: &str) -> anyhow::Result<Option<Value>> {
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
pub(super) fn export_stack(
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
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
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
