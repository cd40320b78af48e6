//! What the executor reports while it runs (style R11); `crate::report` renders it.

use std::time::Duration;

/// One thing that happened during an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The apply starts.
    Started {
        /// Stack.
        stack: String,
        /// Steps to run.
        steps: usize,
        /// Services with steps.
        services: usize,
    },
    /// Nothing to do: the host and the release match the compose file; no release is made.
    UpToDate {
        /// Stack.
        stack: String,
    },
    /// A service's steps start (its dependencies are done).
    ServiceStarted {
        /// Compose service (`stack` for networks and storage).
        service: String,
        /// Its steps.
        steps: usize,
    },
    /// A step starts.
    StepStarted {
        /// Step id.
        step: String,
        /// The masked, shell-quoted command.
        command: String,
    },
    /// A step finished.
    StepFinished {
        /// Step id.
        step: String,
        /// How long it took.
        duration: Duration,
    },
    /// A step failed.
    StepFailed {
        /// Step id.
        step: String,
        /// The error (masked).
        error: String,
    },
    /// All of a service's steps finished.
    ServiceFinished {
        /// Compose service.
        service: String,
        /// How long its steps took.
        duration: Duration,
    },
    /// The rollback starts.
    RollbackStarted {
        /// Steps to undo.
        steps: usize,
    },
    /// An undo command runs.
    Undo {
        /// The step being undone.
        step: String,
        /// The masked command.
        command: String,
    },
    /// A step has no undo.
    Irreversible {
        /// The step.
        step: String,
        /// Why.
        reason: String,
    },
    /// An undo command failed.
    UndoFailed {
        /// The step.
        step: String,
        /// The error.
        error: String,
    },
    /// A line a deploy hook printed.
    Output {
        /// The hook.
        source: String,
        /// The line (secret arguments masked).
        line: String,
    },
    /// The apply ended.
    Finished {
        /// Whether it succeeded.
        ok: bool,
        /// Wall time.
        duration: Duration,
    },
    /// The apply failed and its rollback could not undo every step: the journal is kept and
    /// the next command on the stack resumes the rollback.
    RollbackIncomplete {
        /// The steps whose undo failed.
        steps: Vec<String>,
        /// Wall time.
        duration: Duration,
    },
}
