//! The off-server command: `dokku-compose config|plan ...`.
fn main() -> std::process::ExitCode {
    dokku_compose::cli::offserver::main(std::env::args_os())
}
