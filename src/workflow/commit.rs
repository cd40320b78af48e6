//! The apply stage of the workflow: runs a plan as one transaction. Nothing changed before
//! it; in order: the stack directory and host key (the first change), the pre-deploy hooks,
//! then under the journal the ownership claims, the secret files, every step (the executor),
//! the post-deploy hooks and the release record; each effect's undo is journaled first, so a
//! failure, a signal or a kill leaves host and history as they were (issue #14). After the
//! commit: the prune steps (their own journal) and the stack's records.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use super::plan::Planned;
use super::prepare::{Prepared, Session};
use super::project::Loaded;
use super::ApplyRequest;
use crate::exec::apply::{
    claim_ownership, elapsed_ms, materialize, owned_path, ownership_path, record_apply, remember,
    serving, write_json, write_secret_files, write_summary, ApplyError, ApplyRecord,
};
use crate::exec::executor::{execute, execute_then, rollback, Effects, Outcome};
use crate::exec::hooks::{self, Hook, HookError, Phase, RunIn};
use crate::exec::journal::{Entry, Journal, Revert};
use crate::exec::releases::{
    now_rfc3339, AppFacts, NewRelease, ReleaseInfo, ReleaseKind, ReleaseStore,
};
use crate::exec::runner::Runner;
use crate::exec::secrets::HostKey;
use crate::exec::{EffectError, Event, ExecError, RunError};
use crate::model::{Kind, Source};
use crate::plan::{self, Action, Plan, PlanSettings, Undo};

/// Everything one apply run reads: the request, the three stages before it, and how it runs.
pub(super) struct Run<'a> {
    /// The request.
    pub(super) req: &'a ApplyRequest,
    /// The project stage.
    pub(super) loaded: &'a Loaded,
    /// The stack's session.
    pub(super) session: &'a Session,
    /// The prepare stage.
    pub(super) prepared: &'a Prepared,
    /// Runs the commands.
    pub(super) runner: &'a dyn Runner,
    /// Set on SIGTERM/SIGINT.
    pub(super) cancel: &'a AtomicBool,
    /// Progress.
    pub(super) events: &'a (dyn Fn(&Event) + Sync),
}

/// What [`commit`] reports besides the plan.
pub(super) struct Committed {
    /// Timings, when it ran.
    pub(super) outcome: Option<Outcome>,
    /// The release recorded.
    pub(super) release: Option<ReleaseInfo>,
    /// The deploy hooks that ran.
    pub(super) hooks: Vec<Hook>,
}

/// Applies `planned`: nothing when the stack is up to date, else the transaction.
pub(super) fn commit(run: &Run<'_>, planned: &Planned) -> Result<Committed, ApplyError> {
    let Run {
        req,
        session,
        prepared,
        ..
    } = *run;
    if up_to_date(run, planned)? {
        if prepared.trust {
            remember(
                &session.dir,
                &session.key,
                &prepared.host,
                &prepared.seen,
                &req.data_dir,
            );
        }
        (run.events)(&Event::UpToDate {
            stack: planned.plan.stack.clone(),
        });
        return Ok(Committed {
            outcome: None,
            release: None,
            hooks: Vec::new(),
        });
    }
    // The first change is next (a pre-deploy hook runs in a container).
    materialize(&session.dir, &session.key, session.key_is_new)?;
    let runnable = pre_hooks(run, &planned.plan)?;
    let mut journal = Journal::create(
        &session.dir.journal(),
        session.key.clone(),
        &session.dir.stack,
        &session.what,
    )?;
    let prior = claims_and_secrets(run, &planned.plan, &mut journal)?;
    let (outcome, release) = transact(run, &planned.plan, &runnable, &mut journal, prior)?;
    // The transaction is committed: host and history both have the new release; the trees
    // its effects replaced are no longer needed.
    journal.finish()?;
    let undo_trees = session.dir.dir().join("undo");
    if undo_trees.exists() {
        std::fs::remove_dir_all(&undo_trees).map_err(|e| ApplyError::Io {
            path: undo_trees.display().to_string(),
            message: e.to_string(),
        })?;
    }
    write_json(
        &session.dir.dir().join("backups.json"),
        &prepared.backups_wanted,
    )?;
    prune(run, planned)?;
    records(run, planned, &outcome, &release)?;
    Ok(Committed {
        outcome: Some(outcome),
        release: Some(release),
        hooks: run.loaded.hooks.clone(),
    })
}

