//! Simulated builds, releases and container deploys, with the trigger sequence of a real
//! deploy (dokku-facts.md §b "When triggers run", §c steps 5-8) and the per-app deploy lock
//! (§c step 5, §d "Deploy lock"). Containers are records; the image catalog decides whether they
//! run, exit or fail health checks (harness.rs).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::ctx::{fail, fail_lines, io_err, read_opt, remove_any, write_atomic, Ctx, Fail, Res};
use crate::harness::{image_behaviour, Rules};
use crate::plugins::trigger;
use crate::store::mkdirs;

/// A simulated container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    /// Process type.
    pub proc: String,
    /// 1-based index.
    pub index: u32,
    /// Fake container id.
    pub id: String,
    /// `running`, `exited` or `restarting`.
    pub state: String,
    /// Exit code when exited.
    pub exit_code: Option<i32>,
    /// Last health-check result.
    pub healthy: bool,
    /// The `docker container create` arguments Dokku would run it with: the stored docker
    /// options, resource limits and Dokku's own arguments joined and split as Dokku splits
    /// them (`options::deploy_args`), so tests see exactly which docker flags it got.
    #[serde(default)]
    pub args: Vec<String>,
    /// The networks the container is connected to, in the order it joined them.
    #[serde(default)]
    pub networks: Vec<String>,
}

/// The networks a new container of `app` joins when it is created: `initial-network` (the
/// `--network` docker option of `TriggerDockerArgsProcess`, else `bridge`), then only the first
/// network `attach-post-create` names (`TriggerPostContainerCreate` returns after the first, in
/// plugins/network/triggers.go). A missing network fails the deploy as in Dokku.
pub(crate) fn creation_networks(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    let initial = ctx.prop_computed("network", app, "initial-network", "")?;
    let mut v = Vec::new();
    if initial.is_empty() {
        v.push("bridge".to_string());
    } else if crate::cmd::network::exists(ctx, &initial) {
        v.push(initial);
    } else {
        return fail(format!(
            "docker: Error response from daemon: network {initial} not found."
        ));
    }
    let attach = ctx.prop_computed("network", app, "attach-post-create", "")?;
    if let Some(first) = attach.split(',').next().filter(|n| !n.is_empty()) {
        if !crate::cmd::network::exists(ctx, first) {
            return fail(format!("Network {first} does not exist"));
        }
        if !v.iter().any(|n| n == first) {
            v.push(first.to_string());
        }
    }
    Ok(v)
}

/// `TriggerCorePostDeploy`: every network of `attach-post-deploy` is connected to every
/// running container, after the checks; a missing network fails the deploy.
fn attach_post_deploy(ctx: &Ctx, app: &str, containers: &mut [Container]) -> Res {
    let list = ctx.prop_computed("network", app, "attach-post-deploy", "")?;
    for n in list.split(',').filter(|n| !n.is_empty()) {
        ctx.info1(format!("Associating app with network {n}"));
        if !crate::cmd::network::exists(ctx, n) {
            return fail(format!("Network {n} does not exist"));
        }
        for c in containers.iter_mut().filter(|c| c.state == "running") {
            if !c.networks.iter().any(|x| x == n) {
                c.networks.push(n.to_string());
            }
        }
    }
    Ok(())
}

/// Deployed state of an app (`$DOKKU_LIB_ROOT/data/ps/<app>/sandbox.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    /// Whether the app has ever been deployed successfully.
    pub deployed: bool,
    /// Whether containers are running (false after `ps:stop`).
    pub running: bool,
    /// The image the app runs (`FROM` image, `git:from-image` image, or `dokku/<app>:latest`).
    pub source_image: String,
    /// The image tag (`latest`); the image is `dokku/<app>:<tag>`.
    pub image_tag: String,
    /// The deployed git revision.
    pub rev: String,
    /// Process types from the Procfile (name → command).
    pub procfile: BTreeMap<String, String>,
    /// Containers.
    pub containers: Vec<Container>,
    /// Deploy counter.
    pub deploys: u64,
    /// The `docker build` arguments of the last Dockerfile build (`options::build_args`).
    pub build_args: Vec<String>,
    /// The deployed app.json (`appjson-path`), read for its health checks by the docker
    /// runtime.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub app_json: serde_json::Value,
}

