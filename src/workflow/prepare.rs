//! The prepare stage of the workflow: the stack's session (its lock, host key and the
//! rollback a killed apply left, for an apply; nothing for a dry run) and then, read-only,
//! everything the planner needs besides the project: the release history, what the stack
//! owns, the planning settings (source digests, secrets, routing, backups) and the host's
//! live state.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

use super::project::Loaded;
use super::ApplyRequest;
use crate::dokku::Cmd;
use crate::exec::apply::{
    mine_owned, others_owned, owned_by, owned_path, read_json, recover, stack_dir, ApplyError,
    Recovered, Removed, StackDir,
};
use crate::exec::archive::ArchiveStore;
use crate::exec::lock::StackLock;
use crate::exec::releases::{now_rfc3339, ReleaseInfo, ReleaseKind, ReleaseStore};
use crate::exec::runner::Runner;
use crate::exec::secrets::HostKey;
use crate::exec::{Event, RunError};
use crate::model::{Kind, Project, Warning};
use crate::plan::{self, PlanSettings};
use crate::state::{self, DokkuState, StateError};

/// The stack an apply works on: its files, lock (none for a dry run), host key and build
/// context store, and the rollback of a killed apply it finished first.
#[derive(Debug)]
pub struct Session {
    /// The stack's files.
    pub dir: StackDir,
    /// `apply` or `rollback to vN`: what the lock, the journal and the records say.
    pub what: String,
    /// The stack lock, held until the session ends.
    _lock: Option<StackLock>,
    /// Whether the host key is new (persisted just before the first change).
    pub key_is_new: bool,
    /// The host key (seals the journal, the history, the known state).
    pub key: HostKey,
    /// Build contexts: packed from the source, or saved ones for a rollback.
    pub archives: ArchiveStore,
    /// An interrupted apply whose rollback this session finished first.
    pub recovered: Option<Recovered>,
}

