//! The domain model of one compose service after conversion: what the planner reads.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::names::{AppName, DatastoreName, NetworkName, ServiceName, StorageName};
use super::xdokku::ServiceSettings;

/// A rule of the security policy that a compose setting needs (docs/mapping.md "Policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyRule {
    /// `privileged: true`.
    Privileged,
    /// A dangerous capability in `cap_add`.
    CapAdd,
    /// `devices`, `device_cgroup_rules`.
    Devices,
    /// `network_mode`/`pid`/`ipc`/`uts`/`userns_mode`/`cgroup` set to `host`.
    HostNamespaces,
    /// A bind mount of an absolute host path.
    HostPath,
    /// The Docker socket, by bind mount or `use_api_socket`.
    DockerSocket,
    /// `security_opt` that weakens confinement (unconfined, label=disable …).
    SecurityOpt,
    /// `sysctls`.
    Sysctls,
    /// A custom nginx location using directives outside the allow-list (issue #13).
    NginxCustom,
    /// A deploy hook that runs on the Dokku host (`# dokku-compose: host`).
    HostHooks,
}

impl PolicyRule {
    /// Every rule, for help texts and parsing.
    pub(crate) const ALL: [PolicyRule; 10] = [
        PolicyRule::Privileged,
        PolicyRule::CapAdd,
        PolicyRule::Devices,
        PolicyRule::HostNamespaces,
        PolicyRule::HostPath,
        PolicyRule::DockerSocket,
        PolicyRule::SecurityOpt,
        PolicyRule::Sysctls,
        PolicyRule::NginxCustom,
        PolicyRule::HostHooks,
    ];

    /// The name used by `--allow` and the stored policy.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PolicyRule::Privileged => "privileged",
            PolicyRule::CapAdd => "cap-add",
            PolicyRule::Devices => "devices",
            PolicyRule::HostNamespaces => "host-namespaces",
            PolicyRule::HostPath => "host-path",
            PolicyRule::DockerSocket => "docker-socket",
            PolicyRule::SecurityOpt => "security-opt",
            PolicyRule::Sysctls => "sysctls",
            PolicyRule::NginxCustom => "nginx-custom",
            PolicyRule::HostHooks => "host-hooks",
        }
    }

    /// Parses a rule name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// One compose service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// The compose name.
    pub name: ServiceName,
    /// What it becomes on Dokku.
    pub kind: Kind,
    /// Ordering edges from `depends_on`.
    pub depends_on: BTreeMap<ServiceName, Dependency>,
    /// Ordering edges from `links`, `volumes_from`, `network_mode`/`ipc`/`pid: service:x`.
    pub other_edges: BTreeMap<ServiceName, String>,
    /// Settings from `x-dokku`.
    pub settings: ServiceSettings,
}

/// A `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    /// Whether the dependency must exist.
    pub required: bool,
    /// Whether the dependent restarts with it.
    pub restart: bool,
}

/// What a service becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// A Dokku app.
    App(Box<AppSpec>),
    /// A managed datastore service.
    Datastore(Box<DatastoreSpec>),
}

/// A datastore service (`<plugin>:create`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatastoreSpec {
    /// The plugin (`postgres`).
    pub plugin: &'static str,
    /// The service name on Dokku.
    pub name: DatastoreName,
    /// `--image` for a non-default repository.
    pub image: Option<String>,
    /// `--image-version` from the tag.
    pub version: Option<String>,
    /// The user the compose service declared (only used to rewrite references).
    pub declared_user: Option<String>,
    /// The password it declared: passed on as `--password`.
    pub password: Option<String>,
    /// The compose secret whose value is the password (`<KEY>_FILE` pointing at where the
    /// service mounts it); the planner reads its value.
    pub password_secret: Option<String>,
    /// The root password it declared: `--root-password`.
    pub root_password: Option<String>,
    /// The compose secret whose value is the root password (`<KEY>_FILE`).
    pub root_password_secret: Option<String>,
    /// The database it declared (only used to rewrite references).
    pub declared_database: Option<String>,
    /// Server flags from the compose `command`: `--config-options`.
    pub config_options: Option<String>,
    /// Other environment: `--custom-env`.
    pub custom_env: BTreeMap<String, String>,
    /// Host names compose would resolve to it: the service name and its network aliases.
    pub hosts: BTreeSet<String>,
    /// The network it joins first (`--initial-network`).
    pub network: Option<NetworkName>,
}

