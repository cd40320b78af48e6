//! The Dokku plugin's entry points (issue #6), one multi-call binary dispatched on the
//! basename of `argv[0]` as Dokku's Go plugins do (dokku-facts §a "Multi-call binaries"):
//! `commands` (help, and exit 10 for anything else), `subcommands/<verb>` (`compose:<verb>`,
//! `argv[1]` is the full command), and the triggers at the plugin root.

mod help;
mod projects;
mod props;
mod stack;
mod triggers;
mod verbs;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

pub(crate) use help::{help, plugin_help};

use crate::dokku::env::DokkuEnv;

/// The plugin's name (`plugin:install … --name compose`).
pub(crate) const PLUGIN: &str = "compose";

/// Runs the plugin binary with the given argv and returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env = DokkuEnv::from_env();
    let argv0 = args.first().map_or("", String::as_str);
    let name = Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let parent = Path::new(argv0)
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let rest: Vec<String> = args.iter().skip(1).cloned().collect();
    // `dokku-compose-plugin --version`: what install.sh runs on a downloaded binary before it
    // replaces the installed one.
    if name == "dokku-compose-plugin" && rest == ["--version"] {
        println!("{}", verbs::version::line());
        return ExitCode::SUCCESS;
    }
    let result = if parent == "subcommands" {
        // `$1` is `compose:<verb>`; the verb is the file name.
        verbs::run(name, rest.get(1..).unwrap_or_default(), &env)
    } else if name == "commands" {
        return commands(&rest, &env);
    } else {
        triggers::run(name, &rest, &env)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // `compose:<verb> <app> …`: paths of the stack's captured source as repository paths.
            let source = if parent == "subcommands" {
                rest.get(1)
                    .filter(|a| crate::model::is_valid_app_name(a))
                    .map(|a| stack::source_dir(&env, a))
            } else {
                None
            };
            eprint_error(&err, source.as_deref());
            ExitCode::from(super::exit::FAILURE)
        }
    }
}

/// Prints a failure as Dokku does (` !     ` before every line): each message of the chain
/// once (a cause that its parent's message already shows is not repeated), paths under the
/// stack's captured `source` shown as the pusher's repository paths, and nothing for a step
/// failure the apply's own events reported already (issue #15 item 18).
pub(super) fn eprint_error(err: &anyhow::Error, source: Option<&Path>) {
    for line in error_lines(err, source) {
        eprintln!("{line}");
    }
}

/// The lines [`eprint_error`] prints.
pub(super) fn error_lines(err: &anyhow::Error, source: Option<&Path>) -> Vec<String> {
    use crate::exec::apply::ApplyError;
    use crate::exec::ExecError;
    if matches!(
        err.downcast_ref::<ApplyError>(),
        Some(ApplyError::Exec(ExecError::StepFailed { .. }))
    ) {
        // The step's error, the rollback and its outcome were printed as they happened.
        return Vec::new();
    }
    let mut shown: Vec<String> = Vec::new();
    for cause in err.chain() {
        let msg = repo_relative(&cause.to_string(), source);
        if msg.trim().is_empty() || shown.iter().any(|s| s.contains(msg.trim())) {
            continue;
        }
        shown.push(msg);
    }
    shown
        .iter()
        .flat_map(|m| m.lines())
        .map(|l| crate::report::fail(l.strip_prefix(" !     ").unwrap_or(l)))
        .collect()
}

pub(super) use crate::cli::apply_cmd::repo_relative;

/// `commands`: `help` (short, or long when the parent's command line has `--all`) and
/// `compose:help`; anything else is not ours, silently and at once.
fn commands(args: &[String], env: &DokkuEnv) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("help") => {
            print!("{}", help(parent_has_all()));
            ExitCode::SUCCESS
        }
        Some("compose:help" | "compose") => {
            print!("{}", plugin_help());
            ExitCode::SUCCESS
        }
        _ => ExitCode::from(env.not_implemented_exit),
    }
}

/// Whether the parent process (dokku's help) was given `--all` (dokku-facts §a: `ps -o
/// command= $PPID`), read from `/proc`.
fn parent_has_all() -> bool {
    let ppid = nix::unistd::getppid();
    std::fs::read(format!("/proc/{ppid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"--all"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_told_once_with_repository_paths() {
        let src = Path::new("/var/lib/dokku/data/compose/shop/source");
        let inner = anyhow::anyhow!(
            "failed to parse /var/lib/dokku/data/compose/shop/source/compose.yaml: line 3"
        );
        let outer = anyhow::anyhow!("step failed: {inner}");
        let err = inner
            .context(outer.to_string())
            .context("failed to load the compose project");
        assert_eq!(
            error_lines(&err, Some(src)),
            [
                " !     failed to load the compose project",
                " !     step failed: failed to parse compose.yaml: line 3"
            ]
        );
        // Lines that carry Dokku's prefix already keep one.
        let err = anyhow::anyhow!("`dokku x` exited with status 1:\n !     Could not start");
        assert_eq!(
            error_lines(&err, None),
            [
                " !     `dokku x` exited with status 1:",
                " !     Could not start"
            ]
        );
    }
}
