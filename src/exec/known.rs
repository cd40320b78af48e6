//! What a push takes as known instead of asking Dokku (issue #19, docs/performance.md): the
//! state of the host the stack's last successful apply left (the state it read, with its
//! plan's effects applied), sealed with the host key at `<stack>/known-state`, and the apps
//! Dokku's triggers recorded as changed since (`<data>/.changed/<app>`, written by
//! `triggers/app-changed`), which are read from the host again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::secrets::HostKey;
use crate::plan::Step;
use crate::state::DokkuState;

/// The file of a stack directory holding the known state.
pub(crate) const FILE: &str = "known-state";

/// The directory of the change markers, under the data directory.
pub(crate) const CHANGED_DIR: &str = ".changed";

/// Set on every command the plugin runs: `triggers/app-changed` records nothing for them.
pub(crate) const APPLYING_VAR: &str = "DOKKU_COMPOSE_APPLYING";

/// What the record holds: its format, and the state.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    format: u32,
    state: DokkuState,
}

const FORMAT: u32 = 1;

/// The known state of the stack whose directory is `stack_dir`; `None` when there is none,
/// or it cannot be read or opened (then everything is read from the host).
pub(crate) fn load(stack_dir: &Path, key: &HostKey) -> Option<DokkuState> {
    let sealed = std::fs::read_to_string(stack_dir.join(FILE)).ok()?;
    let plain = key.open(sealed.trim()).ok()?;
    let record: Record = serde_json::from_slice(&plain).ok()?;
    (record.format == FORMAT).then_some(record.state)
}

/// Records `state` as the known state (sealed: config values may be secrets).
pub(crate) fn save(stack_dir: &Path, key: &HostKey, state: &DokkuState) -> std::io::Result<()> {
    let mut state = state.clone();
    // Which app serves each domain of the host is read when a plan sets domains, never kept.
    state.vhosts.clear();
    let plain = serde_json::to_vec(&Record {
        format: FORMAT,
        state,
    })
    .map_err(std::io::Error::other)?;
    crate::platform::write_atomic(&stack_dir.join(FILE), key.seal(&plain).as_bytes(), 0o600)
}

/// Drops the known state: before an apply changes anything, so a failed or interrupted one
/// leaves the next push reading everything.
pub(crate) fn forget(stack_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(stack_dir.join(FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn marker(data: &Path, app: &str) -> PathBuf {
    data.join(CHANGED_DIR).join(app)
}

/// The apps of `apps` Dokku's triggers recorded as changed, with the time of the record.
pub(crate) fn changed<'a>(
    data: &Path,
    apps: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, SystemTime> {
    apps.into_iter()
        .filter_map(|a| {
            let t = std::fs::metadata(marker(data, a))
                .and_then(|m| m.modified())
                .ok()?;
            Some((a.to_owned(), t))
        })
        .collect()
}

/// The names of [`changed`].
pub(crate) fn names(changed: &BTreeMap<String, SystemTime>) -> BTreeSet<String> {
    changed.keys().cloned().collect()
}

/// Removes the markers `seen` once their apps were read and the result recorded; a marker
/// written again since (an operator's command during the apply) stays for the next push.
pub(crate) fn settle(data: &Path, seen: &BTreeMap<String, SystemTime>) {
    for (app, t) in seen {
        let path = marker(data, app);
        let same = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|now| now == *t);
        if same {
            drop(std::fs::remove_file(path));
        }
    }
}

/// The state `state` becomes once `steps` ran. An app a step changes in more ways than the
/// step says (`letsencrypt:enable` adds its own port maps) is left out: the next push reads it.
pub(crate) fn after<'a>(
    state: &DokkuState,
    steps: impl IntoIterator<Item = &'a Step>,
) -> DokkuState {
    let mut s = state.clone();
    let mut unknown = Vec::new();
    for step in steps {
        crate::plan::simulate::apply(&mut s, step);
        if let crate::plan::Action::EnableLetsencrypt { app } = &step.action {
            unknown.push(app.clone());
        }
    }
    for app in unknown {
        s.apps.remove(&app);
    }
    s
}

/// Whether the plan made from known state has a step that creates or links something shared
/// with the rest of the host (an app, a network, a storage entry, a datastore): those are
/// planned again from a full read, as what exists on the host is not this stack's to know.
pub(crate) fn needs_host(steps: &[Step]) -> bool {
    use crate::plan::Action;
    steps.iter().any(|s| {
        matches!(
            s.action,
            Action::CreateApp { .. }
                | Action::CreateNetwork { .. }
                | Action::CreateStorage { .. }
                | Action::CreateDatastore { .. }
                | Action::UpgradeDatastore { .. }
                | Action::Link { .. }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_sealed_and_markers_settle_only_when_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let key = HostKey::from_bytes([7; 32]);
        let mut state = DokkuState::default();
        state.apps.insert(
            "s-web".into(),
            crate::state::AppState {
                config: BTreeMap::from([("PASSWORD".into(), "hunter2".into())]),
                ..Default::default()
            },
        );
        save(dir.path(), &key, &state).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!text.contains("hunter2"), "config values are sealed");
        assert_eq!(load(dir.path(), &key), Some(state));
        assert_eq!(
            load(dir.path(), &HostKey::from_bytes([8; 32])),
            None,
            "another key opens nothing"
        );
        forget(dir.path()).unwrap();
        forget(dir.path()).unwrap();
        assert_eq!(load(dir.path(), &key), None);

        std::fs::create_dir_all(dir.path().join(CHANGED_DIR)).unwrap();
        std::fs::write(marker(dir.path(), "s-web"), "").unwrap();
        std::fs::write(marker(dir.path(), "s-api"), "").unwrap();
        let seen = changed(dir.path(), ["s-web", "s-api", "s-worker"]);
        assert_eq!(
            names(&seen),
            BTreeSet::from(["s-api".to_owned(), "s-web".to_owned()])
        );
        // s-api changes again while the apply runs: its marker stays.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(marker(dir.path(), "s-api"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        settle(dir.path(), &seen);
        assert!(!marker(dir.path(), "s-web").exists() && marker(dir.path(), "s-api").exists());
    }
}
