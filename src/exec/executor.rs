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
use super::journal::{step_app, Entry, Journal, Revert, StepKind};
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
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            step_timeout: Some(Duration::from_secs(30 * 60)),
            apply_timeout: None,
        }
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
        if self.cancel.load(Ordering::SeqCst) || self.deadline.is_some_and(|d| Instant::now() >= d)
        {
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
            result = injected_failure(&step.id).map_or(Ok(()), |message| {
                Err(RunError::Input {
                    argv: step.run.masked_argv().join(" "),
                    message,
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

    /// One of the executor's own effects, journaled (its undo first) with the step's.
    fn effect(
        &self,
        id: &str,
        undo: Revert,
        effect: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), RunError> {
        let mut j = lock(&self.journal);
        let mut entries = lock(&self.entries);
        journaled_effect(&mut j, &mut entries, id, undo, effect).map_err(|(_, e)| e)
    }

    /// Where the trees an effect replaces are kept until the transaction ends.
    fn saved_tree(&self, id: &str, tree: &std::path::Path) -> Option<std::path::PathBuf> {
        let name: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::symlink_metadata(tree)
            .is_ok()
            .then(|| self.archives.dir.with_file_name("undo").join(name))
    }

    /// Replaces the tree `to` by `fill`'s, journaled: the previous tree is moved aside first.
    fn replace_tree(
        &self,
        id: &str,
        to: &std::path::Path,
        fill: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), RunError> {
        // Each missing parent directory is an effect of its own, removed by the undo.
        let mut missing = Vec::new();
        let mut next = to.parent();
        while let Some(d) = next.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            next = d.parent();
        }
        for d in missing.into_iter().rev() {
            self.effect(
                &format!("{id}/mkdir {}", d.display()),
                Revert::Dir {
                    created_dir: d.clone(),
                },
                || std::fs::create_dir(&d).map_err(|e| format!("`{}`: {e}", d.display())),
            )?;
        }
        let saved = self.saved_tree(id, to);
        let undo = Revert::Tree {
            tree: to.to_path_buf(),
            saved: saved.clone(),
        };
        self.effect(id, undo, || {
            let io = |p: &std::path::Path, e: std::io::Error| format!("`{}`: {e}", p.display());
            if let Some(sv) = &saved {
                let parent = sv.parent().unwrap_or(sv);
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                if std::fs::symlink_metadata(sv).is_ok() {
                    std::fs::remove_dir_all(sv).map_err(|e| io(sv, e))?;
                }
                std::fs::rename(to, sv).map_err(|e| io(to, e))?;
            }
            fill().map_err(|e| io(to, e))
        })
    }

    /// Path routing (issue 7): the static directories are copied and the app's nginx include
    /// written before the step rebuilds the app's nginx config; each is a journaled effect
    /// with what was there before (issue #14).
    fn write_nginx_include(&self, step: &Step) -> Result<(), RunError> {
        let Action::SetNginxInclude {
            app,
            content,
            statics,
            ..
        } = &step.action
        else {
            return Ok(());
        };
        let argv = step.run.masked_argv().join(" ");
        let input = |message: String| RunError::Input {
            argv: argv.clone(),
            message,
        };
        let source = &self.archives.source_dir;
        for s in statics {
            // Resolved inside the pushed source, and holding no link out of itself: nginx
            // serves what is copied here to anyone (issue #13).
            let from = crate::confine::resolve(source, std::path::Path::new(&s.from))
                .map_err(|e| input(format!("static directory: {e}")))?;
            if !from.is_dir() {
                return Err(input(format!(
                    "static directory `{}` is not a directory of the pushed source",
                    s.from
                )));
            }
            crate::confine::check_tree(source, std::path::Path::new(&s.from))
                .map_err(|e| input(format!("static directory: {e}")))?;
            let to = std::path::PathBuf::from(&s.to);
            self.replace_tree(&format!("{}/static {}", step.id, s.to), &to, || {
                copy_plain_tree(&from, &to)
            })?;
        }
        let path = crate::routing::include_path(&crate::dokku::env::dokku_root(), app);
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
            self.effect(
                &format!("{}/mkdir", step.id),
                Revert::Dir {
                    created_dir: dir.to_path_buf(),
                },
                || std::fs::create_dir(dir).map_err(|e| format!("`{}`: {e}", dir.display())),
            )?;
        }
        let previous = std::fs::read(&path).ok();
        let previous_mode = std::fs::metadata(&path).map_or(0o644, |m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
        });
        self.effect(
            &format!("{}/include", step.id),
            Revert::File {
                file: path.clone(),
                previous,
                previous_mode,
            },
            || {
                let written = if content.is_empty() {
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    }
                } else {
                    // Atomic, never through a link.
                    crate::platform::write_atomic(&path, content.as_bytes(), 0o644)
                };
                written.map_err(|e| format!("`{}`: {e}", path.display()))
            },
        )
    }

    /// Fills a storage entry created by this step with the pushed source's directory (or
    /// file) it replaces (a relative bind mount, docs/mapping.md "Volumes"), so the first
    /// container sees what compose would have mounted; later deploys keep what the app wrote.
    /// The entry's host path comes from `storage:info`; the copy is a journaled effect.
    fn seed_storage(&self, id: &str, name: &str, seed: &str) -> Result<(), RunError> {
        let archives = self.archives;
        let info = Cmd::dokku(["storage:info", name, "--format", "json"]);
        let argv = info.masked_argv().join(" ");
        let out = self.runner.run(&info, None, self.step_deadline())?;
        let path = serde_json::from_str::<serde_json::Value>(out.stdout.trim())
            .ok()
            .and_then(|v| {
                v.get("host_path")
                    .and_then(serde_json::Value::as_str)
                    .map(std::path::PathBuf::from)
            })
            .ok_or_else(|| RunError::Input {
                argv: argv.clone(),
                message: "no `host_path` in its output".into(),
            })?;
        // Resolved inside the pushed source, a tree without links out of it (issue #13); a
        // file is opened without following a link.
        let from = super::archive::source_path(&archives.source_dir, seed, archives.confined)
            .map_err(|e| RunError::Input {
                argv: argv.clone(),
                message: format!("seeding `{}` from `{seed}`: {e}", path.display()),
            })?;
        self.replace_tree(&format!("{id}/seed"), &path, || {
            if from.is_dir() {
                super::archive::copy_tree(&from, &path)
            } else {
                std::fs::create_dir_all(&path)?;
                let mut src = if archives.confined {
                    crate::platform::open_nofollow(&from)?
                } else {
                    std::fs::File::open(&from)?
                };
                let name = std::path::Path::new(seed).file_name().unwrap_or_default();
                // Never written through a link the app may have left in its storage.
                let mut dst = std::os::unix::fs::OpenOptionsExt::custom_flags(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true),
                    nix::libc::O_NOFOLLOW,
                )
                .open(path.join(name))?;
                std::io::copy(&mut src, &mut dst).map(|_| ())
            }
        })
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

/// Copies a directory tree of regular files (links are not copied: nginx serves the copy).
fn copy_plain_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type()?;
        if t.is_dir() {
            copy_plain_tree(&src, &dst)?;
        } else if t.is_file() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Runs one command, resolving its stdin (packing and saving a build context, or reading a
/// saved one).
fn run_cmd(
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
pub fn execute(
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

/// What runs once every step succeeded, still inside the transaction (the post-deploy
/// hooks, the release record): its failure, named, rolls everything back. Its own effects
/// are journaled through [`Effects`], so they are undone with the rest.
pub type After<'a> = &'a dyn Fn(&mut Effects<'_>) -> Result<(), (String, RunError)>;

/// The journal, as the code that runs after the steps sees it.
pub struct Effects<'a> {
    journal: &'a mut Journal,
    entries: &'a mut Vec<Entry>,
    /// The steps' timings.
    pub timings: &'a [StepTiming],
    /// When the apply started.
    pub started: Instant,
}

impl Effects<'_> {
    /// Journals an effect about to happen (its undo first), then runs it; the effect is
    /// undone with the rest of the apply if it or anything later fails.
    pub fn run<T>(
        &mut self,
        id: &str,
        undo: Revert,
        effect: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, (String, RunError)> {
        journaled_effect(self.journal, self.entries, id, undo, effect)
    }
}

/// The fault-injection tests kill the process right after an effect: with
/// `DOKKU_COMPOSE_PAUSE_AFTER_EFFECT=<id>` the apply waits (up to a minute) once effect `id` is
/// done, so a `kill -9` lands at that point of the transaction.
fn pause_for_fault_tests(id: &str) {
    if std::env::var("DOKKU_COMPOSE_PAUSE_AFTER_EFFECT").is_ok_and(|v| v == id) {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// The fault-injection tests fail an effect: with `DOKKU_COMPOSE_FAIL_AFTER_EFFECT=<id>`,
/// effect `id` is reported failed after it ran (the worst case for its undo: it happened).
fn injected_failure(id: &str) -> Option<String> {
    std::env::var("DOKKU_COMPOSE_FAIL_AFTER_EFFECT")
        .is_ok_and(|v| v == id)
        .then(|| format!("injected failure after effect `{id}`"))
}

/// Journals `undo` under `id`, runs `effect`, and records the outcome; the entry is pushed to
/// `entries` before the effect runs, so a rollback undoes it even when it failed halfway.
pub fn journaled_effect<T>(
    journal: &mut Journal,
    entries: &mut Vec<Entry>,
    id: &str,
    undo: Revert,
    effect: impl FnOnce() -> Result<T, String>,
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
        Err(message) => {
            let _ = journal.failed(id);
            Err(fail(message))
        }
    }
}

/// [`execute`], then `after` inside the transaction.
#[expect(
    clippy::too_many_arguments,
    reason = "the executor's inputs, each distinct"
)]
pub fn execute_then(
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
    let mut by_service: BTreeMap<&ServiceName, Vec<&Step>> = BTreeMap::new();
    let mut stack_steps: Vec<&Step> = Vec::new();
    for step in &plan.steps {
        match &step.service {
            Some(s) => by_service.entry(s).or_default().push(step),
            None => stack_steps.push(step),
        }
    }
    events(&Event::Started {
        stack: plan.stack.clone(),
        steps: plan.steps.len(),
        services: by_service.len(),
    });
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
    if !stack_steps.is_empty() {
        let _ = shared.run_service("stack", &stack_steps);
    }
    if !shared.halted() {
        schedule(plan, &by_service, &shared);
    }

    let Shared {
        journal,
        entries,
        timings,
        failure,
        journal_error,
        ..
    } = shared;
    let journal = journal
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = journal_error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        // Without a journal nothing may run, not even a rollback that could not be resumed.
        events(&Event::Finished {
            ok: false,
            duration: started.elapsed(),
        });
        return Err(e);
    }
    let mut failure = failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut entries = entries
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let timings = timings
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut aborted =
        cancel.load(Ordering::SeqCst) || opts.apply_timeout.is_some_and(|t| started.elapsed() >= t);
    if failure.is_none() && !aborted {
        if let Some(after) = after {
            let mut fx = Effects {
                journal: &mut *journal,
                entries: &mut entries,
                timings: &timings,
                started,
            };
            if let Err((name, e)) = after(&mut fx) {
                events(&Event::StepFailed {
                    step: name.clone(),
                    error: e.to_string(),
                });
                failure = Some((name, e));
            }
            aborted = cancel.load(Ordering::SeqCst);
        }
    }
    if failure.is_none() && !aborted {
        events(&Event::Finished {
            ok: true,
            duration: started.elapsed(),
        });
        return Ok(Outcome {
            steps: timings,
            duration: started.elapsed(),
        });
    }
    let undo_failures = rollback(
        entries,
        runner,
        archives,
        Some(journal),
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
    Err(match failure {
        Some((step, error)) => ExecError::StepFailed {
            step,
            error,
            undo_failures,
        },
        None => ExecError::Aborted {
            reason: if cancel.load(Ordering::SeqCst) {
                "interrupted by a signal".to_owned()
            } else {
                format!(
                    "timed out after {}s",
                    opts.apply_timeout.unwrap_or_default().as_secs()
                )
            },
            undo_failures,
        },
    })
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

/// Undoes one of the executor's own effects: puts a file's previous content (and mode) back or
/// removes it, removes a directory it created if empty, resets the release history. Each is
/// idempotent, so a resumed rollback may repeat it.
fn revert_effect(undo: &Revert) -> Result<(), String> {
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
            .map_err(|e| format!("`{}`: {e}", file.display())),
        Revert::File {
            file,
            previous: None,
            ..
        } => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("`{}`: {e}", file.display()))
            }
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
                Err(format!("`{}`: {e}", created_dir.display()))
            }
            _ => Ok(()),
        },
        Revert::Tree { tree, saved } => {
            let io = |p: &std::path::Path, e: std::io::Error| format!("`{}`: {e}", p.display());
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
        Revert::Release { store, head } => {
            super::releases::reset_history(store, head.as_deref()).map_err(|e| e.to_string())
        }
        Revert::Plan(_) => Ok(()),
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
            | Revert::Release { .. } => {
                events(&Event::Undo {
                    step: e.step.clone(),
                    command: e.undo.describe(),
                });
                if let Err(message) = revert_effect(&e.undo) {
                    let error = RunError::Input {
                        argv: e.undo.describe(),
                        message,
                    };
                    events(&Event::UndoFailed {
                        step: e.step.clone(),
                        error: error.to_string(),
                    });
                    failures.push(UndoFailure {
                        step: e.step.clone(),
                        error,
                    });
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
                            events(&Event::UndoFailed {
                                step: e.step.clone(),
                                error: error.to_string(),
                            });
                            failures.push(UndoFailure {
                                step: e.step.clone(),
                                error,
                            });
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
