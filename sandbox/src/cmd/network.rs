//! `network:*` (dokku-cli.json `network:*`: create fails when the network exists, exists exits
//! 1 with ` !     Network does not exist`, destroy asks for confirmation, per-app properties).

use crate::args::{parse, spec};
use crate::ctx::{fail, remove_any, Ctx, Fail, Res};
use crate::store::{mkdirs, rows, Report, Row};

const KEYS: &[&str] = &[
    "attach-post-create",
    "attach-post-deploy",
    "bind-all-interfaces",
    "initial-network",
    "static-web-listener",
    "tld",
];

/// `DefaultProperties` of plugins/network/network.go.
fn default(key: &str) -> &'static str {
    if key == "bind-all-interfaces" {
        "false"
    } else {
        ""
    }
}

fn net_dir(ctx: &Ctx, n: &str) -> std::path::PathBuf {
    ctx.paths.lib.join("data/sandbox-networks").join(n)
}

fn valid(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphanumeric())
        && c.all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

/// A stable 12-hex-digit id for a network, as `docker network ls` shows.
fn network_id(n: &str) -> String {
    use sha1::{Digest, Sha1};
    let d = Sha1::digest(n.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Whether a network exists (built-in `bridge`, `host`, `none` always do).
pub fn exists(ctx: &Ctx, n: &str) -> bool {
    matches!(n, "bridge" | "host" | "none") || net_dir(ctx, n).is_dir()
}

/// Dispatch `network:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "report" => Report {
            plugin: "network",
            kind: "network",
            legacy: true,
        }
        .run(ctx, args, &report_rows, &|c| {
            // plugins/network/report.go: the global report has computed and global keys of
            // every property but static-web-listener.
            let mut v = Vec::new();
            for k in KEYS.iter().filter(|k| **k != "static-web-listener") {
                v.push((
                    format!("network-computed-{k}"),
                    c.prop_computed("network", "--global", k, default(k))?,
                ));
                v.push((
                    format!("network-global-{k}"),
                    c.prop_or("network", "--global", k)?,
                ));
            }
            Ok(rows(v))
        }),
        "create" => {
            let n = args.first().cloned().unwrap_or_default();
            if !valid(&n) {
                return fail(format!("Invalid network name: {n}"));
            }
            if exists(ctx, &n) {
                return fail(format!("Unable to create network: Error response from daemon: network with name {n} already exists"));
            }
            ctx.info1(format!("Creating network {n}"));
            if crate::docker::enabled(&ctx.paths) {
                crate::docker::network_create(ctx, &n)?;
            }
            mkdirs(&net_dir(ctx, &n))
        }
        "destroy" => {
            let p = parse(args, &spec(&[], &["--force"]))?;
            let n = p.arg(0);
            if !net_dir(ctx, &n).is_dir() {
                return fail("Network does not exist");
            }
            if !(p.has("--force") || ctx.forced()) {
                crate::cmd::apps::confirm(ctx, "network", &n)?;
            }
            ctx.info1(format!("Destroying network {n}"));
            if crate::docker::enabled(&ctx.paths) {
                crate::docker::network_destroy(ctx, &n)?;
            }
            remove_any(&net_dir(ctx, &n))
        }
        "exists" => {
            let n = args.first().cloned().unwrap_or_default();
            if exists(ctx, &n) {
                ctx.info1("Network exists");
                Ok(())
            } else {
                fail("Network does not exist")
            }
        }
        "info" => {
            let p = parse(args, &spec(&["--format"], &[]))?;
            let n = p.arg(0);
            if !exists(ctx, &n) {
                return fail("Network does not exist");
            }
            if p.get("--format") == Some("json") {
                ctx.out(serde_json::json!({"name": n, "driver": "bridge", "labels": {"com.dokku.network-name": n}}).to_string());
            } else {
                ctx.info2(format!("{n} network information"));
                ctx.verbose(format!("{:<31}{n}", "Name:"));
            }
            Ok(())
        }
        "list" => {
            let p = parse(args, &spec(&["--format"], &["--dokku-managed"]))?;
            let mut v: Vec<String> = std::fs::read_dir(ctx.paths.lib.join("data/sandbox-networks"))
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().to_string())
                        .collect()
                })
                .unwrap_or_default();
            if !p.has("--dokku-managed") {
                v.extend(["bridge", "host", "none"].map(String::from));
            }
            v.sort();
            if p.get("--format") == Some("json") {
                // `CommandList` (plugins/network/subcommands.go) marshals `DockerNetwork`
                // objects, not names. `getNetworks` parses one fixed timestamp for every
                // network that has a creation time (a Dokku quirk kept here).
                let objs: Vec<serde_json::Value> = v
                    .iter()
                    .map(|n| {
                        let managed = !matches!(n.as_str(), "bridge" | "host" | "none");
                        let driver = match n.as_str() {
                            "host" => "host",
                            "none" => "null",
                            _ => "bridge",
                        };
                        let labels = if managed {
                            serde_json::json!({"com.dokku.network-name": n})
                        } else {
                            serde_json::json!({})
                        };
                        serde_json::json!({
                            "CreatedAt": "2024-02-25T01:55:24.275184461Z",
                            "DokkuManaged": managed,
                            "Driver": driver,
                            "ID": network_id(n),
                            "Internal": false,
                            "IPv6": false,
                            "Labels": labels,
                            "Name": n,
                            "Scope": "local",
                        })
                    })
                    .collect();
                ctx.out(serde_json::to_string(&objs).unwrap_or_default());
            } else {
                ctx.info2("Networks");
                v.iter().for_each(|n| ctx.out(n));
            }
            Ok(())
        }
        "set" => {
            let p = parse(args, &spec(&[], &["--global"]))?;
            let global = p.has("--global");
            let (scope, rest) = if global {
                ("--global".to_string(), p.pos.clone())
            } else {
                (p.arg(0), p.pos.iter().skip(1).cloned().collect::<Vec<_>>())
            };
            if !global {
                ctx.verify_app(&scope)?;
            }
            let key = rest.first().cloned().unwrap_or_default();
            if !KEYS.contains(&key.as_str()) {
                return fail(format!(
                    "Invalid property specified, valid properties include: {}",
                    KEYS.join(", ")
                ));
            }
            if global && key == "static-web-listener" {
                return fail("Property cannot be specified globally");
            }
            let values: Vec<String> = rest.iter().skip(1).cloned().collect();
            if values.len() > 1 && !key.starts_with("attach-") {
                return fail(format!("Only one value may be specified for {key}"));
            }
            // `CommandSet` (plugins/network/subcommands.go): attach networks may not be host or
            // bridge, nor equal the computed value of the other attach property; nothing checks
            // that the network exists.
            if key.starts_with("attach-") {
                let other = if key == "attach-post-create" {
                    "attach-post-deploy"
                } else {
                    "attach-post-create"
                };
                let other_value = ctx.prop_computed("network", &scope, other, "")?;
                for v in &values {
                    if v == "host" || v == "bridge" {
                        return fail(format!("Invalid network name specified for attach: {v}"));
                    }
                    if !v.is_empty() && *v == other_value {
                        return fail(format!(
                            "Network name already associated with this app: {v}"
                        ));
                    }
                }
            }
            crate::cmd::props::set_value(ctx, "network", &scope, &key, &values.join(","))
        }
        "rebuild" | "rebuildall" => Ok(()),
        _ => Err(Fail::Silent(255)),
    }
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let mut v = Vec::new();
    for k in KEYS {
        // static-web-listener is app-only: no computed or global key (plugins/network report).
        if *k != "static-web-listener" {
            v.push((
                format!("network-computed-{k}"),
                ctx.prop_computed("network", app, k, default(k))?,
            ));
            v.push((
                format!("network-global-{k}"),
                ctx.prop_or("network", "--global", k)?,
            ));
        }
        v.push((format!("network-{k}"), ctx.prop_or("network", app, k)?));
    }
    let st = crate::deploy::load(ctx, app)?;
    v.push((
        "network-web-listeners".into(),
        if st.running {
            "172.17.0.2:5000".into()
        } else {
            String::new()
        },
    ));
    Ok(rows(v))
}
