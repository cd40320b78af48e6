//! The rollback: undoes journaled steps and effects, newest first.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::archive::ArchiveStore;
use super::error::{EffectError, RunError, UndoFailure};
use super::event::Event;
use super::executor::run_cmd;
use super::journal::{Entry, Journal, Revert, StepKind};
use super::runner::Runner;
use crate::dokku::Cmd;
use crate::plan::Undo;

/// Undoes one of the executor's own effects: puts a file's previous content (and mode) back or
/// removes it, removes a directory it created if empty, resets the release history. Each is
/// idempotent, so a resumed rollback may repeat it.
fn revert_effect(undo: &Revert) -> Result<(), EffectError> {
    match undo {
        // Already as it was (the effect never happened, or a resumed rollback did it): done,
        // even where nothing can be written now.
        Revert::File {
            file,
            previous: Some(bytes),
            previous_mode,
        } if std::fs::symlink_metadata(file).is_ok_and(|m| {
            m.is_file()
                && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
                    == *previous_mode
        }) && std::fs::read(file).is_ok_and(|b| &b == bytes) =>
        {
            Ok(())
        }
        Revert::File {
            file,
            previous: Some(bytes),
            previous_mode,
        } => crate::platform::write_atomic(file, bytes, *previous_mode)
            .map_err(|e| EffectError::io(file, e)),
        Revert::File {
            file,
            previous: None,
            ..
        } => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EffectError::io(file, e)),
            _ => Ok(()),
        },
        Revert::Dir { created_dir } => match std::fs::remove_dir(created_dir) {
            // Not empty: something else put a file there since; it stays.
            Err(e)
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty
                ) =>
            {
                Err(EffectError::io(created_dir, e))
            }
            _ => Ok(()),
        },
        Revert::Tree { tree, saved } => {
            let io = EffectError::io;
            let remove = |p: &std::path::Path| match std::fs::remove_dir_all(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(p, e)),
                _ => Ok(()),
            };
            match saved {
                // Already moved back (a resumed rollback), or never moved (nothing changed).
                Some(sv) if std::fs::symlink_metadata(sv).is_err() => Ok(()),
                Some(sv) => {
                    remove(tree)?;
                    std::fs::rename(sv, tree).map_err(|e| io(sv, e))
                }
                None => remove(tree),
            }
        }
        Revert::Kube { kube } => {
            super::kube::revert(kube).map_err(|e| EffectError::Kube(e.to_string()))
        }
        Revert::Release { store, head } => {
            super::releases::reset_history(store, head.as_deref()).map_err(EffectError::History)
        }
        Revert::Plan(_) => Ok(()),
    }
}

/// Undoes journaled steps, newest first: every setting, then the containers of apps that
/// still exist (their previous build context redeployed, or a restart). An undo that fails
/// for a step known to have finished is reported; for a step that failed or whose outcome is
/// unknown, a failing undo only means it had changed nothing.
pub(crate) fn rollback(
    entries: Vec<Entry>,
    runner: &dyn Runner,
    archives: &ArchiveStore,
    mut journal: Option<&mut Journal>,
    step_timeout: Option<Duration>,
    events: &(dyn Fn(&Event) + Sync),
) -> Vec<UndoFailure> {
    let mut failures = Vec::new();
    let todo: Vec<&Entry> = entries
        .iter()
        .rev()
        .filter(|e| !e.undo.irreversible() || e.finished)
        .collect();
    events(&Event::RollbackStarted { steps: todo.len() });
    let destroyed: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.kind == StepKind::CreateApp)
        .filter_map(|e| e.app.as_deref())
        .collect();
    let (containers, settings): (Vec<&Entry>, Vec<&Entry>) = todo
        .into_iter()
        .partition(|e| matches!(e.kind, StepKind::Deploy | StepKind::Restart));
    let (links, settings): (Vec<&Entry>, Vec<&Entry>) =
        settings.into_iter().partition(|e| e.kind == StepKind::Link);
    let containers = containers
        .into_iter()
        .filter(|e| !e.app.as_deref().is_some_and(|a| destroyed.contains(a)));
    for e in links.into_iter().chain(settings).chain(containers) {
        // A deploy that did not finish (it failed, or its outcome is unknown) is undone by
        // redeploying the previous build context; when that finds nothing to change (Dokku
        // rolled the failed deploy's source back), rebuilding the app's current, previous
        // source puts the previous image back, so a later restart cannot start the new one.
        let fallback = match (e.kind, e.finished, e.app.as_deref()) {
            (StepKind::Deploy, false, Some(app)) => Some(Cmd::dokku(["ps:rebuild", app])),
            _ => None,
        };
        // Path routing's include and static trees are effects journaled after their step:
        // newer, so they are back before the step's undo rebuilds the nginx config.
        let failed_before = failures.len();
        match &e.undo {
            Revert::Plan(Undo::Irreversible { reason }) => events(&Event::Irreversible {
                step: e.step.clone(),
                reason: reason.clone(),
            }),
            Revert::File { .. }
            | Revert::Dir { .. }
            | Revert::Tree { .. }
            | Revert::Kube { .. }
            | Revert::Release { .. } => {
                events(&Event::Undo {
                    step: e.step.clone(),
                    command: e.undo.describe(),
                });
                if let Err(error) = revert_effect(&e.undo) {
                    let error = RunError::Input {
                        argv: e.undo.describe(),
                        message: error.to_string(),
                    };
                    failures.push(undo_failed(&e.step, error, events));
                }
            }
            Revert::Plan(Undo::Commands { cmds }) => {
                let mut all_ok = true;
                for cmd in cmds {
                    events(&Event::Undo {
                        step: e.step.clone(),
                        command: cmd.to_string(),
                    });
                    let deadline = step_timeout.map(|t| Instant::now() + t);
                    if let Err(error) = run_cmd(runner, archives, cmd, deadline) {
                        all_ok = false;
                        if e.finished {
                            failures.push(undo_failed(&e.step, error, events));
                        }
                    }
                }
                if let (false, Some(cmd)) = (all_ok, fallback) {
                    events(&Event::Undo {
                        step: e.step.clone(),
                        command: cmd.to_string(),
                    });
                    let _ = run_cmd(
                        runner,
                        archives,
                        &cmd,
                        step_timeout.map(|t| Instant::now() + t),
                    );
                }
            }
        }
        // A step whose undo failed stays in the journal, for the next command to retry.
        if let (Some(j), true) = (journal.as_deref_mut(), failures.len() == failed_before) {
            // Losing this line only means a resumed rollback repeats an undo.
            let _ = j.undone(&e.step);
        }
    }
    if let (Some(j), true) = (journal, failures.is_empty()) {
        // The transaction is over. With failed undos the journal stays: the rollback is
        // incomplete, and the next command on the stack resumes it.
        let _ = j.finish_in_place();
        let _ = std::fs::remove_dir(archives.dir.with_file_name("undo"));
    }
    failures
}

/// Reports the failed undo of `step` and returns it.
fn undo_failed(step: &str, error: RunError, events: &(dyn Fn(&Event) + Sync)) -> UndoFailure {
    events(&Event::UndoFailed {
        step: step.to_owned(),
        error: error.to_string(),
    });
    UndoFailure {
        step: step.to_owned(),
        error,
    }
}
