//! `services.<svc>.volumes` (named volumes as storage entries, bind mounts as host paths)
//! and the secret files of `services.<svc>.secrets`: `storage:mount` what is missing,
//! `storage:unmount` what this stack mounted before and no longer wants.

use std::collections::BTreeSet;

use super::App;
use crate::dokku::{self, Cmd};
use crate::model::{Mount, SecretDelivery};
use crate::plan::planner::secrets::secret_value;
use crate::plan::planner::{undo, PlanError, Steps, MOUNTS_VAR};
use crate::plan::step::Action;
use crate::state::mount_key;

/// What the config needs of the mounts.
pub(crate) struct Mounts {
    /// Mount keys (see [`mount_key`]) of every wanted mount, stored in `MOUNTS_VAR`.
    pub(crate) wanted: BTreeSet<String>,
    /// `<secret>:<target>=<fingerprint>` of every secret file.
    pub(crate) secret_fingerprints: Vec<String>,
    /// Whether a mount was added or removed.
    pub(crate) changed: bool,
}

/// The mounts, the secret files, then the unmounts.
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) -> Result<Mounts, PlanError> {
    let mut m = Mounts {
        wanted: BTreeSet::new(),
        secret_fingerprints: Vec::new(),
        changed: false,
    };
    volumes(a, &mut m, out);
    secret_files(a, &mut m, out)?;
    unmounts(a, &mut m, out);
    Ok(m)
}

/// `volumes`: a storage entry with `--container-dir`, or a host path.
fn volumes(a: &App<'_>, m: &mut Mounts, out: &mut Steps<'_>) {
    let name = a.name;
    for mount in &a.spec.mounts {
        let (key, cmd, back) = match mount {
            Mount::Entry {
                name: entry,
                target,
                read_only,
                ..
            } => (
                mount_key(Some(entry.as_str()), "", target, *read_only),
                dokku::storage_mount_entry(name, entry.as_str(), target.as_str(), *read_only),
                dokku::storage_unmount_entry(name, entry.as_str(), target.as_str()),
            ),
            Mount::HostPath {
                source,
                target,
                read_only,
                ..
            } => {
                let spec = format!("{source}:{target}{}", if *read_only { ":ro" } else { "" });
                (
                    mount_key(None, source, target, *read_only),
                    dokku::storage_mount(name, &spec),
                    dokku::storage_unmount(name, &spec),
                )
            }
        };
        m.wanted.insert(key.clone());
        if a.cur.mounts.contains(&key) {
            continue;
        }
        out.push(
            &format!("mount/{key}"),
            Action::Mount {
                app: name.to_owned(),
                mount: key.clone(),
            },
            cmd,
            format!("mount `{key}` is missing"),
            undo(vec![back]),
        );
        m.changed = true;
    }
}

/// Secret files: mounted read-only from the stack's secrets directory; the executor writes
/// them before the plan runs. Their fingerprint in config restarts the app on a change.
fn secret_files(a: &App<'_>, m: &mut Mounts, out: &mut Steps<'_>) -> Result<(), PlanError> {
    let (name, settings) = (a.name, a.settings);
    let secrets_dir = settings
        .secrets_dir
        .clone()
        .unwrap_or_else(|| format!("/var/lib/dokku/data/compose/{}/secrets", a.project.stack));
    for use_ in &a.spec.secrets {
        let SecretDelivery::File(target) = &use_.delivery else {
            continue;
        };
        secret_value(settings, &a.svc.name, &use_.name)?;
        m.secret_fingerprints.push(format!(
            "{}:{target}={}",
            use_.name,
            settings
                .secret_fingerprints
                .get(&use_.name)
                .map_or("?", String::as_str)
        ));
        let host = format!("{secrets_dir}/{name}/{}", use_.name);
        let key = mount_key(None, &host, target, true);
        m.wanted.insert(key.clone());
        if a.cur.mounts.contains(&key) {
            continue;
        }
        let spec = format!("{host}:{target}:ro");
        out.push(
            &format!("secret/{}", use_.name),
            Action::Mount {
                app: name.to_owned(),
                mount: key.clone(),
            },
            dokku::storage_mount(name, &spec),
            format!("secret `{}` is not mounted at `{target}`", use_.name),
            undo(vec![dokku::storage_unmount(name, &spec)]),
        );
        m.changed = true;
    }
    Ok(())
}

/// Mounts this stack made before and no longer wants are unmounted (issue 15 item 17);
/// others' are left alone.
fn unmounts(a: &App<'_>, m: &mut Mounts, out: &mut Steps<'_>) {
    let (name, cur) = (a.name, a.cur);
    let made: Vec<String> = cur
        .config
        .get(MOUNTS_VAR)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    for old in made
        .iter()
        .filter(|k| !m.wanted.contains(*k) && cur.mounts.contains(*k))
    {
        let Some((un, back)) = unmount_cmds(name, old) else {
            continue;
        };
        out.push(
            &format!("unmount/{old}"),
            Action::Unmount {
                app: name.to_owned(),
                mount: old.clone(),
            },
            un,
            format!("mount `{old}` is no longer in the compose file"),
            undo(vec![back]),
        );
        m.changed = true;
    }
}

/// `storage:unmount` for a mount key (see [`mount_key`]) and the `storage:mount` that puts it
/// back: `entry:<name>:<target>[:ro]` or `<host>:<target>[:ro]`.
fn unmount_cmds(app: &str, key: &str) -> Option<(Cmd, Cmd)> {
    let (spec, ro) = match key.strip_suffix(":ro") {
        Some(s) => (s, true),
        None => (key, false),
    };
    if let Some(rest) = spec.strip_prefix("entry:") {
        let (entry, target) = rest.split_once(':')?;
        return Some((
            dokku::storage_unmount_entry(app, entry, target),
            dokku::storage_mount_entry(app, entry, target, ro),
        ));
    }
    let (host, target) = spec.split_once(':')?;
    let mount = format!("{host}:{target}{}", if ro { ":ro" } else { "" });
    Some((
        dokku::storage_unmount(app, &mount),
        dokku::storage_mount(app, &mount),
    ))
}
