//! Commands as values (style R9, R15): the argv of one `dokku` call, which arguments are
//! secret (masked when printed), and what goes to its stdin. The executor is the only place
//! that runs them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a command reads on stdin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Stdin {
    /// A tar archive for `git:from-archive --archive-type tar <app> --`, built by the executor:
    /// the `base` directory of the pushed source (none for image services) plus `files`.
    Archive {
        /// The app it is deployed to (where the executor saves it for a rollback); part of the
        /// step, never read back from the command's arguments.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        app: String,
        /// Directory of the pushed source to include, relative to the project directory.
        base: Option<String>,
        /// Generated files: archive path -> content.
        files: BTreeMap<String, String>,
        /// Files copied from the pushed source: archive path -> source path.
        copies: BTreeMap<String, String>,
        /// sha256 of everything above; stored as `DOKKU_COMPOSE_DIGEST`.
        digest: String,
    },
    /// The archive an earlier apply deployed to `app` with this digest, as the executor saved
    /// it: how a rollback redeploys the previous build context.
    Saved {
        /// App.
        app: String,
        /// Digest of the saved archive (`DOKKU_COMPOSE_DIGEST` of the release it came from).
        digest: String,
    },
    /// Config values for `config:import --format json <app> -`, sent as a JSON object: secret
    /// values stay out of the process list (argv is readable by every user of the host).
    Config {
        /// Key -> value.
        values: BTreeMap<String, String>,
        /// Keys whose values are masked wherever the command is shown.
        secret: std::collections::BTreeSet<String>,
    },
}

/// One command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmd {
    /// Program: always `dokku` for planned steps (borrowed, so a plan of thousands of steps does
    /// not allocate it thousands of times).
    pub program: std::borrow::Cow<'static, str>,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Indices into `args` whose value part is secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret: Vec<usize>,
    /// stdin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Box<Stdin>>,
    /// Extra environment (host deploy hooks only; `dokku` commands get theirs from Dokku).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Working directory (host deploy hooks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// The mask printed instead of a secret.
pub(crate) const MASK: &str = "********";

impl Cmd {
    /// `dokku <args…>`.
    pub fn dokku<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            program: std::borrow::Cow::Borrowed("dokku"),
            args: args.into_iter().map(Into::into).collect(),
            secret: Vec::new(),
            stdin: None,
            env: Vec::new(),
            cwd: None,
        }
    }

    /// A deploy hook run on the host: the executable `path`, in `cwd`, with `env` (style R15:
    /// the one kind of command that is not `dokku`, visible as such in review).
    pub(crate) fn hook(path: &str, cwd: &str, env: Vec<(String, String)>) -> Self {
        Self {
            program: std::borrow::Cow::Owned(path.to_owned()),
            args: Vec::new(),
            secret: Vec::new(),
            stdin: None,
            env,
            cwd: Some(cwd.to_owned()),
        }
    }

    /// Appends an argument.
    #[must_use]
    pub(crate) fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Appends a flag and its value as two arguments.
    #[must_use]
    pub(crate) fn flag(self, f: &str, v: impl Into<String>) -> Self {
        self.arg(f).arg(v)
    }

    /// Appends an argument whose value is secret: after a flag it is masked whole, otherwise
    /// `KEY=value` keeps the key.
    #[must_use]
    pub(crate) fn secret_arg(mut self, a: impl Into<String>) -> Self {
        self.secret.push(self.args.len());
        self.args.push(a.into());
        self
    }

    /// `dokku config:import --no-restart --format json <app> -` with `values` on stdin; the
    /// keys in `secret` are masked wherever the command is shown (see
    /// [`super::commands::config_import`]).
    pub fn config_import(
        app: &str,
        values: BTreeMap<String, String>,
        secret: std::collections::BTreeSet<String>,
    ) -> Self {
        super::commands::config_import(app, values, secret)
    }

    /// Adds an environment variable whose value is secret, for plugins that read a setting
    /// from their environment (`SERVICE_PASSWORD` of the datastore plugins). The environment
    /// of a `dokku` command is never shown.
    #[must_use]
    pub(crate) fn secret_env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Every secret value the command carries (arguments, stdin config, environment of a
    /// `dokku` command): what is scrubbed from its output.
    pub(crate) fn secret_values(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for &i in &self.secret {
            let Some(arg) = self.args.get(i) else {
                continue;
            };
            out.push(arg.as_str());
            if let Some((_, v)) = arg.split_once('=') {
                out.push(v);
            }
        }
        if let Some(Stdin::Config { values, secret }) = self.stdin.as_deref() {
            out.extend(
                values
                    .iter()
                    .filter(|(k, _)| secret.contains(*k))
                    .map(|(_, v)| v.as_str()),
            );
        }
        if self.program == "dokku" {
            out.extend(self.env.iter().map(|(_, v)| v.as_str()));
        }
        out
    }

    /// Sets stdin.
    #[must_use]
    pub(crate) fn with_stdin(mut self, s: Stdin) -> Self {
        self.stdin = Some(Box::new(s));
        self
    }

    /// The full argv, program first, unmasked: what the executor runs.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The argv with secrets masked: what is printed.
    pub(crate) fn masked_argv(&self) -> Vec<String> {
        let mut out = vec![self.program.to_string()];
        for (i, a) in self.args.iter().enumerate() {
            if self.secret.contains(&i) {
                let after_flag = i > 0 && self.args[i - 1].starts_with('-');
                out.push(match a.split_once('=') {
                    Some((k, _)) if !after_flag => format!("{k}={MASK}"),
                    _ => MASK.to_owned(),
                });
            } else {
                out.push(a.clone());
            }
        }
        out
    }

    /// The Dokku command word (`apps:create`).
    pub(crate) fn command(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }
}

