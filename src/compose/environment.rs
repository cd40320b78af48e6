//! The project environment that interpolation reads: the process environment over `.env` in the
//! project directory (or the `--env-file` files), as the reference resolves it, plus the
//! `COMPOSE_*` settings that may come from either.
//!
//! As in compose-go (`cli.WithEnvFiles` + `WithDotEnv`): explicit env files replace the default
//! `.env`; all files feed one map, later files winning; while a file is read its values may
//! refer to the process environment and to what was read before; finally the process
//! environment is laid over the result (a process variable set to "" still wins).
//! `COMPOSE_DISABLE_ENV_FILE=true` in the process environment skips the default `.env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::EnvFileProblem;
use super::warning::Warning;
use super::{dotenv, ComposeError};

/// Variables visible to interpolation, and where `COMPOSE_*` settings come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Name → value.
    pub vars: BTreeMap<String, String>,
    /// Warnings raised while reading the env files (unset variables in their values).
    pub warnings: Vec<Warning>,
}

impl Environment {
    /// Resolves the environment: `process` wins over the env files; with no `env_files`,
    /// `<project_dir>/.env` is read when it exists (and is not a directory). Env file paths
    /// should be absolute: errors name them as given.
    pub fn resolve(
        process: &BTreeMap<String, String>,
        project_dir: &Path,
        env_files: &[PathBuf],
    ) -> Result<Self, ComposeError> {
        Self::resolve_in(process, project_dir, env_files, None)
    }

    /// [`Self::resolve`], reading the files inside `jail` when there is one (the plugin).
    pub(crate) fn resolve_in(
        process: &BTreeMap<String, String>,
        project_dir: &Path,
        env_files: &[PathBuf],
        jail: Option<&crate::confine::Jail>,
    ) -> Result<Self, ComposeError> {
        let files: Vec<PathBuf> = if env_files.is_empty() {
            let dot = project_dir.join(".env");
            // In the jail, `.env` is looked at without following a link: a `.env` that is not
            // a plain file there is read (and refused) below, never silently skipped.
            let present = if jail.is_some() {
                std::fs::symlink_metadata(&dot).is_ok_and(|m| !m.is_dir())
            } else {
                dot.is_file()
            };
            if default_env_file_disabled(process)? || !present {
                Vec::new()
            } else {
                vec![dot]
            }
        } else {
            env_files.to_vec()
        };
        let mut from_files = BTreeMap::new();
        let mut warnings = Vec::new();
        for file in files {
            if jail.is_none() && file.is_dir() {
                return Err(ComposeError::EnvFile {
                    file,
                    problem: EnvFileProblem::Directory,
                });
            }
            let key = if env_files.is_empty() {
                ".env".to_owned()
            } else {
                format!("env file {}", file.display())
            };
            let bytes = super::loader::read_named(jail, &key, &file)?.ok_or_else(|| {
                ComposeError::EnvFile {
                    file: file.clone(),
                    problem: EnvFileProblem::NotFound,
                }
            })?;
            let src = String::from_utf8(bytes).map_err(|e| {
                let offset = e.utf8_error().valid_up_to();
                let line = e.as_bytes()[..offset]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                ComposeError::EnvFile {
                    file: file.clone(),
                    problem: EnvFileProblem::InvalidUtf8 { line, offset },
                }
            })?;
            let snapshot_lookup = |k: &str| process.get(k).cloned();
            dotenv::parse_into(
                &src,
                &file,
                &snapshot_lookup,
                &mut from_files,
                &mut warnings,
            )?;
        }
        let mut vars = from_files;
        for (k, v) in process {
            vars.insert(k.clone(), v.clone());
        }
        Ok(Self { vars, warnings })
    }