fn state_path(ctx: &Ctx, app: &str) -> PathBuf {
    ctx.paths.data_dir("ps", app).join("sandbox.json")
}

/// Load an app's deployed state.
pub fn load(ctx: &Ctx, app: &str) -> Res<AppState> {
    Ok(read_opt(&state_path(ctx, app))?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// Save an app's deployed state.
pub fn save(ctx: &Ctx, app: &str, st: &AppState) -> Res {
    write_atomic(
        &state_path(ctx, app),
        &serde_json::to_string_pretty(st).unwrap_or_default(),
    )
}

/// The scale (`proc=count`) of the ps `scale` property; web defaults to 1.
pub fn scale(ctx: &Ctx, app: &str, st: &AppState) -> Res<BTreeMap<String, u32>> {
    let mut m: BTreeMap<String, u32> = BTreeMap::new();
    // `parseProcessTuples`: trimmed `type=count` lines, the first of a type wins.
    for l in ctx.read_lines(&scale_path(ctx, app))? {
        if let Some((k, v)) = l.split_once('=') {
            let k = k.trim();
            if !k.is_empty() && !m.contains_key(k) {
                m.insert(k.to_string(), v.trim().parse().unwrap_or(0));
            }
        }
    }
    // plugins/ps `TriggerPostCreate` gives every app `web=1`, Procfile or not.
    m.entry("web".into()).or_insert(1);
    for p in st.procfile.keys() {
        m.entry(p.clone()).or_insert(u32::from(p == "web"));
    }
    Ok(m)
}

/// Write the scale file.
pub fn write_scale(ctx: &Ctx, app: &str, m: &BTreeMap<String, u32>) -> Res {
    let lines: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    ctx.write_lines(&scale_path(ctx, app), &lines)
}

/// The ps plugin's `scale` property list (`$DOKKU_LIB_ROOT/config/ps/<app>/scale`).
fn scale_path(ctx: &Ctx, app: &str) -> PathBuf {
    ctx.paths.prop_path("ps", app, "scale")
}

/// The held per-app deploy lock.
pub struct DeployLock {
    lock: Option<Flock<File>>,
    path: PathBuf,
}

impl DeployLock {
    /// `acquire_app_deploy_lock <app> exclusive`: `flock -n` on `.deploy.lock` (§c step 5).
    pub fn acquire(ctx: &Ctx, app: &str) -> Res<DeployLock> {
        let dir = ctx.paths.data_dir("apps", app);
        mkdirs(&dir)?;
        let path = dir.join(".deploy.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(mut l) => {
                drop(writeln!(
                    l,
                    "{}",
                    std::env::var("DOKKU_PID").unwrap_or_default()
                ));
                Ok(DeployLock {
                    lock: Some(l),
                    path,
                })
            }
            Err(_) => fail_lines(&[
                &format!("{app} currently has a deploy lock in place. Exiting..."),
                "Run 'apps:unlock' to release the existing deploy lock",
            ]),
        }
    }
    /// Release: unlock and delete the file.
    pub fn release(mut self) {
        self.finish();
    }
    fn finish(&mut self) {
        if let Some(l) = self.lock.take() {
            drop(remove_any(&self.path));
            drop(l.unlock());
        }
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        self.finish();
    }
}

fn tfail(code: i32) -> Fail {
    Fail::Silent(code.clamp(1, 255) as u8)
}

/// Extract `rev` of the app repo into a fresh temp work dir.
pub fn extract(ctx: &Ctx, app: &str, rev: &str) -> Res<PathBuf> {
    let tmp = ctx.paths.sandbox_dir().join("tmp").join(format!(
        "dokku-{}-git_build_app_repo.{}",
        std::process::id(),
        crate::harness::now_ms()
    ));
    mkdirs(&tmp)?;
    let repo = ctx.paths.app_dir(app);
    let archive = Command::new("git")
        .arg("--git-dir")
        .arg(&repo)
        .args(["archive", "--format=tar", rev])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(&repo))?;
    let out = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&tmp)
        .stdin(archive.stdout.ok_or(Fail::Silent(1))?)
        .status()
        .map_err(io_err(&tmp))?;
    if !out.success() {
        return fail(format!("Unable to extract {rev} of {app}"));
    }
    Ok(tmp)
}

