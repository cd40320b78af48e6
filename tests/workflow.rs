//! The workflow end to end in the sandbox (issue 18): the whole output of a push whose step
//! fails and of a refused push, against expected files under `tests/fixtures/output/`
//! (`UPDATE_GOLDEN=1` rewrites them), and `compose:down` as a plan: its dry run, and a down
//! killed halfway that the next command finishes.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Output;

use crate::plugin::{
    commit, commit_unhealthy_web, privileged_stack, stack_files, text, Host, STACK,
};
use crate::support::{
    git, golden as golden_file, sandbox_bin, spawn_paused, updating, wait_for_done,
};

fn push_output(dir: &Path) -> Output {
    git(dir, &["push", "dokku", "main"])
}

/// `text` with what changes from run to run written as placeholders: the sandbox root as
/// `<root>`, the sandbox's `dokku` as `<dokku>`, durations as `N.Ns`, digests as
/// `sha256:…`, git object ids as `<rev>`.
fn normalise(text: &str, root: &Path) -> String {
    let text = text
        .replace(&sandbox_bin().display().to_string(), "<dokku>")
        .replace(&root.display().to_string(), "<root>");
    let mut out = String::new();
    for line in text.lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let hex_run = |s: &str| s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit());
                match w.split_once("..") {
                    Some((a, b)) if hex_run(a) && hex_run(b) => "<rev>..<rev>".to_owned(),
                    _ => stable_word(w),
                }
            })
            .collect();
        out.push_str(words.join(" ").trim_end());
        out.push('\n');
    }
    out
}

/// `0.3s` as `N.Ns`, `sha256:<hex>` as `sha256:…`.
fn stable_word(word: &str) -> String {
    if let Some(i) = word.find("sha256:") {
        let hex = &word[i + 7..];
        let n = hex.chars().take_while(char::is_ascii_hexdigit).count();
        return format!("{}sha256:…{}", &word[..i], &hex[n..]);
    }
    let core = word.trim_end_matches([',', ';', ')']);
    let tail = &word[core.len()..];
    if let Some(num) = core.strip_suffix('s') {
        if let Some((a, b)) = num.split_once('.') {
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if digits(a) && digits(b) {
                return format!("N.Ns{tail}");
            }
        }
    }
    word.to_owned()
}

/// Compares the whole output (stdout and stderr, each normalised) with
/// `tests/fixtures/output/<case>/{stdout,stderr}`.
fn golden(case: &str, o: &Output, root: &Path) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/output")
        .join(case);
    let got = [
        (
            "stdout",
            normalise(&String::from_utf8_lossy(&o.stdout), root),
        ),
        (
            "stderr",
            normalise(&String::from_utf8_lossy(&o.stderr), root),
        ),
    ];
    if updating() {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut failures = Vec::new();
    for (name, text) in &got {
        golden_file(&dir.join(name), text, &mut failures);
    }
    assert!(failures.is_empty(), "{case}: {}", failures.join("\n"));
}

/// (issue 18) A push whose deploy step fails: the whole output, with Dokku's error (the
/// failed checks) exactly once, the rollback and the outcome.
#[test]
fn golden_push_whose_step_fails() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push_output(&dir).status.success());
    commit_unhealthy_web(&h, &dir, STACK);
    let o = push_output(&dir);
    assert!(!o.status.success());
    let all = text(&o);
    assert_eq!(
        all.matches("Could not start due to 1 failed checks")
            .count(),
        1,
        "Dokku's error once: {all}"
    );
    golden("push-step-fails", &o, h.path());
}

/// (issue 18) Pushes refused before any change: by the security policy, and because a
/// service app of the stack is another tenant's.
#[test]
fn golden_refused_pushes() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    commit(&dir, "compose.yaml", &privileged_stack());
    let o = push_output(&dir);
    assert!(!o.status.success());
    golden("push-refused-policy", &o, h.path());
    commit(&dir, "compose.yaml", STACK);
    h.succeeds(&["apps:create", "shop-web"]);
    let o = push_output(&dir);
    assert!(!o.status.success());
    golden("push-refused-ownership", &o, h.path());
}

/// (issue 18) `compose:down --dry-run` prints the teardown plan and changes nothing: no
/// confirmation asked, no lock, no journal.
#[test]
fn down_dry_run_prints_the_teardown_plan() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push_output(&dir).status.success());
    let o = h.dokku(&["compose:down", "shop", "--dry-run", "--datastores"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for cmd in [
        "apps:destroy shop-web --force",
        "apps:destroy shop-api --force",
        "postgres:destroy shop-db --force",
    ] {
        assert!(out.contains(cmd), "{cmd}: {out}");
    }
    // Web depends on api: torn down first.
    assert!(
        out.find("shop-web --force") < out.find("shop-api --force"),
        "{out}"
    );
    h.succeeds(&["apps:exists", "shop-web"]);
    h.succeeds(&["postgres:exists", "shop-db"]);
    assert!(!h
        .path()
        .join("lib/data/compose/shop/journal.jsonl")
        .exists());
}

/// (issue 18) A `compose:down` killed after its first step leaves its journal; the next
/// `compose:down` finishes that journal first (the destroys are irreversible: nothing to
/// undo), then plans what is left from the live state and tears it down.
#[test]
fn a_down_killed_halfway_is_finished_by_the_next() {
    let h = Host::new();
    let dir = h.repo("shop", &stack_files());
    assert!(push_output(&dir).status.success());
    let journal = h.path().join("lib/data/compose/shop/journal.jsonl");
    let mut child = spawn_paused(
        h.cmd()
            .args(["compose:down", "shop", "--force"])
            .process_group(0),
        "down/web",
    );
    let (reached, journal_text) = wait_for_done(&journal, "down/web");
    assert!(reached, "the down journals its steps: {journal_text}");
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    h.fails(&["apps:exists", "shop-web"]);
    h.succeeds(&["apps:exists", "shop-api"]);
    assert!(journal.exists(), "the killed down left its journal");
    let o = h.dokku(&["compose:down", "shop", "--force"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("finished the rollback of an interrupted compose:down"),
        "{out}"
    );
    assert!(out.contains("down/web is not undone"), "{out}");
    h.fails(&["apps:exists", "shop-api"]);
    h.succeeds(&["postgres:exists", "shop-db"]);
    assert!(!journal.exists());
}
