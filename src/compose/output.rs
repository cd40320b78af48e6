//! Rendering of a loaded project as the reference prints it: JSON (`--format json`) or YAML,
//! with every literal `$` re-escaped as `$$` (keys included) so the output can be loaded again.
//!
//! The two formats differ as the reference's marshallers do: JSON leaves out `x-*` keys
//! inside services and resources (only top-level extensions are printed); YAML keeps them but
//! omits null `command`/`entrypoint` and empty `deploy.placement`, `deploy.resources` and
//! network `ipam`.

/// The top-level keys whose entries drop nested `x-*` keys in JSON.
const RESOURCE_KEYS: &[&str] = &["services", "networks", "volumes", "secrets", "configs"];

use super::tree::Node;

/// The project as a JSON value, `$` escaped (skipped when `escape` is false).
///
/// Built straight from the tree, with the same rules as [`render_json`] (nested `x-*` keys and
/// top-level `models` left out, `blkio_config` field names, tags dropped): the value equals
/// what parsing the rendered text gives, without writing and re-reading the text (the plan
/// command's hand-off from the loader to the model).
pub fn to_json(project: &Node, escape: bool) -> serde_json::Value {
    value_q(project, escape, 0, Quirk::None).unwrap_or(serde_json::Value::Null)
}

/// serde_json's parser refuses more than this many nested arrays and objects (its recursion
/// limit); the parsed text then gave `Null`, and so does the direct conversion.
const JSON_MAX_NESTING: usize = 127;

/// A string, `$` doubled when `escape` is set (as [`write_str`] writes it).
fn escaped(s: &str, escape: bool) -> String {
    if escape && s.contains('$') {
        s.replace('$', "$$")
    } else {
        s.to_owned()
    }
}

/// The value [`write_json_q`] writes for `node`, parsed back; `None` past serde_json's nesting
/// limit. `level` counts the maps and sequences above `node`.
fn value_q(node: &Node, escape: bool, level: usize, quirk: Quirk) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match node {
        Node::Str(s) => Value::String(escaped(s, escape)),
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::from(*i),
        // Printed and read back, so the number is exactly the one the text gave.
        Node::Float(_) => serde_json::from_str(&node.to_json().to_string()).ok()?,
        Node::Tagged(_, inner) => return value_q(inner, escape, level, quirk),
        Node::Seq(_) | Node::Map(_) if level >= JSON_MAX_NESTING => return None,
        Node::Seq(items) => Value::Array(
            items
                .iter()
                .map(|i| value_q(i, escape, level + 1, quirk))
                .collect::<Option<_>>()?,
        ),
        Node::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                if matches!(quirk, Quirk::DropExt | Quirk::Blkio)
                    && level >= 2
                    && k.starts_with("x-")
                {
                    continue;
                }
                if level == 0 && k == "models" {
                    continue;
                }
                // A key written twice (`blkio_config`'s capitalised names) keeps its last
                // value, as the parser does.
                let key = if quirk == Quirk::Blkio && level == 5 {
                    escaped(&capitalize(k), escape)
                } else {
                    escaped(k, escape)
                };
                let child = if level == 0 && RESOURCE_KEYS.contains(&k.as_str()) {
                    Quirk::DropExt
                } else if level == 2 && quirk == Quirk::DropExt && k == "blkio_config" {
                    Quirk::Blkio
                } else {
                    quirk
                };
                out.insert(key, value_q(v, escape, level + 1, child)?);
            }
            Value::Object(out)
        }
    })
}

/// Pretty JSON text, as `config --format json` (two-space indent, keys in order), written
/// straight from the tree without an intermediate JSON value.
pub fn render_json(project: &Node, escape: bool) -> String {
    let mut out = String::with_capacity(1 << 16);
    write_json(project, escape, 0, false, &mut out);
    out.push('\n');
    out
}

