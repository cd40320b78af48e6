//! The edge: argument parsing (clap), `anyhow` error reporting and exit codes.
//! The library never imports clap; the structs here are turned into library options.

pub(crate) mod apply_cmd;
pub(crate) mod exit;
pub mod offserver;
pub mod plan_cmd;
pub mod plugin;
