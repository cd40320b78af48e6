//! The plan stage of the workflow: the pure planner over the prepared state, the policy's
//! check of the planned commands, the ownership check, the effects beside the Dokku commands
//! (files, hooks, the release record) and the prune steps. Its only reads are two read-only
//! queries it may need: the host's vhosts (when the plan sets domains, for the ownership
//! check) and a pruned datastore's links.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::prepare::{reader, Prepared, Session};
use super::project::{Checked, Loaded};
use super::ApplyRequest;
use crate::dokku::Cmd;
use crate::exec::apply::{ownership_path, ApplyError, Removed, StackDir};
use crate::exec::hooks::{Hook, Phase};
use crate::exec::runner::Runner;
use crate::model::Kind;
use crate::plan::{self, Action, Plan, PlanError, PlanSettings, Step, Undo};
use crate::policy::Policy;
use crate::state::{self, DokkuState, StateError};

/// The pure plan of a checked project against `state`, its commands checked by the policy:
/// what `compose:plan` without a host, the golden plans and the benchmarks run.
pub fn plan_checked(
    checked: &Checked,
    state: &DokkuState,
    settings: &PlanSettings,
    policy: &Policy,
) -> Result<Plan, PlanError> {
    let plan = plan::plan(
        &checked.project,
        &checked.graph,
        state,
        settings,
        checked.warnings.clone(),
    )?;
    policy.check_plan(&checked.project, &plan)?;
    Ok(plan)
}

/// A plan made for an apply.
#[derive(Debug)]
pub struct Planned {
    /// The plan: steps, file effects, warnings.
    pub plan: Plan,
    /// Steps that destroy what left the compose file (`--prune`), run after the plan.
    pub prune_steps: Vec<Step>,
    /// What left the compose file and is kept, said as advice.
    pub kept: Vec<String>,
}

/// Plans the apply of `loaded` against what `prepare` read. The ownership of what the plan
/// touches is refused before anything changes; a project the planner refuses is first
/// checked for ownership, so what it says of another stack's service is never shown.
pub fn plan_apply(
    req: &ApplyRequest,
    loaded: &Loaded,
    session: &Session,
    prepared: &mut Prepared,
    runner: &dyn Runner,
) -> Result<Planned, ApplyError> {
    let Checked { project, graph, .. } = &loaded.checked;
    let q = reader(req, runner);
    let host = &mut prepared.host;
    let ownership = &prepared.ownership;
    let plan = match plan::plan(
        project,
        graph,
        host,
        &prepared.settings,
        prepared.warnings.clone(),
    ) {
        Ok(plan) => plan,
        Err(e) => {
            plan::check_ownership(project, &Plan::default(), host, ownership)
                .map_err(PlanError::from)?;
            return Err(e.into());
        }
    };
    // The planned commands themselves, split as Dokku splits them (dry runs included).
    req.policy
        .check_plan(project, &plan)
        .map_err(PlanError::from)?;
    if plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::SetDomains { .. }))
    {
        host.vhosts = state::read_vhosts(&mut |c| q(c))?;
    }
    plan::check_ownership(project, &plan, host, ownership).map_err(PlanError::from)?;
    // The effects beside the Dokku commands are part of the plan, printed by `compose:plan`
    // and `--dry-run` like the steps (issue #14).
    let mut plan = plan;
    plan.files = file_effects(
        project,
        &plan,
        &session.dir,
        &loaded.secrets,
        &prepared.secrets_dir,
        &loaded.hooks,
        prepared.history.store.is_none(),
    );
    // On k3s: the datastores' expose steps and the plugin-owned Services (issue 21).
    let kubectl = crate::kube::kubectl::Kubectl::from_env();
    if let Some((steps, effects)) = crate::exec::kube::plan(
        project,
        &req.compose,
        plan::stack_on_k3s(project, host),
        &plan::services_on_host(project, host),
        &req.kube,
        &|c| q(c),
        &kubectl,
    )? {
        crate::exec::kube::extend(&mut plan, steps, effects);
    }
    let (prune_steps, kept) = prune_plan(&prepared.previous, req, &host.listed, &q)?;
    Ok(Planned {
        plan,
        prune_steps,
        kept,
    })
}

