//! One apply of a stack, end to end (issue #5): take the stack lock, finish the rollback of
//! an apply that was killed, read the host's state, plan, run the plan transactionally, prune
//! what the compose file no longer has (only when asked), and record the release.
//!
//! Per stack, under the data directory (`$DOKKU_LIB_ROOT/data/compose` on a host):
//! `<stack>/lock`, `<stack>/journal.jsonl`, `<stack>/releases` (git), `<stack>/archives`
//! (the build contexts deployed, for rollbacks); the host key is `host.key`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde_json::Value;

use super::archive::ArchiveStore;
use super::error::{ExecError, UndoFailure};
use super::event::Event;
use super::executor::{execute, execute_then, rollback, ExecOptions, Outcome};
use super::hooks::{self, Hook, HookError, Phase, RunIn};
use super::journal::{pending, Journal};
use super::lock::{LockError, StackLock};
use super::releases::{
    now_rfc3339, AppFacts, NewRelease, ReleaseError, ReleaseInfo, ReleaseKind, ReleaseStore,
};
use super::runner::Runner;
use super::secrets::{HostKey, SecretError};
use crate::dokku::Cmd;
use crate::model::{from_compose_json, ConvertOptions, Kind, Source};
use crate::plan::{self, Action, Plan, PlanError, PlanSettings, Step, Undo};
use crate::policy::Policy;
use crate::state::{self, StateError};

/// Where a stack's files live.
#[derive(Debug, Clone)]
pub struct StackDir {
    /// The data directory shared by all stacks.
    pub data: PathBuf,
    /// The stack.
    pub stack: String,
}

impl StackDir {
    /// `<data>/<stack>`.
    pub fn dir(&self) -> PathBuf {
        self.data.join(&self.stack)
    }
    /// The lock file.
    pub fn lock(&self) -> PathBuf {
        self.dir().join("lock")
    }
    /// The journal.
    pub fn journal(&self) -> PathBuf {
        self.dir().join("journal.jsonl")
    }
    /// The release history.
    pub fn releases(&self) -> PathBuf {
        self.dir().join("releases")
    }
    /// Saved build contexts.
    pub fn archives(&self) -> PathBuf {
        self.dir().join("archives")
    }
    /// The host key (one per data directory).
    pub fn key(&self) -> PathBuf {
        self.data.join("host.key")
    }

    fn create(&self) -> Result<(), ApplyError> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|e| ApplyError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| ApplyError::Io {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(())
    }
}

/// Why an apply did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The stack is locked.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The host key.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The release history.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// The compose project cannot be planned (invalid, refused by the policy, a cycle…).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The host's state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// The plan failed and was rolled back.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A deploy hook could not run, or a pre-deploy hook failed (nothing changed).
    #[error(transparent)]
    Hook(#[from] HookError),
    /// A file of the stack directory.
    #[error("`{path}`: {message}")]
    Io {
        /// The path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The rollback of an interrupted or failed apply could not undo every step: the journal
    /// is kept, and nothing else runs on the stack until a later command finishes it.
    #[error(
        "the rollback of an interrupted {what} (pid {pid}) is incomplete: {} step(s) could not be undone:{}\nthe journal `{journal}` is kept; fix the cause (disk space, permissions, Dokku) and run the command again: it resumes the rollback first",
        failures.len(),
        failures.iter().map(|f| format!("\n  undo of `{}`: {}", f.step, f.error)).collect::<String>()
    )]
    RollbackIncomplete {
        /// The apply whose rollback this was.
        what: String,
        /// Its process id.
        pid: u32,
        /// The undos that failed.
        failures: Vec<UndoFailure>,
        /// The journal kept.
        journal: String,
    },
    /// The stack's Kubernetes objects cannot be planned (issue 21).
    #[error(transparent)]
    Kube(#[from] crate::kube::KubeError),
    /// Pruning failed after the rest of the apply succeeded.
    #[error("the stack was applied, but pruning failed: {0}")]
    Prune(ExecError),
}

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
    pub host_wide: Option<super::host_wide::HostWide>,
    /// The cluster's settings for a stack on k3s (issue 21).
    pub kube: super::kube::KubeSettings,
}

/// What an apply did.
#[derive(Debug)]
pub struct ApplyReport {
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
    /// Wall time of reading the host's state.
    pub state_read: std::time::Duration,
    /// The deploy hooks that run (or, for a dry run, would run) with a changing plan.
    pub hooks: Vec<Hook>,
}

/// A rollback finished on behalf of a killed apply.
#[derive(Debug)]
pub struct Recovered {
    /// Its process id.
    pub pid: u32,
    /// What it was doing.
    pub what: String,
    /// Steps undone.
    pub steps: usize,
    /// Undo commands that failed.
    pub undo_failures: Vec<UndoFailure>,
}

