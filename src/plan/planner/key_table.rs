//! The key table of docs/mapping.md ("Where each key is mapped") cannot rot: every function
//! it names exists, every row names one in the plan column, and every concern module of
//! `src/plan/planner/app/` is named in it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The table's rows (header first), as cells.
fn table() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("docs/mapping.md")).unwrap();
    let section = text
        .split("\n## Where each key is mapped\n")
        .nth(1)
        .expect("docs/mapping.md has the section `Where each key is mapped`");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("|---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// The `a::b::f` paths in backticks of one cell.
fn paths(cell: &str) -> Vec<&str> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.contains("::")
                && w.split("::").all(|s| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
        })
        .collect()
}

/// Whether `plan::planner::app::ports::steps` names a function: `fn steps` in
/// src/plan/planner/app/ports.rs (or `…/ports/mod.rs`).
fn exists(path: &str) -> bool {
    let segs: Vec<&str> = path.split("::").collect();
    let Some((name, module)) = segs.split_last() else {
        return false;
    };
    let dir = module.iter().fold(root().join("src"), |d, s| d.join(s));
    let files = [dir.with_extension("rs"), dir.join("mod.rs")];
    files.iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|text| {
            text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<"))
        })
    })
}

#[test]
fn every_function_the_key_table_names_exists() {
    let rows = table();
    let (header, rows) = rows.split_first().expect("the table has a header");
    let plan = header
        .iter()
        .position(|h| h.starts_with("plan"))
        .expect("a `plan` column");
    assert!(rows.len() >= 20, "only {} rows", rows.len());
    let mut named = Vec::new();
    for row in rows {
        assert_eq!(row.len(), header.len(), "row `{}`", row.join(" | "));
        assert!(
            !paths(&row[plan]).is_empty(),
            "row `{}` names no planner function",
            row[0]
        );
        // Every column (a scheduler's too) is checked.
        for cell in &row[1..] {
            for p in paths(cell) {
                assert!(exists(p), "`{p}` (row `{}`) is no function in src/", row[0]);
                named.push(p.to_owned());
            }
        }
    }
    let app_dir = root().join("src/plan/planner/app");
    for entry in std::fs::read_dir(&app_dir).unwrap() {
        let file = entry.unwrap().path();
        let module = file.file_stem().unwrap().to_string_lossy().into_owned();
        if module == "mod" {
            continue;
        }
        let prefix = format!("plan::planner::app::{module}::");
        assert!(
            named.iter().any(|n| n.starts_with(&prefix)),
            "concern `{}` is in no row of the key table",
            Path::new(&file).display()
        );
    }
}

#[test]
fn the_check_sees_missing_functions() {
    assert!(exists("plan::planner::app::ports::steps"));
    assert!(exists("plan::planner::stack::primary_networks"));
    assert!(!exists("plan::planner::app::ports::no_such_function"));
    assert!(!exists("plan::planner::no_such_module::steps"));
    assert_eq!(
        paths("`a::b` and `config:set`, `x-dokku.plain`, `dokku::f`"),
        ["a::b", "dokku::f"]
    );
}
