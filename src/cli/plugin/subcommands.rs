//! `dokku compose:<verb>`: each verb parses its own arguments (after `compose:<verb>`),
//! talks to Dokku only through `dokku …` commands, and returns the exit code.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;
use serde_json::{json, Value};

use super::props::{prop, Props, PROPS};
use super::stack::{self, app_config, compose_files, runner, source_dir, stack_dir};
use crate::cli::apply_cmd::{self, DataArgs, StackArgs};
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::apply::stack_dir as apply_stack_dir;
use crate::exec::releases::{ReleaseKind, ReleaseStore};
use crate::exec::runner::Runner;
use crate::exec::secrets::HostKey;
use crate::model::{from_compose_json, ConvertOptions, ExpectedState, Kind, Project, StackName};
use crate::report::{info1, info2, verbose};

/// Dokku's exit code for a missing app (dokku-facts §d `verify_app_name`).
const NO_APP: u8 = 20;

/// Runs `verb` with `args` (what follows `compose:<verb>`).
pub(super) fn run(verb: &str, args: &[String], env: &DokkuEnv) -> anyhow::Result<u8> {
    let argv = std::iter::once(format!("compose:{verb}")).chain(args.iter().cloned());
    match verb {
        "up" => up(&Up::try_parse_from(argv)?, env),
        "plan" => plan(&PlanArgs::try_parse_from(argv)?, env),
        "config" => config(&ConfigArgs::try_parse_from(argv)?, env),
        "ps" => ps(&AppFormat::try_parse_from(argv)?, env),
        "status" => status(&Format::try_parse_from(argv)?, env),
        "list" => list(&Format::try_parse_from(argv)?, env),
        "logs" => logs(&Logs::try_parse_from(argv)?, env),
        "run" => run_cmd(&RunArgs::try_parse_from(argv)?, env),
        "releases" => {
            let a = AppFormat::try_parse_from(argv)?;
            with_app(&a.app, || {
                apply_cmd::run_releases(&stack_args(env, &a.app), a.format == "json")
            })
        }
        "diff" => {
            let a = Diff::try_parse_from(argv)?;
            with_app(&a.app, || {
                apply_cmd::run_diff(&stack_args(env, &a.app), a.from, a.to)
            })
        }
        "rollback" => rollback(&Rollback::try_parse_from(argv)?, env),
        "down" => down(&Down::try_parse_from(argv)?, env),
        "report" => report(&Report::try_parse_from(argv)?, env),
        "set" => set(&Set::try_parse_from(argv)?, env),
        v if v.starts_with("projects:") => super::projects::run(&v["projects:".len()..], args, env),
        "rotate" => rotate(&Rotate::try_parse_from(argv)?, env),
        "export" => super::export_cmd::export_cmd(
            &super::export_cmd::ExportArgs::try_parse_from(argv)?,
            env,
        ),
        "import-apps" => super::export_cmd::import_apps(
            &super::export_cmd::ImportArgs::try_parse_from(argv)?,
            env,
        ),
        "vault-password" => vault_password(&VaultPasswordArgs::try_parse_from(argv)?, env),
        "sync" => super::sync_cmd::sync(args, env),
        "webhook-secret" => super::sync_cmd::webhook_secret(args, env),
        "help" => {
            print!("{}", super::plugin_help());
            Ok(0)
        }
        "version" => {
            println!("{}", super::version::line());
            Ok(0)
        }
        other => {
            anyhow::bail!("`compose:{other}` is not a compose command; see `dokku compose:help`")
        }
    }
}

#[derive(Debug, Parser)]
struct AppOnly {
    /// The stack app
    app: String,
}

#[derive(Debug, Parser)]
struct AppFormat {
    /// The stack app
    app: String,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Debug, Parser)]
