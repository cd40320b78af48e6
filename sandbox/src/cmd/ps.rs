//! `ps:*` and `deploy` (dokku-cli.json `ps:*`; dokku-facts.md §b "`ps:restart` and `ps:scale`",
//! "`ps:start`", "`ps:stop`", "`ps:rebuild <app>`").

use crate::args::{parse, spec};
use crate::cmd::props;
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::deploy::{self, DeployLock};
use crate::store::{rows, Report, Row};

fn apps_arg(ctx: &Ctx, p: &crate::args::Parsed) -> Res<Vec<String>> {
    if p.has("--all") {
        return ctx.apps();
    }
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    Ok(vec![app])
}

/// Dispatch `ps:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "report" => Report {
            plugin: "ps",
            kind: "ps",
            legacy: true,
        }
        .run(ctx, args, &report_rows, &|c| {
            props::global_rows(c, props::find("ps").expect("ps table"))
        }),
        "set" => props::set(ctx, props::find("ps").expect("ps table"), args),
        "scale" => scale(ctx, args),
        "start" | "stop" | "restart" | "rebuild" | "restore" => {
            let p = parse(args, &spec(&["--parallel"], &["--all"]))?;
            for app in apps_arg(ctx, &p)? {
                let st = deploy::load(ctx, &app)?;
                match sub {
                    "stop" => {
                        if !st.deployed {
                            ctx.warn(format!("App {app} has not been deployed"));
                            continue;
                        }
                        ctx.info1(format!("Stopping {app}"));
                        deploy::stop(ctx, &app)?;
                    }
                    "rebuild" => rebuild(ctx, &app)?,
                    _ => {
                        if !st.deployed {
                            ctx.warn(format!("App {app} has not been deployed"));
                            continue;
                        }
                        if sub == "restore"
                            && ctx.prop_computed("ps", &app, "restore", "true")? == "false"
                        {
                            continue;
                        }
                        if sub == "start" {
                            // `Start` (plugins/ps/ps.go): pre-start, then release unless already running.
                            let t =
                                crate::plugins::trigger(ctx, "pre-start", &[&app], false, false)?;
                            if t.code != 0 {
                                return fail(format!(
                                    "Failure in pre-start hook: exit status {}",
                                    t.code
                                ));
                            }
                            let up = st
                                .containers
                                .iter()
                                .filter(|c| c.state == "running")
                                .count();
                            if st.running && up == st.containers.len() && up > 0 {
                                ctx.warn(format!("App {app} already running"));
                                continue;
                            }
                            ctx.warn(if st.running && up > 0 {
                                "App is running in mixed mode, releasing"
                            } else {
                                "App has been detected as not running, releasing"
                            });
                            let lock = DeployLock::acquire(ctx, &app)?;
                            let r = deploy::release_and_deploy(ctx, &app);
                            lock.release();
                            r?;
                        } else {
                            let lock = DeployLock::acquire(ctx, &app)?;
                            let r = deploy::deploy_containers(ctx, &app);
                            lock.release();
                            r?;
                        }
                    }
                }
            }
            Ok(())
        }
        "inspect" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            let mut st = deploy::load(ctx, &app)?;
            crate::docker::live_states(ctx, &mut st);
            ctx.out(serde_json::to_string_pretty(&st.containers).unwrap_or_default());
            Ok(())
        }
        "retire" => Ok(()),
        _ => Err(Fail::Silent(255)),
    }
}

/// `ps:rebuild`: the git build chain from the deploy branch head, no `deploy-source-set`.
pub fn rebuild(ctx: &mut Ctx, app: &str) -> Res {
    let repo = ctx.paths.app_dir(app);
    if !repo.join("refs").is_dir() {
        return Ok(());
    }
    crate::plugins::trigger(ctx, "receive-app", &[app], false, false)?;
    let st = deploy::load(ctx, app)?;
    if !st.rev.is_empty() && crate::cmd::git::is_image_source(ctx, app)? {
        return deploy::build_chain(ctx, app, &st.rev.clone(), deploy::Source::Rebuild);
    }
    let branch = crate::cmd::git::deploy_branch(ctx, app)?;
    match crate::cmd::git::rev_parse(ctx, app, &format!("refs/heads/{branch}")) {
        Some(rev) => deploy::build_chain(ctx, app, &rev, deploy::Source::Rebuild),
        None => {
            // plugins/git `functions` `git_receive_app`: echoed whatever the quiet flag.
            println!(
                "\x1b[1G\x1b[K-----> WARNING: Cannot build from '{branch}' as there are no commits stored at that branch."
            );
            Err(Fail::Silent(1))
        }
    }
}

