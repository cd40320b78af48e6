//! `services.<svc>.ports` (and `x-dokku.services.<svc>.proxy_port`, mapped by the model):
//! the proxy on or off, and the port maps with `ports:set`.

use std::collections::BTreeSet;

use super::App;
use crate::dokku;
use crate::plan::planner::{undo, Steps};
use crate::plan::step::Action;

/// The proxy and the port maps.
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) {
    let (name, cur) = (a.name, a.cur);
    let mut want: Vec<String> = a
        .spec
        .ports
        .iter()
        .map(|pt| format!("{}:{}:{}", pt.scheme, pt.host, pt.container))
        .collect();
    want.sort();
    want.dedup();
    if want.is_empty() {
        if cur.proxy_enabled {
            out.push(
                "proxy/disable",
                Action::SetProxy {
                    app: name.to_owned(),
                    enabled: false,
                },
                dokku::proxy_disable(name),
                "the service publishes no port".into(),
                undo(vec![dokku::proxy_enable(name)]),
            );
        }
        return;
    }
    if !cur.proxy_enabled {
        out.push(
            "proxy/enable",
            Action::SetProxy {
                app: name.to_owned(),
                enabled: true,
            },
            dokku::proxy_enable(name),
            "the service publishes ports".into(),
            undo(vec![dokku::proxy_disable(name)]),
        );
    }
    maps(a, &want, out);
}

/// `ports:set` when the maps differ. Let's Encrypt adds `http:80:<port>` (for the challenge)
/// and `https:443:<port>` maps itself: they belong to the desired state, are no difference,
/// and a `ports:set` made for another reason keeps them (issue 15 item 4), while they point
/// at a container port the stack still serves.
fn maps(a: &App<'_>, want: &[String], out: &mut Steps<'_>) {
    let (name, cur, svc) = (a.name, a.cur, a.svc);
    let stack_le = a.project.settings.letsencrypt && !svc.settings.letsencrypt_given;
    let le = svc.settings.letsencrypt || stack_le || cur.letsencrypt;
    let served: BTreeSet<&str> = want.iter().filter_map(|m| m.rsplit(':').next()).collect();
    let le_added = |m: &String| {
        le && !want.contains(m)
            && (m.starts_with("https:443:") || m.starts_with("http:80:"))
            && m.rsplit(':').next().is_some_and(|c| served.contains(c))
    };
    let have: Vec<String> = cur.ports.iter().filter(|m| !le_added(m)).cloned().collect();
    if have == want {
        return;
    }
    let back = if cur.ports.is_empty() {
        dokku::ports_clear(name)
    } else {
        dokku::ports_set(name, &cur.ports)
    };
    let mut set: Vec<String> = want
        .iter()
        .cloned()
        .chain(cur.ports.iter().filter(|m| le_added(m)).cloned())
        .collect();
    set.sort();
    set.dedup();
    out.push(
        "ports",
        Action::SetPorts {
            app: name.to_owned(),
            ports: set.clone(),
        },
        dokku::ports_set(name, &set),
        format!(
            "port maps are `{}`, want `{}`",
            cur.ports.join(" "),
            want.join(" ")
        ),
        undo(vec![back]),
    );
}
