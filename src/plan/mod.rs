//! Stage 4: the plan. A pure function of (compose project, Dokku state, settings) that yields
//! the exact, ordered `dokku` commands, each with its reason and undo (style R8).

mod context;
mod error;
mod k3s_appjson;
mod ownership;
mod planner;
mod render;
pub mod simulate;
mod step;

pub use context::{app_json, build_context, overlay_dir};
pub use error::PlanError;
pub use ownership::{check as check_ownership, Foreign, Owned, Ownership, OwnershipError};
pub(crate) use planner::k3s::stack_on_k3s;
pub use planner::{plan, PlanSettings, SecretValues, DIGEST_VAR, KEYS_VAR, OPTIONS_VAR, PROCESS};
pub use step::{Action, Batches, FileEffect, Plan, Step, Undo};

use crate::model::{from_compose, from_compose_json, ConvertOptions};
use crate::policy::Policy;
use crate::state::DokkuState;

/// Everything one planning run needs besides the compose JSON and the state.
#[derive(Debug, Clone)]
pub struct Options {
    /// Conversion options (stack name, project directory).
    pub convert: ConvertOptions,
    /// The security policy.
    pub policy: Policy,
    /// Planning settings.
    pub settings: PlanSettings,
}

/// The whole pure pipeline: compose JSON -> model -> policy check -> graph -> plan -> policy
/// check of the planned commands.
pub fn plan_compose_json(
    json: &serde_json::Value,
    state: &DokkuState,
    opts: &Options,
) -> Result<Plan, PlanError> {
    let (project, warnings) = from_compose_json(json, &opts.convert)?;
    plan_model(project, warnings, state, opts)
}

/// [`plan_compose_json`] for a typed compose project (the loader's output).
pub fn plan_compose(
    compose: &crate::compose::types::Project,
    state: &DokkuState,
    opts: &Options,
) -> Result<Plan, PlanError> {
    let (project, warnings) = from_compose(compose, &opts.convert)?;
    plan_model(project, warnings, state, opts)
}

fn plan_model(
    project: crate::model::Project,
    warnings: Vec<crate::model::Warning>,
    state: &DokkuState,
    opts: &Options,
) -> Result<Plan, PlanError> {
    opts.policy.check(&project)?;
    let graph = crate::graph::build(&project)?;
    let plan = plan(&project, &graph, state, &opts.settings, warnings)?;
    opts.policy.check_plan(&project, &plan)?;
    Ok(plan)
}
