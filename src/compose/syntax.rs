//! Parsers for the compose short syntaxes that are strings: port specs, volume specs,
//! byte sizes and shell-like command strings. Each returns the long-syntax tree.

use std::path::Path;

use super::tree::{Map, Node};

/// A short-syntax string that does not parse, worded as the reference words it (the caller
/// adds the key path: [`super::ComposeError::Syntax`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// A port spec with an empty protocol.
    #[error("invalid proto: {0}")]
    Proto(String),
    /// A container port or range that is not one.
    #[error("invalid containerPort: {0}")]
    ContainerPort(String),
    /// A host port or range that is not one.
    #[error("invalid hostPort: {0}")]
    HostPort(String),
    /// Container and host ranges of different lengths.
    #[error("invalid ranges specified for container and host Ports: {container} and {host}")]
    Ranges {
        /// The container range.
        container: String,
        /// The host range.
        host: String,
    },
    /// A host IP that is not an address.
    #[error("invalid IP address: {0}")]
    Ip(String),
    /// A bracketed IPv6 address not followed by `:`.
    #[error("invalid port spec: {0}")]
    PortSpec(String),
    /// An empty volume spec.
    #[error("invalid empty volume spec")]
    EmptyVolume,
    /// A volume spec with `::`.
    #[error("invalid spec: {0}: empty section between colons")]
    EmptySection(String),
    /// A volume spec with more than three parts.
    #[error("invalid spec: {0}: too many colons")]
    TooManyColons(String),
    /// A byte size that is not one.
    #[error("invalid size: '{0}'")]
    Size(String),
    /// A command string that does not split into shell words.
    #[error("invalid command line {text:?}: {reason}")]
    Command {
        /// The command string.
        text: String,
        /// Why it does not split.
        reason: String,
    },
    /// A Go duration that is not one.
    #[error("invalid duration {0:?}")]
    Duration(String),
}

/// Parses a short port spec (`[ip:][host[-range]:]container[-range][/proto]`) into one long
/// entry per container port, as the reference does.
pub(crate) fn parse_port(spec: &str) -> Result<Vec<Node>, SyntaxError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if !p.contains(':') => (r, p),
        _ => (spec, "tcp"),
    };
    if proto.is_empty() {
        return Err(SyntaxError::Proto(spec.to_owned()));
    }
    let (ip, host, container) = split_port_parts(rest)?;
    let (c_start, c_end) =
        parse_range(container).ok_or_else(|| SyntaxError::ContainerPort(container.to_owned()))?;
    let (h_start, h_end) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host).ok_or_else(|| SyntaxError::HostPort(host.to_owned()))?
    };
    if !host.is_empty() && (c_end - c_start) != (h_end - h_start) && c_end != c_start {
        return Err(SyntaxError::Ranges {
            container: container.to_owned(),
            host: host.to_owned(),
        });
    }
    let mut out = Vec::new();
    for i in 0..=(c_end - c_start) {
        let mut m = Map::new();
        m.insert("mode".into(), Node::Str("ingress".into()));
        if !ip.is_empty() {
            m.insert("host_ip".into(), Node::Str(ip.clone()));
        }
        m.insert("target".into(), Node::Int(i64::from(c_start + i)));
        if !host.is_empty() {
            let published = if c_start == c_end && h_start != h_end {
                format!("{h_start}-{h_end}")
            } else {
                (h_start + i).to_string()
            };
            m.insert("published".into(), Node::Str(published));
        }
        m.insert("protocol".into(), Node::Str(proto.to_string()));
        out.push(Node::Map(m));
    }
    Ok(out)
}

fn split_port_parts(raw: &str) -> Result<(String, &str, &str), SyntaxError> {
    // A bracketed IPv6 host address may contain colons.
    if let Some(stripped) = raw.strip_prefix('[') {
        let (ip, rest) = stripped
            .split_once(']')
            .ok_or_else(|| SyntaxError::Ip(raw.to_owned()))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| SyntaxError::PortSpec(raw.to_owned()))?;
        let (host, container) = rest.split_once(':').unwrap_or(("", rest));
        return Ok((ip.to_string(), host, container));
    }
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.len() {
        1 => Ok((String::new(), "", parts[0])),
        2 => Ok((String::new(), parts[0], parts[1])),
        3 => {
            check_ip(parts[0])?;
            Ok((parts[0].to_string(), parts[1], parts[2]))
        }
        n => {
            let ip = parts[..n - 2].join(":");
            check_ip(&ip)?;
            Ok((ip, parts[n - 2], parts[n - 1]))
        }
    }
}

fn check_ip(ip: &str) -> Result<(), SyntaxError> {
    if ip.is_empty() || ip.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(SyntaxError::Ip(ip.to_owned()))
    }
}

