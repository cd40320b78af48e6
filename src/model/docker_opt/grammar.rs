//! The value grammar of each docker flag: what one word Dokku carries intact may hold
//! (quoting, ports, hosts, capabilities, devices, sysctls, tmpfs, ulimits…).

use std::net::IpAddr;

use super::{Flag, OptionError};

/// Characters Dokku quotes when it stores a word (`needsShellQuoting`): whitespace, quotes
/// and every character the shell-word parser or `xargs` would read specially.
pub(super) const SPECIAL: &str = " \t\n\"'$`\\*?[]<>|&;(){}!#~";

/// `s` as one word for Dokku, in the canonical form `docker-options:add` stores
/// (`quoteShellArg`), so that the stored option compares equal to the planned one: bare
/// unless it is empty or holds a special character, else single-quoted with an embedded `'`
/// written `'\''`, which both the shell-word parser and `xargs` read back as the word.
pub(crate) fn quote(s: &str) -> String {
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
pub(super) fn carriable(v: &str) -> Result<(), OptionError> {
    if let Some(c) = v
        .chars()
        .find(|c| c.is_control() || (c.is_whitespace() && *c != ' '))
    {
        return Err(OptionError::NotCarriable {
            value: v.escape_debug().to_string(),
            ch: c,
        });
    }
    Ok(())
}

pub(super) fn int_in(v: &str, min: i64, max: i64) -> bool {
    v.parse::<i64>().is_ok_and(|n| (min..=max).contains(&n)) && !v.starts_with('+')
}

pub(super) fn size(v: &str) -> bool {
    let digits = v.trim_end_matches(['b', 'k', 'm', 'g', 'B', 'K', 'M', 'G']);
    (v.len() - digits.len() <= 1)
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
}

pub(super) fn cpuset(v: &str) -> bool {
    let num = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
    !v.is_empty()
        && v.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => num(a) && num(b),
            None => num(part),
        })
}

