//! The build context (`image`/`build` with everything the generated Dockerfile, Procfile and
//! app.json carry) deployed with `git:from-archive`; otherwise a restart when a setting the
//! containers read changed, or a start when the app was stopped by hand; and the job of a
//! one-shot service (`x-dokku.services.<svc>.state: one-shot`) run after its deploy.

use super::App;
use crate::dokku::{self, Stdin};
use crate::plan::planner::{irreversible, undo, PlanError, Steps, DIGEST_VAR};
use crate::plan::step::Action;

/// Deploys when the app was never deployed or its build context changed; else restarts when
/// `changed` (or a dependency with `depends_on.<x>.restart` was replaced); else starts an app
/// stopped by hand. True when it deploys.
pub(crate) fn steps(a: &App<'_>, archive: Stdin, changed: bool, out: &mut Steps<'_>) -> bool {
    let (name, cur) = (a.name, a.cur);
    let Stdin::Archive { digest, .. } = &archive else {
        unreachable!("build_context returns an archive")
    };
    let digest = digest.clone();
    let deploy = !cur.deployed || cur.config.get(DIGEST_VAR) != Some(&digest);
    if deploy {
        let reason = if cur.deployed {
            "the build context changed".to_owned()
        } else {
            format!("`{name}` has not been deployed")
        };
        // The undo redeploys the build context of the running release, which the executor
        // saved when it deployed it; the executor runs it after every setting is restored.
        let back = match (cur.deployed, cur.config.get(DIGEST_VAR)) {
            (true, Some(old)) => undo(vec![dokku::git_from_archive(
                name,
                Stdin::Saved {
                    app: name.to_owned(),
                    digest: old.clone(),
                },
            )]),
            (true, None) => irreversible(
                "the running release was not deployed by dokku-compose, so its build context is unknown",
            ),
            (false, _) if !a.exists => irreversible("the app is new: a rollback destroys it"),
            (false, _) => irreversible("the app had no deployed release to go back to"),
        };
        out.push(
            "deploy",
            Action::Deploy {
                app: name.to_owned(),
                digest,
            },
            dokku::git_from_archive(name, archive),
            reason,
            back,
        );
    } else if changed || a.restart_with.is_some() {
        let reason = match a.restart_with {
            Some(d) if !changed => {
                format!("`{d}` was redeployed and `depends_on.{d}.restart` is true")
            }
            _ => "settings changed without a new build".into(),
        };
        // A rollback restarts the app again once its settings are restored.
        out.push(
            "restart",
            Action::Restart {
                app: name.to_owned(),
            },
            dokku::ps_restart(name),
            reason,
            undo(vec![dokku::ps_restart(name)]),
        );
    } else if cur.deployed && !cur.running && !a.one_shot() && a.count() != Some(0) {
        // Stopped by hand (`ps:stop`): the stack says it runs (issue 15 item 17).
        out.push(
            "start",
            Action::Restart {
                app: name.to_owned(),
            },
            dokku::ps_start(name),
            format!("`{name}` is deployed but stopped"),
            undo(vec![dokku::ps_stop(name)]),
        );
    }
    deploy
}

/// The one-shot job, run once per deploy: `run --no-tty <app> <command>`.
pub(crate) fn run_once(a: &App<'_>, deployed: bool, out: &mut Steps<'_>) -> Result<(), PlanError> {
    if !(a.one_shot() && deployed) {
        return Ok(());
    }
    let command = a
        .spec
        .command
        .clone()
        .ok_or_else(|| PlanError::OneShotWithoutCommand {
            service: a.svc.name.clone(),
        })?;
    out.push(
        "run",
        Action::RunOnce {
            app: a.name.to_owned(),
        },
        dokku::run(a.name, command),
        "one-shot job of this deploy (x-dokku.state: one-shot)".into(),
        irreversible("a job that ran cannot be un-run"),
    );
    Ok(())
}
