//! `compose:report`: the stack's settings and last release, in Dokku's report format.

use std::collections::BTreeMap;

use clap::Parser;

use super::{missing_app, props, released_project, stacks};
use crate::cli::plugin::props::PROPS;
use crate::cli::plugin::stack::source_dir;
use crate::dokku::env::DokkuEnv;
use crate::exec::apply::stack_dir as apply_stack_dir;
use crate::report::info2;

#[derive(Debug, Parser)]
#[command(
    about = "Display stack reports",
    long_about = "Display the stack's settings and last release (every stack without <app>)"
)]
pub(super) struct Args {
    /// The stack app (default: every stack)
    app: Option<String>,
    /// Output format
    #[arg(long, default_value = "stdout", value_parser = ["stdout", "json"])]
    format: String,
    /// One value only: `--compose-<key>`
    #[arg(allow_hyphen_values = true, value_name = "--compose-<key>")]
    flag: Vec<String>,
}

/// The report of one stack: properties (app, global, computed) and its last release.
fn report_of(env: &DokkuEnv, app: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let p = props(env);
    let mut r = BTreeMap::new();
    for prop in PROPS {
        r.insert(
            format!("compose-{}", prop.key),
            p.get(app, prop.key).unwrap_or_default(),
        );
        r.insert(
            format!("compose-global-{}", prop.key),
            p.get("--global", prop.key).unwrap_or_default(),
        );
        r.insert(
            format!("compose-computed-{}", prop.key),
            p.computed(app, prop.key),
        );
    }
    // Stacks applied before summaries existed are summarised from their latest release.
    let summary = match crate::exec::apply::summary(&apply_stack_dir(&env.data_dir(), app)) {
        Some(sm) => Some(sm),
        None => released_project(env, app)?
            .map(|(project, id, time)| crate::exec::apply::Summary::of(&project, id, &time)),
    };
    let (release, time, services, backups) = match summary {
        Some(sm) => (
            format!("v{}", sm.release),
            sm.released,
            sm.services.keys().cloned().collect::<Vec<_>>().join(" "),
            sm.backups.join("; "),
        ),
        None => (String::new(), String::new(), String::new(), String::new()),
    };
    r.insert("compose-backups".into(), backups);
    // The last applies that ran (succeeded, or failed and rolled back).
    let history = crate::exec::apply::apply_history(&apply_stack_dir(&env.data_dir(), app), 20);
    let last = history.last();
    r.insert(
        "compose-last-apply".into(),
        last.map(|a| {
            format!(
                "{} {} in {:.1}s",
                a.time,
                if a.ok { "succeeded" } else { "failed" },
                a.duration_ms as f64 / 1000.0
            )
        })
        .unwrap_or_default(),
    );
    r.insert(
        "compose-last-failure".into(),
        history
            .iter()
            .rev()
            .find(|a| !a.ok)
            .map(|a| {
                format!(
                    "{} at {}",
                    a.time,
                    a.failed_step.as_deref().unwrap_or("(abort)")
                )
            })
            .unwrap_or_default(),
    );
    let ok = history.iter().filter(|a| a.ok).count();
    r.insert(
        "compose-success-rate".into(),
        if history.is_empty() {
            String::new()
        } else {
            format!("{ok}/{} ({}%)", history.len(), ok * 100 / history.len())
        },
    );
    r.insert("compose-release".into(), release);
    r.insert("compose-released-at".into(), time);
    r.insert("compose-services".into(), services);
    r.insert("compose-plugin-version".into(), super::version::line());
    r.insert(
        "compose-source".into(),
        if source_dir(env, app).is_dir() {
            source_dir(env, app).display().to_string()
        } else {
            String::new()
        },
    );
    Ok(r)
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    let apps = match &a.app {
        Some(app) if !app.starts_with("--") => {
            if let Some(code) = missing_app(app)? {
                return Ok(code);
            }
            vec![app.clone()]
        }
        _ => stacks(env),
    };
    let flag = a
        .flag
        .first()
        .cloned()
        .or_else(|| a.app.clone().filter(|x| x.starts_with("--")));
    if let Some(flag) = flag {
        let key = flag.trim_start_matches("--");
        for app in &apps {
            let r = report_of(env, app)?;
            let Some(v) = r.get(key) else {
                let valid: Vec<String> = r.keys().map(|k| format!("--{k}")).collect();
                anyhow::bail!("Invalid flag passed, valid flags: {}", valid.join(", "));
            };
            println!("{v}");
        }
        return Ok(0);
    }
    for app in &apps {
        let r = report_of(env, app)?;
        if a.format == "json" {
            println!("{}", serde_json::to_string(&r)?);
            continue;
        }
        println!("{}", info2(&format!("{app} compose information")));
        for (k, v) in &r {
            let label = k.strip_prefix("compose-").unwrap_or(k).replace('-', " ");
            let mut chars = label.chars();
            let label = chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default();
            println!("       {:<29}{v}", format!("{label}:"));
        }
    }
    Ok(0)
}
