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
    pub const ALL: [Flag; 38] = [
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
    pub fn name(self) -> &'static str {
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
    pub fn takes_value(self) -> bool {
        !matches!(self, Flag::Init | Flag::Privileged | Flag::ReadOnly)
    }

    /// The Dokku phase the flag belongs to.
    pub fn phase(self) -> &'static str {
        match self {
            Flag::BuildArg | Flag::Target => "build",
            _ => "deploy",
        }
    }

    /// Checks `value` against the flag's grammar; the error says what is wrong with it.
    pub fn check(self, value: Option<&str>) -> Result<(), String> {
        let v = match (self.takes_value(), value) {
            (false, None) => return Ok(()),
            (false, Some(v)) => return Err(format!("`{}` takes no value, got `{v}`", self.name())),
            (true, None) => return Err(format!("`{}` needs a value", self.name())),
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
            Err(format!("`{v}` is not {}", self.expects()))
        }
    }

    /// What a value of the flag must be, for messages.
    pub fn expects(self) -> &'static str {
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
    pub fn new(flag: Flag, value: impl Into<String>) -> Result<Self, String> {
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
    pub fn bare(flag: Flag) -> Result<Self, String> {
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

    /// The docker arguments the option becomes.
    pub fn argv(&self) -> Vec<String> {
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

/// Characters Dokku quotes when it stores a word (`needsShellQuoting`): whitespace, quotes
/// and every character the shell-word parser or `xargs` would read specially.
const SPECIAL: &str = " \t\n\"'$`\\*?[]<>|&;(){}!#~";

/// `s` as one word for Dokku, in the canonical form `docker-options:add` stores
/// (`quoteShellArg`), so that the stored option compares equal to the planned one: bare
/// unless it is empty or holds a special character, else single-quoted with an embedded `'`
/// written `'\''`, which both the shell-word parser and `xargs` read back as the word.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && !s.contains(|c| SPECIAL.contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether a value can travel through Dokku as one word: no control characters or line
/// breaks (stored options are one a line, and `xargs` refuses a newline inside quotes) and
/// no whitespace but the plain space. A leading `-` is for the grammars to refuse: only
/// numbers may have one (rendered `--flag=-1`).
fn carriable(v: &str) -> Result<(), String> {
    if let Some(c) = v
        .chars()
        .find(|c| c.is_control() || (c.is_whitespace() && *c != ' '))
    {
        return Err(format!("`{}` holds the control or line-break character {c:?}, which Dokku's option storage and splitting cannot carry", v.escape_debug()));
    }
    Ok(())
}

fn int_in(v: &str, min: i64, max: i64) -> bool {
    v.parse::<i64>().is_ok_and(|n| (min..=max).contains(&n)) && !v.starts_with('+')
}

fn size(v: &str) -> bool {
    let digits = v.trim_end_matches(['b', 'k', 'm', 'g', 'B', 'K', 'M', 'G']);
    (v.len() - digits.len() <= 1)
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
}

fn cpuset(v: &str) -> bool {
    let num = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
    !v.is_empty()
        && v.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => num(a) && num(b),
            None => num(part),
        })
}

fn signal(v: &str) -> bool {
    if v.chars().all(|c| c.is_ascii_digit()) {
        return int_in(v, 1, 64);
    }
    let upper = v.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let (base, offset) = match name.split_once(['+', '-']) {
        Some((b, o)) => (b, Some(o)),
        None => (name, None),
    };
    !base.is_empty()
        && base
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && base.starts_with(|c: char| c.is_ascii_uppercase())
        && offset.is_none_or(|o| int_in(o, 0, 64))
}

fn dns_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

fn dns_name(v: &str) -> bool {
    let v = v.strip_suffix('.').unwrap_or(v);
    !v.is_empty() && v.len() <= 253 && v.split('.').all(dns_label)
}

fn network_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn dns_option(v: &str) -> bool {
    let (name, n) = v.split_once(':').unwrap_or((v, "0"));
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && int_in(n, 0, 65535)
}

fn user_or_id(v: &str) -> bool {
    if v.chars().all(|c| c.is_ascii_digit()) {
        return !v.is_empty() && v.parse::<u32>().is_ok();
    }
    let body = v.strip_suffix('$').unwrap_or(v);
    !body.is_empty()
        && body.len() <= 32
        && body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// An absolute container path of plain characters, without `.`/`..` components.
fn abs_path(v: &str) -> bool {
    v.starts_with('/')
        && v.len() <= 4096
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/@+,=".contains(c))
        && v.split('/').all(|s| s != "." && s != "..")
}

/// `-p`: `[ip:]host:container[/tcp|/udp]`; the address an IPv4 address or a bracketed IPv6
/// one, both ports numbers from 1 to 65535 (no ranges, no random host port), nothing else.
fn check_publish(v: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{v}` is not a port mapping `[ip:]host:container[/tcp|/udp]`: {why}"
        ))
    };
    let (spec, proto) = v.rsplit_once('/').unwrap_or((v, "tcp"));
    if !matches!(proto, "tcp" | "udp") {
        return bad("the protocol must be `tcp` or `udp`");
    }
    let ports = if let Some(rest) = spec.strip_prefix('[') {
        let Some((ip, ports)) = rest.split_once("]:") else {
            return bad("an IPv6 address is written `[addr]:host:container`");
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("the address is not an IPv6 address");
        }
        ports
    } else {
        match spec.split_once(':') {
            Some((ip, ports)) if ports.contains(':') => {
                if ip.parse::<std::net::Ipv4Addr>().is_err() {
                    return bad("the address is not an IPv4 address");
                }
                ports
            }
            _ => spec,
        }
    };
    let Some((host, container)) = ports.split_once(':') else {
        return bad("both the host and the container port are needed");
    };
    let port = |p: &str| {
        !p.starts_with('0')
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    };
    if !port(host) || !port(container) {
        return bad("ports are numbers from 1 to 65535");
    }
    Ok(())
}

fn check_add_host(v: &str) -> Result<(), String> {
    let Some((host, ip)) = v.split_once(':') else {
        return Err(format!("`{v}` is not {} (no `:`)", Flag::AddHost.expects()));
    };
    if !dns_name(host) {
        return Err(format!("`{v}`: `{host}` is not a DNS host name"));
    }
    let bare = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    if ip != "host-gateway" && bare.parse::<IpAddr>().is_err() {
        return Err(format!("`{v}`: `{ip}` is not an IP address"));
    }
    Ok(())
}

fn check_build_arg(v: &str) -> Result<(), String> {
    let Some((k, _)) = v.split_once('=') else {
        return Err(format!("`{v}` is not `KEY=value`"));
    };
    if k.is_empty()
        || !k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!("`{k}` is not a build argument name (letters, digits and `_`, not starting with a digit)"));
    }
    Ok(())
}

/// Every Linux capability (capability(7)), without `CAP_`, plus `ALL`.
const CAPS: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// Capabilities `cap_add` may add without the `cap-add` rule: Docker's default set and a few
/// that give no power over the host or other containers. Every other one needs the rule.
const HARMLESS_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
    "SYS_NICE",
    "WAKE_ALARM",
];

/// A capability name in any case, with or without `CAP_`, normalised to `NAME`.
pub fn capability(v: &str) -> Result<String, String> {
    let upper = v.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if CAPS.contains(&bare) {
        Ok(bare.to_owned())
    } else {
        Err(format!("`{v}` is not a Linux capability name"))
    }
}

fn check_device(v: &str) -> Result<(), String> {
    let parts: Vec<&str> = v.split(':').collect();
    let ok = match parts.as_slice() {
        [src] => abs_path(src),
        [src, dst] => abs_path(src) && (abs_path(dst) || perms(dst)),
        [src, dst, p] => abs_path(src) && abs_path(dst) && perms(p),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{v}` is not {}", Flag::Device.expects()))
    }
}

fn perms(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "rwm".contains(c))
}

