//! Typed docker options: every `docker-options:add` value the stack emits is a (flag, value)
//! pair checked against a grammar for its flag, and rendered to the stored string here only.
//!
//! How Dokku (0.38) turns a stored option into `docker run`/`docker build` arguments:
//! `docker-options:add` (plugins/docker-options `CommandAdd` -> `SplitOptionString`) splits
//! the option into shell words without expanding anything (mvdan.cc/sh `WordsSeq`, quotes
//! removed), starts a new stored option at every word that begins with `-` and is longer
//! than one character (`groupOptionTokens`), re-quotes each word with single quotes when it
//! holds a shell-special character (`joinShellTokens`/`quoteShellArg`) and stores the options
//! sorted, one a line. At deploy and build the docker-args triggers print the stored options
//! of the phase joined with spaces (`emitFilteredOptions`), and the scheduler or builder
//! splits the whole string with `xargs` (`fn-docker-args-split` in plugins/common/functions:
//! blanks separate words, single and double quotes group, a backslash escapes; no expansion)
//! before calling `docker container create`/`docker build`. A value with a space therefore
//! becomes several docker arguments, and a value that starts with `-` becomes a flag of its
//! own (stored apart and sorted away from its flag).
//!
//! So a value is either a bare word of characters no stage treats specially, or it is
//! single-quoted (an embedded `'` written `'\''`), which both stages read back as one word.
//! Values that begin with `-`, or hold control characters or other line or word breaks, cannot
//! be carried and are refused.

use std::net::IpAddr;

use super::service::PolicyRule;

mod error;
mod grammar;
mod split;
#[cfg(test)]
mod tests;

pub(crate) use error::OptionError;
use grammar::{
    abs_path, carriable, check_add_host, check_build_arg, check_device, check_publish,
    check_sysctl, check_tmpfs, check_ulimit, cpuset, device_cgroup_rule, dns_name, dns_option,
    int_in, network_name, security_opt, signal, size, user_or_id, HARMLESS_CAPS,
};
pub(crate) use grammar::{capability, quote};
pub use split::{dokku_argv, dokku_groups, is_flag_word, parse_group, shell_words, xargs_split};

/// A docker flag dokku-compose emits through `docker-options:add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// `--add-host host:ip`.
    AddHost,
    /// `--build-arg KEY=value` (build phase).
    BuildArg,
    /// `--cap-add CAP`.
    CapAdd,
    /// `--cap-drop CAP`.
    CapDrop,
    /// `--cgroupns host|private`.
    Cgroupns,
    /// `--cpu-period N`.
    CpuPeriod,
    /// `--cpu-quota N`.
    CpuQuota,
    /// `--cpu-shares N`.
    CpuShares,
    /// `--cpuset-cpus 0-3,5`.
    CpusetCpus,
    /// `--device /dev/x[:/dev/y[:rwm]]`.
    Device,
    /// `--device-cgroup-rule 'c 1:3 mr'`.
    DeviceCgroupRule,
    /// `--dns IP`.
    Dns,
    /// `--dns-option opt[:n]`.
    DnsOption,
    /// `--dns-search domain`.
    DnsSearch,
    /// `--entrypoint /path`.
    Entrypoint,
    /// `--group-add group|gid`.
    GroupAdd,
    /// `--init`.
    Init,
    /// `--ipc mode`.
    Ipc,
    /// `--memory-swappiness 0..100`.
    MemorySwappiness,
    /// `--network mode|name`.
    Network,
    /// `--network-alias name`.
    NetworkAlias,
    /// `--oom-score-adj -1000..1000`.
    OomScoreAdj,
    /// `--pid host`.
    Pid,
    /// `-p [ip:]host:container[/tcp|udp]`: a port published on the host by docker itself,
    /// not through the proxy (TCP/UDP and address-bound ports, issue 15 item 8).
    Publish,
    /// `--pids-limit N`.
    PidsLimit,
    /// `--privileged`.
    Privileged,
    /// `--read-only`.
    ReadOnly,
    /// `--security-opt opt`.
    SecurityOpt,
    /// `--shm-size bytes`.
    ShmSize,
    /// `--stop-signal SIG`.
    StopSignal,
    /// `--sysctl key=value`.
    Sysctl,
    /// `--target stage` (build phase).
    Target,
    /// `--tmpfs /path[:opts]`.
    Tmpfs,
    /// `--ulimit name=soft:hard`.
    Ulimit,
    /// `--user name|uid[:group|gid]`.
    User,
    /// `--userns host`.
    Userns,
    /// `--uts host`.
    Uts,
    /// `--workdir /path`.
    Workdir,
}

