//! The release history of a stack: every successful apply is a release, kept as one commit in a
//! bare git repository so that `compose:releases`, `compose:diff` and `compose:rollback` can
//! read what ran and re-apply it.
//!
//! A store lives in a directory (for example `<data>/<stack>/releases`, mode `0700`) and holds
//! one branch, `releases`. Release `vN` is the N-th commit on it, with message
//! `release vN: <message>`, author and committer `dokku-compose <dokku-compose@localhost>` at
//! the release time, and this tree:
//!
//! | file                | content                                                              |
//! |---------------------|----------------------------------------------------------------------|
//! | `compose.json`      | the applied compose project, every secret value sealed ([`HostKey::seal`]) |
//! | `masked.json`       | the same, every secret value replaced by `********`                  |
//! | `fingerprints.json` | key path of every secret -> [`HostKey::fingerprint`] of its value     |
//! | `plan.json`         | the plan that ran, as the caller gave it (already masked)            |
//! | `apps.json`         | app name -> [`AppFacts`]                                             |
//! | `release.json`      | id, stack, time, source revision, message, kind, rollback target     |
//!
//! **Which values are secret.** Every non-null value of `services.<svc>.environment.<KEY>`
//! that [`crate::model::env_is_secret`] calls secret (the classification plans and output
//! use; the release's plain keys, [`NewRelease::plain_keys`], are shown); and every
//! non-null scalar under `services.<svc>.x-dokku` that has, on its path below `x-dokku`, a key
//! containing `password`, `secret`, `token` or `key` (case-insensitive), so
//! `x-dokku.postgres.password` and every value inside `x-dokku.secrets` are secret; and, in a
//! top-level extension block (`x-*`, what YAML anchors copy into services), every environment
//! value, every scalar below a sensitive key, and every scalar whose value is one of the
//! secrets above (the value is what it is, wherever an anchor wrote it). A secret
//! is sealed as its JSON text, so [`ReleaseStore::compose`] gives back exactly the value that
//! was recorded, whatever its JSON type. Key paths join keys with `.` and array indices are
//! written as numbers (`services.web.x-dokku.tokens.0`).
//!
//! Secret plaintext never reaches the repository, an error, a commit message, a listing or a
//! diff: as a safety net, secret values (6 characters or longer) that a caller passes in the
//! message or the plan are replaced by `********` before they are written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use git2::{Commit, ErrorCode, Repository, RepositoryInitOptions, Signature, Time};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::secrets::{HostKey, SecretError};

/// The branch that holds the releases, one commit each.
pub const BRANCH: &str = "refs/heads/releases";

/// What a secret value is replaced with wherever it is shown.
pub const MASK: &str = "********";

/// Name and e-mail of the author and committer of every release commit.
const AUTHOR: (&str, &str) = ("dokku-compose", "dokku-compose@localhost");

/// Words that make a key under `x-dokku` (and everything below it) secret.
const SENSITIVE_WORDS: [&str; 4] = ["password", "secret", "token", "key"];

/// Shortest secret value that is redacted from messages and plans; shorter values would
/// match too much innocent text.
const MIN_REDACT_LEN: usize = 6;

const COMPOSE_FILE: &str = "compose.json";
const MASKED_FILE: &str = "masked.json";
const FINGERPRINTS_FILE: &str = "fingerprints.json";
const PLAN_FILE: &str = "plan.json";
const APPS_FILE: &str = "apps.json";
const RELEASE_FILE: &str = "release.json";

/// Parses a release name as `compose:releases` prints it (`v3`) or as a bare number (`3`):
/// release names round-trip between listing, `diff` and `rollback` (issue #15 item 12).
pub fn parse_release_id(s: &str) -> Result<u64, String> {
    let digits = s
        .strip_prefix('v')
        .or_else(|| s.strip_prefix('V'))
        .unwrap_or(s);
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a release: name one as `compose:releases` lists it (`v3`, or `3`)"
        )),
    }
}

/// Why the release history could not be read or written.
///
/// No variant carries a secret value: paths are key paths, never values.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A git operation on the store failed.
    #[error("release history: {context}")]
    Git {
        /// What was being done.
        context: String,
        /// The libgit2 error.
        #[source]
        source: git2::Error,
    },
    /// Creating the store directory failed.
    #[error("release history `{}`", path.display())]
    Io {
        /// The store directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The host key could not be used.
    #[error("release history: host key")]
    Secret(#[from] SecretError),
    /// A sealed value of a release could not be opened (wrong host key, or tampered with).
    #[error("release v{id}: cannot open the sealed value of `{path}`")]
    Sealed {
        /// The release.
        id: u64,
        /// Key path of the value, such as `services.web.environment.DATABASE_URL`.
        path: String,
        /// Why it could not be opened.
        #[source]
        source: SecretError,
    },
    /// A JSON document could not be written or read back.
    #[error("release history: {context}")]
    Json {
        /// Which document.
        context: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// No release has this id.
    #[error("unknown release v{id} ({})", latest_hint(*.latest))]
    Unknown {
        /// The id asked for.
        id: u64,
        /// The newest release, if there is any.
        latest: Option<u64>,
    },
    /// A release commit does not have the expected layout.
    #[error("release v{id} is corrupt: {reason}")]
    Corrupt {
        /// The release.
        id: u64,
        /// What is wrong.
        reason: String,
    },
    /// The release time is not an RFC 3339 timestamp.
    #[error("release time `{time}` is not an RFC 3339 timestamp such as `2025-01-31T12:00:00Z`")]
    InvalidTime {
        /// The time given.
        time: String,
    },
}

/// The parenthesised hint of [`ReleaseError::Unknown`].
fn latest_hint(latest: Option<u64>) -> String {
    match latest {
        Some(n) => format!("the latest is v{n}"),
        None => "there are no releases yet".to_owned(),
    }
}

/// Facts about one Dokku app of a release, given by the caller and stored in `apps.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppFacts {
    /// Digest of the build context (or of the image reference) that was deployed.
    pub digest: String,
    /// Keyed fingerprint of the app's config (never the config itself).
    pub config_fingerprint: String,
    /// Process type -> number of processes.
    pub scale: BTreeMap<String, u32>,
    /// The image deployed, when the app runs a prebuilt image.
    pub image: Option<String>,
}

/// Why a release was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseKind {
    /// An ordinary apply of the compose file.
    Apply,
    /// A rollback that re-applied release `to`.
    Rollback {
        /// The release that was re-applied.
        to: u64,
    },
}

impl ReleaseKind {
    /// `"apply"` or `"rollback"`, as stored in `release.json` and shown in listings.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Apply => "apply",
            ReleaseKind::Rollback { .. } => "rollback",
        }
    }
}

/// Everything [`ReleaseStore::record`] needs to write a release.
#[derive(Debug, Clone, Copy)]
pub struct NewRelease<'a> {
    /// The stack name.
    pub stack: &'a str,
    /// The normalised compose project JSON that was applied, secrets in clear.
    pub compose: &'a Value,
    /// Environment keys whose values are not secret and are stored in clear.
    pub plain_keys: &'a BTreeSet<String>,
    /// The plan that ran, already masked by the caller; stored as given.
    pub plan: &'a Value,
    /// App name -> facts about the deployed app.
    pub apps: &'a BTreeMap<String, AppFacts>,
    /// The source revision (for example the pushed commit) the compose file came from.
    pub source_rev: &'a str,
    /// A one-line description; the commit message is `release v<N>: <message>`.
    pub message: &'a str,
    /// Apply or rollback.
    pub kind: ReleaseKind,
    /// The release time, RFC 3339 (see [`now_rfc3339`]).
    pub time: &'a str,
}