/// Whether the stack is as the request asks already: no step, nothing to prune, the same
/// compose file, and (for a rollback) standing on that release already (a second
/// `compose:rollback`, or `compose:up` after one).
fn up_to_date(run: &Run<'_>, planned: &Planned) -> Result<bool, ApplyError> {
    let history = &run.prepared.history;
    let unchanged_compose = history.compose.as_ref() == Some(&run.req.compose);
    let same_kind = match run.req.kind {
        ReleaseKind::Apply => true,
        ReleaseKind::Rollback { to } => match (&history.latest, &history.store) {
            (Some(l), Some(store)) => store.rolled_back_to(l.id)? == Some(to),
            _ => false,
        },
    };
    Ok(planned.plan.steps.is_empty()
        && planned.plan.kube.is_empty()
        && planned.prune_steps.is_empty()
        && unchanged_compose
        && same_kind)
}

/// The environment of the deploy hooks of `phase`.
fn hook_env(run: &Run<'_>, phase: Phase) -> Vec<(String, String)> {
    let next_release = run.prepared.history.latest.as_ref().map_or(1, |l| l.id + 1);
    let mut env = hooks::environment(
        &run.loaded.checked.project,
        phase,
        &run.prepared.settings.source_rev,
    );
    env.push(("DOKKU_COMPOSE_RELEASE".into(), next_release.to_string()));
    env
}

/// Records a failed apply in `applies.jsonl`.
fn record_failure(run: &Run<'_>, plan: &Plan, failed_step: Option<String>, duration_ms: u128) {
    record_apply(
        &run.session.dir,
        &ApplyRecord {
            time: now_rfc3339(),
            what: run.session.what.clone(),
            ok: false,
            duration_ms,
            steps: plan.steps.len(),
            failed_step,
            release: None,
        },
    );
}

/// Pre-deploy hooks: before anything changes. A hook in the container of a service that is
/// not deployed yet has nothing to run in: it is skipped, and says so. Returns the hooks that
/// run (the post-deploy ones run inside the transaction).
fn pre_hooks(run: &Run<'_>, plan: &Plan) -> Result<Vec<Hook>, ApplyError> {
    let host = &run.prepared.host;
    let runnable: Vec<Hook> = run
        .loaded
        .hooks
        .iter()
        .filter(|h| {
            let skip = h.phase == Phase::Pre
                && matches!(&h.run_in, RunIn::Service { app, .. }
                    if !host.apps.get(app).is_some_and(|a| a.deployed));
            if skip {
                (run.events)(&Event::Irreversible {
                    step: h.name.clone(),
                    reason: "skipped: its service is not deployed yet".into(),
                });
            }
            !skip
        })
        .cloned()
        .collect();
    // The host is about to change: until this apply succeeds, nothing is known.
    let dir = run.session.dir.dir();
    crate::exec::known::forget(&dir).map_err(|e| ApplyError::Io {
        path: dir.join(crate::exec::known::FILE).display().to_string(),
        message: e.to_string(),
    })?;
    let started = SystemTime::now();
    if let Err(e) = hooks::run_phase(
        &runnable,
        Phase::Pre,
        &run.req.source_dir,
        &hook_env(run, Phase::Pre),
        run.runner,
        run.req.hook_timeout,
        run.events,
    ) {
        let failed_step = match &e {
            HookError::Failed { name, .. }
            | HookError::Read { name, .. }
            | HookError::Placement { name, .. }
            | HookError::HostNotAllowed { name, .. } => Some(name.clone()),
        };
        record_failure(run, plan, failed_step, elapsed_ms(started));
        return Err(e.into());
    }
    Ok(runnable)
}

