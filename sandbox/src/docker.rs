//! The `docker` runtime (issue #16): chosen at `sandbox:init --runtime docker` and recorded in
//! `<lib>/sandbox/runtime`, it makes deploys, datastores and the proxy real on a local Docker
//! Engine, the way Dokku's own plugins do (read from dokku/dokku and dokku/dokku-postgres):
//!
//! - builder-dockerfile: `docker build` of the extracted source with the build-phase docker
//!   options, tagged `dokku/<app>:latest`;
//! - scheduler-docker-local (`scheduler-deploy-process-container`): one container per process
//!   type and index, created as `<app>.<proc>.<n>.upcoming-<random>` with the labels
//!   `com.dokku.app-name`, `com.dokku.process-type`, `com.dokku.dyno`, the app's config as
//!   environment, `DYNO`, `PORT` (the first non-udp container port of the web process), the
//!   restart policy, resource limits, storage mounts, `--network=<initial-network>`
//!   (plugins/network `TriggerDockerArgsProcess`) and the deploy-phase docker options split
//!   with shell words; checks (app.json startup checks, else the uptime wait of the checks
//!   plugin's `default-wait`); the old containers retire after `wait-to-retire` seconds once the
//!   proxy points at the new ones (`core-post-deploy` renames the new ones to `<app>.<proc>.<n>`);
//! - the datastore plugins: `dokku.<plugin>.<service>` containers with the service's password,
//!   data directory and initial network (with the alias `dokku-<plugin>-<service>`);
//! - the proxy: one nginx per sandbox (proxy.rs).
//!
//! Every object the runtime creates carries the label `com.dokku.sandbox=<lib dir>`, so that
//! `sandbox:teardown` removes exactly this sandbox's containers and networks.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::ctx::{fail, fail_lines, io_err, read_opt, write_atomic, Ctx, Fail, Paths, Res};
use crate::deploy::{AppState, Container};
use crate::store::mkdirs;

/// The label that ties Docker objects to one sandbox.
pub const SANDBOX_LABEL: &str = "com.dokku.sandbox";

fn runtime_file(paths: &Paths) -> std::path::PathBuf {
    paths.sandbox_dir().join("runtime")
}

/// Whether this sandbox runs on Docker.
pub fn enabled(paths: &Paths) -> bool {
    std::fs::read_to_string(runtime_file(paths)).is_ok_and(|s| s.trim() == "docker")
}

/// Record the runtime at `sandbox:init`; `docker` needs a daemon that answers.
pub fn set_runtime(paths: &Paths, runtime: &str) -> Result<(), String> {
    match runtime {
        "state" => {}
        "docker" => {
            let o = docker_cmd()
                .args(["version", "--format", "{{.Server.Version}}"])
                .output()
                .map_err(|e| format!("cannot run docker: {e}"))?;
            if !o.status.success() {
                return Err(format!(
                    "the docker runtime needs a running Docker daemon (scripts/docker-setup): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
        }
        other => return Err(format!("unknown runtime `{other}` (state or docker)")),
    }
    write_atomic(&runtime_file(paths), &format!("{runtime}\n")).map_err(|e| e.to_string())
}

/// The docker CLI (`DOKKU_SANDBOX_DOCKER_BIN`, else `docker` on PATH), legacy builder.
/// Keeps a long-lived child (the proxy's nginx, a retirement shell) from holding descriptors
/// the sandbox inherited from its caller (bats keeps fd 3 open and waits for its end): every
/// descriptor above 2 that would survive `exec` is closed in the child. Descriptors marked
/// close-on-exec (the standard library's own) are left to `exec`.
pub fn without_inherited_fds(c: &mut Command) -> &mut Command {
    // SAFETY: only async-signal-safe calls (fcntl, close) between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(c, || {
            for fd in 3..1024 {
                let flags = nix::libc::fcntl(fd, nix::libc::F_GETFD);
                if flags >= 0 && flags & nix::libc::FD_CLOEXEC == 0 {
                    nix::libc::close(fd);
                }
            }
            Ok(())
        })
    }
}

pub fn docker_cmd() -> Command {
    let bin = std::env::var("DOKKU_SANDBOX_DOCKER_BIN").unwrap_or_else(|_| "docker".into());
    let mut c = Command::new(bin);
    c.env("DOCKER_BUILDKIT", "0").stdin(Stdio::null());
    c
}

/// Run docker; its trimmed stdout, or a failure with its stderr.
pub fn docker<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Res<String> {
    let o = docker_cmd()
        .args(args)
        .output()
        .map_err(io_err(Path::new("docker")))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
        fail(if err.is_empty() {
            format!("docker exited with {}", o.status)
        } else {
            err
        })
    }
}

/// `--label com.dokku.sandbox=<lib>`.
pub fn sandbox_label(paths: &Paths) -> String {
    format!("--label={SANDBOX_LABEL}={}", paths.lib.display())
}

