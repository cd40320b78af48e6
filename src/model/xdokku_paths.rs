//! `x-dokku.services.<svc>.paths` (issue 7, docs/routing.md): what a path of the service's
//! domains serves, decoded with serde and checked so each value is one nginx word.

use serde::{Deserialize, Serialize};

use super::error::ModelError;

/// One entry of `x-dokku.services.<svc>.paths`: what a path of the service's domains serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathRoute {
    /// The location, starting with `/`.
    pub path: String,
    /// What it serves.
    pub target: PathTarget,
}

/// What a path serves (exactly one per entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PathTarget {
    /// `service: <name>`: proxied to another service of the stack, through its Dokku upstream.
    Service {
        /// The compose service.
        service: String,
    },
    /// `redirect: <url>`: a 302.
    Redirect {
        /// Where to.
        url: String,
    },
    /// `static: <dir>`: a directory of the pushed source (relative to the project directory),
    /// served by nginx; with `spa`, unknown paths fall back to `/index.html`.
    Static {
        /// The directory, normalised (`public`, `web/dist`).
        dir: String,
        /// Single-page-app fallback.
        spa: bool,
    },
    /// `nginx: <body>`: a custom location block body, passed through.
    Nginx {
        /// The body.
        body: String,
    },
}

/// One `paths` entry as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `path` and one of `service`, `redirect`, `static`, `nginx`"
)]
pub(super) struct RawPath {
    nginx: Option<String>,
    path: Option<String>,
    redirect: Option<String>,
    service: Option<String>,
    spa: Option<bool>,
    #[serde(rename = "static")]
    static_dir: Option<String>,
}

fn err(path: &str, message: String) -> ModelError {
    ModelError::Extension {
        path: path.to_owned(),
        message,
    }
}

/// A value that must be one nginx word.
fn one_word(p: &str, v: &str, shown: &str) -> Result<(), ModelError> {
    if nginx_word(v) {
        Ok(())
    } else {
        Err(err(
            p,
            format!("`{shown}` must not contain whitespace, quotes, `{{`, `}}` or `;`"),
        ))
    }
}

/// A non-empty string at `<path>.<key>`.
fn text(v: Option<String>, path: &str, key: &str) -> Result<Option<String>, ModelError> {
    match v {
        Some(s) if s.trim().is_empty() => Err(err(
            &format!("{path}.{key}"),
            "must be a non-empty string".into(),
        )),
        other => Ok(other),
    }
}

impl RawPath {
    /// Checks the entry at `path` (`…paths[i]`).
    pub(super) fn check(self, path: &str) -> Result<PathRoute, ModelError> {
        let location = text(self.path, path, "path")?;
        let mut targets: Vec<(&str, PathTarget)> = Vec::new();
        if let Some(body) = text(self.nginx, path, "nginx")? {
            if !balanced(&body) {
                return Err(err(
                    &format!("{path}.nginx"),
                    "has unbalanced braces or quotes: it must be the body of one location block"
                        .into(),
                ));
            }
            targets.push(("nginx", PathTarget::Nginx { body }));
        }
        if let Some(url) = text(self.redirect, path, "redirect")? {
            one_word(&format!("{path}.redirect"), &url, &url)?;
            targets.push(("redirect", PathTarget::Redirect { url }));
        }
        if let Some(service) = text(self.service, path, "service")? {
            targets.push(("service", PathTarget::Service { service }));
        }
        if let Some(d) = text(self.static_dir, path, "static")? {
            let p = format!("{path}.static");
            let dir = inside_project(&d).ok_or_else(|| err(&p, format!("`{d}` must be a directory inside the project (relative, without leaving it with `..`)")))?;
            one_word(&p, &dir, &d)?;
            targets.push(("static", PathTarget::Static { dir, spa: false }));
        }
        let location =
            location.ok_or_else(|| err(&format!("{path}.path"), "is required".into()))?;
        check_location(&format!("{path}.path"), &location)?;
        if targets.len() != 1 {
            let given: Vec<&str> = targets.iter().map(|(k, _)| *k).collect();
            return Err(err(
                path,
                format!(
                    "needs exactly one of `service`, `redirect`, `static`, `nginx` (given: {})",
                    if given.is_empty() {
                        "none".to_owned()
                    } else {
                        given.join(", ")
                    }
                ),
            ));
        }
        let (_, mut target) = targets.remove(0);
        match (&mut target, self.spa) {
            (PathTarget::Static { spa: s, .. }, Some(v)) => *s = v,
            (_, Some(_)) => {
                return Err(err(
                    &format!("{path}.spa"),
                    "only applies to `static`".into(),
                ))
            }
            _ => {}
        }
        Ok(PathRoute {
            path: location,
            target,
        })
    }
}

/// A location: starts with `/`, one nginx word, not `/` itself.
fn check_location(p: &str, l: &str) -> Result<(), ModelError> {
    if !l.starts_with('/') {
        return Err(err(p, format!("`{l}` must start with `/`")));
    }
    one_word(p, l, l)?;
    if l == "/" {
        return Err(err(
            p,
            "`/` is the app itself (Dokku's own `location /`): route a sub-path".into(),
        ));
    }
    Ok(())
}

/// A location or URL an nginx directive can hold as one word.
fn nginx_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '\\' | '\''))
}

/// `dir` relative to the project directory, normalised; `None` when it leaves the project.
fn inside_project(dir: &str) -> Option<String> {
    if dir.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in dir.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        Some(".".into())
    } else {
        Some(parts.join("/"))
    }
}

/// Whether every `{` of `body` is closed by a later `}` and no `}` closes more than was opened
/// (quoted strings and comments aside).
fn balanced(body: &str) -> bool {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    for c in body.chars() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '#' => comment = true,
            '"' | '\'' => quote = Some(c),
            '{' => depth += 1,
            '}' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0 && quote.is_none()
}
