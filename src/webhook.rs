//! The webhook receiver (issue #9, docs/webhook.md): a small HTTP server that deploys a stack
//! when CI or a git host calls it, run by the `dokku-compose-webhook` binary behind the host's
//! nginx.
//!
//! - `POST /hooks/<app>` deploys the stack: `dokku compose:sync <app>` when it has a `sync-url`,
//!   else `dokku compose:up <app>` (argv, the `dokku` on `PATH`), with a timeout. It answers
//!   `202 {"stack", "queued", "joined"}` at once and does not wait for the deploy.
//! - `GET /hooks/<app>/status` (authenticated like a hook) returns the last deploy's outcome.
//! - `GET /healthz` answers `200` for load balancers and service managers.
//!
//! A hook is accepted only for a stack whose `webhook` property is `true` (else `403`), with the
//! stack's secret (`compose:webhook-secret`): `Authorization: Bearer`, `X-Dokku-Compose-Token`
//! or GitLab's `X-Gitlab-Token`, compared in constant time, or an HMAC-SHA256 of the body keyed
//! with it, GitHub's `X-Hub-Signature-256: sha256=<hex>` or Gitea's `X-Gitea-Signature: <hex>`
//! (else `401`). Bodies over the limit get `413` without being read further; a delivery id seen
//! within the replay window (`X-GitHub-Delivery`, `X-Gitea-Delivery`, `X-Gitlab-Event-UUID`,
//! `X-Dokku-Compose-Delivery`) gets `409`.
//!
//! Concurrent calls for one stack coalesce: at most one deploy runs and one waits per stack, and
//! a call while one waits joins it. Requests are served by a fixed number of threads and deploys
//! run on a fixed number of deploy workers.
//!
//! The receiver reads the plugin's properties straight from
//! `$DOKKU_LIB_ROOT/config/compose/<app>/<key>` (it runs as the dokku user) and never prints or
//! returns a secret.

use std::collections::{HashMap, VecDeque};
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// What can stop the receiver.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The listen address cannot be bound.
    #[error("cannot listen on `{addr}`: {reason}")]
    Bind {
        /// The address given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// Receiving a request failed.
    #[error("the HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The receiver's settings (the binary's flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:9099`; port 0 picks a free one).
    pub listen: String,
    /// `$DOKKU_LIB_ROOT`: the plugin's properties are under `config/compose`.
    pub lib_root: PathBuf,
    /// The `dokku` program: a name looked up on `PATH`, or a path with a `/` (an `OsString`:
    /// duct would run a bare `Path` from the current directory).
    pub dokku: std::ffi::OsString,
    /// How long a deploy may run before it is stopped (SIGTERM, then SIGKILL after `kill_grace`).
    pub deploy_timeout: Duration,
    /// Grace between SIGTERM and SIGKILL when a deploy times out (its apply rolls back).
    pub kill_grace: Duration,
    /// Threads answering requests.
    pub workers: usize,
    /// Deploys that may run at once (of different stacks).
    pub deploy_workers: usize,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a delivery id is remembered.
    pub replay_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9099".into(),
            lib_root: PathBuf::from("/var/lib/dokku"),
            dokku: "dokku".into(),
            deploy_timeout: Duration::from_secs(30 * 60),
            kill_grace: Duration::from_secs(60),
            workers: 4,
            deploy_workers: 2,
            max_body: 1024 * 1024,
            replay_window: Duration::from_secs(24 * 3600),
        }
    }
}

/// The outcome of one deploy, as `GET /hooks/<app>/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `compose:sync` or `compose:up`.
    pub command: String,
    /// Start, seconds since the epoch.
    pub started: u64,
    /// How long it ran.
    pub duration_ms: u64,
    /// Exit code (none when it was killed or could not start).
    pub exit: Option<i32>,
    /// Exit 0 within the timeout.
    pub ok: bool,
    /// Stopped by the deploy timeout.
    pub timed_out: bool,
}

impl Outcome {
    fn to_json(&self) -> Value {
        json!({"command": self.command, "started": self.started, "duration_ms": self.duration_ms, "exit": self.exit, "ok": self.ok, "timed_out": self.timed_out})
    }
}

#[derive(Debug, Default)]
struct StackState {
    running: bool,
    queued: bool,
    deploys: u64,
    last: Option<Outcome>,
}

#[derive(Debug, Default)]
struct Queue {
    stacks: HashMap<String, StackState>,
    ready: VecDeque<String>,
}

