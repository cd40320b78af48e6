//! Variable interpolation with the reference's syntax, errors and casts (`$VAR`, `${VAR}`,
//! `${VAR:-d}`, `${VAR-d}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR:+alt}`, `${VAR+alt}`, `$$`).
//!
//! The reference (compose-go v2.9.1 `template`) finds `${…}` with a regular expression whose
//! operator branch is greedy up to the last `}` of the line, then cuts the match at the first
//! balanced `}` and interpolates the remainder separately. This module scans by hand to the
//! same effect, so that odd inputs (`${V:-}}`, `${V:-{x}}`, `${A} ${B:-x}`) come out exactly
//! as the reference prints them, without recursion on the remainder and within fixed limits.
//!
//! [`interpolate_node`] walks a document with its key path (`services.web.environment.URL`)
//! for error messages and casts strings at the reference's typed paths (`deploy.replicas`,
//! `privileged`, `ports[].target`, …) to integers, floats and booleans.

use super::tree::{Node, Tag};
use super::warning::Warning;
use super::yaml::go_quote;

mod cast;
#[cfg(test)]
mod tests;

use cast::cast_for;
pub(crate) use cast::CastError;

/// Looks a variable up in the project environment.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Largest string one interpolation may produce (4 MiB): far above any real value, small
/// enough that `${BIG}${BIG}…` cannot exhaust memory.
pub const MAX_INTERPOLATED_BYTES: usize = 4 << 20;

/// Most bytes interpolation may add to one document in total (64 MiB).
pub(crate) const MAX_TOTAL_GROWTH_BYTES: usize = 64 << 20;

/// Deepest nesting of `${A:-${B:-…}}` defaults, alternatives and messages.
pub(crate) const MAX_NESTING: usize = 64;

/// An interpolation failure, naming the key path and the offending text.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InterpolationError {
    /// The key path (`services.web.environment.URL`), empty for a bare string.
    pub path: String,
    /// What is wrong, worded like the reference (and prefixed with the path when there is one).
    pub message: String,
}

/// Why a template could not be interpolated, before the key path is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Bad `${…}` syntax; holds the template the reference quotes.
    Invalid(String),
    /// `${VAR:?msg}` / `${VAR?msg}` with the variable missing.
    Required { var: String, reason: String },
    /// A resource limit of this implementation.
    Limit(String),
    /// A typed path whose value does not convert.
    Cast(CastError),
}

impl Failure {
    fn bare(&self) -> String {
        match self {
            Failure::Invalid(template) => {
                format!("invalid interpolation format in {}: you may need to escape any $ with another $", go_quote(template))
            }
            Failure::Required { var, reason } if reason.is_empty() => {
                format!("required variable {var} is missing a value")
            }
            Failure::Required { var, reason } => {
                format!("required variable {var} is missing a value: {reason}")
            }
            Failure::Limit(what) => what.clone(),
            Failure::Cast(e) => format!("failed to cast to expected type: {e}"),
        }
    }

    /// The text of the reference's template error itself, as env files report it.
    fn template_text(&self) -> String {
        match self {
            Failure::Invalid(template) => format!("Invalid template: {}", go_quote(template)),
            other => other.bare(),
        }
    }

    fn into_error(self, path: &str) -> InterpolationError {
        let message = match (&self, path.is_empty()) {
            (_, true) => self.bare(),
            (Failure::Invalid(template), false) => {
                format!("invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{template}")
            }
            (_, false) => format!("error while interpolating {path}: {}", self.bare()),
        };
        InterpolationError {
            path: path.to_string(),
            message,
        }
    }
}

