//! [`OptionError`]: why a docker option value or option string is refused. It carries no key
//! path: the model adds the compose key's ([`crate::model::ModelError::Rejected`]), the plan
//! check the option's.

/// A docker option value outside its flag's grammar, or an option string Dokku would not
/// split as planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// A value given to a flag that takes none.
    #[error("`{flag}` takes no value, got `{value}`")]
    NoValueTaken {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// A flag that needs a value got none.
    #[error("`{flag}` needs a value")]
    ValueNeeded {
        /// The flag.
        flag: &'static str,
    },
    /// A value with a character Dokku's storage and splitting cannot carry.
    #[error("`{value}` holds the control or line-break character {ch:?}, which Dokku's option storage and splitting cannot carry")]
    NotCarriable {
        /// The value, escaped.
        value: String,
        /// The character.
        ch: char,
    },
    /// A value that is not of the form the flag takes.
    #[error("`{value}` is not {expects}")]
    Grammar {
        /// The value.
        value: String,
        /// What the flag takes.
        expects: &'static str,
    },
    /// A value one of whose parts the flag's grammar refuses (the reason names the part).
    #[error("{reason}")]
    Part {
        /// Which part and why.
        reason: String,
    },
    /// An option string outside the shell subset both of Dokku's splitters read alike.
    #[error("`{option}` {problem}")]
    Split {
        /// The option string, escaped.
        option: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `xargs` refuses the joined options.
    #[error("xargs: unmatched {0} quote")]
    Xargs(&'static str),
    /// An empty stored group.
    #[error("is empty")]
    EmptyGroup,
    /// A stored group with more than one value.
    #[error("gives `{flag}` {count} values (`{values}`); a docker flag takes one")]
    ManyValues {
        /// The flag word.
        flag: String,
        /// How many values.
        count: usize,
        /// The values, joined.
        values: String,
    },
    /// A stored group that does not start with a flag.
    #[error("`{0}` is not a docker flag")]
    NotAFlag(String),
    /// A docker flag dokku-compose does not set.
    #[error("`{0}` is not a docker option dokku-compose sets (volumes, mounts, networks and the like go through their own Dokku commands)")]
    UnknownFlag(String),
}

impl OptionError {
    /// [`OptionError::Part`].
    pub(super) fn part(reason: String) -> Self {
        OptionError::Part { reason }
    }
}