/// The transaction's first effects: the ownership claims and the secret files (written
/// before the plan mounts them). On failure they are rolled back.
fn claims_and_secrets(
    run: &Run<'_>,
    plan: &Plan,
    journal: &mut Journal,
) -> Result<Vec<Entry>, ApplyError> {
    let project = &run.loaded.checked.project;
    let mine = &run.prepared.ownership.mine;
    // What this apply may create is the stack's from before its first change: a datastore a
    // failed apply created stays (irreversible), and the next apply must find it its own.
    let mut claimed = mine.clone();
    claimed.extend(&plan::Owned::of(project));
    // A rollback never destroys a datastore (irreversible): what the plan creates of those
    // stays claimed, so the next apply finds it its own; everything else of the claim goes.
    let mut kept_claims = mine.clone();
    if plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::CreateDatastore { .. }))
    {
        kept_claims
            .datastores
            .extend(plan::Owned::of(project).datastores);
    }
    let kept_claims = (kept_claims != *mine).then_some(kept_claims);
    let mut prior = Vec::new();
    let claims = claim_ownership(
        &ownership_path(&run.session.dir),
        &claimed,
        kept_claims.as_ref(),
        journal,
        &mut prior,
    );
    if let Err((_, e)) = claims.and_then(|()| {
        write_secret_files(
            project,
            &run.loaded.secrets,
            &run.prepared.secrets_dir,
            journal,
            &mut prior,
        )
    }) {
        // Reported as the executor reports a failed step: the error, the rollback, the
        // outcome (the final error is not printed again).
        let started = std::time::Instant::now();
        (run.events)(&Event::StepFailed {
            step: "secrets".into(),
            error: e.to_string(),
        });
        let archives = &run.session.archives;
        let undo_failures = rollback(prior, run.runner, archives, Some(journal), None, run.events);
        if undo_failures.is_empty() {
            (run.events)(&Event::Finished {
                ok: false,
                duration: started.elapsed(),
            });
        } else {
            (run.events)(&Event::RollbackIncomplete {
                steps: undo_failures
                    .iter()
                    .map(|f| f.step.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                duration: started.elapsed(),
            });
        }
        record_failure(run, plan, Some("secrets".into()), 0);
        return Err(ExecError::StepFailed {
            step: "secrets".into(),
            error: e,
            undo_failures,
        }
        .into());
    }
    Ok(prior)
}

/// Runs every step, then (still inside the transaction) the post-deploy hooks and the
/// release record.
fn transact(
    run: &Run<'_>,
    plan: &Plan,
    runnable: &[Hook],
    journal: &mut Journal,
    prior: Vec<Entry>,
) -> Result<(Outcome, ReleaseInfo), ApplyError> {
    let post_env = hook_env(run, Phase::Post);
    let apps = app_facts(
        &run.loaded.checked.project,
        &run.prepared.settings,
        &run.session.key,
    );
    let recorded: RefCell<Option<ReleaseInfo>> = RefCell::new(None);
    let new_store: OnceCell<ReleaseStore> = OnceCell::new();
    let kubectl = crate::kube::kubectl::Kubectl::from_env();
    let post = |fx: &mut Effects<'_>| {
        // The cluster's objects, once the apps they select are deployed, before the hooks.
        crate::exec::kube::run(fx, &plan.kube, &kubectl, run.events)?;
        // The post-deploy hooks are an effect of the transaction too: what they do inside the
        // containers is the app's, so their undo is the rest of the apply's.
        if runnable.iter().any(|h| h.phase == Phase::Post) {
            post_hooks(run, runnable, &post_env, fx)?;
        }
        let release = record_release(run, plan, &apps, &new_store, fx)?;
        *recorded.borrow_mut() = Some(release);
        Ok(())
    };
    let started = SystemTime::now();
    let outcome = execute_then(
        plan,
        run.runner,
        &run.session.archives,
        journal,
        &run.req.exec,
        run.cancel,
        run.events,
        prior,
        Some(&post),
    )
    .inspect_err(|e| {
        let failed_step = match e {
            ExecError::StepFailed { step, .. } => Some(step.clone()),
            _ => None,
        };
        record_failure(run, plan, failed_step, elapsed_ms(started));
    })?;
    let release = recorded.into_inner().ok_or_else(|| ApplyError::Io {
        path: run.session.dir.releases().display().to_string(),
        message: "the release was not recorded".into(),
    })?;
    Ok((outcome, release))
}

