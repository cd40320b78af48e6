//! `dokku compose:<verb>`: one file per verb, each with its clap definition (`Args`) and its
//! `run`; [`VERBS`] is the one list that dispatches them and that the help is generated from
//! (`super::help`). Each verb talks to Dokku only through `dokku …` commands and returns the
//! exit code.

mod config;
mod diff;
mod down;
mod export;
mod import_apps;
mod list;
mod logs;
mod plan;
mod projects_apply;
mod projects_create;
mod projects_list;
mod projects_set_var;
mod projects_template;
mod projects_unset_var;
mod projects_vars;
mod ps;
mod releases;
mod report;
mod rollback;
mod rotate;
mod run;
mod set;
mod status;
mod sync;
mod table;
mod up;
mod vault_password;
pub(super) mod version;
mod webhook_secret;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::props::Props;
use super::stack::{self, app_config, compose_files, runner, source_dir, stack_dir};
use crate::cli::apply_cmd::{DataArgs, StackArgs};
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::apply::stack_dir as apply_stack_dir;
use crate::exec::releases::ReleaseStore;
use crate::exec::runner::Runner;
use crate::exec::secrets::HostKey;
use crate::model::{from_compose_json, ConvertOptions, Kind, Project, StackName};

/// One `compose:<name>` command.
pub(super) struct Verb {
    /// What follows `compose:` (`up`, `projects:create`).
    pub name: &'static str,
    /// Its clap definition, named `compose:<name>`: what the help is generated from.
    pub command: fn() -> clap::Command,
    /// Parses the argv (`compose:<name>` first) and runs it.
    pub run: fn(Vec<String>, &DokkuEnv) -> anyhow::Result<u8>,
}

/// A [`Verb`] of an `Args` type and its `run` function.
macro_rules! verb {
    ($name:literal, $args:ty, $run:expr) => {
        Verb {
            name: $name,
            command: || <$args as clap::CommandFactory>::command().name(concat!("compose:", $name)),
            run: |argv, env| $run(&<$args as clap::Parser>::try_parse_from(argv)?, env),
        }
    };
}

/// Every verb, in the order `dokku help --all` lists them.
pub(super) const VERBS: &[Verb] = &[
    verb!("config", config::Args, config::run),
    verb!("diff", diff::Args, diff::run),
    verb!("down", down::Args, down::run),
    verb!("export", export::Args, export::run),
    verb!("help", super::help::Args, super::help::run),
    verb!("import-apps", import_apps::Args, import_apps::run),
    verb!("list", list::Args, list::run),
    verb!("logs", logs::Args, logs::run),
    verb!("plan", plan::Args, plan::run),
    verb!("projects:apply", projects_apply::Args, projects_apply::run),
    verb!(
        "projects:create",
        projects_create::Args,
        projects_create::run
    ),
    verb!("projects:list", projects_list::Args, projects_list::run),
    verb!(
        "projects:set-var",
        projects_set_var::Args,
        projects_set_var::run
    ),
    verb!(
        "projects:template",
        projects_template::Args,
        projects_template::run
    ),
    verb!(
        "projects:unset-var",
        projects_unset_var::Args,
        projects_unset_var::run
    ),
    verb!("projects:vars", projects_vars::Args, projects_vars::run),
    verb!("ps", ps::Args, ps::run),
    verb!("releases", releases::Args, releases::run),
    verb!("report", report::Args, report::run),
    verb!("rollback", rollback::Args, rollback::run),
    verb!("rotate", rotate::Args, rotate::run),
    verb!("run", run::Args, run::run),
    verb!("set", set::Args, set::run),
    verb!("status", status::Args, status::run),
    verb!("sync", sync::Args, sync::run),
    verb!("up", up::Args, up::run),
    verb!("vault-password", vault_password::Args, vault_password::run),
    verb!("version", version::Args, version::run),
    verb!("webhook-secret", webhook_secret::Args, webhook_secret::run),
];

/// Runs `verb` with `args` (what follows `compose:<verb>`).
pub(super) fn run(verb: &str, args: &[String], env: &DokkuEnv) -> anyhow::Result<u8> {
    let Some(v) = VERBS.iter().find(|v| v.name == verb) else {
        anyhow::bail!("`compose:{verb}` is not a compose command; see `dokku compose:help`")
    };
    let argv = std::iter::once(format!("compose:{verb}"))
        .chain(args.iter().cloned())
        .collect();
    (v.run)(argv, env)
}

/// Dokku's exit code for a missing app (dokku-facts §d `verify_app_name`).
const NO_APP: u8 = 20;

pub(super) fn props(env: &DokkuEnv) -> Props {
    Props::new(&env.config_dir())
}

pub(super) fn stack_args(env: &DokkuEnv, app: &str) -> StackArgs {
    StackArgs {
        stack: app.to_owned(),
        data: DataArgs {
            data_dir: Some(env.data_dir()),
        },
    }
}

/// Runs `f` when the app exists; Dokku's message and exit code otherwise.
pub(super) fn with_app(app: &str, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(app)? {
        return Ok(code);
    }
    f().map(|()| 0)
}