/// One release as listed: no compose content, no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseInfo {
    /// 1, 2, 3, … in order of recording.
    pub id: u64,
    /// RFC 3339 time of the release.
    pub time: String,
    /// `"apply"` or `"rollback"`.
    pub kind: String,
    /// The source revision the compose file came from.
    pub source_rev: String,
    /// The message given when recording.
    pub message: String,
    /// Number of services in the applied compose project.
    pub services: usize,
    /// The commit id of the release in the store.
    pub commit: String,
}

/// The content of `release.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReleaseRecord {
    id: u64,
    stack: String,
    time: String,
    source_rev: String,
    message: String,
    kind: String,
    rolled_back_to: Option<u64>,
}

/// The release history of one stack: a bare git repository with one commit per release.
pub struct ReleaseStore {
    dir: PathBuf,
    repo: Repository,
    key: HostKey,
}

impl std::fmt::Debug for ReleaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Puts the history in `dir` back to `head` (`None`: no release): the undo of recording a
/// release whose apply was rolled back (issue #14). Idempotent.
///
/// # Errors
///
/// [`ReleaseError::Git`] when the repository or its branch cannot be written.
pub fn reset_history(dir: &Path, head: Option<&str>) -> Result<(), ReleaseError> {
    let repo = Repository::open_bare(dir).map_err(git(format!(
        "cannot open the repository `{}`",
        dir.display()
    )))?;
    let current = repo
        .find_reference(BRANCH)
        .ok()
        .and_then(|r| r.target())
        .map(|o| o.to_string());
    // Already there (the release was never written): nothing to write, even on a read-only store.
    if current.as_deref() == head {
        return Ok(());
    }
    match head {
        Some(h) => {
            let oid = git2::Oid::from_str(h).map_err(git(format!("`{h}` is not a commit id")))?;
            repo.reference(BRANCH, oid, true, "undo of a rolled-back apply")
                .map_err(git("cannot reset the `releases` branch"))?;
        }
        None => match repo.find_reference(BRANCH) {
            Ok(mut r) => r
                .delete()
                .map_err(git("cannot remove the `releases` branch"))?,
            Err(e) if e.code() == ErrorCode::NotFound => {}
            Err(e) => {
                return Err(ReleaseError::Git {
                    context: "cannot read the `releases` branch".to_owned(),
                    source: e,
                })
            }
        },
    }
    Ok(())
}

