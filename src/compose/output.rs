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

/// Pretty JSON text, as `config --format json`.
pub fn render_json(project: &Node, escape: bool) -> String {
    let mut s = serde_json::to_string_pretty(&to_json(project, escape)).unwrap_or_default();
    s.push('\n');
    s
}

/// YAML text, as `config --format yaml`.
pub fn render_yaml(project: &Node, escape: bool) -> String {
    serde_yaml::to_string(&to_json(project, escape)).unwrap_or_default()
}
