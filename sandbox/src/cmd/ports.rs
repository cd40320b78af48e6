//! `ports:*` and `proxy:*` (dokku-cli.json `ports:*`: `<scheme>:<host>:<container>` maps,
//! `post-proxy-ports-update <app> <action>`; `proxy:*` properties).

use crate::args::{parse, spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::plugins::trigger;
use crate::store::{rows, Report, Row};

/// One parsed mapping (`parsePortMapString` in plugins/ports/functions.go): `None` scheme is a
/// bare host port, only meaningful for `ports:remove`.
#[derive(Debug, Clone, PartialEq)]
struct PortMap {
    scheme: Option<String>,
    host: u32,
    container: u32,
}

impl PortMap {
    fn render(&self) -> String {
        format!(
            "{}:{}:{}",
            self.scheme.as_deref().unwrap_or("__internal__"),
            self.host,
            self.container
        )
    }
}

fn atoi(v: &str, part: &str) -> Result<u32, String> {
    part.parse::<i64>()
        .map_err(|_| {
            format!("Invalid port map {v} [err=strconv.Atoi: parsing \"{part}\": invalid syntax]")
        })
        .map(|n| n.clamp(-1, 1 << 20) as u32)
}

fn in_range(n: u32) -> bool {
    n > 0 && n < 65536
}

fn parse_maps(items: &[String]) -> Result<Vec<PortMap>, String> {
    let mut out = Vec::new();
    for v in items.join(" ").split(' ').filter(|x| !x.is_empty()) {
        let parts: Vec<&str> = v.splitn(3, ':').collect();
        if parts.len() == 1 {
            let host = atoi(v, v)?;
            if !in_range(host) {
                return Err(format!("Invalid port map {v} [hostPort={host}]"));
            }
            out.push(PortMap {
                scheme: None,
                host,
                container: 0,
            });
            continue;
        }
        if parts.len() != 3 {
            return Err(format!("Invalid port map {v} [len={}]", parts.len()));
        }
        let host = atoi(v, parts[1])?;
        let container = atoi(v, parts[2])?;
        if !in_range(host) {
            return Err(format!("Invalid port map {v} [hostPort={host}]"));
        }
        if !in_range(container) {
            return Err(format!("Invalid port map {v} [containerPort={container}]"));
        }
        out.push(PortMap {
            scheme: Some(parts[0].to_string()),
            host,
            container,
        });
    }
    Ok(out)
}

fn reuse(maps: &[PortMap]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for m in maps {
        let key = format!(
            "{}:{}",
            m.scheme.as_deref().unwrap_or("__internal__"),
            m.host
        );
        if !seen.insert(key.clone()) {
            return Err(format!("The same scheme:host-port is being reused: {key}"));
        }
    }
    Ok(())
}

/// Whether `<scheme>:<host-port>:<container-port>` parses.
pub fn valid_map(m: &str) -> bool {
    matches!(
        parse_maps(&[m.to_string()]).as_deref(),
        Ok([PortMap {
            scheme: Some(_),
            ..
        }])
    )
}

/// The app's explicit port mappings.
pub fn mappings(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    Ok(ctx
        .prop_or("ports", app, "map")?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

fn write(ctx: &Ctx, app: &str, m: &[String]) -> Res {
    if m.is_empty() {
        ctx.unset_prop("ports", app, "map")
    } else {
        ctx.set_prop("ports", app, "map", &m.join(" "))
    }
}

/// Add a mapping if missing (letsencrypt's `https:443`).
pub fn ensure_mapping(ctx: &Ctx, app: &str, m: &str) -> Res {
    let mut cur = mappings(ctx, app)?;
    if !cur.iter().any(|x| x == m) {
        cur.push(m.to_string());
        write(ctx, app, &cur)?;
    }
    Ok(())
}

/// Columns split on `:`, padded, glued with two spaces (ryanuber/columnize defaults).
fn columnize(lines: &[String], prefix: &str) -> Vec<String> {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split(':').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|x| x.len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i + 1 == r.len() {
                        (*c).to_string()
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            format!("{prefix}{}", cells.join("  "))
        })
        .collect()
}

/// Dispatch `ports:<sub>` (plugins/ports/subcommands.go: no output on success).
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return Report {
            plugin: "ports",
            kind: "ports",
            legacy: true,
        }
        .run(ctx, args, &report_rows, &|_| Ok(Vec::new()));
    }
    let p = parse(args, &spec(&[], &[]))?;
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let given: Vec<String> = p.pos.iter().skip(1).cloned().collect();
    let cur = parse_maps(&mappings(ctx, &app)?).unwrap_or_default();
    let next: Vec<PortMap> = match sub {
        "add" | "set" | "remove" => {
            if given.is_empty() {
                return fail("No port mapping specified");
            }
            let new = match parse_maps(&given) {
                Ok(m) => m,
                Err(e) => return fail(e),
            };
            match sub {
                "add" => {
                    if let Err(e) = reuse(&new) {
                        return fail(format!("Error validating new port mappings: {e}"));
                    }
                    let mut all = cur.clone();
                    all.extend(new.iter().cloned());
                    if let Err(e) = reuse(&all) {
                        return fail(format!("Error validating all port mappings: {e}"));
                    }
                    all
                }
                "set" => {
                    if let Err(e) = reuse(&new) {
                        return fail(format!("Error validating port mappings: {e}"));
                    }
                    new
                }
                _ => cur
                    .into_iter()
                    .filter(|m| {
                        !new.iter().any(|r| {
                            if r.scheme.is_none() {
                                r.host == m.host
                            } else {
                                r == m
                            }
                        })
                    })
                    .collect(),
            }
        }
        "clear" => Vec::new(),
        "list" => {
            if cur.is_empty() {
                return fail("No port mappings configured for app");
            }
            let mut lines: Vec<String> = cur.iter().map(PortMap::render).collect();
            if !ctx.globals.quiet {
                lines.push("-----> scheme:host port:container port".into());
            }
            lines.sort();
            ctx.info1(format!("Port mappings for {app}"));
            columnize(&lines, "    ").iter().for_each(|l| ctx.out(l));
            return Ok(());
        }
        _ => return Err(Fail::Silent(255)),
    };
    // plugins/ports `setPortMaps` keeps the map sorted.
    let mut rendered: Vec<String> = next.iter().map(PortMap::render).collect();
    rendered.sort();
    write(ctx, &app, &rendered)?;
    crate::proxy::refresh(ctx)?;
    let t = trigger(ctx, "post-proxy-ports-update", &[&app, sub], false, false)?;
    if t.code != 0 {
        return Err(Fail::Silent(t.code.clamp(1, 255) as u8));
    }
    Ok(())
}

