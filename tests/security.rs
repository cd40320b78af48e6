//! The security tier (issue #13, "a pusher gets an app, never the host"): every push-level
//! attack of the corpus `tests/fixtures/attacks/<class>--<name>/` is pushed to app `shop` of a
//! fresh sandbox and must be refused, with its expected messages, leaving the host as it was.
//!
//! A case is a directory:
//! - `repo/`: the files pushed, committed as they are; `x.symlink` holding a target becomes the
//!   symlink `x -> target`, with `{root}` replaced by the sandbox root and `{secret}` by the path
//!   of a host file holding a random secret marker;
//! - `setup` (optional): one Dokku command per line (shell words), run before the push;
//! - `allow` (optional): policy rules set with `compose:set shop allow …` before the push;
//! - `expect`: one substring per line that the refused push's output must contain.
//!
//! For each case: a fresh sandbox with the plugin, `setup`, app `shop` created if `setup` did
//! not, its deploy branch set to `main` (as a first push would; unless `setup` sets one),
//! `allow`, the secret file (`host/secret.txt` under the sandbox root), then a
//! snapshot of every file, directory and symlink under the sandbox root (content hash and mode),
//! the push, and the checks: the push failed, its output holds every `expect` line, the snapshot
//! is the same (but for [`BOOKKEEPING`], listed with reasons), and the marker is in no output
//! and in no file but the original. The pushing repository lives outside the sandbox. Files over
//! 1 MiB (the plugin's and the sandbox's binaries) are compared by size, inode and times.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::support::{git, text, Host};

/// What a refused push may change under the sandbox root, each with why. A path ending in `/`
/// covers that directory and everything under it; `dir:` names a directory entry only (what is
/// in it is compared).
/// Everything else, including every other file of Dokku's and the plugin's state, is compared.
const BOOKKEEPING: &[(&str, &str)] = &[
    // Only what Dokku (here the sandbox standing for it) writes on any `git push`, whatever
    // the plugin does; nothing of the plugin's own (issue #13: a refused push leaves the
    // stack's lock, host key, data directory, release history and builder selection as they
    // were).
    ("lib/sandbox/calls.jsonl", "the sandbox's call log (append-only): every command run is logged"),
    ("lib/sandbox/counter", "the sandbox's call counter (the log's sequence)"),
    ("lib/config/git/shop/last-updated-at", "Dokku's git:receive time of the push, written before any trigger runs"),
    ("lib/config/builder/shop/detected", "the builder type Dokku's `dokku_build` records for every build before `builder-build` runs"),
    ("dir:lib/config/builder/shop", "the app's builder property directory that record is made in (its files are compared)"),
    ("dir:lib/config/builder", "the builder plugin's property directory, made with it on a host's first build"),
];
/// The variable Dokku's git:receive sets in the app's `ENV` (its line alone is left out).
const RECEIVE_ENV: &str = "export GIT_REV=";

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attacks")
}

/// Whether `rel` (a path under the sandbox root) is receive bookkeeping of [`BOOKKEEPING`].
fn bookkeeping(rel: &str, is_dir: bool) -> bool {
    BOOKKEEPING
        .iter()
        .any(|(p, _)| match p.strip_prefix("dir:") {
            Some(d) => is_dir && rel == d,
            None => rel == p.trim_end_matches('/') || (p.ends_with('/') && rel.starts_with(p)),
        })
}

/// Files larger than this (the plugin's and the sandbox's binaries) are compared by size,
/// inode, mtime and ctime instead of a content hash: any write changes the ctime.
const HASHED_UP_TO: u64 = 1024 * 1024;

/// The state under the sandbox root.
struct Snapshot {
    /// Compared entries: relative path → kind, mode and content hash (or link target).
    entries: BTreeMap<String, String>,
    /// Every file, bookkeeping included: relative path → (size, inode, ctime ns), to find the
    /// files written since.
    files: BTreeMap<String, (u64, u64, i64)>,
}