/// Finishes the rollback of an apply that was killed, if its journal is there. The caller
/// holds the stack lock, so the journal's writer is gone.
pub fn recover(
    dir: &StackDir,
    key: &HostKey,
    runner: &dyn Runner,
    archives: &ArchiveStore,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<Option<Recovered>, ApplyError> {
    let path = dir.journal();
    let Some(p) = pending(&path, key)? else {
        return Ok(None);
    };
    let steps = p.entries.len();
    // Commands the killed apply left running finish first (each had its own deadline).
    for pid in &p.running {
        let mut waited = 0u64;
        while crate::platform::alive(*pid) && waited < 30 * 60 * 10 {
            if waited == 0 {
                events(&Event::Irreversible {
                    step: format!("pid {pid}"),
                    reason: "a command of the interrupted apply is still running; waiting for it"
                        .into(),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            waited += 1;
        }
    }
    let mut journal = Journal::reopen(&path, key.clone())?;
    let undo_failures = rollback(
        p.entries,
        runner,
        archives,
        Some(&mut journal),
        None,
        events,
    );
    if !undo_failures.is_empty() {
        // Never reported as finished over a half-restored host: the journal stays.
        return Err(ApplyError::RollbackIncomplete {
            what: p.what,
            pid: p.pid,
            failures: undo_failures,
            journal: path.display().to_string(),
        });
    }
    Ok(Some(Recovered {
        pid: p.pid,
        what: p.what,
        steps,
        undo_failures,
    }))
}

/// `recover`: finishes the rollback of an interrupted apply of `stack` under `data`, if one
/// was left, under the stack's lock; nothing else.
pub fn recover_stack(
    data: &Path,
    stack: &str,
    runner: &dyn Runner,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<Option<Recovered>, ApplyError> {
    let dir = stack_dir(data, stack);
    if !dir.journal().exists() {
        return Ok(None);
    }
    let _lock = StackLock::acquire(
        &dir.lock(),
        stack,
        &format!("recover since {}", now_rfc3339()),
        false,
    )?;
    let key = HostKey::load_or_ephemeral(&dir.key())?;
    let archives = ArchiveStore {
        dir: dir.archives(),
        source_dir: dir.dir().join("source"),
        prefer_saved: true,
        confined: true,
    };
    recover(&dir, &key, runner, &archives, events)
}

fn query(
    runner: &dyn Runner,
) -> impl Fn(&Cmd) -> Result<state::QueryOutput, StateError> + Sync + '_ {
    move |cmd: &Cmd| match runner.run(cmd, None, None) {
        Ok(out) => Ok(Some(out.stdout)),
        Err(super::RunError::Status { .. }) => Ok(None),
        Err(e) => Err(StateError::Run {
            command: cmd.masked_argv().join(" "),
            message: e.to_string(),
        }),
    }
}

/// Applies a stack. See the module doc for the sequence.
pub fn apply(
    req: &ApplyRequest,
    runner: &dyn Runner,
    cancel: &AtomicBool,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<ApplyReport, ApplyError> {
    // What the pushed project asks for is checked before anything of the stack is created:
    // a refused push leaves no trace (issue #13).
    let (project, warnings) =
        from_compose_json(&req.compose, &req.convert).map_err(PlanError::from)?;
    req.policy.check(&project).map_err(PlanError::from)?;
    req.limits.check(&project).map_err(PlanError::from)?;
    let graph = crate::graph::build(&project).map_err(PlanError::from)?;
    // On the server, every path of the source stays inside it, checked before anything reads
    // or copies it.
    let jail = req.jail.as_ref().map(|j| crate::confine::Jail {
        root: req.source_dir.clone(),
        max_file_size: j.max_file_size,
    });
    if let Some(j) = &jail {
        confine_sources(&project, j)?;
    }
    let hooks = hooks::discover(&req.source_dir, &req.hooks_dir, &project)?;
    hooks::check_placement_allowed(&hooks, &req.policy, &req.convert.stack.to_string())?;
    let secret_bytes = resolve_secrets(
        &req.compose,
        &req.environment,
        req.vault_password.as_ref(),
        jail.as_ref(),
    )?;
    let dir = StackDir {
        data: req.data_dir.clone(),
        stack: req.convert.stack.to_string(),
    };
    let what = match req.kind {
        ReleaseKind::Apply => "apply".to_owned(),
        ReleaseKind::Rollback { to } => format!("rollback to v{to}"),
    };
    // A dry run creates nothing, not even the plugin's own directories (issue #14). An apply
    // takes the lock (whose file and directory go with it when it is released) and makes the
    // stack directory, the host key and the release history only just before its first change
    // ([`materialize`]): one refused before that leaves the host as it was (issue #13).
    let _lock = if req.dry_run {
        None
    } else {
        Some(StackLock::acquire(
            &dir.lock(),
            &dir.stack,
            &format!("{what} since {}", now_rfc3339()),
            req.wait,
        )?)
    };
    let key_is_new = !dir.key().exists();
    let key = HostKey::load_or_ephemeral(&dir.key())?;
    let archives = ArchiveStore {
        dir: dir.archives(),
        source_dir: req.source_dir.clone(),
        prefer_saved: matches!(req.kind, ReleaseKind::Rollback { .. }),
        confined: req.jail.is_some(),
    };
    let recovered = if req.dry_run {
        None
    } else {
        recover(&dir, &key, runner, &archives, events)?
    };
    let store = if dir.releases().join("HEAD").exists() {
        Some(ReleaseStore::open(&dir.releases(), key.clone())?)
    } else {
        None
    };
    let latest = match &store {
        Some(s) => s.latest()?,
        None => None,
    };
    // The latest release's project, decrypted once: what the stack owned, and whether the
    // file changed.
    let latest_compose = match (&store, &latest) {
        (Some(s), Some(l)) => Some(s.compose(l.id)?),
        _ => None,
    };

    // Services the stack owns (every service applied and not pruned since) that the file no
    // longer has: kept and warned about, or pruned with `--prune`.
    let mut owned = read_json::<BTreeMap<String, Removed>>(&owned_path(&dir));
    if owned.is_empty() {
        if let Some(c) = &latest_compose {
            owned = owned_by(c, &req.convert)?;
        }
    }
    let current = owned_by(&req.compose, &req.convert)?;
    let previous: Vec<Removed> = owned
        .iter()
        .filter(|(n, _)| !current.contains_key(*n))
        .map(|(_, r)| r.clone())
        .collect();
    // What each build context and copied file holds, so only changed services redeploy.
    let mut settings = req.settings.clone();
    for svc in project.services.values() {
        let Kind::App(app) = &svc.kind else { continue };
        for path in PlanSettings::source_paths(app) {
            if let std::collections::btree_map::Entry::Vacant(e) =
                settings.source_digests.entry(path)
            {
                let full = req.source_dir.join(e.key());
                let digest = super::archive::tree_digest(&full).map_err(|err| ApplyError::Io {
                    path: full.display().to_string(),
                    message: err.to_string(),
                })?;
                e.insert(digest);
            }
        }
    }
    // Secrets: their values (vault-decrypted), keyed fingerprints, and where their files go;
    // backups whose settings changed since they were applied.
    settings.secrets = plan::SecretValues(
        secret_bytes
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.clone()).ok()?)))
            .collect(),
    );
    settings.secret_fingerprints = secret_bytes
        .iter()
        .map(|(k, v)| (k.clone(), key.fingerprint(v)))
        .collect();
    let secrets_dir = dir.dir().join("secrets");
    settings.secrets_dir = Some(secrets_dir.display().to_string());
    routing_settings(&project, &dir, &req.source_dir, &mut settings)?;
    let backups_wanted = backup_fingerprints(&project, &secret_bytes, &key);
    let backups_applied = read_json::<BTreeMap<String, String>>(&dir.dir().join("backups.json"));
    settings.backups_changed = Some(
        backups_wanted
            .iter()
            .filter(|(n, fp)| backups_applied.get(*n) != Some(*fp))
            .map(|(n, _)| n.clone())
            .collect(),
    );
    let started = Instant::now();
    let q0 = query(runner);
    let q = |c: &Cmd| match &req.host_wide {
        Some(h) => h.query(c, &q0),
        None => q0(c),
    };
    // A push on the server trusts what the stack's last apply left, except the apps Dokku's
    // triggers recorded as changed since (docs/performance.md); dry runs (`compose:plan`) and
    // applies from elsewhere, which cannot see those triggers, read everything.
    let trust = req.jail.is_some() && !req.dry_run;
    let record = if trust {
        super::known::load(&dir.dir(), &key)
    } else {
        None
    };
    let seen = super::known::changed(
        &req.data_dir,
        project
            .services
            .values()
            .filter_map(|s| s.app())
            .map(|a| a.app.as_str()),
    );
    let changed = super::known::names(&seen);
    let read = |known: Option<state::Known<'_>>| -> Result<(state::DokkuState, Vec<crate::model::Warning>), StateError> {
        let host = state::read_stack(&project, &mut |c| q(c), known)?;
        // The model warns that Let's Encrypt needs the host's global e-mail; the host was
        // read, so the planner refuses when it is missing and the warning is moot when set.
        let mut warnings = warnings.clone();
        if host.letsencrypt_global_email.as_deref().is_some_and(|e| !e.is_empty()) {
            warnings.retain(|w| !w.path.ends_with(".x-dokku.letsencrypt"));
        }
        Ok((host, warnings))
    };
    let (mut host, mut warnings) = read(record.as_ref().map(|state| state::Known {
        state,
        changed: &changed,
    }))?;
    if record.is_some() {
        // What the stack would create or link is checked against the whole host: planned
        // again from a full read (as is a plan the known state cannot make).
        let again = plan::plan(&project, &graph, &host, &settings, warnings.clone())
            .map_or(true, |p| super::known::needs_host(&p.steps));
        if again {
            (host, warnings) = read(None)?;
        }
    }
    let state_read = started.elapsed();
    // Ownership (docs/security.md): refused before anything changes, and before what the
    // planner says of a service that is not this stack's (its password, its image).
    let ownership = plan::Ownership {
        mine: mine_owned(&dir, &owned, latest_compose.as_ref(), &req.convert)?,
        others: others_owned(&dir),
    };
    let plan = match plan::plan(&project, &graph, &host, &settings, warnings) {
        Ok(plan) => plan,
        Err(e) => {
            plan::check_ownership(&project, &Plan::default(), &host, &ownership)
                .map_err(PlanError::from)?;
            return Err(e.into());
        }
    };
    // The planned commands themselves, split as Dokku splits them (dry runs included).
    req.policy
        .check_plan(&project, &plan)
        .map_err(PlanError::from)?;
    if plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::SetDomains { .. }))
    {
        host.vhosts = state::read_vhosts(&mut |c| q(c))?;
    }
    plan::check_ownership(&project, &plan, &host, &ownership).map_err(PlanError::from)?;
    // The effects beside the Dokku commands are part of the plan, printed by `compose:plan`
    // and `--dry-run` like the steps (issue #14).
    let mut plan = plan;
    plan.files = file_effects(
        &project,
        &plan,
        &dir,
        &secret_bytes,
        &secrets_dir,
        &hooks,
        store.is_none(),
    );
    // On k3s: the datastores' expose steps and the plugin-owned Services (issue 21).
    let kubectl = crate::kube::kubectl::Kubectl::from_env();
    if let Some((steps, effects)) = super::kube::plan(
        &project,
        &req.compose,
        crate::plan::stack_on_k3s(&project, &host),
        &req.kube,
        &|c| q(c),
        &kubectl,
    )? {
        super::kube::extend(&mut plan, steps, effects);
    }
    let (prune_steps, kept) = prune_plan(&previous, req, &host.listed, &q)?;
    if req.dry_run {
        plan.steps.extend(prune_steps);
        return Ok(ApplyReport {
            plan,
            outcome: None,
            release: None,
            kept,
            recovered,
            state_read,
            hooks,
        });
    }

    let unchanged_compose = latest_compose.as_ref() == Some(&req.compose);
    // A rollback to the release the stack stands on already (a second `compose:rollback`, or
    // `compose:up` after one) is up to date as an apply is: no new release.
    let same_kind = match req.kind {
        ReleaseKind::Apply => true,
        ReleaseKind::Rollback { to } => match (&latest, &store) {
            (Some(l), Some(store)) => store.rolled_back_to(l.id)? == Some(to),
            _ => false,
        },
    };
    if plan.steps.is_empty()
        && plan.kube.is_empty()
        && prune_steps.is_empty()
        && unchanged_compose
        && same_kind
    {
        if trust {
            remember(&dir, &key, &host, &seen, &req.data_dir);
        }
        events(&Event::UpToDate {
            stack: plan.stack.clone(),
        });
        return Ok(ApplyReport {
            plan,
            outcome: None,
            release: None,
            kept,
            recovered,
            state_read,
            hooks: Vec::new(),
        });
    }

    // The first change is next (a pre-deploy hook runs in a container).
    materialize(&dir, &key, key_is_new)?;
    // Pre-deploy hooks: before anything changes. A hook in the container of a service that
    // is not deployed yet has nothing to run in: it is skipped, and says so.
    let next_release = latest.as_ref().map_or(1, |l| l.id + 1);
    let hook_env = |phase: Phase| {
        let mut env = hooks::environment(&project, phase, &settings.source_rev);
        env.push(("DOKKU_COMPOSE_RELEASE".into(), next_release.to_string()));
        env
    };
    let runnable: Vec<Hook> = hooks
        .iter()
        .filter(|h| {
            let skip = h.phase == Phase::Pre && matches!(&h.run_in, RunIn::Service { app, .. } if !host.apps.get(app).is_some_and(|a| a.deployed));
            if skip {
                events(&Event::Irreversible { step: h.name.clone(), reason: "skipped: its service is not deployed yet".into() });
            }
            !skip
        })
        .cloned()
        .collect();
    // The host is about to change: until this apply succeeds, nothing is known.
    super::known::forget(&dir.dir()).map_err(|e| ApplyError::Io {
        path: dir.dir().join(super::known::FILE).display().to_string(),
        message: e.to_string(),
    })?;
    let pre_started = std::time::SystemTime::now();
    if let Err(e) = hooks::run_phase(
        &runnable,
        Phase::Pre,
        &req.source_dir,
        &hook_env(Phase::Pre),
        runner,
        req.hook_timeout,
        events,
    ) {
        let failed_step = match &e {
            HookError::Failed { name, .. }
            | HookError::Read { name, .. }
            | HookError::Placement { name, .. }
            | HookError::HostNotAllowed { name, .. } => Some(name.clone()),
        };
        record_apply(
            &dir,
            &ApplyRecord {
                time: now_rfc3339(),
                what: what.clone(),
                ok: false,
                duration_ms: elapsed_ms(pre_started),
                steps: plan.steps.len(),
                failed_step,
                release: None,
            },
        );
        return Err(e.into());
    }

    let prune_targets: Vec<String> = prune_steps
        .iter()
        .filter(|s| s.run.command().ends_with(":destroy"))
        .filter_map(|s| match &s.action {
            Action::Prune { target } => Some(target.clone()),
            _ => None,
        })
        .collect();
    // What this apply may create is the stack's from before its first change: a datastore a
    // failed apply created stays (irreversible), and the next apply must find it its own.
    let mut claimed = ownership.mine.clone();
    claimed.extend(&plan::Owned::of(&project));
    // One transaction: the ownership claims, the secret files (written before the plan mounts
    // them), every step, the post-deploy hooks and the release record; each effect's undo is
    // journaled first, so a failure, a signal or a kill leaves host and history as they were
    // (issue #14).
    let mut journal = Journal::create(&dir.journal(), key.clone(), &dir.stack, &what)?;
    let mut prior = Vec::new();
    // A rollback never destroys a datastore (irreversible): what the plan creates of those
    // stays claimed, so the next apply finds it its own; everything else of the claim goes.
    let mut kept_claims = ownership.mine.clone();
    if plan
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::CreateDatastore { .. }))
    {
        kept_claims
            .datastores
            .extend(plan::Owned::of(&project).datastores);
    }
    let kept_claims = (kept_claims != ownership.mine).then_some(kept_claims);
    let claims = claim_ownership(
        &ownership_path(&dir),
        &claimed,
        kept_claims.as_ref(),
        &mut journal,
        &mut prior,
    );
    if let Err((_, e)) = claims.and_then(|()| {
        write_secret_files(
            &project,
            &secret_bytes,
            &secrets_dir,
            &mut journal,
            &mut prior,
        )
    }) {
        let undo_failures = rollback(prior, runner, &archives, Some(&mut journal), None, events);
        let e = ExecError::StepFailed {
            step: "secrets".into(),
            source: e,
            undo_failures,
        };
        record_apply(
            &dir,
            &ApplyRecord {
                time: now_rfc3339(),
                what: what.clone(),
                ok: false,
                duration_ms: 0,
                steps: plan.steps.len(),
                failed_step: Some("secrets".into()),
                release: None,
            },
        );
        return Err(e.into());
    }
    let post_env = hook_env(Phase::Post);
    let plain: BTreeSet<String> = project.settings.plain.clone();
    let apps = app_facts(&project, &settings, &key);
    let recorded: std::cell::RefCell<Option<ReleaseInfo>> = std::cell::RefCell::new(None);
    let new_store: std::cell::OnceCell<ReleaseStore> = std::cell::OnceCell::new();
    let post = |fx: &mut super::executor::Effects<'_>| {
        // The cluster's objects, once the apps they select are deployed, before the hooks.
        super::kube::run(fx, &plan.kube, &kubectl, events)?;
        // The post-deploy hooks are an effect of the transaction too: what they do inside the
        // containers is the app's, so their undo is the rest of the apply's.
        if runnable.iter().any(|h| h.phase == Phase::Post) {
            let mut failed = None;
            let ran = fx.run(
                "hooks/post",
                super::journal::Revert::Plan(Undo::Commands { cmds: Vec::new() }),
                || {
                    hooks::run_phase(
                        &runnable,
                        Phase::Post,
                        &req.source_dir,
                        &post_env,
                        runner,
                        req.hook_timeout,
                        events,
                    )
                    .map_err(|e| {
                        let message = e.to_string();
                        failed = Some(match e {
                            HookError::Failed { name, source } => (name, source),
                            other => (
                                String::from("deploy hooks"),
                                super::RunError::Input {
                                    argv: String::new(),
                                    message: other.to_string(),
                                },
                            ),
                        });
                        message
                    })
                },
            );
            if let Err(e) = ran {
                return Err(failed.unwrap_or(e));
            }
        }
        let mut plan_json = plan.to_json();
        // The release keeps how long each step took.
        plan_json["timings_ms"] = serde_json::Value::Object(
            fx.timings
                .iter()
                .map(|t| (t.step.clone(), serde_json::json!(t.duration.as_millis())))
                .collect(),
        );
        plan_json["duration_ms"] = serde_json::json!(fx.started.elapsed().as_millis());
        // A new stack's history is made here, an effect undone by removing it.
        let store = match &store {
            Some(s) => s,
            None => {
                let made = fx.run(
                    "release/history",
                    super::journal::Revert::Tree {
                        tree: dir.releases(),
                        saved: None,
                    },
                    || {
                        ReleaseStore::open(&dir.releases(), key.clone())
                            .map_err(|e| format!("cannot create the release history: {e}"))
                    },
                )?;
                new_store.get_or_init(|| made)
            }
        };
        let head = store.head().map_err(|e| {
            (
                "release".to_owned(),
                super::RunError::Input {
                    argv: "release".into(),
                    message: e.to_string(),
                },
            )
        })?;
        let release = fx.run(
            "release",
            super::journal::Revert::Release {
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
                        apps: &apps,
                        source_rev: &req.settings.source_rev,
                        message: &req.message,
                        kind: req.kind,
                        time: &now_rfc3339(),
                    })
                    .map_err(|e| format!("cannot record the release: {e}"))
            },
        )?;
        *recorded.borrow_mut() = Some(release);
        Ok(())
    };
    let apply_started = std::time::SystemTime::now();
    let outcome = match execute_then(
        &plan,
        runner,
        &archives,
        &mut journal,
        &req.exec,
        cancel,
        events,
        prior,
        Some(&post),
    ) {
        Ok(o) => o,
        Err(e) => {
            let failed_step = match &e {
                ExecError::StepFailed { step, .. } => Some(step.clone()),
                _ => None,
            };
            record_apply(
                &dir,
                &ApplyRecord {
                    time: now_rfc3339(),
                    what: what.clone(),
                    ok: false,
                    duration_ms: elapsed_ms(apply_started),
                    steps: plan.steps.len(),
                    failed_step,
                    release: None,
                },
            );
            return Err(e.into());
        }
    };
    // The transaction is committed: host and history both have the new release; the trees
    // its effects replaced are no longer needed.
    journal.finish()?;
    let undo_trees = dir.dir().join("undo");
    if undo_trees.exists() {
        std::fs::remove_dir_all(&undo_trees).map_err(|e| ApplyError::Io {
            path: undo_trees.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let release = recorded.into_inner().ok_or_else(|| ApplyError::Io {
        path: dir.releases().display().to_string(),
        message: "the release was not recorded".into(),
    })?;
    write_json(&dir.dir().join("backups.json"), &backups_wanted)?;
    let pruned_steps = prune_steps.clone();
    if !prune_steps.is_empty() {
        let prune = Plan {
            steps: prune_steps,
            ..plan.clone()
        };
        let mut journal = Journal::create(&dir.journal(), key.clone(), &dir.stack, "prune")?;
        execute(
            &prune,
            runner,
            &archives,
            &mut journal,
            &req.exec,
            cancel,
            events,
        )
        .map_err(ApplyError::Prune)?;
        journal.finish()?;
    }

    // The stack now owns what it applied plus what it kept; pruned services are gone.
    let pruned: BTreeSet<String> = prune_targets.iter().cloned().collect();
    let mut now_owned = current.clone();
    for r in &previous {
        let target = r
            .app
            .clone()
            .or_else(|| r.datastore.as_ref().map(|(_, n)| n.clone()))
            .unwrap_or_default();
        if !pruned.contains(&target) {
            now_owned.insert(r.service.clone(), r.clone());
        }
    }
    write_json(&owned_path(&dir), &now_owned)?;
    let mut mine = ownership.mine.clone();
    mine.extend(&plan::Owned::of(&project));
    mine.domains = serving(&project, &plan, &host);
    for target in &pruned {
        mine.apps.remove(target);
        mine.datastores
            .retain(|d| d.split_once(':').is_none_or(|(_, n)| n != target));
    }
    write_json(&ownership_path(&dir), &mine)?;
    if trust {
        remember(
            &dir,
            &key,
            &super::known::after(&host, plan.steps.iter().chain(&pruned_steps)),
            &seen,
            &req.data_dir,
        );
    }
    record_apply(
        &dir,
        &ApplyRecord {
            time: now_rfc3339(),
            what: what.clone(),
            ok: true,
            duration_ms: outcome.duration.as_millis(),
            steps: plan.steps.len(),
            failed_step: None,
            release: Some(release.id),
        },
    );
    write_summary(&dir, &project, &release)?;
    let sources = dir.dir().join("release-sources");
    std::fs::create_dir_all(&sources).map_err(|e| ApplyError::Io {
        path: sources.display().to_string(),
        message: e.to_string(),
    })?;
    write_json(
        &sources.join(format!("v{}.json", release.id)),
        &settings.source_digests,
    )?;
    Ok(ApplyReport {
        plan,
        outcome: Some(outcome),
        release: Some(release),
        kept,
        recovered,
        state_read,
        hooks,
    })
}

/// Makes what the stack's first change needs and a refused apply must not leave behind: the
/// stack directory (0700) and the host key when there was none. (The release history of a
/// new stack is made inside the transaction, with the release record.)
fn materialize(dir: &StackDir, key: &HostKey, key_is_new: bool) -> Result<(), ApplyError> {
    dir.create()?;
    if key_is_new {
        key.persist(&dir.key())?;
    }
    Ok(())
}

/// Records `state` as what the host looks like for the stack, and drops the change markers
/// it took into account. Best effort: a record that cannot be written only makes the next
/// push read everything.
fn remember(
    dir: &StackDir,
    key: &HostKey,
    state: &state::DokkuState,
    seen: &BTreeMap<String, std::time::SystemTime>,
    data: &Path,
) {
    if super::known::save(&dir.dir(), key, state).is_ok() {
        super::known::settle(data, seen);
    }
}

/// Path routing (issue 7): static directories are served from `<data>/<stack>/static`, and
/// what they hold is part of the include's digest.
fn routing_settings(
    project: &crate::model::Project,
    dir: &StackDir,
    source_dir: &Path,
    settings: &mut PlanSettings,
) -> Result<(), ApplyError> {
    settings.static_dir = Some(dir.dir().join("static").display().to_string());
    for svc in project.services.values() {
        for route in &svc.settings.paths {
            let crate::model::PathTarget::Static { dir: path, .. } = &route.target else {
                continue;
            };
            if !settings.source_digests.contains_key(path) {
                let full = source_dir.join(path);
                let digest = super::archive::tree_digest(&full).map_err(|e| ApplyError::Io {
                    path: full.display().to_string(),
                    message: e.to_string(),
                })?;
                settings.source_digests.insert(path.clone(), digest);
            }
        }
    }
    Ok(())
}

/// Checks every path of the pushed source the project uses, before anything reads or copies
/// it (issue #13): build contexts and static directories are trees whose links stay inside
/// them, Dockerfiles and copied files (configs, read-only binds) are regular files or such
/// trees, seeds of relative bind mounts likewise; each inside the pushed tree.
fn confine_sources(
    project: &crate::model::Project,
    jail: &crate::confine::Jail,
) -> Result<(), ApplyError> {
    use crate::model::{FileSource, Mount, PathTarget, Source};
    let refuse = |key: String, e: crate::confine::PathError| ApplyError::Io {
        path: key,
        message: e.to_string(),
    };
    let root = &jail.root;
    // A file must be regular; a directory is checked as a tree.
    let file_or_tree = |key: String, rel: &str| -> Result<(), ApplyError> {
        let resolved =
            crate::confine::resolve(root, Path::new(rel)).map_err(|e| refuse(key.clone(), e))?;
        match std::fs::symlink_metadata(&resolved) {
            Ok(m) if m.is_dir() => {
                crate::confine::check_tree(root, Path::new(rel)).map_err(|e| refuse(key, e))
            }
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(ApplyError::Io {
                path: key,
                message: format!("`{rel}` is not a regular file or directory"),
            }),
            // Checked here, before the first change (issue 15 item 10), not where it is used.
            Err(_) => Err(ApplyError::Io {
                path: key,
                message: format!("`{rel}` does not exist in the pushed source"),
            }),
        }
    };
    for (name, svc) in &project.services {
        for (i, route) in svc.settings.paths.iter().enumerate() {
            if let PathTarget::Static { dir, .. } = &route.target {
                file_or_tree(format!("x-dokku.services.{name}.paths[{i}].static"), dir)?;
            }
        }
        let crate::model::Kind::App(app) = &svc.kind else {
            continue;
        };
        if let Source::Build(b) = &app.source {
            let context = format!("services.{name}.build.context");
            crate::confine::resolve(root, Path::new(&b.context))
                .map_err(|e| refuse(context.clone(), e))?;
            let dockerfile = Path::new(&b.context).join(&b.dockerfile);
            let key = format!("services.{name}.build.dockerfile");
            let resolved =
                crate::confine::resolve(root, &dockerfile).map_err(|e| refuse(key.clone(), e))?;
            match std::fs::symlink_metadata(&resolved) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(ApplyError::Io { path: key, message: format!("`{}` is not a regular file", dockerfile.display()) }),
                Err(_) => return Err(ApplyError::Io { path: key, message: format!("`{}` does not exist in the pushed source; Dokku builds the service from it", dockerfile.display()) }),
            }
            file_or_tree(context, &b.context)?;
        }
        for (target, f) in &app.files {
            if let FileSource::Source { path } = f {
                file_or_tree(
                    format!("services.{name}.configs/volumes (`{path}` -> `{target}`)"),
                    path,
                )?;
            }
        }
        for m in &app.mounts {
            if let Mount::Entry {
                seed_from: Some(seed),
                target,
                ..
            } = m
            {
                file_or_tree(format!("services.{name}.volumes (`{seed}:{target}`)"), seed)?;
            }
        }
    }
    Ok(())
}

/// The values of the compose `secrets` the services use: a `file` is read (and decrypted when
/// it is an ansible vault), an `environment` secret comes from `environment`.
fn resolve_secrets(
    compose: &Value,
    environment: &BTreeMap<String, String>,
    vault: Option<&crate::vault::VaultPassword>,
    jail: Option<&crate::confine::Jail>,
) -> Result<BTreeMap<String, Vec<u8>>, ApplyError> {
    let mut out = BTreeMap::new();
    for (name, def) in compose
        .get("secrets")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(file) = def.get("file").and_then(Value::as_str) {
            if let Some(j) = jail {
                // In the jail: a regular file of the pushed tree, bounded (issue #13).
                match j.read(Path::new(file)) {
                    Ok(bytes) => {
                        let plain = crate::vault::plaintext(bytes, Path::new(file), vault)
                            .map_err(|message| ApplyError::Io {
                                path: format!("secrets.{name}.file"),
                                message,
                            })?;
                        out.insert(name.clone(), plain);
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        return Err(ApplyError::Io {
                            path: format!("secrets.{name}.file"),
                            message: e.to_string(),
                        })
                    }
                }
                continue;
            }
            match crate::vault::read_maybe_vault(Path::new(file), vault) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                // A missing file is reported by the planner, naming the service that uses it.
                Err(_) if !Path::new(file).exists() => {}
                Err(message) => {
                    return Err(ApplyError::Io {
                        path: format!("secrets.{name}.file"),
                        message,
                    })
                }
            }
        } else if let Some(var) = def.get("environment").and_then(Value::as_str) {
            if let Some(v) = environment.get(var) {
                out.insert(name.clone(), v.clone().into_bytes());
            }
        }
    }
    Ok(out)
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

