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

pub(crate) use context::{build_context, overlay_dir};
pub use error::PlanError;
pub(crate) use ownership::{check as check_ownership, Owned, Ownership, OwnershipError};
pub(crate) use planner::k3s::{services_on_host, stack_on_k3s};
pub use planner::{plan, PlanSettings, SecretValues, DIGEST_VAR, KEYS_VAR, OPTIONS_VAR, PROCESS};
pub use step::{Action, Batches, FileEffect, Plan, Step, Undo};

use crate::model::ConvertOptions;
use crate::policy::Policy;

/// Everything one planning run needs besides the compose JSON and the state
/// ([`crate::workflow::plan_compose_json`]).
#[derive(Debug, Clone)]
pub struct Options {
    /// Conversion options (stack name, project directory).
    pub convert: ConvertOptions,
    /// The security policy.
    pub policy: Policy,
    /// Planning settings.
    pub settings: PlanSettings,
}