impl Flag {
    /// Every flag, for parsing.
    pub(crate) const ALL: [Flag; 38] = [
        Flag::AddHost,
        Flag::BuildArg,
        Flag::CapAdd,
        Flag::CapDrop,
        Flag::Cgroupns,
        Flag::CpuPeriod,
        Flag::CpuQuota,
        Flag::CpuShares,
        Flag::CpusetCpus,
        Flag::Device,
        Flag::DeviceCgroupRule,
        Flag::Dns,
        Flag::DnsOption,
        Flag::DnsSearch,
        Flag::Entrypoint,
        Flag::GroupAdd,
        Flag::Init,
        Flag::Ipc,
        Flag::MemorySwappiness,
        Flag::Network,
        Flag::NetworkAlias,
        Flag::OomScoreAdj,
        Flag::Pid,
        Flag::PidsLimit,
        Flag::Publish,
        Flag::Privileged,
        Flag::ReadOnly,
        Flag::SecurityOpt,
        Flag::ShmSize,
        Flag::StopSignal,
        Flag::Sysctl,
        Flag::Target,
        Flag::Tmpfs,
        Flag::Ulimit,
        Flag::User,
        Flag::Userns,
        Flag::Uts,
        Flag::Workdir,
    ];

    /// The flag as docker spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Flag::AddHost => "--add-host",
            Flag::BuildArg => "--build-arg",
            Flag::CapAdd => "--cap-add",
            Flag::CapDrop => "--cap-drop",
            Flag::Cgroupns => "--cgroupns",
            Flag::CpuPeriod => "--cpu-period",
            Flag::CpuQuota => "--cpu-quota",
            Flag::CpuShares => "--cpu-shares",
            Flag::CpusetCpus => "--cpuset-cpus",
            Flag::Device => "--device",
            Flag::DeviceCgroupRule => "--device-cgroup-rule",
            Flag::Dns => "--dns",
            Flag::DnsOption => "--dns-option",
            Flag::DnsSearch => "--dns-search",
            Flag::Entrypoint => "--entrypoint",
            Flag::GroupAdd => "--group-add",
            Flag::Init => "--init",
            Flag::Ipc => "--ipc",
            Flag::MemorySwappiness => "--memory-swappiness",
            Flag::Network => "--network",
            Flag::NetworkAlias => "--network-alias",
            Flag::OomScoreAdj => "--oom-score-adj",
            Flag::Pid => "--pid",
            Flag::Publish => "-p",
            Flag::PidsLimit => "--pids-limit",
            Flag::Privileged => "--privileged",
            Flag::ReadOnly => "--read-only",
            Flag::SecurityOpt => "--security-opt",
            Flag::ShmSize => "--shm-size",
            Flag::StopSignal => "--stop-signal",
            Flag::Sysctl => "--sysctl",
            Flag::Target => "--target",
            Flag::Tmpfs => "--tmpfs",
            Flag::Ulimit => "--ulimit",
            Flag::User => "--user",
            Flag::Userns => "--userns",
            Flag::Uts => "--uts",
            Flag::Workdir => "--workdir",
        }
    }

    /// The flag named `name` (`--stop-signal`).
    pub fn parse(name: &str) -> Option<Flag> {
        if name == "--publish" {
            return Some(Flag::Publish);
        }
        Flag::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the flag takes a value.
    pub(crate) fn takes_value(self) -> bool {
        !matches!(self, Flag::Init | Flag::Privileged | Flag::ReadOnly)
    }

    /// The Dokku phase the flag belongs to.
    pub(crate) fn phase(self) -> &'static str {
        match self {
            Flag::BuildArg | Flag::Target => "build",
            _ => "deploy",
        }
    }

    /// Checks `value` against the flag's grammar; the error says what is wrong with it.
    pub fn check(self, value: Option<&str>) -> Result<(), OptionError> {
        let v = match (self.takes_value(), value) {
            (false, None) => return Ok(()),
            (false, Some(v)) => {
                return Err(OptionError::NoValueTaken {
                    flag: self.name(),
                    value: v.to_owned(),
                })
            }
            (true, None) => return Err(OptionError::ValueNeeded { flag: self.name() }),
            (true, Some(v)) => v,
        };
        carriable(v)?;
        let ok = match self {
            Flag::AddHost => return check_add_host(v),
            Flag::BuildArg => return check_build_arg(v),
            Flag::CapAdd | Flag::CapDrop => return capability(v).map(drop),
            Flag::Cgroupns => matches!(v, "host" | "private"),
            Flag::CpuPeriod | Flag::CpuShares | Flag::PidsLimit => int_in(v, -1, i64::MAX),
            Flag::CpuQuota => int_in(v, -1, i64::MAX),
            Flag::CpusetCpus => cpuset(v),
            Flag::Device => return check_device(v),
            Flag::DeviceCgroupRule => device_cgroup_rule(v),
            Flag::Dns => v.parse::<IpAddr>().is_ok(),
            Flag::DnsOption => dns_option(v),
            Flag::DnsSearch => v == "." || dns_name(v),
            Flag::Entrypoint => {
                !v.is_empty()
                    && v.chars().all(|c| c.is_ascii_graphic() || c == ' ')
                    && !v.starts_with([' ', '-'])
            }
            Flag::GroupAdd => user_or_id(v),
            Flag::Ipc => matches!(v, "none" | "private" | "shareable" | "host"),
            Flag::MemorySwappiness => int_in(v, 0, 100),
            Flag::Network => v == "none" || v == "host" || network_name(v),
            Flag::NetworkAlias => network_name(v),
            Flag::OomScoreAdj => int_in(v, -1000, 1000),
            Flag::Pid | Flag::Uts | Flag::Userns => v == "host",
            Flag::Publish => return check_publish(v),
            Flag::SecurityOpt => security_opt(v),
            Flag::ShmSize => size(v),
            Flag::StopSignal => signal(v),
            Flag::Sysctl => return check_sysctl(v),
            Flag::Target => network_name(v),
            Flag::Tmpfs => return check_tmpfs(v),
            Flag::Ulimit => return check_ulimit(v),
            Flag::User => {
                let (u, g) = v.split_once(':').unwrap_or((v, ""));
                user_or_id(u) && (g.is_empty() || user_or_id(g))
            }
            Flag::Workdir => abs_path(v),
            Flag::Init | Flag::Privileged | Flag::ReadOnly => {
                unreachable!("handled above: flags without a value")
            }
        };
        if ok {
            Ok(())
        } else {
            Err(OptionError::Grammar {
                value: v.to_owned(),
                expects: self.expects(),
            })
        }
    }

    /// What a value of the flag must be, for messages.
    pub(crate) fn expects(self) -> &'static str {
        match self {
            Flag::AddHost => "`host:ip` with a DNS host name and an IP address",
            Flag::BuildArg => "`KEY=value`",
            Flag::CapAdd | Flag::CapDrop => "a Linux capability name",
            Flag::Cgroupns => "a cgroup namespace mode (`host` or `private`)",
            Flag::CpuPeriod | Flag::CpuQuota | Flag::CpuShares | Flag::PidsLimit => "an integer",
            Flag::CpusetCpus => "a list of CPUs (`0-3,5`)",
            Flag::Device => "a device mapping (`/dev/x[:/dev/y[:rwm]]`)",
            Flag::DeviceCgroupRule => "a device cgroup rule (`c 1:3 rwm`)",
            Flag::Dns => "an IP address",
            Flag::DnsOption => "a resolver option (`ndots:2`)",
            Flag::DnsSearch => "a DNS domain",
            Flag::Entrypoint => "one executable",
            Flag::GroupAdd => "a group name or id",
            Flag::Ipc => "an IPC mode (`none`, `private`, `shareable` or `host`)",
            Flag::MemorySwappiness => "an integer from 0 to 100",
            Flag::Network => "a network mode or network name",
            Flag::NetworkAlias => "a network alias (letters, digits, `.`, `_`, `-`)",
            Flag::OomScoreAdj => "an integer from -1000 to 1000",
            Flag::Pid => "a PID mode Docker accepts here (`host`)",
            Flag::Publish => "a port mapping `[ip:]host:container[/tcp|/udp]` with numeric ports",
            Flag::Uts => "a UTS mode Docker accepts here (`host`)",
            Flag::Userns => "a user namespace mode Docker accepts here (`host`)",
            Flag::SecurityOpt => "a security option (`name`, `name=value` or `name:value`)",
            Flag::ShmSize => "a size in bytes",
            Flag::StopSignal => "a signal name or number",
            Flag::Sysctl => "a namespaced sysctl `key=value`",
            Flag::Target => "a build stage name",
            Flag::Tmpfs => "an absolute container path with tmpfs options",
            Flag::Ulimit => "`name=soft:hard` with integers",
            Flag::User => "a user `name|uid[:group|gid]`",
            Flag::Workdir => "an absolute container path",
            Flag::Init | Flag::Privileged | Flag::ReadOnly => "nothing",
        }
    }
}

