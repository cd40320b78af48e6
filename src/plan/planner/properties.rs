//! App properties: `<plugin>:set <app> <key> [<value>...]`, planned only when the value
//! differs from the one the app has.

use super::{undo, Steps};
use crate::dokku::{self, PropertyPlugin};
use crate::plan::step::Action;
use crate::state::AppState;

/// Sets `plugin`'s property `key` of `app` to `want` when it has another value (`None`
/// plans nothing); true when a step was planned. The value is passed as its words.
pub(crate) fn set(
    out: &mut Steps<'_>,
    app: &str,
    cur: &AppState,
    plugin: PropertyPlugin,
    key: &str,
    want: Option<&str>,
) -> bool {
    if want.is_none() {
        return false;
    }
    let prop = format!("{}:{key}", plugin.name());
    let have = if cur.properties.is_empty() {
        None
    } else {
        cur.properties.get(&prop).map(String::as_str)
    };
    if have == want {
        return false;
    }
    let with_value = |v: Option<&str>| {
        dokku::property_set(
            plugin,
            app,
            key,
            v.into_iter().flat_map(str::split_whitespace),
        )
    };
    out.push(
        &format!("{}/{key}", plugin.name()),
        action(app, plugin, key, want),
        with_value(want),
        match have {
            Some(h) => format!("{prop} is `{h}`, want `{}`", want.unwrap_or_default()),
            None => format!("{prop} is unset, want `{}`", want.unwrap_or_default()),
        },
        undo(vec![with_value(have)]),
    );
    true
}

/// Unsets a property the app has and the compose file no longer wants; true when a step was
/// planned.
pub(crate) fn clear(
    out: &mut Steps<'_>,
    app: &str,
    cur: &AppState,
    plugin: PropertyPlugin,
    key: &str,
) -> bool {
    let prop = format!("{}:{key}", plugin.name());
    let Some(have) = cur.properties.get(&prop).filter(|h| !h.is_empty()) else {
        return false;
    };
    out.push(
        &format!("{}/{key}", plugin.name()),
        action(app, plugin, key, None),
        dokku::property_set(plugin, app, key, []),
        format!("{prop} is `{have}`, want it unset"),
        undo(vec![dokku::property_set(plugin, app, key, [have.as_str()])]),
    );
    true
}

fn action(app: &str, plugin: PropertyPlugin, key: &str, value: Option<&str>) -> Action {
    Action::SetProperty {
        app: app.to_owned(),
        plugin: plugin.name().to_owned(),
        key: key.to_owned(),
        value: value.map(str::to_owned),
    }
}
