//! What the host looks like after a step: applies a step's action to a [`DokkuState`]. Used
//! to check that re-planning an applied plan is empty, and by dry runs.

use crate::state::{AppState, DokkuState};

use super::step::{Action, Step};

fn app<'a>(state: &'a mut DokkuState, a: &str) -> &'a mut AppState {
    state.apps.entry(a.to_owned()).or_default()
}

/// Records the effect of `step` in `state`, as Dokku would after running it.
pub fn apply(state: &mut DokkuState, step: &Step) {
    match &step.action {
        Action::CreateNetwork { network } => {
            state.networks.insert(network.clone());
        }
        Action::CreateStorage { name, .. } => {
            state.storage.insert(name.clone());
        }
        Action::CreateDatastore { plugin, name } => {
            state
                .datastores
                .entry(plugin.clone())
                .or_default()
                .entry(name.clone())
                .or_default();
        }
        Action::UpgradeDatastore {
            plugin,
            name,
            image,
        } => {
            if let Some(info) = state
                .datastore_info
                .get_mut(&crate::state::datastore_key(plugin, name))
            {
                info.version.clone_from(image);
            }
        }
        Action::Link {
            plugin,
            datastore,
            app: a,
        } => {
            state
                .datastores
                .entry(plugin.clone())
                .or_default()
                .entry(datastore.clone())
                .or_default()
                .insert(a.clone());
        }
        Action::Prune { target } => prune(state, target, &step.run.argv()),
        // The host state the planner reads has no exposed ports.
        Action::RunOnce { .. }
        | Action::Backup { .. }
        | Action::SetNginxInclude { .. }
        | Action::ExposeDatastore { .. } => {}
        Action::CreateApp { app: a } => {
            app(state, a);
        }
        Action::SetProperty { app: a, .. }
        | Action::AddDockerOption { app: a, .. }
        | Action::RemoveDockerOption { app: a, .. }
        | Action::SetPorts { app: a, .. }
        | Action::SetProxy { app: a, .. }
        | Action::SetDomains { app: a, .. }
        | Action::Mount { app: a, .. }
        | Action::Unmount { app: a, .. }
        | Action::SetConfig { app: a, .. }
        | Action::UnsetConfig { app: a, .. }
        | Action::Scale { app: a, .. }
        | Action::Resources { app: a, .. }
        | Action::Deploy { app: a, .. }
        | Action::Restart { app: a }
        | Action::EnableLetsencrypt { app: a } => app_step(app(state, a), step),
    }
}

/// The effect of a step that changes one app's settings.
fn app_step(s: &mut AppState, step: &Step) {
    match &step.action {
        Action::SetProperty {
            plugin, key, value, ..
        } => {
            let prop = format!("{plugin}:{key}");
            match value {
                Some(v) => s.properties.insert(prop, v.clone()),
                None => s.properties.remove(&prop),
            };
        }
        Action::AddDockerOption { phase, option, .. } => {
            s.docker_options
                .entry(phase.clone())
                .or_default()
                .push(option.clone());
        }
        Action::RemoveDockerOption { phase, option, .. } => {
            if let Some(opts) = s.docker_options.get_mut(phase) {
                opts.retain(|o| o != option);
            }
        }
        Action::SetPorts { ports, .. } => s.ports.clone_from(ports),
        Action::SetProxy { enabled, .. } => s.proxy_enabled = *enabled,
        Action::SetDomains { domains, .. } => s.domains.clone_from(domains),
        Action::Mount { mount, .. } => {
            s.mounts.insert(mount.clone());
        }
        Action::Unmount { mount, .. } => {
            s.mounts.remove(mount);
        }
        Action::SetConfig { .. } => set_config(s, step),
        Action::UnsetConfig { keys, .. } => {
            for k in keys {
                s.config.remove(k);
            }
        }
        Action::Scale { process, count, .. } => {
            s.scale.insert(process.clone(), *count);
        }
        Action::Resources { which, values, .. } => {
            for (k, v) in values {
                s.resources.insert(format!("{which}:{k}"), v.clone());
            }
        }
        Action::Deploy { .. } => {
            s.deployed = true;
            s.running = true;
        }
        Action::Restart { .. } => s.running = true,
        Action::EnableLetsencrypt { .. } => s.letsencrypt = true,
        _ => {}
    }
}

/// `config:set` (values in argv) or `config:import` (values on stdin).
fn set_config(s: &mut AppState, step: &Step) {
    if let Some(crate::dokku::Stdin::Config { values, .. }) = step.run.stdin.as_deref() {
        s.config
            .extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        return;
    }
    for pair in step.run.args.iter().skip(3) {
        if let Some((k, v)) = pair.split_once('=') {
            s.config.insert(k.to_owned(), v.to_owned());
        }
    }
}

/// A prune step: an app or datastore destroyed, or a datastore unlinked.
fn prune(state: &mut DokkuState, target: &str, argv: &[String]) {
    match argv.get(1).map(String::as_str) {
        Some("apps:destroy") => {
            state.apps.remove(target);
        }
        Some(c) if c.ends_with(":destroy") => {
            for services in state.datastores.values_mut() {
                services.remove(target);
            }
        }
        Some(c) if c.ends_with(":unlink") => {
            let app = argv.get(3).cloned().unwrap_or_default();
            for services in state.datastores.values_mut() {
                if let Some(links) = services.get_mut(target) {
                    links.remove(&app);
                }
            }
        }
        _ => {}
    }
}
