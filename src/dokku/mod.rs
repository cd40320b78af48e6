//! What we know about Dokku: the datastore catalog, commands as values, and the typed
//! constructor of every command the planner emits (style R15: one place builds `dokku` argv).

pub mod catalog;
pub(crate) mod cmd;
pub(crate) mod commands;
pub mod env;

pub use cmd::{Cmd, Stdin};
pub use commands::*;
