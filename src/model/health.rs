//! `healthcheck` -> the app's Dokku health check (`app.json` `healthchecks`).

use serde_json::Value;

use super::ctx::Ctx;
use super::service::Healthcheck;
use super::source::duration_secs;
use crate::compose::types;

/// The service's check; `None` when disabled, absent or `NONE`.
pub(super) fn healthcheck(
    ctx: &mut Ctx<'_>,
    raw: &types::Service,
    base: &str,
) -> Option<Healthcheck> {
    let h = raw.healthcheck.as_ref()?;
    if h.other.get("disable").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let test = h.test.as_ref()?;
    let command = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        Some("NONE") | None => return None,
        Some(_) => test.clone(),
    };
    let secs = |k: &str| {
        h.other
            .get(k)
            .and_then(Value::as_str)
            .and_then(duration_secs)
    };
    if h.other.contains_key("start_interval") {
        ctx.warn(
            format!("{base}.healthcheck.start_interval"),
            "Dokku checks have one interval; not applied",
        );
    }
    Some(Healthcheck {
        command,
        interval: secs("interval"),
        timeout: secs("timeout"),
        retries: h.other.get("retries").and_then(Value::as_u64),
        start_period: secs("start_period"),
    })
}
