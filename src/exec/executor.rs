//! Applies a plan (issue #5): stack steps first, then every service as soon as all its
//! dependencies finished, up to `concurrency` services at once. Each step's undo is journaled
//! before it runs. When a step fails, when the whole-apply timeout passes or when SIGTERM or
//! SIGINT arrive, no new step starts, the running ones finish, and the completed steps are
//! undone in reverse (style R12): settings first, then the containers (previous build
//! contexts redeployed, restarted apps restarted again) once every setting is back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::archive::ArchiveStore;
use super::effects::{injected_failure, pause_for_fault_tests};
pub(crate) use super::effects::{journaled_effect, After, Effects};
use super::error::{ExecError, RunError};
use super::event::Event;
use super::journal::{step_app, Entry, Journal, Revert, StepKind};
pub(crate) use super::rollback::rollback;
use super::runner::Runner;
use crate::dokku::Cmd;
use crate::model::ServiceName;
use crate::plan::{Action, Plan, Step};

/// How an apply runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// Services applied at once.
    pub concurrency: usize,
    /// Longest a single command may run.
    pub step_timeout: Option<Duration>,
    /// Longest the whole apply may run before it is aborted and rolled back.
    pub apply_timeout: Option<Duration>,
}

/// The default number of services applied at once: enough to overlap Dokku's per-command
/// latency, few enough not to swamp a small host with parallel builds.
pub(crate) const DEFAULT_CONCURRENCY: usize = 4;

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            step_timeout: Some(Duration::from_secs(30 * 60)),
            apply_timeout: None,
        }
    }
}

/// Timing of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepTiming {
    /// Step id.
    pub step: String,
    /// How long it ran.
    pub duration: Duration,
}

/// A finished apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Steps in the order they finished.
    pub steps: Vec<StepTiming>,
    /// Wall time.
    pub duration: Duration,
}

/// Everything a running apply shares between its threads.
pub(super) struct Shared<'a> {
    pub(super) runner: &'a dyn Runner,
    pub(super) archives: &'a ArchiveStore,
    pub(super) journal: Mutex<&'a mut Journal>,
    pub(super) events: &'a (dyn Fn(&Event) + Sync),
    pub(super) opts: &'a ExecOptions,
    pub(super) cancel: &'a AtomicBool,
    pub(super) deadline: Option<Instant>,
    /// Set when no new step may start.
    pub(super) stop: AtomicBool,
    /// Journaled steps in the order they began, with whether they finished.
    pub(super) entries: Mutex<Vec<Entry>>,
    pub(super) timings: Mutex<Vec<StepTiming>>,
    /// The first failure.
    pub(super) failure: Mutex<Option<(String, RunError)>>,
    pub(super) journal_error: Mutex<Option<ExecError>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stops a step before it starts.
enum Halt {
    /// Another step failed, or the apply was aborted.
    Stopped,
    /// This step failed.
    Failed,
}

