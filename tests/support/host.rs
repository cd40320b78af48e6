//! The sandbox harness: one Dokku sandbox in a temporary directory (removed on drop), the
//! `dokku` and `dokku-compose` commands pointed at it, and what the tests read back from it.
//! Each tier's own steps (applying its fixture, docker teardown) wrap this one harness.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::{git, plugin_bin, plugin_repo, text};

/// The Dokku sandbox binary (`dokku` of the `dokku-sandbox` crate), from `DOKKU_SANDBOX_BIN`.
/// The root crate must not depend on the sandbox, so the test script builds it and passes its
/// path; without it the tests fail, saying how to run them.
pub(crate) fn sandbox_bin() -> PathBuf {
    match std::env::var_os("DOKKU_SANDBOX_BIN") {
        Some(b) if !b.is_empty() => {
            let bin = PathBuf::from(b);
            assert!(
                bin.is_file(),
                "DOKKU_SANDBOX_BIN={} is not a file: build it with `cargo build -p dokku-sandbox`",
                bin.display()
            );
            bin
        }
        _ => panic!(
            "DOKKU_SANDBOX_BIN is not set: these tests run the Dokku sandbox binary; run \
             scripts/test, or `cargo build -p dokku-sandbox` then export \
             DOKKU_SANDBOX_BIN=$PWD/target/debug/dokku"
        ),
    }
}

/// One Dokku sandbox (`DOKKU_SANDBOX_ROOT`) in a temporary directory removed on drop.
pub(crate) struct Host {
    root: tempfile::TempDir,
}

impl Host {
    /// An empty directory for a sandbox: its first command creates it.
    pub(crate) fn empty() -> Self {
        Host {
            root: tempfile::tempdir().unwrap(),
        }
    }
    /// A sandbox made by a first `dokku apps:list` (no plugin installed).
    pub(crate) fn bare() -> Self {
        let h = Self::empty();
        h.read(&["apps:list"]);
        h
    }
    /// A sandbox with the plugin installed (`plugin:install` from [`plugin_repo`]): the
    /// harness of the plugin, webhook and security tiers.
    pub(crate) fn new() -> Self {
        let h = Self::empty();
        h.install_plugin();
        h
    }
    /// `dokku plugin:install` of the working tree's plugin as `compose`.
    pub(crate) fn install_plugin(&self) {
        let repo = plugin_repo(self.path());
        self.read(&[
            "plugin:install",
            &format!("file://{}", repo.display()),
            "--name",
            "compose",
        ]);
    }
    /// The sandbox root (`DOKKU_SANDBOX_ROOT`).
    pub(crate) fn path(&self) -> &Path {
        self.root.path()
    }
    /// The data directory given to `dokku-compose --data-dir`.
    pub(crate) fn data(&self) -> PathBuf {
        self.path().join("compose-data")
    }
    /// The sandbox's `dokku`, with the prebuilt plugin and no quiet or trace settings inherited.
    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(sandbox_bin());
        c.env("DOKKU_SANDBOX_ROOT", self.path())
            .env("DOKKU_COMPOSE_PREBUILT", plugin_bin())
            .env_remove("DOKKU_QUIET_OUTPUT")
            .env_remove("DOKKU_TRACE");
        c
    }
    pub(crate) fn dokku(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }
    /// `dokku <args>` that must succeed: its stdout and stderr.
    pub(crate) fn succeeds(&self, args: &[&str]) -> String {
        let o = self.dokku(args);
        let out = text(&o);
        assert!(o.status.success(), "dokku {args:?}: {out}");
        out
    }
    /// `dokku <args>` that must fail: its stdout and stderr.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let o = self.dokku(args);
        let out = text(&o);
        assert!(!o.status.success(), "dokku {args:?} succeeded: {out}");
        out
    }
    /// `dokku <args>` with `input` on its stdin.
    pub(crate) fn dokku_in(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
    /// `dokku` as Dokku's `authorized_keys` forced command runs it: no arguments, the remote
    /// command in `SSH_ORIGINAL_COMMAND`.
    pub(crate) fn ssh(&self, command: &str) -> Output {
        self.cmd()
            .env("SSH_ORIGINAL_COMMAND", command)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
    /// `dokku <args>` that must succeed: its stdout.
    pub(crate) fn read(&self, args: &[&str]) -> String {
        let o = self.dokku(args);
        assert!(o.status.success(), "dokku {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    /// `dokku <args>` that must succeed: its stdout, trimmed.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        self.read(args).trim().to_owned()
    }
    /// A command's JSON output (the command must succeed).
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let out = self.read(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
    /// `dokku <plugin>:report <app> --format json`.
    pub(crate) fn report(&self, plugin: &str, app: &str) -> Value {
        self.json(&[&format!("{plugin}:report"), app, "--format", "json"])
    }
    /// An app's config (`dokku config:export --format json <app>`).
    pub(crate) fn config(&self, app: &str) -> Value {
        self.json(&["config:export", "--format", "json", app])
    }
    /// Makes `dir` the `dokku` remote of app `app` of this sandbox.
    pub(crate) fn remote(&self, dir: &Path, app: &str) {
        self.read(&[
            "sandbox:git-remote",
            app,
            "--repo",
            &dir.display().to_string(),
        ]);
    }
    /// A repository with `files`, committed, whose `dokku` remote is `app` of this sandbox.
    pub(crate) fn repo(&self, app: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(format!("src-{app}"));
        for (name, content) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "one"]);
        self.remote(&dir, app);
        dir
    }
    /// The sandbox's call log.
    pub(crate) fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path().join("lib/sandbox/calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    /// The calls of the sandbox's call log after the first `from`.
    pub(crate) fn calls_since(&self, from: usize) -> Vec<Value> {
        self.calls().into_iter().skip(from).collect()
    }
    /// Makes the sandbox fail the commands `faults` match (`lib/sandbox/rules.json`).
    pub(crate) fn set_faults(&self, faults: &Value) {
        std::fs::write(
            self.path().join("lib/sandbox/rules.json"),
            serde_json::json!({ "faults": faults }).to_string(),
        )
        .unwrap();
    }
    /// `dokku-compose` run off-server against this sandbox (`DOKKU_COMPOSE_DOKKU_BIN`), with
    /// none of the caller's compose, quiet or trace settings.
    pub(crate) fn compose(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dokku-compose"));
        c.env("DOKKU_SANDBOX_ROOT", self.path())
            .env("DOKKU_COMPOSE_DOKKU_BIN", sandbox_bin())
            .env_remove("DOKKU_QUIET_OUTPUT")
            .env_remove("DOKKU_TRACE")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_PROFILES");
        c
    }
}

/// A bare sandbox (`root`) and, outside it, the project directory `dokku-compose` runs on:
/// the harness of the routing and secrets tiers, which add their fixture's steps.
pub(crate) struct ProjectHost {
    pub(crate) root: Host,
    pub(crate) project: tempfile::TempDir,
}

impl std::ops::Deref for ProjectHost {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.root
    }
}

impl ProjectHost {
    pub(crate) fn new() -> Self {
        ProjectHost {
            root: Host::bare(),
            project: tempfile::tempdir().unwrap(),
        }
    }
}
