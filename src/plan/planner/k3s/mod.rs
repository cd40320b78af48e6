//! The plan for apps on Dokku's k3s scheduler (issue 21, docs/multi-server.md): which
//! scheduler each app runs on, the refusals made before any change (every compose setting
//! k3s would ignore or fail on), and the k3s steps (scheduler, namespace, registry, storage
//! claims, resources in Kubernetes units). A child of the planner: the steps are pushed with
//! its helpers.

use std::collections::{BTreeMap, BTreeSet};

use std::borrow::Cow;

use super::app::App;
use super::{properties, undo, Steps};
use crate::dokku::{self, Cmd, K3sClaim, PropertyPlugin};
use crate::model::k3s::{cpu_quantity, memory_quantity, Scheduler, DEFAULT_SIZE};
use crate::model::{
    AppSpec, ExpectedState, ModelError, Mount, Project, Resources, SecretDelivery, Service,
    ServiceName, StorageName, Warning,
};
use crate::plan::step::Action;
use crate::plan::PlanError;
use crate::state::DokkuState;

/// Docker options the k3s scheduler turns into their Kubernetes equivalents (Dokku's
/// scheduler-k3s docs, "Implemented Commands and Triggers"); every other deploy or run option
/// is ignored there.
const HONOURED: [&str; 4] = ["--cap-add", "--cap-drop", "--privileged", "--sysctl"];

/// The scheduler of every app of the stack.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schedulers {
    /// Apps (by service) on k3s.
    k3s: BTreeSet<ServiceName>,
    /// Storage entries mounted by an app on k3s.
    claimed: BTreeSet<StorageName>,
    /// Host paths (allowed by the policy's `host-path`) of apps on k3s: the hostPath-backed
    /// storage entry each becomes, with the host path.
    host_paths: BTreeMap<StorageName, String>,
}

impl Schedulers {
    /// Whether the service's app runs on k3s.
    pub(crate) fn is_k3s(&self, svc: &ServiceName) -> bool {
        self.k3s.contains(svc)
    }
}

/// The scheduler the compose file names for a service (its own, else the stack's).
fn explicit(project: &Project, svc: &Service) -> Option<Scheduler> {
    svc.settings
        .k3s
        .scheduler
        .or(project.settings.k3s.scheduler)
}

/// A service's scheduler: the compose file's, else the app's own selection when the state
/// holds it (Dokku's computed value: the app's over the global), else the host's global one.
pub(crate) fn scheduler_of(project: &Project, svc: &Service, state: &DokkuState) -> Scheduler {
    let own = || {
        let app = svc.app()?;
        let selected = state
            .apps
            .get(app.app.as_str())?
            .properties
            .get("scheduler:selected")?;
        Scheduler::parse(selected).filter(|_| !selected.trim().is_empty())
    };
    explicit(project, svc).or_else(own).unwrap_or_else(|| {
        state
            .scheduler_global
            .as_deref()
            .and_then(Scheduler::parse)
            .unwrap_or(Scheduler::DockerLocal)
    })
}

/// Whether any app of the stack runs on k3s: the stack then gets its namespace's discovery
/// Services (issue 21, `crate::kube`).
pub(crate) fn stack_on_k3s(project: &Project, state: &DokkuState) -> bool {
    project
        .services
        .values()
        .filter(|svc| svc.app().is_some())
        .any(|svc| scheduler_of(project, svc, state) == Scheduler::K3s)
}

/// The app services of a stack on k3s that run on the Dokku host (docker-local): the cluster
/// reaches them on the host's private address, as it reaches the datastores.
pub(crate) fn services_on_host(project: &Project, state: &DokkuState) -> BTreeSet<String> {
    project
        .services
        .iter()
        .filter(|(_, svc)| svc.app().is_some())
        .filter(|(_, svc)| scheduler_of(project, svc, state) != Scheduler::K3s)
        .map(|(name, _)| name.as_str().to_owned())
        .collect()
}

