//! `dokku-compose plan`: prints the plan for a compose project off-server, with no host
//! state (a fresh install) unless `--state` gives a snapshot.
//!
//! The project comes from compose files read by the loader (`-f`, as `config` reads them), or
//! from already-normalised JSON (`--json`: what `docker compose config --format json` prints).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::model::{ConvertOptions, StackName};
use crate::plan::{Options, PlanSettings};
use crate::policy::Policy;
use crate::state::DokkuState;

/// Print the Dokku commands that deploy a compose stack
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Read the project from normalised compose JSON (`docker compose config --format json`
    /// output) instead of compose files
    #[arg(long = "json", value_name = "FILE", conflicts_with_all = ["files", "project_name", "env_files", "profiles"])]
    pub json: Vec<PathBuf>,
    /// Stack name: apps are named `<stack>-<service>` (default: the compose project name)
    #[arg(long)]
    pub stack: Option<String>,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Allow a setting the security policy refuses by default (repeatable): privileged,
    /// cap-add, devices, host-namespaces, host-path, docker-socket, security-opt, sysctls
    #[arg(long = "allow", value_name = "RULE")]
    pub allow: Vec<String>,
    /// Project directory the JSON's absolute paths are relative to (default: the `--json`
    /// file's directory)
    #[arg(long)]
    pub project_dir: Option<String>,
    /// Current Dokku state as JSON (a `DokkuState` snapshot); default: a fresh host
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Revision of the pushed source (redeploys build services when it changes)
    #[arg(long, default_value = "")]
    pub source_rev: String,
}

/// A compose project already loaded by `compose::load`, as the planner reads it.
#[derive(Debug, Clone)]
pub struct LoadedProject {
    /// The typed project, service-level `x-*` keys (`x-dokku`) included.
    pub project: crate::compose::types::Project,
    /// The same project as stored with a release and handed to the executor
    /// ([`crate::compose::types::Project::to_stored_json`], `$` escaped as `$$`).
    pub json: serde_json::Value,
    /// The compose project name (the default stack name).
    pub name: String,
    /// The project directory (relative paths of the project resolve against it).
    pub project_dir: PathBuf,
    /// The loader's warnings, for the caller to print (the plugin prints them only with a
    /// change).
    pub warnings: Vec<String>,
    /// Paths into expanded lists -> as written ([`crate::compose::Loaded::written_paths`]).
    pub written_paths: std::collections::BTreeMap<String, String>,
}

impl LoadedProject {
    /// Turns the loader's result into the planner's input.
    pub fn new(
        loaded: &crate::compose::Loaded,
        project_dir: PathBuf,
    ) -> Result<Self, crate::compose::ComposeError> {
        let project = crate::compose::types::Project::from_loaded(loaded)?;
        Ok(Self {
            json: project.to_stored_json(true),
            project,
            name: loaded.name.clone(),
            project_dir,
            warnings: loaded.warnings.iter().map(ToString::to_string).collect(),
            written_paths: loaded.written_paths.clone(),
        })
    }
}

/// Runs `plan` on a loaded project, or on `--json` files when `project` is `None`: returns
/// the text to print on stdout and the warnings for stderr.
pub fn run(
    args: &PlanArgs,
    project: Option<LoadedProject>,
) -> anyhow::Result<(String, Vec<String>)> {
    let policy =
        Policy::from_names(args.allow.iter().map(String::as_str)).map_err(anyhow::Error::msg)?;
    let (project, default_dir, written) = match project {
        Some(p) => (p.project, p.project_dir, p.written_paths),
        None => {
            // Later files override earlier ones, as a deep merge of mappings.
            let mut json = serde_json::Value::Null;
            for file in &args.json {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("failed to read compose JSON `{}`", file.display()))?;
                let doc: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("`{}` is not JSON", file.display()))?;
                merge(&mut json, doc);
            }
            let first = args.json.first().map_or(Path::new("."), PathBuf::as_path);
            let dir = first
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let project = crate::compose::types::Project::from_json(&json)
                .map_err(|e| crate::plan::PlanError::from(crate::model::ModelError::from(e)))?;
            (
                project,
                dir.to_path_buf(),
                std::collections::BTreeMap::new(),
            )
        }
    };
    let stack_name = match (&args.stack, project.name.as_str()) {
        (Some(s), _) => s.clone(),
        (None, "") => anyhow::bail!("no stack name: pass `--stack NAME`"),
        (None, name) => name.to_string(),
    };
    let stack = StackName::parse(&stack_name).map_err(anyhow::Error::msg)?;
    let project_dir = match &args.project_dir {
        Some(d) => d.clone(),
        None => std::fs::canonicalize(&default_dir)
            .unwrap_or(default_dir)
            .display()
            .to_string(),
    };
    let state = match &args.state {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("failed to read state `{}`", p.display()))?;
            serde_json::from_str::<DokkuState>(&text)
                .with_context(|| format!("`{}` is not a Dokku state snapshot", p.display()))?
        }
        None => DokkuState::default(),
    };
    let opts = Options {
        convert: ConvertOptions { stack, project_dir },
        policy,
        settings: PlanSettings {
            source_rev: args.source_rev.clone(),
            ..PlanSettings::default()
        },
    };
    let plan = crate::workflow::plan_compose(&project, &state, &opts)?;
    let warnings = plan
        .warnings
        .iter()
        .map(|w| crate::report::as_written(w, &written))
        .collect();
    let out = if args.format == "json" {
        serde_json::to_string_pretty(&plan.to_json())? + "\n"
    } else {
        plan.to_string()
    };
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
