//! The sandbox `dokku` executable (test and demo infrastructure; never used by the plugin).

fn main() -> std::process::ExitCode {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    eprintln!(" !     `{cmd}` is not a dokku command.");
    eprintln!(" !     See `dokku help` for a list of available commands.");
    std::process::ExitCode::from(1)
}
