//! Stage 4, pure: `(Project, ServiceGraph, DokkuState, settings) -> Plan`. Reads the state
//! snapshot and emits only the commands that must change something, so the plan for a stack
//! that is deployed as described is empty (docs/mapping.md "Idempotency").

use std::collections::{BTreeMap, BTreeSet};

use super::context::{build_context, overlay_dir};
use super::error::PlanError;
use super::step::{Action, Plan, Step, Undo};
use crate::dokku::catalog;
use crate::dokku::{Cmd, Stdin};
use crate::graph::ServiceGraph;
use crate::model::docker_opt::{DockerOpt, Flag};
use crate::model::{
    AppSpec, DatastoreSpec, ExpectedState, Kind, Mount, NetworkName, Project, Service, ServiceName,
    Source, Warning,
};
use crate::routing::PATHS_VAR;
use crate::state::{mount_key, AppState, DokkuState};

#[path = "k3s.rs"]
pub(super) mod k3s;

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
    pub fn source_paths(app: &AppSpec) -> Vec<String> {
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
    pub fn source_key(&self, app: &AppSpec) -> String {
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

struct Planner<'a> {
    state: &'a DokkuState,
    steps: Vec<Step>,
    /// Path routing (issue 7): each owning service's include, its text and digest.
    routes: BTreeMap<ServiceName, (crate::routing::Include, String, String)>,
    /// The network each service on several networks is created on (see [`primary_networks`]).
    primary: BTreeMap<ServiceName, NetworkName>,
    /// The scheduler of each app (issue 21, [`k3s`]).
    k3s: k3s::Schedulers,
}

fn irreversible(reason: &str) -> Undo {
    Undo::Irreversible {
        reason: reason.to_owned(),
    }
}

fn undo(cmds: Vec<Cmd>) -> Undo {
    Undo::Commands { cmds }
}

struct Ctx<'a> {
    service: &'a ServiceName,
    level: usize,
}

impl Planner<'_> {
    fn push(
        &mut self,
        ctx: Option<&Ctx<'_>>,
        id: &str,
        action: Action,
        run: Cmd,
        reason: String,
        undo: Undo,
    ) {
        let prefix = ctx.map_or("stack", |c| c.service.as_str());
        let mut full = String::with_capacity(prefix.len() + 1 + id.len());
        full.push_str(prefix);
        full.push('/');
        full.push_str(id);
        let id = full;
        self.steps.push(Step {
            id,
            service: ctx.map(|c| c.service.clone()),
            level: ctx.map_or(0, |c| c.level),
            action,
            run,
            reason,
            undo,
        });
    }
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
    // About a dozen steps per service on a fresh host; growing a vector of large steps copies.
    let primary = primary_networks(project, graph)?;
    let k3s = k3s::check(project, state, &mut warnings)?;
    let mut p = Planner {
        k3s,
        state,
        steps: Vec::with_capacity(project.services.len() * 12 + 8),
        routes: BTreeMap::new(),
        primary,
    };
    let static_dir = settings
        .static_dir
        .clone()
        .unwrap_or_else(|| format!("/var/lib/dokku/data/compose/{}/static", project.stack));
    for (name, inc) in crate::routing::includes(project, graph, &static_dir)? {
        let text = crate::routing::render(&inc);
        let digest = crate::routing::digest(&text, &inc.statics, |dir| {
            settings
                .source_digests
                .get(dir)
                .cloned()
                .unwrap_or_else(|| settings.source_rev.clone())
        });
        p.routes.insert(name, (inc, text, digest));
    }
    stack_steps(&mut p, project);
    // Services whose containers this plan replaces (deploy, restart or one-shot run): a
    // dependent that declared `depends_on.<x>.restart: true` restarts with them, as compose does.
    let mut replaced: BTreeSet<&ServiceName> = BTreeSet::new();
    // Level by level, by name within a level: still dependencies first, and the text plan's
    // `## level N` sections come out in order.
    let by_level = graph.by_level();
    for (level, name) in by_level
        .iter()
        .enumerate()
        .flat_map(|(l, names)| names.iter().map(move |n| (l, n)))
    {
        let svc = &project.services[name];
        let ctx = Ctx {
            service: name,
            level,
        };
        let first = p.steps.len();
        let restart_with = svc
            .depends_on
            .iter()
            .find(|(d, spec)| spec.restart && replaced.contains(d))
            .map(|(d, _)| d);
        match &svc.kind {
            Kind::Datastore(ds) => {
                datastore_steps(&mut p, &ctx, ds, settings)?;
                if let Some(b) = &svc.settings.backup {
                    backup_steps(&mut p, &ctx, ds, b, settings)?;
                }
            }
            Kind::App(app) => app_steps(&mut p, &ctx, project, svc, app, settings, restart_with)?,
        }
        if p.steps[first..].iter().any(|s| {
            matches!(
                s.action,
                Action::Deploy { .. } | Action::Restart { .. } | Action::RunOnce { .. }
            )
        }) {
            replaced.insert(name);
        }
    }
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
        steps: p.steps,
        files: Vec::new(),
        kube: Vec::new(),
    })
}

/// The networks of a service, app or datastore.
fn networks_of(svc: &Service) -> Vec<&NetworkName> {
    match &svc.kind {
        Kind::App(a) => a.networks.iter().collect(),
        Kind::Datastore(d) => d.network.iter().collect(),
    }
}