/// The core plugins' `core-post-extract` steps, in plugin order, on the extracted source:
/// - builder `TriggerCorePostExtract`: a `build-dir` becomes the root of the work dir, or the
///   deploy fails with "Specified build-dir not found in sourcecode working directory: <dir>";
/// - builder-dockerfile `core-post-extract`: a `dockerfile-path` other than `Dockerfile` is
///   moved to `Dockerfile`, or the deploy fails with "Invalid dockerfile-path specified: <p>";
/// - ps `TriggerCorePostExtract`: the Procfile at `procfile-path` (default `Procfile`) is
///   validated ("Invalid Procfile: …", as `procfile-util check`) and becomes the app's Procfile;
///   a missing one means no Procfile (and the repository's own `Procfile` is removed);
/// - app-json: the file at `appjson-path` is extracted when it exists; a missing one is no
///   error (`CorePostExtract`), and the sandbox does not read app.json (docs/sandbox.md).
///
/// Returns the process types of the extracted Procfile.
fn core_post_extract(ctx: &Ctx, app: &str, dir: &Path) -> Res<BTreeMap<String, String>> {
    let build_dir = ctx.prop_computed("builder", app, "build-dir", "")?;
    let build_dir = build_dir.trim_matches('/');
    if !build_dir.is_empty() {
        let sub = dir.join(build_dir);
        if !inside_dir(dir, &sub) || !sub.is_dir() {
            return fail(format!(
                "Specified build-dir not found in sourcecode working directory: {build_dir}"
            ));
        }
        let tmp = dir.with_extension("build-dir");
        drop(remove_any(&tmp));
        std::fs::rename(&sub, &tmp).map_err(io_err(&sub))?;
        for e in std::fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
            remove_any(&e.path())?;
        }
        for e in std::fs::read_dir(&tmp).map_err(io_err(&tmp))?.flatten() {
            let to = dir.join(e.file_name());
            std::fs::rename(e.path(), &to).map_err(io_err(&to))?;
        }
        remove_any(&tmp)?;
    }
    let dockerfile = ctx.prop_computed("builder-dockerfile", app, "dockerfile-path", "")?;
    if !dockerfile.is_empty() && dockerfile != "Dockerfile" {
        let from = dir.join(&dockerfile);
        if !inside_dir(dir, &from) || !from.is_file() {
            return fail(format!("Invalid dockerfile-path specified: {dockerfile}"));
        }
        let to = dir.join("Dockerfile");
        std::fs::rename(&from, &to).map_err(io_err(&from))?;
    }
    let procfile_path = ctx.prop_computed("ps", app, "procfile-path", "")?;
    let procfile_path = match procfile_path.trim_matches('/') {
        "" => "Procfile".to_string(),
        p => p.to_string(),
    };
    let from = dir.join(&procfile_path);
    let text = if inside_dir(dir, &from) && from.is_file() {
        read_opt(&from)?
    } else {
        None
    };
    let procfile = match text {
        Some(t) => {
            check_procfile(&t).map_err(|e| Fail::Dokku {
                code: 1,
                lines: vec![format!("Invalid Procfile: {e}")],
                raw: false,
            })?;
            if procfile_path != "Procfile" {
                write_atomic(&dir.join("Procfile"), &t)?;
            }
            parse_procfile(&t)
        }
        None => {
            if procfile_path != "Procfile" {
                drop(remove_any(&dir.join("Procfile")));
            }
            BTreeMap::new()
        }
    };
    // app-json `CorePostExtract`: the file at `appjson-path` is kept for the release.
    let appjson = ctx.prop_computed("app-json", app, "appjson-path", "app.json")?;
    let from = dir.join(appjson.trim_start_matches('/'));
    let keep = inside_dir(dir, &from) && from.is_file();
    crate::cmd::appjson::store(ctx, app, keep.then_some(from.as_path()))?;
    // scheduler-k3s `TriggerCorePostExtract`: the `kustomize-root-path` directory is kept.
    crate::k3s_kustomize::extract(ctx, app, dir)?;
    Ok(procfile)
}

