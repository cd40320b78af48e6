//! What one service's keys imply for others, after every service is converted: one-shot jobs
//! (`depends_on: service_completed_successfully`) and `volumes_from` (the other service's
//! mounts and source files).

use std::collections::{BTreeMap, BTreeSet};

use super::error::Warning;
use super::names::ServiceName;
use super::service::{FileSource, Kind, Mount, Service, Source};
use super::xdokku::ExpectedState;

/// A service that another one waits for with `service_completed_successfully` is a job:
/// unless `x-dokku` says otherwise it runs once per deploy (docs/mapping.md "One-shot jobs").
pub(super) fn infer_one_shot(
    services: &mut BTreeMap<ServiceName, Service>,
    warnings: &mut Vec<Warning>,
) {
    let mut jobs: BTreeMap<ServiceName, String> = BTreeMap::new();
    for (name, svc) in services.iter() {
        for (dep, spec) in &svc.depends_on {
            if spec.condition == "service_completed_successfully" {
                jobs.entry(dep.clone())
                    .or_insert_with(|| format!("services.{name}.depends_on.{dep}"));
            }
        }
    }
    for (job, path) in jobs {
        let Some(svc) = services.get_mut(&job) else {
            continue;
        };
        if svc.settings.state_given || svc.app().is_none() {
            continue;
        }
        if svc.app().is_some_and(|a| a.command.is_none()) {
            warnings.push(Warning {
                path: format!("services.{job}"),
                message: format!("`{path}` waits for it to complete, but it has no `command` to run as a one-shot job; deployed as a running service"),
            });
            continue;
        }
        svc.settings.state = ExpectedState::OneShot;
        warnings.push(Warning {
            path: format!("services.{job}"),
            message: format!(
                "runs as a one-shot job on each deploy, because `{path}` waits for it to complete"
            ),
        });
    }
}

/// The services a service names in `volumes_from`.
fn volumes_from(svc: &Service) -> impl Iterator<Item = &ServiceName> {
    svc.other_edges
        .iter()
        .filter(|(_, k)| *k == "volumes_from")
        .map(|(n, _)| n)
}

/// `volumes_from`: the other service's mounts, and (for image services) its source files.
pub(super) fn resolve_volumes_from(services: &mut BTreeMap<ServiceName, Service>) {
    // Only the mounts of services that some `volumes_from` names are copied.
    let sources: BTreeSet<ServiceName> =
        services.values().flat_map(volumes_from).cloned().collect();
    if sources.is_empty() {
        return;
    }
    let shared: BTreeMap<ServiceName, Vec<Mount>> = services
        .iter()
        .filter(|(n, _)| sources.contains(*n))
        .filter_map(|(n, s)| s.app().map(|a| (n.clone(), a.mounts.clone())))
        .collect();
    // Source mounts are copied into the image (issue 15 item 5): into the sharer's too.
    let shared_files: BTreeMap<ServiceName, Vec<(String, FileSource)>> = services
        .iter()
        .filter(|(n, _)| sources.contains(*n))
        .filter_map(|(n, s)| {
            s.app().map(|a| {
                let files = a.files.iter();
                let source = files.filter(|(_, f)| matches!(f, FileSource::Source { .. }));
                (
                    n.clone(),
                    source.map(|(t, f)| (t.clone(), f.clone())).collect(),
                )
            })
        })
        .collect();
    for svc in services.values_mut() {
        let from: Vec<ServiceName> = volumes_from(svc).cloned().collect();
        let Kind::App(app) = &mut svc.kind else {
            continue;
        };
        for f in from {
            for m in shared.get(&f).into_iter().flatten() {
                if !app.mounts.contains(m) {
                    app.mounts.push(m.clone());
                }
            }
            if matches!(app.source, Source::Build(_)) {
                continue;
            }
            for (target, file) in shared_files.get(&f).into_iter().flatten() {
                app.files
                    .entry(target.clone())
                    .or_insert_with(|| file.clone());
            }
        }
    }
}
