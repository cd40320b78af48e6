//! `.env` and `env_file` parsing with the reference's rules (compose-go v2.9.1 `dotenv`).
//!
//! A statement is `KEY=VALUE`, `KEY: VALUE`, `export KEY=VALUE` or a bare `KEY` (taken from
//! the lookup, omitted when unset). Unquoted values run to the end of the line, lose a ` #`
//! comment and trailing blanks, and are interpolated. Single quotes are literal (a `\'` still
//! escapes the quote); double quotes may span lines, understand `\n \t \" \\ \$ \0ooo …`, and are
//! interpolated. Interpolation looks a name up in the lookup first, then among the values
//! already read. The `raw` env_file format (`docker run --env-file`) keeps values verbatim.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::interpolate::{interpolate_env_value, Lookup};
use super::warning::Warning;
use super::yaml::go_quote;

/// An env file that could not be parsed. The message is worded like the reference's and names
/// the file (`failed to read /p/.env: line 1: key cannot contain a space`).
#[derive(Debug, thiserror::Error)]
#[error("{} {}: {problem}", problem.verb(), file.display())]
pub struct DotenvError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line (where the reference counts it).
    pub line: usize,
    /// What is wrong.
    pub problem: DotenvProblem,
}

/// What is wrong in an env file.
#[derive(Debug, thiserror::Error)]
pub enum DotenvProblem {
    /// A key holds a space.
    #[error("line {line}: key cannot contain a space")]
    KeySpace {
        /// The line.
        line: usize,
    },
    /// A key holds a character variable names cannot.
    #[error("line {line}: unexpected character {} in variable name {}", go_quote(&found.to_string()), go_quote(text))]
    UnexpectedCharacter {
        /// The line.
        line: usize,
        /// The character.
        found: char,
        /// The statement's first line.
        text: String,
    },
    /// A statement with no key.
    #[error("zero length string")]
    ZeroLength,
    /// A quoted value without its closing quote.
    #[error("line {line}: unterminated quoted value {text}")]
    UnterminatedQuote {
        /// The line.
        line: usize,
        /// The statement's first line.
        text: String,
    },
    /// A value does not interpolate.
    #[error("{0}")]
    Interpolation(super::interpolate::EnvValueError),
    /// `format: raw`: a variable name with white space.
    #[error("variable '{0}' contains whitespaces")]
    RawWhitespace(String),
    /// `format: raw`: a line without a variable name.
    #[error("no variable name on line '{0}'")]
    RawNoName(String),
}

impl DotenvProblem {
    /// How the reference's message begins: the raw format's errors are parse errors.
    fn verb(&self) -> &'static str {
        match self {
            Self::RawWhitespace(_) | Self::RawNoName(_) => "failed to parse env_file",
            _ => "failed to read",
        }
    }
}

impl DotenvError {
    fn new(file: &Path, line: usize, problem: DotenvProblem) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            problem,
        }
    }
}

/// Parses an env file into `(KEY, value)` pairs in file order (a key may repeat; the last one
/// wins). Bare `KEY` lines take `lookup(KEY)` and are left out when it is unset, as in the
/// reference, so the value is always `Some`. Interpolation warnings are dropped: use
/// [`parse_into`] to keep them.
pub fn parse(
    src: &str,
    file: &Path,
    lookup: Lookup<'_>,
) -> Result<Vec<(String, Option<String>)>, DotenvError> {
    let mut vars = BTreeMap::new();
    let mut warnings = Vec::new();
    let entries = parse_into(src, file, lookup, &mut vars, &mut warnings)?;
    Ok(entries.into_iter().map(|(k, v)| (k, Some(v))).collect())
}

/// Parses an env file into `vars`, exactly as the reference fills its map: `vars` may already
/// hold values (earlier files, the service's `environment`), interpolation looks names up in
/// `lookup` first and then in `vars`, and each statement is written to `vars` as it is read.
/// Returns the statements read, in order, and pushes unset-variable warnings.
pub fn parse_into(
    src: &str,
    file: &Path,
    lookup: Lookup<'_>,
    vars: &mut BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<(String, String)>, DotenvError> {
    let src = src.strip_prefix('\u{FEFF}').unwrap_or(src);
    let mut p = Parser { line: 1, file };
    let mut out = Vec::new();
    let mut cutset = src;
    loop {
        cutset = p.statement_start(cutset);
        if cutset.is_empty() {
            break;
        }
        let (key, left, inherited) = p.key_name(cutset)?;
        if key.contains(' ') {
            return Err(DotenvError::new(
                file,
                p.line,
                DotenvProblem::KeySpace { line: p.line },
            ));
        }
        if inherited {
            if let Some(value) = lookup(&key) {
                vars.insert(key.clone(), value.clone());
                out.push((key, value));
            }
            cutset = left;
            continue;
        }
        let (value, left) = p.value(left, vars, lookup, warnings)?;
        vars.insert(key.clone(), value.clone());
        out.push((key, value));
        cutset = left;
    }
    Ok(out)
}

/// Blanks that do not end a line (the reference's `isSpace`).
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{85}' | '\u{A0}'
    )
}

