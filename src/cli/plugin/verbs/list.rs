//! `compose:list`: every stack on the host from its summary and apply log.

use clap::Parser;
use serde_json::{json, Value};

use super::{props, stacks};
use crate::dokku::env::DokkuEnv;
use crate::exec::apply::stack_dir as apply_stack_dir;
use crate::report::{info2, verbose};

#[derive(Debug, Parser)]
#[command(
    about = "List every stack with its services and state",
    long_about = "List every stack on the host with its services and state"
)]
pub(super) struct Args {
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// `compose:list`: from the stacks' summaries and apply logs only (no Dokku command, no
/// history to open), so it stays fast for hundreds of stacks; `compose:status` checks live.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let p = props(env);
    let mut rows = Vec::new();
    for app in stacks(env) {
        let dir = apply_stack_dir(&env.data_dir(), &app);
        let Some(summary) = crate::exec::apply::summary(&dir) else {
            continue;
        };
        let last = crate::exec::apply::apply_history(&dir, 1).pop();
        let state = match last {
            Some(l) if !l.ok => format!("last apply failed ({})", l.time),
            _ => "ok".to_owned(),
        };
        rows.push(json!({
            "stack": app,
            "project": p.get(&app, "project"),
            "environment": p.get(&app, "environment"),
            "services": summary.services.keys().collect::<Vec<_>>(),
            "release": summary.release,
            "released": summary.released,
            "state": state,
        }));
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", info2("Compose stacks"));
        for r in &rows {
            let services: Vec<&str> = r["services"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            println!(
                "{}",
                verbose(&format!(
                    "{:<24} v{:<4} {:<20} {}",
                    r["stack"].as_str().unwrap_or(""),
                    r["release"],
                    r["state"].as_str().unwrap_or(""),
                    services.join(" ")
                ))
            );
        }
    }
    Ok(0)
}