struct PlanArgs {
    /// The stack app
    app: String,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Read the whole host, trusting nothing the last release recorded (what `compose:plan`
    /// always does: the flag says so; issue #19)
    #[arg(long)]
    refresh: bool,
}

#[derive(Debug, Parser)]
struct Format {
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Debug, Parser)]
struct Up {
    /// The stack app
    app: String,
    /// `-`: read the compose file from stdin instead of the last push
    #[arg(long)]
    file: Option<String>,
    /// Destroy the apps of services that left the compose file
    #[arg(long)]
    prune: bool,
    /// With --prune: also destroy this datastore service and its data
    #[arg(long = "destroy-datastore")]
    destroy_datastores: Vec<String>,
    /// Wait for a running apply of the stack instead of failing
    #[arg(long)]
    wait: bool,
    /// Create the stack from this project's template
    #[arg(long = "from-template", value_name = "PROJECT")]
    from_template: Option<String>,
    /// With --from-template: KEY=VALUE for the stack app's config, which the template reads as `${KEY}`
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The run-wide cache of host-wide reads of `compose:projects:apply` (issue #19)
    #[arg(long = "host-wide", hide = true, value_name = "RUN")]
    host_wide: Option<String>,
}

#[derive(Debug, Parser)]
struct Logs {
    /// The stack app
    app: String,
    /// One service (default: all)
    service: Option<String>,
    /// Lines per service
    #[arg(short = 'n', long = "num")]
    num: Option<u32>,
}

#[derive(Debug, Parser)]
#[command(trailing_var_arg = true)]
struct RunArgs {
    /// The stack app
    app: String,
    /// The compose service
    service: String,
    /// The command and its arguments
    #[arg(required = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Debug, Parser)]
struct Diff {
    /// The stack app
    app: String,
    /// Older release
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    from: Option<u64>,
    /// Newer release
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    to: Option<u64>,
}

#[derive(Debug, Parser)]
struct Rollback {
    /// The stack app
    app: String,
    /// The release to go back to (default: the one before the latest)
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    release: Option<u64>,
    /// Wait for a running apply of the stack instead of failing
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Parser)]
struct Down {
    /// The stack app
    app: String,
    /// Skip the confirmation
    #[arg(long)]
    force: bool,
    /// Also destroy the stack's datastore services and their data
    #[arg(long)]
    datastores: bool,
    /// Print the teardown plan against the host's current state and stop
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Parser)]
struct Report {
    /// The stack app (default: every stack)
    app: Option<String>,
    /// Output format
    #[arg(long, default_value = "stdout", value_parser = ["stdout", "json"])]
    format: String,
    /// One value only: `--compose-<key>`
    #[arg(allow_hyphen_values = true, hide = true)]
    flag: Vec<String>,
}

#[derive(Debug, Parser)]
struct Rotate {
    /// The stack app
    app: String,
    /// Generated values to create anew on the next deploy
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Debug, Parser)]
struct VaultPasswordArgs {
    /// The stack app
    app: String,
    /// Remove the stored password
    #[arg(long)]
    unset: bool,
}

#[derive(Debug, Parser)]
struct Set {
    /// The stack app, or --global
    #[arg(allow_hyphen_values = true)]
    scope: String,
    /// The property
    key: String,
    /// The value; none clears it
    value: Option<String>,
}

fn props(env: &DokkuEnv) -> Props {
    Props::new(&env.config_dir())
}

fn stack_args(env: &DokkuEnv, app: &str) -> StackArgs {
    StackArgs {
        stack: app.to_owned(),
        data: DataArgs {
            data_dir: Some(env.data_dir()),
        },
    }
}

