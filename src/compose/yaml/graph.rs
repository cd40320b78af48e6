//! Stage 1 of the YAML front end: the event stream → a node graph with anchors kept as shared
//! references.

use std::collections::HashMap;
use std::path::Path;

use yaml_rust2::parser::{Event, Parser, Tag as YamlTag};
use yaml_rust2::scanner::TScalarStyle;

use super::{YamlError, MAX_DEPTH};

/// One YAML node as written, before aliases, merges and tags are applied.
#[derive(Debug)]
pub(super) struct RawNode {
    pub(super) line: usize,
    pub(super) tag: Option<String>,
    pub(super) kind: RawKind,
}

#[derive(Debug)]
pub(super) enum RawKind {
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
pub(super) struct Graph {
    pub(super) nodes: Vec<RawNode>,
    pub(super) roots: Vec<usize>,
}

impl Graph {
    pub(super) fn build(src: &str, file: &Path) -> Result<Self, YamlError> {
        let mut b = Builder {
            file,
            graph: Graph {
                nodes: Vec::new(),
                roots: Vec::new(),
            },
            stack: Vec::new(),
            open: Vec::new(),
            anchors: HashMap::new(),
        };
        let mut parser = Parser::new_from_str(src);
        loop {
            let (event, mark) = parser.next_token().map_err(|e| scan_error(src, file, &e))?;
            if matches!(event, Event::StreamEnd) {
                break;
            }
            if let Some(child) = b.event(event, mark.line())? {
                b.attach(child);
            }
        }
        Ok(b.graph)
    }
}

/// A scanner or parser error in go-yaml's words.
fn scan_error(src: &str, file: &Path, e: &yaml_rust2::ScanError) -> YamlError {
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
}

/// The graph being built from the event stream.
struct Builder<'a> {
    file: &'a Path,
    graph: Graph,
    /// Open containers: (node index, pending key for mappings).
    stack: Vec<(usize, Option<usize>)>,
    /// Whether each node is an open container (an alias to it is a cycle).
    open: Vec<bool>,
    /// Anchor id → node index.
    anchors: HashMap<usize, usize>,
}

impl Builder<'_> {
    /// Takes one event: the node it finished (a scalar, an alias or a closed container).
    fn event(&mut self, event: Event, line: usize) -> Result<Option<usize>, YamlError> {
        let file = self.file;
        let is_seq = matches!(event, Event::SequenceStart(..));
        Ok(match event {
            Event::StreamEnd
            | Event::Nothing
            | Event::StreamStart
            | Event::DocumentStart
            | Event::DocumentEnd => None,
            Event::Alias(id) => {
                let Some(&target) = self.anchors.get(&id) else {
                    return Err(YamlError::parse(
                        file,
                        Some(line),
                        format_args!("yaml: line {line}: unknown anchor referenced"),
                    ));
                };
                if self.open[target] {
                    return Err(YamlError::parse(
                        file,
                        Some(line),
                        format_args!("line {line}: cycle detected: alias refers to the node that contains it"),
                    ));
                }
                Some(self.push(RawNode {
                    line,
                    tag: None,
                    kind: RawKind::Alias(target),
                }))
            }
            Event::Scalar(value, style, anchor, tag) => {
                let idx = self.push(RawNode {
                    line,
                    tag: tag.map(tag_name),
                    kind: RawKind::Scalar { value, style },
                });
                if anchor != 0 {
                    self.anchors.insert(anchor, idx);
                }
                Some(idx)
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(depth_error(file, line));
                }
                let kind = if is_seq {
                    RawKind::Seq(Vec::new())
                } else {
                    RawKind::Map(Vec::new())
                };
                let idx = self.push(RawNode {
                    line,
                    tag: tag.map(tag_name),
                    kind,
                });
                self.open[idx] = true;
                if anchor != 0 {
                    self.anchors.insert(anchor, idx);
                }
                self.stack.push((idx, None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (idx, _) = self
                    .stack
                    .pop()
                    .expect("the parser balances start and end events");
                self.open[idx] = false;
                Some(idx)
            }
        })
    }

    /// Adds a finished node to the open container, or as a document root.
    fn attach(&mut self, child: usize) {
        match self.stack.last_mut() {
            None => self.graph.roots.push(child),
            Some((parent, pending)) => match &mut self.graph.nodes[*parent].kind {
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

    fn push(&mut self, node: RawNode) -> usize {
        self.graph.nodes.push(node);
        self.open.push(false);
        self.graph.nodes.len() - 1
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

pub(super) fn depth_error(file: &Path, line: usize) -> YamlError {
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
