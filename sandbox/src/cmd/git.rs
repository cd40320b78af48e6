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
    let o = Command::new("git").args(["init", "--bare", "--quiet", "--initial-branch=master"]).arg(&dir).output().map_err(io_err(&dir))?;
    if !o.status.success() {
        return fail(format!("Unable to initialize git repository for {app}: {}", String::from_utf8_lossy(&o.stderr).trim()));
    }
    let exe = std::env::current_exe().map_err(io_err(&dir))?;
    let hook = dir.join("hooks/pre-receive");
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let script = format!(
        "#!/usr/bin/env bash\nset -e\nexport DOKKU_ROOT={} DOKKU_LIB_PATH={}\ncat | {} git-hook {app}\n",
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
    let o = git_in(&ctx.paths.app_dir(app)).args(["rev-parse", "--verify", "--quiet", r]).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Whether the app was last deployed from an image.
pub fn is_image_source(ctx: &Ctx, app: &str) -> Res<bool> {
    Ok(ctx.prop_or("apps", app, "deploy-source")? == "docker-image")
}

/// `git-receive-pack '<app>'` / `git-upload-pack '<app>'` (§c step 3): validate, auto-create on
/// push unless `disable-autocreation`, then hand over to git.
pub fn receive_pack(ctx: &mut Ctx, which: &str, args: &[String]) -> Res {
    let app = args.first().map(|a| a.trim_matches(|c| c == '\'' || c == '"').trim_start_matches('/').to_string()).unwrap_or_default();
    if !is_valid_app_name_old(&app) {
        return fail(crate::store::APP_NAME_ERROR);
    }
    if !ctx.app_exists(&app) {
        if which == "git-upload-pack" {
            return crate::ctx::fail_code(20, format!("App {app} does not exist"));
        }
        if ctx.prop_or("apps", "--global", "disable-autocreation")? == "true" {
            return fail(format!("App {app} does not exist and autocreation is disabled"));
        }
        crate::cmd::apps::create(ctx, &app, false)?;
    }
    let dir = ctx.paths.app_dir(&app);
    let sub = which.trim_start_matches("git-");
    let status = ctx.unlocked(|_| Command::new("git").arg(sub).arg(&dir).status())?.map_err(io_err(&dir))?;
    if status.success() {
        Ok(())
    } else {
        Err(Fail::Silent(status.code().unwrap_or(1).clamp(1, 255) as u8))
    }
}

/// `git-hook <app>`: the pre-receive hook body (§c step 4). A failed deploy exits non-zero so
/// git rejects the push and leaves the branch where it was (§c step 8).
pub fn hook(ctx: &mut Ctx, args: &[String]) -> Res {
    let app = args.first().cloned().unwrap_or_default();
    ctx.verify_app(&app)?;
    let lines: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).collect();
    for l in lines {
        let v: Vec<&str> = l.split_whitespace().collect();
        let [_old, new, refname] = v[..] else { continue };
        if new.chars().all(|c| c == '0') {
            continue;
        }
        let explicit = ctx.prop("git", &app, "deploy-branch")?.is_some() || ctx.prop("git", "--global", "deploy-branch")?.is_some();
        let branch = deploy_branch(ctx, &app)?;
        let pushed = refname.strip_prefix("refs/heads/").or_else(|| refname.strip_prefix("refs/tags/")).unwrap_or(refname);
        if pushed != branch {
            if explicit {
                ctx.info1(format!("WARNING: deploy did not complete, you must push to {branch}."));
                continue;
            }
            ctx.info1(format!("Set {pushed} as deploy-branch"));
            ctx.set_prop("git", &app, "deploy-branch", pushed)?;
        }
        ctx.set_prop("git", &app, "last-updated-at", &crate::harness::now_ms().div_euclid(1000).to_string())?;
        deploy::build_chain(ctx, &app, new, Source::GitPush(new.to_string()))?;
    }
    Ok(())
}

/// Dispatch `git:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "from-image" => from_image(ctx, args),
        "set" => props::set(ctx, props::find("git").expect("git table"), args),
        "report" => Report { plugin: "git", kind: "git", legacy: false }.run(ctx, args, &report_rows, &|c| props::global_rows(c, props::find("git").expect("git table"))),
        "initialize" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            if !ctx.paths.app_dir(&app).join("refs").is_dir() {
                init_repo(ctx, &app)?;
            }
            Ok(())
        }
        "sync" => sync(ctx, args),
        "status" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            ctx.out(format!("On branch {}", deploy_branch(ctx, &app)?));
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let branch = deploy_branch(ctx, app)?;
    let mut r = props::prop_rows(ctx, props::find("git").expect("git table"), app)?;
    r.extend(rows(vec![
        ("git-sha".into(), rev_parse(ctx, app, &format!("refs/heads/{branch}")).unwrap_or_default()),
        ("git-last-updated-at".into(), ctx.prop_or("git", app, "last-updated-at")?),
    ]));
    Ok(r)
}

