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
use super::error::{ExecError, RunError, UndoFailure};
use super::event::Event;
use super::journal::{step_app, Entry, Journal, StepKind};
use super::runner::Runner;
use crate::dokku::Cmd;
use crate::model::ServiceName;
use crate::plan::{Action, Plan, Step, Undo};

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
pub const DEFAULT_CONCURRENCY: usize = 4;

impl Default for ExecOptions {
    fn default() -> Self {
        Self { concurrency: DEFAULT_CONCURRENCY, step_timeout: Some(Duration::from_secs(30 * 60)), apply_timeout: None }
    }
}

/// Timing of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTiming {
    /// Step id.
    pub step: String,
    /// How long it ran.
    pub duration: Duration,
}

/// A finished apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Steps in the order they finished.
    pub steps: Vec<StepTiming>,
    /// Wall time.
    pub duration: Duration,
}

/// Everything a running apply shares between its threads.
struct Shared<'a> {
    runner: &'a dyn Runner,
    archives: &'a ArchiveStore,
    journal: Mutex<&'a mut Journal>,
    events: &'a (dyn Fn(&Event) + Sync),
    opts: &'a ExecOptions,
    cancel: &'a AtomicBool,
    deadline: Option<Instant>,
    /// Set when no new step may start.
    stop: AtomicBool,
    /// Journaled steps in the order they began, with whether they finished.
    entries: Mutex<Vec<Entry>>,
    timings: Mutex<Vec<StepTiming>>,
    /// The first failure.
    failure: Mutex<Option<(String, RunError)>>,
    journal_error: Mutex<Option<ExecError>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
        if self.cancel.load(Ordering::SeqCst) || self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.stop.load(Ordering::SeqCst)
    }

    fn step_deadline(&self) -> Option<Instant> {
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
        lock(&self.entries).push(Entry { step: step.id.clone(), app: step_app(step), kind: StepKind::of(step), undo: step.undo.clone(), finished: false });
        (self.events)(&Event::StepStarted { step: step.id.clone(), command: step.run.to_string() });
        let started = Instant::now();
        let on_spawn = |pid: u32| {
            let _ = self.journal(|j| j.pid(&step.id, pid));
        };
        let mut result = write_nginx_include(self.archives, step).and_then(|()| run_cmd_watched(self.runner, self.archives, &step.run, self.step_deadline(), &on_spawn));
        if let (Ok(()), Action::CreateStorage { name, seed_from: Some(seed) }) = (&result, &step.action) {
            result = seed_storage(self.runner, self.archives, name, seed, self.step_deadline());
        }
        match result {
            Ok(()) => {
                self.journal(|j| j.done(&step.id))?;
                if let Some(e) = lock(&self.entries).iter_mut().rev().find(|e| e.step == step.id) {
                    e.finished = true;
                }
                let duration = started.elapsed();
                lock(&self.timings).push(StepTiming { step: step.id.clone(), duration });
                (self.events)(&Event::StepFinished { step: step.id.clone(), duration });
                Ok(())
            }
            Err(e) => {
                let _ = self.journal(|j| j.failed(&step.id));
                self.stop.store(true, Ordering::SeqCst);
                // Stopped by the whole-apply deadline: the apply timed out, the step did not fail.
                if matches!(e, RunError::Timeout { .. }) && self.deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Halt::Stopped);
                }
                (self.events)(&Event::StepFailed { step: step.id.clone(), error: e.to_string() });
                lock(&self.failure).get_or_insert((step.id.clone(), e));
                Err(Halt::Failed)
            }
        }
    }

    fn run_service(&self, service: &str, steps: &[&Step]) -> Result<(), Halt> {
        if self.halted() {
            return Err(Halt::Stopped);
        }
        (self.events)(&Event::ServiceStarted { service: service.to_owned(), steps: steps.len() });
        let started = Instant::now();
        for step in steps {
            self.run_step(step)?;
        }
        (self.events)(&Event::ServiceFinished { service: service.to_owned(), duration: started.elapsed() });
        Ok(())
    }
}

