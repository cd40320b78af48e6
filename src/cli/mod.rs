//! The edge: argument parsing (clap), `anyhow` error reporting and exit codes.
//! The library never imports clap; the structs here are turned into library options.

pub mod apply_cmd;
pub mod exit;
pub mod offserver;
pub mod plan_cmd;
pub mod plugin;
