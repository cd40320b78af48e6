//! Stage 4, pure: `(Project, ServiceGraph, DokkuState, settings) -> Plan`. Reads the state
//! snapshot and emits only the commands that must change something, so the plan for a stack
//! that is deployed as described is empty (docs/mapping.md "Idempotency").
//!
//! One module per concern, each a function of the desired and the live state of what it
//! plans, pushing its steps in apply order: [`stack`] (networks, storage entries),
//! [`datastore`] and [`backup`] (datastore services), [`app`] (one module per concern of an
//! app, run in order by [`app::steps`] through the [`app::Concerns`] of the scheduler).
//! docs/mapping.md "Where each key is mapped" names the function for every compose key.

use std::collections::{BTreeMap, BTreeSet};

use super::step::{Action, Plan, Step, Undo};
use crate::dokku::Cmd;
use crate::graph::ServiceGraph;
use crate::model::{AppSpec, Kind, NetworkName, Project, ServiceName, Source, Warning};
use crate::state::DokkuState;

pub(crate) mod app;
pub(crate) mod backup;
pub(crate) mod datastore;
pub(crate) mod k3s;
#[cfg(test)]
mod key_table;
pub(crate) mod properties;
pub(crate) mod secrets;
pub(crate) mod stack;

use super::error::PlanError;

/// Config var holding the digest of the deployed build context.
pub const DIGEST_VAR: &str = "DOKKU_COMPOSE_DIGEST";
/// Config var listing the config keys the stack manages (so removed keys get unset).
pub const KEYS_VAR: &str = "DOKKU_COMPOSE_KEYS";
/// Config var listing the docker options the stack manages, as a JSON array of `<phase> <option>`.
pub const OPTIONS_VAR: &str = "DOKKU_COMPOSE_OPTIONS";
/// Config var holding the keyed fingerprint of the secret files an app mounts.
pub(crate) const SECRETS_VAR: &str = "DOKKU_COMPOSE_SECRETS";
/// Config var listing the mounts the stack made, as a JSON array of mount keys (so mounts
/// removed from the compose file are unmounted, and others' mounts are left alone).
pub(crate) const MOUNTS_VAR: &str = "DOKKU_COMPOSE_MOUNTS";
/// The single process type every app runs.
pub const PROCESS: &str = "web";

/// Settings of one planning run besides project and state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSettings {
    /// Revision of the pushed source (git sha); build services redeploy when it changes,
    /// unless `source_digests` says what their sources hold.
    pub source_rev: String,
    /// Content digests of the source paths build contexts and copied files read (path
    /// relative to the project directory -> digest). When given, a service is redeployed only
    /// when what it reads changed: Dokku refuses to deploy an unchanged tree
    /// (`git:from-archive`: "No changes detected"), and a push that touches one service's
    /// directory should not rebuild the others.
    pub source_digests: BTreeMap<String, String>,
    /// Values of the compose `secrets` (name -> value), read by the caller from their files
    /// (vault-decrypted) or environment. Never printed: every use is masked.
    pub secrets: SecretValues,
    /// Host directory secret files are written to (`<dir>/<app>/<secret>`); default
    /// `/var/lib/dokku/data/compose/<stack>/secrets`.
    pub secrets_dir: Option<String>,
    /// Keyed fingerprint of each secret's value (name -> fingerprint), so a changed value
    /// restarts its services without the plan showing anything of it.
    pub secret_fingerprints: BTreeMap<String, String>,
    /// Datastores whose backup settings changed since they were last applied; `None` plans
    /// the backup commands of every datastore that has them.
    pub backups_changed: Option<BTreeSet<String>>,
    /// Host names for services that publish a port and name no `domains`: `{service}` is
    /// replaced by the compose service (the caller filled in stack, project and the host's
    /// global domain).
    pub domain_pattern: Option<String>,
    /// Host directory `x-dokku` `paths` static directories are served from
    /// (`<dir>/<app>/<n>`); default `/var/lib/dokku/data/compose/<stack>/static`.
    pub static_dir: Option<String>,
}