/// One docker option: a flag and its value, checked against the flag's grammar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DockerOpt {
    /// The flag.
    pub flag: Flag,
    /// Its value; `None` for flags that take none.
    pub value: Option<String>,
}

impl DockerOpt {
    /// A flag with a value, checked (capability names are normalised to `NAME`).
    pub fn new(flag: Flag, value: impl Into<String>) -> Result<Self, OptionError> {
        let value = value.into();
        flag.check(Some(&value))?;
        let value = match flag {
            Flag::CapAdd | Flag::CapDrop => capability(&value)?,
            _ => value,
        };
        Ok(Self {
            flag,
            value: Some(value),
        })
    }

    /// A flag that takes no value.
    pub(crate) fn bare(flag: Flag) -> Result<Self, OptionError> {
        flag.check(None)?;
        Ok(Self { flag, value: None })
    }

    /// The string stored with `docker-options:add`: `--flag value`, the value single-quoted
    /// when it holds a character a shell word or `xargs` treats specially, or `--flag=value`
    /// when the value starts with `-` (a negative number), which Dokku would otherwise store
    /// as a flag of its own. Dokku splits it back into exactly the words of [`Self::argv`]
    /// (see the module docs and [`dokku_argv`]).
    pub fn render(&self) -> String {
        match &self.value {
            None => self.flag.name().to_owned(),
            Some(v) if v.starts_with('-') => quote(&format!("{}={v}", self.flag.name())),
            Some(v) => format!("{} {}", self.flag.name(), quote(v)),
        }
    }