fn refuse(path: impl Into<String>, reason: impl Into<String>) -> PlanError {
    PlanError::Model(ModelError::Rejected {
        path: path.into(),
        reason: reason.into(),
    })
}

/// Decides every app's scheduler and checks the stack against k3s: a setting k3s cannot
/// honour is refused (the error names the key path and why) before any change; a setting it
/// ignores harmlessly is warned.
pub(crate) fn check(
    project: &Project,
    state: &DokkuState,
    warnings: &mut Vec<Warning>,
) -> Result<Schedulers, PlanError> {
    let mut out = Schedulers::default();
    let mut local_entries: BTreeMap<StorageName, ServiceName> = BTreeMap::new();
    let mut k3s_entries: BTreeMap<StorageName, Vec<ServiceName>> = BTreeMap::new();
    for (name, svc) in &project.services {
        let Some(app) = svc.app() else {
            continue;
        };
        let on_k3s = scheduler_of(project, svc, state) == Scheduler::K3s;
        let entries = app.mounts.iter().filter_map(|m| match m {
            Mount::Entry { name, .. } => Some(name.clone()),
            Mount::HostPath { source, .. } => on_k3s.then(|| host_entry(project, source)),
        });
        if on_k3s {
            for e in entries {
                k3s_entries.entry(e).or_default().push(name.clone());
            }
            check_app(project, name, svc, app, warnings)?;
            out.k3s.insert(name.clone());
            for m in &app.mounts {
                if let Mount::HostPath { source, .. } = m {
                    out.host_paths
                        .insert(host_entry(project, source), source.clone());
                }
            }
        } else {
            for e in entries {
                local_entries.entry(e).or_insert_with(|| name.clone());
            }
            if app.autoscaling.is_some() {
                return Err(refuse(
                    format!("x-dokku.services.{name}.autoscaling"),
                    "KEDA autoscaling (app.json `formation.web.autoscaling`) needs the k3s scheduler; this service runs on docker-local (set `x-dokku.scheduler: k3s`)",
                ));
            }
        }
    }
    for (entry, users) in &k3s_entries {
        if let Some(local) = local_entries.get(entry) {
            return Err(refuse(
                format!("services.{local}.volumes"),
                format!("storage entry `{entry}` is mounted by `{local}` on docker-local and by `{}` on k3s: a k3s entry is a PersistentVolumeClaim in the cluster, not the host directory docker-local mounts; put both services on one scheduler", users[0]),
            ));
        }
        let mode = project
            .claims
            .get(entry)
            .and_then(|c| c.access_mode.as_deref())
            .unwrap_or("ReadWriteOnce");
        if users.len() > 1 && matches!(mode, "ReadWriteOnce" | "ReadWriteOncePod") {
            return Err(refuse(
                "x-dokku.volumes",
                format!("storage entry `{entry}` is mounted by {} apps on k3s (`{}`), but its claim is {mode}: a ReadWriteOnce volume attaches to one node, so pods scheduled elsewhere would not start; set `x-dokku.volumes.<volume>.access_mode: ReadWriteMany` (with a storage class that provides it) or mount it in one service", users.len(), users.iter().map(ServiceName::as_str).collect::<Vec<_>>().join("`, `")),
            ));
        }
        out.claimed.insert(entry.clone());
    }
    if !out.k3s.is_empty() {
        check_registry(project, state, &out.k3s)?;
        warn_host_dependencies(project, &out.k3s, warnings);
        if project.networks.len() > 1 {
            warnings.push(Warning {
                path: "networks".into(),
                message: "on k3s every app of the stack is in one namespace and reaches every other: the compose networks' separation is not enforced".into(),
            });
        }
    }
    // A volume's `driver_opts.size` is the claim's size on k3s: not the warned "not applied".
    warnings.retain(|w| {
        let Some(volume) = w
            .path
            .strip_prefix("volumes.")
            .and_then(|v| v.strip_suffix(".driver_opts"))
        else {
            return true;
        };
        let entry = StorageName::for_volume(&project.stack, volume);
        !(out.claimed.contains(&entry)
            && project.claims.get(&entry).is_some_and(|c| c.size.is_some()))
    });
    // A key the conversion warned about as a Swarm setting is refused on k3s when Dokku's
    // chart has no place for it.
    for w in warnings.iter() {
        let Some(rest) = w.path.strip_prefix("services.") else {
            continue;
        };
        let Some((svc, key)) = rest.split_once('.') else {
            continue;
        };
        if out.k3s.contains(&ServiceName::new(svc)) && key.starts_with("deploy.placement") {
            return Err(refuse(
                w.path.clone(),
                "Dokku's k3s chart sets no node selector or affinity on an app's pods (node profiles label nodes `dokku.com/node-profile`, but an app cannot select them), so placement constraints would be ignored",
            ));
        }
    }
    warnings.sort();
    warnings.dedup();
    Ok(out)
}

