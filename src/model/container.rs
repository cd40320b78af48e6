//! Container shaping through docker options (`docker-options:add`, docker-local; see
//! docs/mapping.md for k3s): `stop_signal`, `shm_size`, `init`, `read_only`, `privileged`,
//! `tmpfs`, `extra_hosts`, `ulimits`, `cap_add`/`cap_drop`, `devices`,
//! `device_cgroup_rules`, `security_opt`, `sysctls`, the namespace modes, `dns*`,
//! `group_add`, the CPU and memory knobs. Each option is a typed (flag, value) pair checked
//! against the flag's grammar ([`super::docker_opt`]) before it is rendered.

use super::ctx::Ctx;
use super::docker_opt::{DockerOpt, Flag};
use super::error::ModelError;
use super::service::DockerOption;
use crate::compose::types::{
    self, set, Device, ExtraHosts, HostAddresses, Opt, Scalar, StringOrList, Sysctls, Ulimit,
};

/// The docker options of one service, each refused with its key path when it is not one safe
/// word of its flag's grammar.
pub(super) struct Opts {
    pub(super) base: String,
    pub(super) list: Vec<DockerOption>,
}

impl Opts {
    pub(super) fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            list: Vec::new(),
        }
    }

    /// Adds `flag value` from the key at `<base>.<key>`.
    pub(super) fn add(
        &mut self,
        key: &str,
        flag: Flag,
        value: Option<&str>,
    ) -> Result<(), ModelError> {
        let path = format!("{}.{key}", self.base);
        self.add_at(path, flag, value)
    }

    /// Adds `flag value` from the key at `path`.
    pub(super) fn add_at(
        &mut self,
        path: String,
        flag: Flag,
        value: Option<&str>,
    ) -> Result<(), ModelError> {
        let typed = match value {
            Some(v) => DockerOpt::new(flag, v),
            None => DockerOpt::bare(flag),
        };
        let typed = typed.map_err(|problem| carried(path.clone(), &problem, flag.name()))?;
        self.list.push(DockerOption {
            phase: flag.phase(),
            option: typed.render(),
            path,
            rule: typed.rule(),
        });
        Ok(())
    }
}

/// The refusal of a value a docker option cannot carry.
pub(super) fn carried(path: String, problem: &dyn std::fmt::Display, flag: &str) -> ModelError {
    ModelError::Rejected {
        path,
        reason: format!(
            "{problem}; it becomes the docker option `{flag}`, and Dokku splits stored docker options into words, so a value that is not one word of that form could add docker flags of its own"
        ),
    }
}

/// A string-or-list key as `(key path, value)` pairs: `key` for a string, `key[i]` for items.
fn items(v: &Opt<StringOrList>, key: &str) -> Vec<(String, String)> {
    match set(v) {
        Some(StringOrList::One(s)) => vec![(key.to_owned(), s.clone())],
        Some(StringOrList::Many(a)) => a
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((format!("{key}[{i}]"), v.as_ref()?.text())))
            .collect(),
        None => Vec::new(),
    }
}

/// Every container-shaping key of the service, in this order.
pub(super) fn container_options(
    ctx: &mut Ctx<'_>,
    raw: &types::Service,
    opts: &mut Opts,
) -> Result<(), ModelError> {
    process_flags(raw, opts)?;
    extra_hosts(raw, opts)?;
    ulimits(raw, opts)?;
    privileges(raw, opts)?;
    namespaces(ctx, raw, opts)?;
    for (key, flag, v) in [
        ("dns", Flag::Dns, &raw.dns),
        ("dns_opt", Flag::DnsOption, &raw.dns_opt),
        ("dns_search", Flag::DnsSearch, &raw.dns_search),
        ("group_add", Flag::GroupAdd, &raw.group_add),
    ] {
        for (k, v) in items(v, key) {
            opts.add(&k, flag, Some(&v))?;
        }
    }
    for (key, flag, v) in [
        ("cpu_shares", Flag::CpuShares, &raw.cpu_shares),
        ("cpu_quota", Flag::CpuQuota, &raw.cpu_quota),
        ("cpu_period", Flag::CpuPeriod, &raw.cpu_period),
        ("cpuset", Flag::CpusetCpus, &raw.cpuset),
        (
            "mem_swappiness",
            Flag::MemorySwappiness,
            &raw.mem_swappiness,
        ),
        ("oom_score_adj", Flag::OomScoreAdj, &raw.oom_score_adj),
        ("pids_limit", Flag::PidsLimit, &raw.pids_limit),
    ] {
        if let Some(v) = set(v) {
            opts.add(key, flag, Some(&v.text()))?;
        }
    }
    Ok(())
}

/// `stop_signal`, `shm_size`, `init`, `read_only`, `privileged`, `tmpfs`.
fn process_flags(raw: &types::Service, opts: &mut Opts) -> Result<(), ModelError> {
    if let Some(sig) = set(&raw.stop_signal) {
        opts.add("stop_signal", Flag::StopSignal, Some(&sig.text()))?;
    }
    if let Some(sz) = set(&raw.shm_size) {
        let text = sz.bytes().map_or_else(|| sz.text(), |b| b.to_string());
        opts.add("shm_size", Flag::ShmSize, Some(&text))?;
    }
    for (key, flag, v) in [
        ("init", Flag::Init, &raw.init),
        ("read_only", Flag::ReadOnly, &raw.read_only),
        ("privileged", Flag::Privileged, &raw.privileged),
    ] {
        if set(v) == Some(&true) {
            opts.add(key, flag, None)?;
        }
    }
    for (key, t) in items(&raw.tmpfs, "tmpfs") {
        opts.add(&key, Flag::Tmpfs, Some(&t))?;
    }
    Ok(())
}

