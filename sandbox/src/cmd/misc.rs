//! `checks:*`, `logs`, `run`, `nginx:*`, `letsencrypt:*` and `report` (dokku-cli.json entries
//! of the same names; letsencrypt prerequisites from dokku-facts.md §f).

use crate::args::{parse, spec};
use crate::cmd::props;
use crate::ctx::{fail, fail_lines, Ctx, Fail, Res};
use crate::store::{rows, Report};

/// Dispatch `checks:<sub>`.
pub fn checks(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    let p = props::find("checks").expect("checks table");
    match sub {
        "set" => props::set(ctx, p, args),
        "report" => Report {
            plugin: "checks",
            kind: "checks",
            legacy: false,
        }
        .run(
            ctx,
            args,
            &|c, a| {
                let mut r = rows(vec![
                    (
                        "checks-disabled-list".into(),
                        non_empty(c.prop_or("checks", a, "disabled")?),
                    ),
                    (
                        "checks-skipped-list".into(),
                        non_empty(c.prop_or("checks", a, "skipped")?),
                    ),
                ]);
                r.extend(props::prop_rows(c, p, a)?);
                Ok(r)
            },
            &|c| props::global_rows(c, p),
        ),
        "enable" | "disable" | "skip" => {
            let a = parse(args, &spec(&[], &[]))?;
            let app = a.arg(0);
            ctx.verify_app(&app)?;
            toggle(
                ctx,
                sub,
                &app,
                &a.pos
                    .get(1)
                    .cloned()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "_all_".into()),
            )
        }
        "run" => {
            // plugins/checks/subcommands/run: `_all_` or a comma list of `<proc>` and
            // `<proc>.<index>` items.
            let a = parse(args, &spec(&[], &[]))?;
            let app = a.arg(0);
            ctx.verify_app(&app)?;
            let want = a.pos.get(1).cloned().unwrap_or_else(|| "_all_".into());
            let st = crate::deploy::load(ctx, &app)?;
            let scale = crate::deploy::scale(ctx, &app, &st)?;
            let disabled = ctx.prop_or("checks", &app, "disabled")?;
            ctx.info1("Running pre-flight checks");
            let check_one = |ctx: &Ctx, proc: &str, index: &str| -> Res {
                let Some(c) = st
                    .containers
                    .iter()
                    .find(|c| c.proc == proc && c.index.to_string() == index)
                else {
                    return fail(format!(
                        "Invalid container index specified ({app}.{proc}.{index})"
                    ));
                };
                ctx.info1(format!("Running checks for app ({app}.{proc}.{index})"));
                if !c.healthy {
                    return fail(format!("Checks failed for {proc}.{index}"));
                }
                Ok(())
            };
            let check_all = |ctx: &Ctx, only: Option<&str>| -> Res {
                let mut valid = false;
                for (proc, count) in &scale {
                    if only.is_some_and(|w| w != proc) {
                        continue;
                    }
                    valid = true;
                    if disabled == "_all_" || disabled.split(',').any(|x| x == proc) {
                        ctx.info1(format!(
                            "Zero downtime is disabled for app ({app}.{proc}). Skipping checks"
                        ));
                        continue;
                    }
                    for i in 1..=*count {
                        check_one(ctx, proc, &i.to_string())?;
                    }
                }
                if !valid {
                    return fail(format!(
                        "Invalid process type specified ({app}.{})",
                        only.unwrap_or_default()
                    ));
                }
                Ok(())
            };
            if want == "_all_" {
                return check_all(ctx, None);
            }
            for item in want.split(',') {
                match item.split_once('.') {
                    Some((proc, index)) if !index.is_empty() => check_one(ctx, proc, index)?,
                    Some((proc, _)) => check_all(ctx, Some(proc))?,
                    None => check_all(ctx, Some(item))?,
                }
            }
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

/// `checks:enable|disable|skip <app> [proctypes]` (plugins/checks/subcommands): `_all_` replaces
/// the lists; a proctype list edits them and drops `_all_`.
fn toggle(ctx: &Ctx, sub: &str, app: &str, procs: &str) -> Res {
    let list = |k: &str| -> Res<Vec<String>> {
        Ok(ctx
            .prop_or("checks", app, k)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    };
    let (mut disabled, mut skipped) = (list("disabled")?, list("skipped")?);
    let verb = match sub {
        "enable" => "Enabling",
        "disable" => "Disabling",
        _ => "Skipping",
    };
    if procs == "_all_" {
        ctx.info1(if sub == "enable" {
            format!("Enabling zero downtime for app's ({app})")
        } else {
            format!("{verb} zero downtime for app ({app})")
        });
        match sub {
            "enable" => {
                disabled.clear();
                skipped.clear();
            }
            "disable" => {
                disabled = vec!["_all_".into()];
                skipped.clear();
            }
            _ => {
                skipped = vec!["_all_".into()];
                disabled.clear();
            }
        }
    } else {
        ctx.info1(format!(
            "{verb} zero downtime for app's ({app}) proctypes ({procs})"
        ));
        for p in procs.split(',') {
            let p = p.to_string();
            match sub {
                "enable" => {
                    disabled.retain(|x| *x != p);
                    skipped.retain(|x| *x != p);
                }
                "disable" => {
                    if !disabled.contains(&p) {
                        disabled.push(p.clone());
                    }
                    skipped.retain(|x| *x != p);
                }
                _ => {
                    if !skipped.contains(&p) {
                        skipped.push(p.clone());
                    }
                    disabled.retain(|x| *x != p);
                }
            }
        }
        if sub == "disable" {
            disabled.retain(|x| x != "_all_");
        }
        if sub == "skip" {
            skipped.retain(|x| x != "_all_");
        }
    }
    for (k, v) in [("disabled", disabled), ("skipped", skipped)] {
        if v.is_empty() {
            ctx.unset_prop("checks", app, k)?;
        } else {
            ctx.set_prop("checks", app, k, &v.join(","))?;
        }
    }
    Ok(())
}

fn non_empty(s: String) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

/// Dispatch `logs` and `logs:<sub>`.
pub fn logs(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    let p = props::find("logs").expect("logs table");
    match sub {
        "set" => props::set(ctx, p, args),
        "report" => Report {
            plugin: "logs",
            kind: "logs",
            legacy: true,
        }
        .run(ctx, args, &|c, a| logs_rows(c, args, a), &|c| {
            logs_rows(c, args, "--global")
        }),
        "" => {
            let a = crate::args::parse(
                args,
                &crate::args::Spec {
                    values: &["--num", "--ps"],
                    bools: &["--tail", "--quiet", "--help"],
                    aliases: &[
                        ("-n", "--num"),
                        ("-p", "--ps"),
                        ("-t", "--tail"),
                        ("-q", "--quiet"),
                        ("-h", "--help"),
                    ],
                    stop_at_positional: false,
                    lenient: false,
                },
            )?;
            let app = a.arg(0);
            ctx.verify_app(&app)?;
            let st = crate::deploy::load(ctx, &app)?;
            if !st.deployed {
                return fail(format!("App {app} has not been deployed"));
            }
            if crate::docker::enabled(&ctx.paths) {
                return crate::docker::logs(ctx, &app, a.get("--num").or(Some("100")));
            }
            let b = crate::harness::image_behaviour(&ctx.paths, &app, &st.source_image);
            let n: usize = a.get("--num").and_then(|v| v.parse().ok()).unwrap_or(100);
            for c in st
                .containers
                .iter()
                .filter(|c| a.get("--ps").is_none_or(|p| p == c.proc))
            {
                for l in b.logs.iter().rev().take(n).rev() {
                    ctx.out(format!("app[{}.{}]: {l}", c.proc, c.index));
                }
            }
            Ok(())
        }
        "failed" => Ok(()),
        _ => Err(Fail::Silent(255)),
    }
}

/// `run [-e K=V] [--no-tty] [--ttl-seconds N] <app> <cmd…>`: a one-off container whose exit
/// status comes from the image catalog's `run_exit` (default 0).
pub fn run_cmd(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if !sub.is_empty() && sub != "detached" {
        return match sub {
            "list" => Ok(()),
            _ => Err(Fail::Silent(255)),
        };
    }
    let a = crate::args::parse(
        args,
        &crate::args::Spec {
            values: &["--env", "--ttl-seconds"],
            bools: &["--no-tty", "--force-tty"],
            aliases: &[("-e", "--env")],
            stop_at_positional: true,
            lenient: false,
        },
    )?;
    // Checks and messages from plugins/run internal-functions `fn-run`.
    if let Some(t) = a.get("--ttl-seconds") {
        if t.parse::<u64>().is_err() {
            return fail("--ttl-seconds must be a positive integer");
        }
    }
    if a.has("--no-tty") && a.has("--force-tty") {
        return fail("Cannot specify both --force-tty and --no-tty");
    }
    let app = a.arg(0);
    ctx.verify_app(&app)?;
    let st = crate::deploy::load(ctx, &app)?;
    if !st.deployed {
        // scheduler-docker-local `scheduler-run`: no release image yet.
        return fail_lines(&[
            "Invalid image stage detected: expected 'release', got ''",
            "Successfully deploy your app to fix dokku run calls",
        ]);
    }
    let k3s = ctx.prop_computed("scheduler", &app, "selected", "docker-local")? == "k3s";
    if k3s {
        // scheduler-k3s `TriggerSchedulerRun`: a Job in the cluster, without the app's volumes.
        let cmd: Vec<String> = a.pos.iter().skip(1).cloned().collect();
        crate::k3s::run_job(ctx, &app, &cmd)?;
    } else if crate::docker::enabled(&ctx.paths) {
        let cmd: Vec<String> = a.pos.iter().skip(1).cloned().collect();
        return crate::docker::run(ctx, &app, &cmd, &a.all("--env"));
    }
    let b = crate::harness::image_behaviour(&ctx.paths, &app, &st.source_image);
    if let Some(o) = &b.run_output {
        ctx.out(o);
    }
    match b.run_exit.unwrap_or(0) {
        0 => Ok(()),
        c => Err(Fail::Silent(c.clamp(1, 255) as u8)),
    }
}

/// `enter <app> [<container-type> || --container-id <id>] [-- <cmd…>]` (plugins/enter
/// `cmd-enter-default`, scheduler-docker-local `scheduler-enter`): the first container of the
/// type (`web`, or one container as `web.1`), or the one whose id starts with `<id>`; without
/// either, the only running type. It must be running. The command defaults to the
/// scheduler's `shell` property (the app's, the global one, else `/bin/bash`). The docker
/// runtime runs it with `docker container exec`; the state-only runtime has nothing to enter
/// and only checks.
pub fn enter(ctx: &mut Ctx, args: &[String]) -> Res {
    let Some(app) = args.first() else {
        return fail("Please specify an app to run the command on");
    };
    ctx.verify_app(app)?;
    let mut rest = &args[1..];
    let (mut id, mut kind): (Option<String>, Option<String>) = (None, None);
    while let Some(a) = rest.first() {
        if let Some(v) = a.strip_prefix("--container-id=") {
            id = Some(v.to_string());
            rest = &rest[1..];
        } else if a == "--container-id" {
            match rest.get(1) {
                Some(v) => {
                    id = Some(v.clone());
                    rest = &rest[2..];
                }
                None => {
                    ctx.warn(format!("expected {a} to have an argument"));
                    break;
                }
            }
        } else {
            kind = Some(a.clone());
            rest = &rest[1..];
            break;
        }
    }
    if rest.first().is_some_and(|a| a == "--") {
        rest = &rest[1..];
    }
    let st = crate::deploy::load(ctx, app)?;
    let running: Vec<&crate::deploy::Container> = st
        .containers
        .iter()
        .filter(|c| c.state == "running")
        .collect();
    let mut types: Vec<&str> = running.iter().map(|c| c.proc.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let available = format!("Available types for app ({app}): {}", types.join(" "));
    let container = match id {
        Some(id) => {
            let ids: Vec<&str> = st.containers.iter().map(|c| c.id.as_str()).collect();
            match st.containers.iter().find(|c| c.id.starts_with(&id)) {
                Some(c) => c,
                None => {
                    ctx.warn(format!("Invalid container id for app: {id}"));
                    return fail(format!("Available ids for app ({app}): {}", ids.join(" ")));
                }
            }
        }
        None => {
            let kind = match kind.filter(|k| k != "--") {
                Some(k) => k,
                None if types.len() > 1 => {
                    ctx.warn("No container type specified.");
                    return fail(available);
                }
                None => match types.first() {
                    Some(t) => (*t).to_string(),
                    None => return fail("No containers found for app"),
                },
            };
            let found = st.containers.iter().find(|c| {
                format!("{}.{}", c.proc, c.index) == kind || (!kind.contains('.') && c.proc == kind)
            });
            match found {
                Some(c) => c,
                None => {
                    ctx.warn(format!("No containers found for type '{kind}'"));
                    return fail(available);
                }
            }
        }
    };
    if container.state != "running" {
        return fail("Container is not running");
    }
    let shell = match ctx.prop_or("scheduler", app, "shell")? {
        s if s.is_empty() => ctx.prop_computed("scheduler", "--global", "shell", "/bin/bash")?,
        s => s,
    };
    let cmd: Vec<String> = if rest.is_empty() {
        vec![shell]
    } else {
        rest.to_vec()
    };
    if crate::docker::enabled(&ctx.paths) {
        return crate::docker::enter(ctx, &container.id, &cmd);
    }
    Ok(())
}

/// Dispatch `nginx:<sub>`.
pub fn nginx(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    let p = props::find("nginx").expect("nginx table");
    match sub {
        "set" => props::set(ctx, p, args),
        "report" => Report {
            plugin: "nginx",
            kind: "nginx",
            legacy: false,
        }
        .run(ctx, args, &|c, a| props::prop_rows(c, p, a), &|c| {
            props::global_rows(c, p)
        }),
        "show-config" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            for d in crate::cmd::domains::app_domains(ctx, &app)? {
                ctx.out(format!("server {{ listen 80; server_name {d}; location / {{ proxy_pass http://{app}-5000; }} }}"));
            }
            Ok(())
        }
        "validate-config" | "reload" | "start" | "stop" => Ok(()),
        _ => Err(Fail::Silent(255)),
    }
}

/// Dispatch `letsencrypt:<sub>` (§f).
pub fn letsencrypt(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    let p = props::find("letsencrypt").expect("letsencrypt table");
    match sub {
        "set" => props::set(ctx, p, args),
        "report" => Report {
            plugin: "letsencrypt",
            kind: "letsencrypt",
            legacy: false,
        }
        .run(
            ctx,
            args,
            &|c, a| {
                // `--letsencrypt-active`, `-autorenew`, `-expiration` (dokku-letsencrypt command-functions).
                let is_active = active(c, a)?;
                let mut r = rows(vec![
                    ("letsencrypt-active".into(), is_active.to_string()),
                    (
                        "letsencrypt-autorenew".into(),
                        c.prop_or("letsencrypt", "--global", "sandbox-cron")?
                            .eq("true")
                            .to_string(),
                    ),
                    (
                        "letsencrypt-expiration".into(),
                        c.prop_or(p_name(), a, "sandbox-expiration")?,
                    ),
                ]);
                r.extend(props::prop_rows(c, p, a)?);
                Ok(r)
            },
            &|c| props::global_rows(c, p),
        ),
        "enable" => {
            let a = parse(
                args,
                &crate::args::Spec {
                    values: &[],
                    bools: &["--force", "--all"],
                    aliases: &[("-f", "--force")],
                    stop_at_positional: false,
                    lenient: false,
                },
            )?;
            let apps = if a.has("--all") {
                ctx.apps()?
            } else {
                vec![a.arg(0)]
            };
            for app in apps {
                enable(ctx, &app, a.has("--force") || ctx.forced())?;
            }
            Ok(())
        }
        "disable" | "revoke" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            ctx.info1(format!("Disabling letsencrypt for {app}"));
            ctx.unset_prop("letsencrypt", &app, "sandbox-certificate")?;
            let mut m = crate::cmd::ports::mappings(ctx, &app)?;
            m.retain(|x| !x.starts_with("https:443:"));
            ctx.set_prop("ports", &app, "map", &m.join(" "))
        }
        "active" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            ctx.out(active(ctx, &app)?.to_string());
            Ok(())
        }
        "list" => {
            ctx.out(format!(
                "{:<30} {:<25} {:<25}",
                "-----> App name", "Certificate Expiry", "Time before expiry"
            ));
            for app in ctx.apps()? {
                if active(ctx, &app)? {
                    ctx.out(format!("{app:<30} {:<25} {:<25}", "sandbox", "90d"));
                }
            }
            Ok(())
        }
        "cron-job" => {
            if args.iter().any(|a| a == "--add") {
                ctx.set_prop("letsencrypt", "--global", "sandbox-cron", "true")?;
            } else if args.iter().any(|a| a == "--remove") {
                ctx.unset_prop("letsencrypt", "--global", "sandbox-cron")?;
            }
            Ok(())
        }
        "auto-renew" | "cleanup" => Ok(()),
        _ => Err(Fail::Silent(255)),
    }
}

fn active(ctx: &Ctx, app: &str) -> Res<bool> {
    Ok(ctx.prop(p_name(), app, "sandbox-certificate")?.is_some())
}

fn p_name() -> &'static str {
    "letsencrypt"
}