    /// The docker arguments the option becomes (the tests' oracle for Dokku's splitting).
    #[cfg(test)]
    pub(crate) fn argv(&self) -> Vec<String> {
        match &self.value {
            None => vec![self.flag.name().to_owned()],
            Some(v) if v.starts_with('-') => vec![format!("{}={v}", self.flag.name())],
            Some(v) => vec![self.flag.name().to_owned(), v.clone()],
        }
    }

    /// The policy rule the option needs, if any.
    pub fn rule(&self) -> Option<PolicyRule> {
        let v = self.value.as_deref().unwrap_or_default();
        match self.flag {
            Flag::Privileged => Some(PolicyRule::Privileged),
            Flag::CapAdd => {
                let cap = capability(v).unwrap_or_default();
                (!HARMLESS_CAPS.contains(&cap.as_str())).then_some(PolicyRule::CapAdd)
            }
            Flag::Device | Flag::DeviceCgroupRule => Some(PolicyRule::Devices),
            Flag::Network | Flag::Pid | Flag::Ipc | Flag::Uts | Flag::Userns | Flag::Cgroupns => {
                (v == "host").then_some(PolicyRule::HostNamespaces)
            }
            Flag::SecurityOpt => (!matches!(
                v,
                "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
            ))
            .then_some(PolicyRule::SecurityOpt),
            _ => None,
        }
    }
}