/// JSON of the untyped model (`config --no-interpolate --format json`): printed as it is,
/// without `$` escaping and without the typed marshaller's quirks.
pub fn render_json_untyped(project: &Node) -> String {
    let mut out = String::with_capacity(1 << 16);
    write_json_q(project, false, 0, Quirk::Untyped, &mut out);
    out.push('\n');
    out
}

/// Writes a JSON string literal as serde_json does, `$` doubled when `escape` is set.
fn write_str(s: &str, escape: bool, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let replacement: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            b'$' if escape => "$$",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if replacement.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(replacement);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// How the JSON writer bends a subtree to the reference's JSON marshaller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quirk {
    /// Nothing special.
    None,
    /// Inside a service or resource: nested `x-*` keys are left out.
    DropExt,
    /// Inside `blkio_config`: list entries print Go field names (`Path`, `Rate`, `Weight`).
    Blkio,
    /// The untyped model: everything printed as it is.
    Untyped,
}

fn write_json(node: &Node, escape: bool, level: usize, drop_ext: bool, out: &mut String) {
    write_json_q(
        node,
        escape,
        level,
        if drop_ext {
            Quirk::DropExt
        } else {
            Quirk::None
        },
        out,
    );
}

fn write_json_q(node: &Node, escape: bool, level: usize, quirk: Quirk, out: &mut String) {
    match node {
        Node::Str(s) => write_str(s, escape, out),
        Node::Seq(items) if items.is_empty() => out.push_str("[]"),
        Node::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write_json_q(item, escape, level + 1, quirk, out);
            }
            indent(level, out);
            out.push(']');
        }
        Node::Map(m) => {
            let mut first = true;
            for (k, v) in m {
                if matches!(quirk, Quirk::DropExt | Quirk::Blkio)
                    && level >= 2
                    && k.starts_with("x-")
                {
                    continue;
                }
                if level == 0 && k == "models" && quirk != Quirk::Untyped {
                    continue;
                }
                out.push_str(if first { "{" } else { "," });
                first = false;
                indent(level + 1, out);
                if quirk == Quirk::Blkio && level == 5 {
                    write_str(&capitalize(k), escape, out);
                } else {
                    write_str(k, escape, out);
                }
                out.push_str(": ");
                let child = if quirk == Quirk::Untyped {
                    Quirk::Untyped
                } else if level == 0 && RESOURCE_KEYS.contains(&k.as_str()) {
                    Quirk::DropExt
                } else if level == 2 && quirk == Quirk::DropExt && k == "blkio_config" {
                    Quirk::Blkio
                } else {
                    quirk
                };
                write_json_q(v, escape, level + 1, child, out);
            }
            if first {
                out.push_str("{}");
            } else {
                indent(level, out);
                out.push('}');
            }
        }
        Node::Tagged(_, inner) => write_json_q(inner, escape, level, quirk, out),
        other => out.push_str(&other.to_json().to_string()),
    }
}

fn capitalize(k: &str) -> String {
    let mut c = k.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_ascii_uppercase().to_string() + c.as_str()
    })
}

/// YAML text, as `config --format yaml` (block style; strings quoted wherever a YAML 1.1
/// reader could take them for something else).
pub fn render_yaml(project: &Node, escape: bool) -> String {
    let mut out = String::with_capacity(1 << 16);
    if let Node::Map(m) = project {
        yaml_map(m, escape, 0, &[], &mut out);
    }
    out
}

/// Whether a YAML entry at `path` (keys from the top) is left out of the YAML output.
fn yaml_skips(path: &[&str], key: &str, value: &Node) -> bool {
    let empty_map = matches!(value, Node::Map(m) if m.is_empty());
    match (path, key) {
        (["services", _], "command" | "entrypoint") => matches!(value, Node::Null),
        (["services", _, "deploy"], "placement" | "resources") | (["networks", _], "ipam") => {
            empty_map
        }
        (["services", _, "develop", "watch"], "exec") => {
            matches!(value, Node::Map(m) if m.len() == 1 && matches!(m.get("command"), Some(Node::Null)))
        }
        _ => false,
    }
}

