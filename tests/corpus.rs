//! Differential test against the stored reference outputs of ../shared/compose-corpus: every
//! case is loaded in-process the way tools/run-reference.sh runs the reference, and compared
//! structurally with expected.json. Known differences are listed, with reasons, in
//! tests/known-differences.txt; the test fails when an unlisted case differs or a listed case
//! starts matching.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dokku_compose::compose::types::Project;
use dokku_compose::compose::{self, output, LoadOptions};

fn corpus_root() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/compose-corpus");
    p.canonicalize()
        .unwrap_or_else(|e| panic!("compose corpus missing at `{}`: {e}", p.display()))
}

fn known_differences() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known-differences.txt"),
    )
    .unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (case, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            assert!(
                !reason.trim().is_empty(),
                "known difference `{case}` needs a reason"
            );
            (case.to_string(), reason.trim().to_string())
        })
        .collect()
}

/// The outcome of one case: `Ok(())` when we agree with the reference.
pub(crate) fn run_case(dir: &Path, root: &Path) -> Result<(), String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let files: Vec<PathBuf> = std::fs::read_to_string(dir.join("files"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    let mut environment = BTreeMap::new();
    environment.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
    environment.insert("HOME".to_string(), "/home/corpus".to_string());
    if let Ok(env) = std::fs::read_to_string(dir.join("env")) {
        for line in env.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            environment.insert(k.to_string(), v.to_string());
        }
    }
    let opts = LoadOptions {
        files,
        project_name: Some(name),
        environment,
        working_dir: dir.to_path_buf(),
        ..LoadOptions::default()
    };
    let exit = std::fs::read_to_string(dir.join("expected.exit"))
        .unwrap()
        .trim()
        .to_string();
    let result = compose::load(&opts);
    match (exit.as_str(), result) {
        ("0", Ok(loaded)) => {
            let ours = output::to_json(&loaded.project, true);
            let text = std::fs::read_to_string(dir.join("expected.json"))
                .unwrap()
                .replace("@CORPUS_ROOT@", &root.to_string_lossy());
            let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
            if ours != expected {
                return Err(format!("output differs:\n{}", diff(&expected, &ours, "")));
            }
            // The typed model holds the same project: it serialises back to the same JSON.
            let plain = output::to_json(&loaded.project, false);
            let typed = Project::from_loaded(&loaded).map_err(|e| format!("typed model: {e}"))?;
            let back = typed.to_json(false);
            if back != plain {
                return Err(format!(
                    "typed model round trip differs:\n{}",
                    diff(&plain, &back, "")
                ));
            }
            if typed.to_json(true) == expected {
                Ok(())
            } else {
                Err("typed model, escaped, differs from the reference".into())
            }
        }
        ("0", Err(e)) => Err(format!("rejected an accepted file: {e}")),
        (_, Ok(_)) => Err("accepted a file the reference rejects".into()),
        (_, Err(e)) => {
            let msg = e.to_string();
            if msg.trim().is_empty() {
                Err("rejected with an empty error message".into())
            } else {
                Ok(())
            }
        }
    }
}

/// A few lines naming where two JSON values differ.
pub(crate) fn diff(expected: &serde_json::Value, ours: &serde_json::Value, path: &str) -> String {
    use serde_json::Value;
    let mut out = String::new();
    match (expected, ours) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) if x != y => out.push_str(&diff(x, y, &p)),
                    (Some(x), None) => {
                        out.push_str(&format!("  {p}: missing (expected {})\n", short(x)))
                    }
                    (None, Some(y)) => out.push_str(&format!("  {p}: unexpected {}\n", short(y))),
                    _ => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    out.push_str(&diff(x, y, &format!("{path}[{i}]")));
                }
            }
        }
        _ => out.push_str(&format!(
            "  {path}: expected {} got {}\n",
            short(expected),
            short(ours)
        )),
    }
    out
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

#[test]
fn corpus_matches_the_reference() {
    let root = corpus_root();
    let known = known_differences();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("files").is_file())
        .collect();
    cases.sort();
    let mut matched = 0;
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = std::panic::catch_unwind(|| run_case(dir, &root))
            .unwrap_or_else(|_| Err("panicked".into()));
        match (outcome, known.contains_key(&name)) {
            (Ok(()), false) => matched += 1,
            (Ok(()), true) => failures.push(format!(
                "{name}: listed in known-differences.txt but now matches; remove it"
            )),
            (Err(e), true) => {
                if std::env::var_os("CORPUS_VERBOSE").is_some() {
                    println!("(known) {name}: {e}");
                }
            }
            (Err(e), false) => failures.push(format!("{name}: {e}")),
        }
    }
    for name in known.keys() {
        assert!(
            cases.iter().any(|c| c.ends_with(name)),
            "known difference `{name}` is not a corpus case"
        );
    }
    println!(
        "corpus: matched {matched}/{} ({} known differences)",
        cases.len(),
        known.len()
    );
    if std::env::var_os("CORPUS_VERBOSE").is_some() {
        for f in &failures {
            println!("{f}");
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus case(s) differ from the reference (matched {matched}/{}):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