/// The k3s scheduler pulls every image from a registry: refused when none is set for the
/// `k3s` apps (in the compose file, globally or on each app).
fn check_registry(
    project: &Project,
    state: &DokkuState,
    k3s: &BTreeSet<ServiceName>,
) -> Result<(), PlanError> {
    let have_registry = project.settings.k3s.registry.is_some()
        || state
            .registry_global
            .as_deref()
            .is_some_and(|r| !r.is_empty())
        || k3s.iter().all(|s| {
            project.services[s]
                .app()
                .and_then(|a| state.apps.get(a.app.as_str()))
                .is_some_and(|a| a.properties.contains_key("registry:server"))
        });
    // A plan that did not read the host (`registry_global` unknown) cannot tell.
    if !have_registry && state.registry_global.is_some() {
        return Err(refuse(
            "x-dokku.registry",
            format!("the k3s scheduler pulls every image from a registry, and none is set for `{}`: set `x-dokku.registry: <host>` or `dokku registry:set --global server <host>` (and `registry:login`)", k3s.iter().map(ServiceName::as_str).collect::<Vec<_>>().join("`, `")),
        ));
    }
    Ok(())
}

/// Containers on the Dokku host resolve names on its Docker networks, where the k3s apps are
/// not: a dependency of a host app on a k3s app is one its name cannot reach (warned).
fn warn_host_dependencies(
    project: &Project,
    k3s: &BTreeSet<ServiceName>,
    warnings: &mut Vec<Warning>,
) {
    for (name, svc) in &project.services {
        if svc.app().is_none() || k3s.contains(name) {
            continue;
        }
        for dep in svc.depends_on.keys().filter(|d| k3s.contains(*d)) {
            warnings.push(Warning {
                path: format!("services.{name}.depends_on"),
                message: format!("`{name}` runs on the Dokku host (docker-local) and `{dep}` on k3s: the name `{dep}` does not resolve in `{name}`'s containers; reach it through its domain, or put both on one scheduler"),
            });
        }
    }
}

/// Refuses what k3s cannot honour in one app's settings (the error names the key path and
/// why) and warns of what it ignores: container options and ports, volumes, host features
/// (secret files, one-shot volumes, Let's Encrypt, path routes), runtime settings.
fn check_app(
    project: &Project,
    name: &ServiceName,
    svc: &Service,
    app: &AppSpec,
    warnings: &mut Vec<Warning>,
) -> Result<(), PlanError> {
    let base = format!("services.{name}");
    check_options_and_ports(app, &base)?;
    check_mounts(app, &base, warnings)?;
    check_host_features(project, name, svc, app, &base)?;
    check_runtime(name, svc, app, &base, warnings)
}