/// Runs `f` when the app exists; Dokku's message and exit code otherwise.
fn with_app(app: &str, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<u8> {
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
type LoadedStack = (
    crate::cli::plan_cmd::LoadedProject,
    PathBuf,
    String,
    BTreeMap<String, String>,
);

fn load_stack(env: &DokkuEnv, app: &str, file: Option<&Path>) -> anyhow::Result<LoadedStack> {
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

fn stdin_file(env: &DokkuEnv, app: &str) -> anyhow::Result<PathBuf> {
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

fn up(a: &Up, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(project) = &a.from_template {
        if !crate::model::is_valid_app_name(&a.app) {
            anyhow::bail!("Invalid app name `{}`", a.app);
        }
        super::projects::from_template(env, &a.app, project, &a.set)?;
    } else if !a.set.is_empty() {
        anyhow::bail!(
            "`--set` goes with `--from-template`; set a stack's values with `dokku config:set`"
        );
    }
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let file = match a.file.as_deref() {
        Some("-") => Some(stdin_file(env, &a.app)?),
        Some(other) => anyhow::bail!("`--file` takes `-` (stdin); got `{other}`"),
        None => None,
    };
    if file.is_none() {
        // After `compose:rollback` the stack stands on an earlier release: `compose:up`
        // re-applies that release, not the push it rolled back from (issue #15 item 15).
        if let Some(to) = store(env, &a.app)?
            .map(|s| -> anyhow::Result<Option<u64>> {
                s.latest()?
                    .map_or(Ok(None), |l| Ok(s.rolled_back_to(l.id)?))
            })
            .transpose()?
            .flatten()
        {
            println!("{}", info1(&format!("Stack {} stands on a rollback to v{to}: re-applying v{to} (`git push` deploys the repository again)", a.app)));
            let mut run =
                stack::run_args(env, &props(env), &a.app, app_config(&runner(), &a.app)?)?;
            run.prune = a.prune;
            run.destroy_datastores.clone_from(&a.destroy_datastores);
            run.wait = a.wait;
            let r = apply_cmd::run_rollback(
                &stack_args(env, &a.app),
                &run,
                Some(to),
                source_dir(env, &a.app),
            )
            .map_err(|e| stack::server_hints(e, &a.app, &run.allow));
            // Read for itself: what it changed is unknown to the run's cache, which the
            // run's next stacks then read again.
            if let Some(h) = a
                .host_wide
                .as_deref()
                .and_then(|id| crate::exec::host_wide::HostWide::open(&env.data_dir(), id))
            {
                h.invalidate(None::<Vec<&crate::dokku::Cmd>>);
            }
            r?;
            return Ok(0);
        }
    }
    // The stack lock covers reading the captured source as well as the apply (issue #14): a
    // push replacing the source meanwhile is waited for (`--wait`) or refused. This is what
    // `compose:projects:apply` runs for each stack.
    let lock_dir = crate::exec::apply::stack_dir(&env.data_dir(), &a.app);
    let _lock = crate::exec::lock::StackLock::hold(
        &lock_dir.lock(),
        &a.app,
        &format!("compose:up since {}", crate::exec::releases::now_rfc3339()),
        a.wait,
    )?;
    let (loaded, dir, rev, config) = load_stack(env, &a.app, file.as_deref())?;
    let mut run = stack::run_args(env, &props(env), &a.app, config)?;
    run.load_warnings.clone_from(&loaded.warnings);
    run.written_paths.clone_from(&loaded.written_paths);
    run.prune = a.prune;
    run.destroy_datastores.clone_from(&a.destroy_datastores);
    run.wait = a.wait;
    run.host_wide = a
        .host_wide
        .as_deref()
        .and_then(|id| crate::exec::host_wide::HostWide::open(&env.data_dir(), id));
    let req = apply_cmd::request(
        &run,
        loaded.json,
        &a.app,
        dir,
        rev,
        ReleaseKind::Apply,
        "compose:up".into(),
    )?;
    apply_cmd::execute(&req, &run).map_err(|e| stack::server_hints(e, &a.app, &run.allow))?;
    Ok(0)
}

fn plan(a: &PlanArgs, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    // A dry run never trusts the stack's record (exec::apply: `trust` needs `!dry_run`), so
    // every plan is a refresh; `--refresh` is accepted so drift checks can say so.
    let _ = a.refresh;
    let (loaded, dir, rev, config) = load_stack(env, &a.app, None)?;
    let mut run = stack::run_args(env, &props(env), &a.app, config)?;
    run.dry_run = true;
    run.format.clone_from(&a.format);
    run.load_warnings.clone_from(&loaded.warnings);
    run.written_paths.clone_from(&loaded.written_paths);
    let req = apply_cmd::request(
        &run,
        loaded.json,
        &a.app,
        dir,
        rev,
        ReleaseKind::Apply,
        "compose:plan".into(),
    )?;
    apply_cmd::execute(&req, &run).map_err(|e| stack::server_hints(e, &a.app, &run.allow))?;
    Ok(0)
}

#[derive(Debug, Parser)]
struct ConfigArgs {
    /// The stack app
    app: String,
    /// Print secret values (environment values, vault-decrypted and generated ones) instead
    /// of `********`
    #[arg(long)]
    show_secrets: bool,
}

/// `compose:config <app> [--show-secrets]`: the normalised project of the captured push, with
/// secrets masked by the release store's classification unless asked.
fn config(a: &ConfigArgs, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let (loaded, dir, ..) = load_stack(env, &a.app, None)?;
    for w in &loaded.warnings {
        eprintln!(
            "{}",
            crate::report::fail(&super::repo_relative(w, Some(&dir)))
        );
    }
    if a.show_secrets {
        println!("{}", serde_json::to_string_pretty(&loaded.json)?);
        return Ok(0);
    }
    // Plain keys as the release store reads them; a project that does not convert masks every
    // environment value.
    let stack = StackName::parse(&a.app).map_err(anyhow::Error::msg)?;
    let plain = from_compose_json(
        &loaded.json,
        &ConvertOptions {
            stack,
            project_dir: source_dir(env, &a.app).display().to_string(),
        },
    )
    .map(|(p, _)| p.settings.plain)
    .unwrap_or_default();
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::exec::releases::mask_secrets(&loaded.json, &plain))?
    );
    Ok(0)
}

fn store(env: &DokkuEnv, app: &str) -> anyhow::Result<Option<ReleaseStore>> {
    let dir = apply_stack_dir(&env.data_dir(), app);
    if !dir.releases().exists() {
        return Ok(None);
    }
    let key = HostKey::load_or_create(&dir.key())?;
    Ok(Some(ReleaseStore::open(&dir.releases(), key)?))
}

/// The project of the stack's latest release.
fn released_project(env: &DokkuEnv, app: &str) -> anyhow::Result<Option<(Project, u64, String)>> {
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

/// One service's expected and actual state.
/// `ps:report` of apps, by app: `Some` holds every app of the host, read with one bulk
/// `ps:report --format json` (issue #19); `None` asks per app.
type PsReports = Option<std::collections::BTreeMap<String, Value>>;

/// Every app's `ps:report` in two calls (`apps:list`, then `ps:report` without an app: one
/// JSON object per line in `apps:list` order); `None` when the answers do not match.
fn bulk_ps_reports() -> PsReports {
    let r = runner();
    let cmd = Cmd::dokku(["apps:list", "--format", "json"]);
    let apps = crate::state::parse_app_order(&cmd, &r.run(&cmd, None, None).ok()?.stdout).ok()?;
    if apps.is_empty() {
        return Some(std::collections::BTreeMap::new());
    }
    let cmd = Cmd::dokku(["ps:report", "--format", "json"]);
    let out = r.run(&cmd, None, None).ok()?.stdout;
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .collect();
    if lines.len() != apps.len() {
        return None;
    }
    apps.into_iter()
        .zip(lines)
        .map(|(a, l)| Some((a, serde_json::from_str(l).ok()?)))
        .collect()
}

fn service_states(project: &Project, reports: &PsReports) -> Vec<Value> {
    let r = runner();
    let mut out = Vec::new();
    for (name, svc) in &project.services {
        let (target, expected, actual) = match &svc.kind {
            Kind::App(app) => {
                let expected = match svc.settings.state {
                    ExpectedState::OneShot => "completed",
                    ExpectedState::Stopped => "stopped",
                    // `replicas: 0` / `scale: 0` deploy the app scaled to zero (issue #15 item 11).
                    ExpectedState::Running if app.replicas == Some(0) => "stopped",
                    ExpectedState::Running => "running",
                };
                let report: Value = match reports {
                    Some(all) => all.get(app.app.as_str()).cloned().unwrap_or(Value::Null),
                    None => {
                        let report = r
                            .run(
                                &Cmd::dokku(["ps:report", app.app.as_str(), "--format", "json"]),
                                None,
                                None,
                            )
                            .ok();
                        report
                            .and_then(|o| serde_json::from_str(o.stdout.trim()).ok())
                            .unwrap_or(Value::Null)
                    }
                };
                let deployed = report["deployed"] == "true";
                let running = report["running"] == "true";
                let processes = report["processes"]
                    .as_str()
                    .and_then(|p| p.parse::<u32>().ok())
                    .unwrap_or(0);
                let actual = match (deployed, running, processes) {
                    (false, ..) if report.is_null() => "missing",
                    (false, ..) => "not deployed",
                    (true, _, 0) if svc.settings.state == ExpectedState::OneShot => "completed",
                    (true, _, 0) => "stopped",
                    (true, true, _) => "running",
                    (true, false, _) => "exited",
                };
                (app.app.to_string(), expected, actual)
            }
            Kind::Datastore(d) => {
                let status = r
                    .run(
                        &Cmd::dokku([
                            format!("{}:info", d.plugin),
                            d.name.to_string(),
                            "--status".into(),
                        ]),
                        None,
                        None,
                    )
                    .ok()
                    .map(|o| o.stdout.trim().to_owned());
                let actual = match status.as_deref() {
                    None => "missing",
                    Some("running") => "running",
                    Some(_) => "exited",
                };
                (format!("{} {}", d.plugin, d.name), "running", actual)
            }
        };
        out.push(json!({ "service": name.as_str(), "target": target, "expected": expected, "actual": actual, "ok": expected == actual }));
    }
    out
}

fn print_states(app: &str, states: &[Value]) {
    println!("{}", info2(&format!("{app} services")));
    let w = states
        .iter()
        .filter_map(|s| s["service"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(7)
        .max(7);
    let t = states
        .iter()
        .filter_map(|s| s["target"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{}",
        verbose(&format!(
            "{:<w$}  {:<t$}  {:<10}  {}",
            "service", "target", "expected", "actual"
        ))
    );
    for s in states {
        let mark = if s["ok"] == true { "" } else { "  (!)" };
        println!(
            "{}",
            verbose(&format!(
                "{:<w$}  {:<t$}  {:<10}  {}{mark}",
                s["service"].as_str().unwrap_or(""),
                s["target"].as_str().unwrap_or(""),
                s["expected"].as_str().unwrap_or(""),
                s["actual"].as_str().unwrap_or("")
            ))
        );
    }
}

fn ps(a: &AppFormat, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app);
    };
    let states = service_states(&project, &None);
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&states)?);
    } else {
        print_states(&a.app, &states);
    }
    Ok(u8::from(states.iter().any(|s| s["ok"] != true)))
}

/// Every stack with releases, by name.
fn stacks(env: &DokkuEnv) -> Vec<String> {
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

fn status(a: &Format, env: &DokkuEnv) -> anyhow::Result<u8> {
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
            print_states(&app, &states);
        }
        all.insert(app, Value::Array(states));
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&Value::Object(all))?);
    }
    Ok(u8::from(bad))
}

