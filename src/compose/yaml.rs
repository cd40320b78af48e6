//! The YAML front end: text → [`Node`] documents, with anchors, aliases and merge keys
//! resolved and the compose tags `!reset`/`!override` kept, exactly as the reference
//! (compose-go v2.9.1 on go-yaml v3.0.4) reads a compose file. The only user of a YAML library.
//!
//! The reference first walks the YAML node graph (its `ResetProcessor`), replacing every alias
//! by its target and pruning `!reset` children *in place*, then decodes the graph with go-yaml's
//! rules: YAML 1.2 core booleans, go-yaml's number parsing (`007` is 7, `08` is the float 8),
//! merge keys (explicit keys win, earlier merge entries win), duplicate-key errors with lines,
//! and an error for non-string keys. `serde_yaml` expands aliases before we can see them, so
//! this module reads the event stream of `yaml-rust2` and rebuilds the graph itself.
//!
//! Hostile input is bounded (see `docs/loader.md`, "Front end"): [`MAX_FILE_BYTES`],
//! [`MAX_DEPTH`] and [`MAX_ALIAS_NODES`] turn billion-laughs documents, deep nesting and huge
//! files into clear errors instead of exhausting the stack or memory.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, Parser, Tag as YamlTag};
use yaml_rust2::scanner::TScalarStyle;

use super::tree::{Map, Node, Tag};

/// Largest compose file accepted, in bytes (16 MiB). The largest real stacks are tens of
/// kilobytes and a generated 5,000-service stack is 1.5 MB; parsing costs about 20 bytes of
/// memory per input byte (a 15 MB file: 1.7 s and 290 MB in a release build), so a 50 MB file
/// is refused with a clear error instead of taking a gigabyte.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Deepest nesting of mappings and sequences (alias expansions included). Compose documents
/// nest about ten levels; every later loader stage recurses over the tree, so the limit
/// protects their stacks too.
pub const MAX_DEPTH: usize = 256;

/// Most nodes that alias expansion may produce in one document. The reference's own
/// "alias bomb" test case (3^10 leaves, about 0.3 million nodes) fits; a billion-laughs
/// document does not.
pub const MAX_ALIAS_NODES: usize = 1_000_000;

/// Most bytes of scalar text that alias expansion may copy in one document (64 MiB): a large
/// anchored string aliased many times is refused like a billion-laughs document.
pub const MAX_ALIAS_BYTES: usize = 64 << 20;

/// A file that is not YAML as compose accepts it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, where known.
    pub line: Option<usize>,
    /// The whole message, worded like the reference's and naming the file
    /// (`failed to parse compose.yml: line 6: mapping key "command" already defined at line 5`).
    pub message: String,
}

impl YamlError {
    /// An error in the reference's `failed to parse <file>: <detail>` form.
    fn parse(file: &Path, line: Option<usize>, detail: impl std::fmt::Display) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            message: format!("failed to parse {}: {detail}", file.display()),
        }
    }
}

/// Parses every YAML document of `src` (read from `file`, named in errors). An empty stream
/// yields no document; an empty document yields [`Node::Null`].
pub fn parse(src: &str, file: &Path) -> Result<Vec<Node>, YamlError> {
    check_text(src, file)?;
    let graph = Graph::build(src, file)?;
    let mut docs = Vec::with_capacity(graph.roots.len());
    for &root in &graph.roots {
        let mut decoder = Decoder {
            graph: &graph,
            file,
            path: Vec::new(),
            alias_nodes: 0,
            alias_bytes: 0,
        };
        docs.push(decoder.decode(root, Ctx::default())?);
    }
    Ok(docs)
}

/// Reads and parses a compose file, refusing one larger than [`MAX_FILE_BYTES`] before
/// reading it. I/O errors are returned as they are, for the caller to name the file.
pub fn parse_file(file: &Path) -> Result<Result<Vec<Node>, YamlError>, std::io::Error> {
    use std::io::Read as _;
    let handle = std::fs::File::open(file)?;
    let limit = u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    handle.take(limit + 1).read_to_end(&mut bytes)?;
    Ok(parse_bytes(&bytes, file))
}

