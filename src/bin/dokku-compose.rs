//! The off-server command: `dokku-compose config|plan ...`.

// The loader and planner allocate many small strings and maps; mimalloc makes that cheaper
// (docs/performance.md). Only binaries choose the allocator, never the library.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dokku_compose::cli::offserver::main(std::env::args_os())
}