/// Writes the stack's ownership claims before its first change, a journaled effect whose
/// undo puts the previous record back (or removes it), or writes `kept` (what survives a
/// rollback) when given.
fn claim_ownership(
    path: &Path,
    claimed: &plan::Owned,
    kept: Option<&plan::Owned>,
    journal: &mut Journal,
    entries: &mut Vec<super::journal::Entry>,
) -> Result<(), (String, super::RunError)> {
    let fail = |e: serde_json::Error| {
        (
            "ownership".to_owned(),
            super::RunError::Input {
                argv: "ownership".into(),
                message: e.to_string(),
            },
        )
    };
    let previous = match kept {
        Some(k) => Some(serde_json::to_vec_pretty(k).map_err(fail)?),
        None => std::fs::read(path).ok(),
    };
    let previous_mode = std::fs::metadata(path).map_or(0o644, |m| {
        std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
    });
    let text = serde_json::to_vec_pretty(claimed).map_err(fail)?;
    super::executor::journaled_effect(
        journal,
        entries,
        "ownership",
        super::journal::Revert::File {
            file: path.to_path_buf(),
            previous,
            previous_mode,
        },
        || {
            crate::platform::write_atomic(path, &text, 0o644)
                .map_err(|e| format!("`{}`: {e}", path.display()))
        },
    )
}

