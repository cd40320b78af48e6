//! The one place commands become processes (style R9, R10): duct, argv only, never a shell.
//! Standard output and error are captured; the status is checked here and turned into a
//! typed error that carries the masked argv, the status and the output.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::RunError;
use crate::dokku::Cmd;

/// What a finished command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// How long it ran.
    pub duration: Duration,
}

/// Runs commands. The executor runs steps of independent services from several threads.
pub trait Runner: Sync {
    /// Runs `cmd` with `stdin` (already resolved: the executor packs archives) and stops it
    /// at `deadline`. A non-zero exit is an error.
    fn run(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        deadline: Option<Instant>,
    ) -> Result<Output, RunError> {
        self.run_watched(cmd, stdin, deadline, &|_| {})
    }

    /// [`Runner::run`], telling `on_spawn` the process id once the command started (the
    /// journal records it, so a recovery waits for a command its killed parent left running).
    fn run_watched(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        deadline: Option<Instant>,
        on_spawn: &dyn Fn(u32),
    ) -> Result<Output, RunError>;

    /// Runs `cmd` and hands each line of its output (stdout and stderr together) to
    /// `on_line` as it comes (deploy hooks). By default the lines come after the command ends.
    fn run_streamed(
        &self,
        cmd: &Cmd,
        deadline: Option<Instant>,
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<(), RunError> {
        match self.run(cmd, None, deadline) {
            Ok(out) => {
                out.stdout
                    .lines()
                    .chain(out.stderr.lines())
                    .for_each(on_line);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// Variables git sets for hooks. A stack deploys inside the pre-receive hook of a push
/// (dokku-facts §c step 8), and the `dokku` commands it runs create and commit to *other*
/// apps' repositories: with these inherited, their objects would go to the pushed repository's
/// quarantine and their ref updates are refused ("ref updates forbidden inside quarantine
/// environment").
pub(crate) const GIT_HOOK_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_QUARANTINE_PATH",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PUSH_OPTION_COUNT",
];

/// The real runner: `duct`, each command in its own process group so that a timeout kills
/// everything it started and a terminal's Ctrl-C reaches only dokku-compose, which then
/// rolls back.
#[derive(Debug, Clone, Default)]
pub(crate) struct DuctRunner {
    /// The `dokku` executable; `None` looks it up on `PATH`.
    pub dokku: Option<PathBuf>,
    /// Extra environment for every command.
    pub env: Vec<(String, String)>,
}

impl Runner for DuctRunner {
    fn run_streamed(
        &self,
        cmd: &Cmd,
        deadline: Option<Instant>,
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<(), RunError> {
        self.streamed(cmd, deadline, on_line)
    }

    fn run_watched(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        deadline: Option<Instant>,
        on_spawn: &dyn Fn(u32),
    ) -> Result<Output, RunError> {
        let argv = cmd.masked_argv().join(" ");
        // An OsString, not a Path: duct runs a relative Path as `./name` instead of a PATH lookup.
        let mut expr = self.grouped(cmd).stdout_capture().stderr_capture();
        expr = match stdin {
            Some(bytes) => expr.stdin_bytes(bytes.to_vec()),
            None => expr.stdin_null(),
        };
        let started = Instant::now();
        let handle = expr.start().map_err(|e| spawn_error(&argv, &e))?;
        for pid in handle.pids() {
            on_spawn(pid);
        }
        let waited = match deadline {
            Some(d) => handle.wait_deadline(d),
            None => handle.wait().map(Some),
        };
        let out = match waited {
            Ok(Some(out)) => out.clone(),
            Ok(None) => {
                for pid in handle.pids() {
                    crate::platform::kill_group(pid);
                }
                let _ = handle.kill();
                return Err(RunError::Timeout {
                    argv,
                    timeout: deadline
                        .map_or(Duration::ZERO, |d| d.saturating_duration_since(started)),
                });
            }
            Err(e) => {
                return Err(RunError::Spawn {
                    argv,
                    message: e.to_string(),
                })
            }
        };
        let output = Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            duration: started.elapsed(),
        };
        if out.status.success() {
            Ok(output)
        } else {
            let mut text = output.stderr.clone();
            if text.trim().is_empty() {
                text.clone_from(&output.stdout);
            }
            Err(RunError::Status {
                argv,
                status: out.status.code().unwrap_or(-1),
                stderr: mask_text(cmd, &text),
            })
        }
    }
}

impl DuctRunner {
    /// The process for `cmd`: the `dokku` this runner uses, argv as given, git's hook
    /// variables removed, the runner's and the command's environment, its working directory;
    /// never a shell. Unchecked: callers read the status.
    fn expression(&self, cmd: &Cmd) -> duct::Expression {
        let program: std::ffi::OsString = match (&self.dokku, &*cmd.program) {
            (Some(p), "dokku") => p.clone().into_os_string(),
            _ => cmd.program.to_string().into(),
        };
        let mut expr = duct::cmd(program, &cmd.args).unchecked();
        for k in GIT_HOOK_VARS {
            expr = expr.env_remove(k);
        }
        for (k, v) in self.env.iter().chain(&cmd.env) {
            expr = expr.env(k, v);
        }
        if let Some(dir) = &cmd.cwd {
            expr = expr.dir(dir);
        }
        expr
    }

    /// [`Self::expression`] in a process group of its own, so that a timeout or a cancel
    /// stops the command and everything it started.
    fn grouped(&self, cmd: &Cmd) -> duct::Expression {
        self.expression(cmd).before_spawn(|c| {
            crate::platform::own_process_group(c);
            Ok(())
        })
    }

    fn streamed(
        &self,
        cmd: &Cmd,
        deadline: Option<Instant>,
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<(), RunError> {
        use std::io::BufRead as _;
        let argv = cmd.masked_argv().join(" ");
        let expr = self.grouped(cmd).stderr_to_stdout().stdin_null();
        let started = Instant::now();
        let reader = expr.reader().map_err(|e| spawn_error(&argv, &e))?;
        let pids = reader.pids();
        let done = std::sync::atomic::AtomicBool::new(false);
        let timed_out = std::sync::atomic::AtomicBool::new(false);
        let status = std::thread::scope(|scope| {
            if let Some(d) = deadline {
                let (done, timed_out, pids) = (&done, &timed_out, &pids);
                scope.spawn(move || {
                    while !done.load(std::sync::atomic::Ordering::SeqCst) {
                        if Instant::now() >= d {
                            timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                            for pid in pids {
                                crate::platform::kill_group(*pid);
                            }
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                });
            }
            let mut lines = std::io::BufReader::new(&reader);
            let mut line = String::new();
            let mut failed = None;
            loop {
                line.clear();
                match lines.read_line(&mut line) {
                    Ok(0) => break,
                    Ok(_) => on_line(&mask_text(cmd, line.trim_end_matches('\n'))),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            (failed, reader.try_wait().ok().flatten().map(|o| o.status))
        });
        if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RunError::Timeout {
                argv,
                timeout: deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(started)),
            });
        }
        match status {
            (None, Some(st)) if st.success() => Ok(()),
            (None, Some(st)) => Err(RunError::Status {
                argv,
                status: st.code().unwrap_or(-1),
                stderr: String::new(),
            }),
            (Some(e), _) => Err(RunError::Spawn {
                argv,
                message: e.to_string(),
            }),
            (None, None) => Err(RunError::Spawn {
                argv,
                message: "the command's status is unknown".into(),
            }),
        }
    }

    /// Runs `cmd` with the terminal's stdin, stdout and stderr (`compose:logs`, `compose:run`)
    /// and returns its exit code.
    pub(crate) fn stream(&self, cmd: &Cmd) -> Result<i32, RunError> {
        let argv = cmd.masked_argv().join(" ");
        let out = self
            .expression(cmd)
            .run()
            .map_err(|e| spawn_error(&argv, &e))?;
        Ok(out.status.code().unwrap_or(1))
    }
}

/// The command `argv` (masked) could not be started.
fn spawn_error(argv: &str, e: &std::io::Error) -> RunError {
    RunError::Spawn {
        argv: argv.to_owned(),
        message: e.to_string(),
    }
}

/// Removes any secret argument value of `cmd` from text a command printed (Dokku echoes some
/// values, e.g. in `config:set` errors).
pub(crate) fn mask_text(cmd: &Cmd, text: &str) -> String {
    let mut out = text.to_owned();
    let mut values = cmd.secret_values();
    // Longest first, so a secret that contains another is masked whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for value in values {
        if value.len() >= 3 {
            out = out.replace(value, crate::dokku::cmd::MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(args: &[&str]) -> Cmd {
        Cmd {
            program: "sh".into(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            secret: Vec::new(),
            stdin: None,
            env: Vec::new(),
            cwd: None,
        }
    }

    #[test]
    fn captures_output_and_checks_status() {
        let r = DuctRunner::default();
        let out = r
            .run(&sh(&["-c", "echo out; echo err >&2"]), None, None)
            .unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        let err = r
            .run(&sh(&["-c", "echo boom >&2; exit 3"]), None, None)
            .unwrap_err();
        assert_eq!(
            err,
            RunError::Status {
                argv: "sh -c echo boom >&2; exit 3".into(),
                status: 3,
                stderr: "boom\n".into()
            }
        );
        let out = r
            .run(&sh(&["-c", "cat"]), Some(b"stdin bytes"), None)
            .unwrap();
        assert_eq!(out.stdout, "stdin bytes");
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let r = DuctRunner::default();
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let script = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let err = r
            .run(
                &sh(&["-c", &script]),
                None,
                Some(Instant::now() + Duration::from_millis(200)),
            )
            .unwrap_err();
        assert!(matches!(err, RunError::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            !marker.exists(),
            "the background child of a timed-out command must be killed too"
        );
    }

    #[test]
    fn git_hook_variables_do_not_reach_commands() {
        let r = DuctRunner {
            dokku: None,
            env: vec![("KEEP".into(), "1".into())],
        };
        // Set in this test process as a hook would, it must not reach the command.
        std::env::set_var("GIT_QUARANTINE_PATH", "/quarantine");
        let mut c = sh(&["-c", "echo ${GIT_QUARANTINE_PATH:-none} $KEEP"]);
        c.args.push(String::new());
        let out = r.run(&c, None, None).unwrap().stdout;
        std::env::remove_var("GIT_QUARANTINE_PATH");
        assert_eq!(out, "none 1\n");
        assert!(GIT_HOOK_VARS.contains(&"GIT_OBJECT_DIRECTORY"));
    }

    #[test]
    fn streamed_lines_arrive_in_order_with_status_and_timeout() {
        let r = DuctRunner::default();
        let lines = std::sync::Mutex::new(Vec::new());
        r.run_streamed(
            &sh(&["-c", "echo one; echo two >&2; echo three"]),
            None,
            &|l| lines.lock().unwrap().push(l.to_owned()),
        )
        .unwrap();
        assert_eq!(*lines.lock().unwrap(), ["one", "two", "three"]);
        let err = r
            .run_streamed(&sh(&["-c", "echo bad; exit 4"]), None, &|_| {})
            .unwrap_err();
        assert!(matches!(err, RunError::Status { status: 4, .. }), "{err:?}");
        let started = Instant::now();
        let err = r
            .run_streamed(
                &sh(&["-c", "sleep 20"]),
                Some(Instant::now() + Duration::from_millis(200)),
                &|_| {},
            )
            .unwrap_err();
        assert!(
            matches!(err, RunError::Timeout { .. }) && started.elapsed() < Duration::from_secs(10),
            "{err:?}"
        );
        let mut c = sh(&["-c", "pwd; echo $HOOK_VAR"]);
        c.cwd = Some("/tmp".into());
        c.env = vec![("HOOK_VAR".into(), "set".into())];
        let lines = std::sync::Mutex::new(Vec::new());
        r.run_streamed(&c, None, &|l| lines.lock().unwrap().push(l.to_owned()))
            .unwrap();
        assert_eq!(*lines.lock().unwrap(), ["/tmp", "set"]);
    }

    #[test]
    fn secrets_are_masked_in_errors() {
        let cmd = Cmd::dokku(["config:set", "app"]).secret_arg("PW=hunter22");
        let masked = mask_text(&cmd, "invalid value hunter22 in PW=hunter22");
        assert!(!masked.contains("hunter22"), "{masked}");
        let mut c = sh(&["-c", "echo \"$0\" >&2; exit 1"]);
        c.args.push("hunter22".into());
        c.secret.push(2);
        let err = DuctRunner::default().run(&c, None, None).unwrap_err();
        assert!(!err.to_string().contains("hunter22"), "{err}");
    }
}
