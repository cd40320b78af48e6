//! Stage 6: renders executor events as Dokku's output (style R14): `=====> ` for the stack,
//! `-----> ` per service, seven spaces for detail, ` !     ` on stderr for failures. Honours
//! `DOKKU_QUIET_OUTPUT` (only failures) and `DOKKU_TRACE` (every command before it runs,
//! as Dokku prints ` !     exec: …`).

use std::io::Write as _;
use std::time::Duration;

use crate::exec::Event;

/// Where a line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// Output settings, read from the environment at the edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Style {
    /// `DOKKU_QUIET_OUTPUT`: only failures.
    pub quiet: bool,
    /// `DOKKU_TRACE`: every command before it runs.
    pub trace: bool,
}

impl Style {
    /// From `DOKKU_QUIET_OUTPUT` and `DOKKU_TRACE` values.
    pub(crate) fn from_env(quiet: Option<&str>, trace: Option<&str>) -> Self {
        Self {
            quiet: quiet.is_some_and(|v| !v.is_empty()),
            trace: trace.is_some_and(|v| v == "1"),
        }
    }
}

/// `-----> text`.
pub(crate) fn info1(text: &str) -> String {
    format!("-----> {text}")
}

/// `=====> text`.
pub(crate) fn info2(text: &str) -> String {
    format!("=====> {text}")
}

/// Seven spaces, then text.
pub(crate) fn verbose(text: &str) -> String {
    format!("       {text}")
}

/// ` !     text`, every line of it; a line that has the prefix already (a Dokku command's own
/// error output) keeps one.
/// A warning as printed, its key path as the file has it: an index into a list the loader
/// expanded (a port range is one written entry and one expanded entry per port) becomes the
/// index of the written entry (`services.web.ports[7]` -> `services.web.ports[2]`).
pub(crate) fn as_written(
    w: &crate::model::Warning,
    written: &std::collections::BTreeMap<String, String>,
) -> String {
    let path = written
        .iter()
        .find_map(|(expanded, as_written)| {
            w.path
                .strip_prefix(expanded.as_str())
                .map(|rest| format!("{as_written}{rest}"))
        })
        .unwrap_or_else(|| w.path.clone());
    crate::model::Warning {
        path,
        message: w.message.clone(),
    }
    .to_string()
}