/// `compose:list`: from the stacks' summaries and apply logs only (no Dokku command, no
/// history to open), so it stays fast for hundreds of stacks; `compose:status` checks live.
fn list(a: &Format, env: &DokkuEnv) -> anyhow::Result<u8> {
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

/// The Dokku app of a compose service of the latest release.
fn service_app(project: &Project, service: &str) -> anyhow::Result<String> {
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

fn logs(a: &Logs, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app)
    };
    let services: Vec<String> = match &a.service {
        Some(s) => vec![s.clone()],
        None => project
            .services
            .iter()
            .filter(|(_, s)| matches!(s.kind, Kind::App(_)))
            .map(|(n, _)| n.to_string())
            .collect(),
    };
    let mut code = 0;
    for s in services {
        let app = service_app(&project, &s)?;
        let mut cmd = Cmd::dokku(["logs", app.as_str()]);
        if let Some(n) = a.num {
            cmd = cmd.flag("-n", n.to_string());
        }
        if a.service.is_none() {
            println!("{}", info2(&format!("{s} ({app})")));
        }
        let c = runner().stream(&cmd)?;
        if c != 0 && a.service.is_some() {
            code = u8::try_from(c).unwrap_or(1);
        }
    }
    Ok(code)
}

fn run_cmd(a: &RunArgs, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app)
    };
    let app = service_app(&project, &a.service)?;
    let cmd = a
        .command
        .iter()
        .fold(Cmd::dokku(["run", app.as_str()]), |c, w| c.arg(w.clone()));
    let code = runner().stream(&cmd)?;
    Ok(u8::try_from(code).unwrap_or(1))
}