pub(super) fn signal(v: &str) -> bool {
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

pub(super) fn dns_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

pub(super) fn dns_name(v: &str) -> bool {
    let v = v.strip_suffix('.').unwrap_or(v);
    !v.is_empty() && v.len() <= 253 && v.split('.').all(dns_label)
}

pub(super) fn network_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

pub(super) fn dns_option(v: &str) -> bool {
    let (name, n) = v.split_once(':').unwrap_or((v, "0"));
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && int_in(n, 0, 65535)
}

pub(super) fn user_or_id(v: &str) -> bool {
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
pub(super) fn abs_path(v: &str) -> bool {
    v.starts_with('/')
        && v.len() <= 4096
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/@+,=".contains(c))
        && v.split('/').all(|s| s != "." && s != "..")
}

/// `-p`: `[ip:]host:container[/tcp|/udp]`; the address an IPv4 address or a bracketed IPv6
/// one, both ports numbers from 1 to 65535 (no ranges, no random host port), nothing else.
pub(super) fn check_publish(v: &str) -> Result<(), OptionError> {
    let bad = |why: &str| {
        Err(OptionError::part(format!(
            "`{v}` is not a port mapping `[ip:]host:container[/tcp|/udp]`: {why}"
        )))
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

pub(super) fn check_add_host(v: &str) -> Result<(), OptionError> {
    let Some((host, ip)) = v.split_once(':') else {
        return Err(OptionError::part(format!(
            "`{v}` is not {} (no `:`)",
            Flag::AddHost.expects()
        )));
    };
    if !dns_name(host) {
        return Err(OptionError::part(format!(
            "`{v}`: `{host}` is not a DNS host name"
        )));
    }
    let bare = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    if ip != "host-gateway" && bare.parse::<IpAddr>().is_err() {
        return Err(OptionError::part(format!(
            "`{v}`: `{ip}` is not an IP address"
        )));
    }
    Ok(())
}

pub(super) fn check_build_arg(v: &str) -> Result<(), OptionError> {
    let Some((k, _)) = v.split_once('=') else {
        return Err(OptionError::part(format!("`{v}` is not `KEY=value`")));
    };
    if k.is_empty()
        || !k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(OptionError::part(format!("`{k}` is not a build argument name (letters, digits and `_`, not starting with a digit)")));
    }
    Ok(())
}

/// Every Linux capability (capability(7)), without `CAP_`, plus `ALL`.
pub(super) const CAPS: &[&str] = &[
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
pub(super) const HARMLESS_CAPS: &[&str] = &[
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
pub(crate) fn capability(v: &str) -> Result<String, OptionError> {
    let upper = v.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if CAPS.contains(&bare) {
        Ok(bare.to_owned())
    } else {
        Err(OptionError::part(format!(
            "`{v}` is not a Linux capability name"
        )))
    }
}

pub(super) fn check_device(v: &str) -> Result<(), OptionError> {
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
        Err(OptionError::Grammar {
            value: v.to_owned(),
            expects: Flag::Device.expects(),
        })
    }
}

pub(super) fn perms(p: &str) -> bool {
    !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "rwm".contains(c))
}

pub(super) fn device_cgroup_rule(v: &str) -> bool {
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

pub(super) fn security_opt(v: &str) -> bool {
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
pub(crate) fn namespaced_sysctl(key: &str) -> bool {
    key.starts_with("net.")
        || key.starts_with("kernel.shm")
        || key.starts_with("kernel.msg")
        || key == "kernel.sem"
        || key.starts_with("fs.mqueue.")
}

pub(super) fn check_sysctl(v: &str) -> Result<(), OptionError> {
    let Some((k, val)) = v.split_once('=') else {
        return Err(OptionError::part(format!("`{v}` is not `key=value`")));
    };
    if k.is_empty()
        || !k.split(['.', '/']).all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-*".contains(c))
        })
    {
        return Err(OptionError::part(format!("`{k}` is not a sysctl name")));
    }
    if !namespaced_sysctl(k) {
        return Err(OptionError::part(format!(
            "`{k}` is not namespaced: it would change the host's kernel, and Docker refuses it (only `net.*`, `kernel.shm*`, `kernel.msg*`, `kernel.sem` and `fs.mqueue.*` are per container)"
        )));
    }
    // Several numbers are separated by single spaces (`kernel.sem=250 32000 100 128`).
    if !val.split(' ').all(|w| {
        w.starts_with(|c: char| c.is_ascii_alphanumeric())
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-:/,".contains(c))
    }) {
        return Err(OptionError::part(format!("`{val}` is not a sysctl value (words of letters, digits and `_.-:/,`, separated by single spaces)")));
    }
    Ok(())
}

/// tmpfs mount options Docker passes to the kernel that give no power over the host.
pub(super) fn tmpfs_option(o: &str) -> bool {
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

pub(super) fn check_tmpfs(v: &str) -> Result<(), OptionError> {
    let (path, opts) = v.split_once(':').unwrap_or((v, ""));
    if !abs_path(path) || path == "/" {
        return Err(OptionError::part(format!(
            "`{path}` is not an absolute container path (letters, digits, `_.-/@+`, no `..`)"
        )));
    }
    if let Some(bad) = opts
        .split(',')
        .filter(|_| !opts.is_empty())
        .find(|o| !tmpfs_option(o))
    {
        return Err(OptionError::part(format!("`{bad}` is not an allowed tmpfs option (rw, ro, noexec, exec, nosuid, nodev, *atime, size=, mode=, uid=, gid=, nr_inodes=)")));
    }
    Ok(())
}

pub(super) const ULIMITS: &[&str] = &[
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

pub(super) fn check_ulimit(v: &str) -> Result<(), OptionError> {
    let Some((name, limits)) = v.split_once('=') else {
        return Err(OptionError::Grammar {
            value: v.to_owned(),
            expects: Flag::Ulimit.expects(),
        });
    };
    if !ULIMITS.contains(&name) {
        return Err(OptionError::part(format!(
            "`{name}` is not a ulimit name ({})",
            ULIMITS.join(", ")
        )));
    }
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    if !int_in(soft, -1, i64::MAX) || !int_in(hard, -1, i64::MAX) {
        return Err(OptionError::part(format!(
            "`{limits}` is not `soft:hard` with integers"
        )));
    }
    Ok(())
}
