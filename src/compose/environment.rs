//! The project environment that interpolation reads: the process environment over `.env` in the
//! project directory (or the `--env-file` files), as the reference resolves it.
//!
//! (Initial version; completed in issue #2's front-end work.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{dotenv, ComposeError};

/// Variables visible to interpolation, and where `COMPOSE_*` settings come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Name → value.
    pub vars: BTreeMap<String, String>,
}

impl Environment {
    /// Resolves the environment: `process` wins over the env files; with no `env_files`,
    /// `<project_dir>/.env` is read when it exists.
    pub fn resolve(process: &BTreeMap<String, String>, project_dir: &Path, env_files: &[PathBuf]) -> Result<Self, ComposeError> {
        let files: Vec<PathBuf> = if env_files.is_empty() {
            let dot = project_dir.join(".env");
            if dot.is_file() { vec![dot] } else { Vec::new() }
        } else {
            env_files.to_vec()
        };
        let mut vars = BTreeMap::new();
        for file in files {
            let src = std::fs::read_to_string(&file).map_err(|source| ComposeError::Read { path: file.clone(), source })?;
            let snapshot = vars.clone();
            let lookup = |k: &str| process.get(k).or_else(|| snapshot.get(k)).cloned();
            for (k, v) in dotenv::parse(&src, &file, &lookup)? {
                if let Some(v) = v {
                    vars.insert(k, v);
                }
            }
        }
        for (k, v) in process {
            vars.insert(k.clone(), v.clone());
        }
        Ok(Self { vars })
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}
