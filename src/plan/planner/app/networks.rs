//! `services.<svc>.networks`: the networks the app's containers join, as `network:set`
//! properties.

use super::App;
use crate::dokku::PropertyPlugin;
use crate::model::NetworkName;
use crate::plan::planner::properties;
use crate::plan::planner::Steps;

/// The primary network at container creation (so `--network-alias` applies), the second
/// right after creation, before the checks. Dokku's `TriggerPostContainerCreate`
/// (plugins/network/triggers.go) connects only the first network `attach-post-create` names,
/// while `TriggerCorePostDeploy` connects every network of `attach-post-deploy` to the
/// running containers: the third and later networks go there. Dokku stores and reports
/// several values joined by `,`, the form compared and set here. The primary network is the
/// one every consumer shares (`App::primary`).
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) -> bool {
    let (name, cur) = (a.name, a.cur);
    let mut networks: Vec<&NetworkName> = a.spec.networks.iter().collect();
    if let Some(first) = a.primary {
        networks.sort_by_key(|n| *n != first);
    }
    let Some((primary, rest)) = networks.split_first() else {
        return false;
    };
    let net = PropertyPlugin::Network;
    let mut changed = properties::set(
        out,
        name,
        cur,
        net,
        "initial-network",
        Some(primary.as_str()),
    );
    let post_create = rest.first().map(|n| n.as_str());
    let post_deploy: Vec<&str> = rest.iter().skip(1).map(|n| n.as_str()).collect();
    // Cleared first, so that a network moving from one attach list to the other never trips
    // Dokku's "already associated" check.
    if post_deploy.is_empty() {
        changed |= properties::clear(out, name, cur, net, "attach-post-deploy");
    }
    if post_create.is_none() {
        changed |= properties::clear(out, name, cur, net, "attach-post-create");
    }
    changed |= properties::set(out, name, cur, net, "attach-post-create", post_create);
    if !post_deploy.is_empty() {
        changed |= properties::set(
            out,
            name,
            cur,
            net,
            "attach-post-deploy",
            Some(&post_deploy.join(",")),
        );
    }
    changed
}