fn device_cgroup_rule(v: &str) -> bool {
    let parts: Vec<&str> = v.split(' ').collect();
    let num = |s: &str| {
        s == "*" || (!s.is_empty() && s.len() <= 10 && s.chars().all(|c| c.is_ascii_digit()))
    };
    match parts.as_slice() {
        [kind, majmin, p] => {
            matches!(*kind, "a" | "b" | "c")
                && majmin
                    .split_once(':')
                    .is_some_and(|(a, b)| num(a) && num(b))
                && perms(p)
        }
        _ => false,
    }
}

fn security_opt(v: &str) -> bool {
    let (name, val) = match v.find([':', '=']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && val.is_none_or(|x| {
            !x.is_empty()
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-/:=,".contains(c))
        })
}

/// Whether a sysctl lives in a container's own namespace (Docker allows exactly these).
pub fn namespaced_sysctl(key: &str) -> bool {
    key.starts_with("net.")
        || key.starts_with("kernel.shm")
        || key.starts_with("kernel.msg")
        || key == "kernel.sem"
        || key.starts_with("fs.mqueue.")
}

fn check_sysctl(v: &str) -> Result<(), String> {
    let Some((k, val)) = v.split_once('=') else {
        return Err(format!("`{v}` is not `key=value`"));
    };
    if k.is_empty()
        || !k.split(['.', '/']).all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-*".contains(c))
        })
    {
        return Err(format!("`{k}` is not a sysctl name"));
    }
    if !namespaced_sysctl(k) {
        return Err(format!(
            "`{k}` is not namespaced: it would change the host's kernel, and Docker refuses it (only `net.*`, `kernel.shm*`, `kernel.msg*`, `kernel.sem` and `fs.mqueue.*` are per container)"
        ));
    }
    // Several numbers are separated by single spaces (`kernel.sem=250 32000 100 128`).
    if !val.split(' ').all(|w| {
        w.starts_with(|c: char| c.is_ascii_alphanumeric())
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-:/,".contains(c))
    }) {
        return Err(format!("`{val}` is not a sysctl value (words of letters, digits and `_.-:/,`, separated by single spaces)"));
    }
    Ok(())
}

