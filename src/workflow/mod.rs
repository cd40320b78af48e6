//! The workflow: how a stack goes from a compose project to the host, in one place, shared by
//! the push (`builder-build`), `compose:up`, `compose:plan`, `apply [--dry-run]`,
//! `rollback`, `compose:down`, the golden plans and the benchmarks.
//!
//! ```text
//! project (read-only)  model, policy, limits, graph; source paths, hooks, secrets  [project]
//! session              the stack lock; the rollback a killed apply left            [prepare]
//! prepare (read-only)  history, ownership, settings, the host's live state         [prepare]
//! plan (pure)          steps, file effects, prune steps; ownership, policy          [plan]
//! apply                one journaled transaction, then prune and records           [commit]
//! ```
//!
//! A dry run (`compose:plan`, `--dry-run`) stops after `plan` and has no session: it takes
//! no lock and creates nothing. `compose:down` plans a teardown ([`teardown`]) from the
//! released project and the live state and runs it with the same executor and journal.
//! Every effect happens in `exec` (the runner, the executor, the journal, `exec::apply`'s
//! claims, secret files and records); this module only decides the order.

mod commit;
mod plan;
mod prepare;
mod project;
mod request;
pub(crate) mod teardown;

use std::sync::atomic::AtomicBool;

pub use plan::{plan_apply, plan_checked, Planned};
pub(crate) use prepare::{prepare, query, Session};
pub use project::{check, check_typed, load, Checked, Loaded};
pub(crate) use request::{ApplyReport, ApplyRequest};

use crate::exec::apply::ApplyError;
use crate::exec::runner::Runner;
use crate::exec::Event;
use crate::plan::{Options, Plan, PlanError};
use crate::state::DokkuState;

/// Applies a stack (or, with `req.dry_run`, plans it): project → session → prepare → plan →
/// apply.
pub(crate) fn apply(
    req: &ApplyRequest,
    runner: &dyn Runner,
    cancel: &AtomicBool,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<ApplyReport, ApplyError> {
    // What the pushed project asks for is checked before anything of the stack is created:
    // a refused push leaves no trace (issue #13).
    let loaded = load(req)?;
    let mut session = Session::open(req, runner, events)?;
    let recovered = session.recovered.take();
    let mut prepared = prepare(req, &loaded, &session, runner)?;
    let mut planned = plan_apply(req, &loaded, &session, &mut prepared, runner)?;
    if req.dry_run {
        planned.plan.steps.append(&mut planned.prune_steps);
        return Ok(ApplyReport {
            plan: planned.plan,
            outcome: None,
            release: None,
            kept: planned.kept,
            recovered,
            hooks: loaded.hooks,
        });
    }
    let run = commit::Run {
        req,
        loaded: &loaded,
        session: &session,
        prepared: &prepared,
        runner,
        cancel,
        events,
    };
    let done = commit::commit(&run, &planned)?;
    Ok(ApplyReport {
        plan: planned.plan,
        outcome: done.outcome,
        release: done.release,
        kept: planned.kept,
        recovered,
        hooks: done.hooks,
    })
}

/// The pure workflow without a host: compose JSON → [`check`] → [`plan_checked`] against a
/// given state (`compose:plan --state`, the golden plans, the fuzz tests, the benchmarks).
pub fn plan_compose_json(
    json: &serde_json::Value,
    state: &DokkuState,
    opts: &Options,
) -> Result<Plan, PlanError> {
    let checked = check(json, &opts.convert, &opts.policy, None)?;
    plan_checked(&checked, state, &opts.settings, &opts.policy)
}

/// [`plan_compose_json`] for a typed compose project (the loader's output).
pub(crate) fn plan_compose(
    compose: &crate::compose::types::Project,
    state: &DokkuState,
    opts: &Options,
) -> Result<Plan, PlanError> {
    let checked = check_typed(compose, &opts.convert, &opts.policy, None)?;
    plan_checked(&checked, state, &opts.settings, &opts.policy)
}
