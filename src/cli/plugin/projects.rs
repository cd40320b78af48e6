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

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;
use serde::{Deserialize, Serialize};

use super::props::Props;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::runner::Runner;
use crate::report::{info1, info2, verbose};
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

fn root(env: &DokkuEnv) -> PathBuf {
    env.data_dir().join(".projects")
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 48
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.starts_with('-')
}

fn read_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    match std::fs::read(path) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("`{}` is not valid", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
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

fn save(env: &DokkuEnv, name: &str, p: &Project) -> anyhow::Result<()> {
    write_json(&root(env).join(name).join("project.json"), p)
}

fn global_vars(env: &DokkuEnv) -> anyhow::Result<BTreeMap<String, String>> {
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
fn members(env: &DokkuEnv, props: &Props) -> Vec<(String, Option<String>, Option<String>)> {
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
fn affected(
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

#[derive(Debug, Parser)]
struct Create {
    /// The project
    project: String,
    /// Environments, comma-separated (default: production)
    #[arg(long, value_delimiter = ',', default_value = "production")]
    environments: Vec<String>,
}

#[derive(Debug, Parser)]
struct SetVar {
    /// The project (or --global)
    #[arg(allow_hyphen_values = true)]
    project: String,
    /// The environment (default: the project level)
    #[arg(long)]
    environment: Option<String>,
    /// KEY=VALUE pairs (set-var) or KEYs (unset-var)
    #[arg(required = true)]
    pairs: Vec<String>,
}

#[derive(Debug, Parser)]
struct Vars {
    /// The project (or --global)
    #[arg(allow_hyphen_values = true)]
    project: String,
    /// The environment
    #[arg(long)]
    environment: Option<String>,
    /// Show values (they may be secrets)
    #[arg(long)]
    show: bool,
}

#[derive(Debug, Parser)]
struct ApplyAll {
    /// The project
    project: String,
    /// Only stacks of this environment
    #[arg(long)]
    environment: Option<String>,
    /// Stacks applied at once
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
}

#[derive(Debug, Parser)]
struct ProjectOnly {
    /// The project
    project: String,
}

#[derive(Debug, Parser)]
struct ListArgs {
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// Runs `compose:projects:<verb>`.
pub(super) fn run(verb: &str, args: &[String], env: &DokkuEnv) -> anyhow::Result<u8> {
    let argv = std::iter::once(format!("compose:projects:{verb}")).chain(args.iter().cloned());
    let props = Props::new(&env.config_dir());
    match verb {
        "create" => {
            let a = Create::try_parse_from(argv)?;
            if !valid_name(&a.project) {
                anyhow::bail!(
                    "`{}` is not a valid project name (lowercase letters, digits and `-`)",
                    a.project
                );
            }
            if let Some(bad) = a.environments.iter().find(|e| !valid_name(e)) {
                anyhow::bail!("`{bad}` is not a valid environment name");
            }
            if load(env, &a.project)?.is_some() {
                anyhow::bail!("project `{}` already exists", a.project);
            }
            save(
                env,
                &a.project,
                &Project {
                    environments: a.environments.clone(),
                    ..Project::default()
                },
            )?;
            println!(
                "{}",
                info1(&format!(
                    "Project {} created with environments {}",
                    a.project,
                    a.environments.join(", ")
                ))
            );
            Ok(0)
        }
        "list" => {
            let a = ListArgs::try_parse_from(argv)?;
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
        "set-var" | "unset-var" => {
            let a = SetVar::try_parse_from(argv)?;
            let set = verb == "set-var";
            let mut changed: Vec<String> = Vec::new();
            let apply_to = |map: &mut BTreeMap<String, String>,
                            changed: &mut Vec<String>|
             -> anyhow::Result<()> {
                for pair in &a.pairs {
                    if set {
                        let (k, v) = pair
                            .split_once('=')
                            .with_context(|| format!("`{pair}` is not KEY=VALUE"))?;
                        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
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
        "vars" => {
            let a = Vars::try_parse_from(argv)?;
            let map = if a.project == "--global" {
                global_vars(env)?
            } else {
                let p = load(env, &a.project)?
                    .with_context(|| format!("project `{}` does not exist", a.project))?;
                match &a.environment {
                    Some(e) => p.env_vars.get(e).cloned().unwrap_or_default(),
                    None => p.vars,
                }
            };
            for (k, v) in map {
                println!(
                    "{k}={}",
                    if a.show {
                        v
                    } else {
                        crate::dokku::cmd::MASK.to_owned()
                    }
                );
            }
            Ok(0)
        }
        "template" => {
            let a = ProjectOnly::try_parse_from(argv)?;
            load(env, &a.project)?
                .with_context(|| format!("project `{}` does not exist", a.project))?;
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the template from stdin")?;
            if text.trim().is_empty() {
                anyhow::bail!(
                    "no template on stdin: `dokku compose:projects:template {} < compose.yaml`",
                    a.project
                );
            }
            let path = root(env).join(&a.project).join("template/compose.yaml");
            write_json_text(&path, &text)?;
            println!(
                "{}",
                info1(&format!("Template of project {} stored", a.project))
            );
            Ok(0)
        }
        "apply" => {
            let a = ApplyAll::try_parse_from(argv)?;
            load(env, &a.project)?
                .with_context(|| format!("project `{}` does not exist", a.project))?;
            let stacks: Vec<String> = members(env, &props)
                .into_iter()
                .filter(|(_, p, e)| {
                    p.as_deref() == Some(a.project.as_str())
                        && a.environment
                            .as_deref()
                            .is_none_or(|want| e.as_deref() == Some(want))
                })
                .map(|(s, ..)| s)
                .collect();
            println!(
                "{}",
                info2(&format!(
                    "Applying {} stack(s) of project {}",
                    stacks.len(),
                    a.project
                ))
            );
            let runner = super::stack::runner();
            // The host-wide reads (`apps:list`, the networks, the datastores' lists…) are
            // asked once for the run, not once per stack (issue #19): `apps:list` now, the
            // others by the first stack that needs them; each stack drops what it changed.
            let host_wide = crate::exec::host_wide::HostWide::create(&env.data_dir())
                .context("cannot create the run's cache of host-wide reads")?;
            if !stacks.is_empty() {
                let q = crate::workflow::query(&runner);
                if let Err(e) = host_wide.query(&Cmd::dokku(["apps:list", "--format", "json"]), &q)
                {
                    host_wide.remove();
                    return Err(e.into());
                }
            }
            let run_id = host_wide.id();
            let next = std::sync::atomic::AtomicUsize::new(0);
            let results = std::sync::Mutex::new(Vec::new());
            std::thread::scope(|s| {
                for _ in 0..a.concurrency.max(1).min(stacks.len().max(1)) {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(stack) = stacks.get(i) else { break };
                        // Each stack's apply is its own transaction (and takes its own lock).
                        let r = runner.run(
                            &Cmd::dokku([
                                "compose:up",
                                stack.as_str(),
                                "--wait",
                                "--host-wide",
                                run_id.as_str(),
                            ]),
                            None,
                            None,
                        );
                        results
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((stack.clone(), r));
                    });
                }
            });
            host_wide.remove();
            let mut results = results
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            results.sort_by(|a, b| a.0.cmp(&b.0));
            let mut failed = 0;
            for (stack, r) in &results {
                match r {
                    Ok(out) => println!(
                        "{}",
                        verbose(&format!(
                            "{stack}: {}",
                            if out.stdout.contains("up to date") {
                                "up to date"
                            } else {
                                "applied"
                            }
                        ))
                    ),
                    Err(e) => {
                        failed += 1;
                        eprintln!(" !     {stack}: {e}");
                    }
                }
            }
            Ok(u8::from(failed > 0))
        }
        other => anyhow::bail!(
            "`compose:projects:{other}` is not a compose command; see `dokku compose:help`"
        ),
    }
}

fn write_json_text(path: &Path, text: &str) -> anyhow::Result<()> {
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
