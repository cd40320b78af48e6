//! YAML scalars as go-yaml v3 resolves and prints them (`resolve`, number and date parsing,
//! quoting).

use std::fmt::Write as _;

use yaml_rust2::scanner::TScalarStyle;

use crate::compose::tree::Node;

pub(super) const CORE: &str = "!!";

/// A scalar whose explicit tag does not fit its text (the decoder adds the file and line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ScalarError {
    /// `!!int`, `!!float`, `!!bool` or `!!null` on text of another kind.
    #[error("cannot decode {kind} `{value}` as a {tag}")]
    Mismatch {
        /// The kind the text resolves to (`!!str`, `!!int`…).
        kind: &'static str,
        /// The text.
        value: String,
        /// The tag written.
        tag: String,
    },
    /// `!!binary` text that is not base64.
    #[error("!!binary value contains invalid base64 data")]
    Base64,
}

/// Resolves a scalar as go-yaml does: plain scalars by their text, quoted and block scalars as
/// strings, explicitly tagged ones by their tag (unknown tags such as `!reset` give strings).
pub(super) fn resolve_scalar(
    value: &str,
    style: TScalarStyle,
    tag: Option<&str>,
) -> Result<Node, ScalarError> {
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
    let mismatch = || ScalarError::Mismatch {
        kind: kind_tag(&resolved),
        value: value.to_owned(),
        tag: tag.to_owned(),
    };
    match core {
        "str" | "timestamp" => Ok(Node::Str(value.to_string())),
        "binary" => decode_base64(value)
            .map(|bytes| Node::Str(String::from_utf8_lossy(&bytes).into_owned()))
            .ok_or(ScalarError::Base64),
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
pub(super) fn decode_base64(text: &str) -> Option<Vec<u8>> {
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

pub(super) fn kind_tag(node: &Node) -> &'static str {
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
pub(super) fn resolve_plain(s: &str) -> Node {
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
pub(super) fn go_parse_int(s: &str) -> Option<i128> {
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
pub(super) fn is_yaml_float(s: &str) -> bool {
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
pub(super) fn go_parse_float(s: &str) -> Option<f64> {
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
pub(super) fn go_date(s: &str) -> Option<String> {
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
pub(super) fn go_value(node: &Node) -> String {
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
pub(super) fn go_float(f: f64) -> String {
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