/// Dokku's answer for an app that does not exist (` !     App x does not exist`, exit 20),
/// or `None` when it does.
pub(super) fn missing_app(app: &str) -> anyhow::Result<Option<u8>> {
    if app_exists(app)? {
        return Ok(None);
    }
    eprintln!(" !     App {app} does not exist");
    Ok(Some(NO_APP))
}

fn app_exists(app: &str) -> anyhow::Result<bool> {
    if !crate::model::is_valid_app_name(app) {
        anyhow::bail!("Invalid app name `{app}`");
    }
    Ok(runner()
        .run(&Cmd::dokku(["apps:exists", app]), None, None)
        .is_ok())
}

/// The compose project of the last push (or of `file`), ready for an apply.
/// The stack's project, the directory it was read from, the source revision and the stack
/// app's config (read once, for interpolation and secrets).
pub(super) type LoadedStack = (
    crate::cli::plan_cmd::LoadedProject,
    PathBuf,
    String,
    BTreeMap<String, String>,
);

pub(super) fn load_stack(
    env: &DokkuEnv,
    app: &str,
    file: Option<&Path>,
) -> anyhow::Result<LoadedStack> {
    let props = props(env);
    let source = source_dir(env, app);
    let config = app_config(&runner(), app)?;
    let rev = config.get("GIT_REV").cloned().unwrap_or_default();
    let (dir, files) = match file {
        Some(f) => (
            if source.is_dir() {
                source
            } else {
                f.parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            },
            vec![f.to_path_buf()],
        ),
        None => {
            if !source.is_dir() {
                anyhow::bail!("stack `{app}` has no pushed source yet: `git push` a repository with a compose file, or pass `--file -`");
            }
            let files = compose_files(&source, &props, app)?;
            (source, files)
        }
    };
    let loaded = stack::load(&dir, files, app, &props, config.clone())?;
    Ok((loaded, dir, rev, config))
}

pub(super) fn stdin_file(env: &DokkuEnv, app: &str) -> anyhow::Result<PathBuf> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the compose file from stdin")?;
    let dir = stack_dir(env, app).join("stdin");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("compose.yaml");
    std::fs::write(&path, text)?;
    Ok(path)
}

pub(super) fn store(env: &DokkuEnv, app: &str) -> anyhow::Result<Option<ReleaseStore>> {
    let dir = apply_stack_dir(&env.data_dir(), app);
    if !dir.releases().exists() {
        return Ok(None);
    }
    let key = HostKey::load_or_create(&dir.key())?;
    Ok(Some(ReleaseStore::open(&dir.releases(), key)?))
}

/// The project of the stack's latest release.
pub(super) fn released_project(
    env: &DokkuEnv,
    app: &str,
) -> anyhow::Result<Option<(Project, u64, String)>> {
    let Some(s) = store(env, app)? else {
        return Ok(None);
    };
    let Some(latest) = s.latest()? else {
        return Ok(None);
    };
    let compose = s.masked_compose(latest.id)?;
    let stack = StackName::parse(app).map_err(anyhow::Error::msg)?;
    let (project, _) = from_compose_json(
        &compose,
        &ConvertOptions {
            stack,
            project_dir: source_dir(env, app).display().to_string(),
        },
    )?;
    Ok(Some((project, latest.id, latest.time)))
}

/// Every stack with releases, by name.
pub(super) fn stacks(env: &DokkuEnv) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(env.data_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("releases").is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

/// The Dokku app of a compose service of the latest release.
pub(super) fn service_app(project: &Project, service: &str) -> anyhow::Result<String> {
    let svc = project
        .services
        .iter()
        .find(|(n, _)| n.as_str() == service)
        .map(|(_, s)| s)
        .with_context(|| {
            let names: Vec<&str> = project.services.keys().map(|n| n.as_str()).collect();
            format!(
                "stack has no service `{service}` (services: {})",
                names.join(", ")
            )
        })?;
    match &svc.kind {
        Kind::App(a) => Ok(a.app.to_string()),
        Kind::Datastore(d) => anyhow::bail!(
            "service `{service}` is the {} service `{}`: use `dokku {}:…` commands",
            d.plugin,
            d.name,
            d.plugin
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `install.sh` links `subcommands/<verb>` for each verb it lists: the same verbs as
    /// [`VERBS`], or a verb would be missing from Dokku (or a link would answer "not a compose
    /// command").
    #[test]
    fn install_links_every_verb_and_no_other() {
        let script = include_str!("../../../../install.sh");
        let line = script
            .lines()
            .find_map(|l| l.strip_prefix("VERBS=("))
            .and_then(|l| l.strip_suffix(')'));
        let installed: BTreeSet<&str> = line.unwrap_or_default().split_whitespace().collect();
        let defined: BTreeSet<&str> = VERBS.iter().map(|v| v.name).collect();
        assert_eq!(installed, defined);
        assert_eq!(defined.len(), VERBS.len(), "each verb once");
    }

    #[test]
    fn an_unknown_verb_is_refused_with_the_help_named() {
        let env = DokkuEnv::from_env();
        for verb in ["nope", "projects:nope"] {
            let err = run(verb, &[], &env).map(|_| ()).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("`compose:{verb}` is not a compose command; see `dokku compose:help`")
            );
        }
    }
}
