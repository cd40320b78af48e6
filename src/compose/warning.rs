//! Non-fatal findings of the loader, printed by the edge as ` !     ` lines.

use std::fmt;

/// A warning produced while loading a compose project (an unset variable, an obsolete key…).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Warning {
    /// The message, worded like the reference's where one exists.
    pub message: String,
}

impl Warning {
    /// A warning with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
