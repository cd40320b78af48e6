//! The current state of the Dokku host, read before planning (style R8): a plain snapshot,
//! the read-only queries that fill it, and pure parsers of their outputs. Nothing here runs a
//! process; [`read`] takes the function that does.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dokku::Cmd;
use crate::model::Project;

mod k3s;

/// What the host looks like, as far as the stack is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DokkuState {
    /// Apps by name.
    pub apps: BTreeMap<String, AppState>,
    /// Datastore services: plugin -> service -> linked apps.
    pub datastores: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Docker networks.
    pub networks: BTreeSet<String>,
    /// Storage entries.
    pub storage: BTreeSet<String>,
    /// The host's global Let's Encrypt e-mail, when the project needs certificates and the host
    /// was read (`None` in a snapshot that does not say).
    #[serde(default)]
    pub letsencrypt_global_email: Option<String>,
    /// Domains served on the host -> the app serving them (every app's `domains:report`),
    /// read only when the plan sets domains ([`read_vhosts`]); empty otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vhosts: BTreeMap<String, String>,
    /// What the existing datastore services run and the credentials they hold (`<plugin>:info
    /// --version` and `--dsn`), by [`datastore_key`]; absent when the host was not read.
    #[serde(default)]
    pub datastore_info: BTreeMap<String, DatastoreInfo>,
    /// Every app on the host (`apps:list`), the stack's or not; empty when not read.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub listed: BTreeSet<String>,
    /// The host's global scheduler (`scheduler:report --global`: `global-selected`, empty
    /// for Dokku's default `docker-local`); `None` when the host was not read (issue 21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_global: Option<String>,
    /// The host's global registry server (`registry:report --global`: `global-server`),
    /// read when the stack uses k3s; `None` when not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_global: Option<String>,
}

/// One existing datastore service, as its plugin reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatastoreInfo {
    /// The image it runs (`postgres:16`).
    pub version: String,
    /// The URL a link gives apps, with the password the datastore has.
    pub dsn: String,
}

/// The key of [`DokkuState::datastore_info`]: `<plugin>:<service>`.
pub fn datastore_key(plugin: &str, service: &str) -> String {
    format!("{plugin}:{service}")
}

/// One app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    /// Config vars.
    pub config: BTreeMap<String, String>,
    /// Whether it has been deployed.
    pub deployed: bool,
    /// Port maps (`http:80:5000`), sorted.
    pub ports: Vec<String>,
    /// Proxy enabled.
    pub proxy_enabled: bool,
    /// Domains.
    pub domains: Vec<String>,
    /// Docker options by phase.
    pub docker_options: BTreeMap<String, Vec<String>>,
    /// Mounts, canonical (see [`mount_key`]).
    pub mounts: BTreeSet<String>,
    /// Properties: `<plugin>:<key>` -> value (`ps:restart-policy`, `network:initial-network` …).
    pub properties: BTreeMap<String, String>,
    /// Scale by process type.
    pub scale: BTreeMap<String, u32>,
    /// `resource:limit`/`resource:reserve` values: `<which>:<resource>` -> value.
    pub resources: BTreeMap<String, String>,
    /// Let's Encrypt active.
    pub letsencrypt: bool,
    /// Whether its containers run (`ps:report` `running` is not `false`); `ps:stop` by hand
    /// makes it false (issue 15 item 17).
    #[serde(default = "running_default")]
    pub running: bool,
}

fn running_default() -> bool {
    true
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            config: BTreeMap::new(),
            deployed: false,
            ports: Vec::new(),
            proxy_enabled: true,
            domains: Vec::new(),
            docker_options: BTreeMap::new(),
            mounts: BTreeSet::new(),
            properties: BTreeMap::new(),
            scale: BTreeMap::new(),
            resources: BTreeMap::new(),
            letsencrypt: false,
            running: true,
        }
    }
}

