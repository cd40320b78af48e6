//! The apply journal (issue #5 "Transactions"): before a step runs, its undo is appended to
//! `journal.jsonl` in the stack's data directory and synced to disk; after it ran, its
//! outcome. Undo commands can carry old config values, so they are sealed with the host key.
//! A journal left behind by a killed apply is read by the next command on the stack, which
//! finishes the rollback ([`pending`]). The file is removed when an apply or rollback ends.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ExecError;
use super::secrets::HostKey;
use crate::plan::{Action, Step, Undo};

/// What a step does to containers, which decides when its undo runs in a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepKind {
    /// `apps:create`: its undo destroys the app, so the app's redeploy is skipped.
    CreateApp,
    /// A deploy: undone (redeploying the previous build context) after every setting is back.
    Deploy,
    /// A restart: undone (restarting again) after every setting is back.
    Restart,
    /// A datastore link: undone first, while the config vars the link set (which
    /// `<plugin>:unlink` looks for) are still there.
    Link,
    /// Path routing's nginx include (issue 7): the executor restores the previous file
    /// before the undo rebuilds the app's nginx config.
    NginxInclude,
    /// A setting or a resource: undone in reverse order.
    Other,
}

impl StepKind {
    /// The kind of a planned step.
    pub(crate) fn of(step: &Step) -> Self {
        match step.action {
            Action::CreateApp { .. } => StepKind::CreateApp,
            Action::Deploy { .. } => StepKind::Deploy,
            Action::Restart { .. } => StepKind::Restart,
            Action::Link { .. } => StepKind::Link,
            Action::SetNginxInclude { .. } => StepKind::NginxInclude,
            _ => StepKind::Other,
        }
    }
}

/// The app a step changes, if any.
pub(crate) fn step_app(step: &Step) -> Option<String> {
    match &step.action {
        Action::CreateNetwork { .. }
        | Action::CreateStorage { .. }
        | Action::CreateDatastore { .. }
        | Action::UpgradeDatastore { .. }
        | Action::ExposeDatastore { .. }
        | Action::Prune { .. }
        | Action::Backup { .. } => None,
        Action::CreateApp { app }
        | Action::SetProperty { app, .. }
        | Action::AddDockerOption { app, .. }
        | Action::RemoveDockerOption { app, .. }
        | Action::SetPorts { app, .. }
        | Action::SetProxy { app, .. }
        | Action::SetDomains { app, .. }
        | Action::Mount { app, .. }
        | Action::Unmount { app, .. }
        | Action::Link { app, .. }
        | Action::SetNginxInclude { app, .. }
        | Action::SetConfig { app, .. }
        | Action::UnsetConfig { app, .. }
        | Action::Scale { app, .. }
        | Action::Resources { app, .. }
        | Action::Deploy { app, .. }
        | Action::Restart { app }
        | Action::RunOnce { app }
        | Action::EnableLetsencrypt { app } => Some(app.clone()),
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Line {
    Start {
        stack: String,
        pid: u32,
        what: String,
    },
    Begin {
        step: String,
        app: Option<String>,
        kind: StepKind,
        undo: String,
    },
    Pid {
        step: String,
        pid: u32,
    },
    Done {
        step: String,
    },
    Failed {
        step: String,
    },
    Undone {
        step: String,
    },
}

/// How a journaled effect is undone: a planned step's undo, or one of the executor's own
/// effects on files (issue #14), each with what was there before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Revert {
    /// A planned step's undo (Dokku commands, or nothing for an irreversible step).
    Plan(Undo),
    /// A file written: its previous content and mode, or `None` when there was none.
    File {
        /// The file.
        file: PathBuf,
        /// What it held before (`None`: it did not exist, and is removed).
        previous: Option<Vec<u8>>,
        /// Its mode before.
        previous_mode: u32,
    },
    /// A directory created: removed again when empty.
    Dir {
        /// The directory.
        created_dir: PathBuf,
    },
    /// A directory tree replaced (static directories, storage seeds): the new tree is
    /// removed and the previous one, moved aside to `saved` before, is moved back.
    Tree {
        /// The directory.
        tree: PathBuf,
        /// Where the previous tree was moved (`None`: there was none).
        saved: Option<PathBuf>,
    },
    /// The plugin-owned Kubernetes objects changed (issue 21): each put back as it was, or
    /// deleted when it did not exist (`exec::kube::revert`).
    Kube {
        /// The objects, as they were.
        kube: Vec<super::kube::KubeItem>,
    },
    /// A release recorded: the history's branch goes back to `head` (`None`: no release).
    Release {
        /// The release store.
        store: PathBuf,
        /// The branch's commit before.
        head: Option<String>,
    },
}

impl Revert {
    /// Whether it cannot be undone.
    pub(crate) fn irreversible(&self) -> bool {
        matches!(self, Revert::Plan(Undo::Irreversible { .. }))
    }

    /// How it is described in events (`restore /x/y`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Revert::Plan(Undo::Commands { cmds }) => cmds
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" && "),
            Revert::Plan(Undo::Irreversible { reason }) => format!("(irreversible) {reason}"),
            Revert::File {
                file,
                previous: Some(_),
                ..
            } => format!("restore `{}`", file.display()),
            Revert::File {
                file,
                previous: None,
                ..
            } => format!("remove `{}`", file.display()),
            Revert::Dir { created_dir } => format!("remove `{}` if empty", created_dir.display()),
            Revert::Tree {
                tree,
                saved: Some(_),
            } => format!("put the previous `{}` back", tree.display()),
            Revert::Tree { tree, saved: None } => format!("remove `{}`", tree.display()),
            Revert::Kube { kube } => format!(
                "put back {} cluster object(s): {}",
                kube.len(),
                kube.iter()
                    .map(|i| format!("{}/{}/{}", i.namespace, i.kind, i.name))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Revert::Release { store, head } => format!(
                "reset the history `{}` to {}",
                store.display(),
                head.as_deref().unwrap_or("no release")
            ),
        }
    }
}

