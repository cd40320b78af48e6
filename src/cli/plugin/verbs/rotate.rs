//! `compose:rotate`: new values for generated variables on the next deploy.

use clap::Parser;

use super::missing_app;
use crate::cli::plugin::stack;
use crate::dokku::env::DokkuEnv;
use crate::exec::apply::stack_dir as apply_stack_dir;
use crate::report::info1;

#[derive(Debug, Parser)]
#[command(
    about = "Renew generated values on the next deploy",
    long_about = "Generate new values for generated variables on the next deploy"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Generated values to create anew on the next deploy
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

/// `compose:rotate <app> <NAME>…`: the only way a generated value changes.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let dir = apply_stack_dir(&env.data_dir(), &a.app);
    std::fs::create_dir_all(dir.dir())?;
    let _lock =
        crate::exec::lock::StackLock::acquire(&dir.lock(), &a.app, "compose:rotate", false)?;
    let mut store = stack::Generated::open(env, &a.app)?;
    let gone = store.rotate(&a.names);
    store.save()?;
    if gone.is_empty() {
        anyhow::bail!(
            "no generated value named {} in stack `{}`",
            a.names.join(", "),
            a.app
        );
    }
    println!(
        "{}",
        info1(&format!(
            "Rotated {}; `dokku compose:up {}` deploys the new values",
            gone.join(", "),
            a.app
        ))
    );
    Ok(0)
}
