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

mod classify;
mod diff;
mod record;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::secrets::SecretError;

pub(crate) use crate::dokku::cmd::MASK;
pub(crate) use classify::SecretRule;
pub use store::{reset_history, ReleaseStore};

/// The branch that holds the releases, one commit each.
pub(crate) const BRANCH: &str = "refs/heads/releases";

/// Name and e-mail of the author and committer of every release commit.
const AUTHOR: (&str, &str) = ("dokku-compose", "dokku-compose@localhost");

const COMPOSE_FILE: &str = "compose.json";
const MASKED_FILE: &str = "masked.json";
const FINGERPRINTS_FILE: &str = "fingerprints.json";
const PLAN_FILE: &str = "plan.json";
const APPS_FILE: &str = "apps.json";
const RELEASE_FILE: &str = "release.json";

/// A name that is not a release (`compose:rollback x`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a release: name one as `compose:releases` lists it (`v3`, or `3`)")]
pub(crate) struct NotARelease(pub String);

/// Parses a release name as `compose:releases` prints it (`v3`) or as a bare number (`3`):
/// release names round-trip between listing, `diff` and `rollback` (issue #15 item 12).
pub(crate) fn parse_release_id(s: &str) -> Result<u64, NotARelease> {
    let digits = s
        .strip_prefix('v')
        .or_else(|| s.strip_prefix('V'))
        .unwrap_or(s);
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(NotARelease(s.to_owned())),
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
pub(crate) struct AppFacts {
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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Apply => "apply",
            ReleaseKind::Rollback { .. } => "rollback",
        }
    }
}

/// Everything [`ReleaseStore::record`] needs to write a release.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewRelease<'a> {
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

/// The current time as RFC 3339 UTC with second precision, such as `2025-01-31T12:00:00Z`.
#[must_use]
pub(crate) fn now_rfc3339() -> String {
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
