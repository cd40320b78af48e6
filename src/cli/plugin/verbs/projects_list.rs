//! `compose:projects:list`: projects with their environments and stacks.

use clap::Parser;

use crate::cli::plugin::projects::{load, members, root};
use crate::cli::plugin::props::Props;
use crate::dokku::env::DokkuEnv;
use crate::report::{info2, verbose};

#[derive(Debug, Parser)]
#[command(
    about = "List projects with their stacks",
    long_about = "List projects with their environments and stacks"
)]
pub(super) struct Args {
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let props = Props::new(&env.config_dir());
    let mut names: Vec<String> = std::fs::read_dir(root(env))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let all = members(env, &props);
    let mut rows = Vec::new();
    for n in names {
        let Some(p) = load(env, &n)? else { continue };
        let stacks: Vec<serde_json::Value> = all
            .iter()
            .filter(|(_, pr, _)| pr.as_deref() == Some(n.as_str()))
            .map(|(a, _, e)| serde_json::json!({"stack": a, "environment": e}))
            .collect();
        rows.push(serde_json::json!({"project": n, "environments": p.environments, "variables": p.vars.len(), "stacks": stacks, "template": root(env).join(&n).join("template/compose.yaml").exists()}));
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", info2("Projects"));
        for r in &rows {
            println!(
                "{}",
                verbose(&format!(
                    "{:<24} {:<28} {} stack(s)",
                    r["project"].as_str().unwrap_or(""),
                    r["environments"]
                        .as_array()
                        .map(|e| e
                            .iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(","))
                        .unwrap_or_default(),
                    r["stacks"].as_array().map_or(0, Vec::len)
                ))
            );
        }
    }
    Ok(0)
}