fn rollback(a: &Rollback, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let mut run = stack::run_args(env, &props(env), &a.app, app_config(&runner(), &a.app)?)?;
    run.wait = a.wait;
    apply_cmd::run_rollback(
        &stack_args(env, &a.app),
        &run,
        a.release,
        source_dir(env, &a.app),
    )
    .map_err(|e| stack::server_hints(e, &a.app, &run.allow))?;
    Ok(0)
}

/// Dokku's destructive-action confirmation (plugins/common `dokku_confirm` style): type the
/// app's name, unless `--force`.
fn confirm(app: &str, what: &str) -> anyhow::Result<bool> {
    eprintln!(" !     WARNING: Potentially Destructive Action");
    eprintln!(" !     {what}");
    eprintln!(" !     To proceed, type \"{app}\"");
    eprint!("> ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() == app {
        return Ok(true);
    }
    eprintln!(" !     Confirmation did not match {app}. Aborted.");
    Ok(false)
}

fn down(a: &Down, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app)
    };
    let what = if a.datastores {
        "This command will destroy every service app and datastore of the stack"
    } else {
        "This command will destroy every service app of the stack (datastores and volumes stay)"
    };
    if !a.dry_run && !a.force && !env.force && !confirm(&a.app, what)? {
        return Ok(1);
    }
    let run = stack::run_args(env, &props(env), &a.app, BTreeMap::new())?;
    let req = crate::workflow::teardown::DownRequest {
        data_dir: env.data_dir(),
        stack: a.app.clone(),
        project,
        datastores: a.datastores,
        exec: crate::exec::executor::ExecOptions {
            concurrency: 1,
            step_timeout: Some(std::time::Duration::from_secs(run.step_timeout)),
            apply_timeout: None,
        },
        dry_run: a.dry_run,
    };
    apply_cmd::run_down(&req)?;
    if !a.dry_run {
        println!("{}", info2(&format!("Stack {} is down", a.app)));
    }
    Ok(0)
}

