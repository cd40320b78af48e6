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
pub(crate) struct Outcome {
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One property of the plugin (`config/compose/<scope>/<key>`), if set.
fn prop(lib_root: &Path, scope: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(lib_root.join("config/compose").join(scope).join(key))
        .ok()
        .map(|v| v.trim_end_matches('\n').to_owned())
        .filter(|v| !v.is_empty())
}

mod auth;
mod conn;
mod deploy;
mod io;
mod server;
#[cfg(test)]
mod tests;

use auth::*;
pub(crate) use auth::{authenticate, Credential, DELIVERY_HEADERS};
use conn::*;
use deploy::*;
use io::*;
pub use server::Server;
use server::*;
