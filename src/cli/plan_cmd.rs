//! `dokku-compose plan`: prints the plan for a compose project off-server, with no host
//! state (a fresh install) unless `--state` gives a snapshot.
//!
//! For now it takes the compose project as JSON (what `docker compose config --format json`
//! and our loader print). Wiring (at merge time): add `pub mod plan_cmd;` to `cli/mod.rs`, a
//! `Plan(plan_cmd::PlanArgs)` variant to `offserver::Command`, and call
//! `plan_cmd::run(args)` from `offserver::run`; then delete `src/bin/dokku-compose-plan.rs`.
//! Once the loader is in, `-f` can read compose YAML through it and fall back to JSON.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::model::{ConvertOptions, StackName};
use crate::plan::{self, Options, PlanSettings};
use crate::policy::Policy;
use crate::state::DokkuState;

/// Print the Dokku commands that deploy a compose stack
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Normalised compose project as JSON (`docker compose config --format json` output)
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// Stack name: apps are named `<stack>-<service>`
    #[arg(long)]
    pub stack: String,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Allow a setting the security policy refuses by default (repeatable): privileged,
    /// cap-add, devices, host-namespaces, host-path, docker-socket, security-opt, sysctls
    #[arg(long = "allow", value_name = "RULE")]
    pub allow: Vec<String>,
    /// Project directory the JSON's absolute paths are relative to (default: the `-f` file's directory)
    #[arg(long)]
    pub project_dir: Option<String>,
    /// Current Dokku state as JSON (a `DokkuState` snapshot); default: a fresh host
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Revision of the pushed source (redeploys build services when it changes)
    #[arg(long, default_value = "")]
    pub source_rev: String,
}

/// Runs `plan`: returns the text to print on stdout and the warnings for stderr.
pub fn run(args: &PlanArgs) -> anyhow::Result<(String, Vec<String>)> {
    let stack = StackName::parse(&args.stack).map_err(anyhow::Error::msg)?;
    let policy = Policy::from_names(args.allow.iter().map(String::as_str)).map_err(anyhow::Error::msg)?;
    // Later files override earlier ones at the top level of `services`, as a simple merge.
    let mut json = serde_json::Value::Null;
    for file in &args.files {
        let text = std::fs::read_to_string(file).with_context(|| format!("failed to read compose JSON `{}`", file.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", file.display()))?;
        merge(&mut json, doc);
    }
    let project_dir = match &args.project_dir {
        Some(d) => d.clone(),
        None => {
            let first = args.files.first().map_or(Path::new("."), PathBuf::as_path);
            let dir = first.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string()
        }
    };
    let state = match &args.state {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("failed to read state `{}`", p.display()))?;
            serde_json::from_str::<DokkuState>(&text).with_context(|| format!("`{}` is not a Dokku state snapshot", p.display()))?
        }
        None => DokkuState::default(),
    };
    let opts = Options { convert: ConvertOptions { stack, project_dir }, policy, settings: PlanSettings { source_rev: args.source_rev.clone() } };
    let plan = plan::plan_compose_json(&json, &state, &opts)?;
    let warnings = plan.warnings.iter().map(ToString::to_string).collect();
    let out = if args.format == "json" { serde_json::to_string_pretty(&plan.to_json())? + "\n" } else { plan.to_string() };
    Ok((out, warnings))
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}