/// A Dokku app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppSpec {
    /// The app name.
    pub app: AppName,
    /// Where the image comes from.
    pub source: Source,
    /// `command` as an exec-form list.
    pub command: Option<Vec<String>>,
    /// `entrypoint` as an exec-form list.
    pub entrypoint: Option<Vec<String>>,
    /// `working_dir`.
    pub working_dir: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `healthcheck`, unless disabled.
    pub healthcheck: Option<Healthcheck>,
    /// Config vars: the environment after datastore rewriting.
    pub env: BTreeMap<String, EnvVar>,
    /// Datastore links.
    pub links: BTreeMap<ServiceName, Link>,
    /// Published ports.
    pub ports: Vec<Port>,
    /// Ports docker publishes on the host itself (each also a `-p` docker option).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<Published>,
    /// Networks, the primary one first.
    pub networks: Vec<NetworkName>,
    /// Names this service answers to on its primary network (service name + aliases).
    pub aliases: BTreeSet<String>,
    /// Storage mounts.
    pub mounts: Vec<Mount>,
    /// Files baked into the generated build context: path in the image -> source.
    pub files: BTreeMap<String, FileSource>,
    /// Compose `secrets` the service uses.
    pub secrets: Vec<SecretUse>,
    /// `ps:scale` count of the process.
    pub replicas: Option<u32>,
    /// The key path `replicas` came from (`services.<svc>.deploy.replicas` or `.scale`).
    #[serde(skip)]
    pub replicas_path: Option<String>,
    /// `resource:limit`.
    pub limits: Resources,
    /// `resource:reserve`.
    pub reservations: Resources,
    /// `ps:set restart-policy`.
    pub restart_policy: Option<String>,
    /// `ps:set stop-timeout-seconds`.
    pub stop_timeout: Option<u64>,
    /// `logs:set max-size`.
    pub log_max_size: Option<String>,
    /// `docker-options:add` options, by phase.
    pub docker_options: Vec<DockerOption>,
    /// app.json `formation.web.autoscaling` (KEDA; k3s only, `x-dokku.services.<svc>.autoscaling`).
    pub autoscaling: Option<super::k3s::Autoscaling>,
}

/// How the image is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// `FROM <image>` in a generated build context.
    Image {
        /// The image reference.
        image: String,
    },
    /// A build context in the pushed source.
    Build(Build),
}

/// A `build:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Build {
    /// Context directory relative to the project directory (`.` for the root).
    pub context: String,
    /// Dockerfile path relative to the context.
    pub dockerfile: String,
    /// `--target`.
    pub target: Option<String>,
    /// `--build-arg`s (values may be secret-free by convention; they are shown).
    pub args: BTreeMap<String, String>,
}

/// A config var.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// The value.
    pub value: String,
    /// Whether it is masked in output ([`super::secret::env_is_secret`]).
    pub secret: bool,
}

/// A link to a datastore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The plugin.
    pub plugin: &'static str,
    /// The datastore service.
    pub datastore: DatastoreName,
    /// `--alias`, when the dependent's variable name asks for one.
    pub alias: Option<String>,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    /// `http`, `https`, `grpc` …
    pub scheme: String,
    /// Host (proxy) port.
    pub host: u16,
    /// Container port.
    pub container: u16,
}

/// A port docker publishes on the host (`-p [ip:]host:container[/udp]`): tcp/udp and
/// address-bound ports, which the HTTP proxy does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The host address it is bound to (`None`: every address).
    pub ip: Option<String>,
    /// Host port.
    pub host: u16,
    /// Container port.
    pub container: u16,
    /// UDP (else TCP).
    pub udp: bool,
}

/// A storage mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mount {
    /// A named storage entry (`storage:create` + `storage:mount <app> <name> --container-dir`).
    Entry {
        /// The entry.
        name: StorageName,
        /// Mount point.
        target: String,
        /// Read-only.
        read_only: bool,
        /// Source-relative directory to seed a new entry from.
        seed_from: Option<String>,
    },
    /// A host path (`storage:mount <app> /host:/target[:ro]`), only with policy `host-path`.
    HostPath {
        /// Absolute host path.
        source: String,
        /// Mount point.
        target: String,
        /// Read-only.
        read_only: bool,
        /// The compose key path it came from.
        path: String,
    },
}

/// A file baked into the generated build context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FileSource {
    /// Copied from the pushed source (path relative to the project directory).
    Source {
        /// The path.
        path: String,
    },
    /// Inline content (`configs.<x>.content`).
    Content {
        /// The text.
        content: String,
    },
}

/// `resource:limit`/`resource:reserve` values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// CPUs as written (`0.5`).
    pub cpu: Option<String>,
    /// Memory in megabytes.
    pub memory_mb: Option<u64>,
    /// Memory+swap in megabytes.
    pub memory_swap_mb: Option<u64>,
}

/// A `docker-options:add` option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DockerOption {
    /// `build`, `deploy` or `run`.
    pub phase: &'static str,
    /// The option string (`--shm-size 67108864`).
    pub option: String,
    /// The compose key path it came from.
    pub path: String,
    /// The policy rule it needs, if any.
    pub rule: Option<PolicyRule>,
}

/// A health check for app.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// Exec-form command (`CMD-SHELL x` becomes `/bin/sh -c x`).
    pub command: Vec<String>,
    /// Seconds between attempts (`wait`).
    pub interval: Option<u64>,
    /// Seconds per attempt.
    pub timeout: Option<u64>,
    /// Attempts.
    pub retries: Option<u64>,
    /// Seconds before the first attempt.
    pub start_period: Option<u64>,
}

impl Service {
    /// The app spec, if the service is an app.
    pub(crate) fn app(&self) -> Option<&AppSpec> {
        match &self.kind {
            Kind::App(a) => Some(a),
            Kind::Datastore(_) => None,
        }
    }

    /// The datastore spec, if the service is a datastore.
    pub(crate) fn datastore(&self) -> Option<&DatastoreSpec> {
        match &self.kind {
            Kind::Datastore(d) => Some(d.as_ref()),
            Kind::App(_) => None,
        }
    }
}

/// A compose secret a service uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretUse {
    /// The top-level secret (`secrets.<name>`).
    pub name: String,
    /// Where it goes: a file path in the container, or (delivered as environment) the variable.
    pub delivery: SecretDelivery,
}

/// How a secret reaches a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretDelivery {
    /// A read-only file at this container path.
    File(String),
    /// An environment variable of this name (`x-dokku.services.<svc>.secrets: env`).
    Env(String),
}
