//! `apps:*` (dokku-cli.json `apps:*`; dokku-facts.md §d "App names", "Deploy lock",
//! "Destructive confirmations"; §b `post-create`, `pre-delete`, `post-delete`).

use std::io::{BufRead, Write};

use crate::args::{parse, spec};
use crate::ctx::{fail, remove_any, Ctx, Fail, Res};
use crate::plugins::trigger;
use crate::store::{is_valid_app_name, rows, Report, Row, APP_NAME_ERROR};

/// Dispatch `apps:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "create" => {
            let p = parse(args, &spec(&[], &[]))?;
            create(ctx, &p.arg(0), true)
        }
        "destroy" => {
            let p = parse(args, &spec(&[], &["--force"]))?;
            let app = p.arg(0);
            ctx.verify_app(&app)?;
            if !(p.has("--force") || ctx.forced()) {
                confirm(ctx, "app", &app)?;
            }
            destroy(ctx, &app)
        }
        "exists" => {
            let p = parse(args, &spec(&[], &[]))?;
            let app = p.arg(0);
            if ctx.app_exists(&app) {
                Ok(())
            } else {
                crate::ctx::fail_code(20, format!("App {app} does not exist"))
            }
        }
        "list" => {
            let p = parse(args, &spec(&["--format"], &[]))?;
            let apps = ctx.apps()?;
            if p.get("--format") == Some("json") {
                ctx.out(serde_json::to_string(&apps).unwrap_or_default());
                return Ok(());
            }
            if apps.is_empty() {
                ctx.warn("You haven't deployed any applications yet");
                return Ok(());
            }
            ctx.info2("My Apps");
            for a in apps {
                ctx.out(a);
            }
            Ok(())
        }
        "lock" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            let p = ctx.paths.data_dir("apps", &app).join(".deploy.lock");
            crate::ctx::write_atomic(&p, "")?;
            ctx.info1("Deploy lock created");
            Ok(())
        }
        "locked" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            if ctx
                .paths
                .data_dir("apps", &app)
                .join(".deploy.lock")
                .exists()
            {
                ctx.out("Deploy lock exists");
                Ok(())
            } else {
                fail("Deploy lock does not exist")
            }
        }
        "unlock" => {
            let app = args.first().cloned().unwrap_or_default();
            ctx.verify_app(&app)?;
            let p = ctx.paths.data_dir("apps", &app).join(".deploy.lock");
            if !p.exists() {
                return fail("Unable to remove deploy lock");
            }
            ctx.warn("A deploy may be in progress.");
            ctx.warn("Removing the app lock will not stop in progress deploys.");
            remove_any(&p)?;
            ctx.info1("Deploy lock removed");
            Ok(())
        }
        "set" => {
            let p = parse(args, &spec(&[], &["--global"]))?;
            let (scope, key, value) = if p.has("--global") {
                ("--global".to_string(), p.arg(0), p.arg(1))
            } else {
                (p.arg(0), p.arg(1), p.arg(2))
            };
            if scope != "--global" {
                ctx.verify_app(&scope)?;
            }
            const KEYS: [&str; 3] = [
                "deploy-source",
                "deploy-source-metadata",
                "disable-autocreation",
            ];
            if !KEYS.contains(&key.as_str()) {
                return fail(format!(
                    "Invalid property specified, valid properties include: {}",
                    KEYS.join(", ")
                ));
            }
            if key == "disable-autocreation" && scope != "--global" {
                return fail("Property can only be specified globally");
            }
            // plugins/apps `GlobalProperties`: only disable-autocreation is global.
            if key != "disable-autocreation" && scope == "--global" {
                return fail("Property cannot be specified globally");
            }
            crate::cmd::props::set_value(ctx, "apps", &scope, &key, &value)
        }
        "report" => Report {
            plugin: "apps",
            kind: "app",
            legacy: true,
        }
        .run(ctx, args, &report_rows, &|c| {
            Ok(rows(vec![(
                "app-global-disable-autocreation".into(),
                c.prop_or("apps", "--global", "disable-autocreation")?,
            )]))
        }),
        "rename" | "clone" => {
            let p = parse(args, &spec(&[], &["--skip-deploy", "--ignore-existing"]))?;
            rename_or_clone(
                ctx,
                sub,
                &p.arg(0),
                &p.arg(1),
                p.has("--skip-deploy"),
                p.has("--ignore-existing"),
            )
        }
        _ => Err(Fail::Silent(255)),
    }
}

