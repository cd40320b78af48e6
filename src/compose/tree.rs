//! The document tree every loader stage works on: YAML after anchors, aliases and merge keys
//! are resolved, with the compose tags `!reset` and `!override` kept for the merge stage.
//!
//! Keys are strings (the reference turns non-string keys into strings). Maps are ordered by
//! key so everything derived from a tree is deterministic.

use std::collections::BTreeMap;

/// A mapping of a compose document.
pub(crate) type Map = BTreeMap<String, Node>;

/// A compose YAML tag that changes how a value merges with an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: drop the inherited or earlier value.
    Reset,
    /// `!override`: replace the earlier value instead of merging with it.
    Override,
}

/// One value of a compose document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null`, `~` or an empty value.
    Null,
    /// A YAML boolean.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping.
    Map(Map),
    /// A value carrying a compose merge tag.
    Tagged(Tag, Box<Node>),
}

impl Node {
    /// The mapping inside this node, if it is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string inside this node, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The sequence inside this node, if it is one.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the node's kind, for error messages (`a string`, `a mapping`…).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a sequence",
            Node::Map(_) => "a mapping",
            Node::Tagged(_, inner) => inner.kind(),
        }
    }

    /// The node as JSON, tags dropped.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Map(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Node::Tagged(_, inner) => inner.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_drops_tags_and_keeps_structure() {
        let mut m = Map::new();
        m.insert("a".into(), Node::Tagged(Tag::Reset, Box::new(Node::Int(1))));
        m.insert(
            "b".into(),
            Node::Seq(vec![Node::Str("x".into()), Node::Null]),
        );
        let json = Node::Map(m).to_json();
        assert_eq!(json, serde_json::json!({"a": 1, "b": ["x", null]}));
    }
}