struct Parser<'f> {
    line: usize,
    file: &'f Path,
}

impl Parser<'_> {
    /// Skips whitespace (counting lines) and comment lines.
    fn statement_start<'s>(&mut self, mut src: &'s str) -> &'s str {
        loop {
            let Some(pos) = src.char_indices().find_map(|(i, c)| {
                if c == '\n' {
                    self.line += 1;
                }
                (!c.is_whitespace()).then_some(i)
            }) else {
                return "";
            };
            src = &src[pos..];
            if !src.starts_with('#') {
                return src;
            }
            match src.find('\n') {
                Some(nl) => src = &src[nl..],
                None => return "",
            }
        }
    }

    /// Reads the key: returns it, the text after the separator, and whether it was a bare key.
    fn key_name<'s>(&mut self, src: &'s str) -> Result<(String, &'s str, bool), DotenvError> {
        let mut src = src;
        if let Some(rest) = src.strip_prefix("export") {
            if rest.starts_with([' ', '\t', '\n', '\u{C}', '\r']) {
                src = rest.trim_start_matches(is_blank);
            }
        }
        let mut key = "";
        let mut offset = 0;
        let mut inherited = false;
        for (i, c) in src.char_indices() {
            if is_blank(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key = &src[..i];
                    offset = i + 1;
                    inherited = c == '\n';
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    let first_line = src.split('\n').next().unwrap_or_default();
                    return Err(DotenvError::new(
                        self.file,
                        self.line,
                        DotenvProblem::UnexpectedCharacter {
                            line: self.line,
                            found: c,
                            text: first_line.to_owned(),
                        },
                    ));
                }
            }
        }
        if src.is_empty() {
            return Err(DotenvError::new(
                self.file,
                self.line,
                DotenvProblem::ZeroLength,
            ));
        }
        if inherited && !key.contains(' ') {
            self.line += 1;
        }
        let key = key.trim_end_matches(char::is_whitespace).to_string();
        Ok((key, src[offset..].trim_start_matches(is_blank), inherited))
    }

    /// Reads a value: returns it and the text after it.
    fn value<'s>(
        &mut self,
        src: &'s str,
        vars: &BTreeMap<String, String>,
        lookup: Lookup<'_>,
        warnings: &mut Vec<Warning>,
    ) -> Result<(String, &'s str), DotenvError> {
        let quote = match src.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                let (value, rest) = src.split_once('\n').unwrap_or((src, ""));
                self.line += 1;
                let value = value.split_once(" #").map_or(value, |(v, _)| v).trim_end();
                return Ok((self.expand(value, vars, lookup, warnings)?, rest));
            }
        };
        let bytes = src.as_bytes();
        let mut chars = Vec::new();
        let mut escaped = false;
        for i in 1..bytes.len() {
            let c = bytes[i];
            if c == b'\n' {
                self.line += 1;
            }
            if c != quote {
                if !escaped && c == b'\\' {
                    escaped = true;
                    continue;
                }
                if escaped {
                    escaped = false;
                    chars.push(b'\\');
                }
                chars.push(c);
                continue;
            }
            if escaped {
                escaped = false;
                chars.push(c);
                continue;
            }
            // Only ASCII bytes were split off, so the collected bytes are still UTF-8.
            let value = String::from_utf8_lossy(&chars).into_owned();
            let value = if quote == b'"' {
                self.expand(&expand_escapes(&value), vars, lookup, warnings)?
            } else {
                value
            };
            return Ok((value, &src[i + 1..]));
        }
        let first_line = src.split('\n').next().unwrap_or_default();
        Err(DotenvError::new(
            self.file,
            self.line,
            DotenvProblem::UnterminatedQuote {
                line: self.line,
                text: first_line.to_owned(),
            },
        ))
    }

    /// Interpolates a value: the lookup first, then the values read so far.
    fn expand(
        &self,
        value: &str,
        vars: &BTreeMap<String, String>,
        lookup: Lookup<'_>,
        warnings: &mut Vec<Warning>,
    ) -> Result<String, DotenvError> {
        let chained = |name: &str| lookup(name).or_else(|| vars.get(name).cloned());
        interpolate_env_value(value, &chained, warnings)
            .map_err(|e| DotenvError::new(self.file, self.line, DotenvProblem::Interpolation(e)))
    }
}

