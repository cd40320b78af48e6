//! What the workflow is asked to do, and what it reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::exec::apply::Recovered;
use crate::exec::executor::{ExecOptions, Outcome};
use crate::exec::hooks::Hook;
use crate::exec::releases::{ReleaseInfo, ReleaseKind};
use crate::model::ConvertOptions;
use crate::plan::{Plan, PlanSettings};
use crate::policy::Policy;

/// What to apply and how.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// Where stacks keep their files.
    pub data_dir: PathBuf,
    /// The normalised compose project (the reference's JSON, with `x-dokku`).
    pub compose: Value,
    /// Stack name and project directory.
    pub convert: ConvertOptions,
    /// The security policy.
    pub policy: Policy,
    /// Replicas, ports and services the stack may have.
    pub limits: crate::model::Limits,
    /// Planning settings (source revision).
    pub settings: PlanSettings,
    /// Concurrency and timeouts.
    pub exec: ExecOptions,
    /// Wait for the stack lock instead of failing.
    pub wait: bool,
    /// The directory build contexts and copied files are read from.
    pub source_dir: PathBuf,
    /// Destroy the apps of services the compose file no longer has.
    pub prune: bool,
    /// Datastore services (compose names) that may be destroyed when they left the file.
    pub destroy_datastores: BTreeSet<String>,
    /// Apply or rollback.
    pub kind: ReleaseKind,
    /// The release message.
    pub message: String,
    /// Plan only: read the state and return the plan without running it.
    pub dry_run: bool,
    /// Deploy hooks directory, relative to `source_dir` (`deploy.d`).
    pub hooks_dir: String,
    /// Longest a deploy hook may run.
    pub hook_timeout: std::time::Duration,
    /// The environment `secrets.<x>.environment` reads (the stack app's config on a host).
    pub environment: BTreeMap<String, String>,
    /// Password of secret files encrypted with ansible-vault.
    pub vault_password: Option<crate::vault::VaultPassword>,
    /// `text` or `json` progress (read by the caller's event sink; recorded for reports).
    pub log_format: String,
    /// On the server: every path of the source (build contexts, copied files, seeds, static
    /// directories, secret files, hooks) is resolved inside `source_dir` (issue #13).
    pub jail: Option<crate::confine::Jail>,
    /// The run-wide cache of host-wide reads `compose:projects:apply` shares between its
    /// stacks (issue #19); `None` reads them for this stack.
    pub host_wide: Option<crate::exec::host_wide::HostWide>,
    /// The cluster's settings for a stack on k3s (issue 21).
    pub kube: crate::exec::kube::KubeSettings,
}

/// What an apply did.
#[derive(Debug)]
pub(crate) struct ApplyReport {
    /// The plan (empty for an unchanged stack).
    pub plan: Plan,
    /// Timings, when it ran.
    pub outcome: Option<Outcome>,
    /// The release recorded, if anything changed.
    pub release: Option<ReleaseInfo>,
    /// Services that left the compose file and were kept (no `--prune`).
    pub kept: Vec<String>,
    /// An interrupted apply whose rollback this one finished first.
    pub recovered: Option<Recovered>,
    /// The deploy hooks that run (or, for a dry run, would run) with a changing plan.
    pub hooks: Vec<Hook>,
}