/// Whether `p` stays inside `dir` once `..` is resolved lexically (no symlink is followed out:
/// the extracted tree is the pushed one).
fn inside_dir(dir: &Path, p: &Path) -> bool {
    let Ok(rel) = p.strip_prefix(dir) else {
        return false;
    };
    let mut depth: i64 = 0;
    for c in rel.components() {
        match c {
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    match (p.canonicalize(), dir.canonicalize()) {
        (Ok(a), Ok(b)) => a.starts_with(b),
        _ => true,
    }
}

/// `procfile-util check`: every line that is not blank or a comment is `<name>: <command>`
/// with a name of letters, digits, `-` and `_`, and no process type appears twice.
pub fn check_procfile(s: &str) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, line) in s.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ok = t.split_once(':').filter(|(k, v)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !v.trim().is_empty()
        });
        let Some((k, _)) = ok else {
            return Err(format!("invalid line in procfile, line {}", i + 1));
        };
        if !seen.insert(k.to_string()) {
            return Err(format!("process type {k} specified more than once"));
        }
    }
    Ok(())
}

/// Parse `name: command` lines of a Procfile.
pub fn parse_procfile(s: &str) -> BTreeMap<String, String> {
    s.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| !k.trim().is_empty() && !k.contains(' '))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Where a deploy came from, for `deploy-source-set` (§b trigger table).
pub enum Source {
    /// `git push` of a sha.
    GitPush(String),
    /// `git:from-image` of an image.
    Image(String),
    /// `git:sync` of `<remote>#<ref>`.
    Sync(String),
    /// `git:from-archive` of `(type, url)`.
    Archive(String, String),
    /// `ps:rebuild` (no `deploy-source-set`).
    Rebuild,
}