fn label_filter(paths: &Paths) -> String {
    format!("label={SANDBOX_LABEL}={}", paths.lib.display())
}

/// Container ids of this sandbox matching more label filters.
fn ids(paths: &Paths, filters: &[String]) -> Res<Vec<String>> {
    let mut a = vec![
        "container".to_string(),
        "ls".into(),
        "-aq".into(),
        "--filter".into(),
        label_filter(paths),
    ];
    for f in filters {
        a.push("--filter".into());
        a.push(f.clone());
    }
    Ok(docker(&a)?.lines().map(str::to_string).collect())
}

/// Remove a container name left over by a sandbox that no longer exists; refuse to take one
/// another live sandbox owns.
fn claim_name(paths: &Paths, name: &str) -> Res {
    let Ok(owner) = docker(&[
        "container",
        "inspect",
        "--format",
        &format!("{{{{index .Config.Labels \"{SANDBOX_LABEL}\"}}}}"),
        name,
    ]) else {
        return Ok(());
    };
    let ours = owner == paths.lib.display().to_string();
    if ours || owner.is_empty() || !Path::new(&owner).exists() {
        docker(&["container", "rm", "-f", name])?;
        return Ok(());
    }
    fail(format!(
        "container name {name} is taken by the sandbox at {owner}"
    ))
}

// ---------------------------------------------------------------------------------------------
// Networks

/// `network:create`: a bridge network labelled as Dokku labels it.
pub fn network_create(ctx: &Ctx, name: &str) -> Res {
    if let Ok(owner) = docker(&[
        "network",
        "inspect",
        "--format",
        &format!("{{{{index .Labels \"{SANDBOX_LABEL}\"}}}}"),
        name,
    ]) {
        if owner.is_empty() || !Path::new(&owner).exists() {
            drop(docker(&["network", "rm", name]));
        }
    }
    docker(&[
        "network".to_string(),
        "create".into(),
        format!("--label=com.dokku.network-name={name}"),
        sandbox_label(&ctx.paths),
        name.to_string(),
    ])
    .map(drop)
    .or_else(|e| match e {
        Fail::Dokku { lines, .. } => fail(format!("Unable to create network: {}", lines.join(" "))),
        e => Err(e),
    })
}

/// `network:destroy`.
pub fn network_destroy(_ctx: &Ctx, name: &str) -> Res {
    docker(&["network", "rm", name]).map(drop)
}

// ---------------------------------------------------------------------------------------------
// Build

/// builder-dockerfile: `docker build` with the build-phase options into `dokku/<app>:latest`.
pub fn build(ctx: &mut Ctx, app: &str, dir: &Path) -> Res {
    let mut args: Vec<String> = vec!["build".into()];
    // builder-dockerfile: `docker-args-build <app> dockerfile`, split by xargs.
    args.extend(crate::cmd::options::build_args(ctx, app, "dockerfile")?.map_err(options_error)?);
    args.extend([
        format!("--label=com.dokku.app-name={app}"),
        "--label=dokku=".into(),
        sandbox_label(&ctx.paths),
        "-t".into(),
        format!("dokku/{app}:latest"),
        ".".into(),
    ]);
    let o = ctx.unlocked(|_| {
        docker_cmd()
            .current_dir(dir)
            .args(&args)
            .output()
            .map_err(io_err(Path::new("docker")))
    })??;
    if !o.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        // The build output's last lines, then builder-dockerfile's failure line.
        let mut lines: Vec<String> = text.lines().rev().take(8).map(str::to_string).collect();
        lines.reverse();
        lines.push("App build failed".into());
        return Err(Fail::Dokku {
            code: 1,
            lines,
            raw: false,
        });
    }
    Ok(())
}

/// xargs refused the joined options (an unmatched quote), as the scheduler's split does.
fn options_error(e: String) -> Fail {
    Fail::Dokku {
        code: 1,
        lines: vec![e],
        raw: false,
    }
}

fn split_words(s: &str) -> Res<Vec<String>> {
    shell_words::split(s).map_err(|e| Fail::Dokku {
        code: 1,
        lines: vec![format!("invalid docker option `{s}`: {e}")],
        raw: false,
    })
}

// ---------------------------------------------------------------------------------------------
// Deploy

/// The app's environment: global config, then the app's (plugins/config `config-export`).
fn app_env(ctx: &Ctx, app: &str) -> Res<BTreeMap<String, String>> {
    let mut env = ctx.env("--global")?;
    env.extend(ctx.env(app)?);
    Ok(env)
}

/// The container port of the web process: the first non-udp map's, else 5000.
pub fn web_port(ctx: &Ctx, app: &str) -> Res<String> {
    Ok(crate::cmd::ports::mappings(ctx, app)?
        .iter()
        .filter(|m| !m.starts_with("udp:"))
        .find_map(|m| m.rsplit(':').next().map(str::to_string))
        .unwrap_or_else(|| "5000".into()))
}