/// Secret values; `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues(pub BTreeMap<String, String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl PlanSettings {
    /// The source paths `app` reads from the pushed source: its build context and copied files.
    pub(crate) fn source_paths(app: &AppSpec) -> Vec<String> {
        let mut paths = Vec::new();
        if let Source::Build(b) = &app.source {
            paths.push(b.context.clone());
        }
        for f in app.files.values() {
            if let crate::model::FileSource::Source { path } = f {
                paths.push(path.clone());
            }
        }
        paths
    }

    /// What identifies the source `app` reads: the digests of its paths when known, else the
    /// source revision.
    pub(crate) fn source_key(&self, app: &AppSpec) -> String {
        if self.source_digests.is_empty() {
            return self.source_rev.clone();
        }
        Self::source_paths(app)
            .iter()
            .map(|p| {
                format!(
                    "{p}={}",
                    self.source_digests.get(p).map_or("?", String::as_str)
                )
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// An undo that cannot be done, and why.
fn irreversible(reason: &str) -> Undo {
    Undo::Irreversible {
        reason: reason.to_owned(),
    }
}

/// An undo by commands.
fn undo(cmds: Vec<Cmd>) -> Undo {
    Undo::Commands { cmds }
}

/// Where the steps of one service (or of the stack) go: the plan's step list, with the
/// service and its level that every step pushed here carries.
pub(crate) struct Steps<'p> {
    steps: &'p mut Vec<Step>,
    service: Option<&'p ServiceName>,
    level: usize,
}

impl Steps<'_> {
    /// Adds a step with id `<service>/<id>` (`stack/<id>` for stack steps).
    pub(crate) fn push(&mut self, id: &str, action: Action, run: Cmd, reason: String, undo: Undo) {
        let prefix = self.service.map_or("stack", ServiceName::as_str);
        let mut full = String::with_capacity(prefix.len() + 1 + id.len());
        full.push_str(prefix);
        full.push('/');
        full.push_str(id);
        self.steps.push(Step {
            id: full,
            service: self.service.cloned(),
            level: self.level,
            action,
            run,
            reason,
            undo,
        });
    }

    /// How many steps the plan has so far.
    fn len(&self) -> usize {
        self.steps.len()
    }
}

/// Path routing (issue 7) of one service: its nginx include, the include's text and digest.
pub(crate) struct Route {
    /// The include.
    pub(crate) include: crate::routing::Include,
    /// Its text.
    pub(crate) text: String,
    /// Digest of the text and the static directories (what `PATHS_VAR` holds).
    pub(crate) digest: String,
}

/// The routes of every service that has `paths`.
fn routes(
    project: &Project,
    graph: &ServiceGraph,
    settings: &PlanSettings,
) -> Result<BTreeMap<ServiceName, Route>, PlanError> {
    let static_dir = settings
        .static_dir
        .clone()
        .unwrap_or_else(|| format!("/var/lib/dokku/data/compose/{}/static", project.stack));
    let mut out = BTreeMap::new();
    for (name, include) in crate::routing::includes(project, graph, &static_dir)? {
        let text = crate::routing::render(&include);
        let digest = crate::routing::digest(&text, &include.statics, |dir| {
            settings
                .source_digests
                .get(dir)
                .cloned()
                .unwrap_or_else(|| settings.source_rev.clone())
        });
        out.insert(
            name,
            Route {
                include,
                text,
                digest,
            },
        );
    }
    Ok(out)
}

/// Plans `project` against `state`.
pub fn plan(
    project: &Project,
    graph: &ServiceGraph,
    state: &DokkuState,
    settings: &PlanSettings,
    mut warnings: Vec<Warning>,
) -> Result<Plan, PlanError> {
    // Let's Encrypt without `x-dokku.letsencrypt_email` needs the host's global e-mail. The
    // model warns; with the host read, a set e-mail makes the warning moot and a missing one
    // is refused below (issue 15 item 14). Only a plan that cannot see the host (off-server
    // `compose:plan` without `--state`) keeps the warning, as the push would decide.
    if state
        .letsencrypt_global_email
        .as_deref()
        .is_some_and(|e| !e.is_empty())
    {
        warnings.retain(|w| !w.path.ends_with(".x-dokku.letsencrypt"));
    }
    let primary = stack::primary_networks(project, graph)?;
    let routes = routes(project, graph, settings)?;
    // Which apps run on k3s, and the refusals of what k3s cannot honour (issue 21).
    let k3s = k3s::check(project, state, &mut warnings)?;
    // About a dozen steps per service on a fresh host; growing a vector of large steps copies.
    let mut steps = Vec::with_capacity(project.services.len() * 12 + 8);
    stack::steps(
        project,
        state,
        &k3s,
        &mut Steps {
            steps: &mut steps,
            service: None,
            level: 0,
        },
    );
    let stack = StackWide {
        k3s: &k3s,
        primary: &primary,
        routes: &routes,
    };
    service_steps(project, graph, state, settings, &stack, &mut steps)?;
    let services = project
        .services
        .iter()
        .map(|(n, s)| {
            let target = match &s.kind {
                Kind::App(a) => format!("app `{}`", a.app),
                Kind::Datastore(d) => format!("{} service `{}`", d.plugin, d.name),
            };
            (n.clone(), target)
        })
        .collect();
    Ok(Plan {
        stack: project.stack.to_string(),
        services,
        dependencies: graph.dependencies.clone(),
        rewrites: project.rewrites.clone(),
        warnings,
        steps,
        files: Vec::new(),
        kube: Vec::new(),
    })
}

/// What the stack decides for every app: its scheduler, its primary network, its routes.
struct StackWide<'a> {
    k3s: &'a k3s::Schedulers,
    primary: &'a BTreeMap<ServiceName, NetworkName>,
    routes: &'a BTreeMap<ServiceName, Route>,
}