/// The git build chain: lock, `GIT_REV`, extract, `core-post-extract`, `post-extract` (failure
/// ignored), `builder-detect`, `pre-receive-app` (ignored), build, release, deploy, then
/// `deploy-source-set` after success (§c steps 5-7).
pub fn build_chain(ctx: &mut Ctx, app: &str, rev: &str, source: Source) -> Res {
    let lock = DeployLock::acquire(ctx, app)?;
    let rev_var = match ctx.prop("git", app, "rev-env-var")? {
        Some(v) => v,
        None => ctx
            .prop("git", "--global", "rev-env-var")?
            .unwrap_or_else(|| "GIT_REV".into()),
    };
    if !rev_var.is_empty() {
        crate::cmd::config::set_quiet(ctx, app, &[(rev_var, rev.to_string())])?;
    }
    let dir = extract(ctx, app, rev)?;
    let d = dir.display().to_string();
    // The caller has `pushd`ed into the work dir before the extract triggers (§a "CWD").
    let cwd = std::env::current_dir().ok();
    drop(std::env::set_current_dir(&dir));
    let res = (|| -> Res {
        // The core plugins' own core-post-extract steps (builder, builder-dockerfile, ps,
        // app-json), then the other plugins' triggers.
        let procfile = core_post_extract(ctx, app, &dir)?;
        let appjson_path = ctx.prop_computed("app-json", app, "appjson-path", "app.json")?;
        let appjson = dir.join(appjson_path.trim_start_matches('/'));
        let app_json = if inside_dir(&dir, &appjson) {
            crate::docker::read_json(&appjson)?
        } else {
            serde_json::Value::Null
        };
        let t = trigger(ctx, "core-post-extract", &[app, &d, rev], false, true)?;
        if t.code != 0 {
            return Err(tfail(t.code));
        }
        // post-extract: failure does not stop the deploy (§b trigger table; UNCONFIRMED at runtime).
        trigger(ctx, "post-extract", &[app, &d, rev], false, false)?;
        let builder = detect_builder(ctx, app, &dir)?;
        trigger(
            ctx,
            "pre-receive-app",
            &[app, &builder, &d, rev],
            false,
            false,
        )?;
        // The build context decides (a post-extract edit of the Dockerfile counts); a
        // `dockerfile-path` was moved to `Dockerfile` by core-post-extract.
        let image = from_image(&dir.join("Dockerfile")).unwrap_or_else(|| match &source {
            Source::Image(i) => i.clone(),
            _ => format!("dokku/{app}:latest"),
        });
        if !build(ctx, app, &builder, &image, &d)? {
            // plugins/common/functions `release_and_deploy`: without the image
            // `dokku/<app>:latest` (`fn-verify-app-image`) release and deploy are skipped and
            // the push succeeds. A community builder's docker images are invisible here: the
            // app keeps the image of an earlier deploy, if it had one.
            let st = load(ctx, app)?;
            if st.source_image.is_empty() {
                return Ok(());
            }
            let previous = st.source_image.clone();
            return release_and_deploy_with(ctx, app, &previous, rev, None);
        }
        let mut st = load(ctx, app)?;
        st.app_json = app_json;
        save(ctx, app, &st)?;
        release_and_deploy_with(ctx, app, &image, rev, Some(procfile))
    })();
    if let Some(c) = cwd {
        drop(std::env::set_current_dir(c));
    }
    drop(remove_any(&dir));
    lock.release();
    res?;
    let (kind, meta) = match source {
        Source::GitPush(sha) => ("git-push", sha),
        Source::Image(i) => ("docker-image", i),
        Source::Sync(r) => ("git-sync", r),
        Source::Archive(kind, url) => {
            ctx.set_prop("apps", app, "deploy-source", &kind)?;
            ctx.set_prop("apps", app, "deploy-source-metadata", &url)?;
            let t = trigger(ctx, "deploy-source-set", &[app, &kind, &url], false, false)?;
            if t.code != 0 {
                return Err(tfail(t.code));
            }
            return Ok(());
        }
        Source::Rebuild => return Ok(()),
    };
    ctx.set_prop("apps", app, "deploy-source", kind)?;
    ctx.set_prop("apps", app, "deploy-source-metadata", &meta)?;
    let t = trigger(ctx, "deploy-source-set", &[app, kind, &meta], false, false)?;
    if t.code != 0 {
        return Err(tfail(t.code));
    }
    Ok(())
}

/// The first `FROM` image of a Dockerfile.
fn from_image(dockerfile: &Path) -> Option<String> {
    let df = std::fs::read_to_string(dockerfile).ok()?;
    df.lines().find_map(|l| {
        l.trim()
            .strip_prefix("FROM ")
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
    })
}

/// Builder detection: `builder:set selected`, else `builder-detect` output (`head -n1`), else
/// `dockerfile` when a Dockerfile exists, else `herokuish` (§b trigger table).
fn detect_builder(ctx: &mut Ctx, app: &str, dir: &Path) -> Res<String> {
    let selected = ctx.prop_computed("builder", app, "selected", "")?;
    if !selected.is_empty() {
        return Ok(selected);
    }
    let d = dir.display().to_string();
    let out = trigger(ctx, "builder-detect", &[app, &d], true, false)?;
    if let Some(first) = out.stdout.lines().next().filter(|l| !l.trim().is_empty()) {
        return Ok(first.trim().to_string());
    }
    let herokuish_marker =
        dir.join(".buildpacks").exists() || ctx.env(app)?.contains_key("BUILDPACK_URL");
    // builder-dockerfile `builder-detect`: `Dockerfile` (core-post-extract moved a
    // `dockerfile-path` there).
    Ok(if dir.join("Dockerfile").exists() && !herokuish_marker {
        "dockerfile"
    } else {
        "herokuish"
    }
    .to_string())
}

