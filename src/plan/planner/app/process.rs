//! The `web` process: `restart` / `deploy.restart_policy`, `stop_grace_period`, `logging`
//! and `x-dokku` log settings as `ps:set` and `logs:set`, and `deploy.replicas` / `scale`
//! (or `x-dokku.services.<svc>.state: one-shot`) as `ps:scale`.

use super::App;
use crate::dokku::{self, PropertyPlugin};
use crate::plan::planner::properties;
use crate::plan::planner::{undo, Steps, PROCESS};
use crate::plan::step::Action;

/// Restart policy, stop timeout, log size and the log shipper's sink.
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) -> bool {
    let (name, cur, svc) = (a.name, a.cur, a.svc);
    let mut changed = properties::set(
        out,
        name,
        cur,
        PropertyPlugin::Ps,
        "restart-policy",
        a.spec.restart_policy.as_deref(),
    );
    changed |= properties::set(
        out,
        name,
        cur,
        PropertyPlugin::Ps,
        "stop-timeout-seconds",
        a.spec.stop_timeout.map(|s| s.to_string()).as_deref(),
    );
    let max_size = svc
        .settings
        .log_max_size
        .as_deref()
        .or(a.spec.log_max_size.as_deref());
    changed |= properties::set(out, name, cur, PropertyPlugin::Logs, "max-size", max_size);
    // Log collection: the vector sink is read by Dokku's log shipper, not by the container.
    properties::set(
        out,
        name,
        cur,
        PropertyPlugin::Logs,
        "vector-sink",
        svc.settings.log_vector_sink.as_deref(),
    );
    changed
}

/// `ps:scale --skip-deploy` before the deploy, so no extra deploy runs.
pub(crate) fn scale(a: &App<'_>, out: &mut Steps<'_>) -> bool {
    let name = a.name;
    let Some(n) = a.count() else {
        return false;
    };
    let have = a.cur.scale.get(PROCESS).copied();
    if have == Some(n) {
        return false;
    }
    out.push(
        "scale",
        Action::Scale {
            app: name.to_owned(),
            process: PROCESS.into(),
            count: n,
        },
        dokku::ps_scale(name, PROCESS, n),
        format!(
            "{PROCESS} scale is {}, want {n}",
            have.map_or("unset".into(), |h| h.to_string())
        ),
        undo(vec![dokku::ps_scale(name, PROCESS, have.unwrap_or(1))]),
    );
    true
}
