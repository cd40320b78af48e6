//! How Dokku splits a stored option string: `docker-options:add`'s shell words and grouping
//! at flag words, and `xargs` at deploy; parsing a stored group back into a typed option.

use super::grammar::quote;
use super::{DockerOpt, Flag, OptionError};

/// Why Dokku could not be trusted to split an option string: it holds shell syntax the
/// words parser would keep verbatim, or unbalanced quotes.
pub(super) fn split_err(option: &str, what: &str) -> OptionError {
    OptionError::Split {
        option: option.escape_debug().to_string(),
        problem: what.to_owned(),
    }
}

/// Splits `s` into words the way `docker-options:add` does (shell words, quotes removed,
/// nothing expanded), for the subset of shell syntax that both that parser and `xargs` read
/// alike: blanks, single quotes and backslash escapes outside quotes. Anything else
/// (double quotes, `$`, backticks, `;|&<>(){}!#*?[]~`, control characters) is refused, since
/// Dokku would keep it verbatim in one stage and read it differently in the other. The check
/// is [`check_shell_subset`]; the splitting is the `shell-words` crate's.
pub fn shell_words(s: &str) -> Result<Vec<String>, OptionError> {
    check_shell_subset(s)?;
    shell_words::split(s).map_err(|e| split_err(s, &e.to_string()))
}

/// Refuses what is outside the shell subset [`shell_words`] accepts: it only follows single
/// quotes (which escape nothing) and backslashes, to tell quoted characters from bare ones.
pub(super) fn check_shell_subset(s: &str) -> Result<(), OptionError> {
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            c if quoted && c.is_control() => {
                return Err(split_err(s, "holds a control character inside quotes"))
            }
            _ if quoted => {}
            ' ' | '\t' => {}
            '\\' => match chars.next() {
                Some(n) if !n.is_control() => {}
                _ => {
                    return Err(split_err(
                        s,
                        "ends with a backslash or escapes a control character",
                    ))
                }
            },
            c if c.is_control() || c.is_whitespace() => {
                return Err(split_err(s, "holds a control or line-break character"))
            }
            c if "\"$`;|&<>(){}!#*?[]~".contains(c) => {
                return Err(split_err(
                    s,
                    &format!("holds the shell character `{c}` unquoted"),
                ))
            }
            _ => {}
        }
    }
    if quoted {
        return Err(split_err(s, "has an unbalanced single quote"));
    }
    Ok(())
}

/// Dokku's `isFlagToken`: a word of more than one character starting with `-`.
pub fn is_flag_word(w: &str) -> bool {
    w.len() > 1 && w.starts_with('-')
}

/// What `docker-options:add <app> <phase> <option>` stores and what docker then receives:
/// the option split into words, grouped at flag words (one stored option per group, as
/// `groupOptionTokens`). Each group is one docker flag and its values, in order; the stored
/// groups are sorted among the app's other options, so only a whole group keeps its meaning.
pub fn dokku_groups(option: &str) -> Result<Vec<Vec<String>>, OptionError> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for w in shell_words(option)? {
        match groups.last_mut() {
            Some(g) if !is_flag_word(&w) => g.push(w),
            _ => groups.push(vec![w]),
        }
    }
    Ok(groups)
}

/// Parses one stored group (`["--flag", "value"]`, `["--flag=value"]` or `["--flag"]`) as a
/// typed option, checking the value's grammar.
pub fn parse_group(group: &[String]) -> Result<DockerOpt, OptionError> {
    let (name, value) = match group {
        [one] => match one.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (one.as_str(), None),
        },
        [flag, value] => (flag.as_str(), Some(value.as_str())),
        [] => return Err(OptionError::EmptyGroup),
        [flag, rest @ ..] => {
            return Err(OptionError::ManyValues {
                flag: flag.clone(),
                count: rest.len(),
                values: rest.join("` `"),
            })
        }
    };
    if !is_flag_word(name) {
        return Err(OptionError::NotAFlag(name.to_owned()));
    }
    let Some(flag) = Flag::parse(name) else {
        return Err(OptionError::UnknownFlag(name.to_owned()));
    };
    match value {
        Some(v) => DockerOpt::new(flag, v),
        None => DockerOpt::bare(flag),
    }
}

/// Splits a string with `xargs`' quoting (GNU findutils without `-0`/`-d`): blanks and
/// newlines separate, single and double quotes group (no escapes inside), a backslash outside
/// quotes escapes the next character. This is how the scheduler and builders split the
/// joined options (`fn-docker-args-split`).
pub fn xargs_split(s: &str) -> Result<Vec<String>, OptionError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\n') | None => {
                            return Err(OptionError::Xargs(if c == '\'' {
                                "single"
                            } else {
                                "double"
                            }))
                        }
                        Some(x) => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// The docker arguments one `docker-options:add` option string ends as: split and grouped as
/// `docker-options:add` stores it, each group re-quoted as Dokku stores it, joined and split
/// by `xargs` at deploy. Errors when the string holds syntax the two stages read differently.
pub fn dokku_argv(option: &str) -> Result<Vec<String>, OptionError> {
    let stored: Vec<String> = dokku_groups(option)?
        .iter()
        .map(|g| g.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
        .collect();
    xargs_split(&stored.join(" "))
}