/// Parses raw file bytes: rejects oversized files and invalid UTF-8 (naming the byte offset and
/// line), then [`parse`]s. A UTF-8 byte-order mark is skipped.
pub fn parse_bytes(bytes: &[u8], file: &Path) -> Result<Vec<Node>, YamlError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(YamlError::parse(
            file,
            None,
            format_args!("file is larger than the limit of {MAX_FILE_BYTES} bytes"),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(src) => parse(src, file),
        Err(e) => {
            let offset = e.valid_up_to();
            let line = line_of(&bytes[..offset]);
            Err(YamlError::parse(
                file,
                Some(line),
                format_args!("yaml: line {line}: invalid UTF-8 at byte offset {offset}"),
            ))
        }
    }
}

fn line_of(prefix: &[u8]) -> usize {
    prefix.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Rejects what libyaml's reader rejects before any parsing: oversized input and control
/// characters (NUL included), with the line and byte offset.
fn check_text(src: &str, file: &Path) -> Result<(), YamlError> {
    if src.len() > MAX_FILE_BYTES {
        return Err(YamlError::parse(
            file,
            None,
            format_args!(
                "file is {} bytes, more than the limit of {MAX_FILE_BYTES} bytes",
                src.len()
            ),
        ));
    }
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    let src = src.strip_prefix('\u{FEFF}').unwrap_or(src);
    if let Some((offset, c)) = src.char_indices().find(|&(_, c)| !allowed(c)) {
        let line = line_of(&src.as_bytes()[..offset]);
        return Err(YamlError::parse(
            file,
            Some(line),
            format_args!("yaml: line {line}: control characters are not allowed (U+{:04X} at byte offset {offset})", c as u32),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Stage 1: the event stream → a node graph with anchors kept as shared references.

/// One YAML node as written, before aliases, merges and tags are applied.
#[derive(Debug)]
struct RawNode {
    line: usize,
    tag: Option<String>,
    kind: RawKind,
}

#[derive(Debug)]
enum RawKind {
    Scalar {
        value: String,
        style: TScalarStyle,
    },
    Seq(Vec<usize>),
    Map(Vec<(usize, usize)>),
    /// An alias: the index of the anchored node.
    Alias(usize),
}

/// Every node of a stream in one arena; aliases point at their anchor's index.
struct Graph {
    nodes: Vec<RawNode>,
    roots: Vec<usize>,
}

impl Graph {
    fn build(src: &str, file: &Path) -> Result<Self, YamlError> {
        let mut nodes: Vec<RawNode> = Vec::new();
        let mut roots = Vec::new();
        // Open containers: (node index, pending key for mappings).
        let mut stack: Vec<(usize, Option<usize>)> = Vec::new();
        let mut open = Vec::<bool>::new();
        let mut anchors: HashMap<usize, usize> = HashMap::new();
        let mut parser = Parser::new_from_str(src);
        loop {
            let (event, mark) = parser.next_token().map_err(|e| {
                let line = e.marker().line();
                if e.info() == "while parsing node, found unknown anchor" {
                    // go-yaml names the anchor and gives no line.
                    let name = alias_name_at(src, e.marker().index());
                    return YamlError::parse(
                        file,
                        Some(line),
                        format_args!("yaml: unknown anchor '{name}' referenced"),
                    );
                }
                YamlError::parse(
                    file,
                    Some(line),
                    format_args!("yaml: line {line}: {}", libyaml_words(e.info())),
                )
            })?;
            let line = mark.line();
            let is_seq = matches!(event, Event::SequenceStart(..));
            let finished = match event {
                Event::StreamEnd => break,
                Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {
                    None
                }
                Event::Alias(id) => {
                    let Some(&target) = anchors.get(&id) else {
                        return Err(YamlError::parse(
                            file,
                            Some(line),
                            format_args!("yaml: line {line}: unknown anchor referenced"),
                        ));
                    };
                    if open[target] {
                        return Err(YamlError::parse(
                            file,
                            Some(line),
                            format_args!("line {line}: cycle detected: alias refers to the node that contains it"),
                        ));
                    }
                    Some(push(
                        &mut nodes,
                        &mut open,
                        RawNode {
                            line,
                            tag: None,
                            kind: RawKind::Alias(target),
                        },
                    ))
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let idx = push(
                        &mut nodes,
                        &mut open,
                        RawNode {
                            line,
                            tag: tag.map(tag_name),
                            kind: RawKind::Scalar { value, style },
                        },
                    );
                    if anchor != 0 {
                        anchors.insert(anchor, idx);
                    }
                    Some(idx)
                }
                Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(depth_error(file, line));
                    }
                    let kind = if is_seq {
                        RawKind::Seq(Vec::new())
                    } else {
                        RawKind::Map(Vec::new())
                    };
                    let idx = push(
                        &mut nodes,
                        &mut open,
                        RawNode {
                            line,
                            tag: tag.map(tag_name),
                            kind,
                        },
                    );
                    open[idx] = true;
                    if anchor != 0 {
                        anchors.insert(anchor, idx);
                    }
                    stack.push((idx, None));
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (idx, _) = stack
                        .pop()
                        .expect("the parser balances start and end events");
                    open[idx] = false;
                    Some(idx)
                }
            };
            let Some(child) = finished else { continue };
            match stack.last_mut() {
                None => roots.push(child),
                Some((parent, pending)) => match &mut nodes[*parent].kind {
                    RawKind::Seq(items) => items.push(child),
                    RawKind::Map(entries) => match pending.take() {
                        None => *pending = Some(child),
                        Some(key) => entries.push((key, child)),
                    },
                    RawKind::Scalar { .. } | RawKind::Alias(_) => {
                        unreachable!("only containers are stacked")
                    }
                },
            }
        }
        Ok(Self { nodes, roots })
    }
}

/// The name of the alias written at character `index` of `src` (`*name`).
fn alias_name_at(src: &str, index: usize) -> String {
    let rest: String = src.chars().skip(index).collect::<String>();
    let rest = rest.strip_prefix('*').unwrap_or(&rest);
    rest.chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .collect()
}

/// A `yaml-rust2` message in libyaml's words where they differ (go-yaml is a libyaml port):
/// the problem without the "while parsing …" context.
fn libyaml_words(info: &str) -> String {
    let problem = match info.strip_prefix("while ") {
        Some(rest) => rest.split_once(", ").map_or(info, |(_, problem)| problem),
        None => info,
    };
    match problem {
        "expected ',' or ']'" => "did not find expected ',' or ']'".to_string(),
        "simple key expect ':'" => "could not find expected ':'".to_string(),
        p if p.starts_with("tabs disallowed") => {
            "found character that cannot start any token".to_string()
        }
        p => p.to_string(),
    }
}

fn push(nodes: &mut Vec<RawNode>, open: &mut Vec<bool>, node: RawNode) -> usize {
    nodes.push(node);
    open.push(false);
    nodes.len() - 1
}

fn depth_error(file: &Path, line: usize) -> YamlError {
    YamlError::parse(
        file,
        Some(line),
        format_args!("line {line}: document nests deeper than the limit of {MAX_DEPTH} levels"),
    )
}

/// The tag as go-yaml spells it: `!!str` for core tags, `!reset` for local ones, `!` alone.
fn tag_name(tag: YamlTag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

// ---------------------------------------------------------------------------------------------
// Stage 2: decode the graph the way compose-go's ResetProcessor + go-yaml's decoder do.

/// Where the decoder is.
#[derive(Debug, Clone, Copy, Default)]
struct Ctx {
    depth: usize,
    /// Reached through an alias: the reference already pruned this subtree's `!reset`
    /// children at the anchor's own position, so they are dropped here.
    in_alias: bool,
    /// Inside an `!override` value: the reference does not walk it, so nested compose tags
    /// are ordinary unknown tags there.
    in_override: bool,
}

/// A path segment of the key prefix used in non-string key errors.
enum Seg {
    Key(String),
    Index(usize),
}

struct Decoder<'g> {
    graph: &'g Graph,
    file: &'g Path,
    path: Vec<Seg>,
    alias_nodes: usize,
    alias_bytes: usize,
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

    fn decode(&mut self, idx: usize, mut ctx: Ctx) -> Result<Node, YamlError> {
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

// ---------------------------------------------------------------------------------------------
// Scalars: go-yaml v3's `resolve`.

const CORE: &str = "!!";

/// Resolves a scalar as go-yaml does: plain scalars by their text, quoted and block scalars as
/// strings, explicitly tagged ones by their tag (unknown tags such as `!reset` give strings).
fn resolve_scalar(value: &str, style: TScalarStyle, tag: Option<&str>) -> Result<Node, String> {
    let tag = match tag {
        Some("!") | None => {
            if style != TScalarStyle::Plain {
                return Ok(Node::Str(value.to_string()));
            }
            return Ok(resolve_plain(value));
        }
        Some(t) => t,
    };
    let Some(core) = tag.strip_prefix(CORE) else {
        return Ok(Node::Str(value.to_string()));
    };
    let resolved = resolve_plain(value);
    let mismatch = || format!("cannot decode {} `{value}` as a {tag}", kind_tag(&resolved));
    match core {
        "str" | "timestamp" => Ok(Node::Str(value.to_string())),
        "binary" => decode_base64(value)
            .map(|bytes| Node::Str(String::from_utf8_lossy(&bytes).into_owned()))
            .ok_or_else(|| "!!binary value contains invalid base64 data".to_string()),
        "int" => match resolved {
            Node::Int(_) => Ok(resolved),
            _ => Err(mismatch()),
        },
        "float" => match resolved {
            #[expect(
                clippy::cast_precision_loss,
                reason = "go-yaml turns an int tagged !!float into a float64 the same way"
            )]
            Node::Int(i) => Ok(Node::Float(i as f64)),
            Node::Float(_) => Ok(resolved),
            _ => Err(mismatch()),
        },
        "bool" => match resolved {
            Node::Bool(_) => Ok(resolved),
            _ => Err(mismatch()),
        },
        "null" => match resolved {
            Node::Null => Ok(resolved),
            _ => Err(mismatch()),
        },
        // `!!seq`, `!!map`, `!!merge` or an unknown core tag on a scalar: the text.
        _ => Ok(Node::Str(value.to_string())),
    }
}

/// Standard base64 with padding; line breaks are ignored, as Go's decoder does.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b'\n' | b'\r'))
        .collect();
    if digits.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(digits.len() / 4 * 3);
    let chunks = digits.len() / 4;
    for (i, chunk) in digits.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

fn kind_tag(node: &Node) -> &'static str {
    match node {
        Node::Null => "!!null",
        Node::Bool(_) => "!!bool",
        Node::Int(_) => "!!int",
        Node::Float(_) => "!!float",
        _ => "!!str",
    }
}

/// An untagged plain scalar: null, YAML 1.2 core booleans, go-yaml's integers and floats,
/// dates, or a string.
fn resolve_plain(s: &str) -> Node {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Node::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => match go_parse_float(s) {
            Some(f) => Node::Float(f),
            None => Node::Str(s.to_string()),
        },
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(date) = go_date(s) {
                return Node::Str(date);
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(n) = go_parse_int(&plain) {
                return match i64::try_from(n) {
                    Ok(i) => Node::Int(i),
                    // Above i64::MAX: go-yaml gives a uint64; the tree has no such variant.
                    #[expect(
                        clippy::cast_precision_loss,
                        reason = "documented limit: integers above i64::MAX become floats"
                    )]
                    Err(_) => Node::Float(n as f64),
                };
            }
            if is_yaml_float(&plain) {
                if let Some(f) = go_parse_float(&plain) {
                    return Node::Float(f);
                }
            }
            Node::Str(s.to_string())
        }
        _ => Node::Str(s.to_string()),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, widened to also cover the `ParseUint` fallback: an
/// optional sign, then `0x`/`0o`/`0b`/leading-`0` (octal) prefixes or decimal digits.
fn go_parse_int(s: &str) -> Option<i128> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &body[2..]),
        Some("0o") => (8, &body[2..]),
        Some("0b") => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    let value = if negative {
        -i128::from(magnitude)
    } else {
        i128::from(magnitude)
    };
    // ParseInt's range, or ParseUint's (no sign allowed) above it.
    let signed = s.starts_with(['+', '-']);
    let fits = (i128::from(i64::MIN)..=i128::from(i64::MAX)).contains(&value) || !signed;
    fits.then_some(value)
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text: finite results only (out of range is an
/// error there too); `inf`/`nan` spellings are not floats to go-yaml.
fn go_parse_float(s: &str) -> Option<f64> {
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A plain `YYYY-M-D` date, which go-yaml decodes as a timestamp and compose prints in RFC 3339
/// (`2001-12-14T00:00:00Z`). Other timestamp spellings stay as written.
fn go_date(s: &str) -> Option<String> {
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = |p: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit())
    };
    if !ok(y, 4, 4) || !ok(m, 1, 2) || !ok(d, 1, 2) {
        return None;
    }
    let (year, month, day): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days)
        .contains(&day)
        .then(|| format!("{year:04}-{month:02}-{day:02}T00:00:00Z"))
}