/// Fills a storage entry created by this step with the pushed source's directory (or file) it
/// replaces (a relative bind mount, docs/mapping.md "Volumes"), so the first container sees
/// what compose would have mounted; later deploys keep what the app wrote. The entry's host
/// path comes from `storage:info`.
fn seed_storage(runner: &dyn Runner, archives: &ArchiveStore, name: &str, seed: &str, deadline: Option<Instant>) -> Result<(), RunError> {
    let info = Cmd::dokku(["storage:info", name, "--format", "json"]);
    let argv = info.masked_argv().join(" ");
    let out = runner.run(&info, None, deadline)?;
    let path = serde_json::from_str::<serde_json::Value>(out.stdout.trim())
        .ok()
        .and_then(|v| v.get("path").and_then(serde_json::Value::as_str).map(std::path::PathBuf::from))
        .ok_or_else(|| RunError::Input { argv: argv.clone(), message: "no `path` in its output".into() })?;
    // Resolved inside the pushed source, a tree without links out of it (issue #13); a file
    // is opened without following a link.
    let copied = super::archive::source_path(&archives.source_dir, seed, archives.confined).and_then(|from| {
        if from.is_dir() {
            super::archive::copy_tree(&from, &path)
        } else {
            std::fs::create_dir_all(&path)?;
            let mut src = if archives.confined { crate::platform::open_nofollow(&from)? } else { std::fs::File::open(&from)? };
            let name = std::path::Path::new(seed).file_name().unwrap_or_default();
            // Never written through a link the app may have left in its storage.
            let mut dst = std::os::unix::fs::OpenOptionsExt::custom_flags(std::fs::OpenOptions::new().write(true).create(true).truncate(true), nix::libc::O_NOFOLLOW).open(path.join(name))?;
            std::io::copy(&mut src, &mut dst).map(|_| ())
        }
    });
    copied.map_err(|e| RunError::Input { argv, message: format!("seeding `{}` from `{seed}`: {e}", path.display()) })
}

/// Path routing (issue 7): writes the app's nginx include (and copies its static
/// directories) before the step that rebuilds the app's nginx config.
fn write_nginx_include(archives: &ArchiveStore, step: &Step) -> Result<(), RunError> {
    let Action::SetNginxInclude { app, content, statics, .. } = &step.action else { return Ok(()) };
    crate::routing::install(&crate::dokku::env::dokku_root(), &archives.source_dir, app, content, statics).map_err(|message| RunError::Input { argv: step.run.masked_argv().join(" "), message })
}

/// Runs one command, resolving its stdin (packing and saving a build context, or reading a
/// saved one).
fn run_cmd(runner: &dyn Runner, archives: &ArchiveStore, cmd: &Cmd, deadline: Option<Instant>) -> Result<(), RunError> {
    run_cmd_watched(runner, archives, cmd, deadline, &|_| {})
}

fn run_cmd_watched(runner: &dyn Runner, archives: &ArchiveStore, cmd: &Cmd, deadline: Option<Instant>, on_spawn: &dyn Fn(u32)) -> Result<(), RunError> {
    let stdin = match &cmd.stdin {
        Some(s) => {
            let app = cmd.args.iter().rev().nth(1).cloned().unwrap_or_default();
            Some(archives.bytes(&app, s).map_err(|e| RunError::Input { argv: cmd.masked_argv().join(" "), message: e.to_string() })?)
        }
        None => None,
    };
    runner.run_watched(cmd, stdin.as_deref(), deadline, on_spawn).map(|_| ())
}

