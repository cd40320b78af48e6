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
        let have_registry = project.settings.k3s.registry.is_some()
            || state
                .registry_global
                .as_deref()
                .is_some_and(|r| !r.is_empty())
            || out.k3s.iter().all(|s| {
                project.services[s]
                    .app()
                    .and_then(|a| state.apps.get(a.app.as_str()))
                    .is_some_and(|a| a.properties.contains_key("registry:server"))
            });
        // A plan that did not read the host (`registry_global` unknown) cannot tell.
        if !have_registry && state.registry_global.is_some() {
            return Err(refuse(
                "x-dokku.registry",
                format!("the k3s scheduler pulls every image from a registry, and none is set for `{}`: set `x-dokku.registry: <host>` or `dokku registry:set --global server <host>` (and `registry:login`)", out.k3s.iter().map(ServiceName::as_str).collect::<Vec<_>>().join("`, `")),
            ));
        }
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

#[expect(
    clippy::too_many_lines,
    reason = "one refusal per compose setting, in key order"
)]
fn check_app(
    project: &Project,
    name: &ServiceName,
    svc: &Service,
    app: &AppSpec,
    warnings: &mut Vec<Warning>,
) -> Result<(), PlanError> {
    let base = format!("services.{name}");
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
mod tests_support {
    use crate::model::{ConvertOptions, StackName};
    use crate::plan::{Options, Plan, PlanError, PlanSettings};
    use crate::policy::Policy;
    use crate::state::DokkuState;
    use crate::workflow::plan_compose_json;

    pub(crate) fn plan_with(
        json: &serde_json::Value,
        state: &DokkuState,
        allow: &[&str],
    ) -> Result<Plan, PlanError> {
        let opts = Options {
            convert: ConvertOptions {
                stack: StackName::parse("shop").unwrap(),
                project_dir: "/p".into(),
            },
            policy: Policy::from_names(allow.iter().copied()).unwrap(),
            settings: PlanSettings {
                source_rev: "r".into(),
                ..PlanSettings::default()
            },
        };
        plan_compose_json(json, state, &opts)
    }

    /// A host whose global scheduler is k3s, with a global registry.
    pub(crate) fn k3s_host() -> DokkuState {
        DokkuState {
            scheduler_global: Some("k3s".into()),
            registry_global: Some("registry.example.com".into()),
            ..DokkuState::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::tests_support::{k3s_host, plan_with};
    use crate::plan::{Plan, PlanError};
    use crate::state::DokkuState;

    fn commands(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.run.to_string()).collect()
    }

    fn web(extra: Value) -> Value {
        let mut svc = json!({"image": "nginx:1.27", "ports": [{"target": 5000, "published": "80", "protocol": "tcp", "mode": "ingress"}]});
        for (k, v) in extra.as_object().unwrap() {
            svc[k] = v.clone();
        }
        json!({"name": "shop", "services": {"web": svc}})
    }

    fn refused(json: &Value, allow: &[&str]) -> String {
        plan_with(json, &k3s_host(), allow).unwrap_err().to_string()
    }

    #[test]
    fn an_explicit_k3s_stack_maps_scheduler_namespace_registry_storage_resources() {
        let mut j = web(json!({
            "volumes": [{"type": "volume", "source": "data", "target": "/data"}],
            "mem_limit": "536870912", "cpus": 0.5,
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 3},
            "x-dokku": {"autoscaling": {"min_quantity": 1, "max_quantity": 4, "triggers": [{"type": "cpu", "metadata": {"type": "Utilization", "value": "70"}}]}}
        }));
        j["volumes"] = json!({"data": {"driver_opts": {"size": "5g"}}});
        j["x-dokku"] = json!({"scheduler": "k3s", "registry": "registry.example.com", "volumes": {"data": {"storage_class": "longhorn"}}});
        let p = plan_with(&j, &DokkuState::default(), &[]).unwrap();
        let c = commands(&p);
        for want in [
            "dokku storage:create shop-data --scheduler k3s --size 5Gi --storage-class-name longhorn --namespace shop",
            "dokku scheduler:set shop-web selected k3s",
            "dokku scheduler-k3s:set shop-web namespace shop",
            "dokku registry:set shop-web server registry.example.com",
            "dokku registry:set shop-web push-on-release true",
            "dokku storage:mount shop-web shop-data --container-dir /data",
            "dokku resource:limit --cpu 500m --memory 512Mi shop-web",
        ] {
            assert!(c.iter().any(|x| x == want), "no `{want}` in\n{}", c.join("\n"));
        }
        let deploy = p.steps.iter().find(|s| s.id == "web/deploy").unwrap();
        let Some(crate::dokku::Stdin::Archive { files, .. }) = deploy.run.stdin.as_deref() else {
            panic!("an archive")
        };
        let app_json: Value = serde_json::from_str(&files["app.json"]).unwrap();
        assert_eq!(
            app_json["formation"],
            json!({"web": {"autoscaling": {"max_quantity": 4, "min_quantity": 1, "triggers": [{"type": "cpu", "metadata": {"type": "Utilization", "value": "70"}}]}}})
        );
        assert_eq!(app_json["healthchecks"]["web"][0]["type"], "startup");
    }

    #[test]
    fn the_global_scheduler_decides_without_an_explicit_one() {
        let j = web(json!({"mem_limit": "536870912"}));
        let c = commands(&plan_with(&j, &k3s_host(), &[]).unwrap());
        assert!(c
            .iter()
            .any(|x| x == "dokku scheduler-k3s:set shop-web namespace shop"));
        assert!(c
            .iter()
            .any(|x| x == "dokku resource:limit --memory 512Mi shop-web"));
        // The global registry applies: no app-level server.
        assert!(!c.iter().any(|x| x.contains("registry:set shop-web server")));
        // No scheduler:set when the compose file names none.
        assert!(!c.iter().any(|x| x.contains("scheduler:set")));
        // On docker-local nothing of k3s is planned, and memory stays in Docker's unit.
        let c = commands(&plan_with(&j, &DokkuState::default(), &[]).unwrap());
        assert!(!c
            .iter()
            .any(|x| x.contains("scheduler") || x.contains("registry")));
        assert!(c
            .iter()
            .any(|x| x == "dokku resource:limit --memory 512m shop-web"));
    }

    #[test]
    fn an_apps_own_selection_wins_over_the_global_one() {
        let j = web(json!({}));
        let mut host = DokkuState {
            registry_global: Some("registry.example.com".into()),
            ..DokkuState::default()
        };
        let mut app = crate::state::AppState::default();
        app.properties
            .insert("scheduler:selected".into(), "k3s".into());
        host.apps.insert("shop-web".into(), app);
        let c = commands(&plan_with(&j, &host, &[]).unwrap());
        assert!(
            c.iter()
                .any(|x| x == "dokku scheduler-k3s:set shop-web namespace shop"),
            "{c:?}"
        );
    }

    #[test]
    fn a_service_can_stay_on_docker_local() {
        let mut j = web(json!({}));
        j["services"]["broker"] = json!({"image": "eclipse-mosquitto:2", "ports": [{"target": 1883, "published": "1883", "protocol": "tcp", "mode": "ingress"}], "x-dokku": {"scheduler": "docker-local"}});
        let c = commands(&plan_with(&j, &k3s_host(), &[]).unwrap());
        assert!(c
            .iter()
            .any(|x| x == "dokku scheduler:set shop-broker selected docker-local"));
        assert!(c
            .iter()
            .any(|x| x == "dokku scheduler-k3s:set shop-web namespace shop"));
        assert!(!c
            .iter()
            .any(|x| x == "dokku scheduler-k3s:set shop-broker namespace shop"));
        // Autoscaling needs k3s.
        j["services"]["broker"]["x-dokku"]["autoscaling"] = json!({"triggers": [{"type": "cpu"}]});
        let e = plan_with(&j, &k3s_host(), &[]).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "`x-dokku.services.broker.autoscaling` is not supported: KEDA autoscaling"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_k3s_stack_without_a_registry_is_refused() {
        let j = web(json!({}));
        let host = DokkuState {
            registry_global: Some(String::new()),
            ..k3s_host()
        };
        let e = plan_with(&j, &host, &[]).unwrap_err().to_string();
        assert!(e.starts_with("`x-dokku.registry` is not supported: the k3s scheduler pulls every image from a registry"), "{e}");
        let mut j = j;
        j["x-dokku"] =
            json!({"registry": {"server": "ghcr.io", "image_repo_template": "acme/{{.AppName}}"}});
        let c = commands(&plan_with(&j, &host, &[]).unwrap());
        assert!(c
            .iter()
            .any(|x| x == "dokku registry:set shop-web server ghcr.io"));
        assert!(c.iter().any(|x| x == "dokku registry:set shop-web image-repo-template 'acme/{{.AppName}}'"), "{c:?}");
    }

    #[test]
    fn settings_k3s_cannot_honour_are_refused_with_the_key_path() {
        let cases: Vec<(Value, &[&str], &str)> = vec![
            (
                web(json!({"ports": [{"target": 1883, "published": "1883", "protocol": "tcp", "mode": "ingress"}]})),
                &[],
                "`services.web.ports[0]` is not supported: only http and https port maps reach the k3s ingress",
            ),
            (
                web(json!({"ports": [{"target": 5000, "published": "80", "protocol": "tcp"}, {"target": 6000, "published": "8080", "protocol": "tcp"}]})),
                &[],
                "`services.web.ports` is not supported: the port maps reach container ports 5000, 6000",
            ),
            (
                web(json!({"network_mode": "none"})),
                &[],
                "`services.web.network_mode` is not supported: the k3s scheduler has no docker networks",
            ),
            (
                web(json!({"init": true})),
                &[],
                "`services.web.init` is not supported: it becomes the docker option `--init`, which the k3s scheduler ignores",
            ),
            (
                web(json!({"volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]})),
                &["docker-socket"],
                "`services.web.volumes[0]` is not supported: `/var/run/docker.sock`: k3s nodes run containerd",
            ),
            (
                web(json!({"secrets": [{"source": "token", "target": "/run/secrets/token"}]})),
                &[],
                "`services.web.secrets` is not supported: secret files are mounted from a directory on the Dokku host",
            ),
            (
                web(json!({"deploy": {"placement": {"constraints": ["node.role == manager"]}}})),
                &[],
                "`services.web.deploy.placement` is not supported: Dokku's k3s chart sets no node selector",
            ),
            (
                web(json!({"command": ["migrate"], "volumes": [{"type": "volume", "source": "data", "target": "/data"}], "x-dokku": {"state": "one-shot"}})),
                &[],
                "`services.web.x-dokku.state` is not supported: a one-shot job runs as `dokku run`",
            ),
            (
                web(json!({"x-dokku": {"domains": ["shop.example.com"], "letsencrypt": true}})),
                &[],
                "`x-dokku.services.web.letsencrypt` is not supported: on k3s certificates come from cert-manager",
            ),
        ];
        for (mut j, allow, want) in cases {
            if j["services"]["web"].get("secrets").is_some() {
                j["secrets"] = json!({"token": {"environment": "TOKEN"}});
            }
            if j["services"]["web"].get("volumes").is_some() {
                j["volumes"] = json!({"data": {}});
            }
            let e = refused(&j, allow);
            assert!(e.starts_with(want), "want `{want}`, got `{e}`");
            // The same stack plans on docker-local.
            let local = plan_with(&j, &DokkuState::default(), allow);
            assert!(
                local.is_ok() || matches!(local, Err(PlanError::MissingSecret { .. })),
                "{want}: {local:?}"
            );
        }
    }

    #[test]
    fn a_shared_volume_needs_read_write_many() {
        let mut j =
            web(json!({"volumes": [{"type": "volume", "source": "data", "target": "/data"}]}));
        j["services"]["worker"] = json!({"image": "busybox", "volumes": [{"type": "volume", "source": "data", "target": "/data"}]});
        j["volumes"] = json!({"data": {}});
        let e = refused(&j, &[]);
        assert!(e.starts_with("`x-dokku.volumes` is not supported: storage entry `shop-data` is mounted by 2 apps on k3s (`web`, `worker`), but its claim is ReadWriteOnce"), "{e}");
        j["x-dokku"] =
            json!({"volumes": {"data": {"access_mode": "ReadWriteMany", "size": "10Gi"}}});
        let c = commands(&plan_with(&j, &k3s_host(), &[]).unwrap());
        assert!(c.iter().any(|x| x == "dokku storage:create shop-data --scheduler k3s --size 10Gi --access-mode ReadWriteMany --namespace shop"), "{c:?}");
        // An x-dokku volume that is not a volume of the project.
        j["x-dokku"] = json!({"volumes": {"dta": {"size": "1Gi"}}});
        let e = refused(&j, &[]);
        assert_eq!(
            e,
            "`x-dokku.volumes.dta`: names no volume of the project (top-level `volumes`)"
        );
    }

    #[test]
    fn ignored_settings_are_warned() {
        let j = web(
            json!({"restart": "no", "memswap_limit": "1073741824", "mem_limit": "536870912", "stop_grace_period": "1m"}),
        );
        let p = plan_with(&j, &k3s_host(), &[]).unwrap();
        let w: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
        assert!(
            w.iter()
                .any(|w| w.starts_with("`services.web.restart`: `no` is ignored on k3s")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|w| w
                .starts_with("`services.web.memswap_limit`: Kubernetes has no memory+swap limit")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.starts_with("`services.web.stop_grace_period`: Dokku's k3s chart sets no termination grace period")), "{w:?}");
        // No memory-swap on k3s.
        assert!(commands(&p)
            .iter()
            .any(|x| x == "dokku resource:limit --memory 512Mi shop-web"));
    }
}

#[cfg(test)]
mod host_path_tests {
    use serde_json::json;

    use super::tests_support::*;

    #[test]
    fn an_allowed_host_path_becomes_a_host_path_entry_on_k3s() {
        let j = json!({"name": "shop", "services": {"web": {"image": "nginx", "volumes": [{"type": "bind", "source": "/srv/data", "target": "/data", "read_only": true}]}}});
        // Without the policy's `host-path`: refused by the policy, on either scheduler.
        assert!(plan_with(&j, &k3s_host(), &[])
            .unwrap_err()
            .to_string()
            .contains("allow with `--allow host-path`"));
        let p = plan_with(&j, &k3s_host(), &["host-path"]).unwrap();
        let c: Vec<String> = p.steps.iter().map(|s| s.run.to_string()).collect();
        let create = c
            .iter()
            .find(|x| x.starts_with("dokku storage:create shop-host-srv-data-"))
            .unwrap_or_else(|| panic!("{c:#?}"));
        assert!(
            create.ends_with(
                " /srv/data --scheduler k3s --size 1Gi --reclaim-policy Retain --namespace shop"
            ),
            "{create}"
        );
        let entry = create.split(' ').nth(2).unwrap();
        assert!(
            c.contains(&format!(
                "dokku storage:mount shop-web {entry} --container-dir /data --volume-readonly"
            )),
            "{c:#?}"
        );
        assert!(!c.iter().any(|x| x.contains("/srv/data:/data")), "{c:#?}");
        assert!(p
            .warnings
            .iter()
            .any(|w| w.path == "services.web.volumes[0]" && w.message.contains("hostPath volume")));
    }
}
