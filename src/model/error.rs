//! Errors and warnings of the conversion from the compose JSON to the domain model.

use std::fmt;

use serde::Serialize;

/// Why a compose project cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The JSON is not the shape `docker compose config --format json` prints.
    #[error("`{path}`: {message}")]
    Shape {
        /// Key path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A key that is not in the compose spec.
    #[error("`{path}`: unknown compose key")]
    UnknownKey {
        /// Key path.
        path: String,
    },
    /// A key the mapping refuses.
    #[error("`{path}` is not supported: {reason}")]
    Rejected {
        /// Key path.
        path: String,
        /// Why.
        reason: String,
    },
    /// An environment key Dokku cannot store.
    #[error(
        "`{path}`: `{key}` is not a valid Dokku config key (must match ^[A-Za-z_][A-Za-z0-9_]*$)"
    )]
    ConfigKey {
        /// Key path.
        path: String,
        /// The key.
        key: String,
    },
    /// A bad `x-dokku` setting.
    #[error("`{path}`: {message}")]
    Extension {
        /// Key path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl From<crate::compose::types::DecodeError> for ModelError {
    fn from(e: crate::compose::types::DecodeError) -> Self {
        ModelError::Shape {
            path: e.path,
            message: e.message,
        }
    }
}

/// A key that is accepted but has no (full) Dokku meaning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    /// Key path.
    pub path: String,
    /// Why it is not carried over, or how it was changed.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path, self.message)
    }
}
