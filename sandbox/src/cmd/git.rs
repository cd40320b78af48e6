//! `git:*`, `git-receive-pack`, `git-upload-pack` and `git-hook`: app repos are bare git repos
//! at `$DOKKU_ROOT/<app>` with a pre-receive hook that runs `dokku git-hook <app>`
//! (dokku-facts.md §c steps 3-4 and 8; §b "`git:from-image`"; dokku-cli.json `git:*`).

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::args::{parse, spec};
use crate::cmd::props;
use crate::ctx::{fail, fail_lines, io_err, write_atomic, Ctx, Fail, Res};
use crate::deploy::{self, Source};
use crate::store::{is_valid_app_name_old, rows, Report, Row};

fn git_in(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("--git-dir").arg(repo);
    c
}

/// `git init --bare` plus the pre-receive hook (what the git plugin's `post-create` does).
pub fn init_repo(ctx: &Ctx, app: &str) -> Res {
    let dir = ctx.paths.app_dir(app);
    let o = Command::new("git")
        .args(["init", "--bare", "--quiet", "--initial-branch=master"])
        .arg(&dir)
        .output()
        .map_err(io_err(&dir))?;
    if !o.status.success() {
        return fail(format!(
            "Unable to initialize git repository for {app}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    let exe = std::env::current_exe().map_err(io_err(&dir))?;
    let hook = dir.join("hooks/pre-receive");
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let script = format!(
        "#!/usr/bin/env bash\nset -e\nset -o pipefail\n\nexport DOKKU_ROOT={} DOKKU_LIB_PATH={}\ncat | {} git-hook \"{app}\"\n",
        q(&ctx.paths.root),
        q(&ctx.paths.lib),
        q(&exe)
    );
    write_atomic(&hook, &script)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).map_err(io_err(&hook))
}

/// The deploy branch: app property, else global, else `master` (§c step 4).
pub fn deploy_branch(ctx: &Ctx, app: &str) -> Res<String> {
    ctx.prop_computed("git", app, "deploy-branch", "master")
}

/// Resolve a ref in the app repo.
pub fn rev_parse(ctx: &Ctx, app: &str, r: &str) -> Option<String> {
    let o = git_in(&ctx.paths.app_dir(app))
        .args(["rev-parse", "--verify", "--quiet", r])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Whether the app was last deployed from an image.
pub fn is_image_source(ctx: &Ctx, app: &str) -> Res<bool> {
    Ok(ctx.prop_or("apps", app, "deploy-source")? == "docker-image")
}

/// `git-receive-pack '<app>'` / `git-upload-pack '<app>'` (§c step 3): validate, auto-create on
/// push unless `disable-autocreation`, then hand over to git.
pub fn receive_pack(ctx: &mut Ctx, which: &str, args: &[String]) -> Res {
    let app = args
        .first()
        .map(|a| {
            a.trim_matches(|c| c == '\'' || c == '"')
                .trim_start_matches('/')
                .to_string()
        })
        .unwrap_or_default();
    if !is_valid_app_name_old(&app) {
        return fail(crate::store::APP_NAME_ERROR);
    }
    if !ctx.app_exists(&app) {
        if which == "git-upload-pack" {
            return crate::ctx::fail_code(20, format!("App {app} does not exist"));
        }
        if ctx.prop_or("apps", "--global", "disable-autocreation")? == "true" {
            return fail(format!(
                "App {app} does not exist and autocreation is disabled"
            ));
        }
        // `app-maybe-create` suppresses the creation output: stdout here is git's protocol pipe.
        let saved = quiet_stdout()?;
        let r = crate::cmd::apps::create(ctx, &app, false);
        restore_stdout(saved)?;
        r?;
    }
    let dir = ctx.paths.app_dir(&app);
    let sub = which.trim_start_matches("git-");
    let status = ctx
        .unlocked(|_| Command::new("git").arg(sub).arg(&dir).status())?
        .map_err(io_err(&dir))?;
    if status.success() {
        Ok(())
    } else {
        Err(Fail::Silent(status.code().unwrap_or(1).clamp(1, 255) as u8))
    }
}

/// Point fd 1 at /dev/null, returning the original.
fn quiet_stdout() -> Res<std::os::fd::OwnedFd> {
    use std::io::Write;
    drop(std::io::stdout().flush());
    let dev_null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(io_err(Path::new("/dev/null")))?;
    let stdout = std::io::stdout();
    let saved = nix::unistd::dup(&stdout).map_err(|e| io_err(Path::new("stdout"))(e.into()))?;
    nix::unistd::dup2_stdout(&dev_null).map_err(|e| io_err(Path::new("stdout"))(e.into()))?;
    Ok(saved)
}

/// Put the original stdout back.
fn restore_stdout(saved: std::os::fd::OwnedFd) -> Res {
    use std::io::Write;
    drop(std::io::stdout().flush());
    nix::unistd::dup2_stdout(&saved).map_err(|e| io_err(Path::new("stdout"))(e.into()))
}

/// `git-hook <app>`: the pre-receive hook body (§c step 4). A failed deploy exits non-zero so
/// git rejects the push and leaves the branch where it was (§c step 8).
pub fn hook(ctx: &mut Ctx, args: &[String]) -> Res {
    let app = args.first().cloned().unwrap_or_default();
    ctx.verify_app(&app)?;
    let lines: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .collect();
    for l in lines {
        let v: Vec<&str> = l.split_whitespace().collect();
        let [_old, new, refname] = v[..] else {
            continue;
        };
        if new.chars().all(|c| c == '0') {
            continue;
        }
        let explicit = ctx.prop("git", &app, "deploy-branch")?.is_some()
            || ctx.prop("git", "--global", "deploy-branch")?.is_some();
        let branch = deploy_branch(ctx, &app)?;
        if refname != format!("refs/heads/{branch}") && refname != format!("refs/tags/{branch}") {
            // `cmd-git-hook`: the core 20_events plugin is the one `receive-branch` implementer
            // the sandbox stands in for; any community one makes the trigger run instead.
            let community = crate::plugins::enabled(ctx)
                .iter()
                .any(|(_, d)| d.join("receive-branch").is_file());
            if community {
                let t = crate::plugins::trigger(
                    ctx,
                    "receive-branch",
                    &[&app, new, refname],
                    false,
                    false,
                )?;
                if t.code != 0 {
                    return Err(Fail::Silent(t.code.clamp(1, 255) as u8));
                }
                crate::plugins::trigger(
                    ctx,
                    "deploy-source-set",
                    &[&app, "git-push", new],
                    false,
                    false,
                )?;
                continue;
            }
            if explicit {
                let short = refname.strip_prefix("refs/heads/").unwrap_or(refname);
                ctx.info1(format!(
                    "WARNING: deploy did not complete, you must push to {branch}."
                ));
                ctx.info1(format!(
                    "for example, try 'git push <dokku> {short}:{branch}'"
                ));
                continue;
            }
            let pushed = refname
                .strip_prefix("refs/heads/")
                .or_else(|| refname.strip_prefix("refs/tags/"))
                .unwrap_or(refname);
            ctx.info1(format!("Set {pushed} as deploy-branch"));
            ctx.set_prop("git", &app, "deploy-branch", pushed)?;
        }
        ctx.set_prop(
            "git",
            &app,
            "last-updated-at",
            &crate::harness::now_ms().div_euclid(1000).to_string(),
        )?;
        deploy::build_chain(ctx, &app, new, Source::GitPush(new.to_string()))?;
    }
    Ok(())
}

/// Dispatch `git:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "from-image" => from_image(ctx, args),
        "from-archive" => from_archive(ctx, args),
        "set" => props::set(ctx, props::find("git").expect("git table"), args),
        "report" => Report {
            plugin: "git",
            kind: "git",
            legacy: false,
        }
        .run(ctx, args, &report_rows, &|c| {
            props::global_rows(c, props::find("git").expect("git table"))
        }),
        "initialize" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            if !ctx.paths.app_dir(&app).join("refs").is_dir() {
                init_repo(ctx, &app)?;
            }
            Ok(())
        }
        "sync" => sync(ctx, args),
        "auth" | "auth-status" | "allow-host" | "public-key" | "generate-deploy-key" => {
            host_commands(ctx, sub, args)
        }
        "status" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            ctx.out(format!("On branch {}", deploy_branch(ctx, &app)?));
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

/// The flag set of plugins/git/report.go: computed and global values for the archive limits,
/// deploy-branch and keep-git-dir; app values for deploy-branch, keep-git-dir, rev-env-var and
/// source-image; the sha and last update.
fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let branch = deploy_branch(ctx, app)?;
    let p = props::find("git").expect("git table");
    let default = |k: &str| {
        p.keys
            .iter()
            .find(|(key, _)| *key == k)
            .map_or("", |(_, d)| *d)
    };
    let mut v = Vec::new();
    for k in [
        "archive-max-files",
        "archive-max-size",
        "deploy-branch",
        "keep-git-dir",
    ] {
        v.push((
            format!("git-computed-{k}"),
            ctx.prop_computed("git", app, k, default(k))?,
        ));
        v.push((
            format!("git-global-{k}"),
            ctx.prop_or("git", "--global", k)?,
        ));
    }
    for k in [
        "deploy-branch",
        "keep-git-dir",
        "rev-env-var",
        "source-image",
    ] {
        v.push((format!("git-{k}"), ctx.prop_or("git", app, k)?));
    }
    let mut r = rows(v);
    r.extend(rows(vec![
        (
            "git-sha".into(),
            rev_parse(ctx, app, &format!("refs/heads/{branch}")).unwrap_or_default(),
        ),
        (
            "git-last-updated-at".into(),
            ctx.prop_or("git", app, "last-updated-at")?,
        ),
    ]));
    Ok(r)
}

/// Commit every file of `dir` onto the deploy branch's head (plugins/git `git-from-directory`).
/// An unchanged tree fails with Dokku's two "No changes detected" lines.
fn commit_dir(ctx: &Ctx, app: &str, dir: &Path, msg: &str, user: &str, email: &str) -> Res<String> {
    let repo = ctx.paths.app_dir(app);
    let idx = dir.with_extension("index");
    let run = |c: &mut Command| -> Res<String> {
        let o = c
            .env("GIT_INDEX_FILE", &idx)
            .env("GIT_AUTHOR_NAME", user)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", user)
            .env("GIT_COMMITTER_EMAIL", email)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err(&repo))?;
        if !o.status.success() {
            return fail(format!(
                "git failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let added = run(git_in(&repo)
        .arg("--work-tree")
        .arg(dir)
        .args(["add", "-A", "--force", "--", "."]));
    let tree = added.and_then(|_| run(git_in(&repo).arg("write-tree")));
    drop(crate::ctx::remove_any(&idx));
    let tree = tree?;
    let branch = deploy_branch(ctx, app)?;
    let parent = rev_parse(ctx, app, &format!("refs/heads/{branch}"));
    if let Some(p) = &parent {
        if rev_parse(ctx, app, &format!("{p}^{{tree}}")).as_deref() == Some(tree.as_str()) {
            return fail_lines(&[
                "No changes detected, skipping git commit",
                "Call 'ps:rebuild' on app to rebuild the app from existing source",
            ]);
        }
    }
    let mut c = git_in(&repo);
    c.args(["commit-tree", &tree, "-m", msg]);
    if let Some(p) = &parent {
        c.args(["-p", p]);
    }
    run(&mut c)
}

/// Commit `dir` and run the build chain; on failure the branch goes back where it was.
fn deploy_dir(
    ctx: &mut Ctx,
    app: &str,
    dir: &Path,
    msg: &str,
    user: &str,
    email: &str,
    source: Source,
) -> Res {
    let sha = commit_dir(ctx, app, dir, msg, user, email)?;
    let reference = format!("refs/heads/{}", deploy_branch(ctx, app)?);
    let old = rev_parse(ctx, app, &reference);
    let repo = ctx.paths.app_dir(app);
    git_in(&repo)
        .args(["update-ref", &reference, &sha])
        .status()
        .map_err(io_err(&repo))?;
    if old.is_none() {
        // `git-from-directory` on an app without code clones a new repository whose HEAD is
        // the deploy branch (`fn-git-clone`).
        git_in(&repo)
            .args(["symbolic-ref", "HEAD", &reference])
            .status()
            .map_err(io_err(&repo))?;
    }
    if let Err(e) = deploy::build_chain(ctx, app, &sha, source) {
        // git-from-directory rolls the app repo ref back when the deploy fails (§c step 8).
        match old {
            Some(o) => drop(git_in(&repo).args(["update-ref", &reference, &o]).status()),
            None => drop(
                git_in(&repo)
                    .args(["update-ref", "-d", &reference])
                    .status(),
            ),
        }
        return Err(e);
    }
    Ok(())
}

fn work_dir(ctx: &Ctx, what: &str) -> Res<std::path::PathBuf> {
    let d = ctx.paths.sandbox_dir().join("tmp").join(format!(
        "dokku-{}-{what}.{}",
        std::process::id(),
        crate::harness::now_ms()
    ));
    crate::store::mkdirs(&d)?;
    Ok(d)
}

/// `git:from-image [--build-dir D] [--force] <app> <image> [<user> <email>]` (§b).
fn from_image(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&["--build-dir"], &["--force"]))?;
    let (app, image) = (p.arg(0), p.arg(1));
    ctx.verify_app(&app)?;
    if image.is_empty() {
        return fail("Please specify a docker image");
    }
    let user = p.pos.get(2).cloned().unwrap_or_else(|| "Dokku".into());
    let email = p
        .pos
        .get(3)
        .cloned()
        .unwrap_or_else(|| "automated@dokku.sh".into());
    let tmp = work_dir(ctx, "git-from-image")?;
    write_atomic(
        &tmp.join("Dockerfile"),
        &format!(
            "FROM {image}\nLABEL com.dokku.docker-image-labeler/alternate-tags=[\"{image}\"]\n"
        ),
    )?;
    let previous_image = ctx.prop("git", &app, "source-image")?;
    ctx.set_prop("git", &app, "source-image", &image)?;
    let r = deploy_dir(
        ctx,
        &app,
        &tmp,
        &format!("Deploy image {image}"),
        &user,
        &email,
        Source::Image(image.clone()),
    );
    crate::ctx::remove_any(&tmp)?;
    if r.is_err() {
        match previous_image {
            Some(v) => ctx.set_prop("git", &app, "source-image", &v)?,
            None => ctx.unset_prop("git", &app, "source-image")?,
        }
    }
    r
}

/// `git:from-archive [--archive-type tar|tar.gz|zip] <app> <url|--> [<user> <email>]`: `--`
/// reads the archive from stdin; `file://` and plain paths are read locally (no downloads).
fn from_archive(ctx: &mut Ctx, args: &[String]) -> Res {
    // The bash argument loop of plugins/git keeps `--` as the archive url (it is not an
    // end-of-options marker there), after flags too: `--archive-type tar <app> --`.
    const STDIN: &str = "\u{0}stdin";
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if a == "--" {
                STDIN.to_owned()
            } else {
                a.clone()
            }
        })
        .collect();
    let p = parse(&args, &spec(&["--archive-type"], &[]))?;
    let (app, url) = (p.arg(0), p.arg(1));
    let url = if url == STDIN { "--".to_owned() } else { url };
    ctx.verify_app(&app)?;
    if url.is_empty() {
        return fail("Please specify an archive url or -- to fetch the archive from stdin");
    }
    let kind = p.get("--archive-type").unwrap_or("tar").to_string();
    let user = p.pos.get(2).cloned().unwrap_or_else(|| "Dokku".into());
    let email = p
        .pos
        .get(3)
        .cloned()
        .unwrap_or_else(|| "automated@dokku.sh".into());
    let src = work_dir(ctx, "git-from-archive-src")?;
    let archive = src.join(format!("src.{kind}"));
    if url == "--" {
        ctx.info1(format!("Fetching {kind} file from stdin"));
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(io_err(&archive))?;
        std::fs::write(&archive, buf).map_err(io_err(&archive))?;
    } else {
        let local = url.strip_prefix("file://").unwrap_or(&url);
        if !local.starts_with('/') {
            crate::ctx::remove_any(&src)?;
            return fail(format!(
                "the dokku sandbox does not download archives; use -- or a file:// url ({url})"
            ));
        }
        ctx.info1(format!("Downloading {kind} file from {url}"));
        std::fs::copy(local, &archive).map_err(io_err(Path::new(local)))?;
    }
    ctx.info1("Generating build context");
    let out = work_dir(ctx, "git-from-archive")?;
    let flags = match kind.as_str() {
        "tar" => "-xf",
        "tar.gz" => "-xzf",
        other => {
            crate::ctx::remove_any(&src)?;
            return fail(format!("the dokku sandbox does not model {other} archives"));
        }
    };
    if let Err(e) = check_archive(ctx, &archive, &kind) {
        crate::ctx::remove_any(&src)?;
        crate::ctx::remove_any(&out)?;
        return Err(e);
    }
    let st = Command::new("tar")
        .arg(flags)
        .arg(&archive)
        .arg("-C")
        .arg(&out)
        .status()
        .map_err(io_err(&archive))?;
    crate::ctx::remove_any(&src)?;
    if !st.success() {
        crate::ctx::remove_any(&out)?;
        return fail(format!("Unable to extract {kind} archive"));
    }
    if let Err(e) = check_extracted_symlinks(&out) {
        crate::ctx::remove_any(&out)?;
        return Err(e);
    }
    // A single top-level folder is stripped.
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&out)
        .map_err(io_err(&out))?
        .flatten()
        .map(|e| e.path())
        .collect();
    let root = if entries.len() == 1 && entries[0].is_dir() {
        entries[0].clone()
    } else {
        out.clone()
    };
    let r = deploy_dir(
        ctx,
        &app,
        &root,
        &format!("Deploy archive {url}"),
        &user,
        &email,
        Source::Archive(kind.clone(), url.clone()),
    );
    crate::ctx::remove_any(&out)?;
    r
}

