//! Built-in command table: aliases, which names are built in, and dispatch to handlers.
//! Usage lines come from `data/commands.tsv`, generated from ../shared/dokku-cli.json.

pub mod apps;
pub mod config;
pub mod domains;
pub mod git;
pub mod misc;
pub mod network;
pub mod options;
pub mod ports;
pub mod props;
pub mod ps;
pub mod sandbox;
pub mod storage;

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
    "docker-options",
    "storage",
    "network",
    "checks",
    "resource",
    "nginx",
    "logs",
    "run",
    "scheduler",
    "scheduler-docker-local",
    "letsencrypt",
    "plugin",
    "sandbox",
];

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
    ) || (PREFIXES.contains(&prefix) && cmd.contains(':'))
        || crate::datastore::find(prefix).is_some()
}

/// Run a built-in.
pub fn dispatch(ctx: &mut Ctx, cmd: &str, args: &[String]) -> Res {
    let (prefix, sub) = cmd.split_once(':').unwrap_or((cmd, ""));
    if sub == "help" {
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
        "letsencrypt" => misc::letsencrypt(ctx, sub, args),
        "nginx" => misc::nginx(ctx, sub, args),
        "deploy" => ps::deploy_cmd(ctx, args),
        "url" | "urls" => domains::urls(ctx, prefix, args),
        "report" => misc::report_all(ctx, args),
        "plugin" => crate::plugins::plugin_cmd(ctx, sub, args),
        "sandbox" => sandbox::run(ctx, sub, args),
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
        "app-json" | "builder" | "builder-dockerfile" | "scheduler" | "scheduler-docker-local" => {
            match props::find(prefix) {
                Some(p) => props::run(ctx, p, sub, args),
                None => Err(Fail::Silent(255)),
            }
        }
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
    ctx.out(format!("Manage {prefix}"));
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
            ctx.out(format!("    {p:<24} Manage {p}"));
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