/// `docker container create` arguments for one container, without the image and command.
fn create_args(
    ctx: &Ctx,
    app: &str,
    proc: &str,
    index: u32,
    name: &str,
    network: Option<&str>,
) -> Res<Vec<String>> {
    let dyno = format!("{proc}.{index}");
    let mut a: Vec<String> = vec![
        "container".into(),
        "create".into(),
        format!("--name={name}"),
        format!("--label=com.dokku.app-name={app}"),
        "--label=com.dokku.container-type=deploy".into(),
        format!("--label=com.dokku.process-type={proc}"),
        format!("--label=com.dokku.dyno={dyno}"),
        "--label=dokku=".into(),
        sandbox_label(&ctx.paths),
        format!("--env=DYNO={dyno}"),
    ];
    // scheduler-docker-local `init-process` (default true): `--init`.
    if ctx.prop_computed("scheduler-docker-local", app, "init-process", "true")? == "true" {
        a.push("--init".into());
    }
    let restart = ctx.prop_computed("ps", app, "restart-policy", "on-failure:10")?;
    a.push(format!("--restart={restart}"));
    for (k, v) in app_env(ctx, app)? {
        a.push(format!("--env={k}={v}"));
    }
    let port = if proc == "web" {
        web_port(ctx, app)?
    } else {
        String::new()
    };
    a.push(format!("--env=PORT={port}"));
    // Resource limits come with the docker options (`container_option_args`).
    let max_size = ctx.prop_computed("logs", app, "max-size", "10m")?;
    if max_size != "unlimited" && !max_size.is_empty() {
        a.push(format!("--log-opt=max-size={max_size}"));
    }
    for m in crate::cmd::storage::mounts(ctx, app)? {
        let phase_ok = m.phases.is_empty() || m.phases.iter().any(|p| p == "deploy");
        let proc_ok =
            m.process_type.is_empty() || m.process_type == "_default_" || m.process_type == proc;
        if phase_ok && proc_ok {
            let mut spec = format!("{}:{}", m.host_path, m.container_path);
            if m.readonly {
                spec.push_str(":ro");
            }
            a.push(format!("--volume={spec}"));
        }
    }
    if let Some(n) = network {
        a.push(format!("--network={n}"));
    }
    // `docker-args-deploy` (default scope, unfiltered), then `docker-args-process-deploy`
    // (the process type's scope, filtered as a dockerfile source); `dokku run` uses the run
    // phase's default scope.
    let phase = if proc == "run" { "run" } else { "deploy" };
    a.extend(
        crate::cmd::options::container_option_args(ctx, app, proc, phase)?
            .map_err(options_error)?,
    );
    Ok(a)
}

/// A startup check of app.json (`healthchecks.<proc>[]`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Check {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    command: Vec<String>,
    path: String,
    port: Option<u16>,
    attempts: Option<u64>,
    timeout: Option<u64>,
    wait: Option<u64>,
    #[serde(rename = "initialDelay")]
    initial_delay: Option<u64>,
    content: String,
}