/// Applies `plan`. On failure everything it did is rolled back, and the error says what
/// failed first and then which undo commands failed, if any.
pub fn execute(
    plan: &Plan,
    runner: &dyn Runner,
    archives: &ArchiveStore,
    journal: &mut Journal,
    opts: &ExecOptions,
    cancel: &AtomicBool,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<Outcome, ExecError> {
    execute_then(plan, runner, archives, journal, opts, cancel, events, None)
}

/// What runs once every step succeeded, still inside the transaction (the post-deploy
/// hooks): its failure, named, rolls everything back.
pub type After<'a> = &'a (dyn Fn() -> Result<(), (String, RunError)> + Sync);

/// [`execute`], then `after` inside the transaction.
#[expect(clippy::too_many_arguments, reason = "the executor's inputs, each distinct")]
pub fn execute_then(
    plan: &Plan,
    runner: &dyn Runner,
    archives: &ArchiveStore,
    journal: &mut Journal,
    opts: &ExecOptions,
    cancel: &AtomicBool,
    events: &(dyn Fn(&Event) + Sync),
    after: Option<After<'_>>,
) -> Result<Outcome, ExecError> {
    let started = Instant::now();
    let mut by_service: BTreeMap<&ServiceName, Vec<&Step>> = BTreeMap::new();
    let mut stack_steps: Vec<&Step> = Vec::new();
    for step in &plan.steps {
        match &step.service {
            Some(s) => by_service.entry(s).or_default().push(step),
            None => stack_steps.push(step),
        }
    }
    events(&Event::Started { stack: plan.stack.clone(), steps: plan.steps.len(), services: by_service.len() });
    let shared = Shared {
        runner,
        archives,
        journal: Mutex::new(journal),
        events,
        opts,
        cancel,
        deadline: opts.apply_timeout.map(|t| started + t),
        stop: AtomicBool::new(false),
        entries: Mutex::new(Vec::new()),
        timings: Mutex::new(Vec::new()),
        failure: Mutex::new(None),
        journal_error: Mutex::new(None),
    };
    if !stack_steps.is_empty() {
        let _ = shared.run_service("stack", &stack_steps);
    }
    if !shared.halted() {
        schedule(plan, &by_service, &shared);
    }

    let Shared { journal, entries, timings, failure, journal_error, .. } = shared;
    let journal = journal.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = journal_error.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        // Without a journal nothing may run, not even a rollback that could not be resumed.
        events(&Event::Finished { ok: false, duration: started.elapsed() });
        return Err(e);
    }
    let mut failure = failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut aborted = cancel.load(Ordering::SeqCst) || opts.apply_timeout.is_some_and(|t| started.elapsed() >= t);
    if failure.is_none() && !aborted {
        if let Some(after) = after {
            if let Err((name, e)) = after() {
                events(&Event::StepFailed { step: name.clone(), error: e.to_string() });
                failure = Some((name, e));
            }
            aborted = cancel.load(Ordering::SeqCst);
        }
    }
    if failure.is_none() && !aborted {
        events(&Event::Finished { ok: true, duration: started.elapsed() });
        let steps = timings.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        return Ok(Outcome { steps, duration: started.elapsed() });
    }
    let entries = entries.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let undo_failures = rollback(entries, runner, archives, Some(journal), opts.step_timeout, events);
    events(&Event::Finished { ok: false, duration: started.elapsed() });
    Err(match failure {
        Some((step, source)) => ExecError::StepFailed { step, source, undo_failures },
        None => ExecError::Aborted {
            reason: if cancel.load(Ordering::SeqCst) {
                "interrupted by a signal".to_owned()
            } else {
                format!("timed out after {}s", opts.apply_timeout.unwrap_or_default().as_secs())
            },
            undo_failures,
        },
    })
}

/// Starts each service once all its dependencies finished, name-ordered among the ready
/// ones, at most `concurrency` at a time.
fn schedule(plan: &Plan, by_service: &BTreeMap<&ServiceName, Vec<&Step>>, shared: &Shared<'_>) {
    let services: BTreeSet<&ServiceName> = plan.services.keys().chain(by_service.keys().copied()).collect();
    let mut waiting: BTreeMap<&ServiceName, BTreeSet<&ServiceName>> = services
        .iter()
        .map(|s| (*s, plan.dependencies.get(*s).map(|d| d.iter().filter(|x| services.contains(x)).collect()).unwrap_or_default()))
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
                let ready: Vec<&ServiceName> = waiting.iter().filter(|(_, d)| d.is_empty()).map(|(s, _)| *s).collect();
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

fn finish<'a>(waiting: &mut BTreeMap<&'a ServiceName, BTreeSet<&'a ServiceName>>, done: &ServiceName) {
    for deps in waiting.values_mut() {
        deps.remove(done);
    }
}