/// Every entry under `root`.
fn snapshot(root: &Path) -> Snapshot {
    use std::os::unix::fs::MetadataExt as _;
    let mut snap = Snapshot {
        entries: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            if ft.is_dir() {
                stack.push(path.clone());
            }
            if ft.is_file() {
                snap.files.insert(
                    rel.clone(),
                    (
                        meta.len(),
                        meta.ino(),
                        meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
                    ),
                );
            }
            if bookkeeping(&rel, ft.is_dir()) {
                continue;
            }
            let value = if ft.is_symlink() {
                format!(
                    "symlink -> {}",
                    std::fs::read_link(&path)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default()
                )
            } else if ft.is_dir() {
                format!("dir {mode:o}")
            } else if ft.is_file() && meta.len() > HASHED_UP_TO {
                format!(
                    "file {mode:o} {} bytes inode {} mtime {}.{} ctime {}.{}",
                    meta.len(),
                    meta.ino(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                    meta.ctime(),
                    meta.ctime_nsec()
                )
            } else if ft.is_file() {
                let mut bytes = std::fs::read(&path).unwrap_or_default();
                if rel.ends_with("/ENV") {
                    let kept: Vec<&str> = std::str::from_utf8(&bytes)
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| !l.starts_with(RECEIVE_ENV))
                        .collect();
                    bytes = kept.join("\n").into_bytes();
                }
                format!(
                    "file {mode:o} {} bytes sha256 {}",
                    bytes.len(),
                    hex::encode(sha2::Sha256::digest(&bytes))
                )
            } else {
                format!("special {mode:o}")
            };
            snap.entries.insert(rel, value);
        }
    }
    snap
}

/// The differences between two snapshots, one line each.
fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let (before, after) = (&before.entries, &after.entries);
    let mut out = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => out.push(format!("removed  {k} ({v})")),
            Some(w) if w != v => out.push(format!("changed  {k} ({v} -> {w})")),
            _ => {}
        }
    }
    for (k, v) in after {
        if !before.contains_key(k) {
            out.push(format!("added    {k} ({v})"));
        }
    }
    out
}

/// Files under `root` written since `before` (bookkeeping included) that hold `marker`, but
/// `except`. The marker is created just before `before`, so no file older can hold it.
fn files_with(
    root: &Path,
    before: &Snapshot,
    after: &Snapshot,
    marker: &[u8],
    except: &Path,
) -> Vec<String> {
    after
        .files
        .iter()
        .filter(|(rel, meta)| before.files.get(*rel) != Some(meta) && root.join(rel) != except)
        .filter(|(rel, _)| {
            std::fs::read(root.join(rel))
                .is_ok_and(|b| b.windows(marker.len()).any(|w| w == marker))
        })
        .map(|(rel, _)| rel.clone())
        .collect()
}

/// Lines of an optional case file, trimmed, without blank lines (and, for commands and rules,
/// without `#` comment lines; an `expect` line is taken as it is).
fn lines(path: &Path) -> Vec<String> {
    let comments = path.file_name().is_some_and(|n| n != "expect");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !(l.is_empty() || (comments && l.starts_with('#'))))
        .map(str::to_owned)
        .collect()
}