/// The post-deploy hooks, a journaled effect whose undo is the rest of the apply's.
fn post_hooks(
    run: &Run<'_>,
    runnable: &[Hook],
    env: &[(String, String)],
    fx: &mut Effects<'_>,
) -> Result<(), (String, RunError)> {
    let mut failed = None;
    let ran = fx.run(
        "hooks/post",
        Revert::Plan(Undo::Commands { cmds: Vec::new() }),
        || {
            hooks::run_phase(
                runnable,
                Phase::Post,
                &run.req.source_dir,
                env,
                run.runner,
                run.req.hook_timeout,
                run.events,
            )
            .map_err(|e| {
                let (name, error) = match &e {
                    HookError::Failed { name, error } => (name.clone(), error.clone()),
                    other => (
                        String::from("deploy hooks"),
                        RunError::Input {
                            argv: String::new(),
                            message: other.to_string(),
                        },
                    ),
                };
                failed = Some((name, error));
                EffectError::Hook(e)
            })
        },
    );
    match ran {
        Ok(()) => Ok(()),
        Err(e) => Err(failed.unwrap_or(e)),
    }
}

/// Records the release (a new stack's history is made here, an effect undone by removing
/// it), keeping how long each step took.
fn record_release(
    run: &Run<'_>,
    plan: &Plan,
    apps: &BTreeMap<String, AppFacts>,
    new_store: &OnceCell<ReleaseStore>,
    fx: &mut Effects<'_>,
) -> Result<ReleaseInfo, (String, RunError)> {
    let dir = &run.session.dir;
    let req = run.req;
    let mut plan_json = plan.to_json();
    plan_json["timings_ms"] = serde_json::Value::Object(
        fx.timings
            .iter()
            .map(|t| (t.step.clone(), serde_json::json!(t.duration.as_millis())))
            .collect(),
    );
    plan_json["duration_ms"] = serde_json::json!(fx.started.elapsed().as_millis());
    let store = match &run.prepared.history.store {
        Some(s) => s,
        None => {
            let made = fx.run(
                "release/history",
                Revert::Tree {
                    tree: dir.releases(),
                    saved: None,
                },
                || {
                    ReleaseStore::open(&dir.releases(), run.session.key.clone()).map_err(|error| {
                        EffectError::Release {
                            context: "cannot create the release history",
                            error,
                        }
                    })
                },
            )?;
            new_store.get_or_init(|| made)
        }
    };
    let head = store.head().map_err(|e| {
        (
            "release".to_owned(),
            RunError::Input {
                argv: "release".into(),
                message: e.to_string(),
            },
        )
    })?;
    let plain: BTreeSet<String> = run.loaded.checked.project.settings.plain.clone();
    fx.run(
        "release",
        Revert::Release {
            store: dir.releases(),
            head,
        },
        || {
            store
                .record(&NewRelease {
                    stack: &dir.stack,
                    compose: &req.compose,
                    plain_keys: &plain,
                    plan: &plan_json,
                    apps,
                    source_rev: &req.settings.source_rev,
                    message: &req.message,
                    kind: req.kind,
                    time: &now_rfc3339(),
                })
                .map_err(|error| EffectError::Release {
                    context: "cannot record the release",
                    error,
                })
        },
    )
}

/// The prune steps, after the commit, under their own journal.
fn prune(run: &Run<'_>, planned: &Planned) -> Result<(), ApplyError> {
    if planned.prune_steps.is_empty() {
        return Ok(());
    }
    let session = run.session;
    let prune = Plan {
        steps: planned.prune_steps.clone(),
        ..planned.plan.clone()
    };
    let mut journal = Journal::create(
        &session.dir.journal(),
        session.key.clone(),
        &session.dir.stack,
        "prune",
    )?;
    execute(
        &prune,
        run.runner,
        &session.archives,
        &mut journal,
        &run.req.exec,
        run.cancel,
        run.events,
    )
    .map_err(ApplyError::Prune)?;
    journal.finish()?;
    Ok(())
}

