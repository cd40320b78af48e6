//! The plugin host: plugn trigger semantics, external command dispatch (subcommands files, then
//! the `commands` exit-10 loop), help gathering, and `plugin:*` commands.
//! Facts: dokku-facts.md §a "Command dispatch", "How plugn runs a trigger", "`plugin:install`
//! step by step", "`plugin:update`", "`plugin:uninstall`", "Help conventions".

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::args::{parse, Spec};
use crate::ctx::{fail, io_err, read_opt, remove_any, Ctx, Fail, Res};

/// `$DOKKU_NOT_IMPLEMENTED_EXIT`.
pub const NOT_IMPLEMENTED: i32 = 10;

fn is_exec(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Enabled plugins in glob (byte) order, as `(name, dir)` (§a "Order").
pub fn enabled(ctx: &Ctx) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = fs::read_dir(ctx.paths.enabled())
        .map(|rd| {
            rd.flatten()
                .map(|e| (e.file_name().to_string_lossy().to_string(), e.path()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether an enabled plugin is core (its path resolves into `core-plugins`, §a "Paths").
pub fn is_core(path: &Path) -> bool {
    fs::canonicalize(path)
        .map(|p| p.to_string_lossy().contains("core-plugins"))
        .unwrap_or(false)
}

/// Result of a trigger run.
#[derive(Debug, Default)]
pub struct TriggerOut {
    /// Concatenated stdout (only when captured).
    pub stdout: String,
    /// Exit status of the first failing plugin, or 0.
    pub code: i32,
}

/// Run a trigger as plugn does: every enabled plugin with a file named after the trigger, in
/// order; non-executable files are skipped with a warning; stops at the first non-zero exit.
/// `capture` collects stdout (otherwise it streams). `core_only` restricts to core plugins
/// (`core-post-extract`). The state lock is released while plugins run.
pub fn trigger(
    ctx: &mut Ctx,
    name: &str,
    args: &[&str],
    capture: bool,
    core_only: bool,
) -> Res<TriggerOut> {
    // Core plugins' handlers for a few query triggers plugins call (`plugn trigger config-get`
    // …) run first, as the core plugins sort before community ones.
    let mut first = TriggerOut::default();
    if !core_only {
        if let Some((code, text)) = core_trigger(ctx, name, args)? {
            if capture {
                first.stdout.push_str(&text);
            } else {
                print!("{text}");
            }
            if code != 0 {
                first.code = code;
                return Ok(first);
            }
        }
    }
    let plugins = enabled(ctx);
    ctx.unlocked(move |_| {
        let mut out = first;
        for (pname, dir) in plugins {
            if core_only && !is_core(&dir) {
                continue;
            }
            let file = dir.join(name);
            if !file.is_file() {
                continue;
            }
            if !is_exec(&file) {
                eprintln!("Trigger '{name}' is not executable, skipping plugin ({pname})");
                continue;
            }
            let mut c = Command::new(&file);
            c.args(args);
            for (k, v) in plugin_config_env(&dir, &pname) {
                c.env(k, v);
            }
            if capture {
                c.stdout(Stdio::piped());
            }
            let res = c.output_or_status(capture);
            match res {
                Ok((code, so)) => {
                    out.stdout.push_str(&so);
                    if code != 0 {
                        out.code = code;
                        break;
                    }
                }
                Err(e) => {
                    eprintln!(" !     {pname}: cannot run trigger `{name}`: {e}");
                    out.code = 1;
                    break;
                }
            }
        }
        out
    })
}

/// Built-in handlers for core query triggers (dokku-facts.md §b "Other triggers useful to a Rust
/// plugin"): `config-get`, `config-get-global`, `app-exists`, `ps-current-scale`,
/// `deployed-app-image-tag`, `domains-list`, `git-has-code`. `None` when not one of them.
fn core_trigger(ctx: &mut Ctx, name: &str, args: &[&str]) -> Res<Option<(i32, String)>> {
    let arg = |i: usize| args.get(i).copied().unwrap_or("");
    let line = |v: &str| format!("{v}\n");
    Ok(Some(match name {
        "config-get" => match ctx.env(arg(0))?.get(arg(1)) {
            Some(v) => (0, line(v)),
            None => (1, String::new()),
        },
        "config-get-global" => match ctx.env("--global")?.get(arg(0)) {
            Some(v) => (0, line(v)),
            None => (1, String::new()),
        },
        "app-exists" => (if ctx.app_exists(arg(0)) { 0 } else { 1 }, String::new()),
        "ps-current-scale" => {
            if !ctx.app_exists(arg(0)) {
                return Ok(None);
            }
            let st = crate::deploy::load(ctx, arg(0))?;
            let sc = crate::deploy::scale(ctx, arg(0), &st)?;
            (0, sc.iter().map(|(k, v)| format!("{k}={v}\n")).collect())
        }
        "deployed-app-image-tag" => {
            let st = crate::deploy::load(ctx, arg(0))?;
            (
                0,
                if st.deployed {
                    st.image_tag
                } else {
                    String::new()
                },
            )
        }
        "domains-list" => (
            0,
            crate::cmd::domains::app_domains(ctx, arg(0))?
                .iter()
                .map(|d| line(d))
                .collect(),
        ),
        "git-has-code" => {
            let branch = crate::cmd::git::deploy_branch(ctx, arg(0))?;
            let has = ctx.app_exists(arg(0))
                && crate::cmd::git::rev_parse(ctx, arg(0), &format!("refs/heads/{branch}"))
                    .is_some();
            (if has { 0 } else { 1 }, String::new())
        }
        "builder-detect" => (0, builder_detect(ctx, arg(0), Path::new(arg(1)))?),
        _ => return Ok(None),
    }))
}

/// The core plugins' `builder-detect` answers in plugn's (sorted) order: builder (the
/// selected builder), builder-dockerfile (a Dockerfile, unless herokuish or pack detect),
/// builder-herokuish (`.buildpacks`, `BUILDPACK_URL` in `.env` or the app env),
/// builder-lambda, builder-nixpacks, builder-pack, builder-railpack (their marker files).
fn builder_detect(ctx: &Ctx, app: &str, dir: &Path) -> Res<String> {
    let mut out = String::new();
    let selected = ctx.prop_computed("builder", app, "selected", "")?;
    if !selected.is_empty() {
        out.push_str(&format!("{selected}\n"));
    }
    let dotenv = read_opt(&dir.join(".env")).ok().flatten().is_some_and(|t| {
        t.lines()
            .any(|l| l.trim_start().starts_with("BUILDPACK_URL="))
    });
    let herokuish = dir.join(".buildpacks").is_file()
        || dotenv
        || ctx
            .env(app)?
            .get("BUILDPACK_URL")
            .is_some_and(|v| !v.is_empty());
    let pack = dir.join("project.toml").is_file();
    if !herokuish && !pack && dir.join("Dockerfile").is_file() {
        out.push_str("dockerfile\n");
    }
    if herokuish {
        out.push_str("herokuish\n");
    }
    for (file, name) in [
        ("lambda.yml", "lambda"),
        ("nixpacks.toml", "nixpacks"),
        ("project.toml", "pack"),
        ("railpack.json", "railpack"),
    ] {
        if dir.join(file).is_file() {
            out.push_str(&format!("{name}\n"));
        }
    }
    Ok(out)
}

trait RunExt {
    fn output_or_status(&mut self, capture: bool) -> std::io::Result<(i32, String)>;
}

impl RunExt for Command {
    fn output_or_status(&mut self, capture: bool) -> std::io::Result<(i32, String)> {
        if capture {
            let o = self.stderr(Stdio::inherit()).output()?;
            Ok((
                o.status.code().unwrap_or(1),
                String::from_utf8_lossy(&o.stdout).to_string(),
            ))
        } else {
            let s = self.status()?;
            Ok((s.code().unwrap_or(1), String::new()))
        }
    }
}

/// `CONFIG_<KEY>` exports from `[plugin.config]` of plugin.toml; the value comes from env
/// `<PLUGIN>_<KEY>` or `$PLUGIN_PATH/config.toml` (§a "plugin.toml"; simple `k = "v"` lines only).
fn plugin_config_env(dir: &Path, name: &str) -> Vec<(String, String)> {
    let Ok(Some(toml)) = read_opt(&dir.join("plugin.toml")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut in_cfg = false;
    for line in toml.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_cfg = l == "[plugin.config]";
            continue;
        }
        if !in_cfg {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            let key = k.trim().to_uppercase().replace('-', "_");
            let env_name = format!("{}_{key}", name.to_uppercase().replace('-', "_"));
            let val =
                std::env::var(&env_name).unwrap_or_else(|_| v.trim().trim_matches('"').to_string());
            out.push((format!("CONFIG_{key}"), val));
        }
    }
    out
}

/// External dispatch for a command no built-in handles (§a "Command dispatch" steps 4-5).
/// Returns the exit status; prints the "not a dokku command" error when nobody implements it.
pub fn dispatch_external(ctx: &mut Ctx, argv: &[String]) -> Res<i32> {
    let cmd = argv[0].clone();
    let enabled_dir = ctx.paths.enabled();
    let mut candidates = vec![
        enabled_dir.join(&cmd).join("subcommands/default"),
        enabled_dir.join(&cmd).join("subcommands").join(&cmd),
    ];
    if let Some((plugin, sub)) = cmd.split_once(':') {
        candidates.push(enabled_dir.join(plugin).join("subcommands").join(sub));
    }
    if let Some(file) = candidates.into_iter().find(|p| is_exec(p)) {
        let status = ctx.unlocked(|_| Command::new(&file).args(argv).status())?;
        return Ok(status.map(|s| s.code().unwrap_or(1)).unwrap_or(1));
    }
    let mut implemented = false;
    for (_, dir) in enabled(ctx) {
        let commands = dir.join("commands");
        if !is_exec(&commands) {
            continue;
        }
        let status = ctx.unlocked(|_| Command::new(&commands).args(argv).status())?;
        let code = status.map(|s| s.code().unwrap_or(1)).unwrap_or(1);
        match code {
            NOT_IMPLEMENTED => {}
            0 => implemented = true,
            other => return Ok(other),
        }
    }
    if implemented {
        return Ok(0);
    }
    match crate::cmd::not_modelled(ctx, &cmd) {
        Err(e) => Err(e),
        Ok(()) => Ok(1),
    }
}

/// Community plugins' `commands help` output, sorted. A plugin picks the long form by finding
/// `--all` in its parent's command line (§a "Help conventions"), which is this process when it
/// runs as `dokku help --all`; nothing extra is passed in argv.
pub fn community_help(ctx: &mut Ctx) -> Res<Vec<String>> {
    let mut lines = Vec::new();
    for (_, dir) in enabled(ctx) {
        if is_core(&dir) {
            continue;
        }
        let commands = dir.join("commands");
        if !is_exec(&commands) {
            continue;
        }
        let mut c = Command::new(&commands);
        c.arg("help");
        let o = ctx.unlocked(|_| c.stderr(Stdio::null()).output())?;
        if let Ok(o) = o {
            lines.extend(
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string),
            );
        }
    }
    lines.sort();
    Ok(lines)
}

/// Plugin name from a URL: last path segment minus `.git` and a leading `dokku-` (§a step 2).
pub fn plugin_name_from_url(url: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(url);
    let n = last.strip_suffix(".git").unwrap_or(last);
    let n = n
        .strip_suffix(".tar.gz")
        .or_else(|| n.strip_suffix(".tgz"))
        .unwrap_or(n);
    n.strip_prefix("dokku-").unwrap_or(n).to_string()
}

fn valid_plugin_name(n: &str) -> bool {
    crate::store::is_valid_service_name(n)
}

fn git(args: &[&str], dir: Option<&Path>) -> std::io::Result<std::process::Output> {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.args(args).stdin(Stdio::null()).output()
}

/// `plugin:*` commands.
pub fn plugin_cmd(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "install" => install(ctx, args),
        "installed" => {
            let n = args.first().cloned().unwrap_or_default();
            if ctx.paths.enabled().join(&n).exists() && !n.is_empty() {
                Ok(())
            } else {
                Err(Fail::Silent(1))
            }
        }
        "list" => list(ctx, args),
        "uninstall" => uninstall(ctx, args),
        "update" => update(ctx, args),
        "enable" => {
            // `enable_plugin` (plugins/plugin/functions).
            let n = args.first().cloned().unwrap_or_default();
            if fs::symlink_metadata(ctx.paths.enabled().join(&n)).is_ok() && !n.is_empty() {
                return fail("Plugin already enabled");
            }
            if n.is_empty() || !ctx.paths.available().join(&n).exists() {
                return fail("Plugin does not exist");
            }
            enable(ctx, &n)
        }
        "disable" => {
            // `disable_plugin` (plugins/plugin/functions).
            let n = args.first().cloned().unwrap_or_default();
            let link = ctx.paths.enabled().join(&n);
            if !n.is_empty()
                && ctx
                    .paths
                    .lib
                    .join("core-plugins/available")
                    .join(&n)
                    .exists()
            {
                return fail("Cannot disable a core plugin");
            }
            if n.is_empty() || fs::symlink_metadata(&link).is_err() {
                return fail("Plugin already disabled");
            }
            if !ctx.paths.available().join(&n).exists() {
                return fail("Plugin does not exist");
            }
            remove_any(&link)?;
            ctx.info1(format!("Plugin {n} disabled"));
            Ok(())
        }
        "trigger" => {
            let Some(t) = args.first() else {
                return fail("Please specify a trigger");
            };
            let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
            let out = trigger(ctx, t, &rest, false, false)?;
            if out.code != 0 {
                return Err(Fail::Silent(out.code.clamp(1, 255) as u8));
            }
            Ok(())
        }
        "install-dependencies" => {
            let out = trigger(ctx, "dependencies", &[], false, false)?;
            if out.code != 0 {
                return Err(Fail::Silent(out.code.clamp(1, 255) as u8));
            }
            Ok(())
        }
        "help" => {
            crate::cmd::plugin_help(ctx, "plugin");
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

fn enable(ctx: &mut Ctx, name: &str) -> Res {
    let link = ctx.paths.enabled().join(name);
    if fs::symlink_metadata(&link).is_ok() {
        return fail("Plugin already enabled");
    }
    std::os::unix::fs::symlink(format!("../available/{name}"), &link).map_err(io_err(&link))?;
    ctx.info1(format!("Plugin {name} enabled"));
    Ok(())
}

fn run_all(ctx: &mut Ctx, t: &str, args: &[&str]) -> Res {
    let out = trigger(ctx, t, args, false, false)?;
    if out.code != 0 {
        return Err(Fail::Silent(out.code.clamp(1, 255) as u8));
    }
    Ok(())
}

fn install(ctx: &mut Ctx, args: &[String]) -> Res {
    // plugins/plugin/subcommands/install: the first argument decides, before any flag parsing.
    if let Some(first) = args.first() {
        let url_like = first.starts_with("https:")
            || first.starts_with("git")
            || first.starts_with("ssh:")
            || first.starts_with("file:")
            || first.ends_with(".tar.gz")
            || first.ends_with(".tgz");
        if first != "--core" && !url_like && !first.starts_with("--") {
            ctx.warn("First argument must be --core or url to plugin");
            ctx.warn("Valid prefixes: https:, git:, ssh:, file:");
            ctx.warn("Valid suffixes: .tar.gz, .tgz");
            return fail("Please retry with valid arguments");
        }
    }
    let p = parse(
        args,
        &Spec {
            values: &["--name", "--committish"],
            bools: &["--core", "--skip-install-trigger"],
            aliases: &[],
            stop_at_positional: false,
            lenient: false,
        },
    )?;
    let skip_trigger = p.has("--skip-install-trigger");
    if p.has("--core") || p.pos.is_empty() {
        if !skip_trigger {
            run_all(ctx, "install", &[])?;
        }
        return Ok(());
    }
    let url = p.arg(0);
    let ok = url.starts_with("https:")
        || url.starts_with("git")
        || url.starts_with("ssh:")
        || url.starts_with("file:")
        || url.ends_with(".tar.gz")
        || url.ends_with(".tgz");
    if !ok {
        return fail("First argument must be --core or url to plugin");
    }
    let name = p
        .get("--name")
        .map_or_else(|| plugin_name_from_url(&url), str::to_string);
    if !valid_plugin_name(&name) {
        return fail("Invalid plugin name specified");
    }
    let dest = ctx.paths.available().join(&name);
    ctx.info1(format!("Cloning plugin repo {url} to {}", dest.display()));
    if dest.exists() {
        let origin = git(&["config", "--get", "remote.origin.url"], Some(&dest))
            .ok()
            .filter(|o| o.status.success());
        // plugn `install` (bashenv/plugn.bash): raw stderr lines, no ` !     ` prefix.
        if !dest.join(".git").exists() {
            return Err(Fail::Dokku {
                code: 1,
                lines: vec![format!(
                    "{name} is already installed, but it does not seem to be a git repository"
                )],
                raw: true,
            });
        }
        match origin {
            Some(o) if String::from_utf8_lossy(&o.stdout).trim() == url => {
                eprintln!("Plugin '{name}' is already installed.");
            }
            _ => {
                let msg = format!("Plugin '{name}' is already installed, but with a different url. To install anyway, uninstall it first.");
                return Err(Fail::Dokku {
                    code: 1,
                    lines: vec![msg],
                    raw: true,
                });
            }
        }
    } else {
        if url.ends_with(".tar.gz") || url.ends_with(".tgz") {
            return fail("the sandbox does not download tarball plugins; use a git or file:// url");
        }
        let d = dest.display().to_string();
        let o = ctx
            .unlocked(|_| git(&["clone", "--quiet", &url, &d], None))?
            .map_err(io_err(&dest))?;
        if !o.status.success() {
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            return Err(Fail::Silent(1));
        }
    }
    enable(ctx, &name)?;
    if let Some(c) = p.get("--committish") {
        git_checkout(ctx, &dest, c)?;
    }
    if !skip_trigger {
        run_all(ctx, "install", &[])?;
    }
    prime_completion(ctx)
}

/// `plugin_prime_bash_completion`: `dokku --quiet help --all` as a child process, so every
/// plugin's `commands help` runs with `--all` in its parent's command line (§a step 7).
fn prime_completion(ctx: &mut Ctx) -> Res {
    let exe = std::env::current_exe().map_err(io_err(Path::new("current_exe")))?;
    ctx.unlocked(|_| {
        Command::new(exe)
            .args(["--quiet", "help", "--all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    })?
    .map_err(io_err(Path::new("dokku help --all")))?;
    Ok(())
}

fn git_checkout(ctx: &mut Ctx, dir: &Path, r: &str) -> Res {
    let o = ctx.unlocked(|_| {
        drop(git(&["fetch", "--quiet", "--tags"], Some(dir)));
        git(&["checkout", "--quiet", r], Some(dir))
    })?;
    match o {
        Ok(o) if o.status.success() => {
            crate::ctx::write_atomic(&dir.join(".plugin_committish"), r)?;
            Ok(())
        }
        _ => fail(format!("Unable to checkout {r}")),
    }
}

/// `plugin:list`: plugn `list` (`  %-20s %-5s %-10s %s` over `available/`), or the JSON of
/// plugins/plugin/plugin.go.
fn list(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &crate::args::spec(&["--format"], &[]))?;
    let mut avail: Vec<(String, PathBuf)> = fs::read_dir(ctx.paths.available())
        .map(|rd| {
            rd.flatten()
                .map(|e| (e.file_name().to_string_lossy().to_string(), e.path()))
                .collect()
        })
        .unwrap_or_default();
    avail.sort();
    let mut json = Vec::new();
    for (name, dir) in avail {
        let toml = read_opt(&dir.join("plugin.toml"))?.unwrap_or_default();
        let field = |k: &str| {
            toml.lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix(k)
                        .and_then(|r| r.trim_start().strip_prefix('='))
                        .map(|v| v.trim().trim_matches('"').to_string())
                })
                .unwrap_or_default()
        };
        let link = ctx.paths.enabled().join(&name);
        let enabled = fs::symlink_metadata(&link).is_ok();
        let (version, desc) = (field("version"), field("description"));
        if p.get("--format") == Some("json") {
            let origin = git(&["config", "--get", "remote.origin.url"], Some(&dir))
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            let head = git(&["rev-parse", "HEAD"], Some(&dir))
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"], Some(&dir))
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            json.push(serde_json::json!({
                "name": name, "version": version, "enabled": enabled, "core": is_core(&link), "description": desc,
                "source_url": origin.unwrap_or_default(), "committish": head.unwrap_or_default(), "branch": branch.unwrap_or_default(),
            }));
        } else {
            ctx.out(format!(
                "  {name:<20} {version:<5} {:<10} {desc}",
                if enabled { "enabled" } else { "disabled" }
            ));
        }
    }
    if p.get("--format") == Some("json") {
        ctx.out(serde_json::to_string(&json).unwrap_or_default());
    }
    Ok(())
}

fn uninstall(ctx: &mut Ctx, args: &[String]) -> Res {
    let name = args.first().cloned().unwrap_or_default();
    let link = ctx.paths.enabled().join(&name);
    let avail = ctx.paths.available().join(&name);
    if is_core(&link) {
        return fail("Cannot uninstall a core plugin");
    }
    if name.is_empty() || (!avail.exists() && fs::symlink_metadata(&link).is_err()) {
        return fail(format!("Plugin ({name}) is not currently installed"));
    }
    run_all(ctx, "uninstall", &[&name])?;
    remove_any(&link)?;
    remove_any(&avail)?;
    ctx.info1(format!("Plugin {name} uninstalled"));
    Ok(())
}

fn update(ctx: &mut Ctx, args: &[String]) -> Res {
    let names: Vec<String> = match args.first() {
        Some(n) => {
            if !valid_plugin_name(n) {
                return fail("Invalid plugin name specified");
            }
            let link = ctx.paths.enabled().join(n);
            if !link.exists() {
                return fail("Specified plugin not enabled or installed");
            }
            if is_core(&link) {
                return fail("Cannot update a core plugin");
            }
            vec![n.clone()]
        }
        None => enabled(ctx)
            .into_iter()
            .filter(|(_, d)| !is_core(d))
            .map(|(n, _)| n)
            .collect(),
    };
    for n in names {
        let dir = ctx.paths.available().join(&n);
        if !dir.join(".git").exists() {
            ctx.out(format!("Plugin ({n}) not managed by git"));
            continue;
        }
        if let Some(c) = args.get(1) {
            git_checkout(ctx, &dir, c)?;
            continue;
        }
        let head = git(&["symbolic-ref", "-q", "HEAD"], Some(&dir)).map_err(io_err(&dir))?;
        if !head.status.success() {
            ctx.out(format!(
                "Plugin pinned to {}",
                read_opt(&dir.join(".plugin_committish"))?.unwrap_or_default()
            ));
            continue;
        }
        let o = ctx
            .unlocked(|_| git(&["pull", "--quiet"], Some(&dir)))?
            .map_err(io_err(&dir))?;
        if !o.status.success() {
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            return Err(Fail::Silent(1));
        }
        ctx.out(format!("Plugin ({n}) updated"));
    }
    run_all(ctx, "update", &[])?;
    prime_completion(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_strip_git_and_dokku_prefix() {
        assert_eq!(
            plugin_name_from_url("https://github.com/x/dokku-compose.git"),
            "compose"
        );
        assert_eq!(plugin_name_from_url("file:///tmp/repo/"), "repo");
        assert_eq!(
            plugin_name_from_url("git@github.com:x/dokku-letsencrypt.git"),
            "letsencrypt"
        );
    }
}