/// The builders Dokku ships; any other `builder:set selected` value is a community builder
/// whose `builder-build` trigger does the work.
const CORE_BUILDERS: &[&str] = &[
    "dockerfile",
    "herokuish",
    "pack",
    "nixpacks",
    "railpack",
    "lambda",
    "null",
];

/// plugins/common/functions `dokku_build`: `plugn trigger builder-build <type> <app> <dir>`;
/// every plugin's trigger runs and ignores other types; a failure is ` !     App build
/// failed`. Returns whether the build produced the app's image (a core builder did).
fn build(ctx: &mut Ctx, app: &str, builder: &str, image: &str, dir: &str) -> Res<bool> {
    ctx.set_prop("builder", app, "detected", builder)?;
    let core = CORE_BUILDERS.contains(&builder);
    if core {
        // The core builders' own `builder-build` (they sort before community plugins): each
        // announces itself ("from Dockerfile") and fires pre-build and post-build.
        match builder {
            "dockerfile" => ctx.info1(format!("Building {app} from Dockerfile")),
            "null" => {}
            other => ctx.info1(format!("Building {app} from {other}")),
        }
        let t = trigger(ctx, "pre-build", &[builder, app, dir], false, false)?;
        if t.code != 0 {
            return fail("App build failed");
        }
        if builder == "dockerfile" {
            // `docker build` fails when there is no Dockerfile in the build directory (a
            // `dockerfile-path` was moved to `Dockerfile` at extract).
            let dockerfile = Path::new(dir).join("Dockerfile");
            if !dockerfile.is_file() {
                return fail_lines(&[
                    &format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", dockerfile.display()),
                    "App build failed",
                ]);
            }
            // builder-dockerfile splits the build options before `docker build`.
            let args = match crate::cmd::options::build_args(ctx, app, builder)? {
                Ok(a) => a,
                Err(e) => return fail_lines(&[&e, "App build failed"]),
            };
            let mut st = load(ctx, app)?;
            st.build_args = args;
            save(ctx, app, &st)?;
        }
        let b = image_behaviour(&ctx.paths, app, image);
        if builder != "null" {
            ctx.sleep_ms(b.build_ms)?;
        }
        if b.build_fails && builder != "null" {
            return fail("App build failed");
        }
        if builder == "dockerfile" && crate::docker::enabled(&ctx.paths) {
            crate::docker::build(ctx, app, Path::new(dir))?;
        }
        let t = trigger(ctx, "post-build", &[builder, app, dir], false, false)?;
        if t.code != 0 {
            return fail("App build failed");
        }
    }
    // Community plugins' `builder-build` (a builder that is not ours returns at once).
    let t = trigger(ctx, "builder-build", &[builder, app, dir], false, false)?;
    if t.code != 0 {
        return fail("App build failed");
    }
    Ok(core)
}

/// `release_and_deploy` with the current image (config restarts, `ps:start`): no extract or detect.
pub fn release_and_deploy(ctx: &mut Ctx, app: &str) -> Res {
    let st = load(ctx, app)?;
    let image = if st.source_image.is_empty() {
        format!("dokku/{app}:latest")
    } else {
        st.source_image.clone()
    };
    release_and_deploy_with(ctx, app, &image, &st.rev, None)
}