/// Interpolates one string (no key path: errors carry none).
pub fn interpolate_str(
    input: &str,
    lookup: Lookup<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<String, InterpolationError> {
    substitute(input, lookup, warnings, 0).map_err(|f| f.into_error(""))
}

/// An env-file value that does not interpolate; it reads like the reference's template errors
/// (`Invalid template: "${"`, `required variable X is missing a value`).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.template_text())]
pub struct EnvValueError(Failure);

/// Interpolates one string for an env file (the caller names the file and line).
pub(crate) fn interpolate_env_value(
    input: &str,
    lookup: Lookup<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<String, EnvValueError> {
    substitute(input, lookup, warnings, 0).map_err(EnvValueError)
}

/// Interpolates every string value (never a key) of a document, casting values at the
/// reference's typed paths. Paths start at the document's top-level keys.
pub fn interpolate_node(
    node: Node,
    lookup: Lookup<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Node, InterpolationError> {
    interpolate_at(node, &[], lookup, warnings)
}

/// Like [`interpolate_node`] for a value found at `path` (key segments; `[]` for a sequence
/// item), e.g. `["services", "web"]` for one service.
pub(crate) fn interpolate_at(
    mut node: Node,
    path: &[&str],
    lookup: Lookup<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Node, InterpolationError> {
    let mut walker = Walker {
        lookup,
        warnings,
        growth: 0,
    };
    let mut path = path.to_vec();
    walker.walk(&mut node, &mut path)?;
    Ok(node)
}

/// Walks a tree in place: strings are rewritten only when they hold a `$` or sit at a typed
/// path, and maps keep their keys (rebuilding them would re-sort and re-allocate every key).
struct Walker<'a, 'w> {
    lookup: Lookup<'a>,
    warnings: &'w mut Vec<Warning>,
    growth: usize,
}

impl Walker<'_, '_> {
    fn walk<'t>(
        &mut self,
        node: &'t mut Node,
        path: &mut Vec<&'t str>,
    ) -> Result<(), InterpolationError> {
        if let Node::Str(s) = node {
            if s.as_bytes().contains(&b'$') {
                let out = substitute(s, self.lookup, self.warnings, 0)
                    .map_err(|f| f.into_error(&path.join(".")))?;
                self.growth += out.len().saturating_sub(s.len());
                if self.growth > MAX_TOTAL_GROWTH_BYTES {
                    let limit = Failure::Limit(format!("interpolation grows the document by more than the limit of {MAX_TOTAL_GROWTH_BYTES} bytes"));
                    return Err(limit.into_error(&path.join(".")));
                }
                *s = out;
            }
            if let Some(cast) = cast_for(path) {
                let value = cast(s, self.warnings)
                    .map_err(|e| Failure::Cast(e).into_error(&path.join(".")))?;
                *node = value;
            }
            return Ok(());
        }
        match node {
            Node::Seq(items) => {
                for item in items.iter_mut() {
                    path.push("[]");
                    let result = self.walk(item, path);
                    path.pop();
                    result?;
                }
            }
            Node::Map(m) => {
                for (k, v) in m.iter_mut() {
                    path.push(k.as_str());
                    let result = self.walk(v, path);
                    path.pop();
                    result?;
                }
            }
            // The reference drops `!reset` values before interpolating: nothing in them can fail.
            Node::Tagged(Tag::Reset, _)
            | Node::Null
            | Node::Bool(_)
            | Node::Int(_)
            | Node::Float(_)
            | Node::Str(_) => {}
            Node::Tagged(_, inner) => self.walk(inner, path)?,
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The template scanner.

fn is_name_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_name_char(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

/// What the reference's pattern matches at a `$`.
enum Match {
    /// `$$`.
    Escaped,
    /// `$NAME`, ending at the given byte.
    Named { end: usize },
    /// `${…}`: the end of the whole match and the operator right after the name, if any.
    Braced { end: usize, op: Option<Op> },
    /// `${` that is not a valid braced expression.
    Invalid,
    /// No match: the `$` is literal.
    None,
}

/// The last `}` of the current line, remembered so that a line full of `${A:-x}` is scanned
/// once, not once per expression.
#[derive(Default)]
struct LineCache {
    /// `[from, line_end)` was scanned; `last_close` is the last `}` in it.
    from: usize,
    line_end: usize,
    last_close: Option<usize>,
}

impl LineCache {
    /// The last `}` in `[p, end of line)`, not at or past `limit`.
    fn last_close(&mut self, s: &[u8], p: usize, limit: usize) -> Option<usize> {
        if !(self.from..self.line_end).contains(&p) {
            let line_end = s[p..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(s.len(), |n| p + n);
            let last_close = s[p..line_end]
                .iter()
                .rposition(|&b| b == b'}')
                .map(|c| p + c);
            *self = Self {
                from: p,
                line_end,
                last_close,
            };
        }
        match self.last_close {
            Some(c) if c >= p && c < limit => Some(c),
            // Inside a remainder that ends before the line's last `}` (not produced by the
            // reference's own matches, but cheap to answer right).
            Some(c) if c >= limit => s[p..limit.min(self.line_end)]
                .iter()
                .rposition(|&b| b == b'}')
                .map(|c| p + c),
            _ => None,
        }
    }
}

/// Matches the reference's pattern at `s[i] == '$'`, not looking past `limit`.
fn match_at(s: &[u8], i: usize, limit: usize, lines: &mut LineCache) -> Match {
    let next = if i + 1 < limit {
        s[i + 1]
    } else {
        return Match::None;
    };
    if next == b'$' {
        return Match::Escaped;
    }
    if is_name_start(next) {
        let mut end = i + 2;
        while end < limit && is_name_char(s[end]) {
            end += 1;
        }
        return Match::Named { end };
    }
    if next != b'{' {
        return Match::None;
    }
    let start = i + 2;
    if start >= limit || !is_name_start(s[start]) {
        return Match::Invalid;
    }
    let mut k = start + 1;
    while k < limit && is_name_char(s[k]) {
        k += 1;
    }
    // Optional operator `:?[-+?]` followed by a greedy `.*` up to the last `}` of the line.
    // The operator right after the name is also the first one in the match, which is how the
    // reference picks it.
    let op = match (s.get(k), s.get(k + 1)) {
        (Some(b':'), Some(b'-')) => Some((Op::DefaultIfEmpty, 2)),
        (Some(b':'), Some(b'+')) => Some((Op::AltIfNonEmpty, 2)),
        (Some(b':'), Some(b'?')) => Some((Op::RequiredNonEmpty, 2)),
        (Some(b'-'), _) => Some((Op::DefaultIfUnset, 1)),
        (Some(b'+'), _) => Some((Op::AltIfSet, 1)),
        (Some(b'?'), _) => Some((Op::Required, 1)),
        _ => None,
    };
    if let Some((op, len)) = op {
        if k + len <= limit {
            if let Some(close) = lines.last_close(s, k + len, limit) {
                return Match::Braced {
                    end: close + 1,
                    op: Some(op),
                };
            }
        }
    }
    if k < limit && s[k] == b'}' {
        return Match::Braced {
            end: k + 1,
            op: None,
        };
    }
    Match::Invalid
}

/// The reference's `getFirstBraceClosingIndex`: the first `}` that balances the braces
/// counted from the start (a `{` also skips the character after it).
fn first_closing(sub: &[u8]) -> Option<usize> {
    let mut open = 0usize;
    let mut i = 0;
    while i < sub.len() {
        if sub[i] == b'}' {
            open = open.wrapping_sub(1);
            if open == 0 {
                return Some(i);
            }
        }
        if sub[i] == b'{' {
            open = open.wrapping_add(1);
            i += 1;
        }
        i += 1;
    }
    None
}

/// The operator of a braced expression: the one that occurs first in the whole match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    RequiredNonEmpty,
    Required,
    DefaultIfEmpty,
    DefaultIfUnset,
    AltIfNonEmpty,
    AltIfSet,
}

impl Op {
    fn sep(self) -> &'static str {
        match self {
            Op::RequiredNonEmpty => ":?",
            Op::Required => "?",
            Op::DefaultIfEmpty => ":-",
            Op::DefaultIfUnset => "-",
            Op::AltIfNonEmpty => ":+",
            Op::AltIfSet => "+",
        }
    }
}

fn unset_warning(name: &str) -> Warning {
    Warning::new(format!(
        "The \"{name}\" variable is not set. Defaulting to a blank string."
    ))
}

/// Interpolates `template`; `depth` counts nested defaults.
fn substitute(
    template: &str,
    lookup: Lookup<'_>,
    warnings: &mut Vec<Warning>,
    depth: usize,
) -> Result<String, Failure> {
    if depth > MAX_NESTING {
        return Err(Failure::Limit(format!(
            "interpolation nests deeper than the limit of {MAX_NESTING} levels"
        )));
    }
    let s = template.as_bytes();
    let Some(first) = s.iter().position(|&b| b == b'$') else {
        return Ok(template.to_string());
    };
    let mut out = String::with_capacity(template.len());
    out.push_str(&template[..first]);
    // Remainders the reference interpolates as separate templates: (start, end). Errors
    // inside one quote that remainder, as the reference does.
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let mut i = first;
    let mut first_error: Option<Failure> = None;
    let mut lines = LineCache::default();
    while i < s.len() {
        while segments.last().is_some_and(|&(_, end)| i >= end) {
            segments.pop();
        }
        let (seg_start, limit) = segments.last().copied().unwrap_or((0, s.len()));
        if s[i] != b'$' {
            let next = s[i..limit]
                .iter()
                .position(|&b| b == b'$')
                .map_or(limit, |p| i + p);
            out.push_str(&template[i..next]);
            i = next;
            continue;
        }
        match match_at(s, i, limit, &mut lines) {
            Match::None => {
                out.push('$');
                i += 1;
            }
            Match::Escaped => {
                out.push('$');
                i += 2;
            }
            Match::Named { end } => {
                let name = &template[i + 1..end];
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => warnings.push(unset_warning(name)),
                }
                i = end;
            }
            Match::Invalid => {
                first_error.get_or_insert_with(|| {
                    Failure::Invalid(template[seg_start..limit].to_string())
                });
                i += 2;
            }
            Match::Braced { end, op } => {
                let whole = &template[i..end];
                let cut = first_closing(whole.as_bytes()).map_or(end, |c| i + c + 1);
                let inner = &template[i + 2..cut - 1];
                match braced(inner, op, lookup, warnings, depth) {
                    Ok(value) => out.push_str(&value),
                    Err(f) => {
                        first_error.get_or_insert(f);
                    }
                }
                if cut < end {
                    segments.push((cut, end));
                }
                i = cut;
            }
        }
        if out.len() > MAX_INTERPOLATED_BYTES {
            return Err(Failure::Limit(format!(
                "interpolated value is larger than the limit of {MAX_INTERPOLATED_BYTES} bytes"
            )));
        }
    }
    match first_error {
        Some(f) => Err(f),
        None => Ok(out),
    }
}

/// Evaluates the inside of `${…}` (`NAME`, or `NAME` + operator + argument).
fn braced(
    inner: &str,
    op: Option<Op>,
    lookup: Lookup<'_>,
    warnings: &mut Vec<Warning>,
    depth: usize,
) -> Result<String, Failure> {
    let bytes = inner.as_bytes();
    let name_len = bytes
        .iter()
        .position(|&b| !is_name_char(b))
        .unwrap_or(bytes.len());
    // After a cut the inside must still read as NAME or NAME + operator.
    if name_len == 0 || !is_name_start(bytes[0]) || (name_len < bytes.len() && op.is_none()) {
        return Err(Failure::Invalid(format!("${{{inner}}}")));
    }
    let applied = op.and_then(|op| {
        inner
            .split_once(op.sep())
            .map(|(name, arg)| (op, name, arg))
    });
    let Some((op, name, arg)) = applied else {
        let name = &inner[..name_len];
        return Ok(lookup(name).unwrap_or_else(|| {
            warnings.push(unset_warning(name));
            String::new()
        }));
    };
    // The reference interpolates the argument before looking at the variable.
    let arg = substitute(arg, lookup, warnings, depth + 1)?;
    let value = lookup(name);
    Ok(match op {
        Op::DefaultIfEmpty => value.filter(|v| !v.is_empty()).unwrap_or(arg),
        Op::DefaultIfUnset => value.unwrap_or(arg),
        Op::AltIfNonEmpty => match value {
            Some(v) if !v.is_empty() => arg,
            v => v.unwrap_or_default(),
        },
        Op::AltIfSet => match value {
            Some(_) => arg,
            None => String::new(),
        },
        Op::RequiredNonEmpty => match value {
            Some(v) if !v.is_empty() => v,
            _ => {
                return Err(Failure::Required {
                    var: name.to_string(),
                    reason: arg,
                })
            }
        },
        Op::Required => match value {
            Some(v) => v,
            None => {
                return Err(Failure::Required {
                    var: name.to_string(),
                    reason: arg,
                })
            }
        },
    })
}