/// A mount as one comparable string: `entry:<name>:<target>[:ro]` or `<host>:<target>[:ro]`.
pub(crate) fn mount_key(entry: Option<&str>, host: &str, target: &str, read_only: bool) -> String {
    let ro = if read_only { ":ro" } else { "" };
    match entry {
        Some(e) if !e.is_empty() => format!("entry:{e}:{target}{ro}"),
        _ => format!("{host}:{target}{ro}"),
    }
}

/// Reading the state failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// A query's output could not be parsed.
    #[error("cannot parse the output of `{command}`: {message}")]
    Parse {
        /// The query.
        command: String,
        /// What is wrong.
        message: String,
    },
    /// The runner failed (not a non-zero exit: that reads as no answer).
    #[error("`{command}` failed: {error}")]
    Run {
        /// The query.
        command: String,
        /// What happened.
        error: crate::exec::RunError,
    },
    /// A query the plan cannot do without failed.
    #[error("`{command}` failed: {reason}")]
    NoAnswer {
        /// The query.
        command: String,
        /// Why its answer is needed.
        reason: &'static str,
    },
    /// The run's cache of host-wide reads (`compose:projects:apply`) failed.
    #[error("`{command}` failed: the run's cache of host-wide reads: {error}")]
    Cache {
        /// The query.
        command: String,
        /// The OS error.
        error: std::sync::Arc<std::io::Error>,
    },
}

fn parse_err(cmd: &Cmd, message: impl Into<String>) -> StateError {
    StateError::Parse {
        command: cmd.masked_argv().join(" "),
        message: message.into(),
    }
}

fn json(cmd: &Cmd, out: &str) -> Result<Value, StateError> {
    serde_json::from_str(out.trim()).map_err(|e| parse_err(cmd, e.to_string()))
}

/// Parses a list of names given as a JSON array of strings or of objects: Dokku's
/// `network:list --format json` prints `DockerNetwork` objects named by `Name`
/// (plugins/network/subcommands.go `CommandList`), `storage:list-entries --format json`
/// prints entries named by `name`.
pub(crate) fn parse_name_list(cmd: &Cmd, out: &str) -> Result<BTreeSet<String>, StateError> {
    match json(cmd, out)? {
        Value::Array(a) => Ok(a
            .iter()
            .filter_map(|v| {
                v.as_str().or_else(|| {
                    v.get("Name")
                        .or_else(|| v.get("name"))
                        .and_then(Value::as_str)
                })
            })
            .map(str::to_owned)
            .collect()),
        _ => Err(parse_err(cmd, "expected a JSON array")),
    }
}

/// Parses line output such as `<plugin>:list` or `<plugin>:links`: one name per line, with
/// `=====>` headers and ` !     ` warnings skipped.
pub(crate) fn parse_lines(out: &str) -> BTreeSet<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("=====>") && !l.starts_with('!'))
        .map(str::to_owned)
        .collect()
}

/// Parses a `:report --format json` object (a flat object of strings).
pub(crate) fn parse_report(cmd: &Cmd, out: &str) -> Result<BTreeMap<String, String>, StateError> {
    match json(cmd, out)? {
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect()),
        _ => Err(parse_err(cmd, "expected a JSON object")),
    }
}

/// Parses `config:export --format json <app>`.
pub(crate) fn parse_config(cmd: &Cmd, out: &str) -> Result<BTreeMap<String, String>, StateError> {
    parse_report(cmd, out)
}

/// Parses `storage:list <app> --format json`. Dokku ≥ 0.38 stores a `host:container` mount
/// as an attachment of a synthesized entry `legacy-<sha1[:10]>` (plugins/storage
/// `mountLegacyColon`, `LegacyMountToEntry`; `storage:create` refuses that prefix), so such a
/// row is a host-path mount, keyed on its host path like the plan's.
pub(crate) fn parse_mounts(cmd: &Cmd, out: &str) -> Result<BTreeSet<String>, StateError> {
    let Value::Array(a) = json(cmd, out)? else {
        return Err(parse_err(cmd, "expected a JSON array"));
    };
    Ok(a.iter()
        .map(|m| {
            let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
            let ro = m.get("readonly").and_then(Value::as_bool).unwrap_or(false)
                || m.get("volume_options")
                    .and_then(Value::as_str)
                    .is_some_and(|o| o.split(',').any(|p| p == "ro"));
            let entry = Some(s("entry_name")).filter(|e| !e.starts_with(LEGACY_ENTRY_PREFIX));
            mount_key(entry, s("host_path"), s("container_path"), ro)
        })
        .collect())
}