/// A journaled step, as a rollback needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Step id.
    pub step: String,
    /// The app it changes.
    pub app: Option<String>,
    /// Its kind.
    pub kind: StepKind,
    /// How to undo it.
    pub undo: Revert,
    /// `true` when the step is known to have finished; `false` when it failed or its outcome
    /// is unknown (the process died while it ran): its undo is then tried, and a failure of
    /// that undo is not an error (the step may have changed nothing).
    pub finished: bool,
}

/// An open journal.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    key: HostKey,
}

fn err(path: &Path, e: impl std::fmt::Display) -> ExecError {
    ExecError::Journal {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Journal {
    /// Creates the journal of a new apply. Fails if one exists: it must be recovered first.
    pub(crate) fn create(
        path: &Path,
        key: HostKey,
        stack: &str,
        what: &str,
    ) -> Result<Self, ExecError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| err(path, e))?;
        let mut j = Journal {
            path: path.to_path_buf(),
            file,
            key,
        };
        j.write(&Line::Start {
            stack: stack.to_owned(),
            pid: crate::platform::pid(),
            what: what.to_owned(),
        })?;
        Ok(j)
    }

    /// Opens an existing journal to continue it (recovery).
    pub(crate) fn reopen(path: &Path, key: HostKey) -> Result<Self, ExecError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| err(path, e))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            key,
        })
    }

    fn write(&mut self, line: &Line) -> Result<(), ExecError> {
        let mut text = serde_json::to_string(line).map_err(|e| err(&self.path, e))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| err(&self.path, e))?;
        self.file.sync_data().map_err(|e| err(&self.path, e))
    }

    /// Records a step about to run, with its sealed undo.
    pub(crate) fn begin(&mut self, step: &Step) -> Result<(), ExecError> {
        self.begin_entry(
            &step.id,
            step_app(step),
            StepKind::of(step),
            &Revert::Plan(step.undo.clone()),
        )
    }

    /// Records one of the executor's own effects about to happen (a file written, a
    /// directory created, a release recorded), with its sealed undo; returns its entry.
    pub(crate) fn begin_effect(&mut self, id: &str, undo: Revert) -> Result<Entry, ExecError> {
        self.begin_entry(id, None, StepKind::Other, &undo)?;
        Ok(Entry {
            step: id.to_owned(),
            app: None,
            kind: StepKind::Other,
            undo,
            finished: false,
        })
    }

    fn begin_entry(
        &mut self,
        id: &str,
        app: Option<String>,
        kind: StepKind,
        undo: &Revert,
    ) -> Result<(), ExecError> {
        let undo = serde_json::to_vec(undo).map_err(|e| err(&self.path, e))?;
        let undo = self.key.seal(&undo);
        self.write(&Line::Begin {
            step: id.to_owned(),
            app,
            kind,
            undo,
        })
    }

    /// Records the process id of a step's running command.
    pub(crate) fn pid(&mut self, step: &str, pid: u32) -> Result<(), ExecError> {
        self.write(&Line::Pid {
            step: step.to_owned(),
            pid,
        })
    }

    /// Records that a step finished.
    pub(crate) fn done(&mut self, step: &str) -> Result<(), ExecError> {
        self.write(&Line::Done {
            step: step.to_owned(),
        })
    }

    /// Records that a step failed.
    pub(crate) fn failed(&mut self, step: &str) -> Result<(), ExecError> {
        self.write(&Line::Failed {
            step: step.to_owned(),
        })
    }

    /// Records that a step's undo ran (so a crash during the rollback does not repeat it).
    pub(crate) fn undone(&mut self, step: &str) -> Result<(), ExecError> {
        self.write(&Line::Undone {
            step: step.to_owned(),
        })
    }

    /// Ends the transaction: the journal is removed.
    pub(crate) fn finish(mut self) -> Result<(), ExecError> {
        self.finish_in_place()
    }

    /// Removes the journal file (the transaction ended); later writes go nowhere.
    pub(crate) fn finish_in_place(&mut self) -> Result<(), ExecError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(&self.path, e)),
        }
    }
}