impl ReleaseStore {
    /// Opens the store in `dir`, creating the directory (mode `0700`) and an empty bare
    /// repository when there is none. `key` seals and opens the secrets.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Io`] when the directory cannot be created, [`ReleaseError::Git`] when
    /// the repository cannot be opened or created.
    pub fn open(dir: &Path, key: HostKey) -> Result<Self, ReleaseError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| ReleaseError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        let repo = if dir.join("HEAD").exists() {
            Repository::open_bare(dir).map_err(git(format!(
                "cannot open the repository `{}`",
                dir.display()
            )))?
        } else {
            let mut opts = RepositoryInitOptions::new();
            opts.bare(true).mkdir(false).initial_head("releases");
            Repository::init_opts(dir, &opts).map_err(git(format!(
                "cannot create a repository in `{}`",
                dir.display()
            )))?
        };
        Ok(ReleaseStore {
            dir: dir.to_path_buf(),
            repo,
            key,
        })
    }

    /// The store directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The commit the history's branch points at (`None`: no release yet): what
    /// [`reset_history`] puts back when the apply that records the next release is undone.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Git`] when the branch cannot be read.
    pub fn head(&self) -> Result<Option<String>, ReleaseError> {
        Ok(self.tip()?.map(|c| c.id().to_string()))
    }

    /// Records a release: the next id, one commit on the `releases` branch.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::InvalidTime`] when `r.time` is not RFC 3339, [`ReleaseError::Git`] when
    /// the commit cannot be written (also when another process recorded a release at the same
    /// time; callers hold the stack lock), and the read errors of the current latest release.
    pub fn record(&self, r: &NewRelease<'_>) -> Result<ReleaseInfo, ReleaseError> {
        let (epoch, offset_minutes) =
            parse_rfc3339(r.time).ok_or_else(|| ReleaseError::InvalidTime {
                time: r.time.to_owned(),
            })?;
        let parent = self.tip()?;
        let id = match &parent {
            Some(c) => self.record_of(c, None)?.id + 1,
            None => 1,
        };

        // The model's one classification (docs/mapping.md "Secrets and masking").
        let env_is_secret = |k: &str, v: &Value| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            crate::model::env_is_secret(k, &text, r.plain_keys)
        };
        let mut sealed = r.compose.clone();
        let mut fingerprints = BTreeMap::new();
        let mut plaintexts = Vec::new();
        for_each_secret(&mut sealed, &env_is_secret, &mut |path, v| {
            let text = serde_json::to_vec(v).map_err(json(format!("cannot encode `{path}`")))?;
            fingerprints.insert(path, self.key.fingerprint(&text));
            if let Value::String(s) = v {
                plaintexts.push(s.clone());
            }
            *v = Value::String(self.key.seal(&text));
            Ok(())
        })?;
        let mut masked = r.compose.clone();
        for_each_secret(&mut masked, &env_is_secret, &mut |_, v| {
            *v = Value::String(MASK.to_owned());
            Ok(())
        })?;
        // Longest first, so a secret that contains another is redacted whole.
        plaintexts.retain(|s| s.len() >= MIN_REDACT_LEN);
        plaintexts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        plaintexts.dedup();
        let mut plan = r.plan.clone();
        redact_value(&mut plan, &plaintexts);

        let record = ReleaseRecord {
            id,
            stack: r.stack.to_owned(),
            time: r.time.to_owned(),
            source_rev: redact(r.source_rev, &plaintexts),
            message: redact(r.message, &plaintexts),
            kind: r.kind.as_str().to_owned(),
            rolled_back_to: match r.kind {
                ReleaseKind::Apply => None,
                ReleaseKind::Rollback { to } => Some(to),
            },
        };

        let files: [(&str, Vec<u8>); 6] = [
            (APPS_FILE, to_json(r.apps, APPS_FILE)?),
            (COMPOSE_FILE, to_json(&sealed, COMPOSE_FILE)?),
            (
                FINGERPRINTS_FILE,
                to_json(&fingerprints, FINGERPRINTS_FILE)?,
            ),
            (MASKED_FILE, to_json(&masked, MASKED_FILE)?),
            (PLAN_FILE, to_json(&plan, PLAN_FILE)?),
            (RELEASE_FILE, to_json(&record, RELEASE_FILE)?),
        ];
        let mut builder = self
            .repo
            .treebuilder(None)
            .map_err(git("cannot start a tree"))?;
        for (name, bytes) in &files {
            let oid = self
                .repo
                .blob(bytes)
                .map_err(git(format!("cannot write `{name}`")))?;
            builder
                .insert(name, oid, 0o100_644)
                .map_err(git(format!("cannot add `{name}` to the tree")))?;
        }
        let tree_id = builder.write().map_err(git("cannot write the tree"))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(git("cannot read back the tree"))?;
        let sig = Signature::new(AUTHOR.0, AUTHOR.1, &Time::new(epoch, offset_minutes))
            .map_err(git("cannot make the commit signature"))?;
        let message = format!("release v{id}: {}", record.message);
        let parents: Vec<&Commit<'_>> = parent.iter().collect();
        let commit_id = self
            .repo
            .commit(Some(BRANCH), &sig, &sig, &message, &tree, &parents)
            .map_err(git(format!("cannot commit release v{id}")))?;
        Ok(ReleaseInfo {
            id,
            time: record.time,
            kind: record.kind,
            source_rev: record.source_rev,
            message: record.message,
            services: count_services(&masked),
            commit: commit_id.to_string(),
        })
    }

    /// Every release, newest first.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Git`], [`ReleaseError::Json`] or [`ReleaseError::Corrupt`] when the
    /// history cannot be read or its ids are not consecutive.
    pub fn list(&self) -> Result<Vec<ReleaseInfo>, ReleaseError> {
        let mut out = Vec::new();
        let mut next = self.tip()?;
        while let Some(commit) = next {
            let info = self.info_of(
                &commit,
                out.last().map(|i: &ReleaseInfo| i.id.saturating_sub(1)),
            )?;
            next = first_parent(&commit, info.id)?;
            out.push(info);
        }
        if let Some(last) = out.last() {
            if last.id != 1 {
                return Err(ReleaseError::Corrupt {
                    id: last.id,
                    reason: "the first commit of the history is not release v1".to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// The newest release, if there is any.
    ///
    /// # Errors
    ///
    /// As for [`ReleaseStore::list`].
    pub fn latest(&self) -> Result<Option<ReleaseInfo>, ReleaseError> {
        self.tip()?.map(|c| self.info_of(&c, None)).transpose()
    }

    /// Release `id`.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Unknown`] when there is no such release, and the read errors of
    /// [`ReleaseStore::list`].
    pub fn info(&self, id: u64) -> Result<ReleaseInfo, ReleaseError> {
        let commit = self.release_commit(id)?;
        self.info_of(&commit, Some(id))
    }

    /// The compose project applied by release `id`, with its secrets opened: exactly the value
    /// that was recorded, for a rollback to re-apply.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Sealed`] when a secret cannot be opened (another host key, or tampered
    /// with), [`ReleaseError::Corrupt`] when the sealed values and the fingerprints disagree,
    /// and the errors of [`ReleaseStore::info`].
    pub fn compose(&self, id: u64) -> Result<Value, ReleaseError> {
        let commit = self.release_commit(id)?;
        let mut compose: Value = self.read_json(&commit, id, COMPOSE_FILE)?;
        let fingerprints: BTreeMap<String, String> =
            self.read_json(&commit, id, FINGERPRINTS_FILE)?;
        let mut opened = 0usize;
        // Every fingerprinted path is opened, whatever classified it when it was recorded.
        walk_scalars(&mut compose, "", &mut |path, v| {
            let Some(expected) = fingerprints.get(path) else {
                return Ok(());
            };
            let path = path.to_owned();
            let Value::String(sealed) = v else {
                return Err(ReleaseError::Corrupt {
                    id,
                    reason: format!("the value of `{path}` is not a sealed string"),
                });
            };
            let text = self
                .key
                .open(sealed)
                .map_err(|source| ReleaseError::Sealed {
                    id,
                    path: path.clone(),
                    source,
                })?;
            if self.key.fingerprint(&text) != *expected {
                return Err(ReleaseError::Corrupt {
                    id,
                    reason: format!("the value of `{path}` does not match its fingerprint"),
                });
            }
            *v = serde_json::from_slice(&text).map_err(|_| ReleaseError::Corrupt {
                id,
                reason: format!("the sealed value of `{path}` is not JSON"),
            })?;
            opened += 1;
            Ok(())
        })?;
        if opened != fingerprints.len() {
            return Err(ReleaseError::Corrupt {
                id,
                reason: format!(
                    "{} fingerprinted secrets but {opened} sealed values",
                    fingerprints.len()
                ),
            });
        }
        Ok(compose)
    }

    /// The compose project of release `id` with secrets shown as `********`.
    ///
    /// # Errors
    ///
    /// As for [`ReleaseStore::info`].
    pub fn masked_compose(&self, id: u64) -> Result<Value, ReleaseError> {
        let commit = self.release_commit(id)?;
        self.read_json(&commit, id, MASKED_FILE)
    }

    /// The per-app facts of release `id`.
    ///
    /// # Errors
    ///
    /// As for [`ReleaseStore::info`].
    pub fn apps(&self, id: u64) -> Result<BTreeMap<String, AppFacts>, ReleaseError> {
        let commit = self.release_commit(id)?;
        self.read_json(&commit, id, APPS_FILE)
    }

    /// The plan that release `id` ran.
    ///
    /// # Errors
    ///
    /// As for [`ReleaseStore::info`].
    pub fn plan(&self, id: u64) -> Result<Value, ReleaseError> {
        let commit = self.release_commit(id)?;
        self.read_json(&commit, id, PLAN_FILE)
    }

    /// The release that release `id` rolled back to, if it was a rollback.
    ///
    /// # Errors
    ///
    /// As for [`ReleaseStore::info`].
    pub fn rolled_back_to(&self, id: u64) -> Result<Option<u64>, ReleaseError> {
        let commit = self.release_commit(id)?;
        Ok(self.record_of(&commit, Some(id))?.rolled_back_to)
    }

    /// A readable diff from release `from` to release `to`, one line per change, each ending
    /// in a newline; the empty string when they are equal.
    ///
    /// Compose lines come first, sorted by key path, from the masked projects:
    /// `+ services.web.image: nginx:1.27` (added leaf), `- services.old: {…}` (removed
    /// subtree: path only), `~ services.web.image: nginx:1.26 -> nginx:1.27`, and
    /// `~ services.web.environment.DB_PASSWORD: secret changed` when a secret's fingerprint
    /// changed. Then app lines, sorted by app name: `+ app <name>`, `- app <name>`, and
    /// `~ app <name>: build context changed` / `config changed` / `scale web=1 -> web=2` /
    /// `image a -> b`.
    ///
    /// # Errors
    ///
    /// As for [`ReleaseStore::info`], for either release.
    pub fn diff(&self, from: u64, to: u64) -> Result<String, ReleaseError> {
        let a = self.release_commit(from)?;
        let b = self.release_commit(to)?;
        let a_masked: Value = self.read_json(&a, from, MASKED_FILE)?;
        let b_masked: Value = self.read_json(&b, to, MASKED_FILE)?;
        let a_fp: BTreeMap<String, String> = self.read_json(&a, from, FINGERPRINTS_FILE)?;
        let b_fp: BTreeMap<String, String> = self.read_json(&b, to, FINGERPRINTS_FILE)?;
        let mut lines = Vec::new();
        diff_values(
            &mut Vec::new(),
            &a_masked,
            &b_masked,
            (&a_fp, &b_fp),
            &mut lines,
        );
        lines.sort();
        let mut out = String::new();
        for (_, line) in lines {
            out.push_str(&line);
            out.push('\n');
        }

        let a_apps: BTreeMap<String, AppFacts> = self.read_json(&a, from, APPS_FILE)?;
        let b_apps: BTreeMap<String, AppFacts> = self.read_json(&b, to, APPS_FILE)?;
        let names: BTreeSet<&String> = a_apps.keys().chain(b_apps.keys()).collect();
        for name in names {
            match (a_apps.get(name), b_apps.get(name)) {
                (Some(x), Some(y)) => diff_app(name, x, y, &mut out),
                (None, Some(_)) => {
                    let _ = writeln!(out, "+ app {name}");
                }
                (Some(_), None) => {
                    let _ = writeln!(out, "- app {name}");
                }
                (None, None) => {}
            }
        }
        Ok(out)
    }

    /// The newest release commit, if any.
    fn tip(&self) -> Result<Option<Commit<'_>>, ReleaseError> {
        match self.repo.find_reference(BRANCH) {
            Ok(r) => r
                .peel_to_commit()
                .map(Some)
                .map_err(git("cannot read the latest release")),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(ReleaseError::Git {
                context: "cannot read the `releases` branch".to_owned(),
                source: e,
            }),
        }
    }

    /// The commit of release `id`.
    fn release_commit(&self, id: u64) -> Result<Commit<'_>, ReleaseError> {
        let Some(mut commit) = self.tip()? else {
            return Err(ReleaseError::Unknown { id, latest: None });
        };
        let latest = self.record_of(&commit, None)?.id;
        if id == 0 || id > latest {
            return Err(ReleaseError::Unknown {
                id,
                latest: Some(latest),
            });
        }
        let mut at = latest;
        while at > id {
            commit = first_parent(&commit, at)?.ok_or_else(|| ReleaseError::Corrupt {
                id: at,
                reason: "the history ends before release v1".to_owned(),
            })?;
            at -= 1;
        }
        self.record_of(&commit, Some(id))?;
        Ok(commit)
    }

    /// The listing entry of a release commit; `expect` is the id it must have, if known.
    fn info_of(&self, c: &Commit<'_>, expect: Option<u64>) -> Result<ReleaseInfo, ReleaseError> {
        let record = self.record_of(c, expect)?;
        let masked: Value = self.read_json(c, record.id, MASKED_FILE)?;
        Ok(ReleaseInfo {
            id: record.id,
            time: record.time,
            kind: record.kind,
            source_rev: record.source_rev,
            message: record.message,
            services: count_services(&masked),
            commit: c.id().to_string(),
        })
    }

    /// `release.json` of a commit, checked against the expected id, if known.
    fn record_of(
        &self,
        c: &Commit<'_>,
        expect: Option<u64>,
    ) -> Result<ReleaseRecord, ReleaseError> {
        let record: ReleaseRecord = self.read_json(c, expect.unwrap_or(0), RELEASE_FILE)?;
        if let Some(id) = expect {
            if record.id != id {
                return Err(ReleaseError::Corrupt {
                    id,
                    reason: format!("commit {} is labelled v{}", c.id(), record.id),
                });
            }
        }
        Ok(record)
    }

    /// Reads and parses one file of a release commit. `id` 0 means "not known yet".
    fn read_json<T: DeserializeOwned>(
        &self,
        c: &Commit<'_>,
        id: u64,
        name: &str,
    ) -> Result<T, ReleaseError> {
        let what = if id == 0 {
            format!("commit {}", c.id())
        } else {
            format!("release v{id}")
        };
        let tree = c
            .tree()
            .map_err(git(format!("cannot read the tree of {what}")))?;
        let entry = tree.get_name(name).ok_or_else(|| ReleaseError::Corrupt {
            id,
            reason: format!("{what} has no `{name}`"),
        })?;
        let blob = entry
            .to_object(&self.repo)
            .and_then(|o| o.peel_to_blob())
            .map_err(git(format!("cannot read `{name}` of {what}")))?;
        serde_json::from_slice(blob.content()).map_err(json(format!("`{name}` of {what}")))
    }
}

/// The first parent of release commit `id`, if any.
fn first_parent<'r>(c: &Commit<'r>, id: u64) -> Result<Option<Commit<'r>>, ReleaseError> {
    if c.parent_count() == 0 {
        return Ok(None);
    }
    c.parent(0)
        .map(Some)
        .map_err(git(format!("cannot read the release before v{id}")))
}