fn scale(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&["--format"], &["--skip-deploy"]))?;
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let st = deploy::load(ctx, &app)?;
    let mut sc = deploy::scale(ctx, &app, &st)?;
    let tuples: Vec<String> = p.pos.iter().skip(1).cloned().collect();
    if tuples.is_empty() {
        if p.get("--format") == Some("json") {
            let v: Vec<serde_json::Value> = sc
                .iter()
                .map(|(k, n)| serde_json::json!({"process_type": k, "quantity": n}))
                .collect();
            ctx.out(serde_json::to_string(&v).unwrap_or_default());
        } else {
            // `scaleReport` (plugins/ps/functions.go): `RightPad("<k>:", 5)` then the value.
            ctx.info1(format!("Scaling for {app}"));
            let mut lines: Vec<(String, String)> = Vec::new();
            if !ctx.globals.quiet {
                lines.push(("proctype".into(), "qty".into()));
                lines.push(("--------".into(), "---".into()));
            }
            lines.extend(sc.iter().map(|(k, n)| (k.clone(), n.to_string())));
            for (k, v) in lines {
                ctx.out(format!("{:<5} {v}", format!("{k}:")));
            }
        }
        return Ok(());
    }
    for t in &tuples {
        let (k, v) = t.split_once('=').unwrap_or((t, ""));
        if !t.contains('=') {
            return fail(format!("Missing count for process type {k}"));
        }
        let Ok(n) = v.trim().parse::<u32>() else {
            return fail(format!("Invalid count for process type {k}"));
        };
        // `updateScale` (plugins/ps/functions.go): with a Procfile, only its process types
        // may be scaled above zero, with or without --skip-deploy.
        if !st.procfile.is_empty() && !st.procfile.contains_key(k) && n != 0 {
            return fail(format!("{k} is not a valid process name to scale up"));
        }
        sc.insert(k.to_string(), n);
    }
    ctx.info1(format!("Scaling {app} processes: {}", tuples.join(" ")));
    deploy::write_scale(ctx, &app, &sc)?;
    if st.deployed && !p.has("--skip-deploy") {
        let lock = DeployLock::acquire(ctx, &app)?;
        let r = deploy::deploy_containers(ctx, &app);
        lock.release();
        r?;
    }
    Ok(())
}

/// `deploy <app> [<tag>]`: scheduler deploy only.
pub fn deploy_cmd(ctx: &mut Ctx, args: &[String]) -> Res {
    let app = args.first().cloned().unwrap_or_default();
    ctx.verify_app(&app)?;
    let lock = DeployLock::acquire(ctx, &app)?;
    let r = deploy::deploy_containers(ctx, &app);
    lock.release();
    r
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let mut st = deploy::load(ctx, app)?;
    crate::docker::live_states(ctx, &mut st);
    // `scheduler-app-status`: true when every container runs, mixed when some do.
    let up = st
        .containers
        .iter()
        .filter(|c| c.state == "running")
        .count();
    let running = match (st.running, up) {
        (false, _) | (_, 0) => "false",
        _ if up == st.containers.len() => "true",
        _ => "mixed",
    };
    // On k3s the status comes from the app's Deployments (`TriggerSchedulerAppStatus`).
    let (processes, running) =
        if ctx.prop_computed("scheduler", app, "selected", "docker-local")? == "k3s" {
            crate::k3s::app_status(ctx, app)?
        } else {
            (st.containers.len(), running)
        };
    let mut v = vec![
        ("deployed".to_string(), st.deployed.to_string()),
        ("processes".to_string(), processes.to_string()),
        ("running".to_string(), running.to_string()),
        (
            "restore".to_string(),
            Some(ctx.prop_or("ps", app, "restore")?)
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "true".into()),
        ),
    ];
    // `--status-<proc>.<n>`: `<docker state> (CID: <11 chars>)` (plugins/ps/report.go).
    for c in &st.containers {
        let short = &c.id[..c.id.len().min(11)];
        v.push((
            format!("status-{}.{}", c.proc, c.index),
            format!("{} (CID: {short})", c.state),
        ));
    }
    let mut r = rows(v);
    r.extend(props::prop_rows(
        ctx,
        props::find("ps").expect("ps table"),
        app,
    )?);
    r.push(Row {
        flag: "ps-can-scale".into(),
        value: "true".into(),
    });
    Ok(r)
}
