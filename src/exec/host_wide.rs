//! Host-wide reads shared by the stacks of one `compose:projects:apply` run (issue #19).
//!
//! The lists every stack's read asks for whatever the stack is (`apps:list`, `network:list`,
//! `storage:list-entries`, `<plugin>:list`, the global Let's Encrypt e-mail) are asked once
//! per run: the run creates a cache file in the plugin's data directory, each stack's
//! `compose:up` (its own process) answers those queries from it and fills what it lacks, and
//! what a stack's apply changed (an app it created, a network, a datastore) is dropped from
//! it, so the next stack reads it again. The file is held under an exclusive `flock` while it
//! is read or written.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::dokku::Cmd;
use crate::state::{QueryOutput, StateError};

/// One run's cache of host-wide reads: the file holding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostWide {
    path: PathBuf,
}

/// The directory of the runs' caches, under the plugin's data directory.
fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join(".host-wide")
}

/// The cache's key of a query, if it is a host-wide one.
pub(crate) fn key(cmd: &Cmd) -> Option<String> {
    let a: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    let wide = matches!(
        a.as_slice(),
        ["apps:list", "--format", "json"]
            | ["network:list", "--format", "json"]
            | ["storage:list-entries", "--format", "json"]
            | ["letsencrypt:report", "--global", "--format", "json"]
            | [
                "scheduler:report" | "registry:report",
                "--global",
                "--format",
                "json"
            ]
    ) || matches!(a.as_slice(), [list] if list.ends_with(":list") && !list.starts_with(':'));
    (cmd.program == "dokku" && wide).then(|| a.join(" "))
}

/// The keys a command run by an apply makes stale.
fn stale(cmd: &Cmd) -> Vec<String> {
    let Some(verb) = cmd.args.first() else {
        return Vec::new();
    };
    let (plugin, sub) = verb.split_once(':').unwrap_or((verb.as_str(), ""));
    match (plugin, sub) {
        ("apps", "create" | "destroy" | "rename" | "clone") => {
            vec!["apps:list --format json".into()]
        }
        ("network", "create" | "destroy") => vec!["network:list --format json".into()],
        ("storage", "ensure-directory" | "mount" | "unmount") => {
            vec!["storage:list-entries --format json".into()]
        }
        ("letsencrypt", "set") => vec!["letsencrypt:report --global --format json".into()],
        (p @ ("scheduler" | "registry"), "set")
            if cmd.args.get(1).is_some_and(|a| a == "--global") =>
        {
            vec![format!("{p}:report --global --format json")]
        }
        (p, "create" | "destroy" | "clone" | "rename") => vec![format!("{p}:list")],
        _ => Vec::new(),
    }
}

impl HostWide {
    /// A new, empty cache for one run (named by the process id of the run).
    pub(crate) fn create(data_dir: &Path) -> std::io::Result<Self> {
        let d = dir(data_dir);
        std::fs::create_dir_all(&d)?;
        let h = Self {
            path: d.join(format!("{}.json", std::process::id())),
        };
        crate::platform::write_atomic(&h.path, b"{}", 0o600)?;
        Ok(h)
    }

