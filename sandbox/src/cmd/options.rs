//! `docker-options:*` and `resource:*` (dokku-cli.json: phases `build,deploy,run`, pflag
//! `SetInterspersed(false)` so `--process` comes before `<app>`, the option is the rest joined
//! with spaces; resource limits per process type, `clear` clears one resource).

use std::collections::BTreeMap;

use crate::args::{parse, Spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::store::{rows, Report, Row};

const PHASES: &[&str] = &["build", "deploy", "run"];
const DEFAULT_PROC: &str = "_default_";

/// `config/docker-options/<app>/<proc>.<phase>`, one option per line (plugins/docker-options
/// `propertyKey`, `PropertyListGet`).
fn opt_path(ctx: &Ctx, app: &str, proc: &str, phase: &str) -> std::path::PathBuf {
    ctx.paths
        .prop_path("docker-options", app, &format!("{proc}.{phase}"))
}

fn read_opts(ctx: &Ctx, app: &str, proc: &str, phase: &str) -> Res<Vec<String>> {
    Ok(ctx
        .read_lines(&opt_path(ctx, app, proc, phase))?
        .into_iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Options of an app's default scope for a phase.
pub fn options(ctx: &Ctx, app: &str, phase: &str) -> Res<Vec<String>> {
    read_opts(ctx, app, DEFAULT_PROC, phase)
}

/// Options of an app's process-type scope for a phase (none for the default scope).
pub fn options_for_process(ctx: &Ctx, app: &str, proc: &str, phase: &str) -> Res<Vec<String>> {
    if proc.is_empty() || proc == DEFAULT_PROC {
        return Ok(Vec::new());
    }
    read_opts(ctx, app, proc, phase)
}

/// Add an option to phases of the default scope unless present (datastore links); no output.
pub fn add_option(ctx: &Ctx, app: &str, phases: &[&str], opt: &str) -> Res {
    for ph in phases {
        let mut v = options(ctx, app, ph)?;
        if !v.iter().any(|o| o == opt) {
            v.push(opt.to_string());
            v.sort();
            ctx.write_lines(&opt_path(ctx, app, DEFAULT_PROC, ph), &v)?;
        }
    }
    Ok(())
}

/// Remove an option from phases of the default scope; no output.
pub fn remove_option(ctx: &Ctx, app: &str, phases: &[&str], opt: &str) -> Res {
    for ph in phases {
        let mut v = options(ctx, app, ph)?;
        v.retain(|o| o != opt);
        ctx.write_lines(&opt_path(ctx, app, DEFAULT_PROC, ph), &v)?;
    }
    Ok(())
}

/// Shell words without expansion, as `literalFields` (mvdan.cc/sh `WordsSeq`) reads them:
/// quotes group and are removed, a backslash escapes, `$(…)`, `${…}`, `$NAME` and backticks
/// stay verbatim (spaces inside included), an unquoted `#` at the start of a word begins a
/// comment, and an operator (`;`, `|`, `&`, `<`, `>`, `(`, `)`) is a parse error.
fn shell_words(input: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => {
                // A comment: the rest of the line is not part of any word.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            ';' | '|' | '&' | '<' | '>' | '(' | ')' => {
                return Err(format!("unexpected shell operator `{c}`"));
            }
            '$' if matches!(chars.peek(), Some('(') | Some('{')) => {
                in_word = true;
                let open = chars.next().unwrap_or('(');
                let close = if open == '(' { ')' } else { '}' };
                cur.push('$');
                cur.push(open);
                let mut depth = 1;
                loop {
                    match chars.next() {
                        Some(n) if n == open => {
                            depth += 1;
                            cur.push(n);
                        }
                        Some(n) if n == close => {
                            cur.push(n);
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(n) => cur.push(n),
                        None => {
                            return Err(format!("reached EOF without matching {open} with {close}"))
                        }
                    }
                }
            }
            '`' => {
                in_word = true;
                cur.push('`');
                loop {
                    match chars.next() {
                        Some('`') => {
                            cur.push('`');
                            break;
                        }
                        Some(n) => cur.push(n),
                        None => return Err("reached EOF without closing quote `".into()),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("reached EOF without closing quote '".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("reached EOF without closing quote \"".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("reached EOF without closing quote \"".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    in_word = true;
                    cur.push(n);
                }
                None => {}
            },
            ch => {
                in_word = true;
                cur.push(ch);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `quoteShellArg`: single-quote tokens holding shell-special characters.
fn quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .any(|c| " \t\n\"'$`\\*?[]<>|&;(){}!#~".contains(c))
    {
        format!("'{}'", s.replace('\'', "'\\''"))
    } else {
        s.to_string()
    }
}

/// `SplitOptionString`: tokenize, group on flag boundaries (a token longer than one character
/// starting with `-`), re-serialize each group, and lift `--process` groups out.
fn split_options(input: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let words = shell_words(input).map_err(|e| format!("Unable to parse docker option: {e}"))?;
    let mut groups: Vec<Vec<String>> = Vec::new();
    for w in words {
        if (w.len() > 1 && w.starts_with('-')) || groups.is_empty() {
            groups.push(vec![w]);
        } else if let Some(g) = groups.last_mut() {
            g.push(w);
        }
    }
    let (mut opts, mut procs) = (Vec::new(), Vec::new());
    for g in groups {
        if g[0] == "--process" {
            match g.len() {
                1 => return Err("--process requires a value".into()),
                2 => procs.push(g[1].clone()),
                n => return Err(format!("--process accepts a single value, got {}", n - 1)),
            }
        } else if let Some(v) = g[0].strip_prefix("--process=") {
            if g.len() > 1 {
                return Err("--process=value cannot be followed by additional tokens".into());
            }
            procs.push(v.to_string());
        } else {
            opts.push(g.iter().map(|t| quote(t)).collect::<Vec<_>>().join(" "));
        }
    }
    Ok((opts, procs))
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

fn validate_processes(procs: &[String], phases: &[String]) -> Res {
    if procs.is_empty() {
        return Ok(());
    }
    if procs.iter().any(|p| p == DEFAULT_PROC) {
        return fail(format!(
            "\"{DEFAULT_PROC}\" is reserved and cannot be used as a --process value"
        ));
    }
    match phases.iter().find(|p| *p != "deploy") {
        Some(p) => fail(format!(
            "--process is only supported for the deploy phase, got \"{p}\""
        )),
        None => Ok(()),
    }
}

fn processes_with_options(ctx: &Ctx, app: &str) -> Vec<String> {
    let dir = ctx.paths.lib.join("config/docker-options").join(app);
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_suffix(".deploy")
                        .map(str::to_string)
                })
                .filter(|p| p != DEFAULT_PROC && !p.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Dispatch `docker-options:<sub>` (plugins/docker-options functions.go, report.go).
pub fn docker_options(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return docker_options_report(ctx, args);
    }
    let interspersed = sub == "list";
    let p = parse(
        args,
        &Spec {
            values: &["--process", "--phase"],
            bools: &[],
            aliases: &[],
            stop_at_positional: !interspersed,
            lenient: false,
        },
    )?;
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let mut procs = p.all("--process");
    match sub {
        "add" | "remove" => {
            let phases = parse_phases(&p.arg(1))?;
            let raw = p.pos.iter().skip(2).cloned().collect::<Vec<_>>().join(" ");
            let (opts, lifted) = match split_options(&raw) {
                Ok(x) => x,
                Err(e) => return fail(e),
            };
            if opts.is_empty() {
                return fail(if sub == "add" {
                    "Please specify docker options to add to the phase"
                } else {
                    "Please specify docker options to remove from the phase"
                });
            }
            for l in lifted {
                if !procs.contains(&l) {
                    procs.push(l);
                }
            }
            validate_processes(&procs, &phases)?;
            if sub == "add" {
                // plugins/docker-options `WarnIfProcessNotInProcfile`: only when the app has a
                // Procfile, a warning and no failure.
                let st = crate::deploy::load(ctx, &app)?;
                if !st.procfile.is_empty() {
                    for proc in procs.iter().filter(|p| !st.procfile.contains_key(*p)) {
                        ctx.warn(format!(
                            "Process type {proc:?} is not declared in the Procfile for {app}"
                        ));
                    }
                }
            }
            let scopes = if procs.is_empty() {
                vec![DEFAULT_PROC.to_string()]
            } else {
                procs
            };
            for scope in &scopes {
                for ph in &phases {
                    let mut v = read_opts(ctx, &app, scope, ph)?;
                    for o in &opts {
                        if sub == "add" {
                            v.push(o.clone());
                        } else {
                            v.retain(|x| x != o);
                        }
                    }
                    v.sort();
                    ctx.write_lines(&opt_path(ctx, &app, scope, ph), &v)?;
                }
            }
            Ok(())
        }
        "clear" => {
            let phase_arg = p.pos.get(1).cloned().unwrap_or_default();
            if procs.is_empty() {
                if phase_arg.is_empty() {
                    ctx.info1(format!("Clearing docker-options for {app} on all phases"));
                    for ph in PHASES {
                        crate::ctx::remove_any(&opt_path(ctx, &app, DEFAULT_PROC, ph))?;
                    }
                    return Ok(());
                }
                for ph in parse_phases(&phase_arg)? {
                    ctx.info1(format!("Clearing docker-options for {app} on phase {ph}"));
                    crate::ctx::remove_any(&opt_path(ctx, &app, DEFAULT_PROC, &ph))?;
                }
                return Ok(());
            }
            let phases = if phase_arg.is_empty() {
                vec!["deploy".to_string()]
            } else {
                parse_phases(&phase_arg)?
            };
            validate_processes(&procs, &phases)?;
            for proc in &procs {
                for ph in &phases {
                    ctx.info1(format!(
                        "Clearing docker-options for {app} on phase {ph} for process {proc}"
                    ));
                    crate::ctx::remove_any(&opt_path(ctx, &app, proc, ph))?;
                }
            }
            Ok(())
        }
        "list" => {
            let Some(ph) = p.get("--phase") else {
                return fail("--phase is required");
            };
            if !PHASES.contains(&ph) {
                return fail(format!("Phase must be one of [{}]", PHASES.join(" ")));
            }
            let proc = p.get("--process").unwrap_or("").to_string();
            if !proc.is_empty() {
                validate_processes(std::slice::from_ref(&proc), &[ph.to_string()])?;
            }
            let scope = if proc.is_empty() {
                DEFAULT_PROC.to_string()
            } else {
                proc
            };
            for o in read_opts(ctx, &app, &scope, ph)? {
                ctx.out(o);
            }
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let mut v: Vec<(String, String)> = PHASES
        .iter()
        .map(|ph| {
            Ok((
                format!("docker-options-{ph}"),
                options(ctx, app, ph)?.join(" "),
            ))
        })
        .collect::<Res<Vec<_>>>()?;
    for proc in processes_with_options(ctx, app) {
        v.push((
            format!("docker-options-deploy.{proc}"),
            read_opts(ctx, app, &proc, "deploy")?.join(" "),
        ));
    }
    Ok(rows(v))
}

/// The report: string keys as `ReportSingleApp`, and in JSON also `<phase>-list` arrays
/// (`buildJSONReportData`).
fn docker_options_report(ctx: &mut Ctx, args: &[String]) -> Res {
    let json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    let app = args
        .iter()
        .find(|a| !a.starts_with("--") && *a != "json" && *a != "stdout")
        .cloned();
    let info = args
        .iter()
        .any(|a| a.starts_with("--") && !a.starts_with("--format") && a != "--global");
    if !json || info || app.is_none() {
        return Report {
            plugin: "docker-options",
            kind: "docker-options",
            legacy: true,
        }
        .run(ctx, args, &report_rows, &|_| Ok(Vec::new()));
    }
    let app = app.unwrap_or_default();
    ctx.verify_app(&app)?;
    let mut data = serde_json::Map::new();
    for r in report_rows(ctx, &app)? {
        let short = r.flag.trim_start_matches("docker-options-").to_string();
        data.insert(short, serde_json::Value::String(r.value.clone()));
        data.insert(r.flag, serde_json::Value::String(r.value));
    }
    for ph in PHASES {
        data.insert(
            format!("{ph}-list"),
            serde_json::json!(options(ctx, &app, ph)?),
        );
    }
    for proc in processes_with_options(ctx, &app) {
        data.insert(
            format!("deploy.{proc}-list"),
            serde_json::json!(read_opts(ctx, &app, &proc, "deploy")?),
        );
    }
    ctx.out(serde_json::Value::Object(data).to_string());
    Ok(())
}

const RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "memory-swap",
    "network",
    "network-ingress",
    "network-egress",
    "nvidia-gpu",
];

/// Dispatch `resource:<sub>`.
pub fn resource(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return Report {
            plugin: "resource",
            kind: "resource",
            legacy: true,
        }
        .run(ctx, args, &resource_rows, &|_| Ok(Vec::new()));
    }
    let values: Vec<String> = std::iter::once("--process-type".to_string())
        .chain(RESOURCES.iter().map(|r| format!("--{r}")))
        .collect();
    let vref: Vec<&str> = values.iter().map(String::as_str).collect();
    let p = parse(
        args,
        &Spec {
            values: &vref,
            bools: &[],
            aliases: &[],
            stop_at_positional: false,
            lenient: false,
        },
    )?;
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
    let noun = if kind == "reserve" {
        "reservation"
    } else {
        "limits"
    };
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
    let proc = if given_proc.is_empty() {
        "_default_".to_string()
    } else {
        given_proc
    };
    let given: Vec<(&str, String)> = RESOURCES
        .iter()
        .filter_map(|r| p.get(&format!("--{r}")).map(|v| (*r, v.to_string())))
        .collect();
    if given.is_empty() {
        let head = format!("resource {noun} {app} information");
        ctx.info2(if proc == "_default_" {
            format!("{head} [defaults]")
        } else {
            format!("{head} ({proc})")
        });
        for r in RESOURCES {
            ctx.verbose(format!(
                "{r}: {}",
                ctx.prop_or("resource", &app, &format!("{proc}.{kind}.{r}"))?
            ));
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
    let mut keys: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    keys.retain(|k| !k.starts_with('.'));
    keys.sort();
    for k in keys {
        v.push((format!("resource-{k}"), ctx.prop_or("resource", app, &k)?));
    }
    Ok(rows(v))
}

/// What the docker-options triggers print for one scope and phase (plugins/docker-options
/// triggers.go `emitFilteredOptions`): each stored option trimmed, blank and `#` lines
/// skipped, `--restart` only in the deploy phase, and for images built from a Dockerfile
/// (nixpacks, railpack) no `--link`/`-v`/`--volume`; each option after one space.
fn emitted(ctx: &Ctx, app: &str, scope: &str, phase: &str, source_type: &str) -> Res<String> {
    let has_prefix = |o: &str, prefixes: &[&str]| {
        prefixes
            .iter()
            .any(|p| o == *p || o.starts_with(&format!("{p}=")) || o.starts_with(&format!("{p} ")))
    };
    let mut out = String::new();
    for o in read_opts(ctx, app, scope, phase)? {
        if o.is_empty() || o.starts_with('#') {
            continue;
        }
        let skip = if o.starts_with("--restart") {
            phase != "deploy"
        } else {
            match source_type {
                "dockerfile" | "nixpacks" | "railpack" => {
                    has_prefix(&o, &["--link", "-v", "--volume"])
                }
                "herokuish" => has_prefix(&o, &["--file", "--build-args"]),
                _ => false,
            }
        };
        if !skip {
            out.push(' ');
            out.push_str(&o);
        }
    }
    Ok(out)
}

/// The resource plugin's `docker-args-process-deploy` (plugins/resource triggers.go): limits
/// of the default scope then the process (`--cpus=`, `--memory=`, `--memory-swap=`, `--gpus=`,
/// a bare memory number gets `m`) and memory reservations, each printed ` --<key>=<value> `.
/// Go's map order is random; the sandbox sorts.
fn resource_args(ctx: &Ctx, app: &str, proc: &str) -> Res<String> {
    let mut limits: BTreeMap<String, String> = BTreeMap::new();
    let mut reservations: BTreeMap<String, String> = BTreeMap::new();
    for scope in [DEFAULT_PROC, proc] {
        for r in ["cpu", "nvidia-gpu", "memory", "memory-swap"] {
            let v = ctx.prop_or("resource", app, &format!("{scope}.limit.{r}"))?;
            if !v.is_empty() {
                let key = match r {
                    "cpu" => "cpus",
                    "nvidia-gpu" => "gpus",
                    other => other,
                };
                limits.insert(key.to_string(), v);
            }
        }
        let v = ctx.prop_or("resource", app, &format!("{scope}.reserve.memory"))?;
        if !v.is_empty() {
            reservations.insert("memory".to_string(), v);
        }
    }
    let suffix = |k: &str, v: &str| {
        if k.starts_with("memory") && v.chars().all(|c| c.is_ascii_digit()) {
            format!("{v}m")
        } else {
            v.to_string()
        }
    };
    let mut out = String::new();
    for (k, v) in &limits {
        out.push_str(&format!(" --{k}={} ", suffix(k, v)));
    }
    for (k, v) in &reservations {
        out.push_str(&format!(" --{k}-reservation={} ", suffix(k, v)));
    }
    Ok(out)
}

/// `fn-docker-args-split` (plugins/common/functions): `printf "%s" "$DOCKER_ARGS" | xargs -r
/// printf "%s\0"`. GNU xargs' default word splitting: blanks and newlines separate words,
/// single and double quotes group (a newline inside quotes is an error; no escapes inside),
/// a backslash outside quotes takes the next character literally. Nothing is expanded.
pub fn xargs_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\n') | None => {
                            let kind = if c == '"' { "double" } else { "single" };
                            return Err(format!(
                                "xargs: unmatched {kind} quote; by default quotes are special to xargs unless you use the -0 option"
                            ));
                        }
                        Some(x) => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// The `docker container create` arguments of one container, built the way
/// plugins/scheduler-docker-local `scheduler-deploy-process-container` builds `DOCKER_ARGS`:
/// the default-scope deploy options (`docker-args-deploy`, called with the image tag where
/// the trigger expects the source type, so nothing is filtered), Dokku's labels, `DYNO` and
/// name, the process-scope options and resource limits (`docker-args-process-deploy`) and
/// the image (the sandbox leaves out `PORT` and the start command); then the whole string
/// split by `xargs`.
pub fn deploy_args(
    ctx: &Ctx,
    app: &str,
    proc: &str,
    index: u32,
    image: &str,
    source_type: &str,
) -> Res<Result<Vec<String>, String>> {
    let dyno = format!("{proc}.{index}");
    let mut s = emitted(ctx, app, DEFAULT_PROC, "deploy", "latest")?;
    s.push_str(&format!(
        " --label=com.dokku.process-type={proc} --label=com.dokku.dyno={dyno}"
    ));
    s.push_str(&format!(" --env=DYNO={dyno}"));
    s.push_str(&format!(" --name={app}.{dyno}.upcoming"));
    s.push(' ');
    if proc != DEFAULT_PROC {
        s.push_str(&emitted(ctx, app, proc, "deploy", source_type)?);
    }
    s.push_str(&resource_args(ctx, app, proc)?);
    s.push_str(&format!(" {image}"));
    Ok(xargs_split(&s))
}

/// The docker-options part of one container's `docker container create` arguments, as
/// scheduler-docker-local joins it: the default scope of `phase` (`docker-args-deploy` or
/// `docker-args-run`, given the image tag as source type, so unfiltered), then for a deploy
/// the process type's scope filtered as a Dockerfile source (`docker-args-process-deploy`),
/// then the resource plugin's limits of the process type (the same trigger; `run` containers
/// take the `run` scope over the default one); split by `xargs` like the whole `DOCKER_ARGS`.
pub fn container_option_args(
    ctx: &Ctx,
    app: &str,
    proc: &str,
    phase: &str,
) -> Res<Result<Vec<String>, String>> {
    let mut s = emitted(ctx, app, DEFAULT_PROC, phase, "latest")?;
    if phase == "deploy" && proc != DEFAULT_PROC {
        s.push(' ');
        s.push_str(&emitted(ctx, app, proc, "deploy", "dockerfile")?);
    }
    s.push_str(&resource_args(ctx, app, proc)?);
    Ok(xargs_split(&s))
}

/// The `docker build` arguments of a Dockerfile build (plugins/builder-dockerfile
/// `builder-build`): the build-phase options (`docker-args-build` with the builder type, so
/// `-v`/`--link` are dropped) split by `xargs`.
pub fn build_args(ctx: &Ctx, app: &str, builder: &str) -> Res<Result<Vec<String>, String>> {
    Ok(xargs_split(&emitted(
        ctx,
        app,
        DEFAULT_PROC,
        "build",
        builder,
    )?))
}
