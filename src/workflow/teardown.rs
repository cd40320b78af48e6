//! `compose:down` as a plan: the teardown of a stack's released project, planned against the
//! live state (what still exists) and run by the same executor as an apply, under the stack
//! lock and a journal. A dry run prints the plan; a down killed halfway is recovered as an
//! apply is (its steps are irreversible: the next command on the stack finishes the journal,
//! and the next `compose:down` plans what is left). On k3s the plan also deletes the stack's
//! cluster objects: one journaled effect after the steps (`plan.kube`), shown by a dry run.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::dokku::Cmd;
use crate::exec::apply::{materialize, recover, stack_dir, ApplyError, Recovered};
use crate::exec::executor::{execute_then, Effects, ExecOptions};
use crate::exec::journal::Journal;
use crate::exec::lock::StackLock;
use crate::exec::releases::now_rfc3339;
use crate::exec::runner::Runner;
use crate::exec::secrets::HostKey;
use crate::exec::Event;
use crate::kube::kubectl::Kubectl;
use crate::model::{Kind, Project};
use crate::plan::{Action, Plan, Step, Undo};
use crate::state::{parse_lines, QueryOutput, StateError};

/// What `compose:down` is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct DownRequest {
    /// Where stacks keep their files.
    pub data_dir: PathBuf,
    /// The stack app.
    pub stack: String,
    /// The stack's released project (what it deployed).
    pub project: Project,
    /// Its released compose JSON, masked (the top-level `x-dokku.scheduler` decides whether
    /// the stack's cluster objects are looked for; issue 21).
    pub compose: serde_json::Value,
    /// Also destroy the datastore services and their data.
    pub datastores: bool,
    /// How the steps run.
    pub exec: ExecOptions,
    /// Print the plan and stop: no lock, nothing changed.
    pub dry_run: bool,
}

/// What a teardown did (or, for a dry run, would do).
#[derive(Debug)]
pub(crate) struct DownReport {
    /// The teardown plan.
    pub plan: Plan,
    /// Datastores kept with their data (without `--datastores`).
    pub kept: Vec<String>,
    /// An interrupted apply or down whose journal this one finished first.
    pub recovered: Option<Recovered>,
}

/// What the journal and the lock call a down.
pub(crate) const WHAT: &str = "compose:down";

