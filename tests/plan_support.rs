//! The support matrix (brief principle 2, style R5): docs/compose-support.md, the code's key
//! table (`model::keys`) and the spec checklist in ../shared/compose-corpus/README.md must
//! agree key for key; the test fails on any difference.

use std::collections::BTreeMap;

use dokku_compose::model::keys::{KeyRule, Support, SERVICE_KEYS, TOP_LEVEL_KEYS};

use crate::support::{shared_dir, updating};

/// Rows `| \`key\` | treatment | text |` of the table under `heading`.
fn doc_table(doc: &str, heading: &str) -> BTreeMap<String, (String, String)> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("docs/compose-support.md has no `{heading}`"));
    let mut rows = BTreeMap::new();
    for line in doc[start + heading.len()..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
    {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        if let [key, treatment, text] = cells[..] {
            if let Some(k) = key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) {
                rows.insert(k.to_owned(), (treatment.to_owned(), text.to_owned()));
            }
        }
    }
    rows
}

/// Keys of the `n`-th table after "## Checklist" in the corpus README.
fn checklist(n: usize) -> Vec<String> {
    let readme = std::fs::read_to_string(shared_dir().join("compose-corpus/README.md")).unwrap();
    let start = readme.find("## Checklist").expect("checklist section");
    let mut tables: Vec<Vec<String>> = Vec::new();
    let mut in_table = false;
    for line in readme[start..].lines() {
        if line.starts_with("| `") {
            if !in_table {
                tables.push(Vec::new());
                in_table = true;
            }
            let key = line.split('`').nth(1).unwrap().to_owned();
            tables.last_mut().unwrap().push(key);
        } else if !line.starts_with('|') {
            in_table = false;
        }
    }
    tables.swap_remove(n)
}

fn compare(heading: &str, table: &[KeyRule], spec: &[String]) -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/compose-support.md"
    ))
    .unwrap();
    let rows = doc_table(&doc, heading);
    let mut problems = Vec::new();
    for rule in table {
        let text = text_of(rule);
        match rows.get(rule.key) {
            None => problems.push(format!(
                "{heading}: `{}` is in the code table but not in the doc",
                rule.key
            )),
            Some((treatment, doc_text)) => {
                if treatment != rule.support.word() {
                    problems.push(format!(
                        "{heading}: `{}` is {} in the code but {treatment} in the doc",
                        rule.key,
                        rule.support.word()
                    ));
                }
                if doc_text != &text {
                    problems.push(format!(
                        "{heading}: `{}` text differs:\n  code: {text}\n  doc:  {doc_text}",
                        rule.key
                    ));
                }
            }
        }
    }
    for key in rows.keys() {
        if !table.iter().any(|r| r.key == key) {
            problems.push(format!(
                "{heading}: `{key}` is in the doc but not in the code table"
            ));
        }
    }
    for key in spec {
        if !table.iter().any(|r| r.key == key) {
            problems.push(format!(
                "{heading}: spec key `{key}` is missing from the code table"
            ));
        }
    }
    for rule in table {
        if rule.key != "x-dokku" && !spec.iter().any(|k| k == rule.key) {
            problems.push(format!(
                "{heading}: `{}` is not a compose spec key",
                rule.key
            ));
        }
    }
    problems
}

fn text_of(rule: &KeyRule) -> String {
    match rule.support {
        Support::Mapped(t) | Support::Warned(t) | Support::Rejected(t) => t.to_owned(),
        Support::Policy(r, t) => format!("allowed by rule `{r}`: {t}"),
    }
}

#[test]
fn support_matrix_agrees_with_code_and_spec() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/compose-support.md");
    if updating() {
        let doc = std::fs::read_to_string(path).unwrap();
        let start = doc.find("## Top-level keys").expect("tables section");
        std::fs::write(path, format!("{}{}", &doc[..start], render_tables())).unwrap();
    }
    let mut problems = compare("## Top-level keys", TOP_LEVEL_KEYS, &checklist(0));
    problems.extend(compare("## Service keys", SERVICE_KEYS, &checklist(1)));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The doc tables as the code has them; `UPDATE_GOLDEN=1` writes them into the doc.
fn render_tables() -> String {
    let mut out = String::new();
    for (heading, table) in [
        ("## Top-level keys", TOP_LEVEL_KEYS),
        ("## Service keys", SERVICE_KEYS),
    ] {
        out.push_str(&format!(
            "{heading}\n\n| key | treatment | how / why |\n|---|---|---|\n"
        ));
        for r in table {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                r.key,
                r.support.word(),
                text_of(r)
            ));
        }
        out.push('\n');
    }
    out.trim_end().to_owned() + "\n"
}
