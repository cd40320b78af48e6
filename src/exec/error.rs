//! What can go wrong while applying a plan (style R9, R12). Every message carries the masked
//! argv, never a secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A command that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// It could not be started.
    #[error("`{argv}` could not be started: {message}")]
    Spawn {
        /// The masked command line.
        argv: String,
        /// The OS error.
        message: String,
    },
    /// It exited non-zero.
    #[error("`{argv}` exited with status {status}{}", stderr_suffix(.stderr))]
    Status {
        /// The masked command line.
        argv: String,
        /// Exit status (-1 when killed by a signal).
        status: i32,
        /// Its standard error (and output), trimmed.
        stderr: String,
    },
    /// It ran longer than its timeout and was killed.
    #[error("`{argv}` did not finish within {}s and was stopped", .timeout.as_secs())]
    Timeout {
        /// The masked command line.
        argv: String,
        /// The limit.
        timeout: Duration,
    },
    /// Its input could not be prepared (the build context archive).
    #[error("the input of `{argv}` could not be prepared: {message}")]
    Input {
        /// The masked command line.
        argv: String,
        /// What went wrong.
        message: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{}", stderr.trim_end())
    }
}

/// One of the apply's own effects beside its Dokku commands (a file, a tree, the release
/// history, the post-deploy hooks) that failed, or its undo. Each variant shows its cause in
/// its own message (none is also a `source()`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EffectError {
    /// A file or directory operation.
    #[error("`{}`: {error}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The release history, doing `context`.
    #[error("{context}: {error}")]
    Release {
        /// What was being done (`cannot record the release`).
        context: &'static str,
        /// The store's error.
        error: super::releases::ReleaseError,
    },
    /// The release history could not be reset (an undo).
    #[error("{0}")]
    History(super::releases::ReleaseError),
    /// A post-deploy hook.
    #[error("{0}")]
    Hook(super::hooks::HookError),
    /// The cluster's objects (kubectl; issue 21).
    #[error("{0}")]
    Kube(String),
    /// `DOKKU_COMPOSE_FAIL_AFTER_EFFECT` (the fault-injection tests).
    #[error("injected failure after effect `{id}`")]
    Injected {
        /// The effect.
        id: String,
    },
}

impl EffectError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &Path, error: std::io::Error) -> Self {
        EffectError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// An undo command that failed during a rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoFailure {
    /// The step whose undo failed.
    pub step: String,
    /// Why.
    pub error: RunError,
}

/// Why an apply did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A step failed; the completed steps were rolled back.
    ///
    /// The message shows the command's error (with Dokku's output) itself, so it is not also
    /// a `source()`: a chain printed cause by cause shows it once.
    #[error("step `{step}` failed: {error}{}", undo_suffix(.undo_failures))]
    StepFailed {
        /// The step.
        step: String,
        /// The original error, reported first.
        error: RunError,
        /// Undo commands that failed afterwards.
        undo_failures: Vec<UndoFailure>,
    },
    /// The apply was stopped (SIGTERM/SIGINT or the whole-apply timeout) and rolled back.
    #[error("apply {reason}; completed steps were rolled back{}", undo_suffix(.undo_failures))]
    Aborted {
        /// `interrupted by a signal` or `timed out after Ns`.
        reason: String,
        /// Undo commands that failed.
        undo_failures: Vec<UndoFailure>,
    },
    /// The journal could not be written: nothing further runs.
    #[error("cannot write the apply journal `{path}`: {message}")]
    Journal {
        /// The journal file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

fn undo_suffix(failures: &[UndoFailure]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "\nthe rollback is incomplete: {} step(s) could not be undone; the journal is kept and the next command on the stack (a push, `compose:up`, `compose:rollback`, `apply`) resumes the rollback before anything else:",
        failures.len()
    );
    for f in failures {
        s.push_str(&format!("\n  undo of `{}`: {}", f.step, f.error));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No error of the chain repeats its cause: each either shows it or exposes it as
    /// `source()`, so a chain printed cause by cause shows Dokku's output once.
    fn assert_chain_once(err: &(dyn std::error::Error + 'static), marker: &str) {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(s) = e.source() {
                assert!(
                    !e.to_string().contains(&s.to_string()),
                    "`{e}` shows its source `{s}` and exposes it too"
                );
            }
            next = e.source();
        }
        let printed: String = std::iter::successors(Some(err), |e| e.source())
            .map(|e| format!("{e}\n"))
            .collect();
        assert_eq!(printed.matches(marker).count(), 1, "{printed}");
    }

    fn dokku_failed() -> RunError {
        RunError::Status {
            argv: "dokku git:from-archive shop-web".into(),
            status: 1,
            stderr: "Could not start due to 1 failed checks".into(),
        }
    }

    #[test]
    fn a_failed_step_shows_dokkus_output_once() {
        let e = ExecError::StepFailed {
            step: "web/deploy".into(),
            error: dokku_failed(),
            undo_failures: Vec::new(),
        };
        assert_chain_once(&e, "failed checks");
        let applied = crate::exec::apply::ApplyError::from(e);
        assert_chain_once(&applied, "failed checks");
        assert_eq!(
            format!("{:#}", anyhow::Error::from(applied))
                .matches("failed checks")
                .count(),
            1
        );
    }

    #[test]
    fn a_failed_hook_and_an_unreadable_key_show_their_cause_once() {
        let hook = crate::exec::hooks::HookError::Failed {
            name: "post/10-migrate".into(),
            error: dokku_failed(),
        };
        assert_chain_once(&hook, "failed checks");
        let key = crate::exec::secrets::SecretError::Io {
            path: "/x/host.key".into(),
            error: std::io::Error::other("disk on fire"),
        };
        assert_chain_once(&key, "disk on fire");
        let release = crate::exec::releases::ReleaseError::Secret(key);
        assert_chain_once(&release, "disk on fire");
    }
}
