//! `docker-options:*` and `resource:*` (dokku-cli.json: phases `build,deploy,run`, pflag
//! `SetInterspersed(false)` so `--process` comes before `<app>`, the option is the rest joined
//! with spaces; resource limits per process type, `clear` clears one resource).

use crate::args::{parse, Spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::store::{rows, Report, Row};

const PHASES: &[&str] = &["build", "deploy", "run"];

fn opt_path(ctx: &Ctx, app: &str, phase: &str) -> std::path::PathBuf {
    ctx.paths.lib.join("config/docker-options").join(app).join(format!("DOCKER_OPTIONS_{}", phase.to_uppercase()))
}

/// Options of an app for a phase.
pub fn options(ctx: &Ctx, app: &str, phase: &str) -> Res<Vec<String>> {
    ctx.read_lines(&opt_path(ctx, app, phase))
}

/// Add an option to phases (used by datastore links too); no output.
pub fn add_option(ctx: &Ctx, app: &str, phases: &[&str], opt: &str) -> Res {
    for ph in phases {
        let mut v = options(ctx, app, ph)?;
        if !v.iter().any(|o| o == opt) {
            v.push(opt.to_string());
            ctx.write_lines(&opt_path(ctx, app, ph), &v)?;
        }
    }
    Ok(())
}

/// Remove an option from phases; no output.
pub fn remove_option(ctx: &Ctx, app: &str, phases: &[&str], opt: &str) -> Res {
    for ph in phases {
        let mut v = options(ctx, app, ph)?;
        v.retain(|o| o != opt);
        ctx.write_lines(&opt_path(ctx, app, ph), &v)?;
    }
    Ok(())
}

fn parse_phases(s: &str) -> Res<Vec<String>> {
    let v: Vec<String> = s.split(',').map(str::to_string).collect();
    for p in &v {
        if !PHASES.contains(&p.as_str()) {
            return fail(format!("Phase must be one of [{}]", PHASES.join(" ")));
        }
    }
    Ok(v)
}

/// Dispatch `docker-options:<sub>`.
pub fn docker_options(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return Report { plugin: "docker-options", kind: "docker-options", legacy: true }.run(ctx, args, &report_rows, &|_| Ok(Vec::new()));
    }
    let interspersed = sub == "list";
    let p = parse(args, &Spec { values: &["--process", "--phase"], bools: &[], aliases: &[], stop_at_positional: !interspersed, lenient: false })?;
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let procs = p.all("--process");
    let scoped = |ph: &str, o: &str| if procs.is_empty() || ph != "deploy" { o.to_string() } else { format!("{o} # process={}", procs.join(",")) };
    match sub {
        "add" | "remove" => {
            let phases = parse_phases(&p.arg(1))?;
            let opt = p.pos.iter().skip(2).cloned().collect::<Vec<_>>().join(" ");
            if opt.is_empty() {
                return fail("Please specify docker options");
            }
            if !procs.is_empty() && phases.iter().any(|ph| ph != "deploy") {
                return fail("The --process flag is only valid for the deploy phase");
            }
            for ph in &phases {
                let o = scoped(ph, &opt);
                if sub == "add" {
                    add_option(ctx, &app, &[ph], &o)?;
                } else {
                    remove_option(ctx, &app, &[ph], &o)?;
                }
            }
            Ok(())
        }
        "clear" => {
            let phases = if p.pos.len() > 1 { parse_phases(&p.arg(1))? } else { PHASES.iter().map(|s| (*s).to_string()).collect() };
            for ph in phases {
                ctx.info1(format!("Clearing docker-options for {app} on phase {ph}"));
                ctx.write_lines(&opt_path(ctx, &app, &ph), &[])?;
            }
            Ok(())
        }
        "list" => {
            let Some(ph) = p.get("--phase") else { return fail("Please specify a phase with --phase") };
            parse_phases(ph)?;
            for o in options(ctx, &app, ph)? {
                ctx.out(o);
            }
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    Ok(rows(
        PHASES.iter().map(|ph| Ok((format!("docker-options-{ph}"), options(ctx, app, ph)?.join(" ")))).collect::<Res<Vec<_>>>()?,
    ))
}

const RESOURCES: &[&str] = &["cpu", "memory", "memory-swap", "network", "network-ingress", "network-egress", "nvidia-gpu"];

/// Dispatch `resource:<sub>`.
pub fn resource(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return Report { plugin: "resource", kind: "resource", legacy: true }.run(ctx, args, &resource_rows, &|_| Ok(Vec::new()));
    }
    let values: Vec<String> = std::iter::once("--process-type".to_string()).chain(RESOURCES.iter().map(|r| format!("--{r}"))).collect();
    let vref: Vec<&str> = values.iter().map(String::as_str).collect();
    let p = parse(args, &Spec { values: &vref, bools: &[], aliases: &[], stop_at_positional: false, lenient: false })?;
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let given_proc = p.get("--process-type").unwrap_or("").to_string();
    let (kind, clear) = match sub {
        "limit" => ("limit", false),
        "reserve" => ("reserve", false),
        "limit-clear" => ("limit", true),
        "reserve-clear" => ("reserve", true),
        _ => return Err(Fail::Silent(255)),
    };
    let noun = if kind == "reserve" { "reservation" } else { "limits" };
    // Messages and storage follow plugins/resource/functions.go; keys are `<proc>.<type>.<resource>`.
    if clear {
        let mut msg = format!("clearing {app} {noun}");
        if !given_proc.is_empty() && given_proc != "_default_" {
            msg = format!("{msg} ({given_proc})");
        }
        ctx.info2(msg);
        if given_proc.is_empty() {
            // No --process-type: every resource property of the app goes (limits and reservations).
            return crate::ctx::remove_any(&ctx.paths.lib.join("config/resource").join(&app));
        }
        for r in RESOURCES {
            ctx.unset_prop("resource", &app, &format!("{given_proc}.{kind}.{r}"))?;
        }
        return Ok(());
    }
    let proc = if given_proc.is_empty() { "_default_".to_string() } else { given_proc };
    let given: Vec<(&str, String)> = RESOURCES.iter().filter_map(|r| p.get(&format!("--{r}")).map(|v| (*r, v.to_string()))).collect();
    if given.is_empty() {
        let head = format!("resource {noun} {app} information");
        ctx.info2(if proc == "_default_" { format!("{head} [defaults]") } else { format!("{head} ({proc})") });
        for r in RESOURCES {
            ctx.verbose(format!("{r}: {}", ctx.prop_or("resource", &app, &format!("{proc}.{kind}.{r}"))?));
        }
        return Ok(());
    }
    let mut msg = format!("Setting resource {noun} for {app}");
    if proc != "_default_" {
        msg = format!("{msg} ({proc})");
    }
    ctx.info2(msg);
    for (r, v) in given {
        let key = format!("{proc}.{kind}.{r}");
        if v == "clear" {
            ctx.verbose(format!("{r}: cleared"));
            ctx.unset_prop("resource", &app, &key)?;
        } else {
            ctx.verbose(format!("{r}: {v}"));
            ctx.set_prop("resource", &app, &key, &v)?;
        }
    }
    Ok(())
}

fn resource_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let mut v = Vec::new();
    let dir = ctx.paths.lib.join("config/resource").join(app);
    let mut keys: Vec<String> = std::fs::read_dir(&dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect()).unwrap_or_default();
    keys.retain(|k| !k.starts_with('.'));
    keys.sort();
    for k in keys {
        v.push((format!("resource-{k}"), ctx.prop_or("resource", app, &k)?));
    }
    Ok(rows(v))
}
