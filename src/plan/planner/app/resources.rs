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
    steps_with(a, docker_values, out)
}

/// Limits, then reservations, with the values `values` gives (a scheduler's units); true
/// when either changed.
pub(crate) fn steps_with(
    a: &App<'_>,
    values: fn(&Resources) -> BTreeMap<String, String>,
    out: &mut Steps<'_>,
) -> bool {
    let limit = one(a, Resource::Limit, values(&a.spec.limits), out);
    let reserve = one(a, Resource::Reserve, values(&a.spec.reservations), out);
    limit || reserve
}

/// docker-local's values: memory in `m`, as `docker run --memory` reads it.
fn docker_values(res: &Resources) -> BTreeMap<String, String> {
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
    want
}

/// `resource:<which>` when a wanted value differs from the app's; the undo restores the
/// previous values (or clears them).
fn one(a: &App<'_>, which: Resource, want: BTreeMap<String, String>, out: &mut Steps<'_>) -> bool {
    let name = a.name;
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