/// The steps of every service, level by level and by name within a level: still dependencies
/// first, and the text plan's `## level N` sections come out in order.
fn service_steps(
    project: &Project,
    graph: &ServiceGraph,
    state: &DokkuState,
    settings: &PlanSettings,
    stack: &StackWide<'_>,
    steps: &mut Vec<Step>,
) -> Result<(), PlanError> {
    let StackWide {
        k3s,
        primary,
        routes,
    } = stack;
    // Services whose containers this plan replaces (deploy, restart or one-shot run): a
    // dependent that declared `depends_on.<x>.restart: true` restarts with them, as compose does.
    let mut replaced: BTreeSet<&ServiceName> = BTreeSet::new();
    let by_level = graph.by_level();
    for (level, name) in by_level
        .iter()
        .enumerate()
        .flat_map(|(l, names)| names.iter().map(move |n| (l, n)))
    {
        let svc = &project.services[name];
        let mut out = Steps {
            steps: &mut *steps,
            service: Some(name),
            level,
        };
        let first = out.len();
        match &svc.kind {
            Kind::Datastore(ds) => {
                datastore::steps(state, name, ds, settings, &mut out)?;
                if let Some(b) = &svc.settings.backup {
                    backup::steps(name, ds, b, settings, &mut out)?;
                }
            }
            Kind::App(spec) => {
                let restart_with = svc
                    .depends_on
                    .iter()
                    .find(|(d, s)| s.restart && replaced.contains(d))
                    .map(|(d, _)| d);
                let fresh = crate::state::AppState::default();
                let existing = state.apps.get(spec.app.as_str());
                let a = app::App {
                    name: spec.app.as_str(),
                    svc,
                    spec,
                    project,
                    settings,
                    state,
                    cur: existing.unwrap_or(&fresh),
                    exists: existing.is_some(),
                    primary: primary.get(name),
                    route: routes.get(name),
                    restart_with,
                };
                app::steps(app::concerns(k3s.is_k3s(name)), &a, &mut out)?;
            }
        }
        if steps[first..].iter().any(|s| {
            matches!(
                s.action,
                Action::Deploy { .. } | Action::Restart { .. } | Action::RunOnce { .. }
            )
        }) {
            replaced.insert(name);
        }
    }
    Ok(())
}