fn checks_for(st: &AppState, proc: &str) -> Vec<Check> {
    st.app_json
        .get("healthchecks")
        .and_then(|h| h.get(proc))
        .and_then(|v| serde_json::from_value::<Vec<Check>>(v.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.kind.is_empty() || c.kind == "startup")
        .collect()
}

fn running(id: &str) -> bool {
    docker(&[
        "container",
        "inspect",
        "--format",
        "{{.State.Running}} {{.RestartCount}}",
        id,
    ])
    .is_ok_and(|s| s == "true 0")
}

fn sleep_s(s: u64) {
    std::thread::sleep(std::time::Duration::from_secs(s));
}

/// One container's checks (the checks plugin via docker-container-healthchecker): each
/// startup check retried `attempts` times `wait` seconds apart; without checks the container
/// must stay up `default-wait` seconds. Returns the failure text.
fn run_checks(
    ctx: &Ctx,
    st: &AppState,
    proc: &str,
    id: &str,
    ip: &str,
    port: &str,
) -> Option<String> {
    let checks = checks_for(st, proc);
    if checks.is_empty() {
        let wait = ctx
            .prop("checks", "--global", "default-wait")
            .ok()
            .flatten()
            .or_else(|| {
                ctx.env("--global")
                    .ok()?
                    .get("DOKKU_DEFAULT_CHECKS_WAIT")
                    .cloned()
            })
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(10);
        ctx.verbose(format!("Waiting for {wait} seconds ({proc})"));
        sleep_s(wait);
        return (!running(id)).then(|| "container exited before the uptime wait ended".to_string());
    }
    for c in checks {
        let name = if c.name.is_empty() { "check" } else { &c.name };
        sleep_s(c.initial_delay.unwrap_or(0));
        let attempts = c.attempts.unwrap_or(5).max(1);
        let mut last = String::new();
        let mut ok = false;
        for n in 1..=attempts {
            if !running(id) {
                last = "container is not running".into();
                break;
            }
            let timeout = c.timeout.unwrap_or(5).max(1).to_string();
            let res = if !c.command.is_empty() {
                let mut a = vec!["container".to_string(), "exec".into(), id.to_string()];
                a.extend(c.command.iter().cloned());
                docker_timeout(&a, timeout.parse().unwrap_or(5))
            } else {
                let p = c.port.map_or_else(|| port.to_string(), |p| p.to_string());
                let path = if c.path.is_empty() { "/" } else { &c.path };
                http_get(ip, &p, path, &timeout).and_then(|body| {
                    if c.content.is_empty() || body.contains(&c.content) {
                        Ok(body)
                    } else {
                        fail(format!("content `{}` not found", c.content))
                    }
                })
            };
            match res {
                Ok(_) => {
                    ok = true;
                    break;
                }
                Err(e) => {
                    last = e.to_string();
                    ctx.verbose(format!("{name}: attempt {n}/{attempts} failed"));
                    if n < attempts {
                        sleep_s(c.wait.unwrap_or(5));
                    }
                }
            }
        }
        if !ok {
            return Some(format!("{name}: {last}"));
        }
    }
    None
}

/// Run docker, killed after `secs` seconds.
fn docker_timeout(args: &[String], secs: u64) -> Res<String> {
    let mut child = docker_cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(Path::new("docker")))?;
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().map_err(io_err(Path::new("docker")))? {
            let o = child
                .wait_with_output()
                .map_err(io_err(Path::new("docker")))?;
            let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
            return if status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
            } else {
                fail(if err.is_empty() {
                    format!("exit status {}", status.code().unwrap_or(1))
                } else {
                    err
                })
            };
        }
        if std::time::Instant::now() >= end {
            drop(child.kill());
            drop(child.wait());
            return fail(format!("timed out after {secs} s"));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An HTTP GET of `ip:port/path` from the host with `curl` (as the healthchecker checks a
/// container's address); the body on a 2xx/3xx answer.
pub fn http_get(ip: &str, port: &str, path: &str, timeout_s: &str) -> Res<String> {
    let o = Command::new("curl")
        .args(["-fsS", "--max-time", timeout_s])
        .arg(format!("http://{ip}:{port}{path}"))
        .output()
        .map_err(io_err(Path::new("curl")))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        fail(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

/// The IP address of a container on its first network.
fn ip_of(id: &str) -> String {
    docker(&[
        "container",
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        id,
    ])
    .unwrap_or_default()
    .split_whitespace()
    .next()
    .unwrap_or("")
    .to_string()
}

fn random_suffix() -> u32 {
    (crate::harness::now_ms() as u32 ^ std::process::id().rotate_left(7)) % 32768
}

/// plugins/network `attachAppToNetwork` in the deploy phase: aliases `<app>.<proc>` and
/// `<hostname>.<app>.<proc>`.
fn attach(id: &str, network: &str, app: &str, proc: &str) -> Res {
    let inside = docker(&[
        "container",
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        id,
    ])?;
    if inside.split_whitespace().any(|n| n == network) {
        return Ok(());
    }
    let alias = format!("{app}.{proc}");
    let host = docker(&[
        "container",
        "inspect",
        "--format",
        "{{.Config.Hostname}}",
        id,
    ])?;
    docker(&[
        "network".to_string(),
        "connect".into(),
        "--alias".into(),
        alias.clone(),
        "--alias".into(),
        format!("{host}.{alias}"),
        network.to_string(),
        id.to_string(),
    ])
    .map(drop)
}

/// The scheduler's deploy on Docker: new containers per process type and scale, checks,
/// post-deploy networks, proxy switch, retirement of the old containers. A failure removes the
/// new containers and leaves the old ones serving.
pub fn deploy(
    ctx: &mut Ctx,
    app: &str,
    st: &mut AppState,
    scale: &BTreeMap<String, u32>,
    networks: &[String],
) -> Res {
    let disabled = ctx.prop_or("checks", app, "disabled")?;
    let skipped = ctx.prop_or("checks", app, "skipped")?;
    let listed = |list: &str, p: &str| list.split(',').any(|x| x == p || x == "_all_");
    let image = format!("dokku/{app}:latest");
    if docker(&["image", "inspect", "--format", "{{.Id}}", &image]).is_err() {
        return fail(format!("No image {image} to deploy; push the app first"));
    }
    let port = web_port(ctx, app)?;
    let mut new: Vec<Container> = Vec::new();
    let res = (|| -> Res {
        for (proc, count) in scale {
            if *count > 0 && !st.procfile.is_empty() && !st.procfile.contains_key(proc) {
                ctx.warn(format!(
                    "Skipping {proc} as it is missing from the current Procfile"
                ));
                continue;
            }
            for i in 1..=*count {
                let name = format!("{app}.{proc}.{i}.upcoming-{}", random_suffix());
                claim_name(&ctx.paths, &name)?;
                let mut a = create_args(
                    ctx,
                    app,
                    proc,
                    i,
                    &name,
                    networks.first().map(String::as_str),
                )?;
                a.push(image.clone());
                if let Some(cmd) = st.procfile.get(proc) {
                    a.extend(split_words(cmd)?);
                }
                let id = ctx.unlocked(|_| docker(&a))??;
                let id: String = id.chars().take(12).collect();
                new.push(Container {
                    proc: proc.clone(),
                    index: i,
                    id: id.clone(),
                    state: "created".into(),
                    exit_code: None,
                    healthy: false,
                    args: a.clone(),
                    networks: networks.iter().take(1).cloned().collect(),
                });
                // TriggerPostContainerCreate: the first attach-post-create network.
                for n in networks.iter().skip(1) {
                    attach(&id, n, app, proc)?;
                    if let Some(c) = new.last_mut() {
                        c.networks.push(n.clone());
                    }
                }
                ctx.unlocked(|_| docker(&["container", "start", &id]))??;
                let ip = ip_of(&id);
                let no_checks = listed(&disabled, proc) || listed(&skipped, proc);
                if !no_checks {
                    ctx.verbose(format!("Attempting pre-flight checks ({proc}.{i})"));
                    let snapshot = st.clone();
                    let failed =
                        ctx.unlocked(|c| run_checks(c, &snapshot, proc, &id, &ip, &port))?;
                    if let Some(why) = failed {
                        // The healthchecker's reason and the container's last output lines, then
                        // the scheduler's failure line.
                        let logs =
                            docker(&["container", "logs", "--tail", "5", &id]).unwrap_or_default();
                        let mut lines = vec![why];
                        lines.extend(logs.lines().map(str::to_string));
                        lines.push(format!(
                            "Could not start due to 1 failed checks ({proc}.{i})"
                        ));
                        return Err(Fail::Dokku {
                            code: 1,
                            lines,
                            raw: false,
                        });
                    }
                    ctx.verbose(format!("All checks successful ({proc}.{i})"));
                }
                let state = docker(&[
                    "container",
                    "inspect",
                    "--format",
                    "{{.State.Status}} {{.State.ExitCode}}",
                    &id,
                ])?;
                if let Some(c) = new.last_mut() {
                    let (s, code) = state.split_once(' ').unwrap_or((&state, "0"));
                    c.state = if s == "running" {
                        "running".into()
                    } else {
                        "exited".into()
                    };
                    c.exit_code = (c.state == "exited").then(|| code.parse().unwrap_or(0));
                    c.healthy = true;
                }
            }
        }
        // TriggerCorePostDeploy: every attach-post-deploy network, after the checks.
        let list = ctx.prop_computed("network", app, "attach-post-deploy", "")?;
        for n in list.split(',').filter(|n| !n.is_empty()) {
            ctx.info1(format!("Associating app with network {n}"));
            if !crate::cmd::network::exists(ctx, n) {
                return fail(format!("Network {n} does not exist"));
            }
            for c in new.iter_mut().filter(|c| c.state == "running") {
                attach(&c.id, n, app, &c.proc)?;
                if !c.networks.iter().any(|x| x == n) {
                    c.networks.push(n.to_string());
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = res {
        for c in &new {
            drop(docker(&["container", "rm", "-f", &c.id]));
        }
        return Err(e);
    }
    let old: Vec<Container> = std::mem::replace(&mut st.containers, new);
    st.deployed = true;
    st.running = true;
    crate::deploy::save(ctx, app, st)?;
    // The proxy now points at the new containers; then the old ones retire.
    crate::proxy::rebuild(ctx)?;
    retire(ctx, app, &old)?;
    // core-post-deploy: the new containers take the names `<app>.<proc>.<n>`.
    for c in &st.containers {
        let name = format!("{app}.{}.{}", c.proc, c.index);
        drop(docker(&["container", "rename", &c.id, &name]));
        drop(write_atomic(
            &ctx.paths
                .app_dir(app)
                .join(format!("CONTAINER.{}.{}", c.proc, c.index)),
            &format!("{}\n", c.id),
        ));
    }
    Ok(())
}

/// Retire containers: renamed out of the way at once, stopped after the app's `wait-to-retire`
/// seconds (checks plugin, default 60) in the background as scheduler-docker-local does.
pub fn retire(ctx: &Ctx, app: &str, old: &[Container]) -> Res {
    let live: Vec<&Container> = old.iter().filter(|c| !c.id.is_empty()).collect();
    if live.is_empty() {
        return Ok(());
    }
    let wait = ctx
        .prop_computed("checks", app, "wait-to-retire", "60")?
        .trim()
        .parse::<u64>()
        .unwrap_or(60);
    let stop = ctx.prop_computed("ps", app, "stop-timeout-seconds", "30")?;
    let stamp = crate::harness::now_ms();
    for c in &live {
        drop(docker(&[
            "container",
            "rename",
            &c.id,
            &format!("{app}.{}.{}.retired-{stamp}", c.proc, c.index),
        ]));
    }
    ctx.info1(format!("Shutting down old containers in {wait} seconds"));
    let ids: Vec<String> = live.iter().map(|c| c.id.clone()).collect();
    let bin = std::env::var("DOKKU_SANDBOX_DOCKER_BIN").unwrap_or_else(|_| "docker".into());
    let script = format!(
        "sleep {wait}; \"$0\" container update --restart=no \"$@\" >/dev/null 2>&1; \"$0\" container stop -t {stop} \"$@\" >/dev/null 2>&1; \"$0\" container rm -f \"$@\" >/dev/null 2>&1"
    );
    let mut sh = Command::new("sh");
    without_inherited_fds(&mut sh);
    std::os::unix::process::CommandExt::process_group(sh.arg("-c"), 0)
        .arg(script)
        .arg(bin)
        .args(&ids)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io_err(Path::new("sh")))?;
    Ok(())
}

/// In the docker runtime, the recorded containers' state as Docker reports it now
/// (`ps:report` statuses and `ps:inspect`): `running`, `exited` (with the exit code),
/// `restarting`, …; a container that is gone is `missing`.
pub fn live_states(ctx: &Ctx, st: &mut AppState) {
    if !enabled(&ctx.paths) {
        return;
    }
    for c in &mut st.containers {
        match docker(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &c.id,
        ]) {
            Ok(s) => {
                let (state, code) = s.split_once(' ').unwrap_or((&s, "0"));
                c.state = state.to_string();
                c.exit_code = (state != "running").then(|| code.parse().unwrap_or(0));
            }
            Err(_) => {
                c.state = "missing".into();
                c.exit_code = None;
            }
        }
    }
}

/// `ps:stop` / `apps:destroy`: every deploy container of the app stops (`scheduler-stop`).
pub fn stop_app(ctx: &Ctx, app: &str, remove: bool) -> Res {
    let ids = ids(&ctx.paths, &[format!("label=com.dokku.app-name={app}")])?;
    if ids.is_empty() {
        return Ok(());
    }
    let mut a = vec!["container".to_string()];
    if remove {
        a.extend(["rm".into(), "-f".into()]);
    } else {
        let t = ctx.prop_computed("ps", app, "stop-timeout-seconds", "30")?;
        a.extend(["stop".into(), "-t".into(), t]);
    }
    a.extend(ids);
    docker(&a).map(drop)?;
    if remove {
        drop(docker(&[
            "image",
            "rm",
            "-f",
            &format!("dokku/{app}:latest"),
        ]));
    }
    Ok(())
}

/// `dokku run <app> <cmd…>`: a one-off container of the deployed image with the app's config.
pub fn run(ctx: &mut Ctx, app: &str, cmd: &[String], env: &[String]) -> Res {
    let name = format!("{app}.run.{}", random_suffix());
    let mut a = create_args(ctx, app, "run", 1, &name, None)?;
    a[1] = "run".into();
    a.retain(|x| !x.starts_with("--restart="));
    a.insert(2, "--rm".into());
    a.insert(3, "--label=com.dokku.container-type=run".into());
    let initial = ctx.prop_computed("network", app, "initial-network", "")?;
    if !initial.is_empty() {
        a.push(format!("--network={initial}"));
    }
    for e in env {
        a.push(format!("--env={e}"));
    }
    a.push(format!("dokku/{app}:latest"));
    a.extend(cmd.iter().cloned());
    attached(ctx, &a)
}

/// Runs `docker <a>` with the caller's output, its exit status as the command's.
fn attached(ctx: &mut Ctx, a: &[String]) -> Res {
    let status = ctx.unlocked(|_| {
        docker_cmd()
            .args(a)
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .map_err(io_err(Path::new("docker")))
    })??;
    match status.code() {
        Some(0) => Ok(()),
        c => Err(Fail::Silent(c.unwrap_or(1).clamp(1, 255) as u8)),
    }
}

/// `dokku enter`: `docker container exec` into a running container (`-i -t` when stdin is a
/// terminal, as scheduler-docker-local's `has_tty`).
pub fn enter(ctx: &mut Ctx, id: &str, cmd: &[String]) -> Res {
    let mut a: Vec<String> = vec!["container".into(), "exec".into()];
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        a.extend(["-i".into(), "-t".into()]);
    }
    a.push(id.to_string());
    a.extend(cmd.iter().cloned());
    attached(ctx, &a)
}

/// `dokku logs <app>`: the containers' output.
pub fn logs(ctx: &Ctx, app: &str, tail: Option<&str>) -> Res {
    for id in ids(
        &ctx.paths,
        &[
            format!("label=com.dokku.app-name={app}"),
            "label=com.dokku.container-type=deploy".into(),
        ],
    )? {
        let mut a = vec!["container".to_string(), "logs".into()];
        if let Some(t) = tail {
            a.extend(["--tail".into(), t.to_string()]);
        }
        a.push(id);
        let o = docker_cmd()
            .args(&a)
            .output()
            .map_err(io_err(Path::new("docker")))?;
        let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&o.stderr));
        for l in text.lines() {
            ctx.out(l);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Datastores

/// The container name of a service (`dokku.<plugin>.<service>`).
pub fn service_container(prefix: &str, svc: &str) -> String {
    format!("dokku.{prefix}.{svc}")
}

/// What a datastore plugin runs: data directory in the container, environment, command, and
/// the readiness probe (run with `docker exec`).
struct ServiceRecipe {
    data: &'static str,
    env: Vec<String>,
    cmd: Vec<String>,
    probe: Vec<String>,
    extra_volumes: Vec<String>,
}

fn service_recipe(dir: &Path, svc: &Service<'_>) -> Res<ServiceRecipe> {
    let (prefix, password) = (svc.prefix, svc.password);
    Ok(match prefix {
        // dokku-postgres `service_create_container`: POSTGRES_PASSWORD, data mounted at
        // /var/lib/postgresql/data; the database is created with `createdb` once it is up.
        "postgres" => ServiceRecipe {
            data: "/var/lib/postgresql/data",
            env: vec![format!("POSTGRES_PASSWORD={password}")],
            cmd: vec![],
            probe: vec!["pg_isready".into(), "-q".into(), "-h".into(), "127.0.0.1".into(), "-U".into(), "postgres".into()],
            extra_volumes: vec![],
        },
        // dokku-redis: `redis-server /usr/local/etc/redis/redis.conf` with `requirepass`.
        "redis" => {
            let conf = dir.join("config");
            mkdirs(&conf)?;
            write_atomic(
                &conf.join("redis.conf"),
                &format!("bind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\nappendonly yes\nrequirepass {password}\n"),
            )?;
            ServiceRecipe {
                data: "/data",
                env: vec![],
                cmd: vec!["redis-server".into(), "/usr/local/etc/redis/redis.conf".into()],
                probe: vec!["redis-cli".into(), "-a".into(), password.into(), "--no-auth-warning".into(), "ping".into()],
                extra_volumes: vec![format!("{}:/usr/local/etc/redis", conf.display())],
            }
        }
        // dokku-mysql / dokku-mariadb: the root password, the database and the user named
        // after the plugin (`mysql`, `mariadb`) with the service password, data at
        // /var/lib/mysql.
        "mysql" | "mariadb" => ServiceRecipe {
            data: "/var/lib/mysql",
            env: vec![
                format!("MYSQL_ROOT_PASSWORD={}", svc.root_password),
                format!("MYSQL_DATABASE={}", svc.db),
                format!("MYSQL_USER={prefix}"),
                format!("MYSQL_PASSWORD={password}"),
            ],
            cmd: vec![],
            probe: vec![
                "mariadb".into(),
                "-h127.0.0.1".into(),
                "-uroot".into(),
                format!("-p{}", svc.root_password),
                "-e".into(),
                "SELECT 1".into(),
            ],
            extra_volumes: vec![],
        },
        other => {
            return fail(format!(
                "the docker runtime of the sandbox does not run {other} services (postgres, redis, mysql and mariadb only)"
            ))
        }
    })
}

/// A datastore service to start.
#[derive(Clone, Copy)]
pub struct Service<'a> {
    /// The plugin (`postgres`).
    pub prefix: &'a str,
    /// The service name.
    pub name: &'a str,
    /// The service directory (`data/`, `config/`).
    pub dir: &'a Path,
    /// `<image>:<version>`.
    pub image: &'a str,
    /// The service password.
    pub password: &'a str,
    /// The root password (mysql, mariadb).
    pub root_password: &'a str,
    /// The database name.
    pub db: &'a str,
    /// `--initial-network`.
    pub network: Option<&'a str>,
}

/// Start a service's container (create or restart after a stop) and wait until it answers.
pub fn service_start(ctx: &mut Ctx, spec: &Service<'_>) -> Res {
    let Service {
        prefix,
        name: svc,
        dir,
        image,
        db,
        network,
        ..
    } = *spec;
    let name = service_container(prefix, svc);
    let recipe = service_recipe(dir, spec)?;
    let data = dir.join("data");
    mkdirs(&data)?;
    if docker(&["container", "inspect", "--format", "{{.Id}}", &name]).is_ok() {
        claim_name(&ctx.paths, &name)?;
    }
    let host = format!("dokku-{prefix}-{svc}");
    let mut a: Vec<String> = vec![
        "container".into(),
        "run".into(),
        "-d".into(),
        format!("--name={name}"),
        format!("--hostname={host}"),
        "--restart=always".into(),
        "--label=dokku=service".into(),
        format!("--label=dokku.service={prefix}"),
        sandbox_label(&ctx.paths),
        format!("--volume={}:{}", data.display(), recipe.data),
    ];
    for v in &recipe.extra_volumes {
        a.push(format!("--volume={v}"));
    }
    for e in &recipe.env {
        a.push(format!("--env={e}"));
    }
    if let Some(n) = network {
        a.push(format!("--network={n}"));
        a.push(format!("--network-alias={host}"));
    }
    a.push(image.to_string());
    a.extend(recipe.cmd.iter().cloned());
    ctx.unlocked(|_| docker(&a))??;
    ctx.verbose("Waiting for container to be ready");
    let mut probe = vec!["container".to_string(), "exec".into(), name.clone()];
    probe.extend(recipe.probe.iter().cloned());
    let ready = ctx.unlocked(|_| {
        for _ in 0..120 {
            if docker(&probe).is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        false
    })?;
    if !ready {
        let logs = docker(&["container", "logs", "--tail", "10", &name]).unwrap_or_default();
        return fail_lines(&[&format!("Service {svc} did not become ready"), logs.trim()]);
    }
    if prefix == "postgres" {
        ctx.verbose("Creating container database");
        // dokku-postgres: `docker exec "$SERVICE_NAME" su - postgres -c "createdb -E utf8 $DATABASE_NAME"`;
        // a restart of an existing data directory finds the database there.
        let exists = docker(&[
            "container",
            "exec",
            &name,
            "su",
            "-",
            "postgres",
            "-c",
            &format!("psql -tAc \"SELECT 1 FROM pg_database WHERE datname='{db}'\""),
        ])
        .unwrap_or_default();
        if exists.trim() != "1" {
            docker(&[
                "container",
                "exec",
                &name,
                "su",
                "-",
                "postgres",
                "-c",
                &format!("createdb -E utf8 {db}"),
            ])?;
        }
    }
    Ok(())
}

/// Stop (and optionally remove) a service's container.
pub fn service_stop(prefix: &str, svc: &str, remove: bool) -> Res {
    let name = service_container(prefix, svc);
    if docker(&["container", "inspect", "--format", "{{.Id}}", &name]).is_err() {
        return Ok(());
    }
    if remove {
        docker(&["container", "rm", "-f", &name]).map(drop)
    } else {
        docker(&["container", "stop", &name]).map(drop)
    }
}

/// Whether this sandbox runs the datastore `prefix` for real.
pub fn runs_service(prefix: &str) -> bool {
    matches!(prefix, "postgres" | "redis" | "mysql" | "mariadb")
}

// ---------------------------------------------------------------------------------------------
// Teardown

/// `sandbox:teardown`: every container and network of this sandbox, and its nginx.
pub fn teardown(ctx: &Ctx) -> Res {
    crate::proxy::stop(&ctx.paths);
    let all = ids(&ctx.paths, &[])?;
    if !all.is_empty() {
        let mut a = vec!["container".to_string(), "rm".into(), "-f".into()];
        a.extend(all);
        docker(&a)?;
    }
    let nets = docker(&["network", "ls", "-q", "--filter", &label_filter(&ctx.paths)])?;
    for n in nets.lines() {
        drop(docker(&["network", "rm", n]));
    }
    let imgs = docker(&["image", "ls", "-q", "--filter", &label_filter(&ctx.paths)])?;
    // `--no-prune`: the untagged parents stay, as another sandbox's build running now may be
    // using one as its cache ("failed to set parent … unknown parent image ID").
    let mut a = vec![
        "image".to_string(),
        "rm".into(),
        "-f".into(),
        "--no-prune".into(),
    ];
    let before = a.len();
    a.extend(imgs.lines().map(str::to_string));
    if a.len() > before {
        drop(docker(&a));
    }
    Ok(())
}

/// `ps:report`-style status of the app's containers: `(name, id, status)`.
pub fn container_rows(ctx: &Ctx, app: &str) -> Res<Vec<(String, String, String)>> {
    let ids = ids(
        &ctx.paths,
        &[
            format!("label=com.dokku.app-name={app}"),
            "label=com.dokku.container-type=deploy".into(),
        ],
    )?;
    let mut v = Vec::new();
    for id in ids {
        let s = docker(&[
            "container",
            "inspect",
            "--format",
            "{{.Name}} {{.State.Status}}",
            &id,
        ])?;
        let (n, st) = s.split_once(' ').unwrap_or((&s, ""));
        v.push((n.trim_start_matches('/').to_string(), id, st.to_string()));
    }
    v.sort();
    Ok(v)
}

/// Read a file if it exists (helper for callers that record app.json).
pub fn read_json(path: &Path) -> Res<serde_json::Value> {
    Ok(read_opt(path)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null))
}