fn yaml_map(m: &super::tree::Map, escape: bool, indent: usize, path: &[&str], out: &mut String) {
    for (k, v) in m {
        if yaml_skips(path, k, v) {
            continue;
        }
        push_indent(indent, out);
        yaml_scalar_str(k, escape, out);
        out.push(':');
        let mut child: Vec<&str> = path.to_vec();
        child.push(k);
        yaml_value(v, escape, indent, &child, out);
    }
}

/// Writes a value after `key:` (or after `-`), starting on the same line.
fn yaml_value(v: &Node, escape: bool, indent: usize, path: &[&str], out: &mut String) {
    match v {
        Node::Map(m) if !m.is_empty() => {
            out.push('\n');
            yaml_map(m, escape, indent + 2, path, out);
        }
        Node::Seq(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                push_indent(indent + 2, out);
                out.push('-');
                match item {
                    Node::Map(m) if !m.is_empty() => {
                        // The first key goes on the dash's line.
                        let mut inner = String::new();
                        yaml_map(m, escape, indent + 4, path, &mut inner);
                        out.push(' ');
                        out.push_str(inner.trim_start_matches(' '));
                    }
                    other => yaml_value(other, escape, indent + 2, path, out),
                }
            }
        }
        Node::Tagged(_, inner) => yaml_value(inner, escape, indent, path, out),
        scalar => {
            out.push(' ');
            match scalar {
                Node::Str(s) => yaml_scalar_str(s, escape, out),
                Node::Map(_) => out.push_str("{}"),
                Node::Seq(_) => out.push_str("[]"),
                other => out.push_str(&other.to_json().to_string()),
            }
            out.push('\n');
        }
    }
}

fn push_indent(indent: usize, out: &mut String) {
    for _ in 0..indent {
        out.push(' ');
    }
}

fn yaml_scalar_str(s: &str, escape: bool, out: &mut String) {
    let escaped;
    let s = if escape && s.contains('$') {
        escaped = s.replace('$', "$$");
        escaped.as_str()
    } else {
        s
    };
    if yaml_plain_ok(s) {
        out.push_str(s);
    } else {
        write_str(s, false, out);
    }
}

