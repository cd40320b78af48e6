//! `dokku-compose`: the off-server command (`config`, `plan`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use super::apply_cmd;
use super::exit;
use super::plan_cmd;
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
    /// Print the exact Dokku commands that deploy the stack (secrets masked)
    Plan(PlanCommand),
    /// Deploy the stack: plan against the host and apply it transactionally
    Apply(ApplyCommand),
    /// List a stack's releases, newest first
    Releases(ReleasesCommand),
    /// Show what changed between two releases (secrets masked)
    Diff(DiffCommand),
    /// Re-apply an earlier release
    Rollback(RollbackCommand),
    /// Finish the rollback of an interrupted apply of the stack, if one was left
    Recover(apply_cmd::StackArgs),
}

#[derive(Debug, clap::Args)]
struct ApplyCommand {
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    apply: apply_cmd::ApplyArgs,
}

#[derive(Debug, clap::Args)]
struct ReleasesCommand {
    #[command(flatten)]
    stack: apply_cmd::StackArgs,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Debug, clap::Args)]
struct DiffCommand {
    #[command(flatten)]
    stack: apply_cmd::StackArgs,
    /// Older release (default: the one before `to`)
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    from: Option<u64>,
    /// Newer release (default: the latest)
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    to: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct RollbackCommand {
    /// The stack
    #[arg(long)]
    stack: String,
    /// The release to go back to (default: the one before the latest)
    #[arg(value_parser = crate::exec::releases::parse_release_id)]
    release: Option<u64>,
    /// Directory the release's build contexts are read from when no saved copy exists
    #[arg(long, default_value = ".")]
    project_directory: PathBuf,
    /// Password file for secrets encrypted with ansible-vault
    #[arg(long = "vault-password-file", value_name = "FILE")]
    vault_password_file: Option<PathBuf>,
    #[command(flatten)]
    run: apply_cmd::RunArgs,
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Output format
    #[arg(long, default_value = "yaml", value_parser = ["json", "yaml"])]
    format: String,
    /// Don't interpolate environment variables
    #[arg(long = "no-interpolate")]
    no_interpolate: bool,
}

#[derive(Debug, clap::Args)]
struct PlanCommand {
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    plan: plan_cmd::PlanArgs,
}

/// How to find and read the compose files, as `docker compose` takes it.
#[derive(Debug, clap::Args)]
struct LoadArgs {
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
    /// Password file for env files and secrets encrypted with ansible-vault
    #[arg(long = "vault-password-file", value_name = "FILE")]
    vault_password_file: Option<PathBuf>,
}

impl LoadArgs {
    /// The loader's options, with the process environment passed in (the library never reads it).
    fn options(self, no_interpolate: bool) -> anyhow::Result<compose::LoadOptions> {
        Ok(compose::LoadOptions {
            files: self.files,
            project_name: self.project_name,
            project_directory: self.project_directory,
            env_files: self.env_files,
            profiles: self.profiles,
            no_interpolate,
            environment: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            working_dir: std::env::current_dir().context("failed to read the current directory")?,
            vault_password: match &self.vault_password_file {
                Some(f) => Some(crate::vault::VaultPassword::from_file_bytes(
                    &std::fs::read(f).with_context(|| {
                        format!("failed to read the vault password file `{}`", f.display())
                    })?,
                )),
                None => None,
            },
            ..compose::LoadOptions::default()
        })
    }
}

/// Runs the off-server command with the given argv and returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            if !exit::reported_as_it_happened(&err) {
                for (i, cause) in err.chain().enumerate() {
                    eprintln!(" !     {}{cause}", if i == 0 { "" } else { "caused by: " });
                }
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(args) => config(args),
        Command::Plan(args) => plan(args),
        Command::Apply(args) => {
            let opts = args.load.options(false)?;
            let loaded = compose::load(&opts).context("failed to load the compose project")?;
            for w in &loaded.warnings {
                eprintln!(" !     {w}");
            }
            let dir = project_dir(&opts);
            let project = plan_cmd::LoadedProject::new(&loaded, dir.clone())?;
            let mut apply = args.apply;
            apply.run.vault_password = opts.vault_password.clone();
            apply.run.written_paths.clone_from(&project.written_paths);
            apply_cmd::run_apply(&apply, project.json, &project.name, dir)
        }
        Command::Releases(args) => apply_cmd::run_releases(&args.stack, args.format == "json"),
        Command::Diff(args) => apply_cmd::run_diff(&args.stack, args.from, args.to),
        Command::Recover(args) => apply_cmd::run_recover(&args),
        Command::Rollback(args) => {
            let dir = std::fs::canonicalize(&args.project_directory)
                .unwrap_or(args.project_directory.clone());
            let stack = apply_cmd::StackArgs {
                stack: args.stack,
                data: args.run.data.clone(),
            };
            let mut run = args.run;
            if let Some(f) = &args.vault_password_file {
                run.vault_password = Some(crate::vault::VaultPassword::from_file_bytes(
                    &std::fs::read(f).with_context(|| {
                        format!("failed to read the vault password file `{}`", f.display())
                    })?,
                ));
            }
            apply_cmd::run_rollback(&stack, &run, args.release, dir)
        }
    }
}

fn plan(args: PlanCommand) -> anyhow::Result<()> {
    let project = if args.plan.json.is_empty() {
        let opts = args.load.options(false)?;
        let loaded = compose::load(&opts).context("failed to load the compose project")?;
        for w in &loaded.warnings {
            eprintln!(" !     {w}");
        }
        let dir = project_dir(&opts);
        Some(plan_cmd::LoadedProject::new(&loaded, dir)?)
    } else {
        None
    };
    let (out, warnings) = plan_cmd::run(&args.plan, project)?;
    for w in &warnings {
        eprintln!(" !     {w}");
    }
    print!("{out}");
    Ok(())
}

/// The project directory as the loader resolves it: `--project-directory`, else the directory
/// of the first file, else the working directory.
fn project_dir(opts: &compose::LoadOptions) -> PathBuf {
    let dir = match (&opts.project_directory, opts.files.first()) {
        (Some(d), _) => opts.working_dir.join(d),
        (None, Some(f)) => opts
            .working_dir
            .join(f)
            .parent()
            .map_or_else(|| opts.working_dir.clone(), PathBuf::from),
        (None, None) => opts.working_dir.clone(),
    };
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn config(args: ConfigArgs) -> anyhow::Result<()> {
    let opts = args.load.options(args.no_interpolate)?;
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