impl Shared<'_> {
    fn halted(&self) -> bool {
        if self.cancel.load(Ordering::SeqCst) || self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.stop.load(Ordering::SeqCst)
    }

    pub(super) fn step_deadline(&self) -> Option<Instant> {
        let own = self.opts.step_timeout.map(|t| Instant::now() + t);
        match (own, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn journal<R>(&self, f: impl FnOnce(&mut Journal) -> Result<R, ExecError>) -> Result<R, Halt> {
        let mut j = lock(&self.journal);
        f(&mut j).map_err(|e| {
            self.stop.store(true, Ordering::SeqCst);
            lock(&self.journal_error).get_or_insert(e);
            Halt::Failed
        })
    }

    fn run_step(&self, step: &Step) -> Result<(), Halt> {
        if self.halted() {
            return Err(Halt::Stopped);
        }
        self.journal(|j| j.begin(step))?;
        lock(&self.entries).push(Entry {
            step: step.id.clone(),
            app: step_app(step),
            kind: StepKind::of(step),
            undo: Revert::Plan(step.undo.clone()),
            finished: false,
        });
        (self.events)(&Event::StepStarted {
            step: step.id.clone(),
            command: step.run.to_string(),
        });
        let started = Instant::now();
        let on_spawn = |pid: u32| {
            let _ = self.journal(|j| j.pid(&step.id, pid));
        };
        let mut result = self.write_nginx_include(step).and_then(|()| {
            run_cmd_watched(
                self.runner,
                self.archives,
                &step.run,
                self.step_deadline(),
                &on_spawn,
            )
        });
        if let (
            Ok(()),
            Action::CreateStorage {
                name,
                seed_from: Some(seed),
            },
        ) = (&result, &step.action)
        {
            result = self.seed_storage(&step.id, name, seed);
        }
        if result.is_ok() {
            result = injected_failure(&step.id).map_or(Ok(()), |e| {
                Err(RunError::Input {
                    argv: step.run.masked_argv().join(" "),
                    message: e.to_string(),
                })
            });
        }
        match result {
            Ok(()) => {
                self.journal(|j| j.done(&step.id))?;
                if let Some(e) = lock(&self.entries)
                    .iter_mut()
                    .rev()
                    .find(|e| e.step == step.id)
                {
                    e.finished = true;
                }
                pause_for_fault_tests(&step.id);
                let duration = started.elapsed();
                lock(&self.timings).push(StepTiming {
                    step: step.id.clone(),
                    duration,
                });
                (self.events)(&Event::StepFinished {
                    step: step.id.clone(),
                    duration,
                });
                Ok(())
            }
            Err(e) => {
                let _ = self.journal(|j| j.failed(&step.id));
                self.stop.store(true, Ordering::SeqCst);
                // Stopped by the whole-apply deadline: the apply timed out, the step did not fail.
                if matches!(e, RunError::Timeout { .. })
                    && self.deadline.is_some_and(|d| Instant::now() >= d)
                {
                    return Err(Halt::Stopped);
                }
                (self.events)(&Event::StepFailed {
                    step: step.id.clone(),
                    error: e.to_string(),
                });
                lock(&self.failure).get_or_insert((step.id.clone(), e));
                Err(Halt::Failed)
            }
        }
    }

    fn run_service(&self, service: &str, steps: &[&Step]) -> Result<(), Halt> {
        if self.halted() {
            return Err(Halt::Stopped);
        }
        (self.events)(&Event::ServiceStarted {
            service: service.to_owned(),
            steps: steps.len(),
        });
        let started = Instant::now();
        for step in steps {
            self.run_step(step)?;
        }
        (self.events)(&Event::ServiceFinished {
            service: service.to_owned(),
            duration: started.elapsed(),
        });
        Ok(())
    }
}

/// Runs one command, resolving its stdin (packing and saving a build context, or reading a
/// saved one).
pub(super) fn run_cmd(
    runner: &dyn Runner,
    archives: &ArchiveStore,
    cmd: &Cmd,
    deadline: Option<Instant>,
) -> Result<(), RunError> {
    run_cmd_watched(runner, archives, cmd, deadline, &|_| {})
}

fn run_cmd_watched(
    runner: &dyn Runner,
    archives: &ArchiveStore,
    cmd: &Cmd,
    deadline: Option<Instant>,
    on_spawn: &dyn Fn(u32),
) -> Result<(), RunError> {
    let stdin = match &cmd.stdin {
        Some(s) => Some(archives.bytes(s).map_err(|e| RunError::Input {
            argv: cmd.masked_argv().join(" "),
            message: e.to_string(),
        })?),
        None => None,
    };
    runner
        .run_watched(cmd, stdin.as_deref(), deadline, on_spawn)
        .map(|_| ())
}

/// Applies `plan`. On failure everything it did is rolled back, and the error says what
/// failed first and then which undo commands failed, if any.
pub(crate) fn execute(
    plan: &Plan,
    runner: &dyn Runner,
    archives: &ArchiveStore,
    journal: &mut Journal,
    opts: &ExecOptions,
    cancel: &AtomicBool,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<Outcome, ExecError> {
    execute_then(
        plan,
        runner,
        archives,
        journal,
        opts,
        cancel,
        events,
        Vec::new(),
        None,
    )
}

/// [`execute`], then `after` inside the transaction.
#[expect(
    clippy::too_many_arguments,
    reason = "the executor's inputs, each distinct"
)]
pub(crate) fn execute_then(
    plan: &Plan,
    runner: &dyn Runner,
    archives: &ArchiveStore,
    journal: &mut Journal,
    opts: &ExecOptions,
    cancel: &AtomicBool,
    events: &(dyn Fn(&Event) + Sync),
    prior: Vec<Entry>,
    after: Option<After<'_>>,
) -> Result<Outcome, ExecError> {
    let started = Instant::now();
    let shared = Shared {
        runner,
        archives,
        journal: Mutex::new(journal),
        events,
        opts,
        cancel,
        deadline: opts.apply_timeout.map(|t| started + t),
        stop: AtomicBool::new(false),
        entries: Mutex::new(prior),
        timings: Mutex::new(Vec::new()),
        failure: Mutex::new(None),
        journal_error: Mutex::new(None),
    };
    run_steps(plan, &shared);
    let mut ran = Ran::of(shared, started)?;
    let mut aborted = ran.aborted(started);
    if ran.failure.is_none() && !aborted {
        if let Some(after) = after {
            ran.after(after, started);
            aborted = cancel.load(Ordering::SeqCst);
        }
    }
    if ran.failure.is_none() && !aborted {
        events(&Event::Finished {
            ok: true,
            duration: started.elapsed(),
        });
        return Ok(Outcome {
            steps: ran.timings,
            duration: started.elapsed(),
        });
    }
    Err(ran.roll_back(started))
}

