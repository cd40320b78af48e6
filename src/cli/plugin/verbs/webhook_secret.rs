//! `compose:webhook-secret <app> [--rotate]` (issue #9): creates the stack's webhook secret
//! (32 random bytes, hex), stores it readable by the dokku user only and prints it once.

use clap::Parser;

use crate::cli::plugin::props::Props;
use crate::dokku::env::DokkuEnv;
use crate::report::{info1, verbose};

/// Internal property: the stack's webhook secret, mode 0600 (read by the webhook receiver).
const WEBHOOK_SECRET: &str = "webhook-secret";

#[derive(Debug, Parser)]
#[command(
    about = "Create the stack's webhook secret",
    long_about = "Create (or with --rotate replace) the stack's webhook secret and print it once"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Replace the existing secret with a new one
    #[arg(long)]
    rotate: bool,
}

/// `compose:webhook-secret`.
pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = super::missing_app(&a.app)? {
        return Ok(code);
    }
    let props = Props::new(&env.config_dir());
    if props.get(&a.app, WEBHOOK_SECRET).is_some() && !a.rotate {
        println!("{}", info1(&format!("Stack {} has a webhook secret; it is shown only when created (`--rotate` replaces it)", a.app)));
        return Ok(0);
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the secret: {e}"))?;
    let secret = hex::encode(bytes);
    props.set_private(&a.app, WEBHOOK_SECRET, &secret)?;
    if props.computed(&a.app, "webhook") != "true" {
        println!(
            "{}",
            verbose(&format!(
                "the webhook is disabled: `dokku compose:set {} webhook true` enables it",
                a.app
            ))
        );
    }
    // The secret alone on the last line, for scripts (`… | tail -n 1`).
    println!(
        "{}",
        info1(&format!(
            "Webhook secret of stack {} (shown once, keep it in your CI's secrets)",
            a.app
        ))
    );
    println!("{secret}");
    Ok(0)
}
