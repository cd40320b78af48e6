//! `x-dokku.services.<svc>.paths` (issue 7, docs/routing.md): the nginx include that routes
//! paths of the app's domains to other services and static directories.

use super::App;
use crate::dokku;
use crate::plan::planner::{undo, Steps};
use crate::plan::step::Action;
use crate::routing::PATHS_VAR;

/// The executor writes the include (and copies the static directories) just before
/// `proxy:build-config` regenerates the app's nginx config; the undo puts the previous
/// include back (executor) and builds the config again. Planned when the include's digest
/// differs from `PATHS_VAR`, after the deploy so that the app's own nginx config exists, or
/// when `paths` left the compose file (`gone`).
pub(crate) fn steps(a: &App<'_>, gone: bool, out: &mut Steps<'_>) {
    let (name, cur) = (a.name, a.cur);
    let (content, digest, statics, reason) = match a.route {
        Some(r) if cur.config.get(PATHS_VAR) != Some(&r.digest) => {
            let reason = if cur.config.contains_key(PATHS_VAR) {
                "the paths' nginx include changed"
            } else {
                "the paths' nginx include is not installed"
            };
            (
                r.text.clone(),
                r.digest.clone(),
                r.include.statics.clone(),
                reason,
            )
        }
        None if gone => (
            String::new(),
            String::new(),
            Vec::new(),
            "`paths` left the compose file: the nginx include is removed",
        ),
        _ => return,
    };
    out.push(
        "paths",
        Action::SetNginxInclude {
            app: name.to_owned(),
            digest,
            content,
            statics,
        },
        dokku::proxy_build_config(name),
        reason.into(),
        undo(vec![dokku::proxy_build_config(name)]),
    );
}
