//! `healthcheck` -> the app's Dokku health check (`app.json` `healthchecks`).

use super::ctx::Ctx;
use super::service::Healthcheck;
use super::source::duration_secs;
use crate::compose::types::{self, set, Opt, Scalar};

/// The service's check; `None` when disabled, absent or `NONE`.
pub(super) fn healthcheck(
    ctx: &mut Ctx<'_>,
    raw: &types::Service,
    base: &str,
) -> Option<Healthcheck> {
    let h = raw.healthcheck.as_ref()?;
    if set(&h.disable) == Some(&true) {
        return None;
    }
    let test = h.test.as_ref()?;
    let command = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        Some("NONE") | None => return None,
        Some(_) => test.clone(),
    };
    let secs = |v: &Opt<Scalar>| set(v).and_then(Scalar::as_str).and_then(duration_secs);
    if h.start_interval.is_some() {
        ctx.warn(
            format!("{base}.healthcheck.start_interval"),
            "Dokku checks have one interval; not applied",
        );
    }
    Some(Healthcheck {
        command,
        interval: secs(&h.interval),
        timeout: secs(&h.timeout),
        retries: set(&h.retries).and_then(serde_json::Number::as_u64),
        start_period: secs(&h.start_period),
    })
}