/// tmpfs mount options Docker passes to the kernel that give no power over the host.
fn tmpfs_option(o: &str) -> bool {
    let (k, v) = o.split_once('=').unwrap_or((o, ""));
    match k {
        "rw" | "ro" | "noexec" | "exec" | "nosuid" | "nodev" | "atime" | "noatime" | "relatime"
        | "strictatime" | "diratime" | "nodiratime" | "tmpcopyup" | "notmpcopyup" => {
            v.is_empty() && !o.contains('=')
        }
        "size" | "nr_inodes" | "nr_blocks" => {
            size(v) || (v.ends_with('%') && int_in(&v[..v.len() - 1], 0, 100))
        }
        "mode" => (3..=4).contains(&v.len()) && v.chars().all(|c| ('0'..='7').contains(&c)),
        "uid" | "gid" => v.parse::<u32>().is_ok() && v.chars().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

fn check_tmpfs(v: &str) -> Result<(), String> {
    let (path, opts) = v.split_once(':').unwrap_or((v, ""));
    if !abs_path(path) || path == "/" {
        return Err(format!(
            "`{path}` is not an absolute container path (letters, digits, `_.-/@+`, no `..`)"
        ));
    }
    if let Some(bad) = opts
        .split(',')
        .filter(|_| !opts.is_empty())
        .find(|o| !tmpfs_option(o))
    {
        return Err(format!("`{bad}` is not an allowed tmpfs option (rw, ro, noexec, exec, nosuid, nodev, *atime, size=, mode=, uid=, gid=, nr_inodes=)"));
    }
    Ok(())
}

const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn check_ulimit(v: &str) -> Result<(), String> {
    let Some((name, limits)) = v.split_once('=') else {
        return Err(format!("`{v}` is not {}", Flag::Ulimit.expects()));
    };
    if !ULIMITS.contains(&name) {
        return Err(format!(
            "`{name}` is not a ulimit name ({})",
            ULIMITS.join(", ")
        ));
    }
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    if !int_in(soft, -1, i64::MAX) || !int_in(hard, -1, i64::MAX) {
        return Err(format!("`{limits}` is not `soft:hard` with integers"));
    }
    Ok(())
}

/// Why Dokku could not be trusted to split an option string: it holds shell syntax the
/// words parser would keep verbatim, or unbalanced quotes.
fn split_err(option: &str, what: &str) -> String {
    format!("`{}` {what}", option.escape_debug())
}

/// Splits `s` into words the way `docker-options:add` does (shell words, quotes removed,
/// nothing expanded), for the subset of shell syntax that both that parser and `xargs` read
/// alike: blanks, single quotes and backslash escapes outside quotes. Anything else
/// (double quotes, `$`, backticks, `;|&<>(){}!#*?[]~`, control characters) is refused, since
/// Dokku would keep it verbatim in one stage and read it differently in the other. The check
/// is [`check_shell_subset`]; the splitting is the `shell-words` crate's.
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    check_shell_subset(s)?;
    shell_words::split(s).map_err(|e| split_err(s, &e.to_string()))
}

/// Refuses what is outside the shell subset [`shell_words`] accepts: it only follows single
/// quotes (which escape nothing) and backslashes, to tell quoted characters from bare ones.
fn check_shell_subset(s: &str) -> Result<(), String> {
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            c if quoted && c.is_control() => {
                return Err(split_err(s, "holds a control character inside quotes"))
            }
            _ if quoted => {}
            ' ' | '\t' => {}
            '\\' => match chars.next() {
                Some(n) if !n.is_control() => {}
                _ => {
                    return Err(split_err(
                        s,
                        "ends with a backslash or escapes a control character",
                    ))
                }
            },
            c if c.is_control() || c.is_whitespace() => {
                return Err(split_err(s, "holds a control or line-break character"))
            }
            c if "\"$`;|&<>(){}!#*?[]~".contains(c) => {
                return Err(split_err(
                    s,
                    &format!("holds the shell character `{c}` unquoted"),
                ))
            }
            _ => {}
        }
    }
    if quoted {
        return Err(split_err(s, "has an unbalanced single quote"));
    }
    Ok(())
}