/// The report of one stack: properties (app, global, computed) and its last release.
fn report_of(env: &DokkuEnv, app: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let p = props(env);
    let mut r = BTreeMap::new();
    for prop in PROPS {
        r.insert(
            format!("compose-{}", prop.key),
            p.get(app, prop.key).unwrap_or_default(),
        );
        r.insert(
            format!("compose-global-{}", prop.key),
            p.get("--global", prop.key).unwrap_or_default(),
        );
        r.insert(
            format!("compose-computed-{}", prop.key),
            p.computed(app, prop.key),
        );
    }
    // Stacks applied before summaries existed are summarised from their latest release.
    let summary = match crate::exec::apply::summary(&apply_stack_dir(&env.data_dir(), app)) {
        Some(sm) => Some(sm),
        None => released_project(env, app)?
            .map(|(project, id, time)| crate::exec::apply::Summary::of(&project, id, &time)),
    };
    let (release, time, services, backups) = match summary {
        Some(sm) => (
            format!("v{}", sm.release),
            sm.released,
            sm.services.keys().cloned().collect::<Vec<_>>().join(" "),
            sm.backups.join("; "),
        ),
        None => (String::new(), String::new(), String::new(), String::new()),
    };
    r.insert("compose-backups".into(), backups);
    // The last applies that ran (succeeded, or failed and rolled back).
    let history = crate::exec::apply::apply_history(&apply_stack_dir(&env.data_dir(), app), 20);
    let last = history.last();
    r.insert(
        "compose-last-apply".into(),
        last.map(|a| {
            format!(
                "{} {} in {:.1}s",
                a.time,
                if a.ok { "succeeded" } else { "failed" },
                a.duration_ms as f64 / 1000.0
            )
        })
        .unwrap_or_default(),
    );
    r.insert(
        "compose-last-failure".into(),
        history
            .iter()
            .rev()
            .find(|a| !a.ok)
            .map(|a| {
                format!(
                    "{} at {}",
                    a.time,
                    a.failed_step.as_deref().unwrap_or("(abort)")
                )
            })
            .unwrap_or_default(),
    );
    let ok = history.iter().filter(|a| a.ok).count();
    r.insert(
        "compose-success-rate".into(),
        if history.is_empty() {
            String::new()
        } else {
            format!("{ok}/{} ({}%)", history.len(), ok * 100 / history.len())
        },
    );
    r.insert("compose-release".into(), release);
    r.insert("compose-released-at".into(), time);
    r.insert("compose-services".into(), services);
    r.insert("compose-plugin-version".into(), super::version::line());
    r.insert(
        "compose-source".into(),
        if source_dir(env, app).is_dir() {
            source_dir(env, app).display().to_string()
        } else {
            String::new()
        },
    );
    Ok(r)
}

