//! The Dokku plugin binary: `commands`, `subcommands/<verb>` and the triggers are symlinks
//! to it, and it dispatches on the name it was called by (style R1).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dokku_compose::cli::plugin::main(std::env::args_os())
}