/// Copies a case's `repo/` into `dest`, turning `*.symlink` files into symlinks.
fn lay_out(src: &Path, dest: &Path, root: &Path, secret: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(|e| format!("{}: {e}", src.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
        let ft = e.file_type().map_err(|e| e.to_string())?;
        if ft.is_dir() {
            lay_out(&path, &dest.join(&name), root, secret)?;
        } else if let Some(link) = name.strip_suffix(".symlink") {
            let target =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let target = target
                .trim_end_matches(['\n', '\r'])
                .replace("{root}", &root.display().to_string())
                .replace("{secret}", &secret.display().to_string());
            std::os::unix::fs::symlink(&target, dest.join(link))
                .map_err(|e| format!("{link}: {e}"))?;
        } else {
            std::fs::copy(&path, dest.join(&name))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// What one case did.
#[derive(Debug, Default)]
struct Outcome {
    name: String,
    /// The push failed and its output holds every `expect` line.
    refused: bool,
    /// Nothing changed but bookkeeping, and the marker leaked nowhere.
    clean: bool,
    /// Why not, readable.
    problems: Vec<String>,
}

/// Runs one case directory through a fresh sandbox.
fn run_case(case: &Path) -> Outcome {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let mut o = Outcome {
        name: name.clone(),
        ..Outcome::default()
    };
    let expect = lines(&case.join("expect"));
    if !name.contains("--") || !case.join("repo").is_dir() || expect.is_empty() {
        o.problems.push("malformed case: it needs a `<class>--<name>` directory with `repo/` and a non-empty `expect`".into());
        return o;
    }
    let h = Host::new();
    let root = h.path().to_path_buf();
    let run = |args: &[String]| {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = h.dokku(&argv);
        (out.status.success(), text(&out))
    };
    let setup = lines(&case.join("setup"));
    for line in &setup {
        match shell_words::split(line) {
            Ok(args) if !args.is_empty() => {
                let (ok, out) = run(&args);
                if !ok {
                    o.problems.push(format!("setup `{line}` failed:\n{out}"));
                    return o;
                }
            }
            _ => {
                o.problems
                    .push(format!("setup line `{line}` is not shell words"));
                return o;
            }
        }
    }
    if !h.dokku(&["apps:exists", "shop"]).status.success() {
        let (ok, out) = run(&["apps:create".into(), "shop".into()]);
        assert!(ok, "{name}: apps:create shop: {out}");
    }
    // What a first push records anyway ("Set main as deploy-branch"), unless the case chose one.
    if !setup.iter().any(|l| l.contains("deploy-branch")) {
        let (ok, out) = run(&[
            "git:set".into(),
            "shop".into(),
            "deploy-branch".into(),
            "main".into(),
        ]);
        assert!(ok, "{name}: git:set: {out}");
    }
    let allow = lines(&case.join("allow")).join(" ");
    if !allow.is_empty() {
        let (ok, out) = run(&[
            "compose:set".into(),
            "shop".into(),
            "allow".into(),
            allow.clone(),
        ]);
        if !ok {
            o.problems
                .push(format!("allow `{allow}` could not be set:\n{out}"));
            return o;
        }
    }
    let marker = format!("SECRET-MARKER-{}", hex::encode(getrandom_bytes()));
    let secret = root.join("host/secret.txt");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, format!("{marker}\n")).unwrap();

    // The pusher's repository, outside the sandbox.
    let client = tempfile::tempdir().unwrap();
    let dir = client.path().join("shop");
    if let Err(e) = lay_out(&case.join("repo"), &dir, &root, &secret) {
        o.problems.push(format!("cannot lay out repo/: {e}"));
        return o;
    }
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "attack"]);
    h.remote(&dir, "shop");

    let before = snapshot(&root);
    let push = git(&dir, &["push", "dokku", "main"]);
    let after = snapshot(&root);
    let output = text(&push);

    let missing: Vec<&String> = expect
        .iter()
        .filter(|e| !output.contains(e.as_str()))
        .collect();
    if push.status.success() {
        o.problems.push("the push succeeded".into());
    }
    for m in &missing {
        o.problems.push(format!("expected in the output: {m}"));
    }
    o.refused = !push.status.success() && missing.is_empty();
    let diff = changes(&before, &after);
    if !diff.is_empty() {
        o.problems.push(format!(
            "the host changed ({} entries):\n    {}",
            diff.len(),
            diff.iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n    ")
        ));
    }
    let leaked_files = files_with(&root, &before, &after, marker.as_bytes(), &secret);
    if output.contains(&marker) {
        o.problems
            .push("the secret marker is in the push output".into());
    }
    if !leaked_files.is_empty() {
        o.problems.push(format!(
            "the secret marker is in: {}",
            leaked_files.join(", ")
        ));
    }
    o.clean = diff.is_empty() && leaked_files.is_empty() && !output.contains(&marker);
    if !o.problems.is_empty() {
        let _ = write!(
            o.problems[0],
            "\n  push output:\n    {}",
            output.trim_end().replace('\n', "\n    ")
        );
    }
    o
}

fn getrandom_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).unwrap();
    b
}