/// Dokku's `isFlagToken`: a word of more than one character starting with `-`.
pub fn is_flag_word(w: &str) -> bool {
    w.len() > 1 && w.starts_with('-')
}

/// What `docker-options:add <app> <phase> <option>` stores and what docker then receives:
/// the option split into words, grouped at flag words (one stored option per group, as
/// `groupOptionTokens`). Each group is one docker flag and its values, in order; the stored
/// groups are sorted among the app's other options, so only a whole group keeps its meaning.
pub fn dokku_groups(option: &str) -> Result<Vec<Vec<String>>, String> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for w in shell_words(option)? {
        match groups.last_mut() {
            Some(g) if !is_flag_word(&w) => g.push(w),
            _ => groups.push(vec![w]),
        }
    }
    Ok(groups)
}

/// Parses one stored group (`["--flag", "value"]`, `["--flag=value"]` or `["--flag"]`) as a
/// typed option, checking the value's grammar.
pub fn parse_group(group: &[String]) -> Result<DockerOpt, String> {
    let (name, value) = match group {
        [one] => match one.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (one.as_str(), None),
        },
        [flag, value] => (flag.as_str(), Some(value.as_str())),
        [] => return Err("is empty".into()),
        [flag, rest @ ..] => {
            return Err(format!(
                "gives `{flag}` {} values (`{}`); a docker flag takes one",
                rest.len(),
                rest.join("` `")
            ))
        }
    };
    if !is_flag_word(name) {
        return Err(format!("`{name}` is not a docker flag"));
    }
    let Some(flag) = Flag::parse(name) else {
        return Err(format!("`{name}` is not a docker option dokku-compose sets (volumes, mounts, networks and the like go through their own Dokku commands)"));
    };
    match value {
        Some(v) => DockerOpt::new(flag, v),
        None => DockerOpt::bare(flag),
    }
}

/// Splits a string with `xargs`' quoting (GNU findutils without `-0`/`-d`): blanks and
/// newlines separate, single and double quotes group (no escapes inside), a backslash outside
/// quotes escapes the next character. This is how the scheduler and builders split the
/// joined options (`fn-docker-args-split`).
pub fn xargs_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\n') | None => {
                            return Err(format!(
                                "xargs: unmatched {} quote",
                                if c == '\'' { "single" } else { "double" }
                            ))
                        }
                        Some(x) => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// The docker arguments one `docker-options:add` option string ends as: split and grouped as