/// Docker options other than the four k3s honours, and ports that would not reach the
/// ingress or whose primary port k3s would pick at random.
fn check_options_and_ports(app: &AppSpec, base: &str) -> Result<(), PlanError> {
    for o in app.docker_options.iter().filter(|o| o.phase != "build") {
        let flag = o.option.split_whitespace().next().unwrap_or_default();
        if o.phase == "deploy" && HONOURED.contains(&flag) {
            continue;
        }
        let reason = match flag {
            "-p" | "--publish" => "only http and https port maps reach the k3s ingress; a tcp/udp port (published by docker on docker-local) would be dropped silently. Serve it over http(s), or keep the service on docker-local (`x-dokku.services.<svc>.scheduler: docker-local`)".to_owned(),
            "--network" => "the k3s scheduler has no docker networks: `network_mode` cannot be honoured".to_owned(),
            "--entrypoint" => "the k3s scheduler ignores `--entrypoint`; set the ENTRYPOINT in the service's Dockerfile".to_owned(),
            _ => format!("it becomes the docker option `{}`, which the k3s scheduler ignores (it honours only {})", o.option, HONOURED.join(", ")),
        };
        return Err(refuse(o.path.clone(), reason));
    }
    if let Some(p) = app
        .ports
        .iter()
        .find(|p| !matches!(p.scheme.as_str(), "http" | "https"))
    {
        return Err(refuse(
            format!("{base}.ports"),
            format!("`{}:{}:{}`: only http and https port maps reach the k3s ingress (Dokku drops other schemes silently)", p.scheme, p.host, p.container),
        ));
    }
    let targets: BTreeSet<u16> = app.ports.iter().map(|p| p.container).collect();
    if targets.len() > 1 {
        return Err(refuse(
            format!("{base}.ports"),
            format!("the port maps reach container ports {}: the k3s scheduler takes one of them, picked at random on every deploy, as the pods' primary port (probes, Service target); publish one container port", targets.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")),
        ));
    }
    Ok(())
}

/// Docker sockets, host paths (hostPath volumes, warned) and volumes seeded from the source.
fn check_mounts(app: &AppSpec, base: &str, warnings: &mut Vec<Warning>) -> Result<(), PlanError> {
    for m in &app.mounts {
        match m {
            Mount::HostPath { path, source, .. } if source.ends_with("docker.sock") => {
                return Err(refuse(
                    path.clone(),
                    format!("`{source}`: k3s nodes run containerd, and a Docker socket would be the Dokku host's only; an app on k3s cannot drive Docker"),
                ));
            }
            Mount::HostPath { path, source, .. } => {
                // Allowed by the policy (`host-path`, checked before planning): Dokku rejects
                // the `host:container` form on k3s, so it becomes a hostPath-backed entry.
                warnings.push(Warning {
                    path: path.clone(),
                    message: format!("on k3s `{source}` is a hostPath volume: the directory of whichever node the pod runs on, not the Dokku host's; keep such an app on a single-node cluster or use a named volume"),
                });
            }
            Mount::Entry {
                seed_from: Some(seed),
                target,
                ..
            } => {
                return Err(refuse(
                    format!("{base}.volumes"),
                    format!("`{target}` would be seeded from `{seed}` in the pushed source, which writes the entry's host directory; on k3s the entry is a PersistentVolumeClaim in the cluster. Mount it read-only (the files are baked into the image) or fill the volume from the app"),
                ));
            }
            Mount::Entry { .. } => {}
        }
    }
    Ok(())
}

/// What lives on the Dokku host and pods cannot reach: secret files, a one-shot job's volumes,
/// the letsencrypt plugin's certificates, nginx path routes.
fn check_host_features(
    project: &Project,
    name: &ServiceName,
    svc: &Service,
    app: &AppSpec,
    base: &str,
) -> Result<(), PlanError> {
    if app
        .secrets
        .iter()
        .any(|s| matches!(s.delivery, SecretDelivery::File(_)))
    {
        return Err(refuse(
            format!("{base}.secrets"),
            format!("secret files are mounted from a directory on the Dokku host, which pods on k3s cannot mount; deliver them as environment variables (`x-dokku.services.{name}.secrets: env`)"),
        ));
    }
    if svc.settings.state == ExpectedState::OneShot && !app.mounts.is_empty() {
        return Err(refuse(
            format!("{base}.x-dokku.state"),
            "a one-shot job runs as `dokku run`, which on k3s starts a pod without the app's volumes; it would not see its data",
        ));
    }
    let stack_le = project.settings.letsencrypt
        && !svc.settings.letsencrypt_given
        && (!svc.settings.domains.is_empty() || !app.ports.is_empty());
    if svc.settings.letsencrypt || stack_le {
        let path = if stack_le {
            "x-dokku.letsencrypt".to_owned()
        } else {
            format!("x-dokku.services.{name}.letsencrypt")
        };
        return Err(refuse(path, "on k3s certificates come from cert-manager through the ingress (`dokku scheduler-k3s:set --global letsencrypt-email-prod <address>`), not the letsencrypt plugin"));
    }
    if !svc.settings.paths.is_empty() {
        return Err(refuse(
            format!("x-dokku.services.{name}.paths"),
            "path routes are nginx includes on the Dokku host; the k3s ingress does not read them",
        ));
    }
    Ok(())
}

/// Restart policy, grace period, swap, CPU quantities and log settings.
fn check_runtime(
    name: &ServiceName,
    svc: &Service,
    app: &AppSpec,
    base: &str,
    warnings: &mut Vec<Warning>,
) -> Result<(), PlanError> {
    if let Some(policy) = app.restart_policy.as_deref() {
        if policy == "no" || policy.starts_with("on-failure") {
            warnings.push(Warning {
                path: format!("{base}.restart"),
                message: format!("`{policy}` is ignored on k3s: Kubernetes restarts a Deployment's pods whatever their exit status"),
            });
        }
    }
    if app.stop_timeout.is_some() {
        warnings.push(Warning {
            path: format!("{base}.stop_grace_period"),
            message: "Dokku's k3s chart sets no termination grace period: pods get Kubernetes' 30 seconds".into(),
        });
    }
    if app.limits.memory_swap_mb.is_some() {
        warnings.push(Warning {
            path: format!("{base}.memswap_limit"),
            message: "Kubernetes has no memory+swap limit; not applied on k3s".into(),
        });
    }
    for (r, which) in [(&app.limits, "limits"), (&app.reservations, "reservations")] {
        if let Some(c) = r.cpu.as_deref().filter(|c| cpu_quantity(c).is_none()) {
            return Err(refuse(
                format!("{base}.deploy.resources.{which}.cpus"),
                format!("`{c}` has no Kubernetes CPU quantity (whole millicores)"),
            ));
        }
    }
    if app.log_max_size.is_some() || svc.settings.log_max_size.is_some() {
        warnings.push(Warning {
            path: format!("{base}.logging"),
            message: "`max-size` is a docker log setting; on k3s the node's kubelet rotates container logs".into(),
        });
    }
    if svc.settings.log_vector_sink.is_some() {
        warnings.push(Warning {
            path: format!("x-dokku.services.{name}.logs.vector_sink"),
            message: "the k3s scheduler ships logs only to the global vector sink (`logs:set --global vector-sink`, then `scheduler-k3s:ensure-charts --charts vector`)".into(),
        });
    }
    Ok(())
}

/// The k3s settings of one app: the scheduler the compose file names, the stack's
/// namespace, the registry and pushing the image on release. Returns whether one changed.
pub(crate) fn app_steps(a: &App<'_>, on_k3s: bool, out: &mut Steps<'_>) -> bool {
    let (name, cur) = (a.name, a.cur);
    let mut changed = false;
    if let Some(s) = explicit(a.project, a.svc) {
        changed |= properties::set(
            out,
            name,
            cur,
            PropertyPlugin::Scheduler,
            "selected",
            Some(s.name()),
        );
    }
    if !on_k3s {
        return changed;
    }
    changed |= properties::set(
        out,
        name,
        cur,
        PropertyPlugin::SchedulerK3s,
        "namespace",
        Some(a.project.stack.as_str()),
    );
    if let Some(r) = &a.project.settings.k3s.registry {
        changed |= properties::set(
            out,
            name,
            cur,
            PropertyPlugin::Registry,
            "server",
            Some(&r.server),
        );
        changed |= properties::set(
            out,
            name,
            cur,
            PropertyPlugin::Registry,
            "image-repo-template",
            r.image_repo_template.as_deref(),
        );
    }
    changed |= properties::set(
        out,
        name,
        cur,
        PropertyPlugin::Registry,
        "push-on-release",
        Some("true"),
    );
    changed
}

/// The storage entry a host path of an app on k3s becomes (`<stack>-host-<path>-<hash>`: the
/// hash keeps `/srv/a_b` and `/srv/a-b` apart).
fn host_entry(project: &Project, source: &str) -> StorageName {
    use sha2::{Digest, Sha256};
    let hash = hex::encode(&Sha256::digest(source.as_bytes())[..3]);
    StorageName::for_volume(&project.stack, &format!("host{source}-{hash}"))
}

/// The mounts of an app on k3s as the plan makes them: a host path is mounted through its
/// hostPath-backed entry ([`host_path_steps`]), as Dokku accepts only named entries there.
pub(crate) fn mounts<'a>(project: &Project, mounts: &'a [Mount]) -> Cow<'a, [Mount]> {
    if !mounts.iter().any(|m| matches!(m, Mount::HostPath { .. })) {
        return Cow::Borrowed(mounts);
    }
    mounts
        .iter()
        .map(|m| match m {
            Mount::HostPath {
                source,
                target,
                read_only,
                ..
            } => Mount::Entry {
                name: host_entry(project, source),
                target: target.clone(),
                read_only: *read_only,
                seed_from: None,
            },
            other => other.clone(),
        })
        .collect()
}

