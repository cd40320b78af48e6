//! The key-by-key support table (style R5): every top-level and service key of the compose
//! spec with its treatment. The converter consults it for every key it meets, so nothing is
//! dropped silently, and `tests/plan_support.rs` checks it against docs/compose-support.md and
//! the spec checklist in ../shared/compose-corpus/README.md.

/// How a compose key is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Carried over; the text names the Dokku mechanism.
    Mapped(&'static str),
    /// Accepted with a warning; the text says why it has no Dokku meaning.
    Warned(&'static str),
    /// Refused; the text says why.
    Rejected(&'static str),
    /// Refused unless the security policy allows the named rule; the text names the mapping.
    Policy(&'static str, &'static str),
}

impl Support {
    /// The treatment word used in docs/compose-support.md.
    pub fn word(self) -> &'static str {
        match self {
            Support::Mapped(_) => "mapped",
            Support::Warned(_) => "warned",
            Support::Rejected(_) => "rejected",
            Support::Policy(..) => "policy",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct KeyRule {
    /// The key as written in the compose file.
    pub key: &'static str,
    /// Its treatment.
    pub support: Support,
}

const fn m(key: &'static str, how: &'static str) -> KeyRule {
    KeyRule {
        key,
        support: Support::Mapped(how),
    }
}
const fn w(key: &'static str, why: &'static str) -> KeyRule {
    KeyRule {
        key,
        support: Support::Warned(why),
    }
}
const fn r(key: &'static str, why: &'static str) -> KeyRule {
    KeyRule {
        key,
        support: Support::Rejected(why),
    }
}
const fn p(key: &'static str, rule: &'static str, how: &'static str) -> KeyRule {
    KeyRule {
        key,
        support: Support::Policy(rule, how),
    }
}

/// Top-level keys.
pub const TOP_LEVEL_KEYS: &[KeyRule] = &[
    m(
        "version",
        "obsolete; dropped by the loader with its warning",
    ),
    m("name", "project name; the stack name comes from `--stack`"),
    m("include", "resolved by the loader"),
    m("services", "one Dokku app or datastore service each"),
    w("models", "AI model runners have no Dokku equivalent"),
    m(
        "networks",
        "`network:create <stack>-<network>`; external networks are attached by name",
    ),
    m(
        "volumes",
        "`storage:create <stack>-<volume>` + `storage:mount`",
    ),
    m(
        "secrets",
        "definitions used by service `secrets` (see there)",
    ),
    m(
        "configs",
        "definitions used by service `configs` (see there)",
    ),
    m("x-dokku", "stack settings (docs/mapping.md \"x-dokku\")"),
    m(
        "x-*",
        "extension fields (the user's anchors); not Dokku settings except `x-dokku`",
    ),
];

/// Service keys.
pub const SERVICE_KEYS: &[KeyRule] = &[
    w("develop", "`compose watch` is a local development feature"),
    m("deploy", "replicas -> `ps:scale`, resources -> `resource:limit`/`resource:reserve`, restart_policy -> `ps:set restart-policy`; other fields warned"),
    w("annotations", "OCI annotations are not set on Dokku containers"),
    w("attach", "log attachment is a `compose up` client setting"),
    m("build", "build from the context in the pushed source: `builder:set build-dir`, `builder-dockerfile:set dockerfile-path`, `docker-options:add build --build-arg/--target`"),
    w("blkio_config", "block-IO limits have no Dokku resource setting"),
    p("cap_add", "cap-add", "`docker-options:add deploy --cap-add` (harmless capabilities need no policy)"),
    m("cap_drop", "`docker-options:add deploy --cap-drop`"),
    p("cgroup", "host-namespaces", "`docker-options:add deploy --cgroupns`"),
    r("cgroup_parent", "placing containers in a host cgroup escapes Dokku's resource management"),
    m("command", "`CMD` of the generated Dockerfile (image services) or the Procfile (build services)"),
    m("configs", "copied into the generated build context at the target path"),
    w("container_name", "Dokku names containers `<app>.<proc>.<n>`"),
    w("cpu_count", "Windows only"),
    w("cpu_percent", "Windows only"),
    m("cpu_shares", "`docker-options:add deploy --cpu-shares`"),
    m("cpu_quota", "`docker-options:add deploy --cpu-quota`"),
    m("cpu_period", "`docker-options:add deploy --cpu-period`"),
    w("cpu_rt_period", "real-time scheduling needs host privileges Dokku does not grant"),
    w("cpu_rt_runtime", "real-time scheduling needs host privileges Dokku does not grant"),
    m("cpus", "`resource:limit --cpu`"),
    m("cpuset", "`docker-options:add deploy --cpuset-cpus`"),
    w("credential_spec", "Windows only"),
    m("depends_on", "service graph order; health-gated via the deploy order"),
    p("device_cgroup_rules", "devices", "`docker-options:add deploy --device-cgroup-rule`"),
    p("devices", "devices", "`docker-options:add deploy --device`"),
    m("dns", "`docker-options:add deploy --dns`"),
    m("dns_opt", "`docker-options:add deploy --dns-option`"),
    m("dns_search", "`docker-options:add deploy --dns-search`"),
    w("domainname", "Dokku sets container host names"),
    m("entrypoint", "`ENTRYPOINT` of the generated Dockerfile, or `docker-options:add deploy --entrypoint` for build services"),
    m("env_file", "resolved by the loader into `environment`"),
    m("label_file", "resolved by the loader into `labels`"),
    m("environment", "`config:set --no-restart`, batched per app; datastore references rewritten"),
    m("expose", "internal only: reachable on the stack network, no proxy"),
    m("extends", "resolved by the loader"),
    r("provider", "external providers run outside Docker; Dokku cannot manage them"),
    w("external_links", "containers outside the stack are not managed; use x-dokku or a datastore link"),
    m("extra_hosts", "`docker-options:add deploy --add-host`"),
    w("gpus", "use `resource:limit --nvidia-gpu` by hand; device requests are host specific"),
    m("group_add", "`docker-options:add deploy --group-add`"),
    m("healthcheck", "app.json `healthchecks` in the generated build context"),
    w("hostname", "Dokku sets container host names"),
    m("image", "deployed through a generated build context (`FROM <image>`) with `git:from-archive`; datastore images become `<plugin>:create`"),
    m("init", "`docker-options:add deploy --init`"),
    p("ipc", "host-namespaces", "`docker-options:add deploy --ipc`"),
    w("isolation", "Windows only"),
    w("labels", "Dokku manages container labels"),
    m("links", "service graph edge; names resolve on the stack network"),
    m("logging", "json-file `max-size` -> `logs:set max-size`; other drivers warned"),
    w("mac_address", "MAC addresses are assigned by Docker"),
    m("mem_limit", "`resource:limit --memory`"),
    m("mem_reservation", "`resource:reserve --memory`"),
    m("mem_swappiness", "`docker-options:add deploy --memory-swappiness`"),
    m("memswap_limit", "`resource:limit --memory-swap`"),
    p("network_mode", "host-namespaces", "`service:x` is a graph edge; `host` -> `docker-options:add deploy --network host`; `none` -> `--network none`"),
    w("models", "AI model runners have no Dokku equivalent"),
    m("networks", "`network:set initial-network` / `attach-post-create`, aliases via `--network-alias`"),
    r("oom_kill_disable", "disabling the OOM killer can take the whole host down"),
    m("oom_score_adj", "`docker-options:add deploy --oom-score-adj`"),
    p("pid", "host-namespaces", "`docker-options:add deploy --pid`"),
    m("pids_limit", "`docker-options:add deploy --pids-limit`"),
    w("platform", "Dokku builds for the host platform"),
    m("ports", "`ports:set <app> http:<published>:<target>`; no published port -> `proxy:disable`"),
    w("post_start", "lifecycle hooks are not supported by Dokku"),
    w("pre_stop", "lifecycle hooks are not supported by Dokku"),
    p("privileged", "privileged", "`docker-options:add deploy --privileged`"),
    m("profiles", "resolved by the loader (inactive services are absent)"),
    m("pull_policy", "`build` is implied by `build:`; other values: images are pulled by the build when absent"),
    w("pull_refresh_after", "Dokku pulls images at build time only"),
    m("read_only", "`docker-options:add deploy --read-only`"),
    m("restart", "`ps:set restart-policy`"),
    w("runtime", "Dokku uses the host's default OCI runtime"),
    m("scale", "`ps:scale`"),
    p("security_opt", "security-opt", "`docker-options:add deploy --security-opt` (no-new-privileges needs no policy)"),
    m("shm_size", "`docker-options:add deploy --shm-size`"),
    m("secrets", "files under the target (default `/run/secrets/<name>`) mounted read-only (`storage:mount`) from a directory only the dokku user can read; with `x-dokku.services.<svc>.secrets: env`, `config:set` of `<NAME>` instead (masked)"),
    p("sysctls", "sysctls", "`docker-options:add deploy --sysctl`"),
    w("stdin_open", "Dokku containers run detached"),
    m("stop_grace_period", "`ps:set stop-timeout-seconds`"),
    m("stop_signal", "`docker-options:add deploy --stop-signal`"),
    w("storage_opt", "storage driver options are host specific"),
    m("tmpfs", "`docker-options:add deploy --tmpfs`"),
    w("tty", "Dokku containers run detached"),
    m("ulimits", "`docker-options:add deploy --ulimit`"),
    p("use_api_socket", "docker-socket", "`storage:mount <app> /var/run/docker.sock:/var/run/docker.sock`"),
    m("user", "`USER` of the generated Dockerfile, or `docker-options:add deploy --user` for build services"),
    p("uts", "host-namespaces", "`docker-options:add deploy --uts`"),
    p("userns_mode", "host-namespaces", "`docker-options:add deploy --userns`"),
    m("volumes", "named -> `storage:create` + `storage:mount`; relative binds -> persistent storage seeded from the source, or baked in when read-only; absolute paths need policy `host-path`"),
    m("volumes_from", "service graph edge; the other service's storage entries are mounted too"),
    m("working_dir", "`WORKDIR` of the generated Dockerfile, or `docker-options:add deploy --workdir` for build services"),
    m("x-dokku", "per-service settings (docs/mapping.md \"x-dokku\")"),
    m("x-*", "extension fields (the user's anchors); not Dokku settings except `x-dokku`"),
];

/// The service table indexed by key, built once (the converter looks up every key of every
/// service).
fn service_index() -> &'static std::collections::HashMap<&'static str, Support> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, Support>> =
        std::sync::OnceLock::new();
    INDEX.get_or_init(|| SERVICE_KEYS.iter().map(|r| (r.key, r.support)).collect())
}

/// Looks a service key up.
pub(crate) fn service_key(key: &str) -> Option<Support> {
    service_index().get(key).copied()
}

/// Looks a top-level key up.
pub(crate) fn top_level_key(key: &str) -> Option<Support> {
    TOP_LEVEL_KEYS
        .iter()
        .find(|r| r.key == key)
        .map(|r| r.support)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        for table in [TOP_LEVEL_KEYS, SERVICE_KEYS] {
            let mut keys: Vec<_> = table.iter().map(|r| r.key).collect();
            keys.sort_unstable();
            let before = keys.len();
            keys.dedup();
            assert_eq!(before, keys.len());
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(service_key("privileged").map(Support::word), Some("policy"));
        assert_eq!(service_key("nope"), None);
        assert_eq!(top_level_key("models").map(Support::word), Some("warned"));
    }
}