/// Writes every file-delivered secret to `<dir>/<app>/<secret>` (directories 0700, files
/// 0444), each a journaled effect whose undo puts the previous file back (or removes it, and
/// the directories it created), pushed to `entries`.
fn write_secret_files(
    project: &crate::model::Project,
    values: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
    journal: &mut Journal,
    entries: &mut Vec<super::journal::Entry>,
) -> Result<(), (String, super::RunError)> {
    use super::executor::journaled_effect;
    use super::journal::Revert;
    use std::os::unix::fs::PermissionsExt as _;
    let mut made_dirs = BTreeSet::new();
    for svc in project.services.values() {
        let Kind::App(app) = &svc.kind else { continue };
        for use_ in &app.secrets {
            let crate::model::SecretDelivery::File(_) = &use_.delivery else {
                continue;
            };
            let Some(value) = values.get(&use_.name) else {
                continue;
            };
            let app_dir = dir.join(app.app.as_str());
            for d in [dir, app_dir.as_path()] {
                if made_dirs.contains(d) || std::fs::symlink_metadata(d).is_ok() {
                    continue;
                }
                made_dirs.insert(d.to_path_buf());
                journaled_effect(
                    journal,
                    entries,
                    &format!("secrets/mkdir {}", d.display()),
                    Revert::Dir {
                        created_dir: d.to_path_buf(),
                    },
                    || {
                        std::fs::create_dir(d)
                            .and_then(|()| {
                                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                            })
                            .map_err(|e| format!("`{}`: {e}", d.display()))
                    },
                )?;
            }
            let path = app_dir.join(&use_.name);
            let old = std::fs::read(&path).ok();
            if old.as_deref() == Some(value.as_slice()) {
                continue;
            }
            let previous_mode =
                std::fs::metadata(&path).map_or(0o444, |m| m.permissions().mode() & 0o7777);
            journaled_effect(
                journal,
                entries,
                &format!("secrets/{}/{}", app.app, use_.name),
                Revert::File {
                    file: path.clone(),
                    previous: old,
                    previous_mode,
                },
                || {
                    crate::platform::write_atomic(&path, value, 0o444)
                        .map_err(|e| format!("`{}`: {e}", path.display()))
                },
            )?;
        }
    }
    Ok(())
}

