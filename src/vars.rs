//! Shared variables of projects (issue #7): `${{global.VAR}}`, `${{project.VAR}}` and
//! `${{environment.VAR}}` in compose files, resolved before the compose loader reads them
//! (plain `${VAR}` keeps its compose meaning). `$${{` is a literal `${{`. An undefined
//! reference is an error naming the file, the line and the variable.
//!
//! Generated values: `${{generate.NAME:KIND[:LENGTH]}}` with KIND `password` (letters and
//! digits, default 32), `hex` (LENGTH bytes, default 32), `base64` (LENGTH bytes, default 32) or
//! `uuid` (v4). The caller's generator creates a value the first time and returns the stored one
//! after that.

use std::collections::BTreeMap;

/// The variables of the three levels a stack sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scopes {
    /// Host-wide.
    pub global: BTreeMap<String, String>,
    /// The stack's project.
    pub project: BTreeMap<String, String>,
    /// The stack's project environment.
    pub environment: BTreeMap<String, String>,
}

/// A reference that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VarError {
    /// The variable is not defined at that level.
    #[error("{file}:{line}: `${{{{{scope}.{name}}}}}` is not defined{hint}")]
    Undefined {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// `global`, `project` or `environment`.
        scope: String,
        /// The variable.
        name: String,
        /// What to do.
        hint: String,
    },
    /// The reference is malformed.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Whether `text` references shared variables at all.
pub(crate) fn has_references(text: &str) -> bool {
    text.contains("${{")
}

/// The references in `text`, as `(scope, name)`.
pub(crate) fn references(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${{") {
        let escaped = rest[..i].ends_with('$');
        rest = &rest[i + 3..];
        let Some(end) = rest.find("}}") else { break };
        if !escaped {
            if let Some((s, n)) = rest[..end].trim().split_once('.') {
                out.push((s.to_owned(), n.to_owned()));
            }
        }
        rest = &rest[end + 2..];
    }
    out
}

/// A `generate.NAME:KIND[:LENGTH]` spec that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GenSpecError {
    /// The length is not a number from 8 to 256.
    #[error("length `{0}` must be a number from 8 to 256")]
    Length(String),
    /// The kind is not one we generate.
    #[error("`{0}` is not `password`, `hex`, `base64` or `uuid`")]
    Kind(String),
}

/// Why a value could not be generated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GenError {
    /// The system's random source failed.
    #[error("no randomness: {0}")]
    Random(getrandom::Error),
    /// No free host port could be bound.
    #[error("no free port: {0}")]
    Port(std::io::Error),
}

/// What a `generate.` reference asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GenKind {
    /// Letters and digits.
    Password(usize),
    /// Random bytes, hex-encoded.
    Hex(usize),
    /// Random bytes, base64-encoded.
    Base64(usize),
    /// A random UUID (v4).
    Uuid,
    /// A host port free when it was chosen (the first deploy), kept after that.
    Port,
}

impl GenKind {
    /// Parses `KIND[:LENGTH]`.
    pub(crate) fn parse(spec: &str) -> Result<Self, GenSpecError> {
        let (kind, len) = match spec.split_once(':') {
            Some((k, l)) => (
                k,
                Some(
                    l.parse::<usize>()
                        .ok()
                        .filter(|n| (8..=256).contains(n))
                        .ok_or_else(|| GenSpecError::Length(l.to_owned()))?,
                ),
            ),
            None => (spec, None),
        };
        Ok(match kind {
            "password" => GenKind::Password(len.unwrap_or(32)),
            "hex" => GenKind::Hex(len.unwrap_or(32)),
            "base64" => GenKind::Base64(len.unwrap_or(32)),
            "uuid" if len.is_none() => GenKind::Uuid,
            other => return Err(GenSpecError::Kind(other.to_owned())),
        })
    }

