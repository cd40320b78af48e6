//! `x-dokku.services.<svc>.domains`, or for a service that publishes a port and names none
//! the host's `domain-pattern`: `domains:set`.

use std::borrow::Cow;

use super::App;
use crate::dokku;
use crate::plan::planner::{undo, Steps};
use crate::plan::step::Action;

/// The domains the app should serve.
fn wanted<'a>(a: &App<'a>) -> Cow<'a, [String]> {
    let svc = a.svc;
    if svc.settings.domains.is_empty()
        && (!a.spec.ports.is_empty() || svc.settings.proxy_port.is_some())
    {
        Cow::Owned(
            a.settings
                .domain_pattern
                .iter()
                .map(|p| p.replace("{service}", svc.name.as_str()))
                .collect(),
        )
    } else {
        Cow::Borrowed(&svc.settings.domains)
    }
}

/// `domains:set` when the domains differ; returns the wanted domains (Let's Encrypt needs
/// them).
pub(crate) fn steps<'a>(a: &App<'a>, out: &mut Steps<'_>) -> Cow<'a, [String]> {
    let (name, cur) = (a.name, a.cur);
    let domains = wanted(a);
    if domains.is_empty() || cur.domains.as_slice() == &*domains {
        return domains;
    }
    let back = if cur.domains.is_empty() {
        dokku::domains_clear(name)
    } else {
        dokku::domains_set(name, &cur.domains)
    };
    out.push(
        "domains",
        Action::SetDomains {
            app: name.to_owned(),
            domains: domains.to_vec(),
        },
        dokku::domains_set(name, &domains),
        format!(
            "domains are `{}`, want `{}`",
            cur.domains.join(" "),
            domains.join(" ")
        ),
        undo(vec![back]),
    );
    domains
}