/// Keyed fingerprints of each datastore's backup settings, secret values included.
fn backup_fingerprints(
    project: &crate::model::Project,
    secrets: &BTreeMap<String, Vec<u8>>,
    key: &HostKey,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for svc in project.services.values() {
        let (Kind::Datastore(ds), Some(b)) = (&svc.kind, &svc.settings.backup) else {
            continue;
        };
        let mut material = serde_json::to_vec(b).unwrap_or_default();
        for name in b.secrets() {
            material.extend_from_slice(name.as_bytes());
            material.push(0);
            material.extend_from_slice(secrets.get(name).map_or(&[][..], Vec::as_slice));
            material.push(0);
        }
        out.insert(ds.name.to_string(), key.fingerprint(&material));
    }
    out
}

/// A JSON file of the stack's directory; missing or unreadable reads as empty.
fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes a JSON file of the stack's directory atomically.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ApplyError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| ApplyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    crate::platform::write_atomic(path, &bytes, 0o644).map_err(|e| ApplyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// One apply that ran (succeeded or rolled back), as `applies.jsonl` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplyRecord {
    /// When it ended (RFC 3339).
    pub time: String,
    /// `apply`, `rollback to vN`.
    pub what: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Wall time.
    pub duration_ms: u128,
    /// Steps planned.
    pub steps: usize,
    /// The step that failed first, if one did.
    pub failed_step: Option<String>,
    /// The release it recorded.
    pub release: Option<u64>,
}