/// The network each app on several networks is created on (issue 15 item 6). Dokku sets the
/// `--network-alias` docker options (the compose name and aliases) only on the network a
/// container is created on (`network:set initial-network`); `attach-post-create` and
/// `attach-post-deploy` connect without them. So that every service that uses an app
/// (`depends_on`, `links` and the other dependency edges) resolves it by name, the app is
/// created on a network it shares with all of them: its first one (by compose `priority`,
/// then name) when that one does, else the first that does. When none does, the plan is
/// refused naming two consumers that share none of its networks.
fn primary_networks(
    project: &Project,
    graph: &ServiceGraph,
) -> Result<BTreeMap<ServiceName, NetworkName>, PlanError> {
    let mut out = BTreeMap::new();
    for (name, svc) in &project.services {
        let Kind::App(app) = &svc.kind else { continue };
        if app.networks.len() < 2 {
            continue;
        }
        // Consumers sharing at least one network (one sharing none cannot reach it at all,
        // as under compose) with the networks of the app they share.
        let consumers: Vec<(&ServiceName, Vec<&NetworkName>)> = graph
            .dependencies
            .iter()
            .filter(|(c, deps)| *c != name && deps.contains(name))
            .filter_map(|(c, _)| {
                let shared: Vec<&NetworkName> = project
                    .services
                    .get(c)
                    .map(networks_of)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| app.networks.contains(n))
                    .collect();
                (!shared.is_empty()).then_some((c, shared))
            })
            .collect();
        let fits = |n: &NetworkName| consumers.iter().all(|(_, shared)| shared.contains(&n));
        match app.networks.iter().find(|n| fits(n)) {
            Some(n) => {
                out.insert(name.clone(), n.clone());
            }
            None => {
                let pair = consumers
                    .iter()
                    .enumerate()
                    .find_map(|(i, (a, sa))| {
                        consumers[i + 1..]
                            .iter()
                            .find(|(_, sb)| !sa.iter().any(|n| sb.contains(n)))
                            .map(|(b, _)| (*a, *b))
                    })
                    .or_else(|| {
                        consumers
                            .first()
                            .zip(consumers.last())
                            .map(|((a, _), (b, _))| (*a, *b))
                    });
                if let Some((first, second)) = pair {
                    return Err(PlanError::Unreachable {
                        service: name.clone(),
                        first: first.clone(),
                        second: second.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn stack_steps(p: &mut Planner<'_>, project: &Project) {
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for s in project.services.values() {
        match &s.kind {
            Kind::App(a) => used.extend(a.networks.iter().map(|n| n.as_str())),
            Kind::Datastore(d) => used.extend(d.network.iter().map(|n| n.as_str())),
        }
    }
    for net in project
        .networks
        .values()
        .filter(|n| used.contains(n.as_str()))
    {
        if !p.state.networks.contains(net.as_str()) {
            p.push(
                None,
                &format!("network/{net}"),
                Action::CreateNetwork {
                    network: net.to_string(),
                },
                Cmd::dokku(["network:create", net.as_str()]),
                format!("network `{net}` does not exist"),
                undo(vec![Cmd::dokku([
                    "network:destroy",
                    "--force",
                    net.as_str(),
                ])]),
            );
        }
    }
    for (name, seed) in &project.storage {
        if !p.state.storage.contains(name.as_str()) {
            let reason = match seed {
                Some(s) => format!(
                    "storage entry `{name}` does not exist; seeded from `{s}` in the pushed source"
                ),
                None => format!("storage entry `{name}` does not exist"),
            };
            let create = k3s::storage_create(p, project, name);
            p.push(
                None,
                &format!("storage/{name}"),
                Action::CreateStorage {
                    name: name.to_string(),
                    seed_from: seed.clone(),
                },
                create,
                reason,
                undo(vec![Cmd::dokku([
                    "storage:destroy",
                    name.as_str(),
                    "--force",
                ])]),
            );
        }
    }
    k3s::host_path_steps(p, project);
}

/// The password in a URL's user part (`postgres://u:pw@h/x` -> `pw`).
fn url_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority
        .rsplit_once('@')?
        .0
        .split_once(':')
        .map(|(_, p)| p)
}

/// The value of compose secret `name` used by `service`. `None` when planning without the
/// secrets' values (off the server: `dokku-compose plan` reads no secret; shown masked); in an
/// apply or a server plan (`secrets_dir` set) a secret without a value is refused, even when
/// no secret has one (a missing file used to be planned as the mask itself).
fn secret_value(
    settings: &PlanSettings,
    service: &ServiceName,
    name: &str,
) -> Result<Option<String>, PlanError> {
    match settings.secrets.0.get(name) {
        Some(v) => Ok(Some(v.clone())),
        None if settings.secrets.0.is_empty() && settings.secrets_dir.is_none() => Ok(None),
        None => Err(PlanError::MissingSecret {
            service: service.clone(),
            secret: name.to_owned(),
        }),
    }
}

/// A datastore password: declared (`POSTGRES_PASSWORD`) or the value of the compose secret
/// `POSTGRES_PASSWORD_FILE` names. `Ok(None)` also when that value is unknown (off-server).
fn datastore_password(
    settings: &PlanSettings,
    service: &ServiceName,
    declared: &Option<String>,
    secret: &Option<String>,
) -> Result<Option<String>, PlanError> {
    match (declared, secret) {
        (Some(p), _) => Ok(Some(p.clone())),
        (None, Some(s)) => secret_value(settings, service, s),
        (None, None) => Ok(None),
    }
}

fn datastore_steps(
    p: &mut Planner<'_>,
    ctx: &Ctx<'_>,
    ds: &DatastoreSpec,
    settings: &PlanSettings,
) -> Result<(), PlanError> {
    let exists = p
        .state
        .datastores
        .get(ds.plugin)
        .is_some_and(|m| m.contains_key(ds.name.as_str()));
    let password = datastore_password(settings, ctx.service, &ds.password, &ds.password_secret)?;
    let root_password = datastore_password(
        settings,
        ctx.service,
        &ds.root_password,
        &ds.root_password_secret,
    )?;
    if exists {
        let Some(info) = p
            .state
            .datastore_info
            .get(&crate::state::datastore_key(ds.plugin, ds.name.as_str()))
        else {
            return Ok(());
        };
        let def = catalog::by_plugin(ds.plugin);
        // Apps only ever get the password the datastore has: no plugin can change it.
        if let (Some(want), Some(have)) = (&password, url_password(&info.dsn)) {
            if want != have {
                let key = def
                    .and_then(|d| d.password_keys.first())
                    .copied()
                    .unwrap_or("PASSWORD");
                let key = if ds.password.is_none() && ds.password_secret.is_some() {
                    format!("{key}_FILE")
                } else {
                    key.to_owned()
                };
                return Err(PlanError::DatastorePassword {
                    service: ctx.service.clone(),
                    key,
                    plugin: ds.plugin.to_owned(),
                    datastore: ds.name.to_string(),
                });
            }
        }
        // A new image tag: `<plugin>:upgrade` (the plugin recreates the container on it).
        if let Some(v) = &ds.version {
            let image = ds
                .image
                .clone()
                .unwrap_or_else(|| def.map_or(ds.plugin, |d| d.image).to_owned());
            let want = format!("{image}:{v}");
            if info.version != want {
                let cmd = Cmd::dokku([format!("{}:upgrade", ds.plugin), ds.name.to_string()])
                    .flag("--image", image)
                    .flag("--image-version", v.clone());
                let back = match info.version.rsplit_once(':') {
                    Some((i, t)) => undo(vec![Cmd::dokku([
                        format!("{}:upgrade", ds.plugin),
                        ds.name.to_string(),
                    ])
                    .flag("--image", i.to_owned())
                    .flag("--image-version", t.to_owned())]),
                    None => irreversible("the image the datastore ran is unknown"),
                };
                p.push(
                    Some(ctx),
                    "upgrade",
                    Action::UpgradeDatastore {
                        plugin: ds.plugin.to_owned(),
                        name: ds.name.to_string(),
                        image: want.clone(),
                    },
                    cmd,
                    format!(
                        "{} service `{}` runs `{}`, want `{want}`",
                        ds.plugin, ds.name, info.version
                    ),
                    back,
                );
            }
        }
        return Ok(());
    }
    let mut cmd = Cmd::dokku([format!("{}:create", ds.plugin), ds.name.to_string()]);
    if let Some(i) = &ds.image {
        cmd = cmd.flag("--image", i.clone());
    }
    if let Some(v) = &ds.version {
        cmd = cmd.flag("--image-version", v.clone());
    }
    // Passwords and the custom environment go through the environment the datastore plugins
    // read when the flag is absent (dokku-postgres `common-functions` `service_parse_args`
    // exports `SERVICE_PASSWORD` only for `--password`; `service_create` and
    // `service_commit_config` read `SERVICE_PASSWORD`, `SERVICE_ROOT_PASSWORD`,
    // `SERVICE_CUSTOM_ENV`), so no secret is in the process list.
    // A password from a secret whose value is unknown here (off-server) shows as masked.
    let unknown =
        |secret: &Option<String>| secret.as_ref().map(|_| crate::dokku::cmd::MASK.to_owned());
    if let Some(pw) = password.or_else(|| unknown(&ds.password_secret)) {
        cmd = cmd.secret_env("SERVICE_PASSWORD", pw);
    }
    if let Some(pw) = root_password.or_else(|| unknown(&ds.root_password_secret)) {
        cmd = cmd.secret_env("SERVICE_ROOT_PASSWORD", pw);
    }
    if let Some(c) = &ds.config_options {
        cmd = cmd.flag("--config-options", c.clone());
    }
    if !ds.custom_env.is_empty() {
        let env: Vec<String> = ds
            .custom_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        cmd = cmd.secret_env("SERVICE_CUSTOM_ENV", env.join(";"));
    }
    if let Some(n) = &ds.network {
        cmd = cmd.flag("--initial-network", n.to_string());
    }
    let image = match (&ds.image, &ds.version) {
        (Some(i), Some(v)) => format!("{i}:{v}"),
        (Some(i), None) => i.clone(),
        (None, Some(v)) => format!(
            "{}:{v}",
            catalog::by_plugin(ds.plugin).map_or(ds.plugin, |d| d.image)
        ),
        (None, None) => "the plugin's default image".into(),
    };
    p.push(
        Some(ctx),
        "create",
        Action::CreateDatastore {
            plugin: ds.plugin.to_owned(),
            name: ds.name.to_string(),
        },
        cmd,
        format!(
            "{} service `{}` does not exist ({image})",
            ds.plugin, ds.name
        ),
        irreversible("datastore data is never destroyed by an apply"),
    );
    Ok(())
}

/// `x-dokku.services.<datastore>.backup` -> the datastore plugin's `backup-auth`,
/// `backup-schedule` and `backup-set-encryption`. Datastore plugins cannot report these, so
/// they run when the settings changed since the last apply (`backups_changed`, from the
/// caller's record), and each replaces what was set before.
fn backup_steps(
    p: &mut Planner<'_>,
    ctx: &Ctx<'_>,
    ds: &DatastoreSpec,
    b: &crate::model::Backup,
    settings: &PlanSettings,
) -> Result<(), PlanError> {
    if settings
        .backups_changed
        .as_ref()
        .is_some_and(|c| !c.contains(ds.name.as_str()))
    {
        return Ok(());
    }
    let value = |secret: &str| -> Result<String, PlanError> {
        Ok(secret_value(settings, ctx.service, secret)?
            .unwrap_or_else(|| crate::dokku::cmd::MASK.to_owned()))
    };
    let svc = ds.name.as_str();
    let kept = "backups are reconfigured, never removed, by an apply".to_owned();
    let mut auth = Cmd::dokku([format!("{}:backup-auth", ds.plugin), svc.to_owned()])
        .secret_arg(value(&b.access_key_id)?)
        .secret_arg(value(&b.secret_access_key)?);
    // Positional and optional: region, signature version, endpoint; gaps before a given one
    // are empty arguments.
    let extras = [&b.region, &b.signature_version, &b.endpoint_url];
    if let Some(last) = extras.iter().rposition(|e| e.is_some()) {
        for e in &extras[..=last] {
            auth = auth.arg(e.as_deref().unwrap_or_default().to_owned());
        }
    }
    p.push(
        Some(ctx),
        "backup/auth",
        Action::Backup {
            datastore: svc.to_owned(),
        },
        auth,
        "backup credentials changed or were never set".into(),
        Undo::Irreversible {
            reason: kept.clone(),
        },
    );
    p.push(
        Some(ctx),
        "backup/schedule",
        Action::Backup {
            datastore: svc.to_owned(),
        },
        Cmd::dokku([
            format!("{}:backup-schedule", ds.plugin),
            svc.to_owned(),
            b.schedule.clone(),
            b.bucket.clone(),
        ]),
        format!(
            "backups of `{svc}` run `{}` into `{}`",
            b.schedule, b.bucket
        ),
        Undo::Irreversible {
            reason: kept.clone(),
        },
    );
    let enc = match &b.encryption_passphrase {
        Some(secret) => Cmd::dokku([
            format!("{}:backup-set-encryption", ds.plugin),
            svc.to_owned(),
        ])
        .secret_arg(value(secret)?),
        None => Cmd::dokku([
            format!("{}:backup-unset-encryption", ds.plugin),
            svc.to_owned(),
        ]),
    };
    let reason = if b.encryption_passphrase.is_some() {
        "backups are encrypted with the passphrase secret"
    } else {
        "no `encryption_passphrase`: backups are not encrypted"
    };
    p.push(
        Some(ctx),
        "backup/encryption",
        Action::Backup {
            datastore: svc.to_owned(),
        },
        enc,
        reason.into(),
        Undo::Irreversible { reason: kept },
    );
    Ok(())
}

/// Property steps: `<plugin>:set <app> <key> [<value>...]`, only when the value differs.
fn set_property(
    p: &mut Planner<'_>,
    ctx: &Ctx<'_>,
    app: &str,
    cur: &AppState,
    plugin: &str,
    key: &str,
    want: Option<&str>,
) -> bool {
    if want.is_none() {
        return false;
    }
    let prop = format!("{plugin}:{key}");
    let have = if cur.properties.is_empty() {
        None
    } else {
        cur.properties.get(&prop).map(String::as_str)
    };
    if have == want {
        return false;
    }
    let set = format!("{plugin}:set");
    let with_value = |v: Option<&str>| {
        let mut c = Cmd::dokku([set.as_str(), app, key]);
        for word in v.into_iter().flat_map(str::split_whitespace) {
            c = c.arg(word);
        }
        c
    };
    p.push(
        Some(ctx),
        &format!("{plugin}/{key}"),
        Action::SetProperty {
            app: app.to_owned(),
            plugin: plugin.to_owned(),
            key: key.to_owned(),
            value: want.map(str::to_owned),
        },
        with_value(want),
        match have {
            Some(h) => format!("{prop} is `{h}`, want `{}`", want.unwrap_or_default()),
            None => format!("{prop} is unset, want `{}`", want.unwrap_or_default()),
        },
        undo(vec![with_value(have)]),
    );
    true
}

/// Unsets a property the app has and the compose file no longer wants (`<plugin>:set <app> <key>`).
fn clear_property(
    p: &mut Planner<'_>,
    ctx: &Ctx<'_>,
    app: &str,
    cur: &AppState,
    plugin: &str,
    key: &str,
) -> bool {
    let prop = format!("{plugin}:{key}");
    let Some(have) = cur.properties.get(&prop).filter(|h| !h.is_empty()) else {
        return false;
    };
    let set = format!("{plugin}:set");
    p.push(
        Some(ctx),
        &format!("{plugin}/{key}"),
        Action::SetProperty {
            app: app.to_owned(),
            plugin: plugin.to_owned(),
            key: key.to_owned(),
            value: None,
        },
        Cmd::dokku([set.as_str(), app, key]),
        format!("{prop} is `{have}`, want it unset"),
        undo(vec![Cmd::dokku([set.as_str(), app, key, have.as_str()])]),
    );
    true
}

#[expect(
    clippy::too_many_lines,
    reason = "the steps of one app read best top to bottom in apply order"
)]
fn app_steps(
    p: &mut Planner<'_>,
    ctx: &Ctx<'_>,
    project: &Project,
    svc: &Service,
    app: &AppSpec,
    settings: &PlanSettings,
    restart_with: Option<&ServiceName>,
) -> Result<(), PlanError> {
    let name = app.app.as_str();
    let fresh = AppState::default();
    let existing = p.state.apps.get(name);
    let cur = existing.unwrap_or(&fresh);
    let mut runtime_changed = false;

    if existing.is_none() {
        p.push(
            Some(ctx),
            "create",
            Action::CreateApp {
                app: name.to_owned(),
            },
            Cmd::dokku(["apps:create", name]),
            format!("app `{name}` does not exist"),
            undo(vec![Cmd::dokku(["apps:destroy", name, "--force"])]),
        );
    }
    runtime_changed |= k3s::app_steps(p, ctx, project, svc, app, cur);

    // How the image is built.
    set_property(p, ctx, name, cur, "builder", "selected", Some("dockerfile"));
    if let Source::Build(b) = &app.source {
        if b.dockerfile != "Dockerfile" {
            set_property(
                p,
                ctx,
                name,
                cur,
                "builder-dockerfile",
                "dockerfile-path",
                Some(&b.dockerfile),
            );
        }
        if app.command.is_some() {
            set_property(
                p,
                ctx,
                name,
                cur,
                "ps",
                "procfile-path",
                Some(&format!("{}/Procfile", overlay_dir(&svc.name))),
            );
        }
        if app.healthcheck.is_some() || app.autoscaling.is_some() {
            set_property(
                p,
                ctx,
                name,
                cur,
                "app-json",
                "appjson-path",
                Some(&format!("{}/app.json", overlay_dir(&svc.name))),
            );
        }
    }

    // Networks: the primary one at container creation (so `--network-alias` applies), the
    // second right after creation, before the checks. Dokku's `TriggerPostContainerCreate`
    // (plugins/network/triggers.go) connects only the first network `attach-post-create`
    // names, while `TriggerCorePostDeploy` connects every network of `attach-post-deploy` to
    // the running containers: the third and later networks go there. Dokku stores and reports
    // several values joined by `,`, the form compared and set here.
    // The primary network is the one every consumer shares (`Planner::primary`).
    let mut networks: Vec<&NetworkName> = app.networks.iter().collect();
    if let Some(first) = p.primary.get(&svc.name) {
        networks.sort_by_key(|n| *n != first);
    }
    if let Some((primary, rest)) = networks.split_first() {
        runtime_changed |= set_property(
            p,
            ctx,
            name,
            cur,
            "network",
            "initial-network",
            Some(primary.as_str()),
        );
        let post_create = rest.first().map(|n| n.as_str());
        let post_deploy: Vec<&str> = rest.iter().skip(1).map(|n| n.as_str()).collect();
        // Cleared first, so that a network moving from one attach list to the other never
        // trips Dokku's "already associated" check.
        for (key, want) in [
            (
                "attach-post-deploy",
                (!post_deploy.is_empty()).then(|| post_deploy.join(",")),
            ),
            ("attach-post-create", post_create.map(str::to_owned)),
        ] {
            if want.is_none() {
                runtime_changed |= clear_property(p, ctx, name, cur, "network", key);
            }
        }
        runtime_changed |= set_property(
            p,
            ctx,
            name,
            cur,
            "network",
            "attach-post-create",
            post_create,
        );
        if !post_deploy.is_empty() {
            runtime_changed |= set_property(
                p,
                ctx,
                name,
                cur,
                "network",
                "attach-post-deploy",
                Some(&post_deploy.join(",")),
            );
        }
    }

    // Docker options: network aliases first, then the container-shaping options.
    let mut options: Vec<(&str, String)> = Vec::new();
    if !app.networks.is_empty() {
        // Rendered through the typed option; an alias it cannot carry (refused by the model)
        // is rendered as written so the plan check (`Policy::check_plan`) refuses it too.
        options.extend(app.aliases.iter().map(|a| {
            let option = DockerOpt::new(Flag::NetworkAlias, a.as_str())
                .map_or_else(|_| format!("--network-alias {a}"), |o| o.render());
            ("deploy", option)
        }));
    }
    options.extend(
        app.docker_options
            .iter()
            .map(|o| (o.phase, o.option.clone())),
    );
    // Options this stack added before and no longer wants are removed; others' are left alone.
    let managed_options: Vec<String> = options.iter().map(|(ph, o)| format!("{ph} {o}")).collect();
    let previous: Vec<String> = cur
        .config
        .get(OPTIONS_VAR)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    for old in previous.iter().filter(|o| !managed_options.contains(o)) {
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
        p.push(
            Some(ctx),
            &format!("docker-options-remove/{phase}/{option}"),
            Action::RemoveDockerOption {
                app: name.to_owned(),
                phase: phase.to_owned(),
                option: option.to_owned(),
            },
            Cmd::dokku(["docker-options:remove", name, phase, option]),
            format!("{phase} option `{option}` is no longer in the compose file"),
            undo(vec![Cmd::dokku([
                "docker-options:add",
                name,
                phase,
                option,
            ])]),
        );
        runtime_changed = true;
    }
    for (phase, option) in options {
        if cur
            .docker_options
            .get(phase)
            .is_some_and(|have| have.contains(&option))
        {
            continue;
        }
        p.push(
            Some(ctx),
            &format!("docker-options/{phase}/{option}"),
            Action::AddDockerOption {
                app: name.to_owned(),
                phase: phase.to_owned(),
                option: option.clone(),
            },
            Cmd::dokku(["docker-options:add", name, phase]).arg(option.clone()),
            format!("{phase} option `{option}` is missing"),
            undo(vec![
                Cmd::dokku(["docker-options:remove", name, phase]).arg(option.clone())
            ]),
        );
        runtime_changed = true;
    }

    // Storage.
    let mut wanted_mounts: BTreeSet<String> = BTreeSet::new();
    for m in k3s::mounts(p, project, &svc.name, &app.mounts).iter() {
        let (key, cmd) = match m {
            Mount::Entry {
                name: entry,
                target,
                read_only,
                ..
            } => {
                let mut c = Cmd::dokku([
                    "storage:mount",
                    name,
                    entry.as_str(),
                    "--container-dir",
                    target.as_str(),
                ]);
                if *read_only {
                    c = c.arg("--volume-readonly");
                }
                (mount_key(Some(entry.as_str()), "", target, *read_only), c)
            }
            Mount::HostPath {
                source,
                target,
                read_only,
                ..
            } => {
                let spec = format!("{source}:{target}{}", if *read_only { ":ro" } else { "" });
                (
                    mount_key(None, source, target, *read_only),
                    Cmd::dokku(["storage:mount", name, spec.as_str()]),
                )
            }
        };
        wanted_mounts.insert(key.clone());
        if cur.mounts.contains(&key) {
            continue;
        }
        let mut un = cmd.clone();
        un.args[0] = "storage:unmount".into();
        un.args.retain(|a| a != "--volume-readonly");
        p.push(
            Some(ctx),
            &format!("mount/{key}"),
            Action::Mount {
                app: name.to_owned(),
                mount: key.clone(),
            },
            cmd,
            format!("mount `{key}` is missing"),
            undo(vec![un]),
        );
        runtime_changed = true;
    }

    // Secret files: mounted read-only from the stack's secrets directory; the executor writes
    // them before the plan runs. Their fingerprint in config restarts the app on a change.
    let secrets_dir = settings
        .secrets_dir
        .clone()
        .unwrap_or_else(|| format!("/var/lib/dokku/data/compose/{}/secrets", project.stack));
    let mut secret_fps: Vec<String> = Vec::new();
    for use_ in &app.secrets {
        let crate::model::SecretDelivery::File(target) = &use_.delivery else {
            continue;
        };
        secret_value(settings, &svc.name, &use_.name)?;
        secret_fps.push(format!(
            "{}:{target}={}",
            use_.name,
            settings
                .secret_fingerprints
                .get(&use_.name)
                .map_or("?", String::as_str)
        ));
        let host = format!("{secrets_dir}/{name}/{}", use_.name);
        let key = mount_key(None, &host, target, true);
        wanted_mounts.insert(key.clone());
        if cur.mounts.contains(&key) {
            continue;
        }
        let spec = format!("{host}:{target}:ro");
        p.push(
            Some(ctx),
            &format!("secret/{}", use_.name),
            Action::Mount {
                app: name.to_owned(),
                mount: key.clone(),
            },
            Cmd::dokku(["storage:mount", name, spec.as_str()]),
            format!("secret `{}` is not mounted at `{target}`", use_.name),
            undo(vec![Cmd::dokku(["storage:unmount", name, spec.as_str()])]),
        );
        runtime_changed = true;
    }

    // Mounts this stack made before and no longer wants are unmounted (issue 15 item 17);
    // others' are left alone.
    let made: Vec<String> = cur
        .config
        .get(MOUNTS_VAR)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    for old in made
        .iter()
        .filter(|m| !wanted_mounts.contains(*m) && cur.mounts.contains(*m))
    {
        let Some((un, back)) = unmount_cmds(name, old) else {
            continue;
        };
        p.push(
            Some(ctx),
            &format!("unmount/{old}"),
            Action::Unmount {
                app: name.to_owned(),
                mount: old.clone(),
            },
            un,
            format!("mount `{old}` is no longer in the compose file"),
            undo(vec![back]),
        );
        runtime_changed = true;
    }

    // Proxy and ports.
    let mut want_ports: Vec<String> = app
        .ports
        .iter()
        .map(|pt| format!("{}:{}:{}", pt.scheme, pt.host, pt.container))
        .collect();
    want_ports.sort();
    want_ports.dedup();
    if want_ports.is_empty() {
        if cur.proxy_enabled {
            p.push(
                Some(ctx),
                "proxy/disable",
                Action::SetProxy {
                    app: name.to_owned(),
                    enabled: false,
                },
                Cmd::dokku(["proxy:disable", name]),
                "the service publishes no port".into(),
                undo(vec![Cmd::dokku(["proxy:enable", name])]),
            );
        }
    } else {
        if !cur.proxy_enabled {
            p.push(
                Some(ctx),
                "proxy/enable",
                Action::SetProxy {
                    app: name.to_owned(),
                    enabled: true,
                },
                Cmd::dokku(["proxy:enable", name]),
                "the service publishes ports".into(),
                undo(vec![Cmd::dokku(["proxy:disable", name])]),
            );
        }
        // Let's Encrypt adds `http:80:<port>` (for the challenge) and `https:443:<port>` maps
        // itself: they belong to the desired state, are no difference, and a `ports:set` made
        // for another reason keeps them (issue 15 item 4), while they point at a container
        // port the stack still serves.
        let stack_le = project.settings.letsencrypt && !svc.settings.letsencrypt_given;
        let le = svc.settings.letsencrypt || stack_le || cur.letsencrypt;
        let served: BTreeSet<&str> = want_ports
            .iter()
            .filter_map(|m| m.rsplit(':').next())
            .collect();
        let le_added = |m: &String| {
            le && !want_ports.contains(m)
                && (m.starts_with("https:443:") || m.starts_with("http:80:"))
                && m.rsplit(':').next().is_some_and(|c| served.contains(c))
        };
        let have: Vec<String> = cur.ports.iter().filter(|m| !le_added(m)).cloned().collect();
        if have != want_ports {
            let back = if cur.ports.is_empty() {
                Cmd::dokku(["ports:clear", name])
            } else {
                cur.ports
                    .iter()
                    .fold(Cmd::dokku(["ports:set", name]), |c, m| c.arg(m.clone()))
            };
            let mut set: Vec<String> = want_ports
                .iter()
                .cloned()
                .chain(cur.ports.iter().filter(|m| le_added(m)).cloned())
                .collect();
            set.sort();
            set.dedup();
            p.push(
                Some(ctx),
                "ports",
                Action::SetPorts {
                    app: name.to_owned(),
                    ports: set.clone(),
                },
                set.iter()
                    .fold(Cmd::dokku(["ports:set", name]), |c, m| c.arg(m.clone())),
                format!(
                    "port maps are `{}`, want `{}`",
                    cur.ports.join(" "),
                    want_ports.join(" ")
                ),
                undo(vec![back]),
            );
        }
    }
    let patterned: Vec<String>;
    let domains = if svc.settings.domains.is_empty()
        && (!app.ports.is_empty() || svc.settings.proxy_port.is_some())
    {
        patterned = settings
            .domain_pattern
            .iter()
            .map(|p| p.replace("{service}", svc.name.as_str()))
            .collect();
        &patterned
    } else {
        &svc.settings.domains
    };
    if !domains.is_empty() && &cur.domains != domains {
        let back = if cur.domains.is_empty() {
            Cmd::dokku(["domains:clear", name])
        } else {
            cur.domains
                .iter()
                .fold(Cmd::dokku(["domains:set", name]), |c, d| c.arg(d.clone()))
        };
        p.push(
            Some(ctx),
            "domains",
            Action::SetDomains {
                app: name.to_owned(),
                domains: domains.clone(),
            },
            domains
                .iter()
                .fold(Cmd::dokku(["domains:set", name]), |c, d| c.arg(d.clone())),
            format!(
                "domains are `{}`, want `{}`",
                cur.domains.join(" "),
                domains.join(" ")
            ),
            undo(vec![back]),
        );
    }

    // Resources.
    for (which, res) in [("limit", &app.limits), ("reserve", &app.reservations)] {
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
        if p.k3s.is_k3s(&svc.name) {
            want = k3s::resource_values(res);
        }
        let have: BTreeMap<String, String> = cur
            .resources
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&format!("{which}:"))
                    .map(|r| (r.to_owned(), v.clone()))
            })
            .collect();
        if want.is_empty() || want.iter().all(|(k, v)| have.get(k) == Some(v)) {
            continue;
        }
        let command = format!("resource:{which}");
        let cmd = want
            .iter()
            .fold(Cmd::dokku([command.as_str()]), |c, (k, v)| {
                c.flag(&format!("--{k}"), v.clone())
            })
            .arg(name);
        let back = if have.is_empty() {
            Cmd::dokku([format!("resource:{which}-clear"), name.to_owned()])
        } else {
            have.iter()
                .fold(Cmd::dokku([command.as_str()]), |c, (k, v)| {
                    c.flag(&format!("--{k}"), v.clone())
                })
                .arg(name)
        };
        p.push(
            Some(ctx),
            &format!("resource/{which}"),
            Action::Resources {
                app: name.to_owned(),
                which: which.to_owned(),
                values: want.clone(),
            },
            cmd,
            format!("resource {which}s differ"),
            undo(vec![back]),
        );
        runtime_changed = true;
    }

    // Process settings.
    runtime_changed |= set_property(
        p,
        ctx,
        name,
        cur,
        "ps",
        "restart-policy",
        app.restart_policy.as_deref(),
    );
    runtime_changed |= set_property(
        p,
        ctx,
        name,
        cur,
        "ps",
        "stop-timeout-seconds",
        app.stop_timeout.map(|s| s.to_string()).as_deref(),
    );
    let max_size = svc
        .settings
        .log_max_size
        .as_deref()
        .or(app.log_max_size.as_deref());
    runtime_changed |= set_property(p, ctx, name, cur, "logs", "max-size", max_size);
    // Log collection: the vector sink is read by Dokku's log shipper, not by the container.
    set_property(
        p,
        ctx,
        name,
        cur,
        "logs",
        "vector-sink",
        svc.settings.log_vector_sink.as_deref(),
    );
    // Let's Encrypt: the service's own setting, else the stack's for every service with
    // domains; Dokku's `letsencrypt:enable` needs an e-mail, checked here when the host was read.
    let letsencrypt = if svc.settings.letsencrypt_given {
        svc.settings.letsencrypt
    } else {
        svc.settings.letsencrypt || (project.settings.letsencrypt && !domains.is_empty())
    };
    if letsencrypt {
        if domains.is_empty() {
            return Err(PlanError::Letsencrypt {
                service: svc.name.clone(),
                missing:
                    "domains (`x-dokku.services.<svc>.domains`, or the `domain-pattern` property)"
                        .into(),
            });
        }
        let have_email = project.settings.letsencrypt_email.is_some()
            || cur.properties.contains_key("letsencrypt:email");
        if !have_email && p.state.letsencrypt_global_email.as_deref() == Some("") {
            return Err(PlanError::Letsencrypt { service: svc.name.clone(), missing: "an e-mail (`x-dokku.letsencrypt_email`, or `dokku letsencrypt:set --global email <address>`)".into() });
        }
        set_property(
            p,
            ctx,
            name,
            cur,
            "letsencrypt",
            "email",
            project.settings.letsencrypt_email.as_deref(),
        );
    }
    let one_shot = svc.settings.state == ExpectedState::OneShot;
    let count = if one_shot { Some(0) } else { app.replicas };
    if let Some(n) = count {
        let have = cur.scale.get(PROCESS).copied();
        if have != Some(n) {
            let back = format!("{PROCESS}={}", have.unwrap_or(1));
            p.push(
                Some(ctx),
                "scale",
                Action::Scale {
                    app: name.to_owned(),
                    process: PROCESS.into(),
                    count: n,
                },
                Cmd::dokku(["ps:scale", "--skip-deploy", name]).arg(format!("{PROCESS}={n}")),
                format!(
                    "{PROCESS} scale is {}, want {n}",
                    have.map_or("unset".into(), |h| h.to_string())
                ),
                undo(vec![
                    Cmd::dokku(["ps:scale", "--skip-deploy", name]).arg(back)
                ]),
            );
            runtime_changed = true;
        }
    }

    // Datastore links.
    for link in app.links.values() {
        let linked = p
            .state
            .datastores
            .get(link.plugin)
            .and_then(|m| m.get(link.datastore.as_str()))
            .is_some_and(|apps| apps.contains(name));
        if linked {
            continue;
        }
        let mut cmd = Cmd::dokku([
            format!("{}:link", link.plugin),
            link.datastore.to_string(),
            name.to_owned(),
            "--no-restart".into(),
        ]);
        if let Some(a) = &link.alias {
            cmd = cmd.flag("--alias", a.clone());
        }
        p.push(
            Some(ctx),
            &format!("link/{}", link.datastore),
            Action::Link {
                plugin: link.plugin.to_owned(),
                datastore: link.datastore.to_string(),
                app: name.to_owned(),
            },
            cmd,
            format!(
                "`{name}` is not linked to {} service `{}`",
                link.plugin, link.datastore
            ),
            undo(vec![Cmd::dokku([
                format!("{}:unlink", link.plugin),
                link.datastore.to_string(),
                name.to_owned(),
                "--no-restart".into(),
            ])]),
        );
        runtime_changed = true;
    }

    // Config: the environment, the list of managed keys, and the build-context digest.
    let context = build_context(&svc.name, app, &settings.source_key(app));
    let Stdin::Archive { digest, .. } = &context else {
        unreachable!("build_context returns an archive")
    };
    let digest = digest.clone();
    let mut want: BTreeMap<String, (String, bool)> = app
        .env
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (
                    v.value.clone(),
                    v.secret && !project.settings.plain.contains(k),
                ),
            )
        })
        .collect();
    for use_ in &app.secrets {
        if let crate::model::SecretDelivery::Env(var) = &use_.delivery {
            let value = secret_value(settings, &svc.name, &use_.name)?
                .unwrap_or_else(|| crate::dokku::cmd::MASK.to_owned());
            want.insert(var.clone(), (value, true));
        }
    }
    let mut managed: Vec<&str> = app.env.keys().map(String::as_str).collect();
    managed.extend(app.secrets.iter().filter_map(|u| match &u.delivery {
        crate::model::SecretDelivery::Env(v) => Some(v.as_str()),
        crate::model::SecretDelivery::File(_) => None,
    }));
    managed.sort_unstable();
    managed.dedup();
    if !secret_fps.is_empty() {
        // Masked: even keyed, a fingerprint is not for printing.
        want.insert(SECRETS_VAR.into(), (secret_fps.join(";"), true));
    }
    want.insert(KEYS_VAR.into(), (managed.join(","), false));
    want.insert(DIGEST_VAR.into(), (digest.clone(), false));
    want.insert(
        OPTIONS_VAR.into(),
        (
            serde_json::to_string(&managed_options).expect("strings serialise"),
            false,
        ),
    );
    if !wanted_mounts.is_empty() || cur.config.contains_key(MOUNTS_VAR) {
        want.insert(
            MOUNTS_VAR.into(),
            (
                serde_json::to_string(&wanted_mounts).expect("strings serialise"),
                false,
            ),
        );
    }
    let route = p.routes.get(&svc.name).cloned();
    if let Some((_, _, d)) = &route {
        want.insert(PATHS_VAR.into(), (d.clone(), false));
    }
    let to_set: Vec<(&String, &(String, bool))> = want
        .iter()
        .filter(|(k, (v, _))| cur.config.get(*k) != Some(v))
        .collect();
    if !to_set.is_empty() {
        let values: BTreeMap<String, String> = to_set
            .iter()
            .map(|(k, (v, _))| ((*k).clone(), v.clone()))
            .collect();
        let secret: BTreeSet<String> = to_set
            .iter()
            .filter(|(_, (_, s))| *s)
            .map(|(k, _)| (*k).clone())
            .collect();
        let cmd = set_config(name, values, secret);
        let mut back = Vec::new();
        let old: BTreeMap<String, String> = to_set
            .iter()
            .filter_map(|(k, _)| cur.config.get_key_value(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !old.is_empty() {
            // The previous values, masked by the same classification as the new ones.
            let keys = old
                .iter()
                .filter(|(k, v)| {
                    want.get(*k).is_some_and(|(_, s)| *s)
                        || crate::model::env_is_secret(k, v, &project.settings.plain)
                })
                .map(|(k, _)| k.clone())
                .collect();
            back.push(set_config(name, old, keys));
        }
        let new: Vec<&String> = to_set
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !cur.config.contains_key(*k))
            .collect();
        if !new.is_empty() {
            back.push(new.iter().fold(
                Cmd::dokku(["config:unset", "--no-restart", name]),
                |c, k| c.arg((*k).clone()),
            ));
        }
        let keys: Vec<String> = to_set.iter().map(|(k, _)| (*k).clone()).collect();
        let env_changed = keys.iter().any(|k| {
            k != DIGEST_VAR
                && k != KEYS_VAR
                && k != OPTIONS_VAR
                && k != PATHS_VAR
                && k != MOUNTS_VAR
        });
        // SECRETS_VAR counts: a changed secret file is only seen by a restarted container.
        runtime_changed |= env_changed;
        p.push(
            Some(ctx),
            "config",
            Action::SetConfig {
                app: name.to_owned(),
                keys: keys.clone(),
            },
            cmd,
            format!("config differs in {}", keys.join(", ")),
            undo(back),
        );
    }
    let previously: BTreeSet<&str> = cur
        .config
        .get(KEYS_VAR)
        .map(|k| k.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut gone: Vec<&str> = previously
        .into_iter()
        .filter(|k| !want.contains_key(*k) && cur.config.contains_key(*k))
        .collect();
    // Paths removed from the compose file: the include goes too (step `paths` below).
    let paths_gone = route.is_none() && cur.config.contains_key(PATHS_VAR);
    if paths_gone {
        gone.push(PATHS_VAR);
    }
    if !gone.is_empty() {
        let old: BTreeMap<String, String> = gone
            .iter()
            .map(|k| ((*k).to_owned(), cur.config[*k].clone()))
            .collect();
        let keys = old.keys().cloned().collect();
        let back = set_config(name, old, keys);
        p.push(
            Some(ctx),
            "config-unset",
            Action::UnsetConfig {
                app: name.to_owned(),
                keys: gone.iter().map(|k| (*k).to_owned()).collect(),
            },
            gone.iter().fold(
                Cmd::dokku(["config:unset", "--no-restart", name]),
                |c, k| c.arg(*k),
            ),
            format!("{} no longer in the compose file", gone.join(", ")),
            undo(vec![back]),
        );
        runtime_changed |= gone.iter().any(|k| *k != PATHS_VAR);
    }

    // Deploy, or restart so that settings changed above take effect.
    let deploy = !cur.deployed || cur.config.get(DIGEST_VAR) != Some(&digest);
    if deploy {
        let reason = if cur.deployed {
            "the build context changed".to_owned()
        } else {
            format!("`{name}` has not been deployed")
        };
        // The undo redeploys the build context of the running release, which the executor
        // saved when it deployed it; the executor runs it after every setting is restored.
        let back = match (cur.deployed, cur.config.get(DIGEST_VAR)) {
            (true, Some(old)) => undo(vec![Cmd::dokku(["git:from-archive", "--archive-type", "tar", name, "--"])
                .with_stdin(Stdin::Saved { app: name.to_owned(), digest: old.clone() })]),
            (true, None) => irreversible("the running release was not deployed by dokku-compose, so its build context is unknown"),
            (false, _) if existing.is_none() => irreversible("the app is new: a rollback destroys it"),
            (false, _) => irreversible("the app had no deployed release to go back to"),
        };
        p.push(
            Some(ctx),
            "deploy",
            Action::Deploy {
                app: name.to_owned(),
                digest: digest.clone(),
            },
            Cmd::dokku(["git:from-archive", "--archive-type", "tar", name, "--"])
                .with_stdin(context),
            reason,
            back,
        );
    } else if runtime_changed || restart_with.is_some() {
        let reason = match restart_with {
            Some(d) if !runtime_changed => {
                format!("`{d}` was redeployed and `depends_on.{d}.restart` is true")
            }
            _ => "settings changed without a new build".into(),
        };
        // A rollback restarts the app again once its settings are restored.
        p.push(
            Some(ctx),
            "restart",
            Action::Restart {
                app: name.to_owned(),
            },
            Cmd::dokku(["ps:restart", name]),
            reason,
            undo(vec![Cmd::dokku(["ps:restart", name])]),
        );
    } else if cur.deployed && !cur.running && !one_shot && count != Some(0) {
        // Stopped by hand (`ps:stop`): the stack says it runs (issue 15 item 17).
        p.push(
            Some(ctx),
            "start",
            Action::Restart {
                app: name.to_owned(),
            },
            Cmd::dokku(["ps:start", name]),
            format!("`{name}` is deployed but stopped"),
            undo(vec![Cmd::dokku(["ps:stop", name])]),
        );
    }
    paths_step(p, ctx, name, cur, route.as_ref(), paths_gone);
    if one_shot && deploy {
        let command = app
            .command
            .clone()
            .ok_or_else(|| PlanError::OneShotWithoutCommand {
                service: svc.name.clone(),
            })?;
        let cmd = command
            .into_iter()
            .fold(Cmd::dokku(["run", "--no-tty", name]), Cmd::arg);
        p.push(
            Some(ctx),
            "run",
            Action::RunOnce {
                app: name.to_owned(),
            },
            cmd,
            "one-shot job of this deploy (x-dokku.state: one-shot)".into(),
            irreversible("a job that ran cannot be un-run"),
        );
    }
    if letsencrypt && !cur.letsencrypt {
        p.push(
            Some(ctx),
            "letsencrypt",
            Action::EnableLetsencrypt {
                app: name.to_owned(),
            },
            Cmd::dokku(["letsencrypt:enable", name]),
            "x-dokku.letsencrypt is true and no certificate is active".into(),
            undo(vec![Cmd::dokku(["letsencrypt:disable", name])]),
        );
    }
    Ok(())
}

/// Sets config values of `app`: `config:set` when none is secret (the plan shows them),
/// else `config:import` with the values on stdin, so that no secret is in any argv.
fn set_config(app: &str, values: BTreeMap<String, String>, secret: BTreeSet<String>) -> Cmd {
    if secret.is_empty() {
        values.iter().fold(
            Cmd::dokku(["config:set", "--no-restart", app]),
            |c, (k, v)| c.arg(format!("{k}={v}")),
        )
    } else {
        Cmd::config_import(app, values, secret)
    }
}

/// `storage:unmount` for a mount key (see [`mount_key`]) and the `storage:mount` that puts it
/// back: `entry:<name>:<target>[:ro]` or `<host>:<target>[:ro]`.
fn unmount_cmds(app: &str, key: &str) -> Option<(Cmd, Cmd)> {
    let (spec, ro) = match key.strip_suffix(":ro") {
        Some(s) => (s, true),
        None => (key, false),
    };
    if let Some(rest) = spec.strip_prefix("entry:") {
        let (entry, target) = rest.split_once(':')?;
        let un = Cmd::dokku(["storage:unmount", app, entry, "--container-dir", target]);
        let mut back = Cmd::dokku(["storage:mount", app, entry, "--container-dir", target]);
        if ro {
            back = back.arg("--volume-readonly");
        }
        return Some((un, back));
    }
    let (host, target) = spec.split_once(':')?;
    let mount = format!("{host}:{target}{}", if ro { ":ro" } else { "" });
    Some((
        Cmd::dokku(["storage:unmount", app, mount.as_str()]),
        Cmd::dokku(["storage:mount", app, mount.as_str()]),
    ))
}

/// Path routing (issue 7, docs/routing.md): the executor writes the include (and copies the
/// static directories) just before `proxy:build-config` regenerates the app's nginx config;
/// the undo puts the previous include back (executor) and builds the config again. Planned
/// when the include's digest differs from `PATHS_VAR`, after the deploy so that the app's
/// own nginx config exists.
fn paths_step(
    p: &mut Planner<'_>,
    ctx: &Ctx<'_>,
    name: &str,
    cur: &AppState,
    route: Option<&(crate::routing::Include, String, String)>,
    gone: bool,
) {
    let (content, digest, statics, reason) = match route {
        Some((inc, text, d)) if cur.config.get(PATHS_VAR) != Some(d) => {
            let reason = if cur.config.contains_key(PATHS_VAR) {
                "the paths' nginx include changed"
            } else {
                "the paths' nginx include is not installed"
            };
            (text.clone(), d.clone(), inc.statics.clone(), reason)
        }
        None if gone => (
            String::new(),
            String::new(),
            Vec::new(),
            "`paths` left the compose file: the nginx include is removed",
        ),
        _ => return,
    };
    p.push(
        Some(ctx),
        "paths",
        Action::SetNginxInclude {
            app: name.to_owned(),
            digest,
            content,
            statics,
        },
        Cmd::dokku(["proxy:build-config", name]),
        reason.into(),
        undo(vec![Cmd::dokku(["proxy:build-config", name])]),
    );
}
