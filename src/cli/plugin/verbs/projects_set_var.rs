//! `compose:projects:set-var`: change shared variables and tell which stacks they affect
//! ([`change`] also serves `compose:projects:unset-var`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use clap::Parser;

use crate::cli::plugin::projects::{affected, global_vars, load, root, save, write_json};
use crate::cli::plugin::props::Props;
use crate::dokku::env::DokkuEnv;
use crate::report::{info1, verbose};

#[derive(Debug, Parser)]
#[command(
    about = "Set variables",
    long_about = "Set shared variables and show which stacks they affect"
)]
pub(super) struct Args {
    /// The project (or --global)
    #[arg(allow_hyphen_values = true, value_name = "<project>|--global")]
    pub(super) project: String,
    /// The environment (default: the project level)
    #[arg(long, value_name = "ENV")]
    pub(super) environment: Option<String>,
    /// KEY=VALUE pairs
    #[arg(required = true, value_name = "VAR=VALUE")]
    pub(super) pairs: Vec<String>,
}

pub(super) fn change(a: &Args, set: bool, env: &DokkuEnv) -> anyhow::Result<u8> {
    let props = Props::new(&env.config_dir());
    let mut changed: Vec<String> = Vec::new();
    let apply_to =
        |map: &mut BTreeMap<String, String>, changed: &mut Vec<String>| -> anyhow::Result<()> {
            for pair in &a.pairs {
                if set {
                    let (k, v) = pair
                        .split_once('=')
                        .with_context(|| format!("`{pair}` is not KEY=VALUE"))?;
                    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        anyhow::bail!("`{k}` is not a variable name");
                    }
                    map.insert(k.to_owned(), v.to_owned());
                    changed.push(k.to_owned());
                } else if map.remove(pair).is_some() {
                    changed.push(pair.clone());
                }
            }
            Ok(())
        };
    let (scope, project) = if a.project == "--global" {
        let mut g = global_vars(env)?;
        apply_to(&mut g, &mut changed)?;
        write_json(&root(env).join("global.json"), &g)?;
        ("global", None)
    } else {
        let mut p = load(env, &a.project)?
            .with_context(|| format!("project `{}` does not exist", a.project))?;
        match &a.environment {
            Some(e) if !p.environments.contains(e) => anyhow::bail!(
                "project `{}` has no environment `{e}` (it has {})",
                a.project,
                p.environments.join(", ")
            ),
            Some(e) => apply_to(p.env_vars.entry(e.clone()).or_default(), &mut changed)?,
            None => apply_to(&mut p.vars, &mut changed)?,
        }
        save(env, &a.project, &p)?;
        (
            if a.environment.is_some() {
                "environment"
            } else {
                "project"
            },
            Some(a.project.as_str()),
        )
    };
    println!(
        "{}",
        info1(&format!(
            "{} {}",
            if set { "Set" } else { "Unset" },
            changed.join(", ")
        ))
    );
    // The impact: which stacks reference what changed.
    let mut stacks: BTreeSet<String> = BTreeSet::new();
    for k in &changed {
        stacks.extend(affected(
            env,
            &props,
            project,
            a.environment.as_deref(),
            k,
            scope,
        ));
    }
    if stacks.is_empty() {
        println!("{}", verbose("no deployed stack references it"));
    } else {
        let list: Vec<String> = stacks.into_iter().collect();
        println!(
            "{}",
            verbose(&format!(
                "affects {}; redeploy with `dokku compose:projects:apply {}`",
                list.join(", "),
                project.unwrap_or("<project>")
            ))
        );
    }
    Ok(0)
}

/// `compose:projects:set-var`.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    change(a, true, env)
}