    /// The value of `name`, if set.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// `COMPOSE_PROJECT_NAME`, when set and not empty.
    #[cfg(test)]
    pub(crate) fn project_name(&self) -> Option<&str> {
        self.vars
            .get("COMPOSE_PROJECT_NAME")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `COMPOSE_FILE` split on `COMPOSE_PATH_SEPARATOR` (`:` by default), empty parts dropped;
    /// `None` when unset.
    pub(crate) fn compose_files(&self) -> Option<Vec<String>> {
        let list = self.vars.get("COMPOSE_FILE")?;
        let sep = self
            .vars
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map_or(":", String::as_str);
        Some(
            list.split(sep)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    /// `COMPOSE_PROFILES` split on commas and trimmed, empty names dropped.
    #[cfg(test)]
    pub(crate) fn profiles(&self) -> Vec<String> {
        self.vars
            .get("COMPOSE_PROFILES")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `COMPOSE_DISABLE_ENV_FILE` read like Go's `strconv.ParseBool`.
fn default_env_file_disabled(process: &BTreeMap<String, String>) -> Result<bool, ComposeError> {
    let Some(value) = process.get("COMPOSE_DISABLE_ENV_FILE") else {
        return Ok(false);
    };
    match value.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(ComposeError::NotBool {
            variable: "COMPOSE_DISABLE_ENV_FILE",
            value: other.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn project(dotenv: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), dotenv).unwrap();
        dir
    }

    #[test]
    fn process_wins_even_when_empty() {
        let dir = project("X=dotenv\nY=only_in_dotenv\nE=dotenv\n");
        let env = Environment::resolve(
            &process(&[("X", "from_process"), ("Z", "only"), ("E", "")]),
            dir.path(),
            &[],
        )
        .unwrap();
        assert_eq!(env.get("X").as_deref(), Some("from_process"));
        assert_eq!(env.get("Y").as_deref(), Some("only_in_dotenv"));
        assert_eq!(env.get("Z").as_deref(), Some("only"));
        assert_eq!(env.get("E").as_deref(), Some(""));
    }

    #[test]
    fn dotenv_values_refer_to_earlier_lines_and_the_process() {
        let dir = project("A=alpha\nB=${A}-beta\nC=${UNSET:-gamma}\nD=$A$A\nE=${PROC}-from-process\nSELF=${SELF:-dflt}\n");
        let env = Environment::resolve(
            &process(&[("PROC", "proc"), ("SELF", "proc")]),
            dir.path(),
            &[],
        )
        .unwrap();
        let got: Vec<_> = ["A", "B", "C", "D", "E", "SELF"]
            .iter()
            .map(|k| env.get(k).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "alpha",
                "alpha-beta",
                "gamma",
                "alphaalpha",
                "proc-from-process",
                "proc"
            ]
        );
        assert!(env.warnings.is_empty());
    }

    #[test]
    fn explicit_env_files_replace_dotenv_and_later_files_win() {
        let dir = project("FROM_DOTENV=1\n");
        let a = dir.path().join("a.env");
        let b = dir.path().join("b.env");
        std::fs::write(&a, "V=a\nONLY_A=a\n").unwrap();
        std::fs::write(&b, "V=b\nREF=${ONLY_A}\n").unwrap();
        let env = Environment::resolve(&BTreeMap::new(), dir.path(), &[a, b]).unwrap();
        assert_eq!(env.get("FROM_DOTENV"), None);
        assert_eq!(env.get("V").as_deref(), Some("b"));
        assert_eq!(env.get("REF").as_deref(), Some("a"));
    }

    #[test]
    fn missing_files_and_bad_lines_are_errors() {
        let dir = project("BAD KEY=1\n");
        let err = Environment::resolve(&BTreeMap::new(), dir.path(), &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "failed to read {}: line 1: key cannot contain a space",
                dir.path().join(".env").display()
            )
        );
        let missing = dir.path().join("nope.env");
        let err =
            Environment::resolve(&BTreeMap::new(), dir.path(), std::slice::from_ref(&missing))
                .unwrap_err()
                .to_string();
        assert_eq!(
            err,
            format!("couldn't find env file: {}", missing.display())
        );
        let no_dotenv = tempfile::tempdir().unwrap();
        assert!(
            Environment::resolve(&BTreeMap::new(), no_dotenv.path(), &[])
                .unwrap()
                .vars
                .is_empty()
        );
    }

    #[test]
    fn compose_settings_from_dotenv() {
        let dir = project("COMPOSE_PROFILES=other, debug,,\nCOMPOSE_PROJECT_NAME=proj\nCOMPOSE_FILE=a.yml;b.yml\nCOMPOSE_PATH_SEPARATOR=;\n");
        let env = Environment::resolve(&BTreeMap::new(), dir.path(), &[]).unwrap();
        assert_eq!(env.profiles(), ["other", "debug"]);
        assert_eq!(env.project_name(), Some("proj"));
        assert_eq!(
            env.compose_files(),
            Some(vec!["a.yml".to_string(), "b.yml".to_string()])
        );
    }

    #[test]
    fn compose_disable_env_file() {
        let dir = project("A=1\n");
        let env = Environment::resolve(
            &process(&[("COMPOSE_DISABLE_ENV_FILE", "true")]),
            dir.path(),
            &[],
        )
        .unwrap();
        assert_eq!(env.get("A"), None);
        assert!(Environment::resolve(
            &process(&[("COMPOSE_DISABLE_ENV_FILE", "maybe")]),
            dir.path(),
            &[]
        )
        .is_err());
    }

    #[test]
    fn invalid_utf8_names_file_line_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), b"A=1\nB=\xff\n").unwrap();
        let err = Environment::resolve(&BTreeMap::new(), dir.path(), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(".env: line 2: invalid UTF-8 at byte offset 6"),
            "{err}"
        );
    }
}
