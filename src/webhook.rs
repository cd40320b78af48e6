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
//! (else `401`). Replays within the replay window get `409`: a signed body seen before, whatever
//! its delivery id, and a delivery id seen before (`X-GitHub-Delivery`, `X-Gitea-Delivery`,
//! `X-Gitlab-Event-UUID`, `X-Dokku-Compose-Delivery`).
//!
//! Hostile clients are bounded: one thread holds every connection (non-blocking sockets) until
//! its request is read in full, so a slow or idle client never holds a worker. The request head
//! is limited in size (`431`) and time, the body in size (`413`, by `Content-Length` before it is
//! read) and time (`408`), silence on a connection closes it, and past the connection limit a new
//! connection first evicts the oldest one still sending its request, else is refused at once
//! (`503`). `GET /healthz` is answered by that thread itself. Every answer closes the connection.
//!
//! Concurrent calls for one stack coalesce: at most one deploy runs and one waits per stack, and
//! a call while one waits joins it. Complete requests are answered by a fixed number of threads
//! and deploys run on a fixed number of deploy workers.
//!
//! The receiver reads the plugin's properties straight from
//! `$DOKKU_LIB_ROOT/config/compose/<app>/<key>` (it runs as the dokku user) and never prints or
//! returns a secret.

use std::collections::{HashMap, VecDeque};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use mio::{Events, Interest, Poll, Token, Waker};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
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
    /// Threads answering complete requests.
    pub workers: usize,
    /// Deploys that may run at once (of different stacks).
    pub deploy_workers: usize,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a signed body and a delivery id are remembered.
    pub replay_window: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header: usize,
    /// Connections open at once.
    pub max_connections: usize,
    /// How long the request head may take to arrive, from the connection.
    pub header_timeout: Duration,
    /// How long the body may take to arrive, after the head.
    pub body_timeout: Duration,
    /// Longest silence on a connection (before its request is complete, or while the answer
    /// cannot be written).
    pub idle_timeout: Duration,
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
            max_header: 16 * 1024,
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
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

    fn status(&self, stack: &str) -> Value {
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
fn deploy(config: &Config, stack: &str) -> Outcome {
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

/// Digests of authenticated deliveries (signed bodies and delivery ids) seen within the replay
/// window. Only digests are kept, never a header or a body.
#[derive(Debug, Default)]
struct Replay {
    seen: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Replay {
    /// Records every key when none of them was seen within `window`; else records nothing and
    /// returns the index of the first key seen.
    fn check(&self, keys: &[[u8; 32]], window: Duration) -> Result<(), usize> {
        let now = Instant::now();
        let mut seen = lock(&self.seen);
        if seen.len() > 4096 {
            seen.retain(|_, t| now.duration_since(*t) < window);
        }
        if let Some(i) = keys
            .iter()
            .position(|k| seen.get(k).is_some_and(|t| now.duration_since(*t) < window))
        {
            return Err(i);
        }
        for k in keys {
            seen.insert(*k, now);
        }
        Ok(())
    }
}

/// SHA-256 of length-prefixed parts (so no two lists of parts share a digest).
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// One property of the plugin (`config/compose/<scope>/<key>`), if set.
fn prop(lib_root: &Path, scope: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(lib_root.join("config/compose").join(scope).join(key))
        .ok()
        .map(|v| v.trim_end_matches('\n').to_owned())
        .filter(|v| !v.is_empty())
}

/// The headers the credentials come in.
pub const TOKEN_HEADERS: &[&str] = &["X-Dokku-Compose-Token", "X-Gitlab-Token"];
/// The headers delivery ids come in.
pub const DELIVERY_HEADERS: &[&str] = &[
    "X-Dokku-Compose-Delivery",
    "X-GitHub-Delivery",
    "X-Gitea-Delivery",
    "X-Gitlab-Event-UUID",
];

/// How a request proved it knows the stack's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The secret itself (bearer or token header).
    Token,
    /// An HMAC-SHA256 of the body keyed with the secret (GitHub, Gitea); it wins over a token
    /// sent alongside, so the signed body is replay-protected.
    Signature,
}

/// How the request carries `secret`, if it does: a token compared in constant time, or a valid
/// HMAC-SHA256 of `body`. `header` looks a header up by name (case-insensitive).
pub fn authenticate<'h>(
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    secret: &str,
) -> Option<Credential> {
    let token_ok = |t: &str| bool::from(t.as_bytes().ct_eq(secret.as_bytes()));
    let hmac_ok = |sig: &str| {
        let Ok(sig) = hex::decode(sig.trim()) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    };
    let (mut token, mut signature) = (false, false);
    if let Some(auth) = header("Authorization") {
        if let Some(t) = auth.strip_prefix("Bearer ") {
            token |= token_ok(t.trim());
        }
    }
    for h in TOKEN_HEADERS {
        if let Some(t) = header(h) {
            token |= token_ok(t.trim());
        }
    }
    if let Some(sig) = header("X-Hub-Signature-256") {
        signature |= sig.trim().strip_prefix("sha256=").is_some_and(hmac_ok);
    }
    if let Some(sig) = header("X-Gitea-Signature") {
        signature |= hmac_ok(sig);
    }
    if signature {
        Some(Credential::Signature)
    } else if token {
        Some(Credential::Token)
    } else {
        None
    }
}

struct Shared {
    config: Config,
    deployer: Deployer,
    replay: Replay,
}

/// The receiver: bound, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listen address.
    pub fn bind(config: Config) -> Result<Self, WebhookError> {
        let zero_time = [
            config.header_timeout,
            config.body_timeout,
            config.idle_timeout,
        ]
        .contains(&Duration::ZERO);
        if config.workers == 0
            || config.deploy_workers == 0
            || config.max_body == 0
            || config.max_connections == 0
            || config.max_header < 256
            || zero_time
        {
            return Err(WebhookError::Config("workers, deploy workers, the connection limit, the body limit and the timeouts must be positive, the header limit at least 256 bytes".into()));
        }
        let listener = std::net::TcpListener::bind(config.listen.as_str()).map_err(|e| {
            WebhookError::Bind {
                addr: config.listen.clone(),
                reason: e.to_string(),
            }
        })?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                deployer: Deployer::default(),
                replay: Replay::default(),
            }),
        })
    }

    /// The address it listens on (the port chosen when the configured one is 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until polling the sockets fails; never returns otherwise.
    pub fn run(self) -> Result<(), WebhookError> {
        for _ in 0..self.shared.config.deploy_workers {
            let shared = Arc::clone(&self.shared);
            std::thread::spawn(move || shared.deployer.work(&shared.config));
        }
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..self.shared.config.workers {
            let (shared, jobs, done, waker) = (
                Arc::clone(&self.shared),
                Arc::clone(&job_rx),
                done_tx.clone(),
                Arc::clone(&waker),
            );
            std::thread::spawn(move || loop {
                let next = lock(&jobs).recv();
                let Ok(job) = next else { return };
                let (code, body) = handle(&shared, &job.request);
                if done
                    .send(Done {
                        conn: job.conn,
                        code,
                        body,
                    })
                    .is_err()
                {
                    return;
                }
                let _ = waker.wake();
            });
        }
        let mut listener = mio::net::TcpListener::from_std(self.listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut io = Io {
            shared: self.shared,
            poll,
            listener,
            conns: HashMap::new(),
            next: FIRST_CONN,
            jobs: job_tx,
            done: done_rx,
            refused: 0,
            refused_logged: Instant::now(),
        };
        Ok(io.serve()?)
    }
}

