//! `compose:status`: every stack's services, non-zero when one is not as expected.

use clap::Parser;
use serde_json::Value;

use super::ps::{bulk_ps_reports, service_states};
use super::{released_project, stacks};
use crate::dokku::env::DokkuEnv;

#[derive(Debug, Parser)]
#[command(
    about = "Show every stack's services and their state",
    long_about = "Show every stack's services; exit non-zero when one is not as expected"
)]
pub(super) struct Args {
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let mut all = serde_json::Map::new();
    let mut bad = false;
    let mut projects = Vec::new();
    for app in stacks(env) {
        let Some((project, _, _)) = released_project(env, &app)? else {
            continue;
        };
        projects.push((app, project));
    }
    // Every stack's apps from one bulk report, whatever the number of stacks.
    let reports = if projects.is_empty() {
        None
    } else {
        bulk_ps_reports()
    };
    for (app, project) in projects {
        let states = service_states(&project, &reports);
        bad |= states.iter().any(|s| s["ok"] != true);
        if a.format != "json" {
            super::table::print_states(&app, &states);
        }
        all.insert(app, Value::Array(states));
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&Value::Object(all))?);
    }
    Ok(u8::from(bad))
}
