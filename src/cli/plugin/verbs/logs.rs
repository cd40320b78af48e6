//! `compose:logs`: the logs of one service or of all.

use clap::Parser;

use super::{missing_app, released_project, service_app};
use crate::cli::plugin::stack::runner;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::model::Kind;
use crate::report::info2;

#[derive(Debug, Parser)]
#[command(
    about = "Print the services' logs",
    long_about = "Print the logs of one service or of all"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// One service (default: all)
    service: Option<String>,
    /// Lines per service
    #[arg(short = 'n', long = "num", value_name = "LINES")]
    num: Option<u32>,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app)
    };
    let services: Vec<String> = match &a.service {
        Some(s) => vec![s.clone()],
        None => project
            .services
            .iter()
            .filter(|(_, s)| matches!(s.kind, Kind::App(_)))
            .map(|(n, _)| n.to_string())
            .collect(),
    };
    let mut code = 0;
    for s in services {
        let app = service_app(&project, &s)?;
        let mut cmd = Cmd::dokku(["logs", app.as_str()]);
        if let Some(n) = a.num {
            cmd = cmd.flag("-n", n.to_string());
        }
        if a.service.is_none() {
            println!("{}", info2(&format!("{s} ({app})")));
        }
        let c = runner().stream(&cmd)?;
        if c != 0 && a.service.is_some() {
            code = u8::try_from(c).unwrap_or(1);
        }
    }
    Ok(code)
}
