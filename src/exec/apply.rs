//! The effects of an apply beside the plan's Dokku commands (issue #5): the stack's
//! directory and host key, finishing the rollback of an apply that was killed, the ownership
//! claims and secret files (journaled), and the stack's records (`owned.json`,
//! `ownership.json`, `summary.json`, `applies.jsonl`). The sequence that uses them is
//! [`crate::workflow`].
//!
//! Per stack, under the data directory (`$DOKKU_LIB_ROOT/data/compose` on a host):
//! `<stack>/lock`, `<stack>/journal.jsonl`, `<stack>/releases` (git), `<stack>/archives`
//! (the build contexts deployed, for rollbacks); the host key is `host.key`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::archive::ArchiveStore;
use super::error::{EffectError, ExecError, UndoFailure};
use super::event::Event;
use super::executor::rollback;
use super::hooks::HookError;
use super::journal::{pending, Journal};
use super::lock::{LockError, StackLock};
use super::releases::{now_rfc3339, ReleaseError, ReleaseInfo};
use super::runner::Runner;
use super::secrets::{HostKey, SecretError};
use crate::model::{from_compose_json, ConvertOptions, Kind};
use crate::plan::{self, Action, Plan, PlanError};
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
    pub(crate) fn dir(&self) -> PathBuf {
        self.data.join(&self.stack)
    }
    /// The lock file.
    pub fn lock(&self) -> PathBuf {
        self.dir().join("lock")
    }
    /// The journal.
    pub(crate) fn journal(&self) -> PathBuf {
        self.dir().join("journal.jsonl")
    }
    /// The release history.
    pub fn releases(&self) -> PathBuf {
        self.dir().join("releases")
    }
    /// Saved build contexts.
    pub(crate) fn archives(&self) -> PathBuf {
        self.dir().join("archives")
    }
    /// The archives a recovery or a teardown sends: the saved ones first (what the
    /// interrupted apply sent), any other packed from the stack's captured source.
    pub(crate) fn saved_archives(&self) -> ArchiveStore {
        ArchiveStore {
            dir: self.archives(),
            source_dir: self.dir().join("source"),
            prefer_saved: true,
            confined: true,
        }
    }
    /// The host key (one per data directory).
    pub fn key(&self) -> PathBuf {
        self.data.join("host.key")
    }

    pub(crate) fn create(&self) -> Result<(), ApplyError> {
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
pub(crate) fn recover(
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
pub(crate) fn recover_stack(
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
    recover(&dir, &key, runner, &dir.saved_archives(), events)
}

/// Makes what the stack's first change needs and a refused apply must not leave behind: the
/// stack directory (0700) and the host key when there was none. (The release history of a
/// new stack is made inside the transaction, with the release record.)
pub(crate) fn materialize(
    dir: &StackDir,
    key: &HostKey,
    key_is_new: bool,
) -> Result<(), ApplyError> {
    dir.create()?;
    if key_is_new {
        key.persist(&dir.key())?;
    }
    Ok(())
}

/// Records `state` as what the host looks like for the stack, and drops the change markers
/// it took into account. Best effort: a record that cannot be written only makes the next
/// push read everything.
pub(crate) fn remember(
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

/// Writes the stack's ownership claims before its first change, a journaled effect whose
/// undo puts the previous record back (or removes it), or writes `kept` (what survives a
/// rollback) when given.
pub(crate) fn claim_ownership(
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
        || crate::platform::write_atomic(path, &text, 0o644).map_err(|e| EffectError::io(path, e)),
    )
}

/// Writes every file-delivered secret to `<dir>/<app>/<secret>` (directories 0700, files
/// 0444), each a journaled effect whose undo puts the previous file back (or removes it, and
/// the directories it created), pushed to `entries`.
pub(crate) fn write_secret_files(
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
                            .map_err(|e| EffectError::io(d, e))
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
                        .map_err(|e| EffectError::io(&path, e))
                },
            )?;
        }
    }
    Ok(())
}

/// A JSON file of the stack's directory; missing or unreadable reads as empty.
pub(crate) fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes a JSON file of the stack's directory atomically.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ApplyError> {
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
pub(crate) struct ApplyRecord {
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
pub(crate) struct Summary {
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
    pub(crate) fn of(project: &crate::model::Project, release: u64, released: &str) -> Self {
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

pub(crate) fn write_summary(
    dir: &StackDir,
    project: &crate::model::Project,
    release: &ReleaseInfo,
) -> Result<(), ApplyError> {
    let summary = Summary::of(project, release.id, &release.time);
    write_json(&dir.dir().join("summary.json"), &summary)
}

/// A stack's summary, if it has been applied.
pub(crate) fn summary(dir: &StackDir) -> Option<Summary> {
    read_json::<Option<Summary>>(&dir.dir().join("summary.json"))
}

pub(crate) fn elapsed_ms(since: std::time::SystemTime) -> u128 {
    since.elapsed().map_or(0, |d| d.as_millis())
}

pub(crate) fn record_apply(dir: &StackDir, record: &ApplyRecord) {
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
pub(crate) fn apply_history(dir: &StackDir, limit: usize) -> Vec<ApplyRecord> {
    let text = std::fs::read_to_string(dir.dir().join("applies.jsonl")).unwrap_or_default();
    let all: Vec<ApplyRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    all[all.len().saturating_sub(limit)..].to_vec()
}

/// The source digests release `id` was planned with (empty when unknown).
pub(crate) fn release_sources(dir: &StackDir, id: u64) -> BTreeMap<String, String> {
    read_json(
        &dir.dir()
            .join("release-sources")
            .join(format!("v{id}.json")),
    )
}

/// A service the stack owns: its app, or its datastore (plugin, name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Removed {
    pub(crate) service: String,
    pub(crate) app: Option<String>,
    pub(crate) datastore: Option<(String, String)>,
}

/// The services of a compose project, as the stack owns them.
pub(crate) fn owned_by(
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

pub(crate) fn owned_path(dir: &StackDir) -> PathBuf {
    dir.dir().join("owned.json")
}

/// The stack's ownership record (docs/security.md "Ownership").
pub(crate) fn ownership_path(dir: &StackDir) -> PathBuf {
    dir.dir().join("ownership.json")
}

/// What the stack owns: its record; for a stack applied before records existed, what its
/// services record (`owned.json`) and its latest release's project say it made.
pub(crate) fn mine_owned(
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
pub(crate) fn others_owned(dir: &StackDir) -> BTreeMap<String, plan::Owned> {
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
pub(crate) fn serving(
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
pub(crate) fn adopt(data: &Path, stack: &str, adopted: &plan::Owned) -> Result<(), ApplyError> {
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

/// The stack directory of `stack` under `data`.
pub fn stack_dir(data: &Path, stack: &str) -> StackDir {
    StackDir {
        data: data.to_path_buf(),
        stack: stack.to_owned(),
    }
}