/// The stack's own steps first (in order), then every service in dependency order.
fn run_steps(plan: &Plan, shared: &Shared<'_>) {
    let mut by_service: BTreeMap<&ServiceName, Vec<&Step>> = BTreeMap::new();
    let mut stack_steps: Vec<&Step> = Vec::new();
    for step in &plan.steps {
        match &step.service {
            Some(s) => by_service.entry(s).or_default().push(step),
            None => stack_steps.push(step),
        }
    }
    (shared.events)(&Event::Started {
        stack: plan.stack.clone(),
        steps: plan.steps.len(),
        services: by_service.len(),
    });
    if !stack_steps.is_empty() {
        let _ = shared.run_service("stack", &stack_steps);
    }
    if !shared.halted() {
        schedule(plan, &by_service, shared);
    }
}

/// What the steps left: the journal, what ran, the first failure.
struct Ran<'a> {
    journal: &'a mut Journal,
    entries: Vec<Entry>,
    timings: Vec<StepTiming>,
    failure: Option<(String, RunError)>,
    runner: &'a dyn Runner,
    archives: &'a ArchiveStore,
    opts: &'a ExecOptions,
    cancel: &'a AtomicBool,
    events: &'a (dyn Fn(&Event) + Sync),
}

impl<'a> Ran<'a> {
    /// Takes the threads' shared state apart. Without a journal nothing may run, not even a
    /// rollback that could not be resumed: that is the error.
    fn of(shared: Shared<'a>, started: Instant) -> Result<Self, ExecError> {
        let Shared {
            runner,
            archives,
            journal,
            events,
            opts,
            cancel,
            entries,
            timings,
            failure,
            journal_error,
            ..
        } = shared;
        if let Some(e) = journal_error
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            events(&Event::Finished {
                ok: false,
                duration: started.elapsed(),
            });
            return Err(e);
        }
        Ok(Ran {
            journal: journal
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            entries: entries
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            timings: timings
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            failure: failure
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            runner,
            archives,
            opts,
            cancel,
            events,
        })
    }

    /// Stopped by a signal or the whole-apply timeout.
    fn aborted(&self, started: Instant) -> bool {
        self.cancel.load(Ordering::SeqCst)
            || self
                .opts
                .apply_timeout
                .is_some_and(|t| started.elapsed() >= t)
    }

    /// Runs `after` inside the transaction; its failure, named, is the apply's.
    fn after(&mut self, after: After<'_>, started: Instant) {
        let mut fx = Effects {
            journal: &mut *self.journal,
            entries: &mut self.entries,
            timings: &self.timings,
            started,
        };
        if let Err((name, e)) = after(&mut fx) {
            (self.events)(&Event::StepFailed {
                step: name.clone(),
                error: e.to_string(),
            });
            self.failure = Some((name, e));
        }
    }

    /// Rolls everything back and says why the apply did not finish.
    fn roll_back(self, started: Instant) -> ExecError {
        let (events, opts) = (self.events, self.opts);
        let undo_failures = rollback(
            self.entries,
            self.runner,
            self.archives,
            Some(self.journal),
            opts.step_timeout,
            events,
        );
        if undo_failures.is_empty() {
            events(&Event::Finished {
                ok: false,
                duration: started.elapsed(),
            });
        } else {
            let steps = undo_failures
                .iter()
                .map(|f| f.step.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            events(&Event::RollbackIncomplete {
                steps,
                duration: started.elapsed(),
            });
        }
        match self.failure {
            Some((step, error)) => ExecError::StepFailed {
                step,
                error,
                undo_failures,
            },
            None => ExecError::Aborted {
                reason: if self.cancel.load(Ordering::SeqCst) {
                    "interrupted by a signal".to_owned()
                } else {
                    format!(
                        "timed out after {}s",
                        opts.apply_timeout.unwrap_or_default().as_secs()
                    )
                },
                undo_failures,
            },
        }
    }
}

