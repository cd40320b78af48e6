//! The sandbox `dokku` executable (test and demo infrastructure; never used by the plugin).

fn main() -> std::process::ExitCode {
    dokku_sandbox::main(std::env::args().collect())
}