pub(crate) fn fail(text: &str) -> String {
    text.lines()
        .map(|l| format!(" !     {}", l.strip_prefix(" !     ").unwrap_or(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1 step`, `2 steps`.
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The lines for one event.
pub(crate) fn render(event: &Event, style: Style) -> Vec<(Stream, String)> {
    let out = |s: String| {
        if style.quiet {
            Vec::new()
        } else {
            vec![(Stream::Out, s)]
        }
    };
    match event {
        Event::UpToDate { stack } => out(info2(&format!("Stack {stack} is up to date: nothing to change"))),
        // A plan with no command still records a release (the compose file changed, a
        // service left it); pruning runs as its own plan of stack-level steps.
        Event::Started { stack, steps: 0, .. } => out(info2(&format!("Applying stack {stack}: no command to run"))),
        Event::Started { stack, steps, services: 0 } => out(info2(&format!("Applying stack {stack}: {}", plural(*steps, "step")))),
        Event::Started { stack, steps, services } => out(info2(&format!("Applying stack {stack}: {} for {}", plural(*steps, "step"), plural(*services, "service")))),
        Event::ServiceStarted { service, steps } => out(info1(&format!("{service}: {steps} step{}", if *steps == 1 { "" } else { "s" }))),
        Event::StepStarted { step, command } => {
            let mut v = out(verbose(&format!("{step}: {command}")));
            if style.trace {
                v.push((Stream::Err, fail(&format!("exec: {command}"))));
            }
            v
        }
        Event::StepFinished { .. } => Vec::new(),
        Event::ServiceFinished { service, duration } => out(info1(&format!("{service}: done in {}", secs(*duration)))),
        Event::StepFailed { step, error } => vec![(Stream::Err, fail(&format!("{step} failed: {error}")))],
        Event::RollbackStarted { steps } => vec![(Stream::Err, fail(&format!("rolling back {steps} completed step(s)")))],
        Event::Undo { step, command } => out(verbose(&format!("undo {step}: {command}"))),
        Event::Irreversible { step, reason } => out(verbose(&format!("{step} is not undone: {reason}"))),
        Event::UndoFailed { step, error } => vec![(Stream::Err, fail(&format!("undo of {step} failed: {error}")))],
        Event::Output { line, .. } => out(verbose(line)),
        Event::Finished { ok: true, duration } => out(info2(&format!("Done in {}", secs(*duration)))),
        Event::Finished { ok: false, duration } => vec![(Stream::Err, fail(&format!("apply failed after {}; the previous release keeps serving", secs(*duration))))],
        Event::RollbackIncomplete { steps, duration } => vec![(
            Stream::Err,
            fail(&format!("apply failed after {}; the rollback is incomplete, {} step(s) could not be undone ({}); the next command on the stack resumes it", secs(*duration), steps.len(), steps.join(", "))),
        )],
    }
}

/// An event as one JSON object (`--log-format json`): `event`, `time_ms` (Unix milliseconds),
/// and the event's fields; durations in milliseconds. Commands and errors are the masked ones.
pub(crate) fn to_json(event: &Event, time_ms: u128) -> serde_json::Value {
    use serde_json::json;
    let ms = |d: &Duration| d.as_millis();
    let mut v = match event {
        Event::Started {
            stack,
            steps,
            services,
        } => {
            json!({"event": "apply_started", "stack": stack, "steps": steps, "services": services})
        }
        Event::UpToDate { stack } => json!({"event": "up_to_date", "stack": stack}),
        Event::ServiceStarted { service, steps } => {
            json!({"event": "service_started", "service": service, "steps": steps})
        }
        Event::StepStarted { step, command } => {
            json!({"event": "step_started", "step": step, "command": command})
        }
        Event::StepFinished { step, duration } => {
            json!({"event": "step_finished", "step": step, "duration_ms": ms(duration)})
        }
        Event::StepFailed { step, error } => {
            json!({"event": "step_failed", "step": step, "error": error})
        }
        Event::ServiceFinished { service, duration } => {
            json!({"event": "service_finished", "service": service, "duration_ms": ms(duration)})
        }
        Event::RollbackStarted { steps } => json!({"event": "rollback_started", "steps": steps}),
        Event::Undo { step, command } => json!({"event": "undo", "step": step, "command": command}),
        Event::Irreversible { step, reason } => {
            json!({"event": "not_undone", "step": step, "reason": reason})
        }
        Event::UndoFailed { step, error } => {
            json!({"event": "undo_failed", "step": step, "error": error})
        }
        Event::Output { source, line } => {
            json!({"event": "output", "source": source, "line": line})
        }
        Event::Finished { ok, duration } => {
            json!({"event": if *ok { "apply_finished" } else { "apply_failed" }, "ok": ok, "duration_ms": ms(duration)})
        }
        Event::RollbackIncomplete { steps, duration } => {
            json!({"event": "rollback_incomplete", "ok": false, "steps": steps, "duration_ms": ms(duration)})
        }
    };
    v["time_ms"] = json!(time_ms);
    v
}

/// Writes an event as a JSON line on stdout.
pub(crate) fn emit_json(event: &Event) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let _ = writeln!(std::io::stdout().lock(), "{}", to_json(event, now));
}

/// Writes rendered events to stdout/stderr, whole lines at a time so parallel services do
/// not interleave within a line.
pub(crate) fn emit(event: &Event, style: Style) {
    for (stream, line) in render(event, style) {
        let _ = match stream {
            Stream::Out => writeln!(std::io::stdout().lock(), "{line}"),
            Stream::Err => writeln!(std::io::stderr().lock(), "{line}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_events_carry_durations_and_names() {
        let v = to_json(
            &Event::StepFinished {
                step: "web/deploy".into(),
                duration: Duration::from_millis(1500),
            },
            7,
        );
        assert_eq!(
            v,
            serde_json::json!({"event": "step_finished", "step": "web/deploy", "duration_ms": 1500, "time_ms": 7})
        );
        let v = to_json(
            &Event::Finished {
                ok: false,
                duration: Duration::from_secs(2),
            },
            9,
        );
        assert_eq!(v["event"], "apply_failed");
        assert_eq!(v["duration_ms"], 2000);
    }

    #[test]
    fn dokku_prefixes_quiet_and_trace() {
        let started = Event::StepStarted {
            step: "web/create".into(),
            command: "dokku apps:create shop-web".into(),
        };
        assert_eq!(
            render(&started, Style::default()),
            vec![(
                Stream::Out,
                "       web/create: dokku apps:create shop-web".into()
            )]
        );
        assert_eq!(
            render(
                &started,
                Style {
                    quiet: true,
                    trace: true
                }
            ),
            vec![(
                Stream::Err,
                " !     exec: dokku apps:create shop-web".into()
            )]
        );
        let failed = Event::StepFailed {
            step: "web/deploy".into(),
            error: "`dokku x` exited with status 1:\nboom".into(),
        };
        assert_eq!(
            render(
                &failed,
                Style {
                    quiet: true,
                    trace: false
                }
            ),
            vec![(
                Stream::Err,
                " !     web/deploy failed: `dokku x` exited with status 1:\n !     boom".into()
            )]
        );
        let nested = Event::StepFailed {
            step: "web/deploy".into(),
            error: "`dokku x` exited with status 1:\n !     Could not start".into(),
        };
        assert_eq!(
            render(&nested, Style::default()),
            vec![(
                Stream::Err,
                " !     web/deploy failed: `dokku x` exited with status 1:\n !     Could not start"
                    .into()
            )]
        );
        let line = |e: Event| {
            render(&e, Style::default())
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            line(Event::UpToDate {
                stack: "shop".into()
            }),
            "=====> Stack shop is up to date: nothing to change"
        );
        // Never "up to date" before work follows (issue #15 item 14).
        assert_eq!(
            line(Event::Started {
                stack: "shop".into(),
                steps: 0,
                services: 0
            }),
            "=====> Applying stack shop: no command to run"
        );
        assert_eq!(
            line(Event::Started {
                stack: "shop".into(),
                steps: 1,
                services: 0
            }),
            "=====> Applying stack shop: 1 step"
        );
        assert_eq!(
            line(Event::Started {
                stack: "shop".into(),
                steps: 2,
                services: 1
            }),
            "=====> Applying stack shop: 2 steps for 1 service"
        );
        let s = Event::ServiceStarted {
            service: "web".into(),
            steps: 1,
        };
        assert_eq!(
            render(&s, Style::default()),
            vec![(Stream::Out, "-----> web: 1 step".into())]
        );
        assert_eq!(
            Style::from_env(Some("1"), Some("1")),
            Style {
                quiet: true,
                trace: true
            }
        );
        assert_eq!(Style::from_env(None, Some("0")), Style::default());
    }
}
