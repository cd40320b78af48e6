//! Recording a release: the compose project sealed and masked by the one secret
//! classification ([`SecretRule`]), the plan and message redacted, one commit written.

use std::collections::BTreeMap;

use git2::{Commit, Signature, Time};
use serde_json::Value;

use super::classify::SecretRule;
use super::store::{count_services, git, json, to_json};
use super::{
    parse_rfc3339, NewRelease, ReleaseError, ReleaseInfo, ReleaseKind, ReleaseRecord, ReleaseStore,
    APPS_FILE, AUTHOR, BRANCH, COMPOSE_FILE, FINGERPRINTS_FILE, MASK, MASKED_FILE, PLAN_FILE,
    RELEASE_FILE,
};

/// Shortest secret value that is redacted from messages and plans; shorter values would
/// match too much innocent text.
const MIN_REDACT_LEN: usize = 6;

impl ReleaseStore {
    /// Records a release: the next id, one commit on the `releases` branch.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::InvalidTime`] when `r.time` is not RFC 3339, [`ReleaseError::Git`] when
    /// the commit cannot be written (also when another process recorded a release at the same
    /// time; callers hold the stack lock), and the read errors of the current latest release.
    pub(crate) fn record(&self, r: &NewRelease<'_>) -> Result<ReleaseInfo, ReleaseError> {
        let (epoch, offset_minutes) =
            parse_rfc3339(r.time).ok_or_else(|| ReleaseError::InvalidTime {
                time: r.time.to_owned(),
            })?;
        let parent = self.tip()?;
        let id = match &parent {
            Some(c) => self.record_of(c, None)?.id + 1,
            None => 1,
        };

        // The one classification (docs/mapping.md "Secrets and masking").
        let rule = SecretRule::new(r.plain_keys);
        let mut sealed = r.compose.clone();
        let mut fingerprints = BTreeMap::new();
        let mut plaintexts = Vec::new();
        rule.for_each::<ReleaseError>(&mut sealed, &mut |path, v| {
            let text = serde_json::to_vec(v).map_err(json(format!("cannot encode `{path}`")))?;
            fingerprints.insert(path.to_owned(), self.key.fingerprint(&text));
            if let Value::String(s) = v {
                plaintexts.push(s.clone());
            }
            *v = Value::String(self.key.seal(&text));
            Ok(())
        })?;
        let masked = rule.mask(r.compose);
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