/// What listings and reports show of a stack without asking Dokku or opening its history:
/// written after every successful apply as `<data>/<stack>/summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// The latest release.
    pub release: u64,
    /// When it was recorded.
    pub released: String,
    /// Compose service -> what it became (`app shop-web`, `postgres shop-db`).
    pub services: BTreeMap<String, String>,
    /// Backups of its datastores (`postgres:shop-db `0 3 * * *` -> bucket`).
    pub backups: Vec<String>,
}

impl Summary {
    /// The summary of `project` as release `release` of `released`.
    pub fn of(project: &crate::model::Project, release: u64, released: &str) -> Self {
        let services = project
            .services
            .iter()
            .map(|(n, s)| {
                let target = match &s.kind {
                    Kind::App(a) => format!("app {}", a.app),
                    Kind::Datastore(d) => format!("{} {}", d.plugin, d.name),
                };
                (n.to_string(), target)
            })
            .collect();
        let backups = project
            .services
            .values()
            .filter_map(|s| match (&s.kind, &s.settings.backup) {
                (Kind::Datastore(d), Some(b)) => Some(b.describe(d.plugin, d.name.as_str())),
                _ => None,
            })
            .collect();
        Summary {
            release,
            released: released.to_owned(),
            services,
            backups,
        }
    }
}

