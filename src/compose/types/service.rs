//! [`Service`] and its long-syntax parts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::runtime::{
    nullable, Deploy, Device, ExtraHosts, Logging, Opt, Other, Scalar, StringOrList, Sysctls,
    Ulimit,
};

/// One service, in the long syntax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// The image reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// How to build the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// The command (`null` when the image's is used).
    #[serde(default, deserialize_with = "exec_form")]
    pub command: Option<Vec<String>>,
    /// The entrypoint (`null` when the image's is used).
    #[serde(default, deserialize_with = "exec_form")]
    pub entrypoint: Option<Vec<String>>,
    /// The container environment (`null`: a name without a value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    /// Container labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Published ports, one per container port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Ports exposed without publishing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// Mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    /// Start-order dependencies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    /// Networks joined (`null`: default settings).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    /// Secrets granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    /// Configs granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
    /// The health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// The restart policy (`no`, `always`, `on-failure[:n]`, `unless-stopped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Profiles the service belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// The process count.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub scale: Opt<serde_json::Number>,
    /// The CPU limit.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cpus: Opt<Scalar>,
    /// The memory limit, in bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub mem_limit: Opt<Scalar>,
    /// The memory + swap limit, in bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub memswap_limit: Opt<Scalar>,
    /// The memory reservation, in bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub mem_reservation: Opt<Scalar>,
    /// The stop timeout (a Go duration).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub stop_grace_period: Opt<Scalar>,
    /// The stop signal.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub stop_signal: Opt<Scalar>,
    /// The size of `/dev/shm`, in bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub shm_size: Opt<Scalar>,
    /// The `deploy` section.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub deploy: Opt<Deploy>,
    /// The logging driver and options.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub logging: Opt<Logging>,
    /// Extra `/etc/hosts` entries.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub extra_hosts: Opt<ExtraHosts>,
    /// Resource limits, by name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub ulimits: Opt<BTreeMap<String, Ulimit>>,
    /// Host devices.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub devices: Opt<Vec<Device>>,
    /// Kernel parameters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub sysctls: Opt<Sysctls>,
    /// The working directory.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub working_dir: Opt<Scalar>,
    /// The user (name or uid).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub user: Opt<Scalar>,
    /// Whether the Docker socket is mounted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub use_api_socket: Opt<bool>,
    /// The network mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub network_mode: Opt<Scalar>,
    /// The relative CPU weight.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cpu_shares: Opt<Scalar>,
    /// The CFS quota, in microseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cpu_quota: Opt<Scalar>,
    /// The CFS period, in microseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cpu_period: Opt<Scalar>,
    /// The CPUs the container may use.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cpuset: Opt<Scalar>,
    /// The swappiness (the reference prints a string).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub mem_swappiness: Opt<Scalar>,
    /// The OOM score adjustment.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub oom_score_adj: Opt<Scalar>,
    /// The process count limit.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub pids_limit: Opt<Scalar>,
    /// Whether an init process runs as PID 1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub init: Opt<bool>,
    /// Whether the root filesystem is read-only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub read_only: Opt<bool>,
    /// Whether the container is privileged.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub privileged: Opt<bool>,
    /// tmpfs mounts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub tmpfs: Opt<StringOrList>,
    /// Capabilities added.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cap_add: Opt<StringOrList>,
    /// Capabilities dropped.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cap_drop: Opt<StringOrList>,
    /// Device cgroup rules.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub device_cgroup_rules: Opt<StringOrList>,
    /// Security options.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub security_opt: Opt<StringOrList>,
    /// DNS servers.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub dns: Opt<StringOrList>,
    /// DNS resolver options.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub dns_opt: Opt<StringOrList>,
    /// DNS search domains.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub dns_search: Opt<StringOrList>,
    /// Extra groups.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub group_add: Opt<StringOrList>,
    /// Links to other services (`service[:alias]`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub links: Opt<Vec<Option<Scalar>>>,
    /// Services (or containers) whose volumes are mounted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub volumes_from: Opt<Vec<Option<Scalar>>>,
    /// The PID namespace mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub pid: Opt<Scalar>,
    /// The IPC namespace mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub ipc: Opt<Scalar>,
    /// The UTS namespace mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub uts: Opt<Scalar>,
    /// The user namespace mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub userns_mode: Opt<Scalar>,
    /// The cgroup namespace mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub cgroup: Opt<Scalar>,
    /// The container host name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub hostname: Opt<Scalar>,
    /// The container name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub container_name: Opt<Scalar>,
    /// Every other key, verbatim.
    #[serde(flatten)]
    pub other: Other,
    /// Service-level `x-*` keys (`x-dokku`). The reference's JSON leaves them out, so they are
    /// not serialised with the service; [`super::Project::to_stored_json`] writes them.
    #[serde(skip)]
    pub extensions: Other,
}

/// `build` in the long syntax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// The absolute context directory (or a remote URL).
    pub context: String,
    /// The Dockerfile, relative to the context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build arguments (`null`: a name without a value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Option<String>>,
    /// The build stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// An inline Dockerfile.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub dockerfile_inline: Opt<Scalar>,
    /// Whether the build runs privileged.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub privileged: Opt<bool>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// `ingress` or `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// The container port.
    pub target: u32,
    /// The host port or range, as written.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub published: Option<String>,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The application protocol (`http`, `grpc`…).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub app_protocol: Opt<Scalar>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// A mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, `npipe`, `cluster` or `image`.
    #[serde(rename = "type", default = "volume_kind")]
    pub kind: String,
    /// The host path or volume name (absent for anonymous volumes and tmpfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The container path.
    pub target: String,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Every other key (bind, volume, tmpfs options…).
    #[serde(flatten)]
    pub other: Other,
}

/// A `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    #[serde(default = "started")]
    pub condition: String,
    /// Whether the dependency must exist.
    #[serde(default = "yes")]
    pub required: bool,
    /// Restart this service when the dependency restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// A service's settings on one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetwork {
    /// Extra names on the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The order the networks are joined in (highest first).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub priority: Opt<serde_json::Number>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

/// A secret or config granted to a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    /// The project secret or config key.
    pub source: String,
    /// Where it appears in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Every other key (uid, gid, mode).
    #[serde(flatten)]
    pub other: Other,
}

/// A health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// The test (`["CMD", …]`, `["CMD-SHELL", "…"]`, `["NONE"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Disables the image's check.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub disable: Opt<bool>,
    /// Time between checks (a Go duration).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub interval: Opt<Scalar>,
    /// Time a check may take (a Go duration).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub timeout: Opt<Scalar>,
    /// Failures before unhealthy.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub retries: Opt<serde_json::Number>,
    /// Grace period after start (a Go duration).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub start_period: Opt<Scalar>,
    /// Time between checks in the start period (a Go duration).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub start_interval: Opt<Scalar>,
    /// Every other key.
    #[serde(flatten)]
    pub other: Other,
}

fn volume_kind() -> String {
    "volume".to_owned()
}

fn started() -> String {
    "service_started".to_owned()
}

fn yes() -> bool {
    true
}

/// A published port as text: the reference prints a string, hand-written JSON may hold a
/// number.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "must be a port or a range, not {other}"
        ))),
    }
}

/// `command`/`entrypoint`: a list, or (in hand-written JSON) a string split into shell words
/// as compose splits it.
fn exec_form<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    use serde::de::Error as _;
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => shell_words::split(&s).map(Some).map_err(|e| {
            D::Error::custom(format!(
                "`{}` is not a valid command line: {e}",
                s.escape_debug()
            ))
        }),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|_| D::Error::custom("must be a string or a list of strings")),
    }
}