    /// A new random value.
    pub(crate) fn generate(self) -> Result<String, GenError> {
        use base64::Engine as _;
        let bytes = |n: usize| -> Result<Vec<u8>, GenError> {
            let mut b = vec![0u8; n];
            getrandom::getrandom(&mut b).map_err(GenError::Random)?;
            Ok(b)
        };
        Ok(match self {
            GenKind::Password(n) => {
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                // Rejection sampling keeps every character equally likely.
                let mut out = String::with_capacity(n);
                while out.len() < n {
                    for b in bytes(n)? {
                        if usize::from(b) < 248 && out.len() < n {
                            out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
                        }
                    }
                }
                out
            }
            GenKind::Hex(n) => hex::encode(bytes(n)?),
            GenKind::Base64(n) => base64::engine::general_purpose::STANDARD.encode(bytes(n)?),
            GenKind::Port => {
                let l = std::net::TcpListener::bind("0.0.0.0:0").map_err(GenError::Port)?;
                l.local_addr().map_err(GenError::Port)?.port().to_string()
            }
            GenKind::Uuid => {
                let mut b = bytes(16)?;
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                let h = hex::encode(b);
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
        })
    }
}

/// Why a `generate.` or `stack.` reference has no value where no stack is at hand.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unanswerable {
    /// `${{generate.NAME}}` outside a stack.
    #[error("generated value `{0}` needs a stack")]
    Generated(String),
    /// `${{stack.PATH}}` without the stack's model.
    #[error("`stack.{0}` needs the stack's model")]
    Fact(String),
}

/// Replaces every `${{scope.NAME}}` of `text` (the file `file`, for messages): the tests'
/// entry to [`substitute_all`] without generated values or stack facts.
#[cfg(test)]
pub(crate) fn substitute(
    text: &str,
    file: &str,
    scopes: &Scopes,
    in_project: bool,
) -> Result<String, VarError> {
    substitute_with(text, file, scopes, in_project, &mut |name, _| {
        Err(Unanswerable::Generated(name.to_owned()))
    })
}

/// [`substitute`], with `generated(name, kind)` answering `${{generate.NAME:KIND}}`.
#[cfg(test)]
pub(crate) fn substitute_with<E: std::fmt::Display>(
    text: &str,
    file: &str,
    scopes: &Scopes,
    in_project: bool,
    generated: &mut dyn FnMut(&str, GenKind) -> Result<String, E>,
) -> Result<String, VarError> {
    substitute_all(text, file, scopes, in_project, generated, &mut |fact| {
        Err(Unanswerable::Fact(fact.to_owned()))
    })
}

/// Whether `text` asks for facts of the stack (`${{stack.…}}`).
pub(crate) fn has_facts(text: &str) -> bool {
    references(text).iter().any(|(s, _)| s == "stack")
}