fn write_summary(
    dir: &StackDir,
    project: &crate::model::Project,
    release: &ReleaseInfo,
) -> Result<(), ApplyError> {
    let summary = Summary::of(project, release.id, &release.time);
    write_json(&dir.dir().join("summary.json"), &summary)
}

/// A stack's summary, if it has been applied.
pub fn summary(dir: &StackDir) -> Option<Summary> {
    read_json::<Option<Summary>>(&dir.dir().join("summary.json"))
}

fn elapsed_ms(since: std::time::SystemTime) -> u128 {
    since.elapsed().map_or(0, |d| d.as_millis())
}

fn record_apply(dir: &StackDir, record: &ApplyRecord) {
    use std::io::Write as _;
    let path = dir.dir().join("applies.jsonl");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(f, "{}", serde_json::to_string(record).unwrap_or_default());
    }
}

/// The applies of a stack that ran, oldest first (at most the last `limit`).
pub fn apply_history(dir: &StackDir, limit: usize) -> Vec<ApplyRecord> {
    let text = std::fs::read_to_string(dir.dir().join("applies.jsonl")).unwrap_or_default();
    let all: Vec<ApplyRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    all[all.len().saturating_sub(limit)..].to_vec()
}

/// The source digests release `id` was planned with (empty when unknown).
pub fn release_sources(dir: &StackDir, id: u64) -> BTreeMap<String, String> {
    read_json(
        &dir.dir()
            .join("release-sources")
            .join(format!("v{id}.json")),
    )
}