/// Quotes one word for a POSIX shell, only when needed.
pub(crate) fn shell_quote(s: &str) -> String {
    if needs_quotes(s) {
        format!("'{}'", s.replace('\'', r"'\''"))
    } else {
        s.to_owned()
    }
}

impl fmt::Display for Cmd {
    /// The shell-quoted command with secrets masked (stdin is described by [`Stdin::describe`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, &self.program)?;
        for (i, a) in self.args.iter().enumerate() {
            f.write_str(" ")?;
            if self.secret.contains(&i) {
                let after_flag = i > 0 && self.args[i - 1].starts_with('-');
                match a.split_once('=') {
                    Some((k, _)) if !after_flag => write_quoted(f, &format!("{k}={MASK}"))?,
                    _ => write_quoted(f, MASK)?,
                }
            } else {
                write_quoted(f, a)?;
            }
        }
        Ok(())
    }
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if needs_quotes(s) {
        f.write_str("'")?;
        for (i, part) in s.split('\'').enumerate() {
            if i > 0 {
                f.write_str(r"'\''")?;
            }
            f.write_str(part)?;
        }
        f.write_str("'")
    } else {
        f.write_str(s)
    }
}

impl Stdin {
    /// The config values with secret ones masked (`None` for archives).
    pub(crate) fn masked(&self) -> Option<Value> {
        let Stdin::Config { values, secret } = self else {
            return None;
        };
        Some(Value::Object(
            values
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(if secret.contains(k) {
                            MASK.to_owned()
                        } else {
                            v.clone()
                        }),
                    )
                })
                .collect(),
        ))
    }

    /// A one-line description for the text plan: what the archive holds and its digest.
    pub fn describe(&self) -> String {
        let (base, files, copies, digest) = match self {
            Stdin::Archive {
                base,
                files,
                copies,
                digest,
                ..
            } => (base, files, copies, digest),
            Stdin::Saved { app, digest } => {
                return format!("tar saved when `{app}` was deployed; {digest}")
            }
            Stdin::Config { .. } => {
                let Some(Value::Object(m)) = self.masked() else {
                    return String::new();
                };
                let pairs: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                return format!("JSON config vars {}", pairs.join(" "));
            }
        };
        let mut parts: Vec<String> = Vec::new();
        if let Some(b) = base {
            parts.push(format!("source directory {b}"));
        }
        let mut names: Vec<&str> = files.keys().map(String::as_str).collect();
        names.extend(copies.keys().map(String::as_str));
        if !names.is_empty() {
            parts.push(names.join(", "));
        }
        format!("tar of {}; {digest}", parts.join(" + "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_on_stdin_and_in_the_environment_stay_out_of_argv() {
        let values = BTreeMap::from([
            ("PW".to_owned(), "stdin-secret".to_owned()),
            ("MODE".to_owned(), "prod".to_owned()),
        ]);
        let c = Cmd::config_import("app", values, ["PW".to_owned()].into());
        assert_eq!(
            c.argv(),
            [
                "dokku",
                "config:import",
                "--no-restart",
                "--format",
                "json",
                "app",
                "-"
            ]
        );
        assert_eq!(
            c.stdin.as_ref().unwrap().describe(),
            "JSON config vars MODE=prod PW=********"
        );
        let d = Cmd::dokku(["postgres:create", "db"]).secret_env("SERVICE_PASSWORD", "env-secret");
        assert!(
            !d.to_string().contains("env-secret")
                && !d.argv().iter().any(|a| a.contains("env-secret"))
        );
        assert_eq!(c.secret_values(), ["stdin-secret"]);
        assert_eq!(d.secret_values(), ["env-secret"]);
    }

    #[test]
    fn masking_and_quoting() {
        let c = Cmd::dokku(["config:set", "--no-restart", "app"])
            .arg("PLAIN=1")
            .secret_arg("PW=it's secret");
        assert_eq!(
            c.to_string(),
            "dokku config:set --no-restart app PLAIN=1 'PW=********'"
        );
        assert_eq!(c.argv().last().unwrap(), "PW=it's secret");
        let c = Cmd::dokku(["postgres:create", "db", "--password"]).secret_arg("x=y");
        assert_eq!(
            c.to_string(),
            "dokku postgres:create db --password '********'"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