fn detected(ctx: &Ctx, app: &str) -> Res<String> {
    let st = crate::deploy::load(ctx, app)?;
    Ok(if st.deployed {
        "http:80:5000".into()
    } else {
        String::new()
    })
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let map = mappings(ctx, app)?.join(" ");
    let det = detected(ctx, app)?;
    let js = |s: &str| {
        let v: Vec<serde_json::Value> = s
            .split_whitespace()
            .map(|m| {
                let p: Vec<&str> = m.split(':').collect();
                serde_json::json!({"scheme": p[0], "host_port": p[1].parse::<u16>().unwrap_or(0), "container_port": p[2].parse::<u16>().unwrap_or(0)})
            })
            .collect();
        serde_json::to_string(&v).unwrap_or_default()
    };
    Ok(rows(vec![
        ("ports-map".into(), map.clone()),
        ("ports-map-detected".into(), det.clone()),
        ("ports-map-json".into(), js(&map)),
        ("ports-map-detected-json".into(), js(&det)),
    ]))
}

/// Dispatch `proxy:<sub>`.
pub fn proxy(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "report" => Report {
            plugin: "proxy",
            kind: "proxy",
            legacy: true,
        }
        .run(ctx, args, &proxy_rows, &|c| {
            // plugins/proxy/report.go: the --global flag set.
            let mut v = vec![
                (
                    "proxy-computed-type".to_string(),
                    c.prop_computed("proxy", "--global", "type", "nginx")?,
                ),
                (
                    "proxy-global-type".to_string(),
                    c.prop_or("proxy", "--global", "type")?,
                ),
            ];
            for k in ["proxy-port", "proxy-ssl-port"] {
                let g = c.prop_or("proxy", "--global", k)?;
                v.push((format!("proxy-computed-{k}"), g.clone()));
                v.push((format!("proxy-global-{k}"), g));
            }
            Ok(rows(v))
        }),
        "enable" | "disable" | "build-config" | "clear-config" => {
            let p = parse(args, &spec(&["--parallel"], &["--all"]))?;
            let apps = if p.has("--all") {
                ctx.apps()?
            } else {
                vec![p.arg(0)]
            };
            for app in apps {
                ctx.verify_app(&app)?;
                // `Enable`/`Disable` in plugins/proxy/proxy.go (message wording included).
                let enabled = ctx.prop_or("proxy", &app, "disabled")? != "true";
                match sub {
                    "enable" if enabled => ctx.info1("Proxy is already enabled for app"),
                    "enable" => {
                        ctx.info1("Enabling proxy for app");
                        ctx.unset_prop("proxy", &app, "disabled")?;
                        crate::proxy::refresh(ctx)?;
                        trigger(ctx, "proxy-enable", &[&app], false, false)?;
                    }
                    "disable" if !enabled => ctx.info1("Proxy is already disable for app"),
                    "disable" => {
                        ctx.info1("Disabling proxy for app");
                        ctx.set_prop("proxy", &app, "disabled", "true")?;
                        crate::proxy::refresh(ctx)?;
                        trigger(ctx, "proxy-disable", &[&app], false, false)?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        "set" => {
            let p = parse(args, &spec(&[], &["--global"]))?;
            let (scope, mut key, mut value) = if p.has("--global") {
                ("--global".to_string(), p.arg(0), p.arg(1))
            } else {
                (p.arg(0), p.arg(1), p.arg(2))
            };
            if scope != "--global" {
                ctx.verify_app(&scope)?;
            }
            const KEYS: [&str; 4] = ["disabled", "proxy-port", "proxy-ssl-port", "type"];
            // `CommandSet` (plugins/proxy/subcommands.go): `proxy:set <app> <type>` means `type`.
            if !KEYS.contains(&key.as_str()) && value.is_empty() {
                if key.contains(':') {
                    ctx.warn("Detected potential port mapping instead of proxy type");
                    return fail("Consider using ports:set command or specifying a valid proxy");
                }
                value = key;
                key = "type".into();
            }
            if scope == "--global" && key == "disabled" {
                return fail("Property cannot be specified globally");
            }
            if !KEYS.contains(&key.as_str()) {
                return fail(format!(
                    "Invalid property specified, valid properties include: {}",
                    KEYS.join(", ")
                ));
            }
            crate::cmd::props::set_value(ctx, "proxy", &scope, &key, &value)
        }
        _ => Err(Fail::Silent(255)),
    }
}

fn proxy_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let raw = ctx.prop_or("proxy", app, "disabled")?;
    let disabled = raw == "true";
    let computed = if raw.is_empty() {
        "false".to_string()
    } else {
        raw.clone()
    };
    let mut v = vec![
        ("proxy-enabled".to_string(), (!disabled).to_string()),
        ("proxy-disabled".to_string(), raw),
        ("proxy-computed-disabled".to_string(), computed),
        (
            "proxy-computed-type".to_string(),
            ctx.prop_computed("proxy", app, "type", "nginx")?,
        ),
        (
            "proxy-global-type".to_string(),
            ctx.prop_or("proxy", "--global", "type")?,
        ),
        ("proxy-type".to_string(), ctx.prop_or("proxy", app, "type")?),
    ];
    for k in ["proxy-port", "proxy-ssl-port"] {
        v.push((format!("proxy-{k}"), ctx.prop_or("proxy", app, k)?));
        v.push((
            format!("proxy-computed-{k}"),
            ctx.prop_computed("proxy", app, k, "")?,
        ));
        v.push((
            format!("proxy-global-{k}"),
            ctx.prop_or("proxy", "--global", k)?,
        ));
    }
    Ok(rows(v))
}

#[cfg(test)]
mod tests {
    use super::{columnize, parse_maps, valid_map};

    #[test]
    fn port_map_syntax() {
        assert!(valid_map("http:80:5000"));
        assert!(!valid_map("80:5000"));
        assert!(
            valid_map("tcp:21:21"),
            "schemes are not validated by the ports plugin"
        );
        assert!(!valid_map("http:0:5000"));
        assert_eq!(
            parse_maps(&["80:5000".into()]).unwrap_err(),
            "Invalid port map 80:5000 [len=2]"
        );
        assert_eq!(
            parse_maps(&["http:x:1".into()]).unwrap_err(),
            "Invalid port map http:x:1 [err=strconv.Atoi: parsing \"x\": invalid syntax]"
        );
    }

    #[test]
    fn columnize_pads_columns() {
        let l = columnize(
            &[
                "-----> scheme:host port:container port".into(),
                "http:80:5000".into(),
            ],
            "    ",
        );
        assert_eq!(
            l,
            vec![
                "    -----> scheme  host port  container port",
                "    http           80         5000"
            ]
        );
    }
}
