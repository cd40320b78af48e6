//! `ports` (and `x-dokku.proxy_port`): through Dokku's HTTP proxy (`ports:set`) or published
//! by docker (`-p`) for UDP, address-bound and non-HTTP ports (docs/mapping.md "Ports").

use super::container::Opts;
use super::ctx::{shape, Ctx};
use super::docker_opt::Flag;
use super::error::ModelError;
use super::service::{Port, Published};
use super::xdokku::ServiceSettings;
use crate::compose::types;

/// How one compose port is published.
#[derive(Debug, PartialEq, Eq)]
enum PortRoute<'a> {
    /// Through Dokku's HTTP proxy, with this scheme (`http`, `https`, `grpc`, `grpcs`).
    Proxy(&'static str),
    /// By docker (`-p`), on `ip` when the port is bound to one address.
    Direct { ip: Option<&'a str>, udp: bool },
}

/// Container ports whose well-known protocol is not HTTP: mail, DNS, directory, MQTT,
/// databases, message brokers, game servers, VPNs. Published directly unless `app_protocol`
/// says HTTP.
const NON_HTTP_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 110, 143, 389, 465, 587, 636, 993, 995, 1194, 1433, 1521, 1883, 2049, 3306,
    3478, 4222, 5222, 5269, 5432, 5672, 6379, 6380, 7687, 8883, 9042, 9092, 11211, 19132, 25565,
    26379, 27015, 27017, 51820,
];

/// Which way a compose port entry goes: a UDP port or one bound to one address (`host_ip`) is
/// published by docker; else `app_protocol` decides when given (the proxy's protocols go
/// through the proxy, any other is published by docker); else a container port serving TLS
/// itself (443) or one whose well-known protocol is not HTTP is published by docker, and the
/// rest goes through the proxy as HTTP.
fn port_route(p: &types::Port, target: u16) -> PortRoute<'_> {
    let udp = p.protocol.as_deref() == Some("udp");
    let ip = p
        .host_ip
        .as_deref()
        .filter(|ip| !matches!(*ip, "" | "0.0.0.0" | "::"));
    let direct = PortRoute::Direct { ip, udp };
    if udp || ip.is_some() {
        return direct;
    }
    match types::set(&p.app_protocol)
        .and_then(types::Scalar::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("http" | "http1" | "http2" | "ws") => PortRoute::Proxy("http"),
        Some("https" | "wss") => PortRoute::Proxy("https"),
        Some("grpc" | "h2c") => PortRoute::Proxy("grpc"),
        Some("grpcs") => PortRoute::Proxy("grpcs"),
        Some(_) => direct,
        None if target == 443 || NON_HTTP_PORTS.contains(&target) => direct,
        None => PortRoute::Proxy("http"),
    }
}

/// The proxied ports, sorted, and the ones docker publishes directly, which also become `-p`
/// docker options.
pub(super) fn ports(
    ctx: &mut Ctx<'_>,
    raw: &types::Service,
    settings: &ServiceSettings,
    opts: &mut Opts,
) -> Result<(Vec<Port>, Vec<Published>), ModelError> {
    let base = opts.base.clone();
    let mut ports = Vec::new();
    let mut published = Vec::new();
    for (i, p) in raw.ports.iter().enumerate() {
        let path = || format!("{base}.ports[{i}]");
        let target =
            u16::try_from(p.target).map_err(|_| shape(&path(), "needs a numeric `target`"))?;
        let host = match p.published.as_deref() {
            None | Some("") => target,
            Some(s) => s.parse::<u16>().ok().filter(|h| *h > 0).ok_or_else(|| ModelError::Rejected {
                path: format!("{}.published", path()),
                reason: format!("`{s}` is not one host port; Dokku publishes fixed ports (no ranges, no random port)"),
            })?,
        };
        match port_route(p, target) {
            PortRoute::Proxy(scheme) => ports.push(Port {
                scheme: scheme.into(),
                host,
                container: target,
            }),
            PortRoute::Direct { ip, udp } => {
                // Published by docker itself (`docker-options` `-p`), as Dokku users publish
                // TCP/UDP and address-bound ports: the proxy speaks HTTP on every address.
                let addr = match ip {
                    Some(ip) if ip.contains(':') => format!("[{ip}]:"),
                    Some(ip) => format!("{ip}:"),
                    None => String::new(),
                };
                if matches!(host, 80 | 443) && ip.is_none() && !udp {
                    ctx.warn(path(), format!("published by docker on host port {host}, which Dokku's nginx proxy listens on; the deploy fails while the proxy holds it"));
                }
                let proto = if udp { "/udp" } else { "" };
                let value = format!("{addr}{host}:{target}{proto}");
                opts.add_at(path(), Flag::Publish, Some(&value))?;
                published.push(Published {
                    ip: ip.map(str::to_owned),
                    host,
                    container: target,
                    udp,
                });
            }
        }
    }
    ports.sort_by_key(|p| (p.host, p.container));
    ports.dedup();
    if ports.is_empty() {
        if let Some(pp) = settings.proxy_port {
            ports.push(Port {
                scheme: "http".into(),
                host: 80,
                container: pp,
            });
        }
    }
    if ports.is_empty() && !settings.domains.is_empty() {
        ctx.warn(format!("{base}.x-dokku.domains"), "the service publishes no port and has no `proxy_port`, so the proxy is disabled and the domains serve nothing");
    }
    Ok((ports, published))
}
