//! Temporary stand-alone `dokku-compose plan` until it is wired into `cli::offserver`
//! (see `src/cli/plan_cmd.rs` for the three lines to add). Delete at merge time.
use dokku_compose::{cli, model, plan, policy, state};

#[expect(unreachable_pub, reason = "the module is written for the library's `cli`, where its items are public")]
#[path = "../cli/plan_cmd.rs"]
mod plan_cmd;

#[derive(clap::Parser)]
#[command(name = "dokku-compose plan")]
struct Cli {
    #[command(flatten)]
    args: plan_cmd::PlanArgs,
}

fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    match plan_cmd::run(&cli.args) {
        Ok((out, warnings)) => {
            warnings.iter().for_each(|w| eprintln!(" !     {w}"));
            print!("{out}");
            std::process::ExitCode::from(cli::exit::OK)
        }
        Err(err) => {
            err.chain().enumerate().for_each(|(i, c)| eprintln!(" !     {}{c}", if i == 0 { "" } else { "caused by: " }));
            std::process::ExitCode::from(cli::exit::FAILURE)
        }
    }
}