/// Maps a git error to [`ReleaseError::Git`] with `context`.
fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> ReleaseError {
    let context = context.into();
    move |source| ReleaseError::Git { context, source }
}

/// Maps a serde error to [`ReleaseError::Json`] with `context`.
fn json(context: impl Into<String>) -> impl FnOnce(serde_json::Error) -> ReleaseError {
    let context = context.into();
    move |source| ReleaseError::Json { context, source }
}

/// Pretty JSON with a final newline: stable, readable with `git show`.
fn to_json<T: Serialize + ?Sized>(value: &T, name: &str) -> Result<Vec<u8>, ReleaseError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(json(format!("cannot encode `{name}`")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Number of services of a compose project.
fn count_services(compose: &Value) -> usize {
    compose
        .get("services")
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

/// Whether a key under `x-dokku` marks its value as secret.
fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE_WORDS.iter().any(|w| key.contains(w))
}

/// Calls `f` with the key path and the value of every secret of a compose project (see the
/// module documentation); `env_is_secret` says which environment keys are secret.
///
/// This is the project's one secret classification ([`mask_secrets`] is the same rule): by
/// position (`services.<svc>.environment.<KEY>`, sensitive keys under `x-dokku`), and by
/// value: a scalar of a top-level extension block (`x-*`) is secret when it is an
/// environment value or under a sensitive key there, or when its value is the value of a
/// secret found by position. An extension block exists to be referenced (a YAML anchor
/// copies its values into services), so what it holds is what it becomes: the value of
/// `x-app.environment.SECRET_KEY`, reached through `<<: *app`, is the secret it is in the
/// service.
fn for_each_secret(
    compose: &mut Value,
    env_is_secret: &dyn Fn(&str, &Value) -> bool,
    f: &mut dyn FnMut(String, &mut Value) -> Result<(), ReleaseError>,
) -> Result<(), ReleaseError> {
    let paths = secret_paths(compose, env_is_secret);
    walk_scalars(compose, "", &mut |path, v| {
        if paths.contains(path) {
            f(path.to_owned(), v)
        } else {
            Ok(())
        }
    })
}

/// The key paths of every secret of `compose` (see [`for_each_secret`]).
fn secret_paths(compose: &Value, env_is_secret: &dyn Fn(&str, &Value) -> bool) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut values: BTreeSet<String> = BTreeSet::new();
    let mut note = |paths: &mut BTreeSet<String>, path: String, v: &Value| {
        values.insert(v.to_string());
        paths.insert(path);
    };
    if let Some(services) = compose.get("services").and_then(Value::as_object) {
        for (svc, service) in services {
            if let Some(env) = service.get("environment").and_then(Value::as_object) {
                for (k, v) in env {
                    if !v.is_null() && env_is_secret(k, v) {
                        note(&mut paths, format!("services.{svc}.environment.{k}"), v);
                    }
                }
            }
            if let Some(x) = service.get("x-dokku") {
                let mut x = x.clone();
                let _ = walk_x_dokku(
                    &mut x,
                    &format!("services.{svc}.x-dokku"),
                    false,
                    &mut |p, v| {
                        note(&mut paths, p, v);
                        Ok(())
                    },
                );
            }
        }
    }
    let Some(top) = compose.as_object() else {
        return paths;
    };
    for (key, block) in top.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut block = block.clone();
        let _ = walk_extension(&mut block, key, false, false, env_is_secret, &mut |p, v| {
            note(&mut paths, p, v);
            Ok(())
        });
    }
    for (key, block) in top.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut block = block.clone();
        let _ = walk_scalars(&mut block, key, &mut |p, v| {
            if values.contains(&v.to_string()) {
                paths.insert(p.to_owned());
            }
            Ok(())
        });
    }
    paths
}

/// Every non-null scalar of `v` with its key path (`prefix.key.0`).
fn walk_scalars(
    v: &mut Value,
    path: &str,
    f: &mut dyn FnMut(&str, &mut Value) -> Result<(), ReleaseError>,
) -> Result<(), ReleaseError> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                walk_scalars(child, &join(k), f)?;
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk_scalars(child, &join(&i.to_string()), f)?;
            }
        }
        Value::Null => {}
        Value::Bool(_) | Value::Number(_) | Value::String(_) => f(path, v)?,
    }
    Ok(())
}

/// An extension block's scalars that are secret where they are: values of an `environment`
/// map (unless plain) and everything below a sensitive key.
fn walk_extension(
    v: &mut Value,
    path: &str,
    sensitive: bool,
    in_env: bool,
    env_is_secret: &dyn Fn(&str, &Value) -> bool,
    f: &mut dyn FnMut(String, &mut Value) -> Result<(), ReleaseError>,
) -> Result<(), ReleaseError> {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                let secret_env = in_env && !child.is_null() && env_is_secret(k, child);
                walk_extension(
                    child,
                    &format!("{path}.{k}"),
                    sensitive || secret_env || is_sensitive_key(k),
                    k == "environment",
                    env_is_secret,
                    f,
                )?;
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk_extension(
                    child,
                    &format!("{path}.{i}"),
                    sensitive,
                    false,
                    env_is_secret,
                    f,
                )?;
            }
        }
        Value::Null => {}
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            if sensitive {
                f(path.to_owned(), v)?;
            }
        }
    }
    Ok(())
}

