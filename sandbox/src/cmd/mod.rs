//! Built-in command table: aliases, which names are built in, and dispatch to handlers.
//! Usage lines come from `data/commands.tsv`, generated from ../shared/dokku-cli.json.

pub mod appjson;
pub mod apps;
pub mod config;
pub mod domains;
pub mod git;
pub mod k3s;
pub mod misc;
pub mod network;
pub mod options;
pub mod ports;
pub mod props;
pub mod ps;
pub mod sandbox;
pub mod storage;
pub mod storage_entries;
pub mod vector;

use crate::ctx::{fail, Ctx, Fail, Res};

/// `command \t status \t usage` rows generated from dokku-cli.json.
pub const TABLE: &str = include_str!("../../data/commands.tsv");

/// Usage lines of a plugin's commands from the table.
pub fn usages(prefix: &str) -> Vec<(String, String, String)> {
    TABLE
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, '\t');
            Some((
                it.next()?.to_string(),
                it.next()?.to_string(),
                it.next()?.to_string(),
            ))
        })
        .filter(|(c, _, _)| {
            c == prefix || c.strip_prefix(prefix).is_some_and(|r| r.starts_with(':'))
        })
        .collect()
}

/// Whether dokku-cli.json lists the command (a real Dokku command the sandbox may not model).
pub fn in_table(cmd: &str) -> bool {
    TABLE.lines().any(|l| l.split('\t').next() == Some(cmd))
}

/// Dispatcher aliases (§a step 2): `nginx-vhosts:` → `nginx:` for our purposes.
pub fn alias(cmd: &str) -> String {
    match cmd.split_once(':') {
        Some(("nginx-vhosts", rest)) => format!("nginx:{rest}"),
        _ => cmd.to_string(),
    }
}

const PREFIXES: &[&str] = &[
    "apps",
    "config",
    "domains",
    "ports",
    "proxy",
    "ps",
    "git",
    "app-json",
    "builder",
    "builder-dockerfile",
    "builder-herokuish",
    "docker-options",
    "storage",
    "network",
    "checks",
    "resource",
    "nginx",
    "logs",
    "run",
    "enter",
    "scheduler",
    "scheduler-docker-local",
    "scheduler-k3s",
    "registry",
    "letsencrypt",
    "plugin",
    "sandbox",
];

/// Each core plugin's description, as its help prints it (`plugin_description` of the bash
/// plugins' help-functions, the Go plugins' `helpHeader`).
const DESCRIPTIONS: &[(&str, &str)] = &[
    ("app-json", "Manage app-json settings for an app"),
    ("apps", "Manage apps"),
    ("builder", "Manage builder settings for an app"),
    (
        "builder-dockerfile",
        "Manage the dockerfile builder integration for an app",
    ),
    (
        "builder-herokuish",
        "Manage the herokuish builder integration for an app",
    ),
    ("checks", "Manage zero-downtime settings"),
    ("config", "Manage global and app-specific config vars"),
    ("docker-options", "Manage docker options for an app"),
    ("enter", "Enter running app containers"),
    ("domains", "Manage domains used by the proxy"),
    ("git", "Manage app deploys via git"),
    ("letsencrypt", "Manage the letsencrypt integration"),
    ("logs", "Manage log integration for an app"),
    ("network", "Manage network settings for an app"),
    ("nginx", "Manage the nginx proxy"),
    ("plugin", "Manage installed plugins"),
    ("ports", "Manage ports for an app"),
    ("proxy", "Manage the proxy integration for an app"),
    ("ps", "Manage app processes"),
    ("registry", "Manage registry settings for an app"),
    ("resource", "Manage resource settings for an app"),
    ("run", "Run a one-off process inside a container"),
    ("scheduler", "Manage scheduler settings for an app"),
    (
        "scheduler-docker-local",
        "Manage the docker-local scheduler integration for an app",
    ),
    (
        "scheduler-k3s",
        "Manage the k3s scheduler integration for an app",
    ),
    ("storage", "Manage mounted volumes"),
];

