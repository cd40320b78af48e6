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
    /// Output format
    #[arg(long, default_value = "yaml", value_parser = ["json", "yaml"])]
    format: String,
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
    let mut warnings = Vec::new();
    let mut merged = compose::Node::Null;
    let files = if args.files.is_empty() { vec![PathBuf::from("compose.yaml")] } else { args.files };
    let env = compose::environment::Environment::resolve(&std::env::vars().collect(), &std::env::current_dir()?, &[])?;
    for file in &files {
        let src = std::fs::read_to_string(file).with_context(|| format!("failed to read compose file `{}`", file.display()))?;
        for doc in compose::yaml::parse(&src, file)? {
            merged = compose::interpolate::interpolate_node(doc, &|k| env.get(k), &mut warnings)?;
        }
    }
    let _ = args.project_name;
    for w in &warnings {
        eprintln!(" !     {w}");
    }
    let json = merged.to_json();
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", serde_yaml::to_string(&json)?);
    }
    Ok(())
}
