//! The plugin's triggers (docs/architecture.md "How a `git push` deploys a stack"):
//!
//! - `post-extract <app> <dir> <rev>`: a pushed repository with a compose file makes the app a
//!   stack whose builder is `compose`; without one, a builder selection the plugin made is
//!   undone, so the push behaves as if the plugin were not installed. Never fails the push.
//! - `builder-build <type> <app> <dir>`: the gate. For type `compose`: capture the source,
//!   load, check the policy, plan against the host and apply transactionally. Any failure
//!   exits non-zero, Dokku prints ` !     App build failed` and rejects the push; the apply
//!   rolled back, so the previous release keeps serving. The stack app gets no image, so
//!   Dokku skips its release and deploy (`release_and_deploy`, `fn-verify-app-image`).
//! - `post-delete <app>`: the stack's properties and data go; its service apps stay.
//! - `uninstall <plugin>`: for this plugin only, builder selections it made are undone.

use anyhow::Context as _;

use super::props::Props;
use super::stack::{self, compose_files, runner, stack_dir};
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::runner::Runner;
use crate::report::{info1, verbose};

/// The builder name the plugin selects for stack apps.
pub(super) const BUILDER: &str = "compose";
/// Internal property: the plugin selected the `compose` builder (and what was selected before).
const SELECTED_BY_US: &str = "builder-selected-by-compose";

/// Runs trigger `name` with `args`; unknown names do nothing.
pub(super) fn run(name: &str, args: &[String], env: &DokkuEnv) -> anyhow::Result<u8> {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    match name {
        "post-extract" => {
            // Its failure cannot stop a push (dokku-facts §b): report and carry on.
            if let Err(e) = post_extract(arg(0), std::path::Path::new(arg(1)), env) {
                eprintln!(" !     compose: {e:#}");
            }
            Ok(0)
        }
        "builder-build" => builder_build(arg(0), arg(1), std::path::Path::new(arg(2)), env),
        "post-delete" => post_delete(arg(0), env),
        "uninstall" => uninstall(arg(0), env),
        _ => Ok(0),
    }
}

fn selected_builder(app: &str) -> String {
    runner()
        .run(
            &Cmd::dokku(["builder:report", app, "--builder-selected"]),
            None,
            None,
        )
        .map(|o| o.stdout.trim().to_owned())
        .unwrap_or_default()
}

/// Whether `app` is a service app of a stack: the plugin gives every app it deploys the
/// config var `KEYS_VAR` before its first deploy (the plan's `config` step precedes its
/// `deploy`). Its own deploy (`git:from-archive` of a build context, a `ps:rebuild`) is a
/// plain Dockerfile build even when the context holds a compose file (`build: .`): running the
/// stack machinery there deployed every service app as a new stack, recursively (issue #13).
fn is_service_app(app: &str) -> bool {
    stack::app_config(&runner(), app).is_ok_and(|c| c.contains_key(crate::plan::KEYS_VAR))
}

fn post_extract(app: &str, dir: &std::path::Path, env: &DokkuEnv) -> anyhow::Result<()> {
    let props = Props::new(&env.config_dir());
    let ours = props.get(app, SELECTED_BY_US);
    // An unreadable `.env` does not make a stack of a repository without compose file; a
    // stack, or a `.env` that names compose files, stays one and `builder-build` reports why.
    let has_files = match compose_files(dir, &props, app) {
        Ok(files) => !files.is_empty(),
        Err(_) => {
            ours.is_some()
                || !stack::default_files(dir).is_empty()
                || stack::dotenv_mentions_compose_file(dir, &props, app)
        }
    };
    let has_compose = has_files && !is_service_app(app);
    let r = runner();
    if has_compose {
        let current = selected_builder(app);
        if current != BUILDER {
            // Remember what was selected, so a later push without compose file restores it.
            props.set(
                app,
                SELECTED_BY_US,
                Some(if current.is_empty() {
                    "-"
                } else {
                    current.as_str()
                }),
            )?;
            r.run(
                &Cmd::dokku(["builder:set", app, "selected", BUILDER]),
                None,
                None,
            )?;
        }
    } else if ours.is_some() {
        unselect(app, &props)?;
    }
    Ok(())
}

/// Undoes the plugin's builder selection of `app`: the builder selected before comes back
/// and the property that remembered it goes.
fn unselect(app: &str, props: &Props) -> anyhow::Result<()> {
    let Some(previous) = props.get(app, SELECTED_BY_US) else {
        return Ok(());
    };
    let mut cmd = Cmd::dokku(["builder:set", app, "selected"]);
    if previous != "-" {
        cmd = cmd.arg(previous);
    }
    runner().run(&cmd, None, None)?;
    props.set(app, SELECTED_BY_US, None)?;
    Ok(())
}

