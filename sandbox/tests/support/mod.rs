//! Test helper: a sandbox in a temp dir and a runner for the sandbox `dokku` binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A sandbox rooted in a temp dir.
pub struct Sandbox {
    /// Keeps the temp dir alive.
    pub dir: tempfile::TempDir,
}

/// What a call returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn fails(&self, code: i32, stderr_has: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(stderr_has),
            "stderr lacks {stderr_has:?}:\n{}",
            self.stderr
        );
        self
    }
}

fn out(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn lib(&self) -> PathBuf {
        self.root().join("lib")
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dokku"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.root())
            .env("DOKKU_SANDBOX_ROOT", self.root())
            .env("GIT_CONFIG_NOSYSTEM", "1");
        c
    }
    pub fn run(&self, args: &[&str]) -> Run {
        out(self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn dokku"))
    }
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut c = self.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        out(c
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn dokku"))
    }
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // A command that refuses before reading its input closes the pipe first: that is its
        // answer, not a harness failure.
        if let Err(e) = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
        {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
        out(child.wait_with_output().expect("wait"))
    }
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.lib().join("sandbox/calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let r = self.run(args);
        r.ok();
        serde_json::from_str(r.stdout.trim())
            .unwrap_or_else(|e| panic!("not json ({e}): {}", r.stdout))
    }
}

/// Run git in a dir with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    let o = Command::new("git")
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(args)
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A git repo with the given files committed on `main`.
pub fn repo(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    git(dir, &["init", "-q", "-b", "main"]);
    for (f, c) in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, c).expect("write");
        if f.ends_with(".sh") || !f.contains('.') {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "init"]);
}