/// The stack's records after a successful apply: what it owns (what it applied plus what it
/// kept; pruned services are gone), its known state, the apply, the summary, the sources.
fn records(
    run: &Run<'_>,
    planned: &Planned,
    outcome: &Outcome,
    release: &ReleaseInfo,
) -> Result<(), ApplyError> {
    let (session, prepared) = (run.session, run.prepared);
    let dir = &session.dir;
    let project = &run.loaded.checked.project;
    let plan = &planned.plan;
    let pruned: BTreeSet<String> = planned
        .prune_steps
        .iter()
        .filter(|s| s.run.command().ends_with(":destroy"))
        .filter_map(|s| match &s.action {
            Action::Prune { target } => Some(target.clone()),
            _ => None,
        })
        .collect();
    let mut now_owned = prepared.current.clone();
    for r in &prepared.previous {
        let target = r
            .app
            .clone()
            .or_else(|| r.datastore.as_ref().map(|(_, n)| n.clone()))
            .unwrap_or_default();
        if !pruned.contains(&target) {
            now_owned.insert(r.service.clone(), r.clone());
        }
    }
    write_json(&owned_path(dir), &now_owned)?;
    let mut mine = prepared.ownership.mine.clone();
    mine.extend(&plan::Owned::of(project));
    mine.domains = serving(project, plan, &prepared.host);
    for target in &pruned {
        mine.apps.remove(target);
        mine.datastores
            .retain(|d| d.split_once(':').is_none_or(|(_, n)| n != target));
    }
    write_json(&ownership_path(dir), &mine)?;
    if prepared.trust {
        let after = crate::exec::known::after(
            &prepared.host,
            plan.steps.iter().chain(&planned.prune_steps),
        );
        remember(dir, &session.key, &after, &prepared.seen, &run.req.data_dir);
    }
    record_apply(
        dir,
        &ApplyRecord {
            time: now_rfc3339(),
            what: session.what.clone(),
            ok: true,
            duration_ms: outcome.duration.as_millis(),
            steps: plan.steps.len(),
            failed_step: None,
            release: Some(release.id),
        },
    );
    write_summary(dir, project, release)?;
    let sources = dir.dir().join("release-sources");
    std::fs::create_dir_all(&sources).map_err(|e| ApplyError::Io {
        path: sources.display().to_string(),
        message: e.to_string(),
    })?;
    write_json(
        &sources.join(format!("v{}.json", release.id)),
        &prepared.settings.source_digests,
    )
}

/// What the release records of each app: its build context digest, a keyed fingerprint of
/// its config, its scale and image.
fn app_facts(
    project: &crate::model::Project,
    settings: &PlanSettings,
    key: &HostKey,
) -> BTreeMap<String, AppFacts> {
    let mut out = BTreeMap::new();
    for svc in project.services.values() {
        let Kind::App(app) = &svc.kind else { continue };
        let crate::dokku::Stdin::Archive { digest, .. } =
            plan::build_context(&svc.name, app, &settings.source_key(app))
        else {
            continue;
        };
        let env: BTreeMap<&String, &String> = app.env.iter().map(|(k, v)| (k, &v.value)).collect();
        let config = serde_json::to_vec(&env).unwrap_or_default();
        let image = match &app.source {
            Source::Image { image } => Some(image.clone()),
            Source::Build(_) => None,
        };
        let count = if svc.settings.state == crate::model::ExpectedState::OneShot {
            0
        } else {
            app.replicas.unwrap_or(1)
        };
        out.insert(
            app.app.to_string(),
            AppFacts {
                digest,
                config_fingerprint: key.fingerprint(&config),
                scale: BTreeMap::from([(plan::PROCESS.to_owned(), count)]),
                image,
            },
        );
    }
    out
}