/// A request as the handlers see it (read in full, within the limits).
#[derive(Debug)]
struct Request {
    method: String,
    /// The path, without the query.
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// The first header `name` (case-insensitive).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route<'p> {
    Health,
    Hook(&'p str),
    Status(&'p str),
    WrongMethod,
    NotFound,
}

fn route<'p>(method: &str, path: &'p str) -> Route<'p> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["healthz"]) => Route::Health,
        ("POST", ["hooks", app]) => Route::Hook(app),
        ("GET", ["hooks", app, "status"]) => Route::Status(app),
        (_, ["hooks", ..]) => Route::WrongMethod,
        _ => Route::NotFound,
    }
}

fn error(code: u16, stack: Option<&str>, message: &str) -> (u16, Value) {
    (code, json!({"error": message, "stack": stack}))
}

/// Answers a request read in full (on a request worker).
fn handle(shared: &Shared, req: &Request) -> (u16, Value) {
    match route(&req.method, &req.path) {
        Route::Health => (200, json!({"ok": true})),
        Route::Hook(app) => hook(shared, req, app),
        Route::Status(app) => status(shared, req, app),
        Route::WrongMethod => error(
            405,
            None,
            "use POST /hooks/<app> or GET /hooks/<app>/status",
        ),
        Route::NotFound => error(404, None, "not found"),
    }
}

