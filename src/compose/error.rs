//! Errors of the compose loader. Each names the file and, where known, the key path and line.

use std::path::PathBuf;

use super::dotenv::DotenvError;
use super::interpolate::InterpolationError;
use super::syntax::SyntaxError;
use super::yaml::YamlError;

/// Why a compose project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A file could not be read.
    #[error("failed to read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML front end rejected a file.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// Interpolation failed.
    #[error(transparent)]
    Interpolation(#[from] InterpolationError),
    /// An env file could not be parsed.
    #[error(transparent)]
    Dotenv(#[from] DotenvError),
    /// A short-syntax string (port, volume, size, command, duration) does not parse.
    #[error("{}{path}: {reason}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Syntax {
        /// The file, once the loader knows it.
        file: Option<PathBuf>,
        /// The key path (`services.web.ports[0]`).
        path: String,
        /// What is wrong with the string.
        reason: SyntaxError,
    },
    /// The project is invalid (schema, references, semantics).
    #[error("{message}")]
    Invalid {
        /// The reason, naming the file and key path.
        message: String,
    },
}