/// The escapes a double-quoted value understands: `\a \b \f \n \r \t \v \" \\`, `\$` (a
/// literal `$`), and `\0` followed by three octal digits; anything else stays as written.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let mut chars = after.chars();
        let (replacement, consumed): (Option<String>, usize) = match chars.next() {
            Some('a') => (Some("\u{7}".into()), 1),
            Some('b') => (Some("\u{8}".into()), 1),
            Some('f') => (Some("\u{C}".into()), 1),
            Some('n') => (Some("\n".into()), 1),
            Some('r') => (Some("\r".into()), 1),
            Some('t') => (Some("\t".into()), 1),
            Some('v') => (Some("\u{B}".into()), 1),
            Some('"') => (Some("\"".into()), 1),
            Some('\\') => (Some("\\".into()), 1),
            Some('$') => (Some("$$".into()), 1),
            Some('c') => (None, 1),
            Some('0') => {
                let digits = after[1..]
                    .bytes()
                    .take(3)
                    .take_while(u8::is_ascii_digit)
                    .count();
                let octal = &after[1..=digits];
                let value = (digits == 3)
                    .then(|| u32::from_str_radix(octal, 8).ok())
                    .flatten()
                    .filter(|&v| v <= 0o377);
                // The reference drops the `0` before trying the octal escape, and keeps the
                // shortened text when the escape is not valid (`\0` alone becomes `\`).
                let text = value
                    .and_then(char::from_u32)
                    .map_or_else(|| format!("\\{octal}"), String::from);
                (Some(text), 1 + digits)
            }
            _ => (None, 0),
        };
        match replacement {
            Some(r) => out.push_str(&r),
            None => {
                out.push('\\');
                out.push_str(&after[..consumed]);
            }
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// Parses an env file in the `raw` format (`env_file: {format: raw}`), as `docker run
/// --env-file` does: `KEY=VALUE` with the value verbatim (no quotes, escapes, comments or
/// interpolation), `#` comment lines, and bare `KEY` lines taken from `lookup` when set.
pub fn parse_raw(
    src: &str,
    file: &Path,
    lookup: Lookup<'_>,
) -> Result<Vec<(String, String)>, DotenvError> {
    let src = src.strip_prefix('\u{FEFF}').unwrap_or(src);
    let mut out = Vec::new();
    let bad =
        |line_no: usize, problem: DotenvProblem| Err(DotenvError::new(file, line_no, problem));
    let mut lines = src.split('\n').peekable();
    let mut line_no = 0;
    while let Some(raw) = lines.next() {
        line_no += 1;
        if raw.is_empty() && lines.peek().is_none() {
            break;
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (variable, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let variable = variable.trim_start_matches([' ', '\t']);
        if variable.contains([' ', '\t']) {
            return bad(line_no, DotenvProblem::RawWhitespace(variable.to_owned()));
        }
        if variable.is_empty() {
            return bad(line_no, DotenvProblem::RawNoName(line.to_owned()));
        }
        match value {
            Some(v) => out.push((variable.to_string(), v.to_string())),
            None => {
                if let Some(v) = lookup(line) {
                    out.push((variable.trim().to_string(), v));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(src: &str, lookup: Lookup<'_>) -> Result<BTreeMap<String, String>, String> {
        let mut vars = BTreeMap::new();
        parse_into(
            src,
            Path::new("/p/.env"),
            lookup,
            &mut vars,
            &mut Vec::new(),
        )
        .map_err(|e| e.to_string())?;
        Ok(vars)
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn quoting_comments_and_export() {
        let src = "A=alpha\nS1='single $A ${A} \\' q \\n'\nS2=\"double ${A}\\tTAB \\\"q\\\" \\\\ \\$x \\0101 \\0 \\c end\"\nS3=unquoted # trailing comment\nexport S4=exported\nS5=\"with # hash\"\nS6=   spaced value   \nS7=a#b\nS8=   # x\nS9: yaml style\nS10=\"multi\nline\"\nS11=\"x\" S12=y\n  # indented comment\nS13=${A:-d}$A\nK.dot-x[1]=v\nS14=\nS16=\"\\a\\b\\f\\v\\r\"\n";
        let vars = read(src, &none).unwrap();
        let want = [
            ("A", "alpha"),
            ("S1", "single $A ${A} ' q \\n"),
            ("S2", "double alpha\tTAB \"q\" \\ $x A \\ \\c end"),
            ("S3", "unquoted"),
            ("S4", "exported"),
            ("S5", "with # hash"),
            ("S6", "spaced value"),
            ("S7", "a#b"),
            ("S8", "# x"),
            ("S9", "yaml style"),
            ("S10", "multi\nline"),
            ("S11", "x"),
            ("S12", "y"),
            ("S13", "alphaalpha"),
            ("K.dot-x[1]", "v"),
            ("S14", ""),
            ("S16", "\u{7}\u{8}\u{c}\u{b}\r"),
        ];
        for (k, v) in want {
            assert_eq!(vars.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert_eq!(vars.len(), want.len());
    }

    #[test]
    fn bare_keys_come_from_the_lookup_or_are_left_out() {
        let lookup = |k: &str| (k == "HOME").then(|| "/home/me".to_string());
        let vars = read("HOME\nMISSING\nA=1\nLAST", &lookup).unwrap();
        assert_eq!(vars.get("HOME").map(String::as_str), Some("/home/me"));
        assert!(!vars.contains_key("MISSING"));
        // A bare key on the last line without a newline is read as a value for "" (reference quirk).
        assert_eq!(vars.get("").map(String::as_str), Some("LAST"));
    }

    #[test]
    fn lookup_wins_over_earlier_lines_and_values_chain() {
        let lookup = |k: &str| (k == "A").then(|| "proc".to_string());
        let vars = read(
            "A=${A:-dotenv_default}\nB=${B:-dotenv_default}\nC=${B}-x\nD=${UNSET:-gamma}\n",
            &lookup,
        )
        .unwrap();
        assert_eq!(vars["A"], "proc");
        assert_eq!(vars["B"], "dotenv_default");
        assert_eq!(vars["C"], "dotenv_default-x");
        assert_eq!(vars["D"], "gamma");
    }

    #[test]
    fn errors_like_the_reference() {
        let cases = [
            ("A=1\n\nB C=1\n", "failed to read /p/.env: line 3: key cannot contain a space"),
            ("BAD KEY=1\n", "failed to read /p/.env: line 1: key cannot contain a space"),
            ("A=1\nB@=2\n", "failed to read /p/.env: line 2: unexpected character \"@\" in variable name \"B@=2\""),
            ("A=1\nB=\"unterminated\nC=2\n", "failed to read /p/.env: line 4: unterminated quoted value \"unterminated"),
            ("A=${B:?needed}\n", "failed to read /p/.env: required variable B is missing a value: needed"),
            ("A=${\n", "failed to read /p/.env: Invalid template: \"${\""),
            ("A='it''s'\n", "failed to read /p/.env: line 1: unexpected character \"'\" in variable name \"'s'\""),
        ];
        for (src, want) in cases {
            assert_eq!(read(src, &none).unwrap_err(), want, "{src}");
        }
    }

    #[test]
    fn unset_variables_warn() {
        let mut warnings = Vec::new();
        parse_into(
            "A=${NOPE}\n",
            Path::new(".env"),
            &none,
            &mut BTreeMap::new(),
            &mut warnings,
        )
        .unwrap();
        assert_eq!(
            warnings,
            vec![Warning::new(
                "The \"NOPE\" variable is not set. Defaulting to a blank string."
            )]
        );
    }

    #[test]
    fn parse_keeps_file_order_and_repeats() {
        let entries = parse("DUP=first\nDUP=second\n", Path::new(".env"), &none).unwrap();
        assert_eq!(
            entries,
            vec![
                ("DUP".to_string(), Some("first".to_string())),
                ("DUP".to_string(), Some("second".to_string()))
            ]
        );
    }

    #[test]
    fn raw_format_keeps_values_verbatim() {
        let lookup = |k: &str| (k == "PASS").then(|| "through".to_string());
        let src = "URL=http://${HOST:-localhost}:${PORT}\nQUOTED=\"kept\"\n  # comment\n\nSP= a b # c \r\nPASS\nUNSET\n";
        let entries = parse_raw(src, Path::new("raw.env"), &lookup).unwrap();
        let want = [
            ("URL", "http://${HOST:-localhost}:${PORT}"),
            ("QUOTED", "\"kept\""),
            ("SP", " a b # c "),
            ("PASS", "through"),
        ];
        assert_eq!(
            entries,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
        let err = parse_raw("A B=1\n", Path::new("raw.env"), &lookup).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to parse env_file raw.env: variable 'A B' contains whitespaces"
        );
        assert_eq!(err.line, 1);
        let err = parse_raw("x\n=1\n", Path::new("raw.env"), &lookup).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to parse env_file raw.env: no variable name on line '=1'"
        );
        assert_eq!(err.line, 2);
    }
}
