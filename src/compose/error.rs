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
    #[error("failed to read `{}`: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, shown in the message (so not also a `source()`: a chain prints it
        /// once).
        error: std::io::Error,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A read error names the file and the OS error once, also through an error chain.
    #[test]
    fn a_read_error_prints_its_cause_once() {
        let e = ComposeError::Read {
            path: "/p/compose.yaml".into(),
            error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(std::error::Error::source(&e).is_none());
        let chain = format!("{:#}", anyhow::Error::new(e));
        assert_eq!(chain.matches("permission denied").count(), 1, "{chain}");
        assert!(chain.contains("/p/compose.yaml"), "{chain}");
    }
}