/// `fn-letsencrypt-enable` (dokku-letsencrypt internal-functions): domains, email, validity
/// check, http:80 mapping, then the ACME challenge, which needs a deployed app on nginx.
fn enable(ctx: &mut Ctx, app: &str, force: bool) -> Res {
    ctx.verify_app(app)?;
    let domains: Vec<String> = crate::cmd::domains::app_domains(ctx, app)?
        .into_iter()
        .filter(|d| d != "_")
        .collect();
    if domains.is_empty() {
        return fail(format!("No domains detected for {app}"));
    }
    ctx.info2(format!("Enabling letsencrypt for {app}"));
    let email = ctx.prop_computed("letsencrypt", app, "email", "")?;
    if email.is_empty() {
        return fail_lines(&[
            "ERROR: Cannot request a certificate without an e-mail address!",
            "  please provide your e-mail address using",
            &format!("  dokku letsencrypt:set {app} email <e-mail>"),
        ]);
    }
    let config = format!(
        "{} {email} {}",
        domains.join(","),
        ctx.prop_computed("letsencrypt", app, "server", "default")?
    );
    if !force && ctx.prop(p_name(), app, "sandbox-certificate")?.as_deref() == Some(config.as_str())
    {
        ctx.info1(format!(
            "Certificate is still valid for {app}, skipping certificate request"
        ));
        ctx.info1("Pass --force to letsencrypt:enable to request a new certificate anyway");
        return Ok(());
    }
    let st = crate::deploy::load(ctx, app)?;
    let maps = crate::cmd::ports::mappings(ctx, app)?;
    let maps = if maps.is_empty() && st.deployed {
        vec!["http:80:5000".to_string()]
    } else {
        maps
    };
    let Some(http) = maps
        .iter()
        .find(|m| m.starts_with("http:") || m.starts_with("https:"))
    else {
        return fail(format!(
            "Cannot enable letsencrypt for {app}: no http or https proxy port mapping was found."
        ));
    };
    let container_port = http.rsplit(':').next().unwrap_or("5000").to_string();
    crate::cmd::ports::ensure_mapping(ctx, app, &format!("http:80:{container_port}"))?;
    ctx.info1(format!("Enabling ACME proxy for {app}..."));
    // The challenge is served through the app's nginx config, so it needs a deployed app behind
    // the nginx proxy (dokku-facts.md §f).
    let nginx = ctx.prop_computed("proxy", app, "type", "nginx")? == "nginx";
    if !st.deployed || !st.running || !nginx {
        ctx.warn("Failed to setup letsencrypt");
        return fail("Check log output for further information on failure");
    }
    for d in &domains {
        ctx.verbose(format!("- Domain '{d}'"));
    }
    ctx.set_prop(p_name(), app, "sandbox-certificate", &config)?;
    // A 90-day certificate, as Let's Encrypt issues.
    let expiry = crate::harness::now_ms().div_euclid(1000) + 90 * 86_400;
    ctx.set_prop(p_name(), app, "sandbox-expiration", &expiry.to_string())?;
    crate::cmd::ports::ensure_mapping(ctx, app, &format!("https:443:{container_port}"))?;
    crate::proxy::refresh(ctx)?;
    ctx.info1("Done");
    Ok(())
}

