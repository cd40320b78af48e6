//! Exit codes, named as Dokku names them (dokku-facts.md §d "Exit codes").

/// Success.
pub const OK: u8 = 0;
/// Generic failure, including bad input.
pub const FAILURE: u8 = 1;
/// Usage error (clap), as Go's pflag `ExitOnError`.
pub const USAGE: u8 = 2;
