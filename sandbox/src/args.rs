//! A small argv parser for built-in commands: value flags, boolean flags, short aliases and
//! positionals, with pflag's `--flag=value` form. Unknown flags fail like pflag (exit 2).

use std::collections::BTreeMap;

use crate::ctx::{Fail, Res};

/// Parsed arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Positionals in order.
    pub pos: Vec<String>,
    /// Flag values (a boolean flag maps to `"true"`); repeated flags keep every value.
    pub flags: BTreeMap<String, Vec<String>>,
}

impl Parsed {
    /// Whether a flag was given.
    pub fn has(&self, f: &str) -> bool {
        self.flags.contains_key(f)
    }
    /// Last value of a flag.
    pub fn get(&self, f: &str) -> Option<&str> {
        self.flags.get(f).and_then(|v| v.last()).map(String::as_str)
    }
    /// Every value of a flag.
    pub fn all(&self, f: &str) -> Vec<String> {
        self.flags.get(f).cloned().unwrap_or_default()
    }
    /// Positional `i` or empty.
    pub fn arg(&self, i: usize) -> String {
        self.pos.get(i).cloned().unwrap_or_default()
    }
}

/// Flag specification: value flags, boolean flags, aliases (`-n` → `--no-restart`).
pub struct Spec<'a> {
    /// Flags taking a value.
    pub values: &'a [&'a str],
    /// Flags without a value.
    pub bools: &'a [&'a str],
    /// Short or alternate names.
    pub aliases: &'a [(&'a str, &'a str)],
    /// Stop parsing flags at the first positional (pflag `SetInterspersed(false)`).
    pub stop_at_positional: bool,
    /// Ignore unknown `--x` flags (bash plugins that never validate them).
    pub lenient: bool,
}

/// Flags every command tolerates (global flags already consumed by the dispatcher).
const GLOBAL: &[&str] = &["--force", "--quiet", "--trace"];

/// Parse `args` with `spec`.
pub fn parse(args: &[String], spec: &Spec) -> Res<Parsed> {
    let mut p = Parsed::default();
    let mut i = 0;
    let mut only_pos = false;
    while i < args.len() {
        let a = &args[i];
        if only_pos || !a.starts_with('-') || a == "-" {
            p.pos.push(a.clone());
            if spec.stop_at_positional {
                only_pos = true;
            }
            i += 1;
            continue;
        }
        if a == "--" {
            only_pos = true;
            i += 1;
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let name = spec
            .aliases
            .iter()
            .find(|(s, _)| *s == name)
            .map_or(name, |(_, l)| (*l).to_string());
        if spec.values.contains(&name.as_str()) {
            let v = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(Fail::Dokku {
                                code: 2,
                                lines: vec![format!("flag needs an argument: {name}")],
                                raw: false,
                            })
                        }
                    }
                }
            };
            p.flags.entry(name).or_default().push(v);
        } else if spec.bools.contains(&name.as_str()) || GLOBAL.contains(&name.as_str()) {
            p.flags
                .entry(name)
                .or_default()
                .push(inline.unwrap_or_else(|| "true".into()));
        } else if spec.lenient {
            p.pos.push(a.clone());
        } else {
            return Err(Fail::Dokku {
                code: 2,
                lines: vec![format!("unknown flag: {name}")],
                raw: false,
            });
        }
        i += 1;
    }
    Ok(p)
}

/// Shorthand for a spec with value and bool flags, interspersed, strict.
pub fn spec<'a>(values: &'a [&'a str], bools: &'a [&'a str]) -> Spec<'a> {
    Spec {
        values,
        bools,
        aliases: &[],
        stop_at_positional: false,
        lenient: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn parses_values_bools_and_aliases() {
        let s = Spec {
            values: &["--alias"],
            bools: &["--no-restart"],
            aliases: &[("-a", "--alias"), ("-n", "--no-restart")],
            stop_at_positional: false,
            lenient: false,
        };
        let p = parse(&v(&["db", "-a", "X", "web", "-n"]), &s).unwrap();
        assert_eq!(p.pos, v(&["db", "web"]));
        assert_eq!(p.get("--alias"), Some("X"));
        assert!(p.has("--no-restart"));
    }

    #[test]
    fn unknown_flag_fails_like_pflag() {
        let e = parse(&v(&["--nope"]), &spec(&[], &[])).unwrap_err();
        assert_eq!(e.code(), 2);
    }

    #[test]
    fn stop_at_positional_keeps_option_text() {
        let s = Spec {
            values: &["--process"],
            bools: &[],
            aliases: &[],
            stop_at_positional: true,
            lenient: false,
        };
        let p = parse(
            &v(&["--process", "web", "app", "deploy", "--restart=always"]),
            &s,
        )
        .unwrap();
        assert_eq!(p.pos, v(&["app", "deploy", "--restart=always"]));
    }
}