/// A string quoted the way Go's `%#v`/`%q` does for the usual printable text.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A scalar as Go's `%#v` prints it (for non-string key errors).
fn go_value(node: &Node) -> String {
    match node {
        Node::Null => "<nil>".to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => go_float(*f),
        Node::Str(s) => go_quote(s),
        Node::Tagged(_, inner) => go_value(inner),
        Node::Seq(_) | Node::Map(_) => node.kind().to_string(),
    }
}

/// A float as Go's `%v` prints it: shortest form, exponent from 1e21 or below 1e-4.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes `1e21`, Go `1e+21`; Go pads the exponent to two digits.
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let mut docs = parse(src, Path::new("c.yml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(docs.len(), 1, "{src}");
        docs.remove(0)
    }

    fn json(src: &str) -> serde_json::Value {
        one(src).to_json()
    }

    fn err(src: &str) -> String {
        parse(src, Path::new("c.yml")).expect_err(src).to_string()
    }

    #[test]
    fn scalars_resolve_like_go_yaml() {
        let cases: &[(&str, Node)] = &[
            ("007", Node::Int(7)),
            ("010", Node::Int(8)),
            ("08", Node::Float(8.0)),
            ("0x1F", Node::Int(31)),
            ("0o17", Node::Int(15)),
            ("0b101", Node::Int(5)),
            ("-0x10", Node::Int(-16)),
            ("+12", Node::Int(12)),
            ("1_000", Node::Int(1000)),
            ("1.50", Node::Float(1.5)),
            ("1e3", Node::Float(1000.0)),
            (".5", Node::Float(0.5)),
            ("1e400", Node::Str("1e400".into())),
            ("9223372036854775807", Node::Int(i64::MAX)),
            ("-9223372036854775808", Node::Int(i64::MIN)),
            (
                "18446744073709551615",
                Node::Float(18_446_744_073_709_551_615.0),
            ),
            ("yes", Node::Str("yes".into())),
            ("on", Node::Str("on".into())),
            ("True", Node::Bool(true)),
            ("FALSE", Node::Bool(false)),
            ("~", Node::Null),
            ("null", Node::Null),
            ("-x", Node::Str("-x".into())),
            ("1.2.3", Node::Str("1.2.3".into())),
            ("2001-12-14", Node::Str("2001-12-14T00:00:00Z".into())),
            ("2001-02-30", Node::Str("2001-02-30".into())),
            ("8080:80", Node::Str("8080:80".into())),
            ("inf", Node::Str("inf".into())),
        ];
        for (text, want) in cases {
            assert_eq!(
                &one(&format!("v: {text}\n")).as_map().unwrap()["v"],
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn quoted_and_tagged_scalars() {
        assert_eq!(json("a: '007'\nb: \"true\"\nc: !!str 12\nd: !!int \"12\"\ne: !foo 12\nf: !!float 1\ng: ! 12\n"), serde_json::json!({"a": "007", "b": "true", "c": "12", "d": 12, "e": "12", "f": 1.0, "g": 12}));
        assert!(err("a: !!int abc\n").contains("cannot decode !!str `abc` as a !!int"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let src = "x-base: &base\n  image: nginx\n  restart: always\nservices:\n  a:\n    <<: *base\n    restart: 'no'\n  b:\n    <<: [*base, {restart: unless-stopped, user: me}]\n  c:\n    <<: [{user: first}, {user: second}]\n";
        let v = json(src);
        assert_eq!(
            v["services"]["a"],
            serde_json::json!({"image": "nginx", "restart": "no"})
        );
        assert_eq!(
            v["services"]["b"],
            serde_json::json!({"image": "nginx", "restart": "always", "user": "me"})
        );
        assert_eq!(v["services"]["c"], serde_json::json!({"user": "first"}));
    }

    #[test]
    fn merge_of_an_alias_to_a_sequence_of_maps_is_accepted() {
        let v = json("x-list: &alist\n  - image: nginx\nservices:\n  s1:\n    <<: *alist\n");
        assert_eq!(v["services"]["s1"], serde_json::json!({"image": "nginx"}));
    }

    #[test]
    fn merge_to_a_scalar_is_rejected_like_the_reference() {
        let e = err("x-scalar: &s \"not-a-map\"\nservices:\n  s1:\n    <<: *s\n");
        assert_eq!(
            e,
            "failed to parse c.yml: yaml: map merge requires map or sequence of maps as the value"
        );
    }

    #[test]
    fn nested_merge_keys_resolve_inner_first() {
        let v = json("a: &a {x: 1, y: 1}\nb: &b {<<: *a, y: 2, z: 2}\nc: {<<: *b, z: 3}\n");
        assert_eq!(v["c"], serde_json::json!({"x": 1, "y": 2, "z": 3}));
    }

    #[test]
    fn quoted_merge_key_is_a_plain_key() {
        assert_eq!(
            json("a: {'<<': {x: 1}}\n")["a"],
            serde_json::json!({"<<": {"x": 1}})
        );
    }

    #[test]
    fn compose_tags_are_kept() {
        let doc = one("services:\n  foo:\n    build: !reset\n    ports: !override\n      - 80\n    image: !override nginx\n");
        let foo = doc.as_map().unwrap()["services"].as_map().unwrap()["foo"]
            .as_map()
            .unwrap()
            .clone();
        assert_eq!(foo["build"], Node::Tagged(Tag::Reset, Box::new(Node::Null)));
        assert_eq!(
            foo["ports"],
            Node::Tagged(Tag::Override, Box::new(Node::Seq(vec![Node::Int(80)])))
        );
        assert_eq!(
            foo["image"],
            Node::Tagged(Tag::Override, Box::new(Node::Str("nginx".into())))
        );
    }

    #[test]
    fn tagged_scalars_are_strings_like_go_yaml() {
        let doc = one("replicas: !override 3\n");
        assert_eq!(
            doc.as_map().unwrap()["replicas"],
            Node::Tagged(Tag::Override, Box::new(Node::Str("3".into())))
        );
    }

    #[test]
    fn reset_inside_an_anchor_applies_only_where_the_anchor_is_defined() {
        // compose-go prunes `!reset` children of the anchored node in place at its first
        // visit, so aliases see the node without them (testresettagwithsharedalias).
        let doc = one("x-reset-ports: &reset-ports\n  ports: !reset []\nservices:\n  svc1:\n    <<: *reset-ports\n  svc2:\n    <<: *reset-ports\n");
        let m = doc.as_map().unwrap();
        assert_eq!(
            m["x-reset-ports"].as_map().unwrap()["ports"],
            Node::Tagged(Tag::Reset, Box::new(Node::Seq(vec![])))
        );
        assert_eq!(
            doc.to_json()["services"],
            serde_json::json!({"svc1": {}, "svc2": {}})
        );
    }

    #[test]
    fn alias_to_a_reset_node_keeps_the_reset() {
        let doc = one("x: &r !reset []\ny: *r\n");
        assert_eq!(
            doc.as_map().unwrap()["y"],
            Node::Tagged(Tag::Reset, Box::new(Node::Seq(vec![])))
        );
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let e = err(" name: test\n services:\n   foo:\n     command: hello\n     command: !reset hello world\n");
        assert_eq!(
            e,
            "failed to parse c.yml: line 5: mapping key \"command\" already defined at line 4"
        );
    }

    #[test]
    fn non_string_keys_are_rejected_with_their_path() {
        let e = err("services:\n  foo:\n    image: busybox\nnetworks:\n  default:\n    ipam:\n      config:\n        - 123: oh dear\n");
        assert!(
            e.starts_with("non-string key in networks.default.ipam.config[0]: 123"),
            "{e}"
        );
        assert!(e.contains("c.yml") && e.contains("line 8"), "{e}");
        assert!(err("true: x\n").starts_with("non-string key at top level: true"));
        assert!(err("~: x\n").starts_with("non-string key at top level: <nil>"));
        assert!(err("1.5: x\n").starts_with("non-string key at top level: 1.5"));
    }

    #[test]
    fn yes_and_numbers_as_keys() {
        assert_eq!(
            json("yes: 1\n'1': 2\n!!str 3: 4\n"),
            serde_json::json!({"yes": 1, "1": 2, "3": 4})
        );
    }

    #[test]
    fn multi_document_streams() {
        let docs = parse("a: 1\n---\na: 2\n", Path::new("c.yml")).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].to_json(), serde_json::json!({"a": 2}));
        assert!(parse("", Path::new("c.yml")).unwrap().is_empty());
        assert!(parse("# only a comment\n", Path::new("c.yml"))
            .unwrap()
            .is_empty());
        assert_eq!(
            parse("---\n", Path::new("c.yml")).unwrap(),
            vec![Node::Null]
        );
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = parse("services:\n  a: b\n c: [\n", Path::new("/p/c.yml")).unwrap_err();
        assert!(
            e.message
                .starts_with("failed to parse /p/c.yml: yaml: line "),
            "{e}"
        );
        assert!(e.line.is_some());
    }

    #[test]
    fn self_referencing_anchor_is_an_error() {
        assert!(err("x: &a [*a]\n").contains("cycle detected"));
    }

    #[test]
    fn binary_scalars_are_decoded() {
        assert_eq!(
            json("a: !!binary aGVsbG8=\nb: !!binary |\n  aGVs\n  bG8h\n"),
            serde_json::json!({"a": "hello", "b": "hello!"})
        );
        assert!(err("a: !!binary '***'\n").contains("!!binary value contains invalid base64 data"));
    }

    #[test]
    fn syntax_errors_use_libyaml_words() {
        assert!(err("services:\n  app:\n    image: [a, b\n")
            .ends_with("did not find expected ',' or ']'"));
        assert_eq!(
            err("x: é\ny: [*nope, 1]\n"),
            "failed to parse c.yml: yaml: unknown anchor 'nope' referenced"
        );
        assert!(err("services:\n\tapp:\n").ends_with("found character that cannot start any token"));
        assert!(err("services:\n  app:\n    image: a: b\n")
            .ends_with("yaml: line 3: mapping values are not allowed in this context"));
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1e23), "1e+23");
        assert_eq!(go_float(1e-7), "1e-07");
    }
}