/// The prefix of the entries Dokku synthesizes for legacy `host:container` mounts.
const LEGACY_ENTRY_PREFIX: &str = "legacy-";

/// Parses `ps:scale --format json <app>`.
pub(crate) fn parse_scale(cmd: &Cmd, out: &str) -> Result<BTreeMap<String, u32>, StateError> {
    let Value::Array(a) = json(cmd, out)? else {
        return Err(parse_err(cmd, "expected a JSON array"));
    };
    Ok(a.iter()
        .filter_map(|f| {
            let p = f.get("process_type")?.as_str()?;
            let q = u32::try_from(f.get("quantity")?.as_u64()?).ok()?;
            Some((p.to_owned(), q))
        })
        .collect())
}

/// Splits a docker-options report value (options joined by spaces) back into options.
pub(crate) fn split_docker_options(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in s.split_whitespace() {
        match out.last_mut() {
            // A new option starts at every flag word, as Dokku groups them (`-p` included).
            Some(last) if !crate::model::docker_opt::is_flag_word(word) => {
                last.push(' ');
                last.push_str(word);
            }
            _ => out.push(word.to_owned()),
        }
    }
    out
}

/// Splits a `resource:report` JSON key into (`limit`|`reserve`, resource). The resource plugin
/// stores app-wide values as properties `_default_.<limit|reserve>.<resource>`
/// (dokku `plugins/resource/functions.go` `propertyKey`), which the report shows under that
/// name; per-process values (`web.limit.cpu`) are not ours. `limit-cpu` is accepted as well.
pub(crate) fn resource_key(key: &str) -> Option<(&str, &str)> {
    if let Some(rest) = key.strip_prefix("_default_.") {
        let (which, res) = rest.split_once('.')?;
        return matches!(which, "limit" | "reserve").then_some((which, res));
    }
    key.split_once('-')
        .filter(|(w, _)| matches!(*w, "limit" | "reserve"))
}

/// Whether a `dokku` argv (without the program) is one of the read-only queries the state
/// reader runs (`*:report`, `*:list`, `*:links`, `*:list-entries`, `config:export`,
/// `letsencrypt:active`, `storage:list`, `ps:scale --format json`): what tests and benchmarks
/// count apart from the commands that change a host.
pub fn is_query(argv: &[&str]) -> bool {
    let cmd = argv.first().copied().unwrap_or("");
    cmd.ends_with(":report")
        || cmd.ends_with(":list")
        || cmd.ends_with(":links")
        || cmd.ends_with(":list-entries")
        || cmd.ends_with(":info")
        || cmd == "config:export"
        || cmd == "letsencrypt:active"
        || cmd == "storage:list"
        || (cmd == "ps:scale" && argv.contains(&"--format"))
}

/// Parses `domains:report` without an app (every app, text form): `=====> <app> domains
/// information` headers, each followed by rows such as `Domains app vhosts: a.example b.example`.
/// Gives domain -> app.
pub(crate) fn parse_all_vhosts(out: &str) -> BTreeMap<String, String> {
    let mut vhosts = BTreeMap::new();
    let mut app: Option<&str> = None;
    for line in out.lines() {
        let line = line.trim();
        if let Some(head) = line.strip_prefix("=====>") {
            app = head
                .trim()
                .strip_suffix("domains information")
                .map(str::trim);
        } else if let (Some(a), Some(list)) = (app, line.strip_prefix("Domains app vhosts:")) {
            for d in list.split_whitespace() {
                vhosts.entry(d.to_owned()).or_insert_with(|| a.to_owned());
            }
        }
    }
    vhosts
}

