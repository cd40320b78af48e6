//! Rendering of a loaded project as the reference prints it: JSON (`--format json`) or YAML,
//! with every literal `$` re-escaped as `$$` (keys included) so the output can be loaded again.

use super::tree::Node;

/// The project as a JSON value, `$` escaped (skipped when `escape` is false).
pub fn to_json(project: &Node, escape: bool) -> serde_json::Value {
    use serde_json::Value;
    let esc = |s: &str| if escape && s.contains('$') { s.replace('$', "$$") } else { s.to_string() };
    match project {
        Node::Str(s) => Value::String(esc(s)),
        Node::Seq(items) => Value::Array(items.iter().map(|n| to_json(n, escape)).collect()),
        Node::Map(m) => Value::Object(m.iter().map(|(k, v)| (esc(k), to_json(v, escape))).collect()),
        Node::Tagged(_, inner) => to_json(inner, escape),
        other => other.to_json(),
    }
}

/// Pretty JSON text, as `config --format json` (two-space indent, keys in order), written
/// straight from the tree without an intermediate JSON value.
pub fn render_json(project: &Node, escape: bool) -> String {
    let mut out = String::with_capacity(1 << 16);
    write_json(project, escape, 0, &mut out);
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

fn write_json(node: &Node, escape: bool, level: usize, out: &mut String) {
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
                write_json(item, escape, level + 1, out);
            }
            indent(level, out);
            out.push(']');
        }
        Node::Map(m) if m.is_empty() => out.push_str("{}"),
        Node::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write_str(k, escape, out);
                out.push_str(": ");
                write_json(v, escape, level + 1, out);
            }
            indent(level, out);
            out.push('}');
        }
        Node::Tagged(_, inner) => write_json(inner, escape, level, out),
        other => out.push_str(&other.to_json().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::tree::Map;

    #[test]
    fn streamed_json_equals_serde_pretty_output() {
        let mut inner = Map::new();
        inner.insert("a$b".into(), Node::Seq(vec![Node::Int(1), Node::Float(1.5), Node::Bool(true), Node::Null, Node::Str("q\"$x\\ \n\t\r\u{8}\u{c}\u{1}\u{1f} é ✓".into())]));
        inner.insert("empty".into(), Node::Map(Map::new()));
        inner.insert("none".into(), Node::Seq(Vec::new()));
        let mut m = Map::new();
        m.insert("k".into(), Node::Map(inner));
        let node = Node::Map(m);
        let expected = serde_json::to_string_pretty(&to_json(&node, true)).unwrap() + "\n";
        assert_eq!(render_json(&node, true), expected);
        assert!(render_json(&node, true).contains("\"a$$b\""));
    }
}

/// YAML text, as `config --format yaml`.
pub fn render_yaml(project: &Node, escape: bool) -> String {
    serde_yaml::to_string(&to_json(project, escape)).unwrap_or_default()
}
