//! `compose:set`: set or clear a stack's (or the global) property.

use anyhow::Context as _;
use clap::Parser;

use super::{missing_app, props};
use crate::cli::plugin::props::{prop, PROPS};
use crate::dokku::env::DokkuEnv;
use crate::report::info1;

#[derive(Debug, Parser)]
#[command(
    about = "Set or clear a stack property",
    long_about = "Set or clear a property of a stack or of every stack (--global)"
)]
pub(super) struct Args {
    /// The stack app, or --global
    #[arg(allow_hyphen_values = true, value_name = "<app>|--global")]
    scope: String,
    /// The property
    key: String,
    /// The value; none clears it
    value: Option<String>,
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if prop(&a.key).is_none() {
        let valid: Vec<&str> = PROPS.iter().map(|p| p.key).collect();
        anyhow::bail!("Invalid key `{}`, valid keys: {}", a.key, valid.join(", "));
    }
    if a.scope != "--global" {
        if let Some(code) = missing_app(&a.scope)? {
            return Ok(code);
        }
    }
    if let Some(v) = a.value.as_deref().filter(|v| !v.is_empty()) {
        match a.key.as_str() {
            "concurrency" | "timeout" | "step-timeout" | "hook-timeout" | "max-file-size"
            | "max-replicas" | "max-ports" | "max-services" => {
                let unit = match a.key.as_str() {
                    "concurrency" | "max-services" => "services",
                    "max-file-size" => "bytes",
                    "max-replicas" => "replicas",
                    "max-ports" => "ports",
                    _ => "seconds",
                };
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("`{}` must be a positive number of {unit}", a.key))?;
            }
            "allow" => {
                crate::policy::Policy::from_names(v.split_whitespace())
                    .map_err(anyhow::Error::msg)?;
            }
            "log-format" if v != "text" && v != "json" => {
                anyhow::bail!("`log-format` is `text` or `json`")
            }
            "webhook" if v != "true" && v != "false" => {
                anyhow::bail!("`webhook` is `true` or `false`")
            }
            "domain-pattern" => {
                let mut probe = v.to_owned();
                for ph in [
                    "{service}",
                    "{stack}",
                    "{project}",
                    "{environment}",
                    "{global}",
                ] {
                    probe = probe.replace(ph, "x");
                }
                if !v.contains("{service}")
                    || !probe.split('.').all(|l| {
                        !l.is_empty()
                            && l.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    })
                {
                    anyhow::bail!("`domain-pattern` needs {{service}} and makes host names of lowercase labels; placeholders: {{service}} {{stack}} {{project}} {{environment}} {{global}}");
                }
            }
            "project" => {
                crate::cli::plugin::projects::load(env, v)?.with_context(|| {
                    format!("project `{v}` does not exist (`dokku compose:projects:create {v}`)")
                })?;
            }
            "environment" => {
                let project = props(env).get(&a.scope, "project").context(
                    "set the stack's project first: `dokku compose:set <app> project <project>`",
                )?;
                let p = crate::cli::plugin::projects::load(env, &project)?
                    .with_context(|| format!("project `{project}` does not exist"))?;
                if !p.environments.iter().any(|e| e == v) {
                    anyhow::bail!(
                        "project `{project}` has no environment `{v}` (it has {})",
                        p.environments.join(", ")
                    );
                }
            }
            _ => {}
        }
        println!("{}", info1(&format!("Setting {} to {v}", a.key)));
        props(env).set(&a.scope, &a.key, Some(v))?;
    } else {
        println!("{}", info1(&format!("Unsetting {}", a.key)));
        props(env).set(&a.scope, &a.key, None)?;
    }
    Ok(0)
}