fn release_and_deploy_with(
    ctx: &mut Ctx,
    app: &str,
    image: &str,
    rev: &str,
    procfile: Option<BTreeMap<String, String>>,
) -> Res {
    let tag = format!("dokku/{app}:latest");
    let builder = ctx.prop_or("builder", app, "detected")?;
    let builder = if builder.is_empty() {
        "herokuish".to_string()
    } else {
        builder
    };
    ctx.info1(format!("Releasing {app}..."));
    // app-json `TriggerPreReleaseBuilder`: app.json env first.
    let first_deploy = !load(ctx, app)?.deployed;
    crate::cmd::appjson::process_env(ctx, app, first_deploy)?;
    let t = trigger(
        ctx,
        "pre-release-builder",
        &[&builder, app, &tag],
        false,
        false,
    )?;
    if t.code != 0 {
        return Err(tfail(t.code));
    }
    let t = trigger(
        ctx,
        "post-release-builder",
        &[&builder, app, &tag],
        false,
        false,
    )?;
    if t.code != 0 {
        return Err(tfail(t.code));
    }
    // The registry plugin's post-release-builder calls the deprecated pre-deploy (§b).
    let has_pre_deploy = crate::plugins::enabled(ctx)
        .iter()
        .any(|(n, d)| n != "20_events" && d.join("pre-deploy").is_file());
    if has_pre_deploy {
        ctx.warn("Deprecated: please upgrade plugin to use 'pre-release-builder' plugin trigger instead of pre-deploy");
        // `$IMAGE_TAG` is the tag (`latest`), not the image name.
        let t = trigger(ctx, "pre-deploy", &[app, "latest"], false, false)?;
        if t.code != 0 {
            return Err(tfail(t.code));
        }
    }
    // The registry plugin's post-release-builder: tag and push with `push-on-release`.
    crate::k3s::registry_push(ctx, app)?;
    let mut st = load(ctx, app)?;
    st.source_image = image.to_string();
    st.image_tag = "latest".into();
    if !rev.is_empty() {
        st.rev = rev.to_string();
    }
    if let Some(p) = procfile {
        st.procfile = p;
    }
    save(ctx, app, &st)?;
    if ctx.prop_computed("ps", app, "skip-deploy", "false")? == "true" {
        return Ok(());
    }
    deploy_containers(ctx, app)
}

/// The `deploy` trigger: start containers per process type, health checks, `post-deploy`.
/// A failed check leaves the previous containers in place and fails the deploy.
pub fn deploy_containers(ctx: &mut Ctx, app: &str) -> Res {
    let mut st = load(ctx, app)?;
    let scheduler = ctx.prop_computed("scheduler", app, "selected", "docker-local")?;
    ctx.info1(format!("Deploying {app} via the {scheduler} scheduler..."));
    let rules = Rules::load(&ctx.paths);
    ctx.sleep_ms(rules.latency.deploy_ms)?;
    let b = image_behaviour(&ctx.paths, app, &st.source_image);
    let forced_unhealthy = rules.deploy_fault(app);
    let disabled = ctx.prop_or("checks", app, "disabled")?;
    let skipped = ctx.prop_or("checks", app, "skipped")?;
    let listed = |list: &str, p: &str| list.split(',').any(|x| x == p || x == "_all_");
    st.deploys += 1;
    // scheduler-k3s `TriggerSchedulerDeploy`: the chart's objects in the cluster store; no
    // container, network, restart policy or docker-local check is involved.
    if scheduler == "k3s" {
        crate::k3s::deploy(ctx, app, &mut st)?;
        return finish_deploy(ctx, app, st);
    }
    // The null scheduler starts nothing (product brief: `null` builder and scheduler).
    let sc = if scheduler == "null" {
        BTreeMap::new()
    } else {
        scale(ctx, app, &st)?
    };
    let source_type = ctx.prop_or("builder", app, "detected")?;
    let mut containers = Vec::new();
    let networks = if sc.values().any(|n| *n > 0) {
        creation_networks(ctx, app)?
    } else {
        Vec::new()
    };
    if crate::docker::enabled(&ctx.paths) {
        crate::docker::deploy(ctx, app, &mut st, &sc, &networks)?;
        return finish_deploy(ctx, app, st);
    }
    for (proc, count) in sc {
        // scheduler-docker-local `scheduler-deploy`: a scaled type the Procfile lacks.
        if count > 0 && !st.procfile.is_empty() && !st.procfile.contains_key(&proc) {
            ctx.warn(format!(
                "Skipping {proc} as it is missing from the current Procfile"
            ));
            continue;
        }
        for i in 1..=count {
            ctx.sleep_ms(b.start_ms)?;
            let id = format!(
                "{:012x}",
                (st.deploys << 24)
                    ^ (u64::from(i) << 8)
                    ^ proc.len() as u64
                    ^ crate::harness::now_ms() as u64
            );
            let (state, exit_code) = match b.exit {
                Some(c) => ("exited".to_string(), Some(c)),
                None => ("running".to_string(), None),
            };
            let args = match crate::cmd::options::deploy_args(
                ctx,
                app,
                &proc,
                i,
                &st.source_image,
                &source_type,
            )? {
                Ok(a) => a,
                Err(e) => {
                    return Err(Fail::Dokku {
                        code: 1,
                        lines: vec![e],
                        raw: false,
                    })
                }
            };
            let no_checks = listed(&disabled, &proc) || listed(&skipped, &proc);
            let healthy = !forced_unhealthy && !b.unhealthy && exit_code.is_none();
            // plugins/scheduler-docker-local: checks per container; the first failure stops the
            // deploy and the previous containers keep serving.
            if !no_checks {
                ctx.verbose(format!("Attempting pre-flight checks ({proc}.{i})"));
                if !healthy {
                    return Err(Fail::Dokku {
                        code: 1,
                        lines: vec![format!(
                            "Could not start due to 1 failed checks ({proc}.{i})"
                        )],
                        raw: false,
                    });
                }
                ctx.verbose(format!("All checks successful ({proc}.{i})"));
            }
            containers.push(Container {
                proc: proc.clone(),
                index: i,
                id,
                state,
                exit_code,
                healthy,
                args,
                networks: networks.clone(),
            });
        }
    }
    attach_post_deploy(ctx, app, &mut containers)?;
    st.containers = containers;
    finish_deploy(ctx, app, st)
}