/// [`substitute_with`], with `fact(path)` answering `${{stack.<service>.<fact>}}` and
/// `${{stack.<volume>.host_path}}` (the path after `stack.`).
pub(crate) fn substitute_all<G: std::fmt::Display, F: std::fmt::Display>(
    text: &str,
    file: &str,
    scopes: &Scopes,
    in_project: bool,
    generated: &mut dyn FnMut(&str, GenKind) -> Result<String, G>,
    fact: &mut dyn FnMut(&str) -> Result<String, F>,
) -> Result<String, VarError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let line_of = |consumed: usize| text[..consumed].matches('\n').count() + 1;
    let syntax = |at: usize, message: String| VarError::Syntax {
        file: file.to_owned(),
        line: line_of(at),
        message,
    };
    while let Some(i) = rest.find("${{") {
        let at = text.len() - rest.len() + i;
        if rest[..i].ends_with('$') {
            // `$${{` stays a literal `${{` (one `$` dropped, as compose escapes `$$`).
            out.push_str(&rest[..i - 1]);
            out.push_str("${{");
            rest = &rest[i + 3..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let Some(end) = after.find("}}") else {
            return Err(syntax(at, "`${{` without a closing `}}`".into()));
        };
        let inner = after[..end].trim();
        if let Some(path) = inner.strip_prefix("stack.") {
            let value = fact(path).map_err(|e| syntax(at, e.to_string()))?;
            out.push_str(&value);
            rest = &after[end + 2..];
            continue;
        }
        if let Some(spec) = inner.strip_prefix("generate.") {
            let (name, kind) = spec.split_once(':').unwrap_or((spec, "password"));
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(syntax(at, format!("`{name}` is not a variable name")));
            }
            let kind = GenKind::parse(kind).map_err(|e| syntax(at, e.to_string()))?;
            let value = generated(name, kind).map_err(|e| syntax(at, e.to_string()))?;
            out.push_str(&value);
            rest = &after[end + 2..];
            continue;
        }
        let Some((scope, name)) = inner.split_once('.') else {
            return Err(syntax(
                at,
                format!(
                    "`${{{{{inner}}}}}` needs a level: `global.`, `project.` or `environment.`"
                ),
            ));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(syntax(at, format!("`{name}` is not a variable name")));
        }
        let map = match scope {
            "global" => &scopes.global,
            "project" => &scopes.project,
            "environment" => &scopes.environment,
            other => {
                return Err(syntax(
                    at,
                    format!("unknown level `{other}`: use `global`, `project` or `environment`"),
                ))
            }
        };
        let Some(value) = map.get(name) else {
            let hint = match (scope, in_project) {
                ("global", _) => format!(" (`dokku compose:projects:set-var --global {name}=…`)"),
                (_, false) => " (the stack belongs to no project: `dokku compose:set <app> project <project>`)".to_owned(),
                ("project", true) => format!(" (`dokku compose:projects:set-var <project> {name}=…`)"),
                _ => format!(" (`dokku compose:projects:set-var <project> --environment <env> {name}=…`)"),
            };
            return Err(VarError::Undefined {
                file: file.to_owned(),
                line: line_of(at),
                scope: scope.to_owned(),
                name: name.to_owned(),
                hint,
            });
        };
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> Scopes {
        Scopes {
            global: BTreeMap::from([("REGISTRY".into(), "ghcr.io/acme".into())]),
            project: BTreeMap::from([("IMAGE_TAG".into(), "1.4.2".into())]),
            environment: BTreeMap::from([("DOMAIN".into(), "staging.example.com".into())]),
        }
    }

    #[test]
    fn substitutes_every_level_and_keeps_compose_variables() {
        let text = "image: ${{global.REGISTRY}}/web:${{ project.IMAGE_TAG }}\nhost: ${{environment.DOMAIN}}\nuser: ${USER:-x}\nlit: $${{project.IMAGE_TAG}}\n";
        let out = substitute(text, "compose.yaml", &scopes(), true).unwrap();
        assert_eq!(out, "image: ghcr.io/acme/web:1.4.2\nhost: staging.example.com\nuser: ${USER:-x}\nlit: ${{project.IMAGE_TAG}}\n");
        assert_eq!(
            references(text),
            [
                ("global".to_owned(), "REGISTRY".to_owned()),
                ("project".into(), "IMAGE_TAG".into()),
                ("environment".into(), "DOMAIN".into())
            ]
        );
    }

    #[test]
    fn generated_values_come_from_the_generator_once_per_name() {
        let mut store: BTreeMap<String, String> = BTreeMap::new();
        let mut calls = 0;
        let mut gen = |name: &str, kind: GenKind| -> Result<String, GenError> {
            calls += 1;
            Ok(store
                .entry(name.to_owned())
                .or_insert_with(|| kind.generate().unwrap())
                .clone())
        };
        let out = substitute_with(
            "a: ${{generate.DB_PW:password:24}}\nb: ${{generate.DB_PW}}\n",
            "c.yml",
            &Scopes::default(),
            false,
            &mut gen,
        )
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0].len(), "a: ".len() + 24);
        assert_eq!(lines[0][3..], lines[1][3..], "one name, one value");
        assert_eq!(calls, 2);
        assert!(GenKind::Password(40)
            .generate()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(GenKind::Hex(16).generate().unwrap().len(), 32);
        let u = GenKind::Uuid.generate().unwrap();
        assert_eq!((u.len(), &u[14..15]), (36, "4"));
        assert_ne!(
            GenKind::Base64(32).generate().unwrap(),
            GenKind::Base64(32).generate().unwrap()
        );
        assert!(GenKind::parse("password:4").is_err() && GenKind::parse("pin").is_err());
    }

    #[test]
    fn errors_name_file_line_and_variable() {
        let err = substitute(
            "a: 1\nb: ${{project.NOPE}}\n",
            "compose.yaml",
            &scopes(),
            true,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "compose.yaml:2: `${{project.NOPE}}` is not defined (`dokku compose:projects:set-var <project> NOPE=…`)");
        let err =
            substitute("x: ${{project.TAG}}", "c.yml", &Scopes::default(), false).unwrap_err();
        assert!(err.to_string().contains("belongs to no project"), "{err}");
        assert!(substitute("x: ${{TAG}}", "c.yml", &scopes(), true)
            .unwrap_err()
            .to_string()
            .contains("needs a level"));
        assert!(substitute("x: ${{team.TAG}}", "c.yml", &scopes(), true)
            .unwrap_err()
            .to_string()
            .contains("unknown level `team`"));
        assert!(substitute("x: ${{project.TAG", "c.yml", &scopes(), true)
            .unwrap_err()
            .to_string()
            .contains("without a closing"));
    }
}
