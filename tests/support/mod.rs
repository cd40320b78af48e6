//! Helpers shared by the integration tests: the sandbox harness ([`Host`]), the golden-file
//! updater ([`golden`]) and small process and fixture helpers.

mod golden;
mod host;

pub(crate) use golden::{golden, updating};
pub(crate) use host::{sandbox_bin, Host, ProjectHost};

use std::path::PathBuf;
use std::process::Command;

/// The built `dokku-compose` binary.
pub(crate) fn dokku_compose() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dokku-compose"))
}

/// The `shared/` folder next to the project root.
#[allow(dead_code, reason = "used by later test modules")]
pub(crate) fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// `dokku-compose plan` (pass `--json FILE` for normalised compose JSON).
pub(crate) fn dokku_compose_plan() -> Command {
    let mut cmd = dokku_compose();
    cmd.arg("plan");
    cmd
}

/// A call of the sandbox's call log that changes the host (not one of the state queries).
pub(crate) fn mutating(call: &serde_json::Value) -> bool {
    let argv: Vec<&str> = call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    !dokku_compose::state::is_query(&argv)
}

/// A call of the sandbox's call log as one line: its argv joined by spaces.
pub(crate) fn argv_text(call: &serde_json::Value) -> String {
    call["argv"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `git` in `dir` with a fixed identity; any failure but a push's is a test failure.
pub(crate) fn git(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.test")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.test")
        .output()
        .unwrap();
    assert!(
        o.status.success() || args[0] == "push",
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The plugin binary the install trigger lays out (given as `DOKKU_COMPOSE_PREBUILT`).
pub(crate) fn plugin_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dokku-compose-plugin"))
}

/// The plugin's files that Dokku and the install trigger use (the plugin's surface), and the
/// .gitignore that keeps what install.sh lays out out of `git status`.
pub(crate) const PLUGIN_FILES: &[&str] = &[
    ".gitignore",
    "install",
    "update",
    "install.sh",
    "commands",
    "plugin.toml",
    "triggers/post-extract",
    "triggers/builder-build",
    "triggers/post-delete",
    "triggers/uninstall",
    "triggers/app-changed",
];

/// A plugin repository made of the working tree's plugin files (PLUGIN_FILES), committed, as
/// `plugin:install` clones only committed files.
pub(crate) fn plugin_repo(dir: &std::path::Path) -> PathBuf {
    let repo = dir.join("dokku-compose");
    std::fs::create_dir_all(repo.join("triggers")).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in PLUGIN_FILES {
        std::fs::copy(root.join(f), repo.join(f)).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "plugin"]);
    repo
}

/// Variables an example's `.env` sets: removed from the environment of every command, so the
/// caller's environment cannot change what the example interpolates to.
pub(crate) fn dotenv_keys(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(".env")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.trim_start_matches("export ")
                .split_once('=')
                .map(|(k, _)| k.trim().to_owned())
        })
        .collect()
}

/// A command's stdout and stderr.
pub(crate) fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A command's stdout and stderr; the command must have succeeded.
pub(crate) fn ok(o: &std::process::Output) -> String {
    let text = text(o);
    assert!(o.status.success(), "{text}");
    text
}

/// A command's stdout; the command must have succeeded (its stderr is the failure message).
pub(crate) fn stdout_ok(o: &std::process::Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr; the command must have failed with exit code 1.
pub(crate) fn stderr_failed(o: &std::process::Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies a directory tree of a test fixture or example (plain files only).
pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Starts `cmd` to stop after its effect `step` (`DOKKU_COMPOSE_PAUSE_AFTER_EFFECT`, so that
/// the test can kill it there), with no input and its output discarded.
pub(crate) fn spawn_paused(cmd: &mut Command, step: &str) -> std::process::Child {
    cmd.env("DOKKU_COMPOSE_PAUSE_AFTER_EFFECT", step)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (30 s at most) until the journal `journal` records the effect `step` done: whether
/// it did, and the journal's text then.
pub(crate) fn wait_for_done(journal: &std::path::Path, step: &str) -> (bool, String) {
    let done = format!(
        "{{\"t\":\"done\",\"step\":{}}}",
        serde_json::to_string(step).unwrap()
    );
    let mut text = String::new();
    for _ in 0..3000 {
        text = std::fs::read_to_string(journal).unwrap_or_default();
        if text.contains(&done) {
            return (true, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (false, text)
}

/// `git push dokku main` from `dir`: whether it succeeded, and its output.
pub(crate) fn push(dir: &std::path::Path) -> (bool, String) {
    let o = git(dir, &["push", "dokku", "main"]);
    (o.status.success(), text(&o))
}

/// `git push dokku main` from `dir` that must succeed: its output.
pub(crate) fn push_ok(dir: &std::path::Path) -> String {
    let (ok, out) = push(dir);
    assert!(ok, "{out}");
    out
}

/// `git push dokku main` from `dir` that must be refused: its output.
pub(crate) fn push_refused(dir: &std::path::Path) -> String {
    let (ok, out) = push(dir);
    assert!(!ok, "{out}");
    out
}

/// An empty commit pushed again from `dir` succeeds and changes nothing ("up to date").
pub(crate) fn assert_repush_up_to_date(dir: &std::path::Path) {
    git(dir, &["commit", "-q", "--allow-empty", "-m", "noop"]);
    let out = push_ok(dir);
    assert!(out.contains("up to date"), "{out}");
}

/// Writes `file` in the repository `dir` and commits every change.
pub(crate) fn commit(dir: &std::path::Path, file: &str, content: &str) {
    std::fs::write(dir.join(file), content).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "change"]);
}
