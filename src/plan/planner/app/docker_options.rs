//! Docker options: the network aliases (`networks.<net>.aliases` and the compose name) and
//! the container-shaping keys the model turned into options (`cap_drop`, `init`, `shm_size`,
//! `build.args`, …), added with `docker-options:add`; the ones this stack added before and
//! no longer wants are removed, others' are left alone.

use super::App;
use crate::dokku;
use crate::model::docker_opt::{DockerOpt, Flag};
use crate::plan::planner::{undo, Steps, OPTIONS_VAR};
use crate::plan::step::Action;

/// The options the stack manages now (`<phase> <option>`, stored in `OPTIONS_VAR`) and
/// whether a step changes the running containers.
pub(crate) struct Managed {
    /// `<phase> <option>` of every wanted option.
    pub(crate) managed: Vec<String>,
    /// Whether an option was added or removed.
    pub(crate) changed: bool,
}

/// The wanted options by phase: network aliases first, then the container-shaping options.
fn wanted(a: &App<'_>) -> Vec<(&'static str, String)> {
    let mut options: Vec<(&str, String)> = Vec::new();
    if !a.spec.networks.is_empty() {
        // Rendered through the typed option; an alias it cannot carry (refused by the model)
        // is rendered as written so the plan check (`Policy::check_plan`) refuses it too.
        options.extend(a.spec.aliases.iter().map(|al| {
            let option = DockerOpt::new(Flag::NetworkAlias, al.as_str())
                .map_or_else(|_| format!("--network-alias {al}"), |o| o.render());
            ("deploy", option)
        }));
    }
    options.extend(
        a.spec
            .docker_options
            .iter()
            .map(|o| (o.phase, o.option.clone())),
    );
    options
}

/// Removes the options this stack added before and no longer wants, then adds the missing.
pub(crate) fn steps(a: &App<'_>, out: &mut Steps<'_>) -> Managed {
    let (name, cur) = (a.name, a.cur);
    let options = wanted(a);
    let managed: Vec<String> = options.iter().map(|(ph, o)| format!("{ph} {o}")).collect();
    let mut changed = false;
    let previous: Vec<String> = cur
        .config
        .get(OPTIONS_VAR)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    for old in previous.iter().filter(|o| !managed.contains(o)) {
        let Some((phase, option)) = old.split_once(' ') else {
            continue;
        };
        if !cur
            .docker_options
            .get(phase)
            .is_some_and(|have| have.iter().any(|h| h == option))
        {
            continue;
        }
        out.push(
            &format!("docker-options-remove/{phase}/{option}"),
            Action::RemoveDockerOption {
                app: name.to_owned(),
                phase: phase.to_owned(),
                option: option.to_owned(),
            },
            dokku::docker_options_remove(name, phase, option),
            format!("{phase} option `{option}` is no longer in the compose file"),
            undo(vec![dokku::docker_options_add(name, phase, option)]),
        );
        changed = true;
    }
    for (phase, option) in options {
        if cur
            .docker_options
            .get(phase)
            .is_some_and(|have| have.contains(&option))
        {
            continue;
        }
        out.push(
            &format!("docker-options/{phase}/{option}"),
            Action::AddDockerOption {
                app: name.to_owned(),
                phase: phase.to_owned(),
                option: option.clone(),
            },
            dokku::docker_options_add(name, phase, &option),
            format!("{phase} option `{option}` is missing"),
            undo(vec![dokku::docker_options_remove(name, phase, &option)]),
        );
        changed = true;
    }
    Managed { managed, changed }
}