/// Per-stack coalescing deploy queue served by a fixed pool of deploy workers.
#[derive(Debug, Default)]
struct Deployer {
    state: Mutex<Queue>,
    wake: Condvar,
}

/// What a hook call did to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Triggered {
    /// A deploy of the stack is running or waiting: this call's deploy runs after it.
    queued: bool,
    /// A deploy was already waiting: this call joined it.
    joined: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Deployer {
    fn trigger(&self, stack: &str) -> Triggered {
        let mut q = lock(&self.state);
        let st = q.stacks.entry(stack.to_owned()).or_default();
        if st.queued {
            return Triggered { queued: true, joined: true };
        }
        st.queued = true;
        if st.running {
            // The worker running it re-queues the stack when it finishes.
            return Triggered { queued: true, joined: false };
        }
        q.ready.push_back(stack.to_owned());
        self.wake.notify_one();
        Triggered { queued: false, joined: false }
    }

    fn status(&self, stack: &str) -> Value {
        let q = lock(&self.state);
        match q.stacks.get(stack) {
            Some(st) => json!({"stack": stack, "running": st.running, "queued": st.queued, "deploys": st.deploys, "last": st.last.as_ref().map(Outcome::to_json)}),
            None => json!({"stack": stack, "running": false, "queued": false, "deploys": 0, "last": null}),
        }
    }

    /// One deploy worker: takes the next ready stack, deploys it, re-queues it if a call came
    /// in meanwhile.
    fn work(&self, config: &Config) {
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
                    q = self.wake.wait(q).unwrap_or_else(std::sync::PoisonError::into_inner);
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
fn deploy(config: &Config, stack: &str) -> Outcome {
    let verb = if prop(&config.lib_root, stack, "sync-url").is_some() { "compose:sync" } else { "compose:up" };
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let t0 = Instant::now();
    eprintln!("deploy {stack}: {} {verb} {stack} --wait", config.dokku.to_string_lossy());
    let expr = duct::cmd(&config.dokku, [verb, stack, "--wait"]).stdin_null().stderr_to_stdout().stdout_capture().unchecked();
    let (exit, timed_out) = match expr.start() {
        Err(e) => {
            eprintln!("deploy {stack}: cannot start `{}`: {e}", config.dokku.to_string_lossy());
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
    eprintln!("deploy {stack}: {} in {} ms (exit {:?}{})", if outcome.ok { "done" } else { "FAILED" }, outcome.duration_ms, exit, if timed_out { ", timed out" } else { "" });
    outcome
}

fn wait_with_timeout(handle: &duct::Handle, config: &Config, stack: &str) -> (Option<i32>, bool) {
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
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
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

/// Delivery ids seen within the replay window.
#[derive(Debug, Default)]
struct Replay {
    seen: Mutex<HashMap<String, Instant>>,
}

impl Replay {
    /// Records `key`; false when it was seen within `window`.
    fn fresh(&self, key: String, window: Duration) -> bool {
        let now = Instant::now();
        let mut seen = lock(&self.seen);
        if seen.len() > 4096 {
            seen.retain(|_, t| now.duration_since(*t) < window);
        }
        match seen.get(&key) {
            Some(t) if now.duration_since(*t) < window => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }
}

/// One property of the plugin (`config/compose/<scope>/<key>`), if set.
fn prop(lib_root: &Path, scope: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(lib_root.join("config/compose").join(scope).join(key)).ok().map(|v| v.trim_end_matches('\n').to_owned()).filter(|v| !v.is_empty())
}

/// The headers the credentials come in.
pub const TOKEN_HEADERS: &[&str] = &["X-Dokku-Compose-Token", "X-Gitlab-Token"];
/// The headers delivery ids come in.
pub const DELIVERY_HEADERS: &[&str] = &["X-Dokku-Compose-Delivery", "X-GitHub-Delivery", "X-Gitea-Delivery", "X-Gitlab-Event-UUID"];

/// Whether the request carries `secret`: a token compared in constant time, or a valid
/// HMAC-SHA256 of `body`. `header` looks a header up by name (case-insensitive).
pub fn authenticate<'h>(header: impl Fn(&str) -> Option<&'h str>, body: &[u8], secret: &str) -> bool {
    let token_ok = |t: &str| bool::from(t.as_bytes().ct_eq(secret.as_bytes()));
    let hmac_ok = |sig: &str| {
        let Ok(sig) = hex::decode(sig.trim()) else { return false };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    };
    let mut ok = false;
    if let Some(auth) = header("Authorization") {
        if let Some(t) = auth.strip_prefix("Bearer ") {
            ok |= token_ok(t.trim());
        }
    }
    for h in TOKEN_HEADERS {
        if let Some(t) = header(h) {
            ok |= token_ok(t.trim());
        }
    }
    if let Some(sig) = header("X-Hub-Signature-256") {
        ok |= sig.trim().strip_prefix("sha256=").is_some_and(hmac_ok);
    }
    if let Some(sig) = header("X-Gitea-Signature") {
        ok |= hmac_ok(sig);
    }
    ok
}

struct Shared {
    config: Config,
    deployer: Deployer,
    replay: Replay,
}

/// The receiver: bound, not yet serving.
pub struct Server {
    http: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listen", &self.local_addr()).finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listen address.
    pub fn bind(config: Config) -> Result<Self, WebhookError> {
        if config.workers == 0 || config.deploy_workers == 0 || config.max_body == 0 {
            return Err(WebhookError::Config("workers, deploy workers and the body limit must be positive".into()));
        }
        let http = tiny_http::Server::http(config.listen.as_str()).map_err(|e| WebhookError::Bind { addr: config.listen.clone(), reason: e.to_string() })?;
        Ok(Self { http: Arc::new(http), shared: Arc::new(Shared { config, deployer: Deployer::default(), replay: Replay::default() }) })
    }

    /// The address it listens on (the port chosen when the configured one is 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.http.server_addr().to_ip()
    }

    /// Serves until receiving fails; never returns otherwise.
    pub fn run(self) -> Result<(), WebhookError> {
        for _ in 0..self.shared.config.deploy_workers {
            let shared = Arc::clone(&self.shared);
            std::thread::spawn(move || shared.deployer.work(&shared.config));
        }
        let mut threads = Vec::new();
        for _ in 0..self.shared.config.workers {
            let (http, shared) = (Arc::clone(&self.http), Arc::clone(&self.shared));
            threads.push(std::thread::spawn(move || -> Result<(), std::io::Error> {
                loop {
                    let req = http.recv()?;
                    handle(&shared, req);
                }
            }));
        }
        for t in threads {
            if let Ok(Err(e)) = t.join() {
                return Err(e.into());
            }
        }
        Ok(())
    }
}

fn respond(req: tiny_http::Request, code: u16, body: &Value) {
    let line = format!("{} {} {code}", req.method(), req.url().split('?').next().unwrap_or(""));
    eprintln!("{line}");
    let mut resp = tiny_http::Response::from_string(body.to_string()).with_status_code(code);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        resp.add_header(h);
    }
    let _ = req.respond(resp);
}

fn error(req: tiny_http::Request, code: u16, stack: Option<&str>, message: &str) {
    respond(req, code, &json!({"error": message, "stack": stack}));
}

fn handle(shared: &Shared, req: tiny_http::Request) {
    let path = req.url().split('?').next().unwrap_or("").to_owned();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (&method, parts.as_slice()) {
        (tiny_http::Method::Get, ["healthz"]) => respond(req, 200, &json!({"ok": true})),
        (tiny_http::Method::Post, ["hooks", app]) => hook(shared, req, app),
        (tiny_http::Method::Get, ["hooks", app, "status"]) => status(shared, req, app),
        (_, ["hooks", ..]) => error(req, 405, None, "use POST /hooks/<app> or GET /hooks/<app>/status"),
        _ => error(req, 404, None, "not found"),
    }
}

fn header<'r>(req: &'r tiny_http::Request, name: &str) -> Option<&'r str> {
    req.headers().iter().find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
}

/// The checks every `/hooks/<app>` route shares: a stack that exists, has the webhook
/// enabled (for deploys) and a secret.
fn stack_secret(shared: &Shared, app: &str, need_enabled: bool) -> Result<String, (u16, String)> {
    let root = &shared.config.lib_root;
    let known = crate::model::is_valid_app_name(app) && (root.join("config/compose").join(app).is_dir() || root.join("data/compose").join(app).is_dir());
    if !known {
        return Err((404, format!("no stack `{app}` on this host")));
    }
    let enabled = prop(root, app, "webhook").or_else(|| prop(root, "--global", "webhook")).is_some_and(|v| v == "true");
    if need_enabled && !enabled {
        return Err((403, format!("webhook deploys are disabled for stack `{app}`: `dokku compose:set {app} webhook true` enables them")));
    }
    prop(root, app, "webhook-secret").ok_or_else(|| (403, format!("stack `{app}` has no webhook secret: `dokku compose:webhook-secret {app}` creates one")))
}

fn hook(shared: &Shared, mut req: tiny_http::Request, app: &str) {
    let max = shared.config.max_body;
    if req.body_length().is_some_and(|n| n > max) {
        return error(req, 413, Some(app), &format!("the body is larger than {max} bytes"));
    }
    let secret = match stack_secret(shared, app, true) {
        Ok(s) => s,
        Err((code, msg)) => return error(req, code, Some(app), &msg),
    };
    let mut body = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    if let Err(e) = req.as_reader().take(limit).read_to_end(&mut body) {
        return error(req, 400, Some(app), &format!("cannot read the body: {e}"));
    }
    if body.len() > max {
        return error(req, 413, Some(app), &format!("the body is larger than {max} bytes"));
    }
    if !authenticate(|h| header(&req, h), &body, &secret) {
        return error(req, 401, Some(app), "missing or invalid token or signature");
    }
    if let Some(id) = DELIVERY_HEADERS.iter().find_map(|h| header(&req, h)).map(str::to_owned) {
        if !shared.replay.fresh(format!("{app}\n{id}"), shared.config.replay_window) {
            return error(req, 409, Some(app), &format!("delivery `{id}` was already received"));
        }
    }
    let t = shared.deployer.trigger(app);
    respond(req, 202, &json!({"stack": app, "queued": t.queued, "joined": t.joined}));
}

fn status(shared: &Shared, req: tiny_http::Request, app: &str) {
    let secret = match stack_secret(shared, app, false) {
        Ok(s) => s,
        Err((code, msg)) => return error(req, code, Some(app), &msg),
    };
    if !authenticate(|h| header(&req, h), b"", &secret) {
        return error(req, 401, Some(app), "missing or invalid token or signature");
    }
    let body = shared.deployer.status(app);
    respond(req, 200, &body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn tokens_and_signatures() {
        let secret = "s3cret";
        let body = br#"{"ref":"refs/heads/main"}"#;
        let check = |headers: &[(&str, String)], body: &[u8]| authenticate(|n| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str()), body, secret);
        assert!(check(&[("Authorization", "Bearer s3cret".into())], body));
        assert!(check(&[("x-dokku-compose-token", "s3cret".into())], body));
        assert!(check(&[("X-Gitlab-Token", "s3cret".into())], body));
        assert!(check(&[("X-Hub-Signature-256", format!("sha256={}", sign(secret, body)))], body));
        assert!(check(&[("X-Gitea-Signature", sign(secret, body))], body));
        assert!(!check(&[], body));
        assert!(!check(&[("Authorization", "Bearer s3cre".into())], body));
        assert!(!check(&[("Authorization", "Basic s3cret".into())], body));
        assert!(!check(&[("X-Hub-Signature-256", format!("sha256={}", sign(secret, body)))], b"tampered"));
        assert!(!check(&[("X-Hub-Signature-256", sign(secret, body))], body), "the sha256= prefix is required");
        assert!(!check(&[("X-Gitea-Signature", "zz".into())], body));
    }

    #[test]
    fn calls_for_one_stack_coalesce() {
        let d = Deployer::default();
        assert_eq!(d.trigger("a"), Triggered { queued: false, joined: false });
        assert_eq!(d.trigger("a"), Triggered { queued: true, joined: true }, "not started yet: joins");
        // A worker takes it: the next call waits behind it, later ones join that one.
        let s = lock(&d.state).ready.pop_front().unwrap();
        {
            let mut q = lock(&d.state);
            let st = q.stacks.get_mut(&s).unwrap();
            st.queued = false;
            st.running = true;
        }
        assert_eq!(d.trigger("a"), Triggered { queued: true, joined: false });
        assert_eq!(d.trigger("a"), Triggered { queued: true, joined: true });
        assert!(lock(&d.state).ready.is_empty(), "re-queued by the worker when it finishes, not now");
        assert_eq!(d.trigger("b"), Triggered { queued: false, joined: false });
    }

    #[test]
    fn replayed_ids_within_the_window() {
        let r = Replay::default();
        assert!(r.fresh("a\n1".into(), Duration::from_secs(60)));
        assert!(!r.fresh("a\n1".into(), Duration::from_secs(60)));
        assert!(r.fresh("b\n1".into(), Duration::from_secs(60)));
        assert!(r.fresh("c\n1".into(), Duration::ZERO));
        assert!(r.fresh("c\n1".into(), Duration::ZERO));
    }
}
