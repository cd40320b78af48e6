//! Effects beside the Dokku commands, journaled: [`journaled_effect`] writes an effect's undo
//! before it runs; [`Effects`] is the journal as the code that runs after the steps sees it
//! (the post-deploy hooks, the release record). The fault-injection hooks of the tests live
//! here too.

use std::time::{Duration, Instant};

use super::error::{EffectError, RunError};
use super::executor::StepTiming;
use super::journal::{Entry, Journal, Revert};

/// What runs once every step succeeded, still inside the transaction (the post-deploy
/// hooks, the release record): its failure, named, rolls everything back. Its own effects
/// are journaled through [`Effects`], so they are undone with the rest.
pub(crate) type After<'a> = &'a dyn Fn(&mut Effects<'_>) -> Result<(), (String, RunError)>;

/// The journal, as the code that runs after the steps sees it.
pub(crate) struct Effects<'a> {
    pub(super) journal: &'a mut Journal,
    pub(super) entries: &'a mut Vec<Entry>,
    /// The steps' timings.
    pub timings: &'a [StepTiming],
    /// When the apply started.
    pub started: Instant,
}

impl Effects<'_> {
    /// Journals an effect about to happen (its undo first), then runs it; the effect is
    /// undone with the rest of the apply if it or anything later fails.
    pub(crate) fn run<T>(
        &mut self,
        id: &str,
        undo: Revert,
        effect: impl FnOnce() -> Result<T, EffectError>,
    ) -> Result<T, (String, RunError)> {
        journaled_effect(self.journal, self.entries, id, undo, effect)
    }
}

/// The fault-injection tests kill the process right after an effect: with
/// `DOKKU_COMPOSE_PAUSE_AFTER_EFFECT=<id>` the apply waits (up to a minute) once effect `id` is
/// done, so a `kill -9` lands at that point of the transaction.
pub(super) fn pause_for_fault_tests(id: &str) {
    if std::env::var("DOKKU_COMPOSE_PAUSE_AFTER_EFFECT").is_ok_and(|v| v == id) {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// The fault-injection tests fail an effect: with `DOKKU_COMPOSE_FAIL_AFTER_EFFECT=<id>`,
/// effect `id` is reported failed after it ran (the worst case for its undo: it happened).
pub(super) fn injected_failure(id: &str) -> Option<EffectError> {
    std::env::var("DOKKU_COMPOSE_FAIL_AFTER_EFFECT")
        .is_ok_and(|v| v == id)
        .then(|| EffectError::Injected { id: id.to_owned() })
}

/// Journals `undo` under `id`, runs `effect`, and records the outcome; the entry is pushed to
/// `entries` before the effect runs, so a rollback undoes it even when it failed halfway.
pub(crate) fn journaled_effect<T>(
    journal: &mut Journal,
    entries: &mut Vec<Entry>,
    id: &str,
    undo: Revert,
    effect: impl FnOnce() -> Result<T, EffectError>,
) -> Result<T, (String, RunError)> {
    let fail = |message: String| {
        (
            id.to_owned(),
            RunError::Input {
                argv: id.to_owned(),
                message,
            },
        )
    };
    let entry = journal
        .begin_effect(id, undo)
        .map_err(|e| fail(e.to_string()))?;
    entries.push(entry);
    match effect().and_then(|v| injected_failure(id).map_or(Ok(v), Err)) {
        Ok(v) => {
            journal.done(id).map_err(|e| fail(e.to_string()))?;
            if let Some(e) = entries.last_mut() {
                e.finished = true;
            }
            pause_for_fault_tests(id);
            Ok(v)
        }
        Err(error) => {
            let _ = journal.failed(id);
            Err(fail(error.to_string()))
        }
    }
}