impl Session {
    /// Opens the stack for `req`. A dry run creates nothing, not even the plugin's own
    /// directories (issue #14). An apply takes the lock (whose file and directory go with it
    /// when it is released) and finishes the rollback of a killed apply; the stack directory,
    /// the host key and the release history are made only just before its first change.
    pub(crate) fn open(
        req: &ApplyRequest,
        runner: &dyn Runner,
        events: &(dyn Fn(&Event) + Sync),
    ) -> Result<Self, ApplyError> {
        let dir = stack_dir(&req.data_dir, &req.convert.stack.to_string());
        let what = match req.kind {
            ReleaseKind::Apply => "apply".to_owned(),
            ReleaseKind::Rollback { to } => format!("rollback to v{to}"),
        };
        let lock = if req.dry_run {
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
        Ok(Session {
            dir,
            what,
            _lock: lock,
            key_is_new,
            key,
            archives,
            recovered,
        })
    }
}

/// The stack's release history, as the session found it.
#[derive(Debug)]
pub struct History {
    /// The store, when the stack has one.
    pub store: Option<ReleaseStore>,
    /// Its latest release.
    pub latest: Option<ReleaseInfo>,
    /// The latest release's project, decrypted once: what the stack owned, and whether the
    /// file changed.
    pub compose: Option<Value>,
}

impl History {
    fn open(session: &Session) -> Result<Self, ApplyError> {
        let dir = &session.dir;
        let store = if dir.releases().join("HEAD").exists() {
            Some(ReleaseStore::open(&dir.releases(), session.key.clone())?)
        } else {
            None
        };
        let latest = match &store {
            Some(s) => s.latest()?,
            None => None,
        };
        let compose = match (&store, &latest) {
            (Some(s), Some(l)) => Some(s.compose(l.id)?),
            _ => None,
        };
        Ok(History {
            store,
            latest,
            compose,
        })
    }
}

/// Everything the planner takes besides the project, read without changing anything.
#[derive(Debug)]
pub struct Prepared {
    /// The release history.
    pub history: History,
    /// The services the file has, as the stack owns them.
    pub(crate) current: BTreeMap<String, Removed>,
    /// Services the stack owns that the file no longer has.
    pub(crate) previous: Vec<Removed>,
    /// What the stack owns and what every other stack owns (docs/security.md).
    pub ownership: plan::Ownership,
    /// Planning settings, completed from the source, the secrets and the stack directory.
    pub settings: PlanSettings,
    /// Where file-delivered secrets are written.
    pub secrets_dir: std::path::PathBuf,
    /// Keyed fingerprints of each datastore's backup settings.
    pub backups_wanted: BTreeMap<String, String>,
    /// The host's live state.
    pub host: DokkuState,
    /// The model's warnings, less those the live state makes moot.
    pub warnings: Vec<Warning>,
    /// Whether this run trusts the stack's known state (a push on the server).
    pub trust: bool,
    /// The change markers the state read took into account.
    pub seen: BTreeMap<String, SystemTime>,
}

/// Reads what the planner needs: history, ownership, settings, live state.
pub(crate) fn prepare(
    req: &ApplyRequest,
    loaded: &Loaded,
    session: &Session,
    runner: &dyn Runner,
) -> Result<Prepared, ApplyError> {
    let dir = &session.dir;
    let history = History::open(session)?;
    // Services the stack owns (every service applied and not pruned since) that the file no
    // longer has: kept and warned about, or pruned with `--prune`.
    let mut owned = read_json::<BTreeMap<String, Removed>>(&owned_path(dir));
    if owned.is_empty() {
        if let Some(c) = &history.compose {
            owned = owned_by(c, &req.convert)?;
        }
    }
    let current = owned_by(&req.compose, &req.convert)?;
    let previous: Vec<Removed> = owned
        .iter()
        .filter(|(n, _)| !current.contains_key(*n))
        .map(|(_, r)| r.clone())
        .collect();
    let project = &loaded.checked.project;
    let secrets_dir = dir.dir().join("secrets");
    let backups_wanted = backup_fingerprints(project, &loaded.secrets, &session.key);
    let settings = settings(req, loaded, session, &secrets_dir, &backups_wanted)?;
    let live = read_live(req, loaded, session, &settings, runner)?;
    // Ownership (docs/security.md): refused before anything changes, and before what the
    // planner says of a service that is not this stack's (its password, its image).
    let ownership = plan::Ownership {
        mine: mine_owned(dir, &owned, history.compose.as_ref(), &req.convert)?,
        others: others_owned(dir),
    };
    Ok(Prepared {
        history,
        current,
        previous,
        ownership,
        settings,
        secrets_dir,
        backups_wanted,
        host: live.host,
        warnings: live.warnings,
        trust: live.trust,
        seen: live.seen,
    })
}

/// The planning settings of `req`: what each build context and copied file holds (so only
/// changed services redeploy), the secrets' values and keyed fingerprints and where their
/// files go, path routing's static trees, and the backups whose settings changed since they
/// were applied.
fn settings(
    req: &ApplyRequest,
    loaded: &Loaded,
    session: &Session,
    secrets_dir: &Path,
    backups_wanted: &BTreeMap<String, String>,
) -> Result<PlanSettings, ApplyError> {
    let project = &loaded.checked.project;
    let dir = &session.dir;
    let mut settings = req.settings.clone();
    for svc in project.services.values() {
        let Kind::App(app) = &svc.kind else { continue };
        for path in PlanSettings::source_paths(app) {
            if let std::collections::btree_map::Entry::Vacant(e) =
                settings.source_digests.entry(path)
            {
                let full = req.source_dir.join(e.key());
                e.insert(digest(&full)?);
            }
        }
    }
    settings.secrets = plan::SecretValues(
        loaded
            .secrets
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.clone()).ok()?)))
            .collect(),
    );
    settings.secret_fingerprints = loaded
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), session.key.fingerprint(v)))
        .collect();
    settings.secrets_dir = Some(secrets_dir.display().to_string());
    routing_settings(project, dir, &req.source_dir, &mut settings)?;
    let backups_applied = read_json::<BTreeMap<String, String>>(&dir.dir().join("backups.json"));
    settings.backups_changed = Some(
        backups_wanted
            .iter()
            .filter(|(n, fp)| backups_applied.get(*n) != Some(*fp))
            .map(|(n, _)| n.clone())
            .collect(),
    );
    Ok(settings)
}