fn report(a: &Report, env: &DokkuEnv) -> anyhow::Result<u8> {
    let apps = match &a.app {
        Some(app) if !app.starts_with("--") => {
            if let Some(code) = missing_app(app)? {
                return Ok(code);
            }
            vec![app.clone()]
        }
        _ => stacks(env),
    };
    let flag = a
        .flag
        .first()
        .cloned()
        .or_else(|| a.app.clone().filter(|x| x.starts_with("--")));
    if let Some(flag) = flag {
        let key = flag.trim_start_matches("--");
        for app in &apps {
            let r = report_of(env, app)?;
            let Some(v) = r.get(key) else {
                let valid: Vec<String> = r.keys().map(|k| format!("--{k}")).collect();
                anyhow::bail!("Invalid flag passed, valid flags: {}", valid.join(", "));
            };
            println!("{v}");
        }
        return Ok(0);
    }
    for app in &apps {
        let r = report_of(env, app)?;
        if a.format == "json" {
            println!("{}", serde_json::to_string(&r)?);
            continue;
        }
        println!("{}", info2(&format!("{app} compose information")));
        for (k, v) in &r {
            let label = k.strip_prefix("compose-").unwrap_or(k).replace('-', " ");
            let mut chars = label.chars();
            let label = chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default();
            println!("       {:<29}{v}", format!("{label}:"));
        }
    }
    Ok(0)
}