/// Reads which app serves each domain of the host: one `domains:report` for every app.
pub(crate) fn read_vhosts(
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<BTreeMap<String, String>, StateError> {
    let cmd = Cmd::dokku(["domains:report"]);
    match run(&cmd)? {
        Some(out) => Ok(parse_all_vhosts(&out)),
        None => Err(StateError::NoAnswer {
            command: cmd.masked_argv().join(" "),
            reason: "the query failed; the domains other apps serve cannot be checked",
        }),
    }
}

/// The outcome of one query: stdout, or `None` when the command exited non-zero.
pub(crate) type QueryOutput = Option<String>;

/// Reads the state of everything `project` touches through read-only Dokku commands, all of
/// it from the host (see [`read_stack`]).
/// `run` executes one command and returns its stdout (or `None` on a non-zero exit).
#[cfg(test)]
pub(crate) fn read(
    project: &Project,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<DokkuState, StateError> {
    read_stack(project, run, None)
}

/// [`read`] from a host whose answer to each command line is `answer(line)`; the state and
/// the command lines asked, in order.
#[cfg(test)]
pub(crate) fn read_answering(
    project: &Project,
    answer: impl Fn(&str) -> QueryOutput,
) -> (DokkuState, Vec<String>) {
    let mut asked = Vec::new();
    let state = read(project, &mut |cmd: &Cmd| {
        let line = cmd.argv().join(" ");
        asked.push(line.clone());
        Ok(answer(&line))
    })
    .unwrap();
    (state, asked)
}

/// What a reader may take as known instead of asking the host (docs/performance.md): the
/// state the stack's last successful apply left (what was read then, with the plan's effects
/// applied), and the apps Dokku's triggers say changed since, which are read again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known<'a> {
    /// The recorded state.
    pub state: &'a DokkuState,
    /// Apps changed on the host since it was recorded.
    pub changed: &'a BTreeSet<String>,
}

/// The `:report`s an app's state is read from; each accepts no app and then reports every
/// app, one JSON object per line, in `apps:list` order (Dokku v0.38 `ReportSingleApp` over
/// `DokkuApps`; the bash plugins loop over `dokku_apps`).
pub(crate) const REPORTS: [&str; 12] = [
    "ps",
    "ports",
    "proxy",
    "domains",
    "docker-options",
    "network",
    "builder",
    "builder-dockerfile",
    "logs",
    "app-json",
    "resource",
    "letsencrypt",
];

/// Reads the state of everything `project` touches. `apps:list` is always asked (an app
/// destroyed or created by hand is never taken on trust). With `known`, the rest comes from
/// it, except the project's apps it does not hold or that changed, which are read; without
/// it, the host-wide lists, the datastores and every existing app of the project are read.
/// Apps are read through one bulk `:report` per plugin when more than one app is read (one
/// call per plugin whatever the number of apps), else per app; `config:export`,
/// `storage:list` and `ps:scale` have no bulk form and are asked per app.
pub(crate) fn read_stack(
    project: &Project,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
    known: Option<Known<'_>>,
) -> Result<DokkuState, StateError> {
    let cmd = Cmd::dokku(["apps:list", "--format", "json"]);
    let listed = match run(&cmd)? {
        Some(out) => parse_app_order(&cmd, &out)?,
        None => return Err(must_answer(&cmd)),
    };
    let existing: BTreeSet<String> = listed.iter().cloned().collect();
    let ours: Vec<String> = project
        .services
        .values()
        .filter_map(|s| s.app())
        .map(|a| a.app.to_string())
        .filter(|a| existing.contains(a))
        .collect();
    let k3s_globals = k3s::read_globals(project, run)?;
    let (mut state, todo) = match known {
        Some(k) => {
            let mut state = DokkuState {
                apps: BTreeMap::new(),
                vhosts: BTreeMap::new(),
                ..k.state.clone()
            };
            state.letsencrypt_global_email = read_global_email(project, run)?;
            // A datastore this stack created is in the record without what its plugin reports
            // (its image and the password it holds): read once, so the checks of the plan
            // (password, upgrade) see it.
            for d in project.services.values().filter_map(|s| s.datastore()) {
                let key = datastore_key(d.plugin, d.name.as_str());
                let exists = state
                    .datastores
                    .get(d.plugin)
                    .is_some_and(|m| m.contains_key(d.name.as_str()));
                if exists && !state.datastore_info.contains_key(&key) {
                    if let Some(info) = read_datastore_info(d.plugin, d.name.as_str(), run)? {
                        state.datastore_info.insert(key, info);
                    }
                }
            }
            let mut todo = Vec::new();
            for app in ours {
                match k.state.apps.get(&app) {
                    Some(a) if !k.changed.contains(&app) => {
                        state.apps.insert(app, a.clone());
                    }
                    _ => todo.push(app),
                }
            }
            (state, todo)
        }
        None => (read_host(project, run)?, ours),
    };
    for (app, a) in read_apps(&todo, &listed, run, k3s_globals.reports())? {
        state.apps.insert(app, a);
    }
    state.listed = existing;
    k3s_globals.store(&mut state);
    Ok(state)
}

/// What `<plugin>:info` says of one datastore service: its image and the URL a link gives
/// (`info` has no JSON format; a single flag prints the bare value).
fn read_datastore_info(
    plugin: &str,
    name: &str,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<Option<DatastoreInfo>, StateError> {
    let info = format!("{plugin}:info");
    let mut flag = |f: &str| -> Result<Option<String>, StateError> {
        Ok(run(&Cmd::dokku([info.as_str(), name, f]))?
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty()))
    };
    Ok(match (flag("--version")?, flag("--dsn")?) {
        (Some(version), Some(dsn)) => Some(DatastoreInfo { version, dsn }),
        _ => None,
    })
}

fn must_answer(cmd: &Cmd) -> StateError {
    // Planning against an empty host by mistake would re-create everything (and `create` is
    // not idempotent).
    StateError::NoAnswer {
        command: cmd.masked_argv().join(" "),
        reason: "the query failed; is this a Dokku host?",
    }
}

/// Parses `apps:list --format json`, in its order (the order of bulk reports).
pub(crate) fn parse_app_order(cmd: &Cmd, out: &str) -> Result<Vec<String>, StateError> {
    match json(cmd, out)? {
        Value::Array(a) => Ok(a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()),
        _ => Err(parse_err(cmd, "expected a JSON array of app names")),
    }
}

/// Parses a bulk `:report --format json` (no app): one object per line, one line per app of
/// `apps` in that order. An answer of another length (an app created or destroyed between
/// the two calls) is an error, and the caller reads per app.
pub(crate) fn parse_bulk_report(
    cmd: &Cmd,
    out: &str,
    apps: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, StateError> {
    bulk_lines(cmd, out, apps)?
        .map(|(app, line)| Ok((app.clone(), parse_report(cmd, line)?)))
        .collect()
}

/// The lines of a bulk `:report --format json`, each with its app of `apps`; an error when
/// their numbers differ.
pub(crate) fn bulk_lines<'a, 'o>(
    cmd: &Cmd,
    out: &'o str,
    apps: &'a [String],
) -> Result<impl Iterator<Item = (&'a String, &'o str)>, StateError> {
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .collect();
    if lines.len() != apps.len() {
        return Err(parse_err(
            cmd,
            format!("{} report(s) for {} app(s)", lines.len(), apps.len()),
        ));
    }
    Ok(apps.iter().zip(lines))
}

/// The host's global Let's Encrypt e-mail, when the project asks for certificates (the
/// operator's setting: never taken from a record).
fn read_global_email(
    project: &Project,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<Option<String>, StateError> {
    if !(project.settings.letsencrypt || project.services.values().any(|s| s.settings.letsencrypt))
    {
        return Ok(None);
    }
    let cmd = Cmd::dokku(["letsencrypt:report", "--global", "--format", "json"]);
    let email = match run(&cmd)? {
        Some(out) => parse_report(&cmd, &out)?
            .get("global-email")
            .cloned()
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(Some(email))
}

/// The stack-wide queries (networks, storage, datastores and their links, the global Let's
/// Encrypt e-mail when needed).
fn read_host(
    project: &Project,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<DokkuState, StateError> {
    let mut state = DokkuState::default();
    let q = |args: &[&str]| Cmd::dokku(args.iter().copied());
    let cmd = q(&["network:list", "--format", "json"]);
    match run(&cmd)? {
        Some(out) => state.networks = parse_name_list(&cmd, &out)?,
        None => return Err(must_answer(&cmd)),
    }
    state.letsencrypt_global_email = read_global_email(project, run)?;
    let cmd = q(&["storage:list-entries", "--format", "json"]);
    if let Some(out) = run(&cmd)? {
        state.storage = parse_name_list(&cmd, &out)?;
    }
    let plugins: BTreeSet<&str> = project
        .services
        .values()
        .filter_map(|s| s.datastore().map(|d| d.plugin))
        .collect();
    for plugin in plugins {
        let list = format!("{plugin}:list");
        let cmd = q(&[list.as_str()]);
        let names = run(&cmd)?.map(|o| parse_lines(&o)).unwrap_or_default();
        let mut services = BTreeMap::new();
        for svc in project
            .services
            .values()
            .filter_map(|s| s.datastore())
            .filter(|d| d.plugin == plugin)
        {
            if names.contains(svc.name.as_str()) {
                let links = format!("{plugin}:links");
                let cmd = q(&[links.as_str(), svc.name.as_str()]);
                let linked = run(&cmd)?.map(|o| parse_lines(&o)).unwrap_or_default();
                services.insert(svc.name.to_string(), linked);
                if let Some(info) = read_datastore_info(plugin, svc.name.as_str(), run)? {
                    state
                        .datastore_info
                        .insert(datastore_key(plugin, svc.name.as_str()), info);
                }
            }
        }
        state.datastores.insert(plugin.to_owned(), services);
    }
    Ok(state)
}

/// Reads the apps `todo` (existing ones; `listed` is `apps:list` in its order): through bulk
/// reports when more than one is read, else per app.
fn read_apps(
    todo: &[String],
    listed: &[String],
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
    extra: &[&'static str],
) -> Result<Vec<(String, AppState)>, StateError> {
    let reports: Vec<&str> = REPORTS.iter().chain(extra).copied().collect();
    let mut bulk: BTreeMap<&str, BTreeMap<String, BTreeMap<String, String>>> = BTreeMap::new();
    if todo.len() > 1 {
        for plugin in reports.iter().copied() {
            let r = format!("{plugin}:report");
            let cmd = Cmd::dokku([r.as_str(), "--format", "json"]);
            let parsed = run(&cmd)?.map(|out| parse_bulk_report(&cmd, &out, listed));
            match parsed {
                Some(Ok(m)) => {
                    bulk.insert(plugin, m);
                }
                // Not the apps of `apps:list` (one changed in between): per app instead.
                _ => {
                    bulk.clear();
                    break;
                }
            }
        }
    }
    let mut out = Vec::new();
    for app in todo {
        let mut report = |plugin: &str| -> Result<BTreeMap<String, String>, StateError> {
            if let Some(m) = bulk.get(plugin) {
                return Ok(m.get(app).cloned().unwrap_or_default());
            }
            let r = format!("{plugin}:report");
            let cmd = Cmd::dokku([r.as_str(), app.as_str(), "--format", "json"]);
            match run(&cmd)? {
                Some(out) => parse_report(&cmd, &out),
                None => Ok(BTreeMap::new()),
            }
        };
        let reports: BTreeMap<&str, BTreeMap<String, String>> = reports
            .iter()
            .map(|p| Ok((*p, report(p)?)))
            .collect::<Result<_, StateError>>()?;
        let mut a = read_app(app, &reports, run)?;
        k3s::app_properties(&reports, &mut a);
        out.push((app.clone(), a));
    }
    Ok(out)
}

/// One existing app's state from its reports (by plugin) and its three per-app queries.
fn read_app(
    app: &str,
    reports: &BTreeMap<&str, BTreeMap<String, String>>,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<AppState, StateError> {
    let q = |args: &[&str]| Cmd::dokku(args.iter().copied());
    let empty = BTreeMap::new();
    let report = |plugin: &str| reports.get(plugin).unwrap_or(&empty);
    let mut a = AppState::default();
    let cmd = q(&["config:export", "--format", "json", app]);
    if let Some(out) = run(&cmd)? {
        a.config = parse_config(&cmd, &out)?;
    }
    let ps = report("ps");
    a.deployed = ps.get("deployed").is_some_and(|v| v == "true");
    a.running = ps.get("running").is_none_or(|v| v != "false");
    for key in ["restart-policy", "stop-timeout-seconds", "procfile-path"] {
        if let Some(v) = ps.get(key).filter(|v| !v.is_empty()) {
            a.properties.insert(format!("ps:{key}"), v.clone());
        }
    }
    a.ports = report("ports")
        .get("map")
        .map(|m| {
            let mut p: Vec<String> = m.split_whitespace().map(str::to_owned).collect();
            p.sort();
            p
        })
        .unwrap_or_default();
    a.proxy_enabled = report("proxy").get("enabled").is_none_or(|v| v != "false");
    a.domains = report("domains")
        .get("app-vhosts")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let opts = report("docker-options");
    for phase in ["build", "deploy", "run"] {
        if let Some(v) = opts.get(phase) {
            a.docker_options
                .insert(phase.to_owned(), split_docker_options(v));
        }
    }
    let net = report("network");
    for key in [
        "initial-network",
        "attach-post-create",
        "attach-post-deploy",
    ] {
        if let Some(v) = net.get(key).filter(|v| !v.is_empty()) {
            a.properties.insert(format!("network:{key}"), v.clone());
        }
    }
    let wanted: [(&str, &[&str]); 5] = [
        ("builder", &["selected"]),
        ("builder-dockerfile", &["dockerfile-path"]),
        ("logs", &["max-size", "vector-sink"]),
        ("app-json", &["appjson-path"]),
        ("letsencrypt", &["email"]),
    ];
    for (plugin, keys) in wanted {
        let r = report(plugin);
        for key in keys {
            if let Some(v) = r.get(*key).filter(|v| !v.is_empty()) {
                a.properties.insert(format!("{plugin}:{key}"), v.clone());
            }
        }
    }
    for (k, v) in report("resource") {
        if let Some((which, res)) = resource_key(k).filter(|_| !v.is_empty()) {
            a.resources.insert(format!("{which}:{res}"), v.clone());
        }
    }
    // dokku-letsencrypt's report says whether a certificate is active (`fn-letsencrypt-is-active`).
    a.letsencrypt = report("letsencrypt")
        .get("active")
        .is_some_and(|v| v == "true");
    let cmd = q(&["storage:list", app, "--format", "json"]);
    if let Some(out) = run(&cmd)? {
        a.mounts = parse_mounts(&cmd, &out)?;
    }
    let cmd = q(&["ps:scale", "--format", "json", app]);
    if let Some(out) = run(&cmd)? {
        a.scale = parse_scale(&cmd, &out)?;
    }
    Ok(a)
}

/// [`read`] for callers that share the runner between threads. Reads are no longer spread
/// over threads: each Dokku call is mostly CPU on the host, so overlapping them does not make
/// a read faster there, and the bulk reports make the count independent of the apps.
pub fn read_parallel(
    project: &Project,
    run: &(dyn Fn(&Cmd) -> Result<QueryOutput, StateError> + Sync),
    _concurrency: usize,
) -> Result<DokkuState, StateError> {
    read_stack(project, &mut |c| run(c), None)
}

#[cfg(test)]
mod tests;