fn digest(full: &Path) -> Result<String, ApplyError> {
    crate::exec::archive::tree_digest(full).map_err(|e| ApplyError::Io {
        path: full.display().to_string(),
        message: e.to_string(),
    })
}

/// The host's state as read for one plan.
struct Live {
    host: DokkuState,
    warnings: Vec<Warning>,
    trust: bool,
    seen: BTreeMap<String, SystemTime>,
}

/// Reads the host's state. A push on the server trusts what the stack's last apply left,
/// except the apps Dokku's triggers recorded as changed since (docs/performance.md); dry runs
/// (`compose:plan`) and applies from elsewhere, which cannot see those triggers, read
/// everything.
fn read_live(
    req: &ApplyRequest,
    loaded: &Loaded,
    session: &Session,
    settings: &PlanSettings,
    runner: &dyn Runner,
) -> Result<Live, ApplyError> {
    let project = &loaded.checked.project;
    let q = reader(req, runner);
    let trust = req.jail.is_some() && !req.dry_run;
    let record = if trust {
        crate::exec::known::load(&session.dir.dir(), &session.key)
    } else {
        None
    };
    let seen = crate::exec::known::changed(
        &req.data_dir,
        project
            .services
            .values()
            .filter_map(|s| s.app())
            .map(|a| a.app.as_str()),
    );
    let changed = crate::exec::known::names(&seen);
    let read = |known: Option<state::Known<'_>>| -> Result<(DokkuState, Vec<Warning>), StateError> {
        let host = state::read_stack(project, &mut |c| q(c), known)?;
        // The model warns that Let's Encrypt needs the host's global e-mail; the host was
        // read, so the planner refuses when it is missing and the warning is moot when set.
        let mut warnings = loaded.checked.warnings.clone();
        if host
            .letsencrypt_global_email
            .as_deref()
            .is_some_and(|e| !e.is_empty())
        {
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
        let graph = &loaded.checked.graph;
        let again = plan::plan(project, graph, &host, settings, warnings.clone())
            .map_or(true, |p| crate::exec::known::needs_host(&p.steps));
        if again {
            (host, warnings) = read(None)?;
        }
    }
    Ok(Live {
        host,
        warnings,
        trust,
        seen,
    })
}

/// The read-only Dokku queries of `req`: through the run-wide cache of host-wide reads when
/// `compose:projects:apply` shares one; a command that fails reads as "nothing".
pub(crate) fn reader<'a>(
    req: &'a ApplyRequest,
    runner: &'a dyn Runner,
) -> impl Fn(&Cmd) -> Result<state::QueryOutput, StateError> + Sync + 'a {
    let q0 = query(runner);
    move |c: &Cmd| match &req.host_wide {
        Some(h) => h.query(c, &q0),
        None => q0(c),
    }
}

/// One read-only query through `runner`: its output, or `None` when the command failed.
pub(crate) fn query(
    runner: &dyn Runner,
) -> impl Fn(&Cmd) -> Result<state::QueryOutput, StateError> + Sync + '_ {
    move |cmd: &Cmd| match runner.run(cmd, None, None) {
        Ok(out) => Ok(Some(out.stdout)),
        Err(RunError::Status { .. }) => Ok(None),
        Err(error) => Err(StateError::Run {
            command: cmd.masked_argv().join(" "),
            error,
        }),
    }
}

/// Path routing (issue 7): static directories are served from `<data>/<stack>/static`, and
/// what they hold is part of the include's digest.
fn routing_settings(
    project: &Project,
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
                let digest =
                    crate::exec::archive::tree_digest(&full).map_err(|e| ApplyError::Io {
                        path: full.display().to_string(),
                        message: e.to_string(),
                    })?;
                settings.source_digests.insert(path.clone(), digest);
            }
        }
    }
    Ok(())
}

/// Keyed fingerprints of each datastore's backup settings, secret values included.
fn backup_fingerprints(
    project: &Project,
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
