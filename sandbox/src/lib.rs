//! dokku-sandbox: a strict, stateful stand-in for Dokku >= 0.38 (issue #3), used by
//! dokku-compose's end-to-end tests, benchmarks and demos. The plugin never depends on it.
//!
//! One invocation: resolve the sandbox root, strip global flags, count and log the call, apply
//! fault rules and latency, then dispatch to a built-in handler (`cmd`) or to installed plugins
//! (`plugins`), exactly in the order dokku-facts.md §a "Command dispatch" gives.

pub mod args;
pub mod cmd;
pub mod ctx;
pub mod datastore;
pub mod deploy;
pub mod docker;
pub mod harness;
pub mod k3s;
pub mod k3s_kustomize;
pub mod kube;
pub mod kubectl;
pub mod plugins;
pub mod proxy;
pub mod store;

use std::process::ExitCode;

use ctx::{Ctx, Fail, Globals, Paths};

/// Entry point of the `dokku` binary (also answers to `plugn trigger ...` when invoked as `plugn`).
pub fn main(argv: Vec<String>) -> ExitCode {
    let prog = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let mut rest: Vec<String> = argv.into_iter().skip(1).collect();
    // The kubectl stand-in (docs/k3s-discovery.md "The sandbox's kubectl"): the binary run through a link named
    // `kubectl`.
    if prog == "kubectl" {
        return ExitCode::from(kubectl::main(rest));
    }
    if prog == "plugn" {
        // `plugn trigger <name> args…` → `dokku plugin:trigger <name> args…`.
        if rest.first().map(String::as_str) == Some("trigger") {
            rest[0] = "plugin:trigger".into();
        } else {
            eprintln!(" !     the sandbox plugn only supports `plugn trigger`");
            return ExitCode::from(1);
        }
    }
    if let Some(which @ ("sandbox:demo" | "sandbox:init")) = rest.first().map(String::as_str) {
        let demo = which == "sandbox:demo";
        // `sandbox:init [DIR] [--runtime state|docker]` (issue #16; `DOKKU_SANDBOX_RUNTIME`).
        let mut runtime = std::env::var("DOKKU_SANDBOX_RUNTIME").unwrap_or_default();
        let mut dir = None;
        let mut it = rest.iter().skip(1);
        while let Some(a) = it.next() {
            match a.strip_prefix("--runtime") {
                Some("") => runtime = it.next().cloned().unwrap_or_default(),
                Some(v) if v.starts_with('=') => runtime = v[1..].to_string(),
                _ => dir = Some(a.as_str()),
            }
        }
        return match cmd::sandbox::init(dir, demo, &runtime) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(" !     {e}");
                ExitCode::from(1)
            }
        };
    }
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!(" !     {e}");
            return ExitCode::from(1);
        }
    };
    let start = harness::now_ms();
    let t0 = std::time::Instant::now();
    let log_argv = rest.clone();
    let code = run(paths.clone(), rest);
    let end = harness::now_ms();
    let depth = std::env::var("DOKKU_SANDBOX_DEPTH")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .saturating_sub(1);
    harness::log_call(
        &paths,
        &harness::CallRecord {
            n: std::env::var("DOKKU_SANDBOX_CALL_N")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            argv: log_argv,
            exit: code,
            start: harness::rfc3339(start),
            end: harness::rfc3339(end),
            start_ms: start,
            duration_ms: t0.elapsed().as_secs_f64() * 1000.0,
            pid: std::process::id(),
            depth,
        },
    );
    ExitCode::from(code)
}

/// Split leading global flags off and scan every arg for `--quiet/--force/--trace` (§a step 1).
pub fn parse_globals(args: Vec<String>) -> (Globals, Vec<String>) {
    let mut g = Globals {
        quiet: std::env::var("DOKKU_QUIET_OUTPUT").is_ok_and(|v| !v.is_empty()),
        force: std::env::var("DOKKU_APPS_FORCE_DELETE").is_ok_and(|v| !v.is_empty()),
        trace: std::env::var("DOKKU_TRACE").is_ok_and(|v| !v.is_empty()),
        ..Globals::default()
    };
    let mut i = 0;
    while i < args.len() && args[i].starts_with("--") {
        match args[i].as_str() {
            "--app" => {
                g.app = args.get(i + 1).cloned();
                i += 1;
            }
            "--quiet" | "--force" | "--trace" => {}
            _ => {}
        }
        i += 1;
    }
    let rest: Vec<String> = args[i.min(args.len())..].to_vec();
    for a in &args {
        match a.as_str() {
            "--quiet" => g.quiet = true,
            "--force" => g.force = true,
            "--trace" => g.trace = true,
            _ => {}
        }
        if a.starts_with("--") {
            g.flags.push(a.clone());
        }
    }
    (g, rest)
}