/// `CommandRename` / `CommandClone` (plugins/apps/subcommands.go): create the new app, copy what
/// the core plugins' `post-app-{rename,clone}-setup` handlers copy (env, properties, data, the
/// repo, datastore links), destroy the old app on rename, then rebuild unless `--skip-deploy` or
/// the app has no code (the ps plugin's `post-app-{rename,clone}` handler).
fn rename_or_clone(
    ctx: &mut Ctx,
    sub: &str,
    old: &str,
    new: &str,
    skip_deploy: bool,
    ignore_existing: bool,
) -> Res {
    if old.is_empty() {
        return fail("Please specify an app to run the command on");
    }
    if new.is_empty() {
        return fail("Please specify an new app name");
    }
    ctx.verify_app(old)?;
    if !is_valid_app_name(new) {
        return fail(APP_NAME_ERROR);
    }
    if ctx.app_exists(new) {
        if sub == "clone" && ignore_existing {
            ctx.warn("Name is already taken");
            return Ok(());
        }
        return fail("Name is already taken");
    }
    ctx.info1(format!(
        "{} {old} to {new}",
        if sub == "clone" {
            "Cloning"
        } else {
            "Renaming"
        }
    ));
    create(ctx, new, true)?;
    copy_app_state(ctx, old, new, sub == "rename")?;
    // plugins/logs `TriggerPostAppCloneSetup`/`TriggerPostAppRenameSetup`: the old app's logs
    // properties leave on rename, and the vector config follows.
    if sub == "rename" {
        remove_any(&ctx.paths.lib.join("config/logs").join(old))?;
    }
    crate::cmd::vector::regenerate(ctx);
    let (setup, done) = if sub == "clone" {
        ("post-app-clone-setup", "post-app-clone")
    } else {
        ("post-app-rename-setup", "post-app-rename")
    };
    if trigger(ctx, setup, &[old, new], false, false)?.code != 0 {
        return Err(Fail::Silent(1));
    }
    if sub == "rename" {
        destroy(ctx, old)?;
    }
    let branch = crate::cmd::git::deploy_branch(ctx, new)?;
    let has_code = crate::cmd::git::rev_parse(ctx, new, &format!("refs/heads/{branch}")).is_some();
    if !skip_deploy && has_code {
        crate::cmd::ps::rebuild(ctx, new)?;
    }
    if trigger(ctx, done, &[old, new], false, false)?.code != 0 {
        return Err(Fail::Silent(1));
    }
    Ok(())
}

