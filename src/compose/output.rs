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
    serde_json::to_value(JsonView::top(project, escape, Quirk::None, true))
        .unwrap_or(serde_json::Value::Null)
}

/// Pretty JSON text, as `config --format json` (two-space indent, keys in order), serialized
/// straight from the tree without an intermediate JSON value.
pub fn render_json(project: &Node, escape: bool) -> String {
    pretty(&JsonView::top(project, escape, Quirk::None, false))
}

/// JSON of the untyped model (`config --no-interpolate --format json`): printed as it is,
/// without `$` escaping and without the typed marshaller's quirks.
pub fn render_json_untyped(project: &Node) -> String {
    pretty(&JsonView::top(project, false, Quirk::Untyped, false))
}

fn pretty(view: &JsonView<'_>) -> String {
    // The view serializes every node, so only an I/O error of the buffer could fail it.
    serde_json::to_string_pretty(view).unwrap_or_default() + "\n"
}

/// serde_json's parser refuses more than this many nested arrays and objects (its recursion
/// limit); the parsed text then gave `Null`, and so does the direct conversion.
const JSON_MAX_NESTING: usize = 127;

/// A string, `$` doubled when `escape` is set.
fn escaped(s: &str, escape: bool) -> std::borrow::Cow<'_, str> {
    if escape && s.contains('$') {
        s.replace('$', "$$").into()
    } else {
        s.into()
    }
}

/// How the JSON view bends a subtree to the reference's JSON marshaller.
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

/// A node as the reference's JSON marshaller prints it: tags dropped, `$` escaped when
/// `escape` is set, and the [`Quirk`] of its place in the tree. `level` counts the maps and
/// sequences above the node; with `limit`, nesting past [`JSON_MAX_NESTING`] is an error (the
/// text would not parse back).
#[derive(Clone, Copy)]
struct JsonView<'a> {
    node: &'a Node,
    escape: bool,
    level: usize,
    quirk: Quirk,
    limit: bool,
}

impl<'a> JsonView<'a> {
    fn top(node: &'a Node, escape: bool, quirk: Quirk, limit: bool) -> Self {
        JsonView {
            node,
            escape,
            level: 0,
            quirk,
            limit,
        }
    }

    fn child(&self, node: &'a Node, quirk: Quirk) -> Self {
        JsonView {
            node,
            level: self.level + 1,
            quirk,
            ..*self
        }
    }

    /// Whether the map entry `key` of this node is left out.
    fn skips(&self, key: &str) -> bool {
        let nested_ext = matches!(self.quirk, Quirk::DropExt | Quirk::Blkio)
            && self.level >= 2
            && key.starts_with("x-");
        let models = self.level == 0 && key == "models" && self.quirk != Quirk::Untyped;
        nested_ext || models
    }

    /// The quirk of the value of map entry `key` of this node.
    fn child_quirk(&self, key: &str) -> Quirk {
        if self.quirk == Quirk::Untyped {
            Quirk::Untyped
        } else if self.level == 0 && RESOURCE_KEYS.contains(&key) {
            Quirk::DropExt
        } else if self.level == 2 && self.quirk == Quirk::DropExt && key == "blkio_config" {
            Quirk::Blkio
        } else {
            self.quirk
        }
    }
}

impl serde::Serialize for JsonView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap as _, SerializeSeq as _};
        match self.node {
            Node::Str(v) => s.serialize_str(&escaped(v, self.escape)),
            Node::Tagged(_, inner) => JsonView {
                node: inner,
                ..*self
            }
            .serialize(s),
            Node::Seq(_) | Node::Map(_) if self.limit && self.level >= JSON_MAX_NESTING => {
                Err(S::Error::custom("nested deeper than serde_json parses"))
            }
            Node::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.child(item, self.quirk))?;
                }
                seq.end()
            }
            Node::Map(m) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in m.iter().filter(|(k, _)| !self.skips(k)) {
                    // A key written twice (`blkio_config`'s capitalised names) is written
                    // twice, and a parser keeps its last value.
                    let key = if self.quirk == Quirk::Blkio && self.level == 5 {
                        escaped(&capitalize(k), self.escape).into_owned()
                    } else {
                        escaped(k, self.escape).into_owned()
                    };
                    map.serialize_entry(&key, &self.child(v, self.child_quirk(k)))?;
                }
                map.end()
            }
            // Null, booleans and numbers, as serde_json prints them (a float as its shortest
            // round-tripping text, a non-finite one as null).
            other => other.to_json().serialize(s),
        }
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
    let s = escaped(s, escape);
    if yaml_plain_ok(&s) {
        out.push_str(&s);
    } else {
        // A double-quoted YAML scalar: JSON's string syntax is a subset.
        out.push_str(&serde_json::Value::from(s.as_ref()).to_string());
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
    fn rendered_json_equals_the_pretty_printed_value() {
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
        // The text serialized from the tree is what printing its JSON value gives.
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
