//! The webhook receiver binary (docs/webhook.md): parses its flags and runs
//! [`dokku_compose::webhook::Server`]. It prints `listening on http://<addr>` once bound.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dokku_compose::webhook::{Config, Server};

/// Deploys compose stacks when CI or a git host calls `POST /hooks/<app>`.
#[derive(Debug, Parser)]
#[command(name = "dokku-compose-webhook", version)]
struct Args {
    /// Address to listen on (keep it on loopback behind nginx)
    #[arg(long, default_value = "127.0.0.1:9099")]
    listen: String,
    /// Dokku's lib root (default: $DOKKU_LIB_ROOT, else /var/lib/dokku)
    #[arg(long)]
    lib_root: Option<PathBuf>,
    /// The dokku program
    #[arg(long, default_value = "dokku")]
    dokku: std::ffi::OsString,
    /// Seconds a deploy may run before it is stopped (SIGTERM, then SIGKILL)
    #[arg(long, default_value_t = 1800)]
    deploy_timeout: u64,
    /// Seconds between SIGTERM and SIGKILL for a deploy that timed out
    #[arg(long, default_value_t = 60)]
    kill_grace: u64,
    /// Threads answering complete requests (slow clients are held by the connection loop)
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Deploys of different stacks that may run at once
    #[arg(long, default_value_t = 2)]
    deploy_workers: usize,
    /// Largest request body, in bytes
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body: usize,
    /// Seconds a signed body and a delivery id are remembered (a repeat within it gets 409)
    #[arg(long, default_value_t = 86400)]
    replay_window: u64,
    /// Largest request head (request line and headers), in bytes (431 past it)
    #[arg(long, default_value_t = 16 * 1024)]
    max_header: usize,
    /// Connections open at once (past it the oldest slow one is closed, else 503)
    #[arg(long, default_value_t = 64)]
    max_connections: usize,
    /// Seconds the request head may take, from the connection (408 past it)
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds the body may take, after the head (408 past it)
    #[arg(long, default_value_t = 10)]
    body_timeout: u64,
    /// Seconds of silence after which a connection is closed
    #[arg(long, default_value_t = 5)]
    idle_timeout: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let config = Config {
        listen: a.listen,
        lib_root: a
            .lib_root
            .unwrap_or_else(|| dokku_compose::dokku::env::DokkuEnv::from_env().lib_root),
        dokku: a.dokku,
        deploy_timeout: Duration::from_secs(a.deploy_timeout),
        kill_grace: Duration::from_secs(a.kill_grace),
        workers: a.workers,
        deploy_workers: a.deploy_workers,
        max_body: a.max_body,
        replay_window: Duration::from_secs(a.replay_window),
        max_header: a.max_header,
        max_connections: a.max_connections,
        header_timeout: Duration::from_secs(a.header_timeout),
        body_timeout: Duration::from_secs(a.body_timeout),
        idle_timeout: Duration::from_secs(a.idle_timeout),
    };
    let result = Server::bind(config).and_then(|server| {
        if let Some(addr) = server.local_addr() {
            println!("listening on http://{addr}");
            let _ = std::io::stdout().flush();
        }
        server.run()
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dokku-compose-webhook: {e}");
            ExitCode::FAILURE
        }
    }
}