/// The checks every `/hooks/<app>` route shares: a stack that exists, has the webhook
/// enabled (for deploys) and a secret.
fn stack_secret(shared: &Shared, app: &str, need_enabled: bool) -> Result<String, (u16, String)> {
    let root = &shared.config.lib_root;
    let known = crate::model::is_valid_app_name(app)
        && (root.join("config/compose").join(app).is_dir()
            || root.join("data/compose").join(app).is_dir());
    if !known {
        return Err((404, format!("no stack `{app}` on this host")));
    }
    let enabled = prop(root, app, "webhook")
        .or_else(|| prop(root, "--global", "webhook"))
        .is_some_and(|v| v == "true");
    if need_enabled && !enabled {
        return Err((403, format!("webhook deploys are disabled for stack `{app}`: `dokku compose:set {app} webhook true` enables them")));
    }
    prop(root, app, "webhook-secret").ok_or_else(|| (403, format!("stack `{app}` has no webhook secret: `dokku compose:webhook-secret {app}` creates one")))
}

fn hook(shared: &Shared, req: &Request, app: &str) -> (u16, Value) {
    let secret = match stack_secret(shared, app, true) {
        Ok(s) => s,
        Err((code, msg)) => return error(code, Some(app), &msg),
    };
    let Some(credential) = authenticate(|h| req.header(h), &req.body, &secret) else {
        return error(401, Some(app), "missing or invalid token or signature");
    };
    // A signed body is remembered whatever delivery id comes with it (the signature does not
    // cover the headers, so a replay could drop or change the id); a delivery id is remembered
    // for token calls too.
    let mut keys = Vec::new();
    if credential == Credential::Signature {
        keys.push(digest(&[
            b"signed-body",
            app.as_bytes(),
            &Sha256::digest(&req.body),
        ]));
    }
    let id = DELIVERY_HEADERS.iter().find_map(|h| req.header(h));
    if let Some(id) = id {
        keys.push(digest(&[b"delivery-id", app.as_bytes(), id.as_bytes()]));
    }
    if let Err(i) = shared.replay.check(&keys, shared.config.replay_window) {
        let message = if credential == Credential::Signature && i == 0 {
            "this signed body was already delivered: a replay is refused whatever its delivery id"
                .to_owned()
        } else {
            let id: String = id.unwrap_or_default().chars().take(80).collect();
            format!("delivery `{id}` was already received")
        };
        return error(409, Some(app), &message);
    }
    let t = shared.deployer.trigger(app);
    (
        202,
        json!({"stack": app, "queued": t.queued, "joined": t.joined}),
    )
}

fn status(shared: &Shared, req: &Request, app: &str) -> (u16, Value) {
    let secret = match stack_secret(shared, app, false) {
        Ok(s) => s,
        Err((code, msg)) => return error(code, Some(app), &msg),
    };
    if authenticate(|h| req.header(h), b"", &secret).is_none() {
        return error(401, Some(app), "missing or invalid token or signature");
    }
    (200, shared.deployer.status(app))
}

// ---- The connection loop: one thread holds every connection (non-blocking sockets, mio) until
// its request is read in full, within the limits; only complete requests reach the workers, so a
// slow or idle client never holds a worker, and `GET /healthz` is answered by the loop itself.

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;
/// Under a full connection table, a connection still sending its request after this long is
/// closed to make room for a new one (slow clients cannot starve the health check).
const EVICT_AFTER: Duration = Duration::from_millis(500);
/// How long, and how much, input is read and dropped after an answer before closing (so an
/// unread request does not turn the close into a reset that loses the answer).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;
/// Longest a request may wait for a worker's answer before its connection is dropped.
const HANDLING_LIMIT: Duration = Duration::from_secs(60);
/// Largest chunk-size line (with extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;
const MAX_HEADERS: usize = 64;