/// `storage:create <entry> <host path> --scheduler k3s …` for the host paths of apps on k3s:
/// a hostPath PersistentVolume (kept on `storage:destroy`: `--reclaim-policy Retain`) and its
/// claim in the stack's namespace.
pub(crate) fn host_path_steps(
    k3s: &Schedulers,
    project: &Project,
    state: &DokkuState,
    out: &mut Steps<'_>,
) {
    for (name, source) in &k3s.host_paths {
        if state.storage.contains(name.as_str()) {
            continue;
        }
        let claim = K3sClaim {
            size: DEFAULT_SIZE,
            host_path: Some(source),
            namespace: project.stack.as_str(),
            ..K3sClaim::default()
        };
        out.push(
            &format!("storage/{name}"),
            Action::CreateStorage {
                name: name.to_string(),
                seed_from: None,
            },
            dokku::storage_create_k3s(name.as_str(), &claim),
            format!("storage entry `{name}` (hostPath `{source}` on k3s) does not exist"),
            undo(vec![dokku::storage_destroy(name.as_str())]),
        );
    }
}

/// `storage:create` of an entry: on k3s with its claim (`--scheduler k3s --size …
/// [--access-mode …] [--storage-class-name …] --namespace <stack>`).
pub(crate) fn storage_create(k3s: &Schedulers, project: &Project, name: &StorageName) -> Cmd {
    if !k3s.claimed.contains(name) {
        return dokku::storage_create(name.as_str());
    }
    let claim = project.claims.get(name).cloned().unwrap_or_default();
    dokku::storage_create_k3s(
        name.as_str(),
        &K3sClaim {
            size: claim.size.as_deref().unwrap_or(DEFAULT_SIZE),
            access_mode: claim.access_mode.as_deref(),
            storage_class: claim.storage_class.as_deref(),
            host_path: None,
            namespace: project.stack.as_str(),
        },
    )
}

/// `resource:limit`/`resource:reserve` values on k3s: memory in `Mi` (Kubernetes reads `m`
/// as milli-bytes), CPUs in millicores, no memory+swap (Kubernetes has none).
pub(crate) fn resource_values(res: &Resources) -> BTreeMap<String, String> {
    let mut want = BTreeMap::new();
    if let Some(c) = res.cpu.as_deref().and_then(cpu_quantity) {
        want.insert("cpu".into(), c);
    }
    if let Some(m) = res.memory_mb {
        want.insert("memory".into(), memory_quantity(m));
    }
    want
}

#[cfg(test)]
mod tests;