/// Copy an app's env, properties, plugin data and git repo to a new app; on rename, datastore
/// `LINKS` entries move too.
fn copy_app_state(ctx: &Ctx, old: &str, new: &str, rename: bool) -> Res {
    let lib = ctx.paths.lib.clone();
    let env = ctx.env(old)?;
    let mut new_env = ctx.env(new)?;
    new_env.extend(env);
    ctx.write_env(new, &new_env)?;
    for base in ["config", "data"] {
        let Ok(rd) = std::fs::read_dir(lib.join(base)) else {
            continue;
        };
        for e in rd.flatten() {
            let from = e.path().join(old);
            if from.is_dir() && e.file_name() != "apps" {
                copy_tree(&from, &e.path().join(new))?;
            }
        }
    }
    let repo_new = ctx.paths.app_dir(new);
    let repo_old = ctx.paths.app_dir(old);
    for part in ["objects", "refs", "packed-refs"] {
        let from = repo_old.join(part);
        if from.exists() {
            copy_tree(&from, &repo_new.join(part))?;
        }
    }
    // plugins/domains `post-app-rename-setup`: the VHOST file moves and `<old>.<global vhost>`
    // becomes `<new>.<global vhost>` (every other domain is kept); `post-app-clone-setup`
    // keeps the clone's own default domains.
    let vhost_old = repo_old.join("VHOST");
    if rename && vhost_old.is_file() {
        let mut text =
            std::fs::read_to_string(&vhost_old).map_err(crate::ctx::io_err(&vhost_old))?;
        for global in ctx.read_lines(&ctx.paths.root.join("VHOST"))? {
            let global = global.trim();
            if !global.is_empty() {
                text = text.replace(&format!("{old}.{global}"), &format!("{new}.{global}"));
            }
        }
        crate::ctx::write_atomic(&repo_new.join("VHOST"), &text)?;
    }
    if rename {
        for ds in crate::datastore::PLUGINS {
            crate::datastore::rename_link(ctx, ds, old, new)?;
        }
    }
    Ok(())
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> Res {
    if from.is_dir() {
        crate::store::mkdirs(to)?;
        for e in std::fs::read_dir(from)
            .map_err(crate::ctx::io_err(from))?
            .flatten()
        {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to)
            .map(drop)
            .map_err(crate::ctx::io_err(from))
    }
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    Ok(rows(vec![
        (
            "app-created-at".into(),
            ctx.prop_or("apps", app, "created-at")?,
        ),
        (
            "app-deploy-source".into(),
            ctx.prop_or("apps", app, "deploy-source")?,
        ),
        (
            "app-deploy-source-metadata".into(),
            ctx.prop_or("apps", app, "deploy-source-metadata")?,
        ),
        (
            "app-dir".into(),
            ctx.paths.app_dir(app).display().to_string(),
        ),
        (
            "app-global-disable-autocreation".into(),
            ctx.prop_or("apps", "--global", "disable-autocreation")?,
        ),
        (
            "app-locked".into(),
            ctx.paths
                .data_dir("apps", app)
                .join(".deploy.lock")
                .exists()
                .to_string(),
        ),
    ]))
}

/// `apps:create` (and auto-create on first push): validate, make the app dir (a bare git repo
/// with the pre-receive hook, as the git plugin's `post-create` does), global domains, then the
/// external `post-create` trigger. A failing trigger exits 1 with no rollback (§b).
pub fn create(ctx: &mut Ctx, app: &str, verbose: bool) -> Res {
    if app.is_empty() {
        return fail("Please specify an app to run the command on");
    }
    if !is_valid_app_name(app) {
        return fail(APP_NAME_ERROR);
    }
    if ctx.app_exists(app) {
        return fail("Name is already taken");
    }
    if verbose {
        ctx.info1(format!("Creating {app}..."));
    }
    crate::cmd::git::init_repo(ctx, app)?;
    ctx.set_prop(
        "apps",
        app,
        "created-at",
        &crate::harness::now_ms().div_euclid(1000).to_string(),
    )?;
    crate::store::mkdirs(&ctx.paths.data_dir("apps", app))?;
    // The domains plugin's `post-create` (built in, so it runs before community plugins).
    crate::cmd::domains::setup(ctx, app)?;
    // The ps plugin's `TriggerPostCreate`: the `scale` property starts at web=1.
    crate::deploy::write_scale(
        ctx,
        app,
        &std::collections::BTreeMap::from([("web".to_string(), 1)]),
    )?;
    let t = trigger(ctx, "post-create", &[app], false, false)?;
    if t.code != 0 {
        return Err(Fail::Silent(1));
    }
    Ok(())
}

/// The destructive-action prompt (§d "Destructive confirmations", `AskForDestructiveConfirmation`).
pub fn confirm(ctx: &Ctx, kind: &str, name: &str) -> Res {
    confirm_lines(
        ctx,
        &format!("This command will destroy {kind} {name}."),
        name,
        "Confirmation did not match test. Aborted.",
    )
}

/// The prompt with a given "will destroy" line and mismatch line (datastores word both differently).
pub fn confirm_lines(ctx: &Ctx, what: &str, name: &str, mismatch: &str) -> Res {
    ctx.warn("WARNING: Potentially Destructive Action");
    ctx.warn(what);
    ctx.warn(format!("To proceed, type \"{name}\""));
    print!("> ");
    drop(std::io::stdout().flush());
    let mut line = String::new();
    drop(std::io::stdin().lock().read_line(&mut line));
    if line.trim_end_matches(['\n', '\r']) == name {
        return Ok(());
    }
    if mismatch.starts_with("Confirmation did not match test") {
        // Go's AskForDestructiveConfirmation prints this line without the ` !     ` prefix.
        return Err(Fail::Dokku {
            code: 1,
            lines: vec![mismatch.to_string()],
            raw: true,
        });
    }
    fail(mismatch)
}

/// `apps:destroy` after confirmation: `pre-delete`, stop, `post-delete`, remove state. Linked
/// datastores only lose the app from `LINKS` (§e).
pub fn destroy(ctx: &mut Ctx, app: &str) -> Res {
    ctx.info1(format!("Destroying {app} (including all add-ons)"));
    // `$IMAGE_TAG` is the tag, not the image name (plugins/apps destroyApp).
    let tag = "latest";
    let t = trigger(ctx, "pre-delete", &[app, tag], false, false)?;
    if t.code != 0 {
        return Err(Fail::Silent(1));
    }
    crate::datastore::forget_app(ctx, app)?;
    crate::deploy::stop(ctx, app).ok();
    // scheduler-k3s `TriggerSchedulerPostDelete`: the app's release is uninstalled.
    if ctx.prop_computed("scheduler", app, "selected", "docker-local")? == "k3s" {
        crate::k3s::destroy(ctx, app)?;
    }
    if crate::docker::enabled(&ctx.paths) {
        crate::docker::stop_app(ctx, app, true)?;
    }
    let t = trigger(ctx, "post-delete", &[app, tag], false, false)?;
    if t.code != 0 {
        return Err(Fail::Silent(1));
    }
    ctx.info1("Retiring old containers and images");
    let lib = ctx.paths.lib.clone();
    remove_any(&lib.join("config").join(app))?;
    for base in ["config", "data"] {
        if let Ok(rd) = std::fs::read_dir(lib.join(base)) {
            for e in rd.flatten() {
                remove_any(&e.path().join(app))?;
            }
        }
    }
    remove_any(&ctx.paths.app_dir(app))?;
    if crate::docker::enabled(&ctx.paths) {
        crate::proxy::rebuild(ctx)?;
    }
    // plugins/logs `TriggerPostDelete`: the app drops out of the vector config.
    crate::cmd::vector::regenerate(ctx);
    Ok(())
}