/// A complete request for a worker.
struct Job {
    conn: usize,
    request: Request,
}

/// A worker's answer.
struct Done {
    conn: usize,
    code: u16,
    body: Value,
}

/// How a request body is framed.
#[derive(Debug)]
enum Framing {
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`: the undecoded input.
    Chunked(Vec<u8>),
}

#[derive(Debug)]
enum Phase {
    /// Reading the request head (`Conn::buf`).
    Head,
    /// Reading the body (decoded into `Conn::buf`) until `deadline`.
    Body {
        request: Request,
        framing: Framing,
        deadline: Instant,
    },
    /// A worker has the request.
    Handling,
    /// Writing the answer.
    Writing { out: Vec<u8>, pos: usize },
    /// Answered: dropping input until the peer closes, `LINGER_BYTES` or `until`.
    Draining { until: Instant, dropped: usize },
}

#[derive(Debug)]
struct Conn {
    stream: mio::net::TcpStream,
    opened: Instant,
    /// The last progress (bytes read or written).
    last: Instant,
    buf: Vec<u8>,
    phase: Phase,
    /// `METHOD /path` once the head is read, for the log.
    line: String,
}

/// What the loop does after a connection made progress.
enum Step {
    Wait,
    Close,
    Answer(u16, Value),
    Dispatch(Request),
}

/// What reading brought.
enum Fill {
    /// Nothing more to read now.
    Blocked,
    /// The peer closed its side (or the socket failed).
    Eof,
    /// The cap was reached.
    Full,
}

impl Conn {
    /// Reads into `buf` until it would block, the peer closes or `buf` holds `cap` bytes.
    fn fill(
        stream: &mut mio::net::TcpStream,
        buf: &mut Vec<u8>,
        cap: usize,
        last: &mut Instant,
    ) -> Fill {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let room = cap.saturating_sub(buf.len()).min(chunk.len());
            if room == 0 {
                return Fill::Full;
            }
            match stream.read(&mut chunk[..room]) {
                Ok(0) => return Fill::Eof,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    *last = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Fill::Blocked,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Fill::Eof,
            }
        }
    }

    /// Moves the connection on as far as its socket allows.
    fn step(&mut self, config: &Config) -> Step {
        loop {
            match &mut self.phase {
                Phase::Head => {
                    let fill = Self::fill(
                        &mut self.stream,
                        &mut self.buf,
                        config.max_header + 1,
                        &mut self.last,
                    );
                    match self.parse_head(config) {
                        Err(step) => return step,
                        Ok(true) => {} // the phase changed
                        Ok(false) => match fill {
                            Fill::Blocked => return Step::Wait,
                            Fill::Eof => return Step::Close,
                            Fill::Full => {
                                return Step::Answer(
                                    431,
                                    json!({"error": format!("the request head is larger than {} bytes", config.max_header), "stack": null}),
                                )
                            }
                        },
                    }
                }
                Phase::Body {
                    framing: Framing::Length(n),
                    ..
                } => {
                    let n = *n;
                    let fill = Self::fill(&mut self.stream, &mut self.buf, n, &mut self.last);
                    if self.buf.len() >= n {
                        return self.dispatch();
                    }
                    match fill {
                        Fill::Eof => return Step::Close,
                        Fill::Blocked | Fill::Full => return Step::Wait,
                    }
                }
                Phase::Body {
                    framing: Framing::Chunked(raw),
                    ..
                } => {
                    let cap = raw.len() + config.max_body + 2 * MAX_CHUNK_LINE;
                    let fill = Self::fill(&mut self.stream, raw, cap, &mut self.last);
                    match decode_chunks(raw, &mut self.buf, config.max_body) {
                        Err(step) => return step,
                        Ok(true) => return self.dispatch(),
                        Ok(false) => match fill {
                            Fill::Eof => return Step::Close,
                            Fill::Blocked => return Step::Wait,
                            // More may be waiting (edge-triggered): decoding made room.
                            Fill::Full => {}
                        },
                    }
                }
                Phase::Handling => return Step::Wait,
                Phase::Writing { out, pos } => {
                    while *pos < out.len() {
                        match self.stream.write(&out[*pos..]) {
                            Ok(0) => return Step::Close,
                            Ok(n) => {
                                *pos += n;
                                self.last = Instant::now();
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                return Step::Wait
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
                    let _ = self.stream.shutdown(std::net::Shutdown::Write);
                    self.buf = Vec::new();
                    self.phase = Phase::Draining {
                        until: Instant::now() + LINGER,
                        dropped: 0,
                    };
                }
                Phase::Draining { dropped, .. } => {
                    let mut sink = [0u8; 16 * 1024];
                    loop {
                        match self.stream.read(&mut sink) {
                            Ok(0) => return Step::Close,
                            Ok(n) => {
                                *dropped += n;
                                if *dropped > LINGER_BYTES {
                                    return Step::Close;
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                return Step::Wait
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
                }
            }
        }
    }

    /// Parses the head in `buf` if complete: `Ok(true)` when the phase changed, `Ok(false)`
    /// when more input is needed, `Err` with the step to take.
    fn parse_head(&mut self, config: &Config) -> Result<bool, Step> {
        let bad =
            |code: u16, message: &str| Step::Answer(code, json!({"error": message, "stack": null}));
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        let n = match parsed.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) if n <= config.max_header => n,
            Ok(httparse::Status::Complete(_)) => {
                return Err(bad(
                    431,
                    &format!(
                        "the request head is larger than {} bytes",
                        config.max_header
                    ),
                ))
            }
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(bad(431, &format!("more than {MAX_HEADERS} headers")))
            }
            Err(e) => return Err(bad(400, &format!("malformed request: {e}"))),
        };
        let method = parsed.method.unwrap_or_default().to_owned();
        let path = parsed
            .path
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect();
        self.line = format!("{method} {}", path.chars().take(200).collect::<String>());
        let rest = self.buf.split_off(n);
        self.buf.clear();
        let request = Request {
            method,
            path,
            headers,
            body: Vec::new(),
        };
        match route(&request.method, &request.path) {
            Route::Health => return Err(Step::Answer(200, json!({"ok": true}))),
            Route::Hook(_) => {}
            _ => return Err(Step::Dispatch(request)),
        }
        let max = config.max_body;
        let lengths: Vec<&str> = request
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| v.as_str())
            .collect();
        let chunked = match request.header("Transfer-Encoding") {
            None => false,
            Some(te) if te.eq_ignore_ascii_case("chunked") && lengths.is_empty() => true,
            Some(_) => {
                return Err(bad(
                    400,
                    "only `Transfer-Encoding: chunked`, without `Content-Length`, is accepted",
                ))
            }
        };
        let framing = if chunked {
            Framing::Chunked(rest)
        } else {
            let length = match lengths.as_slice() {
                [] => 0,
                [first, others @ ..] => match first.parse::<u64>() {
                    Ok(n) if others.iter().all(|o| o == first) => n,
                    _ => return Err(bad(400, "invalid `Content-Length`")),
                },
            };
            if length > max as u64 {
                return Err(bad(413, &format!("the body is larger than {max} bytes")));
            }
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            self.buf = rest;
            self.buf.truncate(length);
            Framing::Length(length)
        };
        if request
            .header("Expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            // Best effort: a client that does not get it sends the body after its own delay.
            let _ = self.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.phase = Phase::Body {
            request,
            framing,
            deadline: Instant::now() + config.body_timeout,
        };
        Ok(true)
    }

    /// The body is complete: the request goes to a worker.
    fn dispatch(&mut self) -> Step {
        match std::mem::replace(&mut self.phase, Phase::Handling) {
            Phase::Body { mut request, .. } => {
                request.body = std::mem::take(&mut self.buf);
                Step::Dispatch(request)
            }
            other => {
                self.phase = other;
                Step::Close
            }
        }
    }

    /// When the connection times out, if it can.
    fn deadline(&self, config: &Config) -> Option<Instant> {
        let idle = self.last + config.idle_timeout;
        match &self.phase {
            Phase::Head => Some(idle.min(self.opened + config.header_timeout)),
            Phase::Body { deadline, .. } => Some(idle.min(*deadline)),
            // A worker answers at once; this only frees the slot if one never does.
            Phase::Handling => Some(self.last + HANDLING_LIMIT),
            Phase::Writing { .. } => Some(idle),
            Phase::Draining { until, .. } => Some(*until),
        }
    }

    /// Still sending its request (or lingering): may be closed to make room.
    fn evictable(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Head | Phase::Body { .. } => now.duration_since(self.opened) >= EVICT_AFTER,
            Phase::Draining { .. } => true,
            Phase::Handling | Phase::Writing { .. } => false,
        }
    }
}

/// Decodes the complete chunks at the front of `raw` into `body` and drops them from `raw`:
/// `Ok(true)` once the last chunk (and the trailer) arrived.
fn decode_chunks(raw: &mut Vec<u8>, body: &mut Vec<u8>, max: usize) -> Result<bool, Step> {
    let bad =
        |code: u16, message: String| Step::Answer(code, json!({"error": message, "stack": null}));
    let mut pos = 0;
    let done = loop {
        let rest = &raw[pos..];
        match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete((line, 0))) => {
                // The trailer: header lines up to an empty line (ignored).
                let tail = &rest[line..];
                if tail.starts_with(b"\r\n") || tail.windows(4).any(|w| w == b"\r\n\r\n") {
                    break true;
                }
                if tail.len() > MAX_CHUNK_LINE {
                    return Err(bad(400, "the chunked body's trailer is too large".into()));
                }
                break false;
            }
            Ok(httparse::Status::Complete((line, size))) => {
                if size > (max - body.len().min(max)) as u64 {
                    return Err(bad(413, format!("the body is larger than {max} bytes")));
                }
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if rest.len() < line + size + 2 {
                    break false;
                }
                if &rest[line + size..line + size + 2] != b"\r\n" {
                    return Err(bad(400, "malformed chunked body".into()));
                }
                body.extend_from_slice(&rest[line..line + size]);
                pos += line + size + 2;
            }
            Ok(httparse::Status::Partial) if rest.len() <= MAX_CHUNK_LINE => break false,
            Ok(httparse::Status::Partial) | Err(_) => {
                return Err(bad(400, "malformed chunked body".into()))
            }
        }
    };
    raw.drain(..pos);
    Ok(done)
}

/// An HTTP/1.1 answer with a JSON body; the connection is closed after it.
fn response(code: u16, body: &Value) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    };
    let body = body.to_string();
    let retry = if code == 503 {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    format!("HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}", body.len()).into_bytes()
}

/// The connection loop's state.
struct Io {
    shared: Arc<Shared>,
    poll: Poll,
    listener: mio::net::TcpListener,
    conns: HashMap<usize, Conn>,
    next: usize,
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    /// Connections refused since the last log line about them.
    refused: u64,
    refused_logged: Instant,
}

impl Io {
    fn serve(&mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            let timeout = self
                .conns
                .values()
                .filter_map(|c| c.deadline(&self.shared.config))
                .min()
                .map(|d| d.saturating_duration_since(now) + Duration::from_millis(1));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(id) => self.progress(id),
                }
            }
            while let Ok(done) = self.done.try_recv() {
                self.answer(done.conn, done.code, &done.body);
            }
            self.expire();
        }
    }

    fn accept(&mut self) {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("accept: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.shared.config.max_connections && !self.evict() {
                // Refused at once, without reading: the answer fits the empty send buffer.
                let _ = stream.write(&response(
                    503,
                    &json!({"error": "too many connections", "stack": null}),
                ));
                self.refused += 1;
                if self.refused_logged.elapsed() >= Duration::from_secs(1) {
                    eprintln!(
                        "refused {} connections (limit {})",
                        self.refused, self.shared.config.max_connections
                    );
                    (self.refused, self.refused_logged) = (0, Instant::now());
                }
                continue;
            }
            let id = self.next;
            self.next = self.next.checked_add(1).unwrap_or(FIRST_CONN);
            if self
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(id),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            let now = Instant::now();
            self.conns.insert(
                id,
                Conn {
                    stream,
                    opened: now,
                    last: now,
                    buf: Vec::new(),
                    phase: Phase::Head,
                    line: "-".into(),
                },
            );
            self.progress(id);
        }
    }

    /// Closes the connection that has been sending its request the longest, if any may be.
    fn evict(&mut self) -> bool {
        let now = Instant::now();
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| c.evictable(now))
            .min_by_key(|(_, c)| (!matches!(c.phase, Phase::Draining { .. }), c.opened))
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => {
                if let Some(c) = self.conns.get(&id) {
                    if !matches!(c.phase, Phase::Draining { .. }) {
                        eprintln!(
                            "{} evicted after {} ms (connection limit)",
                            c.line,
                            now.duration_since(c.opened).as_millis()
                        );
                    }
                }
                self.close(id);
                true
            }
            None => false,
        }
    }

    fn progress(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match conn.step(&self.shared.config) {
            Step::Wait => {}
            Step::Close => self.close(id),
            Step::Answer(code, body) => self.answer(id, code, &body),
            Step::Dispatch(request) => {
                conn.phase = Phase::Handling;
                if self.jobs.send(Job { conn: id, request }).is_err() {
                    self.close(id);
                }
            }
        }
    }

    fn answer(&mut self, id: usize, code: u16, body: &Value) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        eprintln!("{} {code}", conn.line);
        conn.last = Instant::now();
        conn.phase = Phase::Writing {
            out: response(code, body),
            pos: 0,
        };
        self.progress(id);
    }

    fn close(&mut self, id: usize) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }

    /// Applies the timeouts: an idle connection is closed, a slow request gets `408`.
    fn expire(&mut self) {
        let now = Instant::now();
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let due: Vec<(usize, bool)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline(config).is_some_and(|d| d <= now))
            .map(|(id, c)| {
                (
                    *id,
                    matches!(c.phase, Phase::Body { .. })
                        || (matches!(c.phase, Phase::Head) && !c.buf.is_empty()),
                )
            })
            .collect();
        for (id, started) in due {
            if started {
                let (header, body) = (
                    config.header_timeout.as_secs_f64(),
                    config.body_timeout.as_secs_f64(),
                );
                let idle = config.idle_timeout.as_secs_f64();
                let message = format!("the request was not received in time (head within {header} s, body within {body} s, at most {idle} s without data)");
                self.answer(id, 408, &json!({"error": message, "stack": null}));
            } else {
                self.close(id);
            }
        }
    }
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
        let check = |headers: &[(&str, String)], body: &[u8]| {
            authenticate(
                |n| {
                    headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(n))
                        .map(|(_, v)| v.as_str())
                },
                body,
                secret,
            )
        };
        let (token, signed) = (Some(Credential::Token), Some(Credential::Signature));
        assert_eq!(
            check(&[("Authorization", "Bearer s3cret".into())], body),
            token
        );
        assert_eq!(
            check(&[("x-dokku-compose-token", "s3cret".into())], body),
            token
        );
        assert_eq!(check(&[("X-Gitlab-Token", "s3cret".into())], body), token);
        assert_eq!(
            check(
                &[(
                    "X-Hub-Signature-256",
                    format!("sha256={}", sign(secret, body))
                )],
                body
            ),
            signed
        );
        assert_eq!(
            check(&[("X-Gitea-Signature", sign(secret, body))], body),
            signed
        );
        assert_eq!(
            check(
                &[
                    ("Authorization", "Bearer s3cret".into()),
                    ("X-Gitea-Signature", sign(secret, body))
                ],
                body
            ),
            signed,
            "a signature wins, so the body is replay-checked"
        );
        assert_eq!(check(&[], body), None);
        assert_eq!(
            check(&[("Authorization", "Bearer s3cre".into())], body),
            None
        );
        assert_eq!(
            check(&[("Authorization", "Basic s3cret".into())], body),
            None
        );
        assert_eq!(
            check(
                &[(
                    "X-Hub-Signature-256",
                    format!("sha256={}", sign(secret, body))
                )],
                b"tampered"
            ),
            None
        );
        assert_eq!(
            check(&[("X-Hub-Signature-256", sign(secret, body))], body),
            None,
            "the sha256= prefix is required"
        );
        assert_eq!(check(&[("X-Gitea-Signature", "zz".into())], body), None);
    }

    #[test]
    fn calls_for_one_stack_coalesce() {
        let d = Deployer::default();
        assert_eq!(
            d.trigger("a"),
            Triggered {
                queued: false,
                joined: false
            }
        );
        assert_eq!(
            d.trigger("a"),
            Triggered {
                queued: true,
                joined: true
            },
            "not started yet: joins"
        );
        // A worker takes it: the next call waits behind it, later ones join that one.
        let s = lock(&d.state).ready.pop_front().unwrap();
        {
            let mut q = lock(&d.state);
            let st = q.stacks.get_mut(&s).unwrap();
            st.queued = false;
            st.running = true;
        }
        assert_eq!(
            d.trigger("a"),
            Triggered {
                queued: true,
                joined: false
            }
        );
        assert_eq!(
            d.trigger("a"),
            Triggered {
                queued: true,
                joined: true
            }
        );
        assert!(
            lock(&d.state).ready.is_empty(),
            "re-queued by the worker when it finishes, not now"
        );
        assert_eq!(
            d.trigger("b"),
            Triggered {
                queued: false,
                joined: false
            }
        );
    }

    #[test]
    fn replayed_keys_within_the_window() {
        let r = Replay::default();
        let minute = Duration::from_secs(60);
        let (body, id1, id2) = (
            digest(&[b"signed-body", b"a", b"x"]),
            digest(&[b"delivery-id", b"a", b"1"]),
            digest(&[b"delivery-id", b"a", b"2"]),
        );
        assert_eq!(r.check(&[body, id1], minute), Ok(()));
        assert_eq!(
            r.check(&[body, id2], minute),
            Err(0),
            "the same signed body under a new id"
        );
        assert_eq!(
            r.check(&[body], minute),
            Err(0),
            "the same signed body without id"
        );
        assert_eq!(
            r.check(&[id2], minute),
            Ok(()),
            "the refused call recorded nothing"
        );
        assert_eq!(r.check(&[id1], minute), Err(0));
        assert_eq!(
            r.check(&[digest(&[b"delivery-id", b"b", b"1"])], minute),
            Ok(()),
            "per stack"
        );
        assert_ne!(
            digest(&[b"ab", b"c"]),
            digest(&[b"a", b"bc"]),
            "parts are length-prefixed"
        );
        let c = digest(&[b"c"]);
        assert_eq!(r.check(&[c], Duration::ZERO), Ok(()));
        assert_eq!(r.check(&[c], Duration::ZERO), Ok(()));
    }

    #[test]
    fn chunked_bodies_decode_within_the_limit() {
        let (mut raw, mut body) = (b"4\r\nRust\r\n3;ext=1\r\n ok\r\n0\r".to_vec(), Vec::new());
        assert!(matches!(decode_chunks(&mut raw, &mut body, 100), Ok(false)));
        assert_eq!(
            (body.as_slice(), raw.as_slice()),
            (b"Rust ok".as_slice(), b"0\r".as_slice()),
            "decoded chunks leave the buffer"
        );
        raw.extend_from_slice(b"\n\r\n");
        assert!(matches!(decode_chunks(&mut raw, &mut body, 100), Ok(true)));
        let mut big = b"65\r\n".to_vec();
        assert!(
            matches!(
                decode_chunks(&mut big, &mut Vec::new(), 100),
                Err(Step::Answer(413, _))
            ),
            "a chunk past the limit, before its data"
        );
        assert!(matches!(
            decode_chunks(&mut b"zz\r\n".to_vec(), &mut Vec::new(), 100),
            Err(Step::Answer(400, _))
        ));
        assert!(
            matches!(
                decode_chunks(&mut b"2\r\nabcd".to_vec(), &mut Vec::new(), 100),
                Err(Step::Answer(400, _))
            ),
            "data longer than its size"
        );
    }

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/healthz"), Route::Health);
        assert_eq!(route("POST", "/hooks/shop"), Route::Hook("shop"));
        assert_eq!(route("GET", "/hooks/shop/status"), Route::Status("shop"));
        assert_eq!(route("DELETE", "/hooks/shop"), Route::WrongMethod);
        assert_eq!(route("GET", "/nope"), Route::NotFound);
    }
}