/// Whether a string can be written plain (unquoted) and read back as the same string by
/// YAML 1.1 and 1.2 readers.
fn yaml_plain_ok(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "<<",
        "=",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if SPECIAL.contains(&s)
        || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
        || s.starts_with('.')
    {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@` \t".contains(first) || s.ends_with([' ', ':']) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return false;
    }
    // Digits with separators (`1_000`, `12:30`, `1e3`) read as numbers or sexagesimals in YAML 1.1.
    !s.chars()
        .all(|c| c.is_ascii_digit() || "_:.eE+-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::tree::Map;

    #[test]
    fn streamed_json_equals_serde_pretty_output() {
        let mut inner = Map::new();
        inner.insert(
            "a$b".into(),
            Node::Seq(vec![
                Node::Int(1),
                Node::Float(1.5),
                Node::Bool(true),
                Node::Null,
                Node::Str("q\"$x\\ \n\t\r\u{8}\u{c}\u{1}\u{1f} é ✓".into()),
            ]),
        );
        inner.insert("empty".into(), Node::Map(Map::new()));
        inner.insert("none".into(), Node::Seq(Vec::new()));
        let mut m = Map::new();
        m.insert("k".into(), Node::Map(inner));
        let node = Node::Map(m);
        let value = to_json(&node, true);
        assert_eq!(
            value["k"]["a$$b"][4],
            serde_json::json!("q\"$$x\\ \n\t\r\u{8}\u{c}\u{1}\u{1f} é ✓")
        );
        assert_eq!(value["k"]["empty"], serde_json::json!({}));
        // The hand-written text is byte for byte what serde_json's pretty printer writes.
        let expected = serde_json::to_string_pretty(&value).unwrap() + "\n";
        assert_eq!(render_json(&node, true), expected);
        let yaml: serde_json::Value = serde_yaml::from_str(&render_yaml(&node, true)).unwrap();
        assert_eq!(yaml, to_json(&node, true));
        assert!(render_json(&node, true).contains("\"a$$b\""));
    }

    #[test]
    fn nested_extensions_are_left_out_of_json_only() {
        let mut svc = Map::new();
        svc.insert("image".into(), Node::Str("x".into()));
        svc.insert("x-meta".into(), Node::Int(1));
        let mut services = Map::new();
        services.insert("web".into(), Node::Map(svc));
        let mut top = Map::new();
        top.insert("services".into(), Node::Map(services));
        top.insert(
            "x-top".into(),
            Node::Map(std::iter::once(("x-inner".to_string(), Node::Bool(true))).collect()),
        );
        let node = Node::Map(top);
        let json = to_json(&node, true);
        assert_eq!(
            json,
            serde_json::json!({"services": {"web": {"image": "x"}}, "x-top": {"x-inner": true}})
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&render_json(&node, true)).unwrap(),
            json
        );
        assert!(render_yaml(&node, true).contains("x-meta: 1"));
    }

    #[test]
    fn direct_value_equals_the_parsed_text() {
        let parsed = |node: &Node, escape: bool| {
            serde_json::from_str::<serde_json::Value>(&render_json(node, escape))
                .unwrap_or(serde_json::Value::Null)
        };
        let mut blkio = Map::new();
        let mut entry = Map::new();
        entry.insert("path".into(), Node::Str("/dev/sda".into()));
        entry.insert("rate".into(), Node::Int(10));
        entry.insert("x-e".into(), Node::Null);
        blkio.insert("device_read_bps".into(), Node::Seq(vec![Node::Map(entry)]));
        let mut svc = Map::new();
        svc.insert("blkio_config".into(), Node::Map(blkio));
        svc.insert(
            "x-dokku".into(),
            Node::Tagged(
                crate::compose::tree::Tag::Reset,
                Box::new(Node::Str("$a".into())),
            ),
        );
        svc.insert("cpus".into(), Node::Float(0.1 + 0.2));
        svc.insert("nan".into(), Node::Float(f64::NAN));
        let mut top = Map::new();
        top.insert(
            "services".into(),
            Node::Map(std::iter::once(("w$b".to_string(), Node::Map(svc))).collect()),
        );
        top.insert("models".into(), Node::Map(Map::new()));
        top.insert(
            "x-top".into(),
            Node::Map(std::iter::once(("x-inner".to_string(), Node::Str("$$".into()))).collect()),
        );
        let node = Node::Map(top);
        for escape in [true, false] {
            assert_eq!(to_json(&node, escape), parsed(&node, escape));
        }
        // Past serde_json's nesting limit the text does not parse back: both give null.
        for depth in [120, 126, 127, 128, 140] {
            let mut deep = Node::Null;
            for _ in 0..depth {
                deep = Node::Seq(vec![deep]);
            }
            assert_eq!(to_json(&deep, true), parsed(&deep, true), "depth {depth}");
        }
    }

    #[test]
    fn yaml_quotes_what_a_yaml_reader_would_misread() {
        for s in [
            "no",
            "on",
            "1.5",
            "12:30",
            "",
            " lead",
            "a: b",
            "-x",
            "null",
            "0x1f",
            "line\nbreak",
        ] {
            assert!(!yaml_plain_ok(s), "{s:?} must be quoted");
        }
        for s in [
            "nginx",
            "nginx:1.25",
            "/var/lib/data",
            "a=b",
            "service_started",
        ] {
            assert!(yaml_plain_ok(s), "{s:?} can be plain");
        }
    }
}
