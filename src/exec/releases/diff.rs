//! `compose:diff`: the readable diff of two releases, from their masked projects, the
//! fingerprints of their secrets and their app facts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::{AppFacts, ReleaseError, ReleaseStore, APPS_FILE, FINGERPRINTS_FILE, MASKED_FILE};

impl ReleaseStore {
    /// A readable diff from release `from` to release `to`, one line per change, each ending
    /// in a newline; the empty string when they are equal.
    ///
    /// Compose lines come first, sorted by key path, from the masked projects:
    /// `+ services.web.image: nginx:1.27` (added leaf), `- services.old: {…}` (removed
    /// subtree: path only), `~ services.web.image: nginx:1.26 -> nginx:1.27`, and
    /// `~ services.web.environment.DB_PASSWORD: secret changed` when a secret's fingerprint
    /// changed. Then app lines, sorted by app name: `+ app <name>`, `- app <name>`, and
    /// `~ app <name>: build context changed` / `config changed` / `scale web=1 -> web=2` /
    /// `image a -> b`.
    ///
    /// # Errors
    ///
    /// As for [`ReleaseStore::info`], for either release.
    pub(crate) fn diff(&self, from: u64, to: u64) -> Result<String, ReleaseError> {
        let a = self.release_commit(from)?;
        let b = self.release_commit(to)?;
        let a_masked: Value = self.read_json(&a, from, MASKED_FILE)?;
        let b_masked: Value = self.read_json(&b, to, MASKED_FILE)?;
        let a_fp: BTreeMap<String, String> = self.read_json(&a, from, FINGERPRINTS_FILE)?;
        let b_fp: BTreeMap<String, String> = self.read_json(&b, to, FINGERPRINTS_FILE)?;
        let mut lines = Vec::new();
        diff_values(
            &mut Vec::new(),
            &a_masked,
            &b_masked,
            (&a_fp, &b_fp),
            &mut lines,
        );
        lines.sort();
        let mut out = String::new();
        for (_, line) in lines {
            out.push_str(&line);
            out.push('\n');
        }

        let a_apps: BTreeMap<String, AppFacts> = self.read_json(&a, from, APPS_FILE)?;
        let b_apps: BTreeMap<String, AppFacts> = self.read_json(&b, to, APPS_FILE)?;
        let names: BTreeSet<&String> = a_apps.keys().chain(b_apps.keys()).collect();
        for name in names {
            match (a_apps.get(name), b_apps.get(name)) {
                (Some(x), Some(y)) => diff_app(name, x, y, &mut out),
                (None, Some(_)) => {
                    let _ = writeln!(out, "+ app {name}");
                }
                (Some(_), None) => {
                    let _ = writeln!(out, "- app {name}");
                }
                (None, None) => {}
            }
        }
        Ok(out)
    }
}

/// A one-line rendering of a masked value for a diff.
fn summary(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && !s.chars().any(char::is_control) => s.clone(),
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        Value::Object(_) => "{…}".to_owned(),
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            "[…]".to_owned()
        }
        other => other.to_string(),
    }
}

/// One diff line, sorted by its key path.
type DiffLine = (Vec<String>, String);

/// Adds the diff lines from `a` to `b` at `path` (masked values; `fps` are the fingerprints
/// of the secrets on either side).
fn diff_values(
    path: &mut Vec<String>,
    a: &Value,
    b: &Value,
    fps: (&BTreeMap<String, String>, &BTreeMap<String, String>),
    out: &mut Vec<DiffLine>,
) {
    let shown = path.join(".");
    if let (Some(x), Some(y)) = (fps.0.get(&shown), fps.1.get(&shown)) {
        if x != y {
            out.push((path.clone(), format!("~ {shown}: secret changed")));
        }
        return;
    }
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for k in keys {
                path.push(k.clone());
                match (ma.get(k), mb.get(k)) {
                    (Some(x), Some(y)) => diff_values(path, x, y, fps, out),
                    (Some(x), None) => {
                        out.push((
                            path.clone(),
                            format!("- {}: {}", path.join("."), summary(x)),
                        ));
                    }
                    (None, Some(y)) => added(path, y, out),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        (Value::Array(xa), Value::Array(xb)) if xa.len() == xb.len() => {
            for (i, (x, y)) in xa.iter().zip(xb).enumerate() {
                path.push(i.to_string());
                diff_values(path, x, y, fps, out);
                path.pop();
            }
        }
        _ if a == b => {}
        _ => out.push((
            path.clone(),
            format!("~ {shown}: {} -> {}", summary(a), summary(b)),
        )),
    }
}

/// The `+` lines of a value added at `path`: one per leaf of an added object.
fn added(path: &mut Vec<String>, v: &Value, out: &mut Vec<DiffLine>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(k.clone());
                added(path, child, out);
                path.pop();
            }
        }
        _ => out.push((
            path.clone(),
            format!("+ {}: {}", path.join("."), summary(v)),
        )),
    }
}

/// The `~ app` lines of one app present in both releases.
fn diff_app(name: &str, a: &AppFacts, b: &AppFacts, out: &mut String) {
    if a.digest != b.digest {
        let _ = writeln!(out, "~ app {name}: build context changed");
    }
    if a.config_fingerprint != b.config_fingerprint {
        let _ = writeln!(out, "~ app {name}: config changed");
    }
    if a.scale != b.scale {
        let show = |s: &BTreeMap<String, u32>| {
            if s.is_empty() {
                "(none)".to_owned()
            } else {
                s.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let _ = writeln!(
            out,
            "~ app {name}: scale {} -> {}",
            show(&a.scale),
            show(&b.scale)
        );
    }
    if a.image != b.image {
        let show = |i: &Option<String>| i.clone().unwrap_or_else(|| "(none)".to_owned());
        let _ = writeln!(
            out,
            "~ app {name}: image {} -> {}",
            show(&a.image),
            show(&b.image)
        );
    }
}