fn parse_range(s: &str) -> Option<(u32, u32)> {
    let port = |p: &str| p.parse::<u32>().ok().filter(|&n| n <= 65535);
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            (a <= b).then_some((a, b))
        }
        None => port(s).map(|p| (p, p)),
    }
}

/// Parses a short volume spec (`[source:]target[:options]`) into the long syntax, resolving
/// a relative or `~` bind source against `base` and `home`.
pub(crate) fn parse_volume(
    spec: &str,
    base: &Path,
    home: Option<&str>,
) -> Result<Map, SyntaxError> {
    let mut m = Map::new();
    if spec.is_empty() {
        return Err(SyntaxError::EmptyVolume);
    }
    if spec.len() <= 2 {
        m.insert("type".into(), Node::Str("volume".into()));
        m.insert("target".into(), Node::Str(spec.into()));
        m.insert("volume".into(), Node::Map(Map::new()));
        return Ok(m);
    }
    let chars: Vec<char> = spec.chars().collect();
    let mut source: Option<String> = None;
    let mut target: Option<String> = None;
    let mut read_only = false;
    let mut nocopy = false;
    let mut bind = Map::new();
    let mut buf = String::new();
    let n = chars.len();
    let mut i = 0;
    while i <= n {
        let c = chars.get(i).copied();
        let windows_drive = c == Some(':')
            && buf.len() == 1
            && buf.chars().all(|c| c.is_ascii_alphabetic())
            && source.is_none();
        if windows_drive {
            buf.push(':');
        } else if c.is_none() || c == Some(':') {
            let end = c.is_none();
            if buf.is_empty() {
                return Err(SyntaxError::EmptySection(spec.to_owned()));
            }
            if source.is_none() && end {
                target = Some(std::mem::take(&mut buf));
            } else if source.is_none() {
                source = Some(std::mem::take(&mut buf));
            } else if target.is_none() {
                target = Some(std::mem::take(&mut buf));
            } else if !end {
                return Err(SyntaxError::TooManyColons(spec.to_owned()));
            } else {
                for opt in buf.split(',') {
                    match opt {
                        "ro" => read_only = true,
                        "rw" => read_only = false,
                        "nocopy" => nocopy = true,
                        "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                            bind.insert("propagation".into(), Node::Str(opt.into()));
                        }
                        "z" | "Z" => {
                            bind.insert("selinux".into(), Node::Str(opt.into()));
                        }
                        _ => {}
                    }
                }
                buf.clear();
            }
        } else if let Some(c) = c {
            buf.push(c);
        }
        i += 1;
    }
    let source = source.unwrap_or_default();
    let is_bind = is_file_path(&source);
    m.insert(
        "type".into(),
        Node::Str(if is_bind { "bind" } else { "volume" }.into()),
    );
    if !source.is_empty() {
        let source = if is_bind {
            resolve_path(&source, base, home)
        } else {
            source
        };
        m.insert("source".into(), Node::Str(source));
    }
    m.insert(
        "target".into(),
        Node::Str(clean_target(&target.unwrap_or_default())),
    );
    if read_only {
        m.insert("read_only".into(), Node::Bool(true));
    }
    if is_bind {
        bind.insert("create_host_path".into(), Node::Bool(true));
        m.insert("bind".into(), Node::Map(bind));
    } else {
        let mut vol = Map::new();
        if nocopy {
            vol.insert("nocopy".into(), Node::Bool(true));
        }
        m.insert("volume".into(), Node::Map(vol));
    }
    Ok(m)
}

/// Whether a volume source names a host path rather than a named volume.
pub(crate) fn is_file_path(source: &str) -> bool {
    let mut chars = source.chars();
    match chars.next() {
        None => false,
        Some('.' | '/' | '~') => true,
        Some('\\') => source.starts_with("\\\\"),
        Some(c) => c.is_ascii_alphabetic() && chars.next() == Some(':'),
    }
}

/// Resolves a path against `base`, expanding a leading `~` with `home`; keeps absolute paths.
pub(crate) fn resolve_path(path: &str, base: &Path, home: Option<&str>) -> String {
    if let (Some(rest), Some(home)) = (path.strip_prefix('~'), home) {
        if rest.is_empty() || rest.starts_with('/') {
            return clean(&format!("{home}{rest}"));
        }
    }
    if path.starts_with('/') {
        return path.to_string();
    }
    if is_file_path(path) && !path.starts_with('.') && !path.starts_with('~') {
        return path.to_string();
    }
    clean(&format!("{}/{path}", base.display()))
}

/// Cleans a container path as the reference does (`/data/` → `/data`).
pub(crate) fn clean_target(target: &str) -> String {
    if target.starts_with('/') && target.len() > 1 {
        clean(target)
    } else {
        target.to_string()
    }
}