fn set(a: &Set, env: &DokkuEnv) -> anyhow::Result<u8> {
    if prop(&a.key).is_none() {
        let valid: Vec<&str> = PROPS.iter().map(|p| p.key).collect();
        anyhow::bail!("Invalid key `{}`, valid keys: {}", a.key, valid.join(", "));
    }
    if a.scope != "--global" {
        if let Some(code) = missing_app(&a.scope)? {
            return Ok(code);
        }
    }
    if let Some(v) = a.value.as_deref().filter(|v| !v.is_empty()) {
        match a.key.as_str() {
            "concurrency" | "timeout" | "step-timeout" | "hook-timeout" | "max-file-size"
            | "max-replicas" | "max-ports" | "max-services" => {
                let unit = match a.key.as_str() {
                    "concurrency" | "max-services" => "services",
                    "max-file-size" => "bytes",
                    "max-replicas" => "replicas",
                    "max-ports" => "ports",
                    _ => "seconds",
                };
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("`{}` must be a positive number of {unit}", a.key))?;
            }
            "allow" => {
                crate::policy::Policy::from_names(v.split_whitespace())
                    .map_err(anyhow::Error::msg)?;
            }
            "log-format" if v != "text" && v != "json" => {
                anyhow::bail!("`log-format` is `text` or `json`")
            }
            "webhook" if v != "true" && v != "false" => {
                anyhow::bail!("`webhook` is `true` or `false`")
            }
            "domain-pattern" => {
                let mut probe = v.to_owned();
                for ph in [
                    "{service}",
                    "{stack}",
                    "{project}",
                    "{environment}",
                    "{global}",
                ] {
                    probe = probe.replace(ph, "x");
                }
                if !v.contains("{service}")
                    || !probe.split('.').all(|l| {
                        !l.is_empty()
                            && l.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    })
                {
                    anyhow::bail!("`domain-pattern` needs {{service}} and makes host names of lowercase labels; placeholders: {{service}} {{stack}} {{project}} {{environment}} {{global}}");
                }
            }
            "project" => {
                super::projects::load(env, v)?.with_context(|| {
                    format!("project `{v}` does not exist (`dokku compose:projects:create {v}`)")
                })?;
            }
            "environment" => {
                let project = props(env).get(&a.scope, "project").context(
                    "set the stack's project first: `dokku compose:set <app> project <project>`",
                )?;
                let p = super::projects::load(env, &project)?
                    .with_context(|| format!("project `{project}` does not exist"))?;
                if !p.environments.iter().any(|e| e == v) {
                    anyhow::bail!(
                        "project `{project}` has no environment `{v}` (it has {})",
                        p.environments.join(", ")
                    );
                }
            }
            _ => {}
        }
        println!("{}", info1(&format!("Setting {} to {v}", a.key)));
        props(env).set(&a.scope, &a.key, Some(v))?;
    } else {
        println!("{}", info1(&format!("Unsetting {}", a.key)));
        props(env).set(&a.scope, &a.key, None)?;
    }
    Ok(0)
}

/// `compose:vault-password <app> [--unset]`: the stack's ansible-vault password, read from
/// stdin (never from the command line, never echoed) and stored readable by the dokku user only.
fn vault_password(a: &VaultPasswordArgs, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let p = props(env);
    if a.unset {
        p.set(&a.app, stack::VAULT_PASSWORD, None)?;
        println!("{}", info1("Removed the vault password"));
        return Ok(0);
    }
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read the vault password from stdin")?;
    let pw = crate::vault::VaultPassword::from_file_bytes(&input);
    if pw.is_empty() {
        anyhow::bail!(
            "no vault password on stdin: `echo -n \"$PASSWORD\" | dokku compose:vault-password {}`",
            a.app
        );
    }
    let text = String::from_utf8(pw.as_bytes().to_vec())
        .context("the vault password must be UTF-8 text")?;
    p.set_private(&a.app, stack::VAULT_PASSWORD, &text)?;
    println!("{}", info1("Vault password set"));
    Ok(0)
}

/// `compose:rotate <app> <NAME>…`: the only way a generated value changes.
fn rotate(a: &Rotate, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let dir = apply_stack_dir(&env.data_dir(), &a.app);
    std::fs::create_dir_all(dir.dir())?;
    let _lock =
        crate::exec::lock::StackLock::acquire(&dir.lock(), &a.app, "compose:rotate", false)?;
    let mut store = stack::Generated::open(env, &a.app)?;
    let gone = store.rotate(&a.names);
    store.save()?;
    if gone.is_empty() {
        anyhow::bail!(
            "no generated value named {} in stack `{}`",
            a.names.join(", "),
            a.app
        );
    }
    println!(
        "{}",
        info1(&format!(
            "Rotated {}; `dokku compose:up {}` deploys the new values",
            gone.join(", "),
            a.app
        ))
    );
    Ok(0)
}
