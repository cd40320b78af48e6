//! `ports:*` and `proxy:*` (dokku-cli.json `ports:*`: `<scheme>:<host>:<container>` maps,
//! `post-proxy-ports-update <app> <action>`; `proxy:*` properties).

use crate::args::{parse, spec};
use crate::ctx::{fail, Ctx, Fail, Res};
use crate::plugins::trigger;
use crate::store::{rows, Report, Row};

const SCHEMES: &[&str] = &["http", "https", "grpc", "grpcs", "tcp", "udp"];

/// Validate `<scheme>:<host-port>:<container-port>` (`parsePortMapString`).
pub fn valid_map(m: &str) -> bool {
    let parts: Vec<&str> = m.split(':').collect();
    parts.len() == 3 && SCHEMES.contains(&parts[0]) && parts[1..].iter().all(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// The app's explicit port mappings.
pub fn mappings(ctx: &Ctx, app: &str) -> Res<Vec<String>> {
    Ok(ctx.prop_or("ports", app, "map")?.split_whitespace().map(str::to_string).collect())
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

/// Dispatch `ports:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    if sub == "report" {
        return Report { plugin: "ports", kind: "ports", legacy: true }.run(ctx, args, &report_rows, &|_| Ok(Vec::new()));
    }
    let p = parse(args, &spec(&[], &[]))?;
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let given: Vec<String> = p.pos.iter().skip(1).cloned().collect();
    let mut cur = mappings(ctx, &app)?;
    match sub {
        "add" | "set" => {
            if given.is_empty() {
                return fail("No port mapping specified");
            }
            for m in &given {
                if !valid_map(m) {
                    return fail(format!("Invalid port mapping specified: {m}"));
                }
            }
            if sub == "set" {
                cur.clear();
            }
            for m in given {
                if !cur.contains(&m) {
                    cur.push(m);
                }
            }
            ctx.info1(format!("{} port mapping for {app}", if sub == "set" { "Setting" } else { "Adding" }));
        }
        "remove" => {
            if given.is_empty() {
                return fail("No port mapping specified");
            }
            for g in &given {
                if g.contains(':') {
                    cur.retain(|m| m != g);
                } else {
                    cur.retain(|m| m.split(':').nth(1) != Some(g.as_str()));
                }
            }
            ctx.info1(format!("Removing port mapping for {app}"));
        }
        "clear" => {
            cur.clear();
            ctx.info1(format!("Clearing port mappings for {app}"));
        }
        "list" => {
            if cur.is_empty() {
                ctx.warn(format!("No port mappings configured for app {app}"));
                return Ok(());
            }
            ctx.info1(format!("Port mappings for {app}"));
            ctx.verbose(format!("{:<8} {:<12} {}", "scheme", "host port", "container port"));
            for m in &cur {
                let v: Vec<&str> = m.split(':').collect();
                ctx.verbose(format!("{:<8} {:<12} {}", v[0], v[1], v[2]));
            }
            return Ok(());
        }
        _ => return Err(Fail::Silent(255)),
    }
    write(ctx, &app, &cur)?;
    let t = trigger(ctx, "post-proxy-ports-update", &[&app, sub], false, false)?;
    if t.code != 0 {
        return Err(Fail::Silent(t.code.clamp(1, 255) as u8));
    }
    Ok(())
}

fn detected(ctx: &Ctx, app: &str) -> Res<String> {
    let st = crate::deploy::load(ctx, app)?;
    Ok(if st.deployed { "http:80:5000".into() } else { String::new() })
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
        "report" => Report { plugin: "proxy", kind: "proxy", legacy: true }.run(ctx, args, &proxy_rows, &|c| {
            Ok(rows(vec![("proxy-global-type".into(), c.prop_or("proxy", "--global", "type")?)]))
        }),
        "enable" | "disable" | "build-config" | "clear-config" => {
            let p = parse(args, &spec(&["--parallel"], &["--all"]))?;
            let apps = if p.has("--all") { ctx.apps()? } else { vec![p.arg(0)] };
            for app in apps {
                ctx.verify_app(&app)?;
                match sub {
                    "enable" => {
                        ctx.info1(format!("Enabling proxy for app ({app})"));
                        ctx.unset_prop("proxy", &app, "disabled")?;
                    }
                    "disable" => {
                        ctx.info1(format!("Disabling proxy for app ({app})"));
                        ctx.set_prop("proxy", &app, "disabled", "true")?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        "set" => {
            let p = parse(args, &spec(&[], &["--global"]))?;
            let (scope, mut key, mut value) = if p.has("--global") { ("--global".to_string(), p.arg(0), p.arg(1)) } else { (p.arg(0), p.arg(1), p.arg(2)) };
            if scope != "--global" {
                ctx.verify_app(&scope)?;
            }
            const KEYS: [&str; 4] = ["type", "proxy-port", "proxy-ssl-port", "disabled"];
            if !KEYS.contains(&key.as_str()) && p.pos.len() == if scope == "--global" { 1 } else { 2 } {
                // Legacy two-argument form `proxy:set <app> <type>`.
                if key.contains(':') {
                    return fail("Consider using ports:set command or specifying a valid proxy");
                }
                value = key;
                key = "type".into();
            }
            if !KEYS.contains(&key.as_str()) {
                return fail(format!("Invalid property specified, valid properties include: {}", KEYS.join(", ")));
            }
            crate::cmd::props::set_value(ctx, "proxy", &scope, &key, &value)
        }
        _ => Err(Fail::Silent(255)),
    }
}

fn proxy_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let disabled = ctx.prop_or("proxy", app, "disabled")? == "true";
    let mut v = vec![
        ("proxy-enabled".to_string(), (!disabled).to_string()),
        ("proxy-disabled".to_string(), disabled.to_string()),
        ("proxy-computed-disabled".to_string(), disabled.to_string()),
        ("proxy-computed-type".to_string(), ctx.prop_computed("proxy", app, "type", "nginx")?),
        ("proxy-global-type".to_string(), ctx.prop_or("proxy", "--global", "type")?),
        ("proxy-type".to_string(), ctx.prop_or("proxy", app, "type")?),
    ];
    for k in ["proxy-port", "proxy-ssl-port"] {
        v.push((format!("proxy-{k}"), ctx.prop_or("proxy", app, k)?));
        v.push((format!("proxy-computed-{k}"), ctx.prop_computed("proxy", app, k, "")?));
        v.push((format!("proxy-global-{k}"), ctx.prop_or("proxy", "--global", k)?));
    }
    Ok(rows(v))
}

#[cfg(test)]
mod tests {
    use super::valid_map;

    #[test]
    fn port_map_syntax() {
        assert!(valid_map("http:80:5000"));
        assert!(!valid_map("80:5000"));
        assert!(!valid_map("ftp:21:21"));
        assert!(!valid_map("http:0:5000"));
    }
}