/// The apply's effects beside its Dokku commands, in the order they run: the ownership
/// claims, the secret files, per step the static trees and nginx include it writes or the
/// storage seed it copies, the post-deploy hooks and the release record.
fn file_effects(
    project: &crate::model::Project,
    plan: &Plan,
    dir: &StackDir,
    secrets: &BTreeMap<String, Vec<u8>>,
    secrets_dir: &Path,
    hooks: &[Hook],
    new_history: bool,
) -> Vec<plan::FileEffect> {
    use plan::FileEffect;
    let mut out = vec![FileEffect::Write {
        id: "ownership".into(),
        path: ownership_path(dir).display().to_string(),
        mode: 0o644,
        what: "the stack's ownership claims".into(),
    }];
    for svc in project.services.values() {
        let Kind::App(app) = &svc.kind else { continue };
        for use_ in &app.secrets {
            if matches!(use_.delivery, crate::model::SecretDelivery::File(_))
                && secrets.contains_key(&use_.name)
            {
                let path = secrets_dir.join(app.app.as_str()).join(&use_.name);
                out.push(FileEffect::Write {
                    id: format!("secrets/{}/{}", app.app, use_.name),
                    path: path.display().to_string(),
                    mode: 0o444,
                    what: format!("secret `{}` of `{}`", use_.name, app.app),
                });
            }
        }
    }
    for step in &plan.steps {
        match &step.action {
            Action::SetNginxInclude { app, statics, .. } => {
                for st in statics {
                    out.push(FileEffect::Tree {
                        id: format!("{}/static {}", step.id, st.to),
                        from: st.from.clone(),
                        to: format!("`{}`", st.to),
                    });
                }
                let path = crate::routing::include_path(&crate::dokku::env::dokku_root(), app);
                out.push(FileEffect::Write {
                    id: format!("{}/include", step.id),
                    path: path.display().to_string(),
                    mode: 0o644,
                    what: format!("the nginx include of `{app}`"),
                });
            }
            Action::CreateStorage {
                name,
                seed_from: Some(seed),
            } => {
                out.push(FileEffect::Tree {
                    id: format!("{}/seed", step.id),
                    from: seed.clone(),
                    to: format!("storage entry `{name}`"),
                });
            }
            _ => {}
        }
    }
    let post: Vec<String> = hooks
        .iter()
        .filter(|h| h.phase == Phase::Post)
        .map(|h| h.name.clone())
        .collect();
    if !post.is_empty() {
        out.push(FileEffect::Hooks {
            id: "hooks/post".into(),
            names: post,
        });
    }
    let store = dir.releases().display().to_string();
    if new_history {
        out.push(FileEffect::Release {
            id: "release/history".into(),
            store: store.clone(),
        });
    }
    out.push(FileEffect::Release {
        id: "release".into(),
        store,
    });
    out
}

/// Steps that destroy what left the compose file (`--prune`); without it, the names are
/// returned so the caller can warn. Datastores are destroyed only when named.
fn prune_plan(
    removed: &[Removed],
    req: &ApplyRequest,
    apps: &BTreeSet<String>,
    q: &(dyn Fn(&Cmd) -> Result<state::QueryOutput, StateError> + Sync),
) -> Result<(Vec<Step>, Vec<String>), ApplyError> {
    // Unlinks first, then apps, then datastores: an app destroyed before its unlink step
    // fails that step (the app is gone), and a datastore destroyed before its consumers are
    // unlinked or gone is refused by the plugin ("Cannot delete linked service").
    let (mut unlinks, mut app_steps, mut datastore_steps) = (Vec::new(), Vec::new(), Vec::new());
    let mut kept = Vec::new();
    for r in removed {
        let step = |id: String, action: Action, run: Cmd, reason: String| Step {
            id,
            service: None,
            level: 0,
            action,
            run,
            reason,
            undo: Undo::Irreversible {
                reason: "pruning destroys what the compose file no longer has".into(),
            },
        };
        match (&r.app, &r.datastore) {
            (Some(app), _) if apps.contains(app) => {
                if req.prune {
                    app_steps.push(step(
                        format!("prune/{}", r.service),
                        Action::Prune {
                            target: app.clone(),
                        },
                        Cmd::dokku(["apps:destroy", app.as_str(), "--force"]),
                        format!(
                            "service `{}` is no longer in the compose file (--prune)",
                            r.service
                        ),
                    ));
                } else {
                    kept.push(format!("app `{app}` (service `{}`) is no longer in the compose file and was kept; `--prune` removes it", r.service));
                }
            }
            (_, Some((plugin, name))) => {
                if req.prune && req.destroy_datastores.contains(&r.service) {
                    let links = q(&Cmd::dokku([format!("{plugin}:links"), name.clone()]))?
                        .map(|o| state::parse_lines(&o))
                        .unwrap_or_default();
                    for app in links {
                        unlinks.push(step(
                            format!("prune/{}/unlink/{app}", r.service),
                            Action::Prune {
                                target: name.clone(),
                            },
                            Cmd::dokku([
                                format!("{plugin}:unlink"),
                                name.clone(),
                                app.clone(),
                                "--no-restart".into(),
                            ]),
                            format!("{plugin} service `{name}` is being destroyed"),
                        ));
                    }
                    datastore_steps.push(step(
                        format!("prune/{}", r.service),
                        Action::Prune {
                            target: name.clone(),
                        },
                        Cmd::dokku([format!("{plugin}:destroy"), name.clone(), "--force".into()]),
                        format!(
                            "datastore `{}` left the compose file and --destroy-datastore names it",
                            r.service
                        ),
                    ));
                } else {
                    // `--prune` alone keeps datastores: the advice names the flag that
                    // destroys one, or it would repeat forever (issue #15 item 14).
                    kept.push(format!("{plugin} service `{name}` (service `{0}`) is no longer in the compose file and was kept with its data; `--prune --destroy-datastore {0}` destroys it and its data", r.service));
                }
            }
            _ => {}
        }
    }
    let mut steps = unlinks;
    steps.append(&mut app_steps);
    steps.append(&mut datastore_steps);
    Ok((steps, kept))
}
