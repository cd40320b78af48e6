//! One app (a compose service that is not a datastore): one module per concern, each a
//! function of the desired state ([`App`]: the service, its model and the settings) and the
//! live state (`App::cur`, the app as Dokku reports it) that pushes the steps closing the
//! difference. [`steps`] runs them in apply order through [`Concerns`], whose default
//! methods are the docker-local mapping: a scheduler that maps a concern differently
//! implements [`Concerns`] and overrides that concern's method only.

use std::borrow::Cow;

use super::{PlanError, PlanSettings, Route, Steps};
use crate::dokku::Stdin;
use crate::model::{AppSpec, ExpectedState, NetworkName, Project, Service, ServiceName};
use crate::state::{AppState, DokkuState};

pub(crate) mod build;
pub(crate) mod config;
pub(crate) mod deploy;
pub(crate) mod docker_options;
pub(crate) mod domains;
pub(crate) mod letsencrypt;
pub(crate) mod links;
pub(crate) mod networks;
pub(crate) mod paths;
pub(crate) mod ports;
pub(crate) mod process;
pub(crate) mod resources;
pub(crate) mod storage;

/// Desired and live state of one app: everything a concern reads.
pub(crate) struct App<'a> {
    /// The Dokku app name.
    pub(crate) name: &'a str,
    /// The compose service.
    pub(crate) svc: &'a Service,
    /// Its app model.
    pub(crate) spec: &'a AppSpec,
    /// The project (stack-wide settings).
    pub(crate) project: &'a Project,
    /// The planning run's settings.
    pub(crate) settings: &'a PlanSettings,
    /// The host (datastore links, the global Let's Encrypt e-mail).
    pub(crate) state: &'a DokkuState,
    /// The app as Dokku reports it; the default state when it does not exist.
    pub(crate) cur: &'a AppState,
    /// Whether the app exists.
    pub(crate) exists: bool,
    /// The network it is created on when it is on several (`stack::primary_networks`).
    pub(crate) primary: Option<&'a NetworkName>,
    /// Its path routing, when it has `paths`.
    pub(crate) route: Option<&'a Route>,
    /// A dependency this plan replaces whose `depends_on.<x>.restart` is true.
    pub(crate) restart_with: Option<&'a ServiceName>,
}

impl App<'_> {
    /// `x-dokku.state: one-shot`: a job run once per deploy, scaled to 0.
    pub(crate) fn one_shot(&self) -> bool {
        self.svc.settings.state == ExpectedState::OneShot
    }

    /// The `web` scale the app should have, if the compose file says.
    pub(crate) fn count(&self) -> Option<u32> {
        if self.one_shot() {
            Some(0)
        } else {
            self.spec.replicas
        }
    }
}

/// The mapping of each concern of an app to steps, in the order [`steps`] runs them. The
/// default methods are the docker-local mapping; `bool` results say whether the running
/// containers must restart for the change to take effect.
pub(crate) trait Concerns {
    /// `apps:create` when the app is missing.
    fn create(&self, a: &App<'_>, out: &mut Steps<'_>) {
        build::create(a, out);
    }
    /// The scheduler the compose file names (`x-dokku.scheduler`).
    fn scheduler(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        super::k3s::app_steps(a, false, out)
    }
    /// How the image is built (builder, Dockerfile, Procfile and app.json paths).
    fn build(&self, a: &App<'_>, out: &mut Steps<'_>) {
        build::steps(a, out);
    }
    /// `networks`.
    fn networks(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        networks::steps(a, out)
    }
    /// Network aliases and the container-shaping docker options.
    fn docker_options(&self, a: &App<'_>, out: &mut Steps<'_>) -> docker_options::Managed {
        docker_options::steps(a, out)
    }
    /// `volumes` and secret files.
    fn storage(&self, a: &App<'_>, out: &mut Steps<'_>) -> Result<storage::Mounts, PlanError> {
        storage::steps(a, out)
    }
    /// `ports` and the proxy.
    fn ports(&self, a: &App<'_>, out: &mut Steps<'_>) {
        ports::steps(a, out);
    }
    /// `x-dokku.services.<svc>.domains` (or the domain pattern); returns the domains.
    fn domains<'a>(&self, a: &App<'a>, out: &mut Steps<'_>) -> Cow<'a, [String]> {
        domains::steps(a, out)
    }
    /// Resource limits and reservations.
    fn resources(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        resources::steps(a, out)
    }
    /// Restart policy, stop timeout and logs.
    fn process(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        process::steps(a, out)
    }
    /// Whether Let's Encrypt is wanted (checked against its prerequisites) and its e-mail.
    fn letsencrypt(
        &self,
        a: &App<'_>,
        domains: &[String],
        out: &mut Steps<'_>,
    ) -> Result<bool, PlanError> {
        letsencrypt::steps(a, domains, out)
    }
    /// `replicas` / `scale`.
    fn scale(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        process::scale(a, out)
    }
    /// Datastore links.
    fn links(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        links::steps(a, out)
    }
    /// `environment`, env secrets and the stack's bookkeeping config vars.
    fn config(
        &self,
        a: &App<'_>,
        managed: &config::Managed<'_>,
        out: &mut Steps<'_>,
    ) -> Result<config::Changes, PlanError> {
        config::steps(a, managed, out)
    }
    /// Deploy the build context, or restart or start the app; true when it deploys.
    fn deploy(&self, a: &App<'_>, archive: Stdin, changed: bool, out: &mut Steps<'_>) -> bool {
        deploy::steps(a, archive, changed, out)
    }
    /// `x-dokku.services.<svc>.paths`: the nginx include.
    fn paths(&self, a: &App<'_>, gone: bool, out: &mut Steps<'_>) {
        paths::steps(a, gone, out);
    }
    /// The one-shot job of this deploy.
    fn run_once(&self, a: &App<'_>, deployed: bool, out: &mut Steps<'_>) -> Result<(), PlanError> {
        deploy::run_once(a, deployed, out)
    }
    /// `letsencrypt:enable` once deployed.
    fn enable_letsencrypt(&self, a: &App<'_>, wanted: bool, out: &mut Steps<'_>) {
        letsencrypt::enable(a, wanted, out);
    }
}