fn export_env(paths: &Paths, g: &Globals, n: u64) {
    let set = |k: &str, v: &str| std::env::set_var(k, v);
    let lib = paths.lib.display().to_string();
    set("DOKKU_ROOT", &paths.root.display().to_string());
    set("DOKKU_HOST_ROOT", &paths.root.display().to_string());
    set("DOKKU_LIB_ROOT", &lib);
    set("DOKKU_LIB_PATH", &lib);
    set("PLUGIN_PATH", &format!("{lib}/plugins"));
    set("PLUGIN_AVAILABLE_PATH", &format!("{lib}/plugins/available"));
    set("PLUGIN_ENABLED_PATH", &format!("{lib}/plugins/enabled"));
    set("PLUGIN_CORE_PATH", &format!("{lib}/core-plugins"));
    set(
        "PLUGIN_CORE_AVAILABLE_PATH",
        &format!("{lib}/core-plugins/available"),
    );
    set(
        "PLUGIN_CORE_ENABLED_PATH",
        &format!("{lib}/core-plugins/enabled"),
    );
    set("DOKKU_SYSTEM_USER", "dokku");
    set("DOKKU_SYSTEM_GROUP", "dokku");
    set("DOCKER_BIN", "docker");
    set("DOKKU_API_VERSION", "1");
    set("DOKKU_NOT_IMPLEMENTED_EXIT", "10");
    set("DOKKU_VALID_EXIT", "0");
    set("DOKKU_PID", &std::process::id().to_string());
    set("DOKKU_CONTAINER_LABEL", "dokku");
    set("DOKKU_SANDBOX_CALL_N", &n.to_string());
    let depth = std::env::var("DOKKU_SANDBOX_DEPTH")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    set("DOKKU_SANDBOX_DEPTH", &(depth + 1).to_string());
    if g.quiet {
        set("DOKKU_QUIET_OUTPUT", "1");
    }
    if g.trace {
        set("DOKKU_TRACE", "1");
    }
    if g.force {
        set("DOKKU_APPS_FORCE_DELETE", "1");
    }
    if let Some(a) = &g.app {
        set("DOKKU_APP_NAME", a);
    }
    set("DOKKU_GLOBAL_FLAGS", &g.flags.join(" "));
    // Plugins call `dokku` and `plugn` by name: put the sandbox's own on PATH first.
    let bin = paths.sandbox_dir().join("bin");
    if let Ok(exe) = std::env::current_exe() {
        for name in ["dokku", "plugn"] {
            let link = bin.join(name);
            if std::fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
                let _ = std::fs::remove_file(&link);
                let _ = std::os::unix::fs::symlink(&exe, &link);
            }
        }
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let bin_s = bin.display().to_string();
    if !path.split(':').any(|p| p == bin_s) {
        set("PATH", &format!("{bin_s}:{path}"));
    }
}

/// The sandbox's stand-in for `core-plugins/available/common/functions`.
const COMMON_FUNCTIONS: &str = include_str!("../data/common-functions.sh");

/// Make `$PLUGIN_CORE_AVAILABLE_PATH/common/{functions,property-functions}` exist, so bash
/// plugins that source them work (a small shim, see docs/sandbox.md).
fn ensure_common_functions(paths: &Paths) -> ctx::Res {
    let dir = paths.lib.join("core-plugins/available/common");
    for f in ["functions", "property-functions"] {
        let p = dir.join(f);
        if ctx::read_opt(&p)?.as_deref() != Some(COMMON_FUNCTIONS) {
            ctx::write_atomic(&p, COMMON_FUNCTIONS)?;
        }
    }
    Ok(())
}