/// `compose` with every secret (the one classification, [`for_each_secret`]) replaced by
/// [`MASK`]; keys in `plain_keys` are not secret. What `compose:config` prints.
pub fn mask_secrets(compose: &Value, plain_keys: &BTreeSet<String>) -> Value {
    let mut masked = compose.clone();
    let env_is_secret = |k: &str, v: &Value| {
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        crate::model::env_is_secret(k, &text, plain_keys)
    };
    let _ = for_each_secret(&mut masked, &env_is_secret, &mut |_, v| {
        *v = Value::String(MASK.to_owned());
        Ok(())
    });
    masked
}

/// The `x-dokku` part of [`for_each_secret`]: scalars below a sensitive key are secret.
fn walk_x_dokku(
    v: &mut Value,
    path: &str,
    sensitive: bool,
    f: &mut dyn FnMut(String, &mut Value) -> Result<(), ReleaseError>,
) -> Result<(), ReleaseError> {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                walk_x_dokku(
                    child,
                    &format!("{path}.{k}"),
                    sensitive || is_sensitive_key(k),
                    f,
                )?;
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk_x_dokku(child, &format!("{path}.{i}"), sensitive, f)?;
            }
        }
        Value::Null => {}
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            if sensitive {
                f(path.to_owned(), v)?;
            }
        }
    }
    Ok(())
}

/// `text` with every occurrence of each secret (longest first) replaced by [`MASK`].
fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// [`redact`] applied to every string (keys included) of a JSON value.
fn redact_value(v: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    match v {
        Value::String(s) => *s = redact(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, secrets)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut child) in old {
                redact_value(&mut child, secrets);
                map.insert(redact(&k, secrets), child);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A one-line rendering of a masked value for a diff.
fn summary(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && !s.chars().any(char::is_control) => s.clone(),
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        Value::Object(_) => "{…}".to_owned(),
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            "[…]".to_owned()
        }
        other => other.to_string(),
    }
}

/// One diff line, sorted by its key path.
type DiffLine = (Vec<String>, String);

/// Adds the diff lines from `a` to `b` at `path` (masked values; `fps` are the fingerprints
/// of the secrets on either side).
fn diff_values(
    path: &mut Vec<String>,
    a: &Value,
    b: &Value,
    fps: (&BTreeMap<String, String>, &BTreeMap<String, String>),
    out: &mut Vec<DiffLine>,
) {
    let shown = path.join(".");
    if let (Some(x), Some(y)) = (fps.0.get(&shown), fps.1.get(&shown)) {
        if x != y {
            out.push((path.clone(), format!("~ {shown}: secret changed")));
        }
        return;
    }
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for k in keys {
                path.push(k.clone());
                match (ma.get(k), mb.get(k)) {
                    (Some(x), Some(y)) => diff_values(path, x, y, fps, out),
                    (Some(x), None) => {
                        out.push((
                            path.clone(),
                            format!("- {}: {}", path.join("."), summary(x)),
                        ));
                    }
                    (None, Some(y)) => added(path, y, out),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        (Value::Array(xa), Value::Array(xb)) if xa.len() == xb.len() => {
            for (i, (x, y)) in xa.iter().zip(xb).enumerate() {
                path.push(i.to_string());
                diff_values(path, x, y, fps, out);
                path.pop();
            }
        }
        _ if a == b => {}
        _ => out.push((
            path.clone(),
            format!("~ {shown}: {} -> {}", summary(a), summary(b)),
        )),
    }
}

/// The `+` lines of a value added at `path`: one per leaf of an added object.
fn added(path: &mut Vec<String>, v: &Value, out: &mut Vec<DiffLine>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(k.clone());
                added(path, child, out);
                path.pop();
            }
        }
        _ => out.push((
            path.clone(),
            format!("+ {}: {}", path.join("."), summary(v)),
        )),
    }
}

