//! `cpus`, `mem_limit`, `memswap_limit`, `mem_reservation` and `deploy.resources`:
//! `resource:limit` and `resource:reserve`.

use std::collections::BTreeMap;

use super::App;
use crate::dokku::{self, Resource};
use crate::model::Resources;
use crate::plan::planner::{undo, Steps};
use crate::plan::step::Action;

/// Limits, then reservations; true when either changed.
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) -> bool {
    let limit = one(a, Resource::Limit, &a.spec.limits, out);
    let reserve = one(a, Resource::Reserve, &a.spec.reservations, out);
    limit || reserve
}

/// `resource:<which>` when a wanted value differs from the app's; the undo restores the
/// previous values (or clears them).
fn one(a: &App<'_>, which: Resource, res: &Resources, out: &mut Steps<'_>) -> bool {
    let name = a.name;
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    if let Some(c) = &res.cpu {
        want.insert("cpu".into(), c.clone());
    }
    if let Some(m) = res.memory_mb {
        want.insert("memory".into(), format!("{m}m"));
    }
    if let Some(m) = res.memory_swap_mb {
        want.insert("memory-swap".into(), format!("{m}m"));
    }
    let prefix = format!("{}:", which.name());
    let have: BTreeMap<String, String> = a
        .cur
        .resources
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|r| (r.to_owned(), v.clone())))
        .collect();
    if want.is_empty() || want.iter().all(|(k, v)| have.get(k) == Some(v)) {
        return false;
    }
    let back = if have.is_empty() {
        dokku::resource_clear(which, name)
    } else {
        dokku::resource_set(which, name, &have)
    };
    out.push(
        &format!("resource/{}", which.name()),
        Action::Resources {
            app: name.to_owned(),
            which: which.name().to_owned(),
            values: want.clone(),
        },
        dokku::resource_set(which, name, &want),
        format!("resource {}s differ", which.name()),
        undo(vec![back]),
    );
    true
}
