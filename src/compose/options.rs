//! What a caller asks the loader for: files, project name and directory, env files, profiles,
//! and the process environment as a map (the library never reads `std::env`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::tree::Node;
use super::warning::Warning;

/// Inputs of [`super::load`], the equivalent of `docker compose`'s global flags.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files in order; empty means `COMPOSE_FILE` or the default file names.
    pub files: Vec<PathBuf>,
    /// `-p`; `None` falls back to `COMPOSE_PROJECT_NAME`, `name:` and the directory name.
    pub project_name: Option<String>,
    /// `--project-directory`; `None` means the directory of the first file.
    pub project_directory: Option<PathBuf>,
    /// `--env-file` files; empty means `<project directory>/.env` when it exists.
    pub env_files: Vec<PathBuf>,
    /// `--profile` values; empty falls back to `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// `--no-interpolate`.
    pub no_interpolate: bool,
    /// The process environment.
    pub environment: BTreeMap<String, String>,
    /// The directory relative paths given above are resolved against (the caller's cwd).
    pub working_dir: PathBuf,
    /// Password of `env_file`s encrypted with ansible-vault.
    pub vault_password: Option<crate::vault::VaultPassword>,
    /// On the server: every file the project names is read inside this pushed tree, regular
    /// and bounded (issue #13); files outside it are refused instead of warned about.
    pub jail: Option<crate::confine::Jail>,
    /// Texts of some of `files`, read instead of the files (the plugin's compose files with
    /// shared variables resolved: relative paths in them still resolve where the file is).
    pub texts: BTreeMap<PathBuf, String>,
}

/// A loaded project: the normalised model and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The project name.
    pub name: String,
    /// The normalised project tree, in the reference's long syntax (`name` included).
    pub project: Node,
    /// Non-fatal findings, sorted and deduplicated.
    pub warnings: Vec<Warning>,
    /// Key paths into expanded lists -> the path of the entry as written
    /// (`services.web.ports[7]` -> `services.web.ports[2]`), where they differ.
    pub written_paths: std::collections::BTreeMap<String, String>,
}