/// `docker-options:add` stores it, each group re-quoted as Dokku stores it, joined and split
/// by `xargs` at deploy. Errors when the string holds syntax the two stages read differently.
pub fn dokku_argv(option: &str) -> Result<Vec<String>, String> {
    let stored: Vec<String> = dokku_groups(option)?
        .iter()
        .map(|g| g.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
        .collect();
    xargs_split(&stored.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(flag: Flag, v: &str) {
        assert_eq!(flag.check(Some(v)), Ok(()), "{} {v}", flag.name());
    }
    fn bad(flag: Flag, v: &str) {
        assert!(
            flag.check(Some(v)).is_err(),
            "{} {v} should be refused",
            flag.name()
        );
    }

    #[test]
    fn publish_takes_strict_port_mappings_only() {
        for ok in [
            "1883:1883",
            "127.0.0.1:8080:80",
            "[::1]:8080:80/tcp",
            "5353:53/udp",
            "0.0.0.0:25:25",
        ] {
            assert_eq!(Flag::Publish.check(Some(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "1883",
            "80",
            ":80",
            "8000-8010:80",
            "a:1:2",
            "1.2.3.4.5:1:2",
            "1:2/sctp",
            "0:80",
            "65536:80",
            "[::1:8080:80",
            "1:2 -v /:/h",
            "01:80",
            "host:1:2",
            "1:2:3:4",
            "1:2/",
        ] {
            assert!(Flag::Publish.check(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(Flag::parse("--publish"), Some(Flag::Publish));
        let group = ["-p".to_owned(), "127.0.0.1:1883:1883".to_owned()];
        assert_eq!(
            parse_group(&group).map(|o| o.render()),
            Ok("-p 127.0.0.1:1883:1883".to_owned())
        );
        // As the plan check reads a stored option: one group, a strict value.
        assert_eq!(
            dokku_groups("-p 1883:1883 --privileged").map(|g| g.len()),
            Ok(2)
        );
        assert!(parse_group(&["--publish=0.0.0.0:1:2:3".to_owned()]).is_err());
        assert!(parse_group(&["-p".to_owned(), "1883".to_owned()]).is_err());
    }

    #[test]
    fn every_flag_round_trips_its_name() {
        for f in Flag::ALL {
            assert_eq!(Flag::parse(f.name()), Some(f));
        }
    }

    #[test]
    fn values_that_dokku_would_split_are_refused_everywhere() {
        for f in Flag::ALL.into_iter().filter(|f| f.takes_value()) {
            for v in ["--privileged", "-v", "x\ny", "a\tb", "a\u{85}b", "a\rb"] {
                bad(f, v);
            }
        }
    }

    #[test]
    fn stop_signal() {
        for v in ["SIGTERM", "TERM", "sigquit", "15", "SIGRTMIN+3"] {
            ok(Flag::StopSignal, v);
        }
        for v in ["SIGTERM --privileged", "0", "99", "", "SIG", "$(id)"] {
            bad(Flag::StopSignal, v);
        }
    }

    #[test]
    fn dns_and_hosts() {
        ok(Flag::Dns, "1.1.1.1");
        ok(Flag::Dns, "2001:db8::1");
        bad(Flag::Dns, "1.1.1.1 -v /:/host");
        bad(Flag::Dns, "example.com");
        ok(Flag::DnsSearch, "example.com");
        ok(Flag::DnsSearch, ".");
        bad(Flag::DnsSearch, "a b");
        ok(Flag::DnsOption, "ndots:2");
        ok(Flag::DnsOption, "use-vc");
        bad(Flag::DnsOption, "ndots:2 --pid host");
        ok(Flag::AddHost, "db:10.0.0.2");
        ok(Flag::AddHost, "db:::1");
        ok(Flag::AddHost, "host.docker.internal:host-gateway");
        bad(Flag::AddHost, "db:10.0.0.2 --privileged");
        bad(Flag::AddHost, "d b:10.0.0.2");
        bad(Flag::AddHost, "db:nope");
        bad(Flag::AddHost, "db");
    }

    #[test]
    fn tmpfs() {
        ok(Flag::Tmpfs, "/tmp");
        ok(
            Flag::Tmpfs,
            "/run:rw,noexec,nosuid,size=65536k,mode=1777,uid=1000",
        );
        for v in [
            "tmp",
            "/",
            "/tmp -v /:/host",
            "/tmp:dev",
            "/tmp:suid",
            "/a/../b",
            "/tmp:size=1 --privileged",
            "/tmp:bogus",
        ] {
            bad(Flag::Tmpfs, v);
        }
    }

    #[test]
    fn ulimits_numbers_and_cpusets() {
        ok(Flag::Ulimit, "nofile=1024:2048");
        ok(Flag::Ulimit, "core=-1:-1");
        for v in [
            "nofile=1024:2048 --privileged",
            "bogus=1:1",
            "nofile=a:b",
            "nofile",
        ] {
            bad(Flag::Ulimit, v);
        }
        ok(Flag::CpuShares, "512");
        bad(Flag::CpuShares, "512 --privileged");
        bad(Flag::CpuShares, "+5");
        ok(Flag::CpusetCpus, "0-3,5");
        bad(Flag::CpusetCpus, "0-3 --pid host");
        ok(Flag::OomScoreAdj, "-500");
        let neg = DockerOpt::new(Flag::OomScoreAdj, "-500").unwrap();
        assert_eq!(neg.render(), "--oom-score-adj=-500");
        assert_eq!(dokku_groups(&neg.render()).unwrap().len(), 1);
        assert_eq!(
            parse_group(&dokku_groups(&neg.render()).unwrap()[0]).unwrap(),
            neg
        );
        assert_eq!(dokku_argv(&neg.render()).unwrap(), neg.argv());
        bad(Flag::OomScoreAdj, "-5000");
        ok(Flag::MemorySwappiness, "60");
        bad(Flag::MemorySwappiness, "101");
        ok(Flag::ShmSize, "67108864");
        ok(Flag::ShmSize, "64m");
        bad(Flag::ShmSize, "64mm");
    }

    #[test]
    fn users_paths_and_stages() {
        for v in ["1000", "1000:1000", "app", "app:staff", "www-data"] {
            ok(Flag::User, v);
        }
        for v in ["root --privileged", "a:b:c", "", "1a:$x"] {
            bad(Flag::User, v);
        }
        ok(Flag::Workdir, "/srv/app");
        for v in ["srv", "/srv app", "/srv/../etc", "/srv -v /:/host"] {
            bad(Flag::Workdir, v);
        }
        ok(Flag::Target, "builder");
        bad(Flag::Target, "builder --privileged");
        ok(Flag::NetworkAlias, "web_1");
        bad(Flag::NetworkAlias, "web --privileged");
        ok(Flag::GroupAdd, "audio");
        ok(Flag::GroupAdd, "44");
        bad(Flag::GroupAdd, "audio --privileged");
        ok(Flag::Entrypoint, "/docker-entrypoint.sh");
    }

    #[test]
    fn namespaces() {
        ok(Flag::Network, "none");
        ok(Flag::Network, "my-net");
        bad(Flag::Network, "my net");
        ok(Flag::Pid, "host");
        bad(Flag::Pid, "ns:/proc/1/ns/pid");
        ok(Flag::Ipc, "shareable");
        bad(Flag::Ipc, "host --privileged");
        assert_eq!(
            DockerOpt::new(Flag::Network, "host").unwrap().rule(),
            Some(PolicyRule::HostNamespaces)
        );
        assert_eq!(DockerOpt::new(Flag::Network, "none").unwrap().rule(), None);
    }

    #[test]
    fn capabilities_are_normalised_in_any_case() {
        let o = DockerOpt::new(Flag::CapAdd, "cap_sys_admin").unwrap();
        assert_eq!(o.render(), "--cap-add SYS_ADMIN");
        assert_eq!(o.rule(), Some(PolicyRule::CapAdd));
        assert_eq!(
            DockerOpt::new(Flag::CapAdd, "Sys_Ptrace").unwrap().rule(),
            Some(PolicyRule::CapAdd)
        );
        assert_eq!(
            DockerOpt::new(Flag::CapAdd, "all").unwrap().rule(),
            Some(PolicyRule::CapAdd)
        );
        assert_eq!(
            DockerOpt::new(Flag::CapAdd, "net_bind_service")
                .unwrap()
                .rule(),
            None
        );
        assert!(DockerOpt::new(Flag::CapAdd, "SYS_ADMIN --privileged").is_err());
        assert!(DockerOpt::new(Flag::CapAdd, "BOGUS").is_err());
    }

    #[test]
    fn sysctls_namespaced_only() {
        ok(Flag::Sysctl, "net.core.somaxconn=1024");
        ok(Flag::Sysctl, "kernel.shmmax=68719476736");
        ok(Flag::Sysctl, "kernel.sem=250 32000 100 128");
        ok(Flag::Sysctl, "fs.mqueue.msg_max=100");
        let e = Flag::Sysctl
            .check(Some("kernel.core_pattern=|/tmp/x"))
            .unwrap_err();
        assert!(e.contains("not namespaced"), "{e}");
        bad(Flag::Sysctl, "vm.overcommit_memory=1");
        bad(Flag::Sysctl, "net.core.somaxconn=1 --privileged");
        assert_eq!(
            DockerOpt::new(Flag::Sysctl, "net.core.somaxconn=1")
                .unwrap()
                .rule(),
            None
        );
    }

    #[test]
    fn security_opts_and_devices() {
        assert_eq!(
            DockerOpt::new(Flag::SecurityOpt, "no-new-privileges:true")
                .unwrap()
                .rule(),
            None
        );
        assert_eq!(
            DockerOpt::new(Flag::SecurityOpt, "apparmor:unconfined")
                .unwrap()
                .rule(),
            Some(PolicyRule::SecurityOpt)
        );
        bad(Flag::SecurityOpt, "label=disable --privileged");
        ok(Flag::Device, "/dev/fuse:/dev/fuse:rwm");
        bad(Flag::Device, "/dev/fuse -v /:/host");
        let rule = DockerOpt::new(Flag::DeviceCgroupRule, "c 1:3 mr").unwrap();
        assert_eq!(rule.render(), "--device-cgroup-rule 'c 1:3 mr'");
        assert_eq!(
            dokku_argv(&rule.render()).unwrap(),
            ["--device-cgroup-rule", "c 1:3 mr"]
        );
        bad(Flag::DeviceCgroupRule, "c 1:3 mr --privileged");
    }

    #[test]
    fn build_args_with_spaces_and_quotes_survive_dokku() {
        for v in [
            "GREETING=hello world",
            "Q=it's",
            "S=$(id);`x`|&",
            "E=",
            "U=héllo",
        ] {
            let o = DockerOpt::new(Flag::BuildArg, v).unwrap();
            assert_eq!(
                dokku_argv(&o.render()).unwrap(),
                ["--build-arg", v],
                "{}",
                o.render()
            );
        }
        assert!(DockerOpt::new(Flag::BuildArg, "X=a\nb").is_err());
        assert!(DockerOpt::new(Flag::BuildArg, "1X=a").is_err());
        assert!(DockerOpt::new(Flag::BuildArg, "X").is_err());
    }

    #[test]
    fn dokku_splitting_is_modelled() {
        assert_eq!(
            dokku_groups("--stop-signal SIGTERM --privileged").unwrap(),
            [vec!["--stop-signal", "SIGTERM"], vec!["--privileged"]]
        );
        assert_eq!(
            dokku_argv("--dns '1.1.1.1 -v /:/host'").unwrap(),
            ["--dns", "1.1.1.1 -v /:/host"]
        );
        assert!(shell_words("--dns $(id)").is_err());
        assert!(shell_words("--dns \"x\"").is_err());
        assert!(shell_words("--dns 'x").is_err());
        assert!(shell_words("--dns x;y").is_err());
        assert_eq!(
            xargs_split("a 'b c'\"d\" e\\ f").unwrap(),
            ["a", "b cd", "e f"]
        );
        assert!(parse_group(&["--stop-signal".into(), "SIGTERM".into(), "x".into()]).is_err());
        assert!(parse_group(&["-v".into(), "/:/host".into()]).is_err());
        assert!(parse_group(&["--mount".into(), "type=bind,src=/,dst=/h".into()]).is_err());
        assert_eq!(
            parse_group(&["--shm-size=64m".into()]).unwrap(),
            DockerOpt::new(Flag::ShmSize, "64m").unwrap()
        );
        assert_eq!(
            parse_group(&["--privileged".into()]).unwrap().rule(),
            Some(PolicyRule::Privileged)
        );
    }
}
