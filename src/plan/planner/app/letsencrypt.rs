//! `x-dokku.services.<svc>.letsencrypt` (or the stack's `x-dokku.letsencrypt` for every
//! service with domains) and `x-dokku.letsencrypt_email`: `letsencrypt:set email` before the
//! deploy, `letsencrypt:enable` after it.

use super::App;
use crate::dokku::{self, PropertyPlugin};
use crate::plan::planner::properties;
use crate::plan::planner::{undo, PlanError, Steps};
use crate::plan::step::Action;

/// Whether the app wants Let's Encrypt; when it does, its prerequisites are checked (domains,
/// and an e-mail, checked here when the host was read) and the e-mail set.
pub(crate) fn steps(
    a: &App<'_>,
    domains: &[String],
    out: &mut Steps<'_>,
) -> Result<bool, PlanError> {
    let (svc, project) = (a.svc, a.project);
    let letsencrypt = if svc.settings.letsencrypt_given {
        svc.settings.letsencrypt
    } else {
        svc.settings.letsencrypt || (project.settings.letsencrypt && !domains.is_empty())
    };
    if !letsencrypt {
        return Ok(false);
    }
    if domains.is_empty() {
        return Err(PlanError::Letsencrypt {
            service: svc.name.clone(),
            missing: "domains (`x-dokku.services.<svc>.domains`, or the `domain-pattern` property)"
                .into(),
        });
    }
    let have_email = project.settings.letsencrypt_email.is_some()
        || a.cur.properties.contains_key("letsencrypt:email");
    if !have_email && a.state.letsencrypt_global_email.as_deref() == Some("") {
        return Err(PlanError::Letsencrypt {
            service: svc.name.clone(),
            missing: "an e-mail (`x-dokku.letsencrypt_email`, or `dokku letsencrypt:set --global email <address>`)".into(),
        });
    }
    properties::set(
        out,
        a.name,
        a.cur,
        PropertyPlugin::Letsencrypt,
        "email",
        project.settings.letsencrypt_email.as_deref(),
    );
    Ok(true)
}

/// `letsencrypt:enable` when wanted and no certificate is active.
pub(crate) fn enable(a: &App<'_>, wanted: bool, out: &mut Steps<'_>) {
    if !wanted || a.cur.letsencrypt {
        return;
    }
    let name = a.name;
    out.push(
        "letsencrypt",
        Action::EnableLetsencrypt {
            app: name.to_owned(),
        },
        dokku::letsencrypt_enable(name),
        "x-dokku.letsencrypt is true and no certificate is active".into(),
        undo(vec![dokku::letsencrypt_disable(name)]),
    );
}
