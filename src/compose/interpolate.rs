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

/// Looks a variable up in the project environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Largest string one interpolation may produce (4 MiB): far above any real value, small
/// enough that `${BIG}${BIG}…` cannot exhaust memory.
pub const MAX_INTERPOLATED_BYTES: usize = 4 << 20;

/// Most bytes interpolation may add to one document in total (64 MiB).
pub const MAX_TOTAL_GROWTH_BYTES: usize = 64 << 20;

/// Deepest nesting of `${A:-${B:-…}}` defaults, alternatives and messages.
pub const MAX_NESTING: usize = 64;

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
    Cast(String),
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
            Failure::Cast(detail) => format!("failed to cast to expected type: {detail}"),
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

/// Interpolates one string for an env file: errors read like the reference's template errors
/// (`Invalid template: "${"`, `required variable X is missing a value`).
pub(crate) fn interpolate_env_value(
    input: &str,
    lookup: Lookup<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<String, String> {
    substitute(input, lookup, warnings, 0).map_err(|f| f.template_text())
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
pub fn interpolate_at(
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
                    .map_err(|detail| Failure::Cast(detail).into_error(&path.join(".")))?;
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

// ---------------------------------------------------------------------------------------------
// Casts at typed paths (compose-go `loader/interpolate.go`).

type Cast = fn(&str, &mut Vec<Warning>) -> Result<Node, String>;

/// `*` matches any key, `[]` a sequence item; paths are matched segment by segment.
const CASTS: &[(&[&str], Cast)] = &[
    (&["services", "*", "cpu_count"], to_int64),
    (&["services", "*", "cpu_percent"], to_float),
    (&["services", "*", "cpu_period"], to_int64),
    (&["services", "*", "cpu_quota"], to_int64),
    (&["services", "*", "cpu_rt_period"], to_int64),
    (&["services", "*", "cpu_rt_runtime"], to_int64),
    (&["services", "*", "cpus"], to_float32),
    (&["services", "*", "cpu_shares"], to_int64),
    (&["services", "*", "init"], to_bool),
    (&["services", "*", "deploy", "replicas"], to_int),
    (
        &["services", "*", "deploy", "update_config", "parallelism"],
        to_int,
    ),
    (
        &[
            "services",
            "*",
            "deploy",
            "update_config",
            "max_failure_ratio",
        ],
        to_float,
    ),
    (
        &["services", "*", "deploy", "rollback_config", "parallelism"],
        to_int,
    ),
    (
        &[
            "services",
            "*",
            "deploy",
            "rollback_config",
            "max_failure_ratio",
        ],
        to_float,
    ),
    (
        &["services", "*", "deploy", "restart_policy", "max_attempts"],
        to_int,
    ),
    (
        &[
            "services",
            "*",
            "deploy",
            "placement",
            "max_replicas_per_node",
        ],
        to_int,
    ),
    (&["services", "*", "healthcheck", "retries"], to_int),
    (&["services", "*", "healthcheck", "disable"], to_bool),
    (&["services", "*", "oom_kill_disable"], to_bool),
    (&["services", "*", "oom_score_adj"], to_int64),
    (&["services", "*", "pids_limit"], to_int64),
    (&["services", "*", "ports", "[]", "target"], to_int),
    (&["services", "*", "privileged"], to_bool),
    (&["services", "*", "read_only"], to_bool),
    (&["services", "*", "scale"], to_int),
    (&["services", "*", "stdin_open"], to_bool),
    (&["services", "*", "tty"], to_bool),
    (&["services", "*", "ulimits", "*"], to_int),
    (&["services", "*", "ulimits", "*", "hard"], to_int),
    (&["services", "*", "ulimits", "*", "soft"], to_int),
    (&["services", "*", "volumes", "[]", "read_only"], to_bool),
    (
        &["services", "*", "volumes", "[]", "volume", "nocopy"],
        to_bool,
    ),
    (&["networks", "*", "external"], to_bool),
    (&["networks", "*", "internal"], to_bool),
    (&["networks", "*", "attachable"], to_bool),
    (&["networks", "*", "enable_ipv4"], to_bool),
    (&["networks", "*", "enable_ipv6"], to_bool),
    (&["volumes", "*", "external"], to_bool),
    (&["secrets", "*", "external"], to_bool),
    (&["configs", "*", "external"], to_bool),
];

fn cast_for(path: &[&str]) -> Option<Cast> {
    CASTS.iter().find_map(|(pattern, cast)| {
        (pattern.len() == path.len()
            && pattern
                .iter()
                .zip(path)
                .all(|(p, seg)| *p == "*" || p == seg))
        .then_some(*cast)
    })
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with its error text under the given function name.
fn go_int(s: &str, func: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.{func}: parsing {}: invalid syntax",
            go_quote(s)
        ));
    }
    s.parse::<i64>().map_err(|_| {
        format!(
            "strconv.{func}: parsing {}: value out of range",
            go_quote(s)
        )
    })
}

fn to_int(s: &str, _: &mut Vec<Warning>) -> Result<Node, String> {
    go_int(s, "Atoi").map(Node::Int)
}

fn to_int64(s: &str, _: &mut Vec<Warning>) -> Result<Node, String> {
    go_int(s, "ParseInt").map(Node::Int)
}

/// Go's `strconv.ParseFloat` for decimal text and `inf`/`nan` words (hexadecimal floats are
/// not supported); `max` is the largest finite value of the target size.
fn go_float(s: &str, max: f64) -> Result<f64, String> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let word = ["inf", "infinity", "nan"]
        .iter()
        .any(|w| body.eq_ignore_ascii_case(w));
    let decimal = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let parsed = if word || decimal {
        s.parse::<f64>().ok()
    } else {
        None
    };
    match parsed {
        None => Err(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        )),
        Some(f) if !word && f.abs() > max => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s)
        )),
        Some(f) => Ok(f),
    }
}

