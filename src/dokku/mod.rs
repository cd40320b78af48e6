//! What we know about Dokku: the datastore catalog and the argv builders of every command
//! the planner emits (style R15: one place builds `dokku` argv).

pub mod catalog;
pub mod cmd;
pub mod env;

pub use cmd::{Cmd, Stdin};
