//! Projects (issue #7): a project groups stacks, has environments (dev, staging, prod…), holds
//! variables at the project and environment level (plus host-wide `--global` ones) that
//! compose files reference as `${{project.VAR}}`, `${{environment.VAR}}`, `${{global.VAR}}`
//! (`crate::vars`), and may hold a compose template new stacks are created from. A stack
//! joins with `compose:set <app> project <p>` and `compose:set <app> environment <e>`; one
//! without a project works as before.
//!
//! Storage: `$DOKKU_LIB_ROOT/data/compose/.projects/<project>/project.json` and
//! `template/compose.yaml`; global variables in `.projects/global.json`. Listing reads these and
//! the stacks' properties only: no Dokku command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::props::Props;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::runner::Runner;
use crate::vars::Scopes;

/// A project's stored settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Project {
    /// Environments, in the order given.
    pub environments: Vec<String>,
    /// Project variables.
    pub vars: BTreeMap<String, String>,
    /// Environment variables: environment -> variables.
    pub env_vars: BTreeMap<String, BTreeMap<String, String>>,
}

pub(super) fn root(env: &DokkuEnv) -> PathBuf {
    env.data_dir().join(".projects")
}

pub(super) fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 48
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.starts_with('-')
}

pub(super) fn read_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    match std::fs::read(path) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("`{}` is not valid", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    // Variables may be secrets: readable by the dokku user only.
    crate::platform::write_atomic(path, &serde_json::to_vec_pretty(value)?, 0o600)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// A project, if it exists.
pub(super) fn load(env: &DokkuEnv, name: &str) -> anyhow::Result<Option<Project>> {
    let path = root(env).join(name).join("project.json");
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

pub(super) fn save(env: &DokkuEnv, name: &str, p: &Project) -> anyhow::Result<()> {
    write_json(&root(env).join(name).join("project.json"), p)
}

pub(super) fn global_vars(env: &DokkuEnv) -> anyhow::Result<BTreeMap<String, String>> {
    read_json(&root(env).join("global.json"))
}

/// The variables a stack sees, and whether it belongs to a project.
pub(super) fn scopes_for(
    env: &DokkuEnv,
    props: &Props,
    app: &str,
) -> anyhow::Result<(Scopes, bool)> {
    let mut scopes = Scopes {
        global: global_vars(env)?,
        ..Scopes::default()
    };
    let Some(project) = props.get(app, "project") else {
        return Ok((scopes, false));
    };
    let p = load(env, &project)?.with_context(|| {
        format!("stack `{app}` belongs to project `{project}`, which does not exist")
    })?;
    scopes.project = p.vars.clone();
    if let Some(e) = props.get(app, "environment") {
        scopes.environment = p.env_vars.get(&e).cloned().unwrap_or_default();
    }
    Ok((scopes, true))
}

/// Every stack (app with properties) and its project and environment.
pub(super) fn members(
    env: &DokkuEnv,
    props: &Props,
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut out: Vec<_> = std::fs::read_dir(env.config_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|a| a != "--global")
        .map(|a| {
            let (p, e) = (props.get(&a, "project"), props.get(&a, "environment"));
            (a, p, e)
        })
        .collect();
    out.sort();
    out
}

/// The stacks of a project (and environment) whose compose files reference a variable.
pub(super) fn affected(
    env: &DokkuEnv,
    props: &Props,
    project: Option<&str>,
    environment: Option<&str>,
    key: &str,
    scope: &str,
) -> Vec<String> {
    members(env, props)
        .into_iter()
        .filter(|(_, p, e)| {
            project.is_none_or(|want| p.as_deref() == Some(want))
                && environment.is_none_or(|want| e.as_deref() == Some(want))
        })
        .filter(|(app, ..)| {
            let source = super::stack::source_dir(env, app);
            std::fs::read_dir(&source)
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| {
                    let name = f.file_name().to_string_lossy().into_owned();
                    (name.ends_with(".yaml") || name.ends_with(".yml"))
                        && std::fs::read_to_string(f.path()).is_ok_and(|t| {
                            crate::vars::references(&t)
                                .iter()
                                .any(|(s, n)| s == scope && n == key)
                        })
                })
        })
        .map(|(a, ..)| a)
        .collect()
}

pub(super) fn write_json_text(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    crate::platform::write_atomic(path, text.as_bytes(), 0o644)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// `compose:up <stack> --from-template <project> [--set K=V]…`: makes the stack an app of the
/// project (created when missing), its `--set` values the stack app's config (which compose
/// interpolation reads as `${K}`), and the template its source.
pub(super) fn from_template(
    env: &DokkuEnv,
    app: &str,
    project: &str,
    sets: &[String],
) -> anyhow::Result<()> {
    let template = root(env).join(project).join("template/compose.yaml");
    let p = load(env, project)?.with_context(|| format!("project `{project}` does not exist"))?;
    let text = std::fs::read_to_string(&template).with_context(|| format!("project `{project}` has no template (`dokku compose:projects:template {project} < compose.yaml`)"))?;
    let runner = super::stack::runner();
    if runner
        .run(&Cmd::dokku(["apps:exists", app]), None, None)
        .is_err()
    {
        runner.run(&Cmd::dokku(["apps:create", app]), None, None)?;
    }
    let props = Props::new(&env.config_dir());
    props.set(app, "project", Some(project))?;
    if props.get(app, "environment").is_none() {
        if let Some(first) = p.environments.first() {
            props.set(app, "environment", Some(first))?;
        }
    }
    if !sets.is_empty() {
        // On stdin (`config:import`), never in an argv the host's users can read.
        let mut values = std::collections::BTreeMap::new();
        for s in sets {
            let (k, v) = s
                .split_once('=')
                .with_context(|| format!("`--set {s}` is not KEY=VALUE"))?;
            values.insert(k.to_owned(), v.to_owned());
        }
        let stdin = serde_json::to_vec(&values)?;
        let keys = values.keys().cloned().collect();
        runner.run(&Cmd::config_import(app, values, keys), Some(&stdin), None)?;
    }
    let source = super::stack::source_dir(env, app);
    std::fs::create_dir_all(&source)?;
    write_json_text(&source.join("compose.yaml"), &text)
}