/// Run one invocation; returns the exit status.
pub fn run(paths: Paths, args: Vec<String>) -> u8 {
    if let Err(e) = paths
        .ensure()
        .and_then(|()| ensure_common_functions(&paths))
    {
        eprintln!(" !     {e}");
        return 1;
    }
    // `dokku -v` and `dokku --version` are `dokku version` (00_dokku-standard).
    let mut args = args;
    if matches!(args.first().map(String::as_str), Some("-v" | "--version")) {
        args[0] = "version".into();
    }
    let (globals, mut rest) = parse_globals(args);
    let mut ctx = Ctx::new(paths.clone(), globals.clone(), String::new());
    let n = match harness::next_call_number(&mut ctx) {
        Ok(n) => n,
        Err(e) => {
            eprintln!(" !     {e}");
            return 1;
        }
    };
    export_env(&paths, &globals, n);
    let rules = harness::Rules::load(&paths);
    if let Some(f) = rules.call_fault(n, &rest) {
        eprintln!(
            " !     {}",
            f.message
                .clone()
                .unwrap_or_else(|| "Injected failure".into())
        );
        return f.exit.unwrap_or(1);
    }
    if rest.is_empty() {
        // Over SSH the command arrives in `SSH_ORIGINAL_COMMAND` (dokku-facts.md §c step 2).
        match std::env::var("SSH_ORIGINAL_COMMAND") {
            Ok(c) if !c.trim().is_empty() => match ssh_words(&c) {
                Ok(words) => rest = words,
                Err(e) => {
                    eprintln!("xargs: {e}");
                    return 1;
                }
            },
            _ => rest.push("help".into()),
        }
    }
    // `dokku_auth` (plugins/common/functions): the user-auth trigger, when a plugin ships one.
    match user_auth(&mut ctx, &rest) {
        Ok(true) => {}
        Ok(false) => {
            eprintln!(" !     Access denied");
            return 1;
        }
        Err(e) => return finish(Err(e)),
    }
    let cmd_name = cmd::alias(&rest[0]);
    rest[0] = cmd_name.clone();
    ctx.cmd = cmd_name.clone();
    let builtin = cmd::is_builtin(&cmd_name);
    if builtin {
        if let Err(e) = ctx.cpu_ms(rules.command_delay(&cmd_name), rules.latency.cores()) {
            eprintln!(" !     {e}");
            return 1;
        }
        // `--app X` is inserted as the first argument for core plugins (§a step 3).
        let mut args: Vec<String> = rest[1..]
            .iter()
            .filter(|a| *a != "--quiet" && *a != "--trace")
            .cloned()
            .collect();
        if let Some(a) = &globals.app {
            args.insert(0, a.clone());
        }
        let res = ctx
            .lock()
            .and_then(|()| cmd::dispatch(&mut ctx, &cmd_name, &args));
        ctx.unlock();
        return finish(res);
    }
    match plugins::dispatch_external(&mut ctx, &rest) {
        Ok(code) => code.clamp(0, 255) as u8,
        Err(e) => finish(Err(e)),
    }
}

/// Run `user-auth $SSH_USER $SSH_NAME <argv…>` unless no plugin (other than `20_events`) has it.
fn user_auth(ctx: &mut Ctx, argv: &[String]) -> ctx::Res<bool> {
    let user = std::env::var("SSH_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_default();
    let name = std::env::var("NAME").unwrap_or_else(|_| "default".into());
    std::env::set_var("SSH_USER", &user);
    std::env::set_var("SSH_NAME", &name);
    std::env::set_var(
        "DOKKU_COMMAND",
        argv.first().map(String::as_str).unwrap_or(""),
    );
    let implementers: Vec<String> = plugins::enabled(ctx)
        .into_iter()
        .filter(|(_, d)| d.join("user-auth").is_file())
        .map(|(n, _)| n)
        .collect();
    if implementers.is_empty() || implementers == ["20_events"] {
        return Ok(true);
    }
    let mut args: Vec<&str> = vec![&user, &name];
    args.extend(argv.iter().map(String::as_str));
    Ok(plugins::trigger(ctx, "user-auth", &args, false, false)?.code == 0)
}

fn finish(res: ctx::Res) -> u8 {
    match res {
        Ok(()) => 0,
        Err(Fail::Dokku { code, lines, raw }) => {
            for l in lines {
                if raw {
                    eprintln!("{l}");
                } else {
                    eprintln!(" !     {l}");
                }
            }
            code
        }
        Err(Fail::Silent(code)) => code,
        Err(e @ Fail::Io { .. }) => {
            eprintln!(" !     {e}");
            1
        }
    }
}

/// How the `dokku` script splits `SSH_ORIGINAL_COMMAND`: when the first word matches the bash
/// regex `git-*` or `git:*` (unanchored, so any word containing `git`) the command is split on
/// whitespace (`$0 $SSH_ORIGINAL_COMMAND` under `set -f`); otherwise `xargs -n 1` splits it,
/// honouring single and double quotes and backslashes, as shell words do.
pub fn ssh_words(command: &str) -> Result<Vec<String>, String> {
    let first = command.split_whitespace().next().unwrap_or_default();
    if first.contains("git") {
        return Ok(command.split_whitespace().map(str::to_string).collect());
    }
    shell_words::split(command).map_err(|_| {
        "unmatched quote; by default quotes are special to xargs unless you use the -0 option"
            .to_string()
    })
}
