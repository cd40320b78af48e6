//! The single integration-test crate: every file under tests/ is a module of it.

mod support;

mod cli;
mod hostile;
mod fuzz;