/// The teardown plan of `project`: in reverse dependency order, each service app that
/// exists is destroyed; with `datastores`, each datastore that exists is unlinked from the
/// consumers this plan does not destroy, and destroyed (else it is kept, and said so); then the stack's networks that
/// exist, except one a kept datastore is attached to. Every step is irreversible.
pub(crate) fn plan_down(
    stack: &str,
    project: &Project,
    datastores: bool,
    q: &dyn Fn(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<(Plan, Vec<String>), ApplyError> {
    let graph = crate::graph::build(project).map_err(crate::plan::PlanError::from)?;
    let exists = |cmd: Cmd| -> Result<bool, StateError> { Ok(q(&cmd)?.is_some()) };
    let mut steps = Vec::new();
    let mut kept = Vec::new();
    // Apps this plan destroys lose their links with them (the datastore plugins' delete
    // triggers): only the others are unlinked.
    let mut destroyed = std::collections::BTreeSet::new();
    for name in graph.order.iter().rev() {
        match &project.services[name].kind {
            Kind::App(app) => {
                let app = app.app.as_str();
                if exists(Cmd::dokku(["apps:exists", app]))? {
                    destroyed.insert(app.to_owned());
                    steps.push(step(
                        format!("down/{name}"),
                        app,
                        Cmd::dokku(["apps:destroy", app, "--force"]),
                        format!("service `{name}` ({app}) is torn down"),
                    ));
                }
            }
            Kind::Datastore(d) if datastores => {
                let (plugin, ds) = (d.plugin, d.name.to_string());
                if !exists(Cmd::dokku([format!("{plugin}:exists"), ds.clone()]))? {
                    continue;
                }
                let links = q(&Cmd::dokku([format!("{plugin}:links"), ds.clone()]))?
                    .map(|o| parse_lines(&o))
                    .unwrap_or_default();
                for linked in links.into_iter().filter(|l| !destroyed.contains(l)) {
                    steps.push(step(
                        format!("down/{name}/unlink/{linked}"),
                        &ds,
                        Cmd::dokku([
                            format!("{plugin}:unlink"),
                            ds.clone(),
                            linked.clone(),
                            "--no-restart".into(),
                        ]),
                        format!("{plugin} service `{ds}` is being destroyed"),
                    ));
                }
                steps.push(step(
                    format!("down/{name}"),
                    &ds,
                    Cmd::dokku([format!("{plugin}:destroy"), ds.clone(), "--force".into()]),
                    format!("service `{name}` ({plugin} service {ds}) is torn down (--datastores)"),
                ));
            }
            Kind::Datastore(d) => kept.push(format!(
                "keeping {} service {} and its data (--datastores destroys it)",
                d.plugin, d.name
            )),
        }
    }
    for net in project.networks.values() {
        let used_by_kept = project
            .services
            .values()
            .any(|s| matches!(&s.kind, Kind::Datastore(d) if d.network.as_ref() == Some(net)));
        if (datastores || !used_by_kept) && exists(Cmd::dokku(["network:exists", net.as_str()]))? {
            steps.push(step(
                format!("down/network/{net}"),
                net.as_str(),
                Cmd::dokku(["network:destroy", "--force", net.as_str()]),
                format!("network `{net}` of the stack is torn down"),
            ));
        }
    }
    let plan = Plan {
        stack: stack.to_owned(),
        steps,
        ..Plan::default()
    };
    Ok((plan, kept))
}

fn step(id: String, target: &str, run: Cmd, reason: String) -> Step {
    Step {
        id,
        service: None,
        level: 0,
        action: Action::Prune {
            target: target.to_owned(),
        },
        run,
        reason,
        undo: Undo::Irreversible {
            reason: "compose:down destroys what the stack deployed".into(),
        },
    }
}

/// Tears the stack down: under its lock, finishes what an interrupted apply or down left,
/// plans against the live state and runs the plan under a journal. A dry run only plans.
pub(crate) fn down(
    req: &DownRequest,
    runner: &dyn Runner,
    cancel: &AtomicBool,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<DownReport, ApplyError> {
    let dir = stack_dir(&req.data_dir, &req.stack);
    let q = super::prepare::query(runner);
    let kubectl = Kubectl::from_env();
    let plan = || -> Result<(Plan, Vec<String>), ApplyError> {
        let (mut plan, kept) = plan_down(&req.stack, &req.project, req.datastores, &q)?;
        plan.kube =
            crate::exec::kube::down(&req.stack, &req.compose, &|c| q(c).ok().flatten(), &kubectl)?;
        Ok((plan, kept))
    };
    if req.dry_run {
        let (plan, kept) = plan()?;
        return Ok(DownReport {
            plan,
            kept,
            recovered: None,
        });
    }
    let _lock = StackLock::acquire(
        &dir.lock(),
        &req.stack,
        &format!("{WHAT} since {}", now_rfc3339()),
        false,
    )?;
    let key_is_new = !dir.key().exists();
    let key = HostKey::load_or_ephemeral(&dir.key())?;
    let archives = dir.saved_archives();
    let recovered = recover(&dir, &key, runner, &archives, events)?;
    let (plan, kept) = plan()?;
    if !plan.steps.is_empty() || !plan.kube.is_empty() {
        materialize(&dir, &key, key_is_new)?;
        let mut journal = Journal::create(&dir.journal(), key, &req.stack, WHAT)?;
        // On k3s the stack's Services and EndpointSlices go once its apps are destroyed, in
        // the same transaction: a failed deletion puts back those it deleted.
        let cluster =
            |fx: &mut Effects<'_>| crate::exec::kube::run(fx, &plan.kube, &kubectl, events);
        execute_then(
            &plan,
            runner,
            &archives,
            &mut journal,
            &req.exec,
            cancel,
            events,
            Vec::new(),
            Some(&cluster),
        )?;
        journal.finish()?;
    }
    Ok(DownReport {
        plan,
        kept,
        recovered,
    })
}
