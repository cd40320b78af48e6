//! `dokku-compose`: the off-server command (`config`, later `plan`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use super::exit;
use crate::compose;

/// Deploy docker-compose stacks onto Dokku; off-server tools.
#[derive(Debug, Parser)]
#[command(name = "dokku-compose", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the normalised compose model, as `docker compose config` does
    Config(ConfigArgs),
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Compose file(s); later files override earlier ones
    #[arg(short = 'f', long = "file")]
    files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first file)
    #[arg(long = "project-directory")]
    project_directory: Option<PathBuf>,
    /// Alternate environment file(s)
    #[arg(long = "env-file")]
    env_files: Vec<PathBuf>,
    /// Profile(s) to enable
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Output format
    #[arg(long, default_value = "yaml", value_parser = ["json", "yaml"])]
    format: String,
    /// Don't interpolate environment variables
    #[arg(long = "no-interpolate")]
    no_interpolate: bool,
}

/// Runs the off-server command with the given argv and returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            for (i, cause) in err.chain().enumerate() {
                eprintln!(" !     {}{cause}", if i == 0 { "" } else { "caused by: " });
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(args) => config(args),
    }
}

fn config(args: ConfigArgs) -> anyhow::Result<()> {
    let opts = compose::LoadOptions {
        files: args.files,
        project_name: args.project_name,
        project_directory: args.project_directory,
        env_files: args.env_files,
        profiles: args.profiles,
        no_interpolate: args.no_interpolate,
        environment: std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect(),
        working_dir: std::env::current_dir().context("failed to read the current directory")?,
    };
    let loaded = compose::load(&opts).context("failed to load the compose project")?;
    for w in &loaded.warnings {
        eprintln!(" !     {w}");
    }
    let text = match (args.format.as_str(), opts.no_interpolate) {
        ("json", false) => compose::output::render_json(&loaded.project, true),
        ("json", true) => compose::output::render_json_untyped(&loaded.project),
        (_, no_interpolate) => compose::output::render_yaml(&loaded.project, !no_interpolate),
    };
    print!("{text}");
    // The process ends here: skip freeing the (possibly large) tree, as compilers do.
    std::mem::forget(loaded);
    Ok(())
}