fn builder_build(
    builder: &str,
    app: &str,
    dir: &std::path::Path,
    env: &DokkuEnv,
) -> anyhow::Result<u8> {
    if builder != BUILDER {
        return Ok(0);
    }
    if is_service_app(app) {
        // Only reached when the builder was selected by hand: never a stack inside a stack.
        eprintln!(" !     `{app}` is a service app of a compose stack; it builds from its Dockerfile (`dokku builder:set {app} selected`)");
        return Ok(1);
    }
    println!("{}", info1(&format!("Deploying compose stack {app}")));
    let props = Props::new(&env.config_dir());
    let result = compose_files(dir, &props, app).and_then(|files| {
        stack::capture_and_apply(
            env,
            &props,
            app,
            dir,
            &files,
            &stack::Revision::GitRev("git push"),
            false,
        )
    });
    match result {
        Ok(()) => {
            println!("{}", info1(&format!("Stack {app} deployed")));
            Ok(0)
        }
        Err(e) => {
            super::eprint_error(&e, Some(&stack::source_dir(env, app)));
            // A stack that never deployed is not one yet: its first push failed (refused, or
            // rolled back), so the builder selection `post-extract` made for it is undone and
            // the app is left as it was before the push (issue #13). The next push selects it
            // again.
            if !stack_dir(env, app).join("releases").join("HEAD").exists() {
                if let Err(u) = unselect(app, &props) {
                    eprintln!(" !     compose: {u:#}");
                }
            }
            if before_any_change(&e) {
                // Dokku's ` !     App build failed` follows: say what it means here.
                eprintln!(" !     Push refused before any change: stack {app} keeps running its previous release");
            }
            Ok(1)
        }
    }
}

/// Whether a failed push stopped before it changed anything on the host: the project could
/// not be loaded, was refused or could not be planned, or the stack was busy. (A failed step
/// reports its rollback itself.)
fn before_any_change(e: &anyhow::Error) -> bool {
    use crate::exec::apply::ApplyError;
    match e.downcast_ref::<ApplyError>() {
        None => true,
        Some(a) => matches!(
            a,
            ApplyError::Plan(_) | ApplyError::Lock(_) | ApplyError::State(_)
        ),
    }
}

fn post_delete(app: &str, env: &DokkuEnv) -> anyhow::Result<u8> {
    let dir = stack_dir(env, app);
    if !dir.exists() {
        return Ok(0);
    }
    if let Ok(Some(apps)) = released_apps(env, app) {
        if !apps.is_empty() {
            // `compose:down` needs the stack app, which is gone now: name the commands that
            // work (issue #15 item 15).
            eprintln!(
                " !     The service apps of stack {app} remain: {}",
                apps.join(" ")
            );
            eprintln!(" !     To destroy them (datastores are never destroyed implicitly):");
            for a in &apps {
                eprintln!(" !       dokku apps:destroy {a} --force");
            }
        }
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove `{}`", dir.display()))?;
    Props::new(&env.config_dir()).clear(app)?;
    Ok(0)
}

fn released_apps(env: &DokkuEnv, app: &str) -> anyhow::Result<Option<Vec<String>>> {
    let d = crate::exec::apply::stack_dir(&env.data_dir(), app);
    if !d.releases().exists() {
        return Ok(None);
    }
    let key = crate::exec::secrets::HostKey::load_or_create(&d.key())?;
    let store = crate::exec::releases::ReleaseStore::open(&d.releases(), key)?;
    let Some(latest) = store.latest()? else {
        return Ok(None);
    };
    Ok(Some(store.apps(latest.id)?.into_keys().collect()))
}

fn uninstall(plugin: &str, env: &DokkuEnv) -> anyhow::Result<u8> {
    if plugin != super::PLUGIN {
        return Ok(0);
    }
    let props = Props::new(&env.config_dir());
    let r = runner();
    for entry in std::fs::read_dir(env.config_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let app = entry.file_name().to_string_lossy().into_owned();
        if let Some(previous) = props.get(&app, SELECTED_BY_US) {
            let mut cmd = Cmd::dokku(["builder:set", app.as_str(), "selected"]);
            if previous != "-" {
                cmd = cmd.arg(previous);
            }
            let _ = r.run(&cmd, None, None);
            println!("{}", verbose(&format!("{app}: builder selection restored")));
        }
    }
    println!(
        "{}",
        info1(&format!(
            "Stack data in {} is kept; service apps and datastores are untouched",
            env.data_dir().display()
        ))
    );
    Ok(0)
}