/// `report [<app>|--all]`: every plugin's `report` trigger per app.
pub fn report_all(ctx: &mut Ctx, args: &[String]) -> Res {
    let apps = match args.first().map(String::as_str) {
        None | Some("--all") => ctx.apps()?,
        Some(a) => {
            ctx.verify_app(a)?;
            vec![a.to_string()]
        }
    };
    ctx.info1("uname: sandbox");
    for app in apps {
        let t = crate::plugins::trigger(ctx, "report", &[&app], false, false)?;
        if t.code != 0 {
            return Err(Fail::Silent(t.code.clamp(1, 255) as u8));
        }
    }
    Ok(())
}

/// The vector image of plugins/logs' Dockerfile (`getDefaultVectorImage`).
const VECTOR_IMAGE: &str = "timberio/vector:0.57.0-debian";

/// plugins/logs `ReportSingleApp`: the app or global flag set, with sink values shown as
/// `<type>://redacted` in the stdout report unless that exact flag is asked for
/// (`redactedSink`).
fn logs_rows(ctx: &Ctx, args: &[String], app: &str) -> Res<Vec<crate::store::Row>> {
    let mut format = "stdout".to_string();
    let mut flag = String::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--format" {
            format = it.next().cloned().unwrap_or_default();
        } else if let Some(f) = a.strip_prefix("--format=") {
            format = f.to_string();
        } else if a.starts_with("--logs-") {
            flag = a.clone();
        }
    }
    let redact = |value: String, exact: &str| -> String {
        if value.is_empty() || format != "stdout" || flag == exact {
            return value;
        }
        match crate::cmd::vector::sink_to_config(&value, &[]) {
            Ok(v) => format!("{}://redacted", v["type"].as_str().unwrap_or_default()),
            Err(_) => String::new(),
        }
    };
    let get = |scope: &str, k: &str| ctx.prop_or("logs", scope, k);
    let global = app == "--global";
    let own = |k: &str| -> Res<String> {
        if global {
            Ok(String::new())
        } else {
            get(app, k)
        }
    };
    let first = |a: String, b: String| if a.is_empty() { b } else { a };
    let sink = redact(own("vector-sink")?, "--logs-vector-sink");
    let gsink = redact(get("--global", "vector-sink")?, "--logs-global-vector-sink");
    let cron = redact(own("vector-cron-sink")?, "--logs-vector-cron-sink");
    let gcron = redact(
        get("--global", "vector-cron-sink")?,
        "--logs-global-vector-cron-sink",
    );
    let galias = get("--global", "app-label-alias")?;
    let gsize = get("--global", "max-size")?;
    let gimage = get("--global", "vector-image")?;
    let gnets = get("--global", "vector-networks")?;
    let mut v = vec![
        (
            "logs-computed-app-label-alias".to_string(),
            first(
                first(own("app-label-alias")?, galias.clone()),
                crate::cmd::vector::APP_LABEL.into(),
            ),
        ),
        (
            "logs-computed-max-size".into(),
            first(first(own("max-size")?, gsize.clone()), "10m".into()),
        ),
        (
            "logs-computed-vector-cron-sink".into(),
            first(cron.clone(), gcron.clone()),
        ),
        (
            "logs-computed-vector-image".into(),
            first(gimage.clone(), VECTOR_IMAGE.into()),
        ),
        ("logs-computed-vector-networks".into(), gnets.clone()),
        (
            "logs-computed-vector-sink".into(),
            first(sink.clone(), gsink.clone()),
        ),
        ("logs-global-app-label-alias".into(), galias),
        ("logs-global-max-size".into(), gsize),
        ("logs-global-vector-cron-sink".into(), gcron),
        ("logs-global-vector-image".into(), gimage),
        ("logs-global-vector-networks".into(), gnets),
        ("logs-global-vector-sink".into(), gsink),
    ];
    if !global {
        v.push(("logs-app-label-alias".into(), own("app-label-alias")?));
        v.push(("logs-max-size".into(), own("max-size")?));
        v.push(("logs-vector-cron-sink".into(), cron));
        v.push(("logs-vector-sink".into(), sink));
    }
    Ok(crate::store::rows(v))
}