/// The `~ app` lines of one app present in both releases.
fn diff_app(name: &str, a: &AppFacts, b: &AppFacts, out: &mut String) {
    if a.digest != b.digest {
        let _ = writeln!(out, "~ app {name}: build context changed");
    }
    if a.config_fingerprint != b.config_fingerprint {
        let _ = writeln!(out, "~ app {name}: config changed");
    }
    if a.scale != b.scale {
        let show = |s: &BTreeMap<String, u32>| {
            if s.is_empty() {
                "(none)".to_owned()
            } else {
                s.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let _ = writeln!(
            out,
            "~ app {name}: scale {} -> {}",
            show(&a.scale),
            show(&b.scale)
        );
    }
    if a.image != b.image {
        let show = |i: &Option<String>| i.clone().unwrap_or_else(|| "(none)".to_owned());
        let _ = writeln!(
            out,
            "~ app {name}: image {} -> {}",
            show(&a.image),
            show(&b.image)
        );
    }
}

/// The current time as RFC 3339 UTC with second precision, such as `2025-01-31T12:00:00Z`.
#[must_use]
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    format_rfc3339(secs)
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC.
fn format_rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) into seconds since
/// the Unix epoch and the offset in minutes; `None` when it is not one.
fn parse_rfc3339(text: &str) -> Option<(i64, i32)> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp(), i32::from(t.offset().whole_minutes())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn release_names_round_trip_as_listed() {
        assert_eq!(super::parse_release_id("v1"), Ok(1));
        assert_eq!(super::parse_release_id("12"), Ok(12));
        assert_eq!(super::parse_release_id("V3"), Ok(3));
        for bad in ["v", "v0", "0", "-1", "v+1", "+1", "v1.2", "latest", ""] {
            let e = super::parse_release_id(bad).unwrap_err();
            assert!(
                e.contains("is not a release") && e.contains("`v3`"),
                "{bad}: {e}"
            );
        }
    }

    use super::*;
    use serde_json::json;

    const DB_PASSWORD: &str = "hunter2-correct-horse";
    const NEW_DB_PASSWORD: &str = "battery-staple-9f8e7d";
    const PG_PASSWORD: &str = "pg-s3cret-pa55word";
    const API_TOKEN: &str = "tok_abcdef123456";

    fn key() -> HostKey {
        HostKey::from_bytes([42; 32])
    }

    fn compose_v1() -> Value {
        json!({
            "name": "shop",
            "services": {
                "web": {
                    "image": "nginx:1.26",
                    "ports": ["80:80"],
                    "environment": {
                        "DB_PASSWORD": DB_PASSWORD,
                        "LOG_LEVEL": "info-level-plain",
                        "FROM_HOST": null,
                        "TOKEN_TTL": 4
                    },
                    "x-dokku": {
                        "domains": ["shop.example.com"],
                        "postgres": { "password": PG_PASSWORD, "version": "16" },
                        "secrets": { "API": API_TOKEN }
                    }
                },
                "db": { "image": "postgres:16" }
            }
        })
    }

    fn compose_v2() -> Value {
        let mut c = compose_v1();
        let web = &mut c["services"]["web"];
        web["image"] = json!("nginx:1.27");
        web["environment"]["DB_PASSWORD"] = json!(NEW_DB_PASSWORD);
        let services = c["services"].as_object_mut().unwrap();
        services.remove("db");
        services.insert("cache".into(), json!({ "image": "redis:7" }));
        c
    }

    fn plain() -> BTreeSet<String> {
        ["LOG_LEVEL".to_owned()].into()
    }

    fn apps(digest: &str) -> BTreeMap<String, AppFacts> {
        let mut m = BTreeMap::new();
        m.insert(
            "shop-web".to_owned(),
            AppFacts {
                digest: digest.to_owned(),
                config_fingerprint: "cfg1".to_owned(),
                scale: [("web".to_owned(), 1)].into(),
                image: Some("nginx:1.26".to_owned()),
            },
        );
        m
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
        store: ReleaseStore,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shop/releases");
        let store = ReleaseStore::open(&dir, key()).unwrap();
        Fixture {
            _tmp: tmp,
            dir,
            store,
        }
    }

    fn record(
        store: &ReleaseStore,
        compose: &Value,
        apps: &BTreeMap<String, AppFacts>,
        message: &str,
        kind: ReleaseKind,
        time: &str,
    ) -> ReleaseInfo {
        let plain_keys = plain();
        let steps = json!({ "steps": [{ "id": "web/config", "run": "dokku config:set shop-web DB_PASSWORD=********" }] });
        store
            .record(&NewRelease {
                stack: "shop",
                compose,
                plain_keys: &plain_keys,
                plan: &steps,
                apps,
                source_rev: "abc123",
                message,
                kind,
                time,
            })
            .unwrap()
    }

    /// Every file of a release commit, by name.
    fn committed_files(store: &ReleaseStore, id: u64) -> BTreeMap<String, String> {
        let commit = store.release_commit(id).unwrap();
        let tree = commit.tree().unwrap();
        tree.iter()
            .map(|e| {
                let blob = e.to_object(&store.repo).unwrap().peel_to_blob().unwrap();
                (
                    e.name().unwrap().to_owned(),
                    String::from_utf8(blob.content().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn empty_store_has_no_releases() {
        let f = fixture();
        assert!(f.store.list().unwrap().is_empty());
        assert!(f.store.latest().unwrap().is_none());
        let err = f.store.info(1).unwrap_err();
        assert!(
            matches!(
                err,
                ReleaseError::Unknown {
                    id: 1,
                    latest: None
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "unknown release v1 (there are no releases yet)"
        );
    }

    #[test]
    fn store_dir_is_private_bare_repo_on_releases_branch() {
        use std::os::unix::fs::PermissionsExt;
        let f = fixture();
        let mode = std::fs::metadata(&f.dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(f.store.repo.is_bare());
        record(
            &f.store,
            &compose_v1(),
            &apps("d1"),
            "first",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        let head = f.store.repo.head().unwrap();
        assert_eq!(head.name(), Some(BRANCH));
    }

    #[test]
    fn three_releases_listed_newest_first() {
        let f = fixture();
        let c1 = compose_v1();
        let c2 = compose_v2();
        let r1 = record(
            &f.store,
            &c1,
            &apps("d1"),
            "first",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        let r2 = record(
            &f.store,
            &c2,
            &apps("d2"),
            "second",
            ReleaseKind::Apply,
            "2025-02-01T08:30:00Z",
        );
        let r3 = record(
            &f.store,
            &c1,
            &apps("d1"),
            "rollback to v1",
            ReleaseKind::Rollback { to: 1 },
            "2025-02-01T09:00:00+02:00",
        );
        assert_eq!((r1.id, r2.id, r3.id), (1, 2, 3));
        let list = f.store.list().unwrap();
        let ids: Vec<u64> = list.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![3, 2, 1]);
        assert_eq!(list[0], r3);
        assert_eq!(list[2], r1);
        assert_eq!(list[0].kind, "rollback");
        assert_eq!(list[1].kind, "apply");
        assert_eq!(list[1].message, "second");
        assert_eq!(list[1].time, "2025-02-01T08:30:00Z");
        assert_eq!(list[1].source_rev, "abc123");
        assert_eq!(list[1].services, 2);
        assert_eq!(f.store.latest().unwrap(), Some(r3.clone()));
        assert_eq!(f.store.info(2).unwrap(), r2);
        assert_eq!(f.store.rolled_back_to(3).unwrap(), Some(1));
        assert_eq!(f.store.rolled_back_to(2).unwrap(), None);

        // Commit message, author and time.
        let commit = f
            .store
            .repo
            .find_commit(git2::Oid::from_str(&r2.commit).unwrap())
            .unwrap();
        assert_eq!(commit.message(), Some("release v2: second"));
        assert_eq!(commit.author().name(), Some("dokku-compose"));
        assert_eq!(commit.committer().email(), Some("dokku-compose@localhost"));
        assert_eq!(commit.time().seconds(), 1_738_398_600);
        let c3 = f
            .store
            .repo
            .find_commit(git2::Oid::from_str(&r3.commit).unwrap())
            .unwrap();
        assert_eq!(c3.time().seconds(), 1_738_393_200);
        assert_eq!(c3.time().offset_minutes(), 120);

        // release.json of the rollback.
        let files = committed_files(&f.store, 3);
        let rel: Value = serde_json::from_str(&files["release.json"]).unwrap();
        assert_eq!(
            rel,
            json!({ "id": 3, "stack": "shop", "time": "2025-02-01T09:00:00+02:00", "source_rev": "abc123",
                    "message": "rollback to v1", "kind": "rollback", "rolled_back_to": 1 })
        );

        // A reopened store sees the same history.
        let again = ReleaseStore::open(&f.dir, key()).unwrap();
        assert_eq!(again.list().unwrap(), list);
    }

    #[test]
    #[expect(
        clippy::too_many_lines,
        reason = "one scenario, checked from every angle"
    )]
    fn compose_round_trips_and_no_plaintext_is_stored() {
        let f = fixture();
        let c1 = compose_v1();
        let c2 = compose_v2();
        record(
            &f.store,
            &c1,
            &apps("d1"),
            "first",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        record(
            &f.store,
            &c2,
            &apps("d2"),
            "second",
            ReleaseKind::Apply,
            "2025-02-01T08:30:00Z",
        );
        assert_eq!(f.store.compose(1).unwrap(), c1);
        assert_eq!(f.store.compose(2).unwrap(), c2);

        let secrets = [DB_PASSWORD, NEW_DB_PASSWORD, PG_PASSWORD, API_TOKEN];

        // The committed files.
        for id in [1, 2] {
            let files = committed_files(&f.store, id);
            let names: Vec<&str> = files.keys().map(String::as_str).collect();
            assert_eq!(
                names,
                [
                    "apps.json",
                    "compose.json",
                    "fingerprints.json",
                    "masked.json",
                    "plan.json",
                    "release.json"
                ]
            );
            for (name, text) in &files {
                for s in secrets {
                    assert!(!text.contains(s), "{name} of v{id} holds a secret");
                }
            }
            let raw: Value = serde_json::from_str(&files["compose.json"]).unwrap();
            let sealed = raw["services"]["web"]["environment"]["DB_PASSWORD"]
                .as_str()
                .unwrap();
            assert!(sealed.starts_with("v1:"), "{sealed}");
            let sealed_pg = raw["services"]["web"]["x-dokku"]["postgres"]["password"]
                .as_str()
                .unwrap();
            assert!(sealed_pg.starts_with("v1:"));
            // A non-string secret is sealed too, and comes back as a number.
            assert!(raw["services"]["web"]["environment"]["TOKEN_TTL"]
                .as_str()
                .unwrap()
                .starts_with("v1:"));
            // Not secret: null env values, x-dokku keys without a sensitive word.
            assert_eq!(
                raw["services"]["web"]["environment"]["FROM_HOST"],
                Value::Null
            );
            assert_eq!(
                raw["services"]["web"]["x-dokku"]["postgres"]["version"],
                json!("16")
            );
            assert_eq!(
                raw["services"]["web"]["x-dokku"]["domains"],
                json!(["shop.example.com"])
            );

            let masked: Value = serde_json::from_str(&files["masked.json"]).unwrap();
            assert_eq!(masked, f.store.masked_compose(id).unwrap());
            assert_eq!(
                masked["services"]["web"]["environment"]["DB_PASSWORD"],
                json!("********")
            );
            assert_eq!(
                masked["services"]["web"]["environment"]["TOKEN_TTL"],
                json!("********")
            );
            assert_eq!(
                masked["services"]["web"]["x-dokku"]["secrets"]["API"],
                json!("********")
            );

            let fps: BTreeMap<String, String> =
                serde_json::from_str(&files["fingerprints.json"]).unwrap();
            let paths: Vec<&str> = fps.keys().map(String::as_str).collect();
            assert_eq!(
                paths,
                [
                    "services.web.environment.DB_PASSWORD",
                    "services.web.environment.TOKEN_TTL",
                    "services.web.x-dokku.postgres.password",
                    "services.web.x-dokku.secrets.API",
                ]
            );
        }
        assert!(committed_files(&f.store, 1)["fingerprints.json"]
            .contains(&key().fingerprint(b"\"hunter2-correct-horse\"")));

        // Every object in the git object store, decompressed by libgit2.
        let odb = f.store.repo.odb().unwrap();
        let mut objects = 0;
        odb.foreach(|oid| {
            let obj = odb.read(*oid).unwrap();
            let data = String::from_utf8_lossy(obj.data()).into_owned();
            for s in secrets {
                assert!(!data.contains(s), "object {oid} holds a secret");
            }
            objects += 1;
            true
        })
        .unwrap();
        // 2 commits, 2 trees, and 11 blobs (apps/masked/plan/fingerprints/release differ,
        // compose.json differs) at least.
        assert!(objects >= 14, "{objects}");

        // Every blob of every commit on the branch.
        let mut walk = f.store.repo.revwalk().unwrap();
        walk.push_ref(BRANCH).unwrap();
        let mut blobs = 0;
        for oid in walk {
            let commit = f.store.repo.find_commit(oid.unwrap()).unwrap();
            for s in secrets {
                assert!(!commit.message().unwrap().contains(s));
            }
            commit
                .tree()
                .unwrap()
                .walk(git2::TreeWalkMode::PreOrder, |_, entry| {
                    let blob = entry
                        .to_object(&f.store.repo)
                        .unwrap()
                        .peel_to_blob()
                        .unwrap();
                    let data = String::from_utf8_lossy(blob.content()).into_owned();
                    for s in secrets {
                        assert!(!data.contains(s), "{:?} holds a secret", entry.name());
                    }
                    blobs += 1;
                    git2::TreeWalkResult::Ok
                })
                .unwrap();
        }
        assert_eq!(blobs, 12);

        // Every file under the store directory, raw bytes.
        let mut stack = vec![f.dir.clone()];
        let mut files = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let bytes = std::fs::read(&p).unwrap();
                    for s in secrets {
                        assert!(
                            !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                            "{} holds a secret",
                            p.display()
                        );
                    }
                    files += 1;
                }
            }
        }
        assert!(files >= 16, "{files}");
    }

    #[test]
    fn plain_keys_are_stored_in_clear() {
        let f = fixture();
        record(
            &f.store,
            &compose_v1(),
            &apps("d1"),
            "first",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        let files = committed_files(&f.store, 1);
        let raw: Value = serde_json::from_str(&files["compose.json"]).unwrap();
        assert_eq!(
            raw["services"]["web"]["environment"]["LOG_LEVEL"],
            json!("info-level-plain")
        );
        let masked: Value = serde_json::from_str(&files["masked.json"]).unwrap();
        assert_eq!(
            masked["services"]["web"]["environment"]["LOG_LEVEL"],
            json!("info-level-plain")
        );
        assert!(!files["fingerprints.json"].contains("LOG_LEVEL"));

        // Without the plain list, an ordinary key stays in clear too (one classification,
        // `model::env_is_secret`); a secret one is sealed.
        let none = BTreeSet::new();
        let c = compose_v1();
        f.store
            .record(&NewRelease {
                stack: "shop",
                compose: &c,
                plain_keys: &none,
                plan: &json!(null),
                apps: &BTreeMap::new(),
                source_rev: "abc123",
                message: "all secret",
                kind: ReleaseKind::Apply,
                time: "2025-01-31T12:00:00Z",
            })
            .unwrap();
        let files = committed_files(&f.store, 2);
        assert!(files["compose.json"].contains("info-level-plain"));
        assert!(!files["fingerprints.json"].contains("services.web.environment.LOG_LEVEL"));
        assert!(files["fingerprints.json"].contains("services.web.environment.DB_PASSWORD"));
        assert_eq!(f.store.compose(2).unwrap(), c);
    }

    /// examples/django-migrate: a secret defined in an `x-*` block and reached through a YAML
    /// anchor is a secret there too (the classification looks at the value, not only at where
    /// it is written).
    #[test]
    fn secrets_in_extension_blocks_reached_by_anchors_are_sealed() {
        let f = fixture();
        let compose = |key: &str| {
            json!({
                "name": "ledger",
                "x-app": {"image": "ghcr.io/example/ledger:3", "environment": {"DJANGO_SECRET_KEY": key, "DJANGO_SETTINGS_MODULE": "ledger.settings"}, "command-note": key},
                "x-urls": ["postgres://ledger:pw@db/ledger"],
                "services": {"web": {"image": "ghcr.io/example/ledger:3", "environment": {"DJANGO_SECRET_KEY": key, "DJANGO_SETTINGS_MODULE": "ledger.settings"}}}
            })
        };
        let plain: BTreeSet<String> = ["DJANGO_SETTINGS_MODULE".to_owned()].into();
        let rec = |c: &Value, t: &str| {
            f.store
                .record(&NewRelease {
                    stack: "shop",
                    compose: c,
                    plain_keys: &plain,
                    plan: &json!({}),
                    apps: &BTreeMap::new(),
                    source_rev: "r",
                    message: "m",
                    kind: ReleaseKind::Apply,
                    time: t,
                })
                .unwrap()
        };
        rec(&compose("anchored-secret-one"), "2025-01-31T12:00:00Z");
        rec(&compose("anchored-secret-two"), "2025-02-01T12:00:00Z");
        for id in [1, 2] {
            for (name, text) in committed_files(&f.store, id) {
                assert!(!text.contains("anchored-secret"), "{name} of v{id}: {text}");
            }
        }
        assert_eq!(
            f.store.compose(1).unwrap(),
            compose("anchored-secret-one"),
            "sealed values come back exactly"
        );
        let diff = f.store.diff(1, 2).unwrap();
        assert!(!diff.contains("anchored-secret"), "{diff}");
        assert!(
            diff.contains("~ x-app.environment.DJANGO_SECRET_KEY: secret changed"),
            "{diff}"
        );
        assert!(
            diff.contains("~ x-app.command-note: secret changed"),
            "same value as a secret: {diff}"
        );
        // The one classification, as `compose:config` prints it.
        let masked = mask_secrets(&compose("anchored-secret-one"), &plain);
        assert_eq!(masked["x-app"]["environment"]["DJANGO_SECRET_KEY"], MASK);
        assert_eq!(masked["x-app"]["command-note"], MASK);
        assert_eq!(
            masked["x-app"]["environment"]["DJANGO_SETTINGS_MODULE"],
            "ledger.settings"
        );
        assert_eq!(masked["x-app"]["image"], "ghcr.io/example/ledger:3");
        assert_eq!(
            masked["x-urls"][0], "postgres://ledger:pw@db/ledger",
            "no secret value, no secret key: shown"
        );
        assert_eq!(
            masked["services"]["web"]["environment"]["DJANGO_SECRET_KEY"],
            MASK
        );
    }

    #[test]
    fn diff_shows_changes_without_secret_values() {
        let f = fixture();
        let mut apps2 = apps("d2");
        apps2
            .get_mut("shop-web")
            .unwrap()
            .scale
            .insert("web".into(), 2);
        record(
            &f.store,
            &compose_v1(),
            &apps("d1"),
            "first",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        record(
            &f.store,
            &compose_v2(),
            &apps2,
            "second",
            ReleaseKind::Apply,
            "2025-02-01T08:30:00Z",
        );
        let diff = f.store.diff(1, 2).unwrap();
        assert_eq!(
            diff,
            "+ services.cache.image: redis:7\n\
             - services.db: {…}\n\
             ~ services.web.environment.DB_PASSWORD: secret changed\n\
             ~ services.web.image: nginx:1.26 -> nginx:1.27\n\
             ~ app shop-web: build context changed\n\
             ~ app shop-web: scale web=1 -> web=2\n"
        );
        for s in [DB_PASSWORD, NEW_DB_PASSWORD, PG_PASSWORD, API_TOKEN] {
            assert!(!diff.contains(s));
        }
        // The other way round.
        let back = f.store.diff(2, 1).unwrap();
        assert!(
            back.contains("+ services.db.image: postgres:16\n"),
            "{back}"
        );
        assert!(back.contains("- services.cache: {…}\n"), "{back}");
        assert!(
            back.contains("~ services.web.image: nginx:1.27 -> nginx:1.26\n"),
            "{back}"
        );
        assert!(
            back.contains("~ services.web.environment.DB_PASSWORD: secret changed\n"),
            "{back}"
        );
        // Equal releases: nothing; resealing the same secret (new nonce) is not a change.
        record(
            &f.store,
            &compose_v1(),
            &apps("d1"),
            "again",
            ReleaseKind::Apply,
            "2025-02-02T00:00:00Z",
        );
        assert_eq!(f.store.diff(1, 3).unwrap(), "");
        assert_eq!(f.store.diff(2, 2).unwrap(), "");
    }

    #[test]
    fn diff_of_added_and_removed_leaves_and_apps() {
        let f = fixture();
        let a = json!({ "services": { "web": { "image": "x", "command": ["run", "a"],
            "environment": { "SECRET_A": "aaaaaaaa" } } } });
        let b = json!({ "services": { "web": { "image": "x", "command": ["run", "b"],
            "restart": "always", "environment": { "SECRET_B": "bbbbbbbb" } } } });
        let mut apps_b = apps("d1");
        apps_b.insert("shop-worker".into(), apps("d1")["shop-web"].clone());
        record(
            &f.store,
            &a,
            &apps("d1"),
            "a",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        record(
            &f.store,
            &b,
            &apps_b,
            "b",
            ReleaseKind::Apply,
            "2025-01-31T12:00:01Z",
        );
        assert_eq!(
            f.store.diff(1, 2).unwrap(),
            "~ services.web.command.1: a -> b\n\
             - services.web.environment.SECRET_A: ********\n\
             + services.web.environment.SECRET_B: ********\n\
             + services.web.restart: always\n\
             + app shop-worker\n"
        );
    }

    #[test]
    fn unknown_release_id() {
        let f = fixture();
        record(
            &f.store,
            &compose_v1(),
            &apps("d1"),
            "first",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        record(
            &f.store,
            &compose_v1(),
            &apps("d1"),
            "second",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        for id in [0, 3, 99] {
            let err = f.store.info(id).unwrap_err();
            assert!(
                matches!(err, ReleaseError::Unknown { id: i, latest: Some(2) } if i == id),
                "{err:?}"
            );
        }
        assert_eq!(
            f.store.compose(7).unwrap_err().to_string(),
            "unknown release v7 (the latest is v2)"
        );
        assert!(matches!(
            f.store.diff(1, 5),
            Err(ReleaseError::Unknown { id: 5, .. })
        ));
        assert!(matches!(
            f.store.apps(3),
            Err(ReleaseError::Unknown { id: 3, .. })
        ));
    }

    #[test]
    fn plan_and_apps_round_trip() {
        let f = fixture();
        let plain_keys = plain();
        let c = compose_v1();
        let a = apps("d1");
        let steps = json!({ "steps": [{ "id": "web/deploy", "undo": null }], "project": "shop" });
        f.store
            .record(&NewRelease {
                stack: "shop",
                compose: &c,
                plain_keys: &plain_keys,
                plan: &steps,
                apps: &a,
                source_rev: "abc123",
                message: "m",
                kind: ReleaseKind::Apply,
                time: "2025-01-31T12:00:00.123Z",
            })
            .unwrap();
        assert_eq!(f.store.plan(1).unwrap(), steps);
        assert_eq!(f.store.apps(1).unwrap(), a);
    }

    #[test]
    fn secrets_leaked_by_caller_into_message_and_plan_are_redacted() {
        let f = fixture();
        let plain_keys = plain();
        let c = compose_v1();
        let steps =
            json!({ "run": format!("dokku config:set shop-web DB_PASSWORD={DB_PASSWORD}") });
        let msg = format!("set {PG_PASSWORD}");
        let info = f
            .store
            .record(&NewRelease {
                stack: "shop",
                compose: &c,
                plain_keys: &plain_keys,
                plan: &steps,
                apps: &BTreeMap::new(),
                source_rev: "abc123",
                message: &msg,
                kind: ReleaseKind::Apply,
                time: "2025-01-31T12:00:00Z",
            })
            .unwrap();
        assert_eq!(info.message, "set ********");
        assert_eq!(
            f.store.plan(1).unwrap(),
            json!({ "run": "dokku config:set shop-web DB_PASSWORD=********" })
        );
        let commit = f
            .store
            .repo
            .find_commit(git2::Oid::from_str(&info.commit).unwrap())
            .unwrap();
        assert_eq!(commit.message(), Some("release v1: set ********"));
    }

    #[test]
    fn wrong_host_key_cannot_open_and_does_not_leak() {
        let f = fixture();
        record(
            &f.store,
            &compose_v1(),
            &apps("d1"),
            "first",
            ReleaseKind::Apply,
            "2025-01-31T12:00:00Z",
        );
        let other = ReleaseStore::open(&f.dir, HostKey::from_bytes([1; 32])).unwrap();
        // Listing and masked views need no key.
        assert_eq!(other.list().unwrap().len(), 1);
        assert!(other.masked_compose(1).is_ok());
        let err = other.compose(1).unwrap_err();
        assert!(matches!(err, ReleaseError::Sealed { id: 1, .. }), "{err:?}");
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            chain.push_str(&s.to_string());
            source = s.source();
        }
        assert!(chain.contains("another host key"), "{chain}");
        for s in [DB_PASSWORD, PG_PASSWORD, API_TOKEN] {
            assert!(!chain.contains(s));
        }
    }

    #[test]
    fn invalid_time_is_refused() {
        let f = fixture();
        let plain = plain();
        for time in [
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "2025-01-31T12:00:00",
        ] {
            let err = f
                .store
                .record(&NewRelease {
                    stack: "shop",
                    compose: &json!({}),
                    plain_keys: &plain,
                    plan: &json!(null),
                    apps: &BTreeMap::new(),
                    source_rev: "",
                    message: "",
                    kind: ReleaseKind::Apply,
                    time,
                })
                .unwrap_err();
            assert!(
                matches!(err, ReleaseError::InvalidTime { .. }),
                "{time}: {err:?}"
            );
        }
        assert!(f.store.list().unwrap().is_empty());
    }

    #[test]
    fn rfc3339_parse_and_format() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2025-01-31T12:00:00Z"),
            Some((1_738_324_800, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T23:59:59.999Z"),
            Some((1_709_251_199, 0))
        );
        assert_eq!(
            parse_rfc3339("2025-01-31T14:00:00+02:00"),
            Some((1_738_324_800, 120))
        );
        assert_eq!(
            parse_rfc3339("2025-01-31T06:30:00-05:30"),
            Some((1_738_324_800, -330))
        );
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2025-01-31T12:00:00+2:00"), None);
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        let now = now_rfc3339();
        let (secs, off) = parse_rfc3339(&now).unwrap();
        assert_eq!(off, 0);
        assert_eq!(format_rfc3339(secs), now);
        assert!(secs > 1_700_000_000);
    }
}
