//! `compose:ps`: every service of a stack with its expected and actual state; the states are
//! read here for `compose:status` too.

use clap::Parser;
use serde_json::{json, Value};

use super::{missing_app, released_project};
use crate::cli::plugin::stack::runner;
use crate::dokku::env::DokkuEnv;
use crate::dokku::Cmd;
use crate::exec::runner::Runner;
use crate::model::{ExpectedState, Kind, Project};

#[derive(Debug, Parser)]
#[command(
    about = "Show every service and its state",
    long_about = "Show every service of the stack with its expected and actual state"
)]
pub(super) struct Args {
    /// The stack app
    app: String,
    /// Output format
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// One service's expected and actual state.
/// `ps:report` of apps, by app: `Some` holds every app of the host, read with one bulk
/// `ps:report --format json` (issue #19); `None` asks per app.
pub(super) type PsReports = Option<std::collections::BTreeMap<String, Value>>;

/// Every app's `ps:report` in two calls (`apps:list`, then `ps:report` without an app: one
/// JSON object per line in `apps:list` order); `None` when the answers do not match.
pub(super) fn bulk_ps_reports() -> PsReports {
    let r = runner();
    let cmd = Cmd::dokku(["apps:list", "--format", "json"]);
    let apps = crate::state::parse_app_order(&cmd, &r.run(&cmd, None, None).ok()?.stdout).ok()?;
    if apps.is_empty() {
        return Some(std::collections::BTreeMap::new());
    }
    let cmd = Cmd::dokku(["ps:report", "--format", "json"]);
    let out = r.run(&cmd, None, None).ok()?.stdout;
    let reports = crate::state::bulk_lines(&cmd, &out, &apps)
        .ok()?
        .map(|(a, l)| Some((a.clone(), serde_json::from_str(l).ok()?)))
        .collect();
    reports
}

pub(super) fn service_states(project: &Project, reports: &PsReports) -> Vec<Value> {
    let r = runner();
    let mut out = Vec::new();
    for (name, svc) in &project.services {
        let (target, expected, actual) = match &svc.kind {
            Kind::App(app) => {
                let expected = match svc.settings.state {
                    ExpectedState::OneShot => "completed",
                    ExpectedState::Stopped => "stopped",
                    // `replicas: 0` / `scale: 0` deploy the app scaled to zero (issue #15 item 11).
                    ExpectedState::Running if app.replicas == Some(0) => "stopped",
                    ExpectedState::Running => "running",
                };
                let report: Value = match reports {
                    Some(all) => all.get(app.app.as_str()).cloned().unwrap_or(Value::Null),
                    None => {
                        let report = r
                            .run(
                                &Cmd::dokku(["ps:report", app.app.as_str(), "--format", "json"]),
                                None,
                                None,
                            )
                            .ok();
                        report
                            .and_then(|o| serde_json::from_str(o.stdout.trim()).ok())
                            .unwrap_or(Value::Null)
                    }
                };
                let deployed = report["deployed"] == "true";
                let running = report["running"] == "true";
                let processes = report["processes"]
                    .as_str()
                    .and_then(|p| p.parse::<u32>().ok())
                    .unwrap_or(0);
                let actual = match (deployed, running, processes) {
                    (false, ..) if report.is_null() => "missing",
                    (false, ..) => "not deployed",
                    (true, _, 0) if svc.settings.state == ExpectedState::OneShot => "completed",
                    (true, _, 0) => "stopped",
                    (true, true, _) => "running",
                    (true, false, _) => "exited",
                };
                (app.app.to_string(), expected, actual)
            }
            Kind::Datastore(d) => {
                let status = r
                    .run(
                        &Cmd::dokku([
                            format!("{}:info", d.plugin),
                            d.name.to_string(),
                            "--status".into(),
                        ]),
                        None,
                        None,
                    )
                    .ok()
                    .map(|o| o.stdout.trim().to_owned());
                let actual = match status.as_deref() {
                    None => "missing",
                    Some("running") => "running",
                    Some(_) => "exited",
                };
                (format!("{} {}", d.plugin, d.name), "running", actual)
            }
        };
        out.push(json!({ "service": name.as_str(), "target": target, "expected": expected, "actual": actual, "ok": expected == actual }));
    }
    out
}

pub(super) fn run(a: &Args, env: &DokkuEnv) -> anyhow::Result<u8> {
    if let Some(code) = missing_app(&a.app)? {
        return Ok(code);
    }
    let Some((project, _, _)) = released_project(env, &a.app)? else {
        anyhow::bail!("stack `{}` has not been deployed yet", a.app);
    };
    let states = service_states(&project, &None);
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&states)?);
    } else {
        super::table::print_states(&a.app, &states);
    }
    Ok(u8::from(states.iter().any(|s| s["ok"] != true)))
}
