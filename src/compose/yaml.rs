//! The YAML front end: text → [`Node`] documents, with anchors, aliases and merge keys
//! resolved and the compose tags `!reset`/`!override` kept. The only user of `serde_yaml`.
//!
//! (Initial version: a thin serde_yaml wrapper; hardened in issue #2's front-end work.)

use std::path::{Path, PathBuf};

use super::tree::{Map, Node, Tag};

/// A file that is not YAML as compose accepts it.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct YamlError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, where the parser gives one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Parses every YAML document of `src` (read from `file`, named in errors).
pub fn parse(src: &str, file: &Path) -> Result<Vec<Node>, YamlError> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(src) {
        let mut value = serde_yaml::Value::deserialize(doc).map_err(|e| YamlError {
            file: file.to_path_buf(),
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        value.apply_merge().map_err(|e| YamlError {
            file: file.to_path_buf(),
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        docs.push(convert(value));
    }
    Ok(docs)
}

fn convert(value: serde_yaml::Value) -> Node {
    use serde_yaml::Value;
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(b),
        Value::Number(n) => n.as_i64().map_or_else(|| Node::Float(n.as_f64().unwrap_or(f64::NAN)), Node::Int),
        Value::String(s) => Node::Str(s),
        Value::Sequence(items) => Node::Seq(items.into_iter().map(convert).collect()),
        Value::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Value::String(s) => s,
                    other => serde_yaml::to_string(&other).unwrap_or_default().trim_end().to_string(),
                };
                out.insert(key, convert(v));
            }
            Node::Map(out)
        }
        Value::Tagged(t) => {
            let inner = convert(t.value);
            match t.tag.to_string().as_str() {
                "!reset" => Node::Tagged(Tag::Reset, Box::new(inner)),
                "!override" => Node::Tagged(Tag::Override, Box::new(inner)),
                _ => inner,
            }
        }
    }
}
