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

use std::path::{Path, PathBuf};

use super::tree::Node;

mod decode;
mod graph;
mod scalar;
#[cfg(test)]
mod tests;

use decode::{Ctx, Decoder};
use graph::Graph;
pub(crate) use scalar::go_quote;

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