/// `extra_hosts`, as a list (`host=ip`, `host:ip`) or a mapping (host -> ip or ips).
fn extra_hosts(raw: &types::Service, opts: &mut Opts) -> Result<(), ModelError> {
    match set(&raw.extra_hosts) {
        Some(ExtraHosts::List(a)) => {
            for (i, h) in a.iter().enumerate() {
                let h = h.text();
                let (host, ip) = h
                    .split_once('=')
                    .or_else(|| h.split_once(':'))
                    .unwrap_or((&h, ""));
                opts.add(
                    &format!("extra_hosts[{i}]"),
                    Flag::AddHost,
                    Some(&format!("{host}:{ip}")),
                )?;
            }
        }
        Some(ExtraHosts::Map(m)) => {
            for (host, ips) in m {
                let ips: Vec<(String, &Scalar)> = match ips {
                    HostAddresses::Many(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("extra_hosts.{host}[{i}]"), v))
                        .collect(),
                    HostAddresses::One(v) => vec![(format!("extra_hosts.{host}"), v)],
                };
                for (key, ip) in ips {
                    let value = format!("{host}:{}", ip.text());
                    opts.add(&key, Flag::AddHost, Some(&value))?;
                }
            }
        }
        None => {}
    }
    Ok(())
}

/// `ulimits`: a number (soft = hard) or `{soft, hard}` per limit.
fn ulimits(raw: &types::Service, opts: &mut Opts) -> Result<(), ModelError> {
    for (k, v) in set(&raw.ulimits).into_iter().flatten() {
        let val = match v {
            Ulimit::Single(n) => format!("{n}:{n}"),
            Ulimit::Pair(p) => format!("{}:{}", limit_text(&p.soft), limit_text(&p.hard)),
        };
        opts.add(
            &format!("ulimits.{k}"),
            Flag::Ulimit,
            Some(&format!("{k}={val}")),
        )?;
    }
    Ok(())
}

/// A `soft`/`hard` limit as text: empty when absent, `null` when written so (which the
/// `--ulimit` grammar refuses).
fn limit_text(v: &Opt<Scalar>) -> String {
    match v {
        None => String::new(),
        Some(None) => "null".to_owned(),
        Some(Some(s)) => s.text(),
    }
}

/// `cap_add`, `cap_drop`, `devices`, `device_cgroup_rules`, `security_opt`, `sysctls`.
fn privileges(raw: &types::Service, opts: &mut Opts) -> Result<(), ModelError> {
    for (key, cap) in items(&raw.cap_add, "cap_add") {
        opts.add(&key, Flag::CapAdd, Some(&cap))?;
    }
    for (key, cap) in items(&raw.cap_drop, "cap_drop") {
        opts.add(&key, Flag::CapDrop, Some(&cap))?;
    }
    for (i, d) in set(&raw.devices).into_iter().flatten().enumerate() {
        let spec = match d {
            Device::Spec(s) => s.clone(),
            Device::Long(d) => {
                let s = d.source.as_deref().unwrap_or_default();
                let t = d.target.as_deref().unwrap_or(s);
                let p = d.permissions.as_deref().unwrap_or("rwm");
                format!("{s}:{t}:{p}")
            }
        };
        opts.add(&format!("devices[{i}]"), Flag::Device, Some(&spec))?;
    }
    for (key, r) in items(&raw.device_cgroup_rules, "device_cgroup_rules") {
        opts.add(&key, Flag::DeviceCgroupRule, Some(&r))?;
    }
    for (key, s) in items(&raw.security_opt, "security_opt") {
        opts.add(&key, Flag::SecurityOpt, Some(&s))?;
    }
    match set(&raw.sysctls) {
        Some(Sysctls::Map(m)) => {
            for (k, v) in m {
                opts.add(
                    &format!("sysctls.{k}"),
                    Flag::Sysctl,
                    Some(&format!("{k}={}", v.text())),
                )?;
            }
        }
        Some(Sysctls::List(a)) => {
            for (i, s) in a.iter().enumerate() {
                opts.add(&format!("sysctls[{i}]"), Flag::Sysctl, Some(&s.text()))?;
            }
        }
        None => {}
    }
    Ok(())
}

/// `network_mode`, `pid`, `ipc`, `uts`, `userns_mode`, `cgroup`: `service:x` is a graph edge
/// (warned here), `container:x` is refused, the rest a docker option.
fn namespaces(ctx: &mut Ctx<'_>, raw: &types::Service, opts: &mut Opts) -> Result<(), ModelError> {
    let base = opts.base.clone();
    for (key, flag, v) in [
        ("network_mode", Flag::Network, &raw.network_mode),
        ("pid", Flag::Pid, &raw.pid),
        ("ipc", Flag::Ipc, &raw.ipc),
        ("uts", Flag::Uts, &raw.uts),
        ("userns_mode", Flag::Userns, &raw.userns_mode),
        ("cgroup", Flag::Cgroupns, &raw.cgroup),
    ] {
        match set(v).and_then(Scalar::as_str) {
            Some(m) if m.starts_with("service:") => ctx.warn(format!("{base}.{key}"), "shared namespaces become an ordering edge; the service gets its own namespace on Dokku"),
            Some(m) if m.starts_with("container:") => {
                return Err(ModelError::Rejected { path: format!("{base}.{key}"), reason: "containers outside the stack cannot be referenced".into() })
            }
            Some("bridge" | "default" | "private") | None => {}
            Some(m) => opts.add(key, flag, Some(m))?,
        }
    }
    Ok(())
}