/// Starts each service once all its dependencies finished, name-ordered among the ready
/// ones, at most `concurrency` at a time.
fn schedule(plan: &Plan, by_service: &BTreeMap<&ServiceName, Vec<&Step>>, shared: &Shared<'_>) {
    let services: BTreeSet<&ServiceName> = plan
        .services
        .keys()
        .chain(by_service.keys().copied())
        .collect();
    let mut waiting: BTreeMap<&ServiceName, BTreeSet<&ServiceName>> = services
        .iter()
        .map(|s| {
            (
                *s,
                plan.dependencies
                    .get(*s)
                    .map(|d| d.iter().filter(|x| services.contains(x)).collect())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let no_steps: Vec<&Step> = Vec::new();
    let concurrency = shared.opts.concurrency.max(1);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(&ServiceName, bool)>();
        let mut running = 0usize;
        loop {
            // Services without steps finish at once; the others start while there is room.
            let mut progressed = true;
            while progressed {
                progressed = false;
                let ready: Vec<&ServiceName> = waiting
                    .iter()
                    .filter(|(_, d)| d.is_empty())
                    .map(|(s, _)| *s)
                    .collect();
                for s in ready {
                    let steps = by_service.get(s).unwrap_or(&no_steps);
                    if steps.is_empty() {
                        waiting.remove(s);
                        finish(&mut waiting, s);
                        progressed = true;
                    } else if running < concurrency && !shared.halted() {
                        waiting.remove(s);
                        running += 1;
                        let tx = tx.clone();
                        scope.spawn(move || {
                            let ok = shared.run_service(s.as_str(), steps).is_ok();
                            let _ = tx.send((s, ok));
                        });
                    }
                }
            }
            if running == 0 {
                break;
            }
            let Ok((s, ok)) = rx.recv() else { break };
            running -= 1;
            if ok {
                finish(&mut waiting, s);
            }
        }
    });
}

fn finish<'a>(
    waiting: &mut BTreeMap<&'a ServiceName, BTreeSet<&'a ServiceName>>,
    done: &ServiceName,
) {
    for deps in waiting.values_mut() {
        deps.remove(done);
    }
}