/// The docker-local scheduler: every concern mapped by its default.
pub(crate) struct DockerLocal;

impl Concerns for DockerLocal {}

/// Dokku's k3s scheduler (issue 21, docs/multi-server.md): the namespace and registry
/// settings, host paths through hostPath-backed storage entries, resources in Kubernetes
/// units; the rest as docker-local (what k3s cannot honour is refused by
/// [`super::k3s::check`] before planning).
pub(crate) struct K3s;

impl Concerns for K3s {
    fn scheduler(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        super::k3s::app_steps(a, true, out)
    }
    /// Nothing: scheduler-k3s ignores an app's `network:set` properties (its pods are in the
    /// stack's namespace, reached through the plugin's Services), so setting them would only
    /// cost Dokku calls.
    fn networks(&self, _: &App<'_>, _: &mut Steps<'_>) -> bool {
        false
    }
    /// The container-shaping options only: `--network-alias` is a Docker network's, which
    /// the pods are not on (their names are the plugin's Services).
    fn docker_options(&self, a: &App<'_>, out: &mut Steps<'_>) -> docker_options::Managed {
        let spec = AppSpec {
            networks: Vec::new(),
            ..a.spec.clone()
        };
        docker_options::steps(&App { spec: &spec, ..*a }, out)
    }
    fn storage(&self, a: &App<'_>, out: &mut Steps<'_>) -> Result<storage::Mounts, PlanError> {
        match super::k3s::mounts(a.project, &a.spec.mounts) {
            Cow::Borrowed(_) => storage::steps(a, out),
            Cow::Owned(mounts) => {
                let spec = AppSpec {
                    mounts,
                    ..a.spec.clone()
                };
                storage::steps(&App { spec: &spec, ..*a }, out)
            }
        }
    }
    fn resources(&self, a: &App<'_>, out: &mut Steps<'_>) -> bool {
        resources::steps_with(a, super::k3s::resource_values, out)
    }
}

/// The concerns of the scheduler the app runs on: the one place a scheduler-specific
/// mapping is chosen.
pub(crate) fn concerns(on_k3s: bool) -> &'static dyn Concerns {
    if on_k3s {
        &K3s
    } else {
        &DockerLocal
    }
}

/// The steps of app `a`, concern by concern in apply order.
pub(crate) fn steps(c: &dyn Concerns, a: &App<'_>, out: &mut Steps<'_>) -> Result<(), PlanError> {
    c.create(a, out);
    let mut changed = c.scheduler(a, out);
    c.build(a, out);
    changed |= c.networks(a, out);
    let options = c.docker_options(a, out);
    changed |= options.changed;
    let mounts = c.storage(a, out)?;
    changed |= mounts.changed;
    c.ports(a, out);
    let domains = c.domains(a, out);
    changed |= c.resources(a, out);
    changed |= c.process(a, out);
    let letsencrypt = c.letsencrypt(a, &domains, out)?;
    changed |= c.scale(a, out);
    changed |= c.links(a, out);
    let archive = crate::plan::build_context(&a.svc.name, a.spec, &a.settings.source_key(a.spec));
    let Stdin::Archive { digest, .. } = &archive else {
        unreachable!("build_context returns an archive")
    };
    let managed = config::Managed {
        options: &options.managed,
        mounts: &mounts.wanted,
        secret_fingerprints: &mounts.secret_fingerprints,
        digest,
    };
    let config = c.config(a, &managed, out)?;
    changed |= config.changed;
    let deployed = c.deploy(a, archive, changed, out);
    c.paths(a, config.paths_gone, out);
    c.run_once(a, deployed, out)?;
    c.enable_letsencrypt(a, letsencrypt, out);
    Ok(())
}
