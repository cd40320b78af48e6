//! Stage 2 of the YAML front end: decode the graph the way compose-go's ResetProcessor and
//! go-yaml's decoder do (aliases, merge keys, compose tags, duplicate and non-string keys).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use yaml_rust2::scanner::TScalarStyle;

use super::graph::{depth_error, Graph, RawKind, RawNode};
use super::scalar::{go_quote, go_value, resolve_scalar};
use super::{YamlError, MAX_ALIAS_BYTES, MAX_ALIAS_NODES, MAX_DEPTH};
use crate::compose::tree::{Map, Node, Tag};

/// Where the decoder is.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Ctx {
    depth: usize,
    /// Reached through an alias: the reference already pruned this subtree's `!reset`
    /// children at the anchor's own position, so they are dropped here.
    in_alias: bool,
    /// Inside an `!override` value: the reference does not walk it, so nested compose tags
    /// are ordinary unknown tags there.
    in_override: bool,
}

/// A path segment of the key prefix used in non-string key errors.
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) struct Decoder<'g> {
    pub(super) graph: &'g Graph,
    pub(super) file: &'g Path,
    pub(super) path: Vec<Seg>,
    pub(super) alias_nodes: usize,
    pub(super) alias_bytes: usize,
}

impl<'g> Decoder<'g> {
    fn node(&self, idx: usize) -> &'g RawNode {
        &self.graph.nodes[idx]
    }

    /// Follows aliases to the node they name.
    fn target(&self, mut idx: usize) -> usize {
        while let RawKind::Alias(t) = self.node(idx).kind {
            idx = t;
        }
        idx
    }

    /// The compose tag of a node (after aliases), outside `!override` values.
    fn compose_tag(&self, idx: usize, ctx: Ctx) -> Option<Tag> {
        if ctx.in_override {
            return None;
        }
        match self.node(self.target(idx)).tag.as_deref() {
            Some("!reset") => Some(Tag::Reset),
            Some("!override") => Some(Tag::Override),
            _ => None,
        }
    }

    /// Whether a child was pruned by the reference: a `!reset` child of a container that is
    /// reached through an alias (its anchor's position already consumed the reset).
    fn pruned(&self, child: usize, ctx: Ctx) -> bool {
        ctx.in_alias && self.compose_tag(child, ctx) == Some(Tag::Reset)
    }

    pub(super) fn decode(&mut self, idx: usize, mut ctx: Ctx) -> Result<Node, YamlError> {
        let line = self.node(idx).line;
        if ctx.depth > MAX_DEPTH {
            return Err(depth_error(self.file, line));
        }
        if ctx.in_alias {
            self.alias_nodes += 1;
            if let RawKind::Scalar { value, .. } = &self.node(idx).kind {
                self.alias_bytes += value.len();
            }
            if self.alias_bytes > MAX_ALIAS_BYTES {
                return Err(YamlError::parse(
                    self.file,
                    Some(line),
                    format_args!("line {line}: document contains excessive aliasing (more than {MAX_ALIAS_BYTES} bytes of text copied by aliases)"),
                ));
            }
            if self.alias_nodes > MAX_ALIAS_NODES {
                return Err(YamlError::parse(
                    self.file,
                    Some(line),
                    format_args!("line {line}: document contains excessive aliasing (more than {MAX_ALIAS_NODES} nodes expanded from aliases)"),
                ));
            }
        }
        if let RawKind::Alias(target) = self.node(idx).kind {
            ctx.in_alias = true;
            return self.decode(target, ctx);
        }
        if let Some(tag) = self.compose_tag(idx, ctx) {
            let mut inner = self.decode_plain(
                idx,
                Ctx {
                    in_override: true,
                    ..ctx
                },
            )?;
            if tag == Tag::Reset && inner == Node::Str(String::new()) {
                // `key: !reset` with no value: go-yaml reads the tagged empty scalar as "", a
                // null reads better and the value is discarded anyway.
                inner = Node::Null;
            }
            return Ok(Node::Tagged(tag, Box::new(inner)));
        }
        self.decode_plain(idx, ctx)
    }

    /// Decodes a node, its own compose tag aside.
    fn decode_plain(&mut self, idx: usize, ctx: Ctx) -> Result<Node, YamlError> {
        let node = self.node(idx);
        let child_ctx = Ctx {
            depth: ctx.depth + 1,
            ..ctx
        };
        match &node.kind {
            RawKind::Alias(target) => self.decode(
                *target,
                Ctx {
                    in_alias: true,
                    ..ctx
                },
            ),
            RawKind::Scalar { value, style } => resolve_scalar(value, *style, node.tag.as_deref())
                .map_err(|detail| {
                    YamlError::parse(
                        self.file,
                        Some(node.line),
                        format_args!("yaml: line {}: {detail}", node.line),
                    )
                }),
            RawKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, &item) in items.iter().enumerate() {
                    if self.pruned(item, ctx) {
                        continue;
                    }
                    self.path.push(Seg::Index(i));
                    let value = self.decode(item, child_ctx);
                    self.path.pop();
                    out.push(value?);
                }
                Ok(Node::Seq(out))
            }
            RawKind::Map(entries) => self.decode_map(entries, ctx),
        }
    }

    fn decode_map(&mut self, entries: &[(usize, usize)], ctx: Ctx) -> Result<Node, YamlError> {
        if !ctx.in_alias {
            self.check_duplicates(entries)?;
        }
        let child_ctx = Ctx {
            depth: ctx.depth + 1,
            ..ctx
        };
        let mut out = Map::new();
        let mut merges = Vec::new();
        for &(k, v) in entries {
            if self.is_merge_key(k) {
                merges.push(v);
                continue;
            }
            if self.pruned(v, ctx) {
                continue;
            }
            let key = self.key(k, ctx)?;
            self.path.push(Seg::Key(key.clone()));
            let value = self.decode(v, child_ctx);
            self.path.pop();
            out.insert(key, value?);
        }
        // Merge sources, in order: a key already present (explicit, or from an earlier
        // source) wins, as with go-yaml's `mergedFields`.
        for merge in merges {
            if self.pruned(merge, ctx) || self.compose_tag(merge, ctx) == Some(Tag::Reset) {
                continue;
            }
            let line = self.node(merge).line;
            let target = self.target(merge);
            let via_alias = ctx.in_alias || target != merge;
            let sources: Vec<(usize, bool)> = match &self.node(target).kind {
                RawKind::Map(_) => vec![(merge, via_alias)],
                // Inside `!override` aliases are not pre-resolved, and go-yaml refuses an
                // alias to anything but a mapping.
                RawKind::Seq(_) if ctx.in_override && target != merge => {
                    return Err(self.merge_error(line))
                }
                RawKind::Seq(items) => {
                    let mut sources = Vec::with_capacity(items.len());
                    for &item in items {
                        let item_target = self.target(item);
                        if !matches!(self.node(item_target).kind, RawKind::Map(_)) {
                            return Err(self.merge_error(self.node(item).line));
                        }
                        sources.push((item, via_alias || item_target != item));
                    }
                    sources
                }
                RawKind::Scalar { .. } | RawKind::Alias(_) => return Err(self.merge_error(line)),
            };
            for (source, in_alias) in sources {
                let merged = self.decode(
                    source,
                    Ctx {
                        in_alias,
                        ..child_ctx
                    },
                )?;
                let merged = match merged {
                    Node::Map(m) => m,
                    Node::Tagged(_, inner) => match *inner {
                        Node::Map(m) => m,
                        _ => continue,
                    },
                    _ => continue,
                };
                for (key, value) in merged {
                    out.entry(key).or_insert(value);
                }
            }
        }
        Ok(Node::Map(out))
    }

    fn merge_error(&self, line: usize) -> YamlError {
        YamlError::parse(
            self.file,
            Some(line),
            "yaml: map merge requires map or sequence of maps as the value",
        )
    }

    /// `<<` written plain (or with the merge tag) is a merge key; quoted it is a plain key.
    fn is_merge_key(&self, idx: usize) -> bool {
        let node = self.node(idx);
        matches!(&node.kind, RawKind::Scalar { value, style: TScalarStyle::Plain } if value == "<<")
            && matches!(node.tag.as_deref(), None | Some("!" | "!!merge"))
    }

    /// The reference rejects two keys with the same text in one mapping.
    fn check_duplicates(&self, entries: &[(usize, usize)]) -> Result<(), YamlError> {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
        for &(k, _) in entries {
            let node = self.node(k);
            if let RawKind::Scalar { value, .. } = &node.kind {
                if let Some(first) = seen.insert(value, node.line) {
                    let line = node.line;
                    return Err(YamlError::parse(
                        self.file,
                        Some(line),
                        format_args!(
                            "line {line}: mapping key {} already defined at line {first}",
                            go_quote(value)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A mapping key as a string; the reference rejects every other kind of key.
    fn key(&mut self, idx: usize, ctx: Ctx) -> Result<String, YamlError> {
        let target = self.target(idx);
        let node = self.node(target);
        let line = self.node(idx).line;
        let RawKind::Scalar { value, style } = &node.kind else {
            return Err(YamlError::parse(
                self.file,
                Some(line),
                format_args!("yaml: line {line}: invalid map key: a mapping or sequence"),
            ));
        };
        let key = if ctx.in_override {
            resolve_scalar(value, *style, None)
        } else {
            resolve_scalar(value, *style, node.tag.as_deref())
        }
        .map_err(|detail| {
            YamlError::parse(
                self.file,
                Some(line),
                format_args!("yaml: line {line}: {detail}"),
            )
        })?;
        match key {
            Node::Str(s) => Ok(s),
            Node::Tagged(_, inner) if matches!(*inner, Node::Str(_)) => {
                Ok(inner.as_str().unwrap_or_default().to_string())
            }
            other => {
                let location = if self.path.is_empty() {
                    "at top level".to_string()
                } else {
                    format!("in {}", self.path_string())
                };
                Err(YamlError {
                    file: self.file.to_path_buf(),
                    line: Some(line),
                    message: format!(
                        "non-string key {location}: {} (`{}`, line {line})",
                        go_value(&other),
                        self.file.display()
                    ),
                })
            }
        }
    }

    /// The key prefix as compose-go prints it: `networks.default.ipam.config[0]`.
    fn path_string(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }
}
