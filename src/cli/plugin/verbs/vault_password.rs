//! `compose:vault-password`: the stack's ansible-vault password, from stdin.

use std::io::Read as _;

use anyhow::Context as _;
use clap::Parser;

use super::{missing_app, props};
use crate::cli::plugin::stack;
use crate::dokku::env::DokkuEnv;
use crate::report::info1;

#[derive(Debug, Parser)]
#[command(
    about = "Set the vault password from stdin",
    long_about = "Set the stack's ansible-vault password from stdin"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Remove the stored password
    #[arg(long)]
    unset: bool,
}

/// `compose:vault-password <app> [--unset]`: the stack's ansible-vault password, read from
/// stdin (never from the command line, never echoed) and stored readable by the dokku user only.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let p = props(env);
    if a.unset {
        p.set(&a.app, stack::VAULT_PASSWORD, None)?;
        println!("{}", info1("Removed the vault password"));
        return Ok(0);
    }
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read the vault password from stdin")?;
    let pw = crate::vault::VaultPassword::from_file_bytes(&input);
    if pw.is_empty() {
        anyhow::bail!(
            "no vault password on stdin: `echo -n \"$PASSWORD\" | dokku compose:vault-password {}`",
            a.app
        );
    }
    let text = String::from_utf8(pw.as_bytes().to_vec())
        .context("the vault password must be UTF-8 text")?;
    p.set_private(&a.app, stack::VAULT_PASSWORD, &text)?;
    println!("{}", info1("Vault password set"));
    Ok(0)
}