/// A plugin's description for help output.
fn description(prefix: &str) -> String {
    DESCRIPTIONS
        .iter()
        .find(|(p, _)| *p == prefix)
        .map_or_else(|| format!("Manage {prefix}"), |(_, d)| (*d).to_string())
}

/// Plugins whose bare command (no subcommand) runs a command rather than printing help.
const BARE_RUNS: &[&str] = &["apps", "config", "enter", "logs", "run", "sandbox"];

/// Whether the sandbox implements `cmd` itself (core plugins, letsencrypt, datastores).
pub fn is_builtin(cmd: &str) -> bool {
    let prefix = cmd.split(':').next().unwrap_or(cmd);
    if cmd.contains(':')
        && cmd.ends_with(":help")
        && !PREFIXES.contains(&prefix)
        && crate::datastore::find(prefix).is_none()
    {
        return false;
    }
    matches!(
        cmd,
        "help"
            | "version"
            | "deploy"
            | "url"
            | "urls"
            | "report"
            | "git-receive-pack"
            | "git-upload-pack"
            | "git-hook"
            | "logs"
            | "run"
            | "config"
            | "apps"
            | "domains"
            | "ps"
    ) || PREFIXES.contains(&prefix)
        || crate::datastore::find(prefix).is_some()
}

/// Run a built-in.
pub fn dispatch(ctx: &mut Ctx, cmd: &str, args: &[String]) -> Res {
    // `apps:` names no subcommand: Dokku finds no plugin command for it.
    if cmd.ends_with(':') {
        return not_modelled(ctx, cmd);
    }
    let (prefix, sub) = cmd.split_once(':').unwrap_or((cmd, ""));
    // `<plugin>:help`, `<plugin> --help`, and a bare `<plugin>` for most plugins print the
    // plugin's help (its `subcommands/default`).
    let bare_help = sub.is_empty()
        && PREFIXES.contains(&prefix)
        && (args.iter().any(|a| a == "--help") || !BARE_RUNS.contains(&prefix));
    if sub == "help" || bare_help {
        plugin_help(ctx, prefix);
        return Ok(());
    }
    if let Some(ds) = crate::datastore::find(prefix) {
        return crate::datastore::dispatch(ctx, ds, sub, args);
    }
    let r = match prefix {
        "help" => {
            help(ctx, args)?;
            Ok(())
        }
        "version" => {
            ctx.out("dokku version 0.38.27 (sandbox)");
            Ok(())
        }
        "apps" => apps::run(ctx, if sub.is_empty() { "list" } else { sub }, args),
        "config" => config::run(ctx, if sub.is_empty() { "show" } else { sub }, args),
        "domains" => domains::run(ctx, if sub.is_empty() { "report" } else { sub }, args),
        "ports" => ports::run(ctx, sub, args),
        "proxy" => ports::proxy(ctx, sub, args),
        "ps" => ps::run(ctx, if sub.is_empty() { "report" } else { sub }, args),
        "git" => git::run(ctx, sub, args),
        "git-receive-pack" | "git-upload-pack" => git::receive_pack(ctx, prefix, args),
        "git-hook" => git::hook(ctx, args),
        "docker-options" => options::docker_options(ctx, sub, args),
        "resource" => options::resource(ctx, sub, args),
        "storage" => storage::run(ctx, sub, args),
        "network" => network::run(ctx, sub, args),
        "checks" => misc::checks(ctx, sub, args),
        "logs" => misc::logs(ctx, sub, args),
        "run" => misc::run_cmd(ctx, sub, args),
        "enter" => misc::enter(ctx, args),
        "letsencrypt" => misc::letsencrypt(ctx, sub, args),
        "nginx" => misc::nginx(ctx, sub, args),
        "deploy" => ps::deploy_cmd(ctx, args),
        "url" | "urls" => domains::urls(ctx, prefix, args),
        "report" => misc::report_all(ctx, args),
        "plugin" => crate::plugins::plugin_cmd(ctx, sub, args),
        "sandbox" => sandbox::run(ctx, sub, args),
        "scheduler-k3s" => k3s::scheduler_k3s(ctx, sub, args),
        "registry" => k3s::registry(ctx, sub, args),
        "builder" if sub == "report" => {
            let p = props::find("builder").expect("builder table");
            let r = crate::store::Report {
                plugin: "builder",
                kind: "builder",
                legacy: true,
            };
            r.run(
                ctx,
                args,
                &|c, a| {
                    let mut rows = props::prop_rows(c, p, a)?;
                    rows.push(crate::store::Row {
                        flag: "builder-detected".into(),
                        value: c.prop_or("builder", a, "detected")?,
                    });
                    Ok(rows)
                },
                &|c| props::global_rows(c, p),
            )
        }
        "app-json"
        | "builder"
        | "builder-dockerfile"
        | "builder-herokuish"
        | "scheduler"
        | "scheduler-docker-local" => match props::find(prefix) {
            Some(p) => props::run(ctx, p, sub, args),
            None => Err(Fail::Silent(255)),
        },
        _ => Err(Fail::Silent(255)),
    };
    match r {
        Err(Fail::Silent(255)) => not_modelled(ctx, cmd),
        other => other,
    }
}