/// A service the stack owns: its app, or its datastore (plugin, name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Removed {
    service: String,
    app: Option<String>,
    datastore: Option<(String, String)>,
}

/// The services of a compose project, as the stack owns them.
fn owned_by(
    compose: &Value,
    convert: &ConvertOptions,
) -> Result<BTreeMap<String, Removed>, ApplyError> {
    let (project, _) = from_compose_json(compose, convert).map_err(PlanError::from)?;
    Ok(project
        .services
        .iter()
        .map(|(n, s)| {
            let r = match &s.kind {
                Kind::App(a) => Removed {
                    service: n.to_string(),
                    app: Some(a.app.to_string()),
                    datastore: None,
                },
                Kind::Datastore(d) => Removed {
                    service: n.to_string(),
                    app: None,
                    datastore: Some((d.plugin.to_owned(), d.name.to_string())),
                },
            };
            (n.to_string(), r)
        })
        .collect())
}

fn owned_path(dir: &StackDir) -> PathBuf {
    dir.dir().join("owned.json")
}

/// The stack's ownership record (docs/security.md "Ownership").
fn ownership_path(dir: &StackDir) -> PathBuf {
    dir.dir().join("ownership.json")
}

/// What the stack owns: its record; for a stack applied before records existed, what its
/// services record (`owned.json`) and its latest release's project say it made.
fn mine_owned(
    dir: &StackDir,
    services: &BTreeMap<String, Removed>,
    latest: Option<&Value>,
    convert: &ConvertOptions,
) -> Result<plan::Owned, ApplyError> {
    if let Some(o) = read_json::<Option<plan::Owned>>(&ownership_path(dir)) {
        return Ok(o);
    }
    let mut o = owned_of_services(services.values());
    if let Some(c) = latest {
        let (project, _) = from_compose_json(c, convert).map_err(PlanError::from)?;
        o.extend(&plan::Owned::of(&project));
    }
    Ok(o)
}

fn owned_of_services<'a>(services: impl Iterator<Item = &'a Removed>) -> plan::Owned {
    let mut o = plan::Owned::default();
    for r in services {
        o.apps.extend(r.app.iter().cloned());
        o.datastores
            .extend(r.datastore.iter().map(|(p, n)| format!("{p}:{n}")));
    }
    o
}

/// Every other stack's record (the host-wide index is the set of stack records; the data
/// directory is written only by the plugin).
fn others_owned(dir: &StackDir) -> BTreeMap<String, plan::Owned> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir.data) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == dir.stack || name.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let other = stack_dir(&dir.data, &name);
        let owned = match read_json::<Option<plan::Owned>>(&ownership_path(&other)) {
            Some(o) => o,
            None => owned_of_services(
                read_json::<BTreeMap<String, Removed>>(&owned_path(&other)).values(),
            ),
        };
        if owned != plan::Owned::default() {
            out.insert(name, owned);
        }
    }
    out
}

/// The domains the stack's apps serve once `plan` ran.
fn serving(
    project: &crate::model::Project,
    plan: &Plan,
    host: &state::DokkuState,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for svc in project.services.values() {
        let Kind::App(a) = &svc.kind else { continue };
        let set = plan.steps.iter().find_map(|s| match &s.action {
            Action::SetDomains { app, domains } if app == a.app.as_str() => Some(domains.clone()),
            _ => None,
        });
        out.extend(
            set.or_else(|| host.apps.get(a.app.as_str()).map(|s| s.domains.clone()))
                .unwrap_or_default(),
        );
    }
    out
}

/// Records what the operator's `compose:import-apps` adopts as `stack`'s: apps, datastores
/// (`<plugin>:<service>`), and the storage entries and networks the adopted apps use. Refused
/// when another stack owns one of them.
pub fn adopt(data: &Path, stack: &str, adopted: &plan::Owned) -> Result<(), ApplyError> {
    let dir = stack_dir(data, stack);
    for (other, o) in others_owned(&dir) {
        let taken = adopted
            .apps
            .intersection(&o.apps)
            .chain(adopted.datastores.intersection(&o.datastores))
            .chain(adopted.storage.intersection(&o.storage))
            .chain(adopted.networks.intersection(&o.networks))
            .next();
        if let Some(x) = taken {
            return Err(ApplyError::Io {
                path: x.clone(),
                message: format!("belongs to stack `{other}`; it cannot be adopted by `{stack}`"),
            });
        }
    }
    dir.create()?;
    let mut mine = read_json::<Option<plan::Owned>>(&ownership_path(&dir)).unwrap_or_else(|| {
        owned_of_services(read_json::<BTreeMap<String, Removed>>(&owned_path(&dir)).values())
    });
    mine.extend(adopted);
    write_json(&ownership_path(&dir), &mine)
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

/// The stack directory of `stack` under `data`.
pub fn stack_dir(data: &Path, stack: &str) -> StackDir {
    StackDir {
        data: data.to_path_buf(),
        stack: stack.to_owned(),
    }
}
