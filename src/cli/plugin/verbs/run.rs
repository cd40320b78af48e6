//! `compose:run`: a one-off command in a service's app.

use clap::Parser;

use super::{missing_app, released_project, service_app};
use crate::cli::plugin::stack::runner;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;

#[derive(Debug, Parser)]
#[command(
    about = "Run a one-off command in a service",
    long_about = "Run a one-off command in a service's app"
)]
#[command(trailing_var_arg = true)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// The compose service
    service: String,
    /// The command and its arguments
    #[arg(required = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app)
    };
    let app = service_app(&project, &a.service)?;
    let cmd = a
        .command
        .iter()
        .fold(Cmd::dokku(["run", app.as_str()]), |c, w| c.arg(w.clone()));
    let code = runner().stream(&cmd)?;
    Ok(u8::try_from(code).unwrap_or(1))
}
