use super::*;

#[derive(Debug, Default)]
pub(super) struct StackState {
    pub(super) running: bool,
    pub(super) queued: bool,
    pub(super) deploys: u64,
    pub(super) last: Option<Outcome>,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) stacks: HashMap<String, StackState>,
    pub(super) ready: VecDeque<String>,
}

/// Per-stack coalescing deploy queue served by a fixed pool of deploy workers.
#[derive(Debug, Default)]
pub(super) struct Deployer {
    pub(super) state: Mutex<Queue>,
    pub(super) wake: Condvar,
}

/// What a hook call did to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Triggered {
    /// A deploy of the stack is running or waiting: this call's deploy runs after it.
    pub(super) queued: bool,
    /// A deploy was already waiting: this call joined it.
    pub(super) joined: bool,
}

impl Deployer {
    pub(super) fn trigger(&self, stack: &str) -> Triggered {
        let mut q = lock(&self.state);
        let st = q.stacks.entry(stack.to_owned()).or_default();
        if st.queued {
            return Triggered {
                queued: true,
                joined: true,
            };
        }
        st.queued = true;
        if st.running {
            // The worker running it re-queues the stack when it finishes.
            return Triggered {
                queued: true,
                joined: false,
            };
        }
        q.ready.push_back(stack.to_owned());
        self.wake.notify_one();
        Triggered {
            queued: false,
            joined: false,
        }
    }

    pub(super) fn status(&self, stack: &str) -> Value {
        let q = lock(&self.state);
        match q.stacks.get(stack) {
            Some(st) => {
                json!({"stack": stack, "running": st.running, "queued": st.queued, "deploys": st.deploys, "last": st.last.as_ref().map(Outcome::to_json)})
            }
            None => {
                json!({"stack": stack, "running": false, "queued": false, "deploys": 0, "last": null})
            }
        }
    }

    /// One deploy worker: takes the next ready stack, deploys it, re-queues it if a call came
    /// in meanwhile.
    pub(super) fn work(&self, config: &Config) {
        loop {
            let stack = {
                let mut q = lock(&self.state);
                loop {
                    if let Some(s) = q.ready.pop_front() {
                        let st = q.stacks.entry(s.clone()).or_default();
                        st.queued = false;
                        st.running = true;
                        break s;
                    }
                    q = self
                        .wake
                        .wait(q)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let outcome = deploy(config, &stack);
            let mut q = lock(&self.state);
            let st = q.stacks.entry(stack.clone()).or_default();
            st.running = false;
            st.deploys += 1;
            st.last = Some(outcome);
            if st.queued {
                q.ready.push_back(stack);
                self.wake.notify_one();
            }
        }
    }
}

/// Runs one deploy of `stack` with the timeout; its output goes to the receiver's stderr.
pub(super) fn deploy(config: &Config, stack: &str) -> Outcome {
    let verb = if prop(&config.lib_root, stack, "sync-url").is_some() {
        "compose:sync"
    } else {
        "compose:up"
    };
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t0 = Instant::now();
    eprintln!(
        "deploy {stack}: {} {verb} {stack} --wait",
        config.dokku.to_string_lossy()
    );
    let expr = duct::cmd(&config.dokku, [verb, stack, "--wait"])
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked();
    let (exit, timed_out) = match expr.start() {
        Err(e) => {
            eprintln!(
                "deploy {stack}: cannot start `{}`: {e}",
                config.dokku.to_string_lossy()
            );
            (None, false)
        }
        Ok(handle) => wait_with_timeout(&handle, config, stack),
    };
    let outcome = Outcome {
        command: verb.into(),
        started,
        duration_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        exit,
        ok: exit == Some(0) && !timed_out,
        timed_out,
    };
    eprintln!(
        "deploy {stack}: {} in {} ms (exit {:?}{})",
        if outcome.ok { "done" } else { "FAILED" },
        outcome.duration_ms,
        exit,
        if timed_out { ", timed out" } else { "" }
    );
    outcome
}

pub(super) fn wait_with_timeout(
    handle: &duct::Handle,
    config: &Config,
    stack: &str,
) -> (Option<i32>, bool) {
    let deadline = Instant::now() + config.deploy_timeout;
    let mut timed_out = false;
    let mut killed_at: Option<Instant> = None;
    loop {
        match handle.try_wait() {
            Ok(Some(out)) => {
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    eprintln!("deploy {stack}: {line}");
                }
                return (if timed_out { None } else { out.status.code() }, timed_out);
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("deploy {stack}: {e}");
                return (None, timed_out);
            }
        }
        let now = Instant::now();
        match killed_at {
            None if now >= deadline => {
                // SIGTERM first: the apply rolls back and releases the stack's lock.
                timed_out = true;
                killed_at = Some(now);
                for pid in handle.pids() {
                    if let Ok(pid) = i32::try_from(pid) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGTERM,
                        );
                    }
                }
            }
            Some(at) if now >= at + config.kill_grace => {
                let _ = handle.kill();
                return (None, true);
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