fn to_float(s: &str, _: &mut Vec<Warning>) -> Result<Node, String> {
    go_float(s, f64::MAX).map(Node::Float)
}

fn to_float32(s: &str, _: &mut Vec<Warning>) -> Result<Node, String> {
    go_float(s, f64::from(f32::MAX)).map(Node::Float)
}

/// YAML 1.1 booleans are accepted with the reference's warning; anything else is an error.
fn to_bool(s: &str, warnings: &mut Vec<Warning>) -> Result<Node, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Ok(Node::Bool(true)),
        "false" => Ok(Node::Bool(false)),
        "y" | "yes" | "on" => {
            warnings.push(Warning::new(format!(
                "{} for boolean is not supported by YAML 1.2, please use `true`",
                go_quote(s)
            )));
            Ok(Node::Bool(true))
        }
        "n" | "no" | "off" => {
            warnings.push(Warning::new(format!(
                "{} for boolean is not supported by YAML 1.2, please use `false`",
                go_quote(s)
            )));
            Ok(Node::Bool(false))
        }
        _ => Err(format!("invalid boolean: {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::tree::Map;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("first".into()),
            "BAR" => Some(String::new()),
            "JSON" => Some(r#"{"json":2}"#.into()),
            "B" => Some("bee".into()),
            _ => None,
        }
    }

    fn run(template: &str) -> (Result<String, String>, Vec<String>) {
        let mut warnings = Vec::new();
        let out = interpolate_str(template, &env, &mut warnings).map_err(|e| e.message);
        (out, warnings.into_iter().map(|w| w.message).collect())
    }

    fn ok(template: &str) -> String {
        run(template)
            .0
            .unwrap_or_else(|e| panic!("{template}: {e}"))
    }

    fn fails(template: &str) -> String {
        run(template).0.expect_err(template)
    }

    #[test]
    fn substitution_table() {
        let cases = [
            ("$$", "$"),
            ("$$FOO", "$FOO"),
            ("$${FOO}", "${FOO}"),
            ("$$$$", "$$"),
            ("$$${FOO}", "$first"),
            ("$FOO", "first"),
            ("${FOO}", "first"),
            ("$FOO.x", "first.x"),
            ("$FOO-x", "first-x"),
            ("${FOO}x", "firstx"),
            ("$FOO$FOO", "firstfirst"),
            ("$FOO:-x", "first:-x"),
            ("$1 $- $@ $ x$", "$1 $- $@ $ x$"),
            ("${UNSET:-d}", "d"),
            ("<${UNSET:-}>", "<>"),
            ("<${BAR:-d}>", "<d>"),
            ("<${BAR-d}>", "<>"),
            ("<${UNSET-d}>", "<d>"),
            ("<${FOO:+yes}>", "<yes>"),
            ("<${BAR:+yes}>", "<>"),
            ("<${UNSET:+yes}>", "<>"),
            ("<${FOO+yes}>", "<yes>"),
            ("<${BAR+yes}>", "<yes>"),
            ("<${UNSET+yes}>", "<>"),
            ("${A:-${B:-c}}", "bee"),
            ("${A:-${C:-c}}", "c"),
            ("${A:-pre-${B}-post}", "pre-bee-post"),
            ("${A:-${C:-${B}}}", "bee"),
            ("${B:+--flag=${B}}", "--flag=bee"),
            ("${V:-a:b}", "a:b"),
            ("${V:-}}", "}"),
            ("${V:-{x}}", "{x}"),
            ("${V:-x y z}", "x y z"),
            ("${V:-$$notavar}", "$notavar"),
            ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
            ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
            (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
            ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
            ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
            ("${UNSET_VAR-myerror?msg}", "myerror?msg"),
            ("${FOO?bar-baz}", "first"),
            ("ok ${BAR?err}", "ok "),
            (r#"ok ${missing:-{"json":1}}"#, r#"ok {"json":1}"#),
            (r#"ok ${JSON-{"json":1}}"#, r#"ok {"json":2}"#),
            ("${FOO:-x} and ${B}", "first and bee"),
            ("${FOO} ${UNSET:-x}", "first x"),
            ("héllo ${MARK:-✓} 日本語", "héllo ✓ 日本語"),
            ("a\n${UNSET:-x}\n${FOO}", "a\nx\nfirst"),
        ];
        for (template, want) in cases {
            assert_eq!(ok(template), want, "{template}");
        }
    }

    #[test]
    fn unset_variables_warn_once_per_occurrence() {
        let (out, warnings) = run("${NOPE} $NOPE ${B:-${NOPE}}");
        assert_eq!(out.unwrap(), "  bee");
        let one = "The \"NOPE\" variable is not set. Defaulting to a blank string.";
        assert_eq!(warnings, vec![one, one, one]);
        let (_, warnings) = run("<${A:+--flag=${A}}>");
        assert_eq!(
            warnings,
            vec!["The \"A\" variable is not set. Defaulting to a blank string."]
        );
        assert!(run("${UNSET:-x}${UNSET-y}${UNSET:+z}").1.is_empty());
    }

    #[test]
    fn required_variables() {
        assert_eq!(
            fails("${DB:?database password must be set}"),
            "required variable DB is missing a value: database password must be set"
        );
        assert_eq!(
            fails("${BAR:?empty}"),
            "required variable BAR is missing a value: empty"
        );
        assert_eq!(
            fails("${DB?must be defined}"),
            "required variable DB is missing a value: must be defined"
        );
        assert_eq!(fails("${DB:?}"), "required variable DB is missing a value");
        assert_eq!(
            fails("${A:?need A (B=${B})}"),
            "required variable A is missing a value: need A (B=bee)"
        );
        assert_eq!(
            fails("${V:?error: missing value for V}"),
            "required variable V is missing a value: error: missing value for V"
        );
        assert_eq!(
            fails("${A:-${C:?C needed}}"),
            "required variable C is missing a value: C needed"
        );
        assert_eq!(
            fails("${UNSET_VAR?bar-baz}"),
            "required variable UNSET_VAR is missing a value: bar-baz"
        );
        // The argument is interpolated eagerly: a required variable in a default fails even
        // when the default is not needed, as in the reference.
        assert!(run("${FOO:-${C:?x}}").0.is_err());
    }

    #[test]
    fn invalid_templates() {
        for template in [
            "${VAR",
            "${1VAR}",
            "${VAR NAME}",
            "${}",
            "${VAR:=x}",
            "x ${",
            "${A:-x\ny}",
        ] {
            assert!(
                fails(template).starts_with("invalid interpolation format in "),
                "{template}"
            );
        }
    }

    fn node_err(yaml_path: &[&str], value: &str) -> String {
        let mut node = Node::Str(value.to_string());
        for key in yaml_path.iter().rev() {
            node = if *key == "[]" {
                Node::Seq(vec![node])
            } else {
                Node::Map(Map::from([((*key).to_string(), node)]))
            };
        }
        interpolate_node(node, &env, &mut Vec::new())
            .unwrap_err()
            .message
    }

    #[test]
    fn errors_name_the_key_path_like_the_reference() {
        assert_eq!(
            node_err(&["services", "db", "environment", "POSTGRES_PASSWORD"], "${DB_PASS:?must be set}"),
            "error while interpolating services.db.environment.POSTGRES_PASSWORD: required variable DB_PASS is missing a value: must be set"
        );
        assert_eq!(
            node_err(&["services", "app", "environment", "A"], "${VAR"),
            "invalid interpolation format for services.app.environment.A.\nYou may need to escape any $ with another $.\n${VAR"
        );
        assert_eq!(
            node_err(&["services", "app", "command", "[]"], "${"),
            "invalid interpolation format for services.app.command.[].\nYou may need to escape any $ with another $.\n${"
        );
        // The quoted template of an error inside a remainder is that remainder.
        assert_eq!(node_err(&["x"], "${A:-x} ${ }"), "invalid interpolation format for x.\nYou may need to escape any $ with another $.\n ${ }");
    }

    fn cast(path: &[&str], value: &str) -> (Result<Node, String>, Vec<Warning>) {
        let mut warnings = Vec::new();
        let cast = cast_for(path).expect("a typed path");
        (cast(value, &mut warnings), warnings)
    }

    #[test]
    fn casts_at_typed_paths() {
        let svc = |rest: &[&'static str]| -> Vec<&'static str> {
            [&["services", "w"][..], rest].concat()
        };
        assert_eq!(cast(&svc(&["deploy", "replicas"]), "2").0, Ok(Node::Int(2)));
        assert_eq!(
            cast(&svc(&["deploy", "replicas"]), "two").0,
            Err("strconv.Atoi: parsing \"two\": invalid syntax".into())
        );
        assert_eq!(
            cast(&svc(&["deploy", "replicas"]), "99999999999999999999").0,
            Err("strconv.Atoi: parsing \"99999999999999999999\": value out of range".into())
        );
        assert_eq!(
            cast(&svc(&["pids_limit"]), "x").0,
            Err("strconv.ParseInt: parsing \"x\": invalid syntax".into())
        );
        assert_eq!(cast(&svc(&["cpus"]), "1.5").0, Ok(Node::Float(1.5)));
        assert_eq!(
            cast(&svc(&["cpus"]), "1e39").0,
            Err("strconv.ParseFloat: parsing \"1e39\": value out of range".into())
        );
        assert_eq!(
            cast(&svc(&["cpu_percent"]), "abc").0,
            Err("strconv.ParseFloat: parsing \"abc\": invalid syntax".into())
        );
        assert_eq!(
            cast(&svc(&["ports", "[]", "target"]), "80").0,
            Ok(Node::Int(80))
        );
        assert_eq!(
            cast(&svc(&["ulimits", "nofile"]), "65535").0,
            Ok(Node::Int(65535))
        );
        assert_eq!(
            cast(&svc(&["ulimits", "nofile", "soft"]), "1").0,
            Ok(Node::Int(1))
        );
        assert_eq!(
            cast(&["networks", "n", "external"], "TRUE").0,
            Ok(Node::Bool(true))
        );
        assert_eq!(
            cast(&svc(&["read_only"]), "1").0,
            Err("invalid boolean: 1".into())
        );
        let (value, warnings) = cast(&svc(&["privileged"]), "yes");
        assert_eq!(value, Ok(Node::Bool(true)));
        assert_eq!(
            warnings,
            vec![Warning::new(
                "\"yes\" for boolean is not supported by YAML 1.2, please use `true`"
            )]
        );
        let (value, warnings) = cast(&svc(&["tty"]), "Off");
        assert_eq!(value, Ok(Node::Bool(false)));
        assert_eq!(
            warnings,
            vec![Warning::new(
                "\"Off\" for boolean is not supported by YAML 1.2, please use `false`"
            )]
        );
        assert!(cast_for(&["services", "w", "environment", "N"]).is_none());
        assert!(cast_for(&["services", "w", "ports", "[]", "published"]).is_none());
    }

    #[test]
    fn interpolate_node_walks_values_not_keys_and_casts() {
        let lookup = |name: &str| match name {
            "N" => Some("007".to_string()),
            "REPLICAS" => Some("2".to_string()),
            "KEY" => Some("key".to_string()),
            _ => None,
        };
        let doc = super::super::yaml::parse(
            "services:\n  app:\n    labels:\n      ${KEY}: v\n    environment:\n      ZERO: ${N}\n      LIT: 007\n    deploy:\n      replicas: ${REPLICAS}\n    read_only: 'true'\n    command: [\"$$HOME\", !override '${N}']\n",
            std::path::Path::new("c.yml"),
        )
        .unwrap()
        .remove(0);
        let mut warnings = Vec::new();
        let out = interpolate_node(doc, &lookup, &mut warnings)
            .unwrap()
            .to_json();
        let app = &out["services"]["app"];
        assert_eq!(app["labels"], serde_json::json!({"${KEY}": "v"}));
        assert_eq!(
            app["environment"],
            serde_json::json!({"ZERO": "007", "LIT": 7})
        );
        assert_eq!(app["deploy"]["replicas"], serde_json::json!(2));
        assert_eq!(app["read_only"], serde_json::json!(true));
        assert_eq!(app["command"], serde_json::json!(["$HOME", "007"]));
        assert!(warnings.is_empty());
    }

    #[test]
    fn reset_values_are_not_interpolated_override_values_are() {
        let doc = super::super::yaml::parse(
            "a: !reset ${X:?never checked}\nb: !override ${N:-3}\n",
            std::path::Path::new("c.yml"),
        )
        .unwrap()
        .remove(0);
        let out = interpolate_node(doc, &env, &mut Vec::new()).unwrap();
        let m = out.as_map().unwrap();
        assert_eq!(
            m["a"],
            Node::Tagged(
                Tag::Reset,
                Box::new(Node::Str("${X:?never checked}".into()))
            )
        );
        assert_eq!(
            m["b"],
            Node::Tagged(Tag::Override, Box::new(Node::Str("3".into())))
        );
    }

    #[test]
    fn limits_turn_runaway_input_into_errors() {
        let big = "x".repeat(1 << 20);
        let lookup = |name: &str| (name == "BIG").then(|| big.clone());
        let err = interpolate_str(&"${BIG}".repeat(5), &lookup, &mut Vec::new()).unwrap_err();
        assert!(
            err.message.contains("limit of 4194304 bytes"),
            "{}",
            err.message
        );
        let nested = format!("{}x{}", "${A:-".repeat(100), "}".repeat(100));
        assert!(interpolate_str(&nested, &lookup, &mut Vec::new())
            .unwrap_err()
            .message
            .contains("nests deeper"));
        let within = format!("{}x{}", "${A:-".repeat(50), "}".repeat(50));
        assert_eq!(
            interpolate_str(&within, &lookup, &mut Vec::new()).unwrap(),
            "x"
        );
    }
}