    /// The run `id`'s cache, if it exists (`id` is the number [`HostWide::id`] gave).
    pub(crate) fn open(data_dir: &Path, id: &str) -> Option<Self> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let path = dir(data_dir).join(format!("{id}.json"));
        path.is_file().then_some(Self { path })
    }

    /// The name `compose:up --host-wide` takes.
    pub(crate) fn id(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn locked(&self) -> std::io::Result<Flock<File>> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))
    }

    fn load(&self) -> BTreeMap<String, QueryOutput> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, map: &BTreeMap<String, QueryOutput>) -> std::io::Result<()> {
        // Never through a link, like every file of the plugin (docs/security.md).
        crate::platform::write_atomic(&self.path, &serde_json::to_vec(map)?, 0o600)
    }

    /// Answers `cmd` from the cache when it is a host-wide query, else through `run`; a
    /// host-wide answer `run` gives is kept for the run's next stacks.
    pub(crate) fn query(
        &self,
        cmd: &Cmd,
        run: &dyn Fn(&Cmd) -> Result<QueryOutput, StateError>,
    ) -> Result<QueryOutput, StateError> {
        let Some(k) = key(cmd) else {
            return run(cmd);
        };
        let io = |e: std::io::Error| StateError::Cache {
            command: cmd.masked_argv().join(" "),
            error: std::sync::Arc::new(e),
        };
        // Held while the query runs, so concurrent stacks ask it once.
        let _lock = self.locked().map_err(io)?;
        let mut map = self.load();
        if let Some(out) = map.get(&k) {
            return Ok(out.clone());
        }
        let out = run(cmd)?;
        map.insert(k, out.clone());
        self.save(&map).map_err(io)?;
        Ok(out)
    }

    /// Drops what `ran` (the commands an apply ran) made stale; `None` (an apply that failed
    /// somewhere) drops everything.
    pub(crate) fn invalidate<'a>(&self, ran: Option<impl IntoIterator<Item = &'a Cmd>>) {
        let Ok(_lock) = self.locked() else {
            let _ = std::fs::remove_file(&self.path);
            return;
        };
        let mut map = self.load();
        match ran {
            Some(cmds) => {
                for c in cmds {
                    for k in stale(c) {
                        map.remove(&k);
                    }
                }
            }
            None => map.clear(),
        }
        if self.save(&map).is_err() {
            // Without the file, the stacks read for themselves.
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Removes the cache (end of the run).
    pub(crate) fn remove(&self) {
        for p in [
            self.path.clone(),
            self.path.with_extension("lock"),
            self.path.with_extension("tmp"),
        ] {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_wide_queries_are_keys() {
        assert!(key(&Cmd::dokku(["apps:list", "--format", "json"])).is_some());
        assert!(key(&Cmd::dokku(["postgres:list"])).is_some());
        assert!(key(&Cmd::dokku(["config:export", "--format", "json", "a"])).is_none());
        assert!(key(&Cmd::dokku(["storage:list", "a", "--format", "json"])).is_none());
        // The global scheduler and registry (issue 21), not an app's.
        assert!(key(&Cmd::dokku([
            "scheduler:report",
            "--global",
            "--format",
            "json"
        ]))
        .is_some());
        assert!(key(&Cmd::dokku([
            "registry:report",
            "--global",
            "--format",
            "json"
        ]))
        .is_some());
        assert!(key(&Cmd::dokku(["scheduler:report", "a", "--format", "json"])).is_none());
        assert_eq!(
            stale(&Cmd::dokku([
                "scheduler:set",
                "--global",
                "selected",
                "k3s"
            ])),
            ["scheduler:report --global --format json"]
        );
        assert!(stale(&Cmd::dokku(["scheduler:set", "a", "selected", "k3s"])).is_empty());
    }

    #[test]
    fn a_created_app_drops_the_app_list() {
        let d = tempfile::tempdir().unwrap();
        let h = HostWide::create(d.path()).unwrap();
        let list = Cmd::dokku(["apps:list", "--format", "json"]);
        let calls = std::cell::Cell::new(0);
        let run = |_: &Cmd| {
            calls.set(calls.get() + 1);
            Ok(Some("[]".to_owned()))
        };
        h.query(&list, &run).unwrap();
        h.query(&list, &run).unwrap();
        assert_eq!(calls.get(), 1);
        h.invalidate(Some(&[Cmd::dokku(["config:set", "a", "K=v"])]));
        h.query(&list, &run).unwrap();
        assert_eq!(calls.get(), 1);
        h.invalidate(Some(&[Cmd::dokku(["apps:create", "a"])]));
        h.query(&list, &run).unwrap();
        assert_eq!(calls.get(), 2);
        assert_eq!(HostWide::open(d.path(), &h.id()), Some(h.clone()));
        h.remove();
        assert_eq!(HostWide::open(d.path(), &h.id()), None);
    }
}