/// What a journal left behind by an interrupted apply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The process that wrote it.
    pub pid: u32,
    /// What it was doing (`apply`, `rollback to v3`).
    pub what: String,
    /// Steps that began and were not undone yet, in the order they began.
    pub entries: Vec<Entry>,
    /// Process ids of commands of steps that had not finished: they may still be running.
    pub running: Vec<u32>,
}

/// Reads the journal at `path`, if there is one. A torn last line (the process died while
/// writing it) is ignored: its step had not started.
pub(crate) fn pending(path: &Path, key: &HostKey) -> Result<Option<Pending>, ExecError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, e)),
    };
    let mut p = Pending {
        pid: 0,
        what: String::new(),
        entries: Vec::new(),
        running: Vec::new(),
    };
    let mut pids: Vec<(String, u32)> = Vec::new();
    let mut undone: Vec<String> = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| err(path, e))?;
        let Ok(parsed) = serde_json::from_str::<Line>(&line) else {
            continue;
        };
        match parsed {
            Line::Start { pid, what, .. } => {
                p.pid = pid;
                p.what = what;
            }
            Line::Begin {
                step,
                app,
                kind,
                undo,
            } => {
                let plain = key.open(&undo).map_err(|e| err(path, e))?;
                let undo: Revert = serde_json::from_slice(&plain).map_err(|e| err(path, e))?;
                p.entries.push(Entry {
                    step,
                    app,
                    kind,
                    undo,
                    finished: false,
                });
            }
            Line::Done { step } => {
                if let Some(e) = p.entries.iter_mut().rev().find(|e| e.step == step) {
                    e.finished = true;
                }
            }
            Line::Pid { step, pid } => pids.push((step, pid)),
            Line::Failed { .. } => {}
            Line::Undone { step } => undone.push(step),
        }
    }
    p.entries.retain(|e| !undone.contains(&e.step));
    p.running = pids
        .into_iter()
        .filter(|(s, _)| p.entries.iter().any(|e| &e.step == s && !e.finished))
        .map(|(_, pid)| pid)
        .collect();
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dokku::Cmd;

    fn step(id: &str, action: Action, undo: Undo) -> Step {
        Step {
            id: id.into(),
            service: None,
            level: 0,
            action,
            run: Cmd::dokku(["x"]),
            reason: String::new(),
            undo,
        }
    }

    #[test]
    fn journal_round_trip_seals_undo_and_tracks_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let key = HostKey::from_bytes([7; 32]);
        let mut j = Journal::create(&path, key.clone(), "shop", "apply").unwrap();
        assert!(
            Journal::create(&path, key.clone(), "shop", "apply").is_err(),
            "a second journal must not replace the first"
        );
        let secret = Cmd::dokku(["config:set", "--no-restart", "shop-web"])
            .secret_arg("PW=old-secret-value");
        let a = step(
            "web/create",
            Action::CreateApp {
                app: "shop-web".into(),
            },
            Undo::Commands {
                cmds: vec![Cmd::dokku(["apps:destroy", "shop-web", "--force"])],
            },
        );
        let b = step(
            "web/config",
            Action::SetConfig {
                app: "shop-web".into(),
                keys: vec!["PW".into()],
            },
            Undo::Commands { cmds: vec![secret] },
        );
        let c = step(
            "web/deploy",
            Action::Deploy {
                app: "shop-web".into(),
                digest: "d".into(),
            },
            Undo::Irreversible { reason: "r".into() },
        );
        j.begin(&a).unwrap();
        j.done(&a.id).unwrap();
        j.begin(&b).unwrap();
        j.done(&b.id).unwrap();
        j.begin(&c).unwrap();
        j.undone(&a.id).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("old-secret-value"),
            "undo commands are sealed on disk"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        ) & 0o777;
        assert_eq!(mode, 0o600);
        // A torn last line is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"t\":\"begin\",\"st")
            .unwrap();
        let p = pending(&path, &key).unwrap().unwrap();
        assert_eq!(p.pid, std::process::id());
        assert_eq!(p.what, "apply");
        let got: Vec<(&str, bool, StepKind)> = p
            .entries
            .iter()
            .map(|e| (e.step.as_str(), e.finished, e.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("web/config", true, StepKind::Other),
                ("web/deploy", false, StepKind::Deploy)
            ]
        );
        assert_eq!(p.entries[0].undo, Revert::Plan(b.undo.clone()));
        assert!(
            pending(&path, &HostKey::from_bytes([8; 32])).is_err(),
            "another key cannot read it"
        );
        j.finish().unwrap();
        assert_eq!(pending(&path, &key).unwrap(), None);
    }
}