/// A command the sandbox does not model: the real Dokku error when unknown to Dokku too,
/// else a distinct sandbox message (so a test never mistakes it for Dokku behaviour).
pub fn not_modelled(ctx: &Ctx, cmd: &str) -> Res {
    ctx.warn(format!("`{cmd}` is not a dokku command."));
    ctx.warn("See `dokku help` for a list of available commands.");
    if in_table(cmd) {
        return fail(format!("(sandbox) `{cmd}` is a real Dokku command that the dokku sandbox does not model (see docs/sandbox.md)"));
    }
    Err(Fail::Silent(1))
}

/// `dokku <plugin>:help` (§a "Help conventions").
pub fn plugin_help(ctx: &Ctx, prefix: &str) {
    ctx.out(format!("Usage: dokku {prefix}[:COMMAND]"));
    ctx.out("");
    ctx.out(description(prefix));
    ctx.out("");
    ctx.out("Additional commands:");
    let rows = usages(prefix);
    let w = rows.iter().map(|(_, _, u)| u.len()).max().unwrap_or(0);
    for (_, _, u) in rows {
        ctx.out(format!("    {u:<w$}"));
    }
}

fn help(ctx: &mut Ctx, args: &[String]) -> Res {
    let all = args.iter().any(|a| a == "--all");
    ctx.out("Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]");
    ctx.out("");
    ctx.out("Primary help options, type \"dokku COMMAND:help\" for more details, or dokku help --all to see all commands.");
    ctx.out("");
    ctx.out("Commands:");
    ctx.out("");
    let mut plugins: Vec<&str> = PREFIXES
        .iter()
        .copied()
        .filter(|p| *p != "sandbox")
        .collect();
    plugins.extend(crate::datastore::PLUGINS.iter().map(|d| d.prefix));
    plugins.sort_unstable();
    for p in plugins {
        if all {
            for (_, _, u) in usages(p) {
                ctx.out(format!("    {u}"));
            }
        } else {
            ctx.out(format!("    {p:<24} {}", description(p)));
        }
    }
    let community = crate::plugins::community_help(ctx)?;
    if !community.is_empty() {
        ctx.out("");
        ctx.out("Community plugin commands:");
        ctx.out("");
        for l in community {
            let (a, b) = l.split_once(',').unwrap_or((&l, ""));
            ctx.out(format!("{:<40} {}", a.trim_end(), b.trim()));
        }
    }
    Ok(())
}