/// plugins/common/archive-functions `fn-archive-check-bomb-protection` and
/// `fn-archive-validate-tar-entries`, run before a tar archive is extracted: the size and entry
/// limits (`git:set --global archive-max-size|archive-max-files`, defaults 1 GiB and 10000),
/// no absolute or `..` entry names, and no symlink whose target is absolute or contains `..`.
fn check_archive(ctx: &Ctx, archive: &Path, kind: &str) -> Res {
    let max_size: u64 = ctx
        .prop_or("git", "--global", "archive-max-size")?
        .parse()
        .unwrap_or(1_073_741_824);
    let max_files: usize = ctx
        .prop_or("git", "--global", "archive-max-files")?
        .parse()
        .unwrap_or(10_000);
    let size = std::fs::metadata(archive).map_or(0, |m| m.len());
    if size > max_size {
        return fail(format!(
            "Archive exceeds maximum allowed size of {max_size} bytes"
        ));
    }
    let list = |verbose: bool| -> Res<String> {
        let mut c = Command::new("tar");
        if kind == "tar.gz" {
            c.arg("-z");
        }
        c.arg(if verbose { "-tvf" } else { "-tf" }).arg(archive);
        let o = c.output().map_err(io_err(archive))?;
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let names = list(false)?;
    let count = names.lines().count();
    if count > max_files {
        return fail(format!(
            "Archive contains {count} entries which exceeds the maximum of {max_files}"
        ));
    }
    if names.lines().any(|n| n.starts_with('/')) {
        return fail("Archive contains entries with absolute paths");
    }
    if names.lines().any(|n| n.split('/').any(|part| part == "..")) {
        return fail("Archive contains entries with parent directory traversal");
    }
    for line in list(true)?.lines().filter(|l| l.starts_with('l')) {
        let target = line.rsplit_once("-> ").map_or("", |(_, t)| t);
        if target.starts_with('/') {
            return fail("Archive contains symlinks with absolute targets");
        }
        if target.contains("..") {
            return fail("Archive contains symlinks pointing outside extraction directory");
        }
    }
    Ok(())
}

/// `fn-archive-validate-extracted-symlinks`: every extracted symlink resolves inside the
/// extraction directory.
fn check_extracted_symlinks(dir: &Path) -> Res {
    let root = dir.canonicalize().map_err(io_err(dir))?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(io_err(&d))?.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_symlink() {
                // `readlink -f` also resolves a dangling link whose last part is missing.
                let inside = match path.canonicalize() {
                    Ok(t) => t.starts_with(&root),
                    Err(_) => std::fs::read_link(&path).is_ok_and(|t| {
                        t.is_relative()
                            && !t.components().any(|c| c == std::path::Component::ParentDir)
                    }),
                };
                if !inside {
                    return fail("Archive contains symlinks pointing outside extraction directory");
                }
            } else if ft.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(())
}

/// Run git in `dir` (plugins/git `fn-git-cmd`), its output passed through; the state lock is
/// released while it runs (it may reach the network).
fn git_cmd(ctx: &mut Ctx, dir: &Path, args: &[&str], quiet: bool) -> Res<bool> {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .stdin(Stdio::null());
    if quiet {
        c.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let st = ctx.unlocked(|_| c.status())?.map_err(io_err(dir))?;
    Ok(st.success())
}

/// `rev-parse <r>` run inside `dir`, as `fn-git-cmd "$APP_ROOT" rev-parse` does (no `--verify`,
/// so a branch name also finds `refs/remotes/origin/<name>`).
fn rev_parse_in(dir: &Path, r: &str) -> Option<String> {
    let o = Command::new("git")
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .args(["rev-parse", r])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// `git:sync [--build|--build-if-changes] [--skip-deploy-branch] <app> <repository> [<ref>]`
/// as plugins/git `cmd-git-sync`: clone into a new app (`fn-git-clone`), fetch into an app
/// with code (`fn-git-fetch`), then build when asked (or when the deploy branch moved).
fn sync(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(
        args,
        &spec(
            &[],
            &["--build", "--build-if-changes", "--skip-deploy-branch"],
        ),
    )?;
    let (app, remote) = (p.arg(0), p.arg(1));
    ctx.verify_app(&app)?;
    if remote.is_empty() {
        return fail("Missing GIT_REMOTE parameter");
    }
    let git_ref = p.pos.get(2).cloned().unwrap_or_default();
    let repo = ctx.paths.app_dir(&app);
    // The deploy branch is read once, before a clone may set it (as `cmd-git-sync` does).
    let branch = deploy_branch(ctx, &app)?;
    let current = rev_parse_in(&repo, &branch);
    if current.is_none() {
        if !ctx.globals.quiet {
            ctx.info1(format!("Cloning {app} from {remote}#{git_ref}"));
        }
        sync_clone(ctx, &app, &remote, &git_ref, p.has("--skip-deploy-branch"))?;
    } else {
        ctx.verbose(format!(
            "Fetching remote code for {app} from {remote}#{git_ref}"
        ));
        sync_fetch(ctx, &app, &remote, &git_ref)?;
    }
    let updated = rev_parse_in(&repo, &branch);
    let build = if p.has("--build") {
        true
    } else if p.has("--build-if-changes") {
        if current == updated {
            ctx.verbose("Skipping build as no changes were detected");
            return Ok(());
        }
        true
    } else {
        false
    };
    if build {
        let rev = if git_ref.is_empty() {
            updated.unwrap_or_default()
        } else {
            match rev_parse_in(&repo, &git_ref) {
                Some(r) => r,
                None => return Err(Fail::Silent(128)),
            }
        };
        crate::plugins::trigger(ctx, "receive-app", &[&app, &rev], false, false)?;
        deploy::build_chain(ctx, &app, &rev, Source::Sync(format!("{remote}#{rev}")))?;
    }
    Ok(())
}

/// plugins/git `fn-git-clone`: a branch given as the ref becomes the deploy branch (unless
/// `--skip-deploy-branch`); a tag or commit is checked out onto the deploy branch.
fn sync_clone(ctx: &mut Ctx, app: &str, remote: &str, git_ref: &str, skip: bool) -> Res {
    let repo = ctx.paths.app_dir(app);
    let git_ref = if git_ref.is_empty() {
        deploy_branch(ctx, app)?
    } else {
        git_ref.to_string()
    };
    let probe = work_dir(ctx, "sync-ref")?;
    let is_ref = !git_cmd(
        ctx,
        Path::new("/"),
        &[
            "clone",
            "--depth",
            "1",
            "-n",
            "--branch",
            &git_ref,
            remote,
            &probe.display().to_string(),
        ],
        true,
    )?;
    drop(std::fs::remove_dir_all(&probe));
    let tmp = work_dir(ctx, "sync-clone")?;
    let t = tmp.display().to_string();
    let res = (|| -> Res {
        if is_ref {
            if !git_cmd(ctx, Path::new("/"), &["clone", "-n", remote, &t], true)? {
                return Err(Fail::Silent(128));
            }
            if !git_cmd(ctx, &tmp, &["checkout", "-qq", &git_ref], false)? {
                return Err(Fail::Silent(1));
            }
        } else {
            if !git_cmd(
                ctx,
                Path::new("/"),
                &["clone", "-n", "--branch", &git_ref, remote, &t],
                true,
            )? {
                return Err(Fail::Silent(128));
            }
            let head = format!("refs/heads/{git_ref}");
            if git_cmd(ctx, &tmp, &["show-ref", "--verify", &head], true)? {
                if skip {
                    ctx.verbose(format!(
                        "Detected branch {git_ref}, skipping deploy-branch setting"
                    ));
                } else {
                    ctx.verbose(format!(
                        "Detected branch, setting deploy-branch to {git_ref}"
                    ));
                    ctx.set_prop("git", app, "deploy-branch", &git_ref)?;
                }
            }
        }
        let branch = deploy_branch(ctx, app)?;
        if git_ref != branch {
            if is_ref {
                git_cmd(ctx, &tmp, &["branch", "-qq", "-D", &branch], true)?;
            }
            if !git_cmd(ctx, &tmp, &["checkout", "-qq", "-b", &branch], false)? {
                return Err(Fail::Silent(1));
            }
        }
        // `rsync -a "$TMP_CLONE_DIR/.git/" "$APP_ROOT"`, then the hook and `core.bare`.
        let st = Command::new("cp")
            .arg("-a")
            .arg(tmp.join(".git/."))
            .arg(&repo)
            .status()
            .map_err(io_err(&repo))?;
        if !st.success() {
            return fail(format!("Unable to copy the clone of {remote} into {app}"));
        }
        init_repo(ctx, app)?;
        git_cmd(ctx, &repo, &["config", "--add", "core.bare", "true"], true)?;
        Ok(())
    })();
    drop(std::fs::remove_dir_all(&tmp));
    res
}

/// plugins/git `fn-git-fetch`: a `remote` mirror, the deploy branch fetched (or every ref,
/// then the deploy branch set to `<ref>^{commit}`).
fn sync_fetch(ctx: &mut Ctx, app: &str, remote: &str, git_ref: &str) -> Res {
    let repo = ctx.paths.app_dir(app);
    let branch = deploy_branch(ctx, app)?;
    if !git_cmd(ctx, &repo, &["check-ref-format", "--branch", &branch], true)? {
        ctx.warn(format!(
            "Invalid branch name '{branch}' specified via deploy-branch setting."
        ));
        ctx.warn("For more details, please see the man page for 'git-check-ref-format.'");
        return Ok(());
    }
    git_cmd(ctx, &repo, &["remote", "rm", "remote"], true)?;
    if !git_cmd(
        ctx,
        &repo,
        &[
            "remote",
            "add",
            "--mirror=fetch",
            "--no-tags",
            "remote",
            remote,
        ],
        false,
    )? {
        return Err(Fail::Silent(1));
    }
    if git_ref.is_empty() {
        if !git_cmd(
            ctx,
            &repo,
            &["fetch", "--update-head-ok", "remote", &branch],
            false,
        )? {
            return Err(Fail::Silent(1));
        }
    } else {
        if !git_cmd(ctx, &repo, &["fetch", "--update-head-ok", "remote"], false)? {
            return Err(Fail::Silent(1));
        }
        let target = format!("{git_ref}^{{commit}}");
        let head = format!("refs/heads/{branch}");
        if !git_cmd(ctx, &repo, &["update-ref", &head, &target], false)? {
            return Err(Fail::Silent(128));
        }
    }
    git_cmd(ctx, &repo, &["config", "--add", "core.bare", "true"], true)?;
    Ok(())
}

/// `$DOKKU_ROOT/.netrc` as (machine, login, password) triples, in file order.
fn netrc_read(path: &Path) -> Res<Vec<(String, String, String)>> {
    let text = crate::ctx::read_opt(path)?.unwrap_or_default();
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            "machine" => out.push((
                words.next().unwrap_or_default().to_string(),
                String::new(),
                String::new(),
            )),
            "login" | "password" => {
                let v = words.next().unwrap_or_default().to_string();
                if let Some(e) = out.last_mut() {
                    if w == "login" {
                        e.1 = v;
                    } else {
                        e.2 = v;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Write the netrc entries, then `fn-git-auth-secure-netrc` (mode 0600; the sandbox has no
/// dokku user to chown to).
fn netrc_write(path: &Path, entries: &[(String, String, String)]) -> Res {
    let text: String = entries
        .iter()
        .map(|(m, l, p)| format!("machine {m}\n  login {l}\n  password {p}\n"))
        .collect();
    write_atomic(path, &text)?;
    netrc_secure(path)
}

fn netrc_secure(path: &Path) -> Res {
    use std::os::unix::fs::PermissionsExt;
    if path.is_file() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path))?;
    }
    Ok(())
}

/// `fn-git-auth-read-password`: the password from stdin when a user but no password is given
/// and stdin is a pipe.
fn auth_password(user: &str, given: &str) -> String {
    use std::os::unix::fs::FileTypeExt;
    if !user.is_empty() && given.is_empty() {
        let piped = std::fs::metadata("/dev/stdin").is_ok_and(|m| m.file_type().is_fifo());
        if piped {
            let mut line = String::new();
            drop(std::io::stdin().lock().read_line(&mut line));
            return line.trim_end_matches('\n').to_string();
        }
    }
    given.to_string()
}

/// `git:auth <host> [<user> [<password>]]`, `git:auth-status`, `git:allow-host`,
/// `git:public-key` and `git:generate-deploy-key` as in plugins/git `internal-functions`.
pub fn host_commands(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let ssh = ctx.paths.root.join(".ssh");
    let netrc = ctx.paths.root.join(".netrc");
    match sub {
        "auth" | "auth-status" => {
            let (host, user) = (arg(0), arg(1));
            if host.is_empty() {
                return fail("Please supply a git host");
            }
            let password = auth_password(&user, &arg(2));
            if !user.is_empty() && password.is_empty() {
                return fail("Missing password for netrc auth entry");
            }
            let mut entries = netrc_read(&netrc)?;
            if sub == "auth-status" {
                let current = entries
                    .iter()
                    .find(|e| e.0 == host)
                    .map(|e| format!("{}:{}", e.1, e.2));
                let matches = if user.is_empty() {
                    current.is_none()
                } else {
                    current.as_deref() == Some(format!("{user}:{password}").as_str())
                };
                return if matches {
                    Ok(())
                } else {
                    Err(Fail::Silent(1))
                };
            }
            if user.is_empty() {
                ctx.info1(format!("Removing netrc auth entry for host {host}"));
                entries.retain(|e| e.0 != host);
                if netrc.exists() {
                    netrc_write(&netrc, &entries)?;
                }
                return netrc_secure(&netrc);
            }
            ctx.info1(format!("Setting netrc auth entry for host {host}"));
            match entries.iter_mut().find(|e| e.0 == host) {
                Some(e) => *e = (host.clone(), user, password),
                None => entries.push((host.clone(), user, password)),
            }
            netrc_write(&netrc, &entries)
        }
        "allow-host" => {
            let host = arg(0);
            if host.is_empty() {
                return fail("Please supply a git host");
            }
            // `ssh-keyscan -t rsa "$HOST" >>"$DOKKU_ROOT/.ssh/known_hosts"`: a real scan, so an
            // unreachable host adds nothing (ssh-keyscan still exits 0).
            crate::store::mkdirs(&ssh)?;
            let known = ssh.join("known_hosts");
            let o = ctx
                .unlocked(|_| {
                    Command::new("ssh-keyscan")
                        .args(["-t", "rsa", &host])
                        .stdin(Stdio::null())
                        .output()
                })?
                .map_err(io_err(&known))?;
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            if !o.status.success() {
                return Err(Fail::Silent(
                    o.status.code().unwrap_or(1).clamp(1, 255) as u8
                ));
            }
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&known)
                .map_err(io_err(&known))?;
            f.write_all(&o.stdout).map_err(io_err(&known))?;
            ctx.info1(format!("{host} added to known hosts"));
            Ok(())
        }
        "public-key" => {
            for k in ["id_ed25519.pub", "id_rsa.pub"] {
                if let Some(text) = crate::ctx::read_opt(&ssh.join(k))? {
                    print!("{text}");
                    return Ok(());
                }
            }
            let user = std::env::var("DOKKU_SYSTEM_USER").unwrap_or_else(|_| "dokku".into());
            ctx.warn(format!(
                "There is no deploy key associated with the {user} user."
            ));
            ctx.warn("Generate an ssh key with the following command:");
            ctx.warn("  dokku git:generate-deploy-key");
            fail("As an alternative, configure the netrc authentication via the git:auth command")
        }
        "generate-deploy-key" => {
            if ssh.join("id_ed25519.pub").is_file() || ssh.join("id_rsa.pub").is_file() {
                ctx.warn("A deploy key already exists for this host");
                return Ok(());
            }
            crate::store::mkdirs(&ssh)?;
            let key = ssh.join("id_ed25519");
            let st = Command::new("ssh-keygen")
                .args(["-t", "ed25519", "-C", "dokku@sandbox", "-N", "", "-f"])
                .arg(&key)
                .stdin(Stdio::null())
                .status()
                .map_err(io_err(&key))?;
            if st.success() {
                Ok(())
            } else {
                Err(Fail::Silent(st.code().unwrap_or(1).clamp(1, 255) as u8))
            }
        }
        _ => Err(Fail::Silent(255)),
    }
}
