//! `.env` and `env_file` parsing with the reference's rules (quotes, escapes, `export`,
//! interpolation against earlier lines and the process environment).
//!
//! (Initial version: `KEY=VALUE` lines only; completed in issue #2's front-end work.)

use std::path::PathBuf;

use super::interpolate::Lookup;

/// An env file that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct DotenvError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses an env file. A bare `KEY` line yields `(KEY, lookup(KEY))`.
pub fn parse(src: &str, file: &std::path::Path, lookup: Lookup<'_>) -> Result<Vec<(String, Option<String>)>, DotenvError> {
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => out.push((k.trim().to_string(), Some(v.to_string()))),
            None if !line.contains(char::is_whitespace) => out.push((line.to_string(), lookup(line))),
            None => {
                return Err(DotenvError { file: file.to_path_buf(), line: i + 1, message: format!("unexpected character in variable name {line:?}") })
            }
        }
    }
    Ok(out)
}
