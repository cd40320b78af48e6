//! The store: one bare git repository per stack, one commit per release, and the reads of
//! a release's files.

use std::collections::BTreeMap;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use git2::{Commit, ErrorCode, Repository, RepositoryInitOptions};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::classify::walk_scalars;
use super::{
    AppFacts, ReleaseError, ReleaseInfo, ReleaseRecord, APPS_FILE, BRANCH, COMPOSE_FILE,
    FINGERPRINTS_FILE, MASKED_FILE, PLAN_FILE, RELEASE_FILE,
};
use crate::exec::secrets::HostKey;

/// The release history of one stack: a bare git repository with one commit per release.
pub struct ReleaseStore {
    pub(super) dir: PathBuf,
    pub(super) repo: Repository,
    pub(super) key: HostKey,
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

    /// The commit the history's branch points at (`None`: no release yet): what
    /// [`reset_history`] puts back when the apply that records the next release is undone.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Git`] when the branch cannot be read.
    pub(crate) fn head(&self) -> Result<Option<String>, ReleaseError> {
        Ok(self.tip()?.map(|c| c.id().to_string()))
    }

    /// Every release, newest first.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::Git`], [`ReleaseError::Json`] or [`ReleaseError::Corrupt`] when the
    /// history cannot be read or its ids are not consecutive.
    pub(crate) fn list(&self) -> Result<Vec<ReleaseInfo>, ReleaseError> {
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
    pub(crate) fn info(&self, id: u64) -> Result<ReleaseInfo, ReleaseError> {
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
    pub(crate) fn apps(&self, id: u64) -> Result<BTreeMap<String, AppFacts>, ReleaseError> {
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
    pub(crate) fn rolled_back_to(&self, id: u64) -> Result<Option<u64>, ReleaseError> {
        let commit = self.release_commit(id)?;
        Ok(self.record_of(&commit, Some(id))?.rolled_back_to)
    }

    /// The newest release commit, if any.
    pub(super) fn tip(&self) -> Result<Option<Commit<'_>>, ReleaseError> {
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
    pub(super) fn release_commit(&self, id: u64) -> Result<Commit<'_>, ReleaseError> {
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
    pub(super) fn record_of(
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
    pub(super) fn read_json<T: DeserializeOwned>(
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
pub(super) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> ReleaseError {
    let context = context.into();
    move |source| ReleaseError::Git { context, source }
}

/// Maps a serde error to [`ReleaseError::Json`] with `context`.
pub(super) fn json(context: impl Into<String>) -> impl FnOnce(serde_json::Error) -> ReleaseError {
    let context = context.into();
    move |source| ReleaseError::Json { context, source }
}

/// Pretty JSON with a final newline: stable, readable with `git show`.
pub(super) fn to_json<T: Serialize + ?Sized>(
    value: &T,
    name: &str,
) -> Result<Vec<u8>, ReleaseError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(json(format!("cannot encode `{name}`")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Number of services of a compose project.
pub(super) fn count_services(compose: &Value) -> usize {
    compose
        .get("services")
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}