/// Undoes journaled steps, newest first: every setting, then the containers of apps that
/// still exist (their previous build context redeployed, or a restart). An undo that fails
/// for a step known to have finished is reported; for a step that failed or whose outcome is
/// unknown, a failing undo only means it had changed nothing.
pub fn rollback(
    entries: Vec<Entry>,
    runner: &dyn Runner,
    archives: &ArchiveStore,
    mut journal: Option<&mut Journal>,
    step_timeout: Option<Duration>,
    events: &(dyn Fn(&Event) + Sync),
) -> Vec<UndoFailure> {
    let mut failures = Vec::new();
    let todo: Vec<&Entry> = entries.iter().rev().filter(|e| !matches!(e.undo, Undo::Irreversible { .. }) || e.finished).collect();
    events(&Event::RollbackStarted { steps: todo.len() });
    let destroyed: BTreeSet<&str> = entries.iter().filter(|e| e.kind == StepKind::CreateApp).filter_map(|e| e.app.as_deref()).collect();
    let (containers, settings): (Vec<&Entry>, Vec<&Entry>) = todo.into_iter().partition(|e| matches!(e.kind, StepKind::Deploy | StepKind::Restart));
    let (links, settings): (Vec<&Entry>, Vec<&Entry>) = settings.into_iter().partition(|e| e.kind == StepKind::Link);
    let containers = containers.into_iter().filter(|e| !e.app.as_deref().is_some_and(|a| destroyed.contains(a)));
    for e in links.into_iter().chain(settings).chain(containers) {
        // A deploy that did not finish (it failed, or its outcome is unknown) is undone by
        // redeploying the previous build context; when that finds nothing to change (Dokku
        // rolled the failed deploy's source back), rebuilding the app's current, previous
        // source puts the previous image back, so a later restart cannot start the new one.
        let fallback = match (e.kind, e.finished, e.app.as_deref()) {
            (StepKind::Deploy, false, Some(app)) => Some(Cmd::dokku(["ps:rebuild", app])),
            _ => None,
        };
        if let (StepKind::NginxInclude, Some(app)) = (e.kind, e.app.as_deref()) {
            // Path routing (issue 7): the previous include is back before the undo rebuilds.
            if let Err(message) = crate::routing::restore(&crate::dokku::env::dokku_root(), app) {
                let error = RunError::Input { argv: format!("restore nginx include of `{app}`"), message };
                events(&Event::UndoFailed { step: e.step.clone(), error: error.to_string() });
                failures.push(UndoFailure { step: e.step.clone(), error });
            }
        }
        match &e.undo {
            Undo::Irreversible { reason } => events(&Event::Irreversible { step: e.step.clone(), reason: reason.clone() }),
            Undo::Commands { cmds } => {
                let mut all_ok = true;
                for cmd in cmds {
                    events(&Event::Undo { step: e.step.clone(), command: cmd.to_string() });
                    let deadline = step_timeout.map(|t| Instant::now() + t);
                    if let Err(error) = run_cmd(runner, archives, cmd, deadline) {
                        all_ok = false;
                        if e.finished {
                            events(&Event::UndoFailed { step: e.step.clone(), error: error.to_string() });
                            failures.push(UndoFailure { step: e.step.clone(), error });
                        }
                    }
                }
                if let (false, Some(cmd)) = (all_ok, fallback) {
                    events(&Event::Undo { step: e.step.clone(), command: cmd.to_string() });
                    let _ = run_cmd(runner, archives, &cmd, step_timeout.map(|t| Instant::now() + t));
                }
            }
        }
        if let Some(j) = journal.as_deref_mut() {
            // Losing this line only means a resumed rollback repeats an undo.
            let _ = j.undone(&e.step);
        }
    }
    if let Some(j) = journal {
        // The transaction is over either way; undo failures are reported to the operator.
        let _ = j.finish_in_place();
    }
    failures
}