/// (security) Every case of the attack corpus is refused with its messages and leaves the host
/// unchanged, the pushed secret marker nowhere.
#[test]
fn attack_corpus_is_refused_and_leaves_the_host_unchanged() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "the attack corpus {} is empty",
        corpus_dir().display()
    );
    let t0 = std::time::Instant::now();
    let outcomes: Vec<Outcome> = cases.iter().map(|c| run_case(c)).collect();
    println!(
        "security tier: {} cases in {:.1} s",
        outcomes.len(),
        t0.elapsed().as_secs_f64()
    );
    let (refused, clean) = (
        outcomes.iter().filter(|o| o.refused).count(),
        outcomes.iter().filter(|o| o.clean).count(),
    );
    let mut report = String::new();
    for o in &outcomes {
        let _ = writeln!(
            report,
            "{:<40} {} {}",
            o.name,
            if o.refused { "refused" } else { "NOT REFUSED" },
            if o.clean {
                "host unchanged"
            } else {
                "HOST CHANGED OR LEAKED"
            }
        );
    }
    println!(
        "{report}attacks tried {}, refused {refused}, host unchanged {clean}",
        outcomes.len()
    );
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !(o.refused && o.clean))
        .map(|o| format!("case {}:\n  - {}", o.name, o.problems.join("\n  - ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} attack cases failed (bookkeeping left out of the comparison: {:?}):\n\n{}",
        failures.len(),
        outcomes.len(),
        BOOKKEEPING.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        failures.join("\n\n")
    );
}

/// (security harness) The harness can fail: a benign stack laid out as a case is reported as
/// not refused (the push succeeded, the expected refusal is missing) and as changing the host.
#[test]
fn security_harness_reports_a_benign_push() {
    let case = tempfile::tempdir().unwrap();
    let dir = case.path().join("misc--benign");
    std::fs::create_dir_all(dir.join("repo")).unwrap();
    std::fs::write(
        dir.join("repo/compose.yaml"),
        "services:\n  web:\n    image: nginx:1.27\n",
    )
    .unwrap();
    std::fs::write(dir.join("expect"), "the security policy refuses\n").unwrap();
    let o = run_case(&dir);
    println!(
        "benign case: refused {}, clean {}, problems:\n{}",
        o.refused,
        o.clean,
        o.problems.join("\n")
    );
    assert!(!o.refused && !o.clean, "{o:?}");
    for problem in [
        "the push succeeded",
        "expected in the output: the security policy refuses",
    ] {
        assert!(
            o.problems.iter().any(|p| p.starts_with(problem)),
            "{problem}: {:?}",
            o.problems
        );
    }
    assert!(
        o.problems
            .iter()
            .any(|p| p.starts_with("the host changed") && p.contains("added    home/shop-web")),
        "the deployed app is reported: {:?}",
        o.problems
    );
    // A malformed case is a failure too, not a pass.
    let bad = case.path().join("nodashes");
    std::fs::create_dir_all(bad.join("repo")).unwrap();
    assert!(run_case(&bad).problems[0].starts_with("malformed case"));
}

/// (security harness) The snapshot sees a changed, added, removed or re-moded entry, and a
/// symlink retargeted; bookkeeping is left out (but `ENV` only loses its `GIT_REV` line); the
/// leak scan finds the marker in any file written since, bookkeeping included.
#[test]
fn security_harness_snapshot_sees_changes_and_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, content: &str| {
        std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
        std::fs::write(root.join(rel), content).unwrap();
    };
    write("lib/config/shop/ENV", "export GIT_REV='1'\nexport A='1'\n");
    write("lib/config/other/ENV", "export A='1'\n");
    write("lib/data/storage/x", "x");
    write("lib/sandbox/calls.jsonl", "{}\n");
    write("host/secret.txt", "MARKER\n");
    std::os::unix::fs::symlink("/etc", root.join("lib/link")).unwrap();
    let before = snapshot(root);
    assert!(changes(&before, &snapshot(root)).is_empty());
    // The files written since `before` that hold the marker of host/secret.txt.
    let leaked = |after| {
        files_with(
            root,
            &before,
            after,
            b"MARKER",
            &root.join("host/secret.txt"),
        )
    };

    write("lib/config/shop/ENV", "export GIT_REV='2'\nexport A='1'\n");
    write("lib/sandbox/calls.jsonl", "{}\n{\"argv\": \"MARKER\"}\n");
    assert!(
        changes(&before, &snapshot(root)).is_empty(),
        "a new GIT_REV and the call log are bookkeeping"
    );
    let after = snapshot(root);
    assert_eq!(
        leaked(&after),
        vec!["lib/sandbox/calls.jsonl"],
        "a leak into a log is still a leak"
    );

    write("lib/config/shop/ENV", "export GIT_REV='2'\nexport A='2'\n");
    write("lib/config/other/ENV", "export A='1'\nexport B='MARKER'\n");
    std::fs::remove_file(root.join("lib/data/storage/x")).unwrap();
    std::fs::create_dir_all(root.join("lib/data/storage/shop-web")).unwrap();
    std::fs::set_permissions(
        root.join("lib/sandbox/calls.jsonl").parent().unwrap(),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    std::fs::remove_file(root.join("lib/link")).unwrap();
    std::os::unix::fs::symlink("/", root.join("lib/link")).unwrap();
    let after = snapshot(root);
    let diff = changes(&before, &after);
    let kinds: Vec<&str> = diff.iter().map(|d| d.split(" (").next().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "changed  lib/config/other/ENV",
            "changed  lib/config/shop/ENV",
            "removed  lib/data/storage/x",
            "changed  lib/link",
            "changed  lib/sandbox",
            "added    lib/data/storage/shop-web"
        ],
        "{diff:#?}"
    );
    assert_eq!(
        leaked(&after),
        vec!["lib/config/other/ENV", "lib/sandbox/calls.jsonl"]
    );
}