/// Lexically cleans an absolute path (`.`, `..`, doubled and trailing slashes), as Go's
/// `filepath.Clean`.
pub(crate) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Parses a byte size (`512m`, `1.5g`, `1024`) into a byte count, as docker's
/// `RAMInBytes` (binary multipliers).
pub(crate) fn parse_bytes(s: &str) -> Result<i64, SyntaxError> {
    let t = s.trim().to_ascii_lowercase();
    // `-1` means unlimited (`memswap_limit`); it is printed as `"-1"` and must read back.
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| SyntaxError::Size(s.to_owned()))?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        "p" | "pb" | "pib" => 1024.0_f64.powi(5),
        _ => return Err(SyntaxError::Size(s.to_owned())),
    };
    #[expect(
        clippy::cast_possible_truncation,
        reason = "sizes are far below 2^63, as in the reference"
    )]
    Ok((value * mult) as i64)
}

/// Splits a command string the way the reference does (POSIX shell words, no expansion).
pub(crate) fn split_command(s: &str) -> Result<Vec<String>, SyntaxError> {
    shell_words::split(s).map_err(|e| SyntaxError::Command {
        text: s.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_json(spec: &str) -> serde_json::Value {
        serde_json::Value::Array(
            parse_port(spec)
                .unwrap()
                .iter()
                .map(Node::to_json)
                .collect(),
        )
    }

    #[test]
    fn ports_expand_ranges_and_keep_host_ip() {
        assert_eq!(
            port_json("127.0.0.1:8000-8001:80-81/udp"),
            serde_json::json!([
                {"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8000", "protocol": "udp"},
                {"mode": "ingress", "host_ip": "127.0.0.1", "target": 81, "published": "8001", "protocol": "udp"},
            ])
        );
        assert_eq!(
            port_json("[::1]:80:8080"),
            serde_json::json!([{"mode": "ingress", "host_ip": "::1", "target": 8080, "published": "80", "protocol": "tcp"}])
        );
        assert_eq!(
            port_json("8000-8010:80"),
            serde_json::json!([{"mode": "ingress", "target": 80, "published": "8000-8010", "protocol": "tcp"}])
        );
        assert!(parse_port("80-81:90-99").is_err());
        assert!(parse_port("abc").is_err());
    }

    #[test]
    fn volumes_parse_binds_and_named_volumes() {
        let v = parse_volume("./data:/data:ro,z", Path::new("/p"), None).unwrap();
        assert_eq!(
            Node::Map(v).to_json(),
            serde_json::json!({"type": "bind", "source": "/p/data", "target": "/data", "read_only": true, "bind": {"selinux": "z", "create_host_path": true}})
        );
        let v = parse_volume("db:/var/lib/db", Path::new("/p"), None).unwrap();
        assert_eq!(
            Node::Map(v).to_json(),
            serde_json::json!({"type": "volume", "source": "db", "target": "/var/lib/db", "volume": {}})
        );
        assert!(parse_volume(":/x", Path::new("/p"), None).is_err());
    }

    #[test]
    fn sizes_use_binary_multipliers() {
        assert_eq!(parse_bytes("512m"), Ok(536_870_912));
        assert_eq!(parse_bytes("1.5g"), Ok(1_610_612_736));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("-5m").is_err());
        assert!(parse_bytes("12x").is_err());
    }
}

/// Parses a Go duration (`1h30m`, `1.5s`, `500ms`) into nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i128, SyntaxError> {
    let err = || SyntaxError::Duration(s.to_owned());
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_end == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_end].parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        total += value * mult;
        rest = &rest[unit_end..];
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "durations are far below 2^127 ns"
    )]
    let ns = total.round() as i128;
    Ok(if neg { -ns } else { ns })
}

/// Formats nanoseconds as Go's `time.Duration.String` does (`1m0s`, `1.5s`, `500ms`).
pub(crate) fn format_duration(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    let frac = |value: u128, unit: u128| -> String {
        let whole = value / unit;
        let rem = value % unit;
        if rem == 0 {
            whole.to_string()
        } else {
            let width = unit.to_string().len() - 1;
            let digits = format!("{rem:0width$}");
            format!("{whole}.{}", digits.trim_end_matches('0'))
        }
    };
    if ns < 1_000 {
        return format!("{sign}{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{sign}{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{sign}{}ms", frac(ns, 1_000_000));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = (ns / 60_000_000_000) % 60;
    let secs = frac(ns % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        for (input, expected) in [
            ("60s", "1m0s"),
            ("1m", "1m0s"),
            ("300s", "5m0s"),
            ("10s", "10s"),
            ("1.5s", "1.5s"),
            ("500ms", "500ms"),
            ("1h", "1h0m0s"),
            ("90m", "1h30m0s"),
        ] {
            assert_eq!(
                format_duration(parse_duration(input).unwrap()),
                expected,
                "{input}"
            );
        }
        assert!(parse_duration("ten").is_err());
    }
}
