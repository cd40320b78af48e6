//! What the host looks like after a step: applies a step's action to a [`DokkuState`]. Used
//! to check that re-planning an applied plan is empty, and by dry runs.

use crate::state::{AppState, DokkuState};

use super::step::{Action, Step};

fn app<'a>(state: &'a mut DokkuState, a: &str) -> &'a mut AppState {
    state.apps.entry(a.to_owned()).or_default()
}

/// Records the effect of `step` in `state`, as Dokku would after running it.
pub fn apply(state: &mut DokkuState, step: &Step) {
    let argv = step.run.argv();
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
        // The host state the planner reads has no exposed ports.
        Action::ExposeDatastore { .. } => {}
        Action::CreateApp { app: a } => {
            app(state, a);
        }
        Action::SetProperty {
            app: a,
            plugin,
            key,
            value,
        } => {
            let prop = format!("{plugin}:{key}");
            let s = app(state, a);
            match value {
                Some(v) => s.properties.insert(prop, v.clone()),
                None => s.properties.remove(&prop),
            };
        }
        Action::AddDockerOption {
            app: a,
            phase,
            option,
        } => {
            app(state, a)
                .docker_options
                .entry(phase.clone())
                .or_default()
                .push(option.clone());
        }
        Action::RemoveDockerOption {
            app: a,
            phase,
            option,
        } => {
            if let Some(opts) = app(state, a).docker_options.get_mut(phase) {
                opts.retain(|o| o != option);
            }
        }
        Action::SetPorts { app: a, ports } => app(state, a).ports.clone_from(ports),
        Action::SetProxy { app: a, enabled } => app(state, a).proxy_enabled = *enabled,
        Action::SetDomains { app: a, domains } => app(state, a).domains.clone_from(domains),
        Action::Mount { app: a, mount } => {
            app(state, a).mounts.insert(mount.clone());
        }
        Action::Unmount { app: a, mount } => {
            app(state, a).mounts.remove(mount);
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
        Action::SetConfig { app: a, .. } => {
            let s = app(state, a);
            if let Some(crate::dokku::Stdin::Config { values, .. }) = step.run.stdin.as_deref() {
                s.config
                    .extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                return;
            }
            for pair in argv.iter().skip(4) {
                if let Some((k, v)) = pair.split_once('=') {
                    s.config.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Action::UnsetConfig { app: a, keys } => {
            let s = app(state, a);
            for k in keys {
                s.config.remove(k);
            }
        }
        Action::Scale {
            app: a,
            process,
            count,
        } => {
            app(state, a).scale.insert(process.clone(), *count);
        }
        Action::Resources {
            app: a,
            which,
            values,
        } => {
            let s = app(state, a);
            for (k, v) in values {
                s.resources.insert(format!("{which}:{k}"), v.clone());
            }
        }
        Action::Deploy { app: a, .. } => {
            let s = app(state, a);
            s.deployed = true;
            s.running = true;
        }
        Action::Restart { app: a } => app(state, a).running = true,
        Action::RunOnce { .. } | Action::Backup { .. } | Action::SetNginxInclude { .. } => {}
        Action::EnableLetsencrypt { app: a } => app(state, a).letsencrypt = true,
        Action::Prune { target } => match argv.get(1).map(String::as_str) {
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
        },
    }
}