fn commit_dir(ctx: &Ctx, app: &str, dir: &Path, msg: &str, user: &str, email: &str) -> Res<String> {
    let repo = ctx.paths.app_dir(app);
    let idx = dir.join(".sandbox-index");
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
            return fail(format!("git failed: {}", String::from_utf8_lossy(&o.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    run(git_in(&repo).arg("--work-tree").arg(dir).args(["add", "-A", "--", "Dockerfile"]))?;
    let tree = run(git_in(&repo).arg("write-tree"))?;
    let branch = deploy_branch(ctx, app)?;
    let mut c = git_in(&repo);
    c.args(["commit-tree", &tree, "-m", msg]);
    if let Some(parent) = rev_parse(ctx, app, &format!("refs/heads/{branch}")) {
        c.args(["-p", &parent]);
    }
    run(&mut c)
}

/// `git:from-image [--build-dir D] [--force] <app> <image> [<user> <email>]` (§b).
fn from_image(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&["--build-dir"], &["--force"]))?;
    let (app, image) = (p.arg(0), p.arg(1));
    ctx.verify_app(&app)?;
    if image.is_empty() {
        return fail("Please specify a docker image");
    }
    if ctx.prop_or("git", &app, "source-image")? == image {
        return fail_lines(&["No changes detected, skipping git commit", "Call 'ps:rebuild' on app to rebuild the app from existing source"]);
    }
    let user = p.pos.get(2).cloned().unwrap_or_else(|| "Dokku".into());
    let email = p.pos.get(3).cloned().unwrap_or_else(|| "automated@dokku.sh".into());
    let tmp = ctx.paths.sandbox_dir().join("tmp").join(format!("from-image-{}-{}", std::process::id(), crate::harness::now_ms()));
    crate::store::mkdirs(&tmp)?;
    write_atomic(&tmp.join("Dockerfile"), &format!("FROM {image}\nLABEL com.dokku.docker-image-labeler/alternate-tags=[\"{image}\"]\n"))?;
    let sha = commit_dir(ctx, &app, &tmp, &format!("Deploy image {image}"), &user, &email);
    crate::ctx::remove_any(&tmp)?;
    let sha = sha?;
    let branch = deploy_branch(ctx, &app)?;
    let reference = format!("refs/heads/{branch}");
    let old = rev_parse(ctx, &app, &reference);
    let repo = ctx.paths.app_dir(&app);
    git_in(&repo).args(["update-ref", &reference, &sha]).status().map_err(io_err(&repo))?;
    ctx.info1(format!("Deploying {image} to {app}"));
    let previous_image = ctx.prop("git", &app, "source-image")?;
    ctx.set_prop("git", &app, "source-image", &image)?;
    if let Err(e) = deploy::build_chain(ctx, &app, &sha, Source::Image(image.clone())) {
        // A failed build rolls the app repo ref back (§b "`git:from-image`").
        match old {
            Some(o) => drop(git_in(&repo).args(["update-ref", &reference, &o]).status()),
            None => drop(git_in(&repo).args(["update-ref", "-d", &reference]).status()),
        }
        match previous_image {
            Some(v) => ctx.set_prop("git", &app, "source-image", &v)?,
            None => ctx.unset_prop("git", &app, "source-image")?,
        }
        return Err(e);
    }
    Ok(())
}

/// `git:sync [--build|--build-if-changes] <app> <repository> [<ref>]`.
fn sync(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&[], &["--build", "--build-if-changes", "--skip-deploy-branch"]))?;
    let (app, remote) = (p.arg(0), p.arg(1));
    ctx.verify_app(&app)?;
    if remote.is_empty() {
        return fail("Please specify a repository");
    }
    let r = p.pos.get(2).cloned().unwrap_or_else(|| "HEAD".into());
    let branch = deploy_branch(ctx, &app)?;
    let reference = format!("refs/heads/{branch}");
    let before = rev_parse(ctx, &app, &reference);
    let repo = ctx.paths.app_dir(&app);
    ctx.info1(format!("Syncing {remote} to {app}"));
    let o = ctx.unlocked(|_| git_in(&repo).args(["fetch", "--quiet", "--force", &remote, &format!("{r}:{reference}")]).stdin(Stdio::null()).output())?.map_err(io_err(&repo))?;
    if !o.status.success() {
        eprint!("{}", String::from_utf8_lossy(&o.stderr));
        return fail(format!("Unable to sync {remote}"));
    }
    let after = rev_parse(ctx, &app, &reference).unwrap_or_default();
    let build = p.has("--build") || (p.has("--build-if-changes") && before.as_deref() != Some(after.as_str()));
    if build {
        crate::plugins::trigger(ctx, "receive-app", &[&app, &r], false, false)?;
        deploy::build_chain(ctx, &app, &after, Source::Sync(format!("{remote}#{r}")))?;
    }
    Ok(())
}