/// Record a successful deploy, then `post-deploy` and the URLs.
fn finish_deploy(ctx: &mut Ctx, app: &str, mut st: AppState) -> Res {
    st.deployed = true;
    st.running = true;
    save(ctx, app, &st)?;
    ctx.info1("Running post-deploy");
    let t = trigger(
        ctx,
        "post-deploy",
        &[app, "", "", &st.image_tag],
        false,
        false,
    )?;
    if t.code != 0 {
        return Err(tfail(t.code));
    }
    ctx.info2("Application deployed:");
    for u in crate::cmd::domains::app_urls(ctx, app)? {
        ctx.verbose(u);
    }
    Ok(())
}

/// Stop containers (`ps:stop`): `scheduler-stop` then `post-stop`.
pub fn stop(ctx: &mut Ctx, app: &str) -> Res {
    if ctx.prop_computed("scheduler", app, "selected", "docker-local")? == "k3s" {
        crate::k3s::stop(ctx, app)?;
    } else if crate::docker::enabled(&ctx.paths) {
        crate::docker::stop_app(ctx, app, false)?;
    }
    let mut st = load(ctx, app)?;
    for c in &mut st.containers {
        c.state = "exited".into();
        c.exit_code.get_or_insert(0);
    }
    st.running = false;
    save(ctx, app, &st)?;
    if crate::docker::enabled(&ctx.paths) {
        crate::proxy::rebuild(ctx)?;
    }
    let t = trigger(ctx, "post-stop", &[app], false, false)?;
    if t.code != 0 {
        return Err(tfail(t.code));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_procfiles_are_refused() {
        assert!(check_procfile("# c\nweb: run server\n\nworker: q\n").is_ok());
        assert_eq!(
            check_procfile("web: a\n<<<<<<< HEAD=0\n").unwrap_err(),
            "invalid line in procfile, line 2"
        );
        assert!(check_procfile("web: a\nweb: b\n").is_err());
        assert!(check_procfile("web:\n").is_err());
    }

    #[test]
    fn procfile_parsing_skips_comments() {
        let p = parse_procfile("# c\nweb: run server\nworker: q --x=1\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p["worker"], "q --x=1");
    }
}
