//! Datastore links: a dependency on a datastore service (`depends_on`, `links`, or a
//! reference in the environment, found by the model) as `<plugin>:link --no-restart`.

use super::App;
use crate::dokku;
use crate::plan::planner::{undo, Steps};
use crate::plan::step::Action;

/// Links the app to every datastore it uses and is not linked to; true when it linked one.
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) -> bool {
    let name = a.name;
    let mut changed = false;
    for link in a.spec.links.values() {
        let linked = a
            .state
            .datastores
            .get(link.plugin)
            .and_then(|m| m.get(link.datastore.as_str()))
            .is_some_and(|apps| apps.contains(name));
        if linked {
            continue;
        }
        let datastore = link.datastore.as_str();
        out.push(
            &format!("link/{}", link.datastore),
            Action::Link {
                plugin: link.plugin.to_owned(),
                datastore: link.datastore.to_string(),
                app: name.to_owned(),
            },
            dokku::datastore_link(link.plugin, datastore, name, link.alias.as_deref()),
            format!(
                "`{name}` is not linked to {} service `{}`",
                link.plugin, link.datastore
            ),
            undo(vec![dokku::datastore_unlink(link.plugin, datastore, name)]),
        );
        changed = true;
    }
    changed
}
