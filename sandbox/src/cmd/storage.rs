//! `storage:*` (dokku-cli.json `storage:*`: legacy `host:container[:opts]` mounts that fail on
//! duplicates, 0.38 named entries (DNS-1123 names, dokku-facts.md §d) mounted idempotently,
//! destroy refused while mounted, confirmation unless `--force`).

use serde::{Deserialize, Serialize};

use crate::args::{parse, spec};
use crate::ctx::{fail, read_opt, remove_any, write_atomic, Ctx, Fail, Res};
use crate::store::{is_valid_storage_name, rows, Report, Row};

/// One mount of an app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    /// Entry name (empty for a legacy mount).
    #[serde(default)]
    pub entry_name: String,
    /// Host path or docker volume.
    pub host_path: String,
    /// Container path.
    pub container_path: String,
    /// Options (`ro`, …).
    #[serde(default)]
    pub volume_options: String,
    /// Phases (`deploy,run`).
    #[serde(default)]
    pub phases: Vec<String>,
}

fn mounts_path(ctx: &Ctx, app: &str) -> std::path::PathBuf {
    ctx.paths.data_dir("storage", app).join("mounts.json")
}

/// The mounts of an app.
pub fn mounts(ctx: &Ctx, app: &str) -> Res<Vec<Mount>> {
    Ok(read_opt(&mounts_path(ctx, app))?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

fn save(ctx: &Ctx, app: &str, m: &[Mount]) -> Res {
    write_atomic(
        &mounts_path(ctx, app),
        &serde_json::to_string_pretty(m).unwrap_or_default(),
    )
}

fn entry_path(ctx: &Ctx, name: &str) -> std::path::PathBuf {
    ctx.paths
        .lib
        .join("data/storage-entries")
        .join(format!("{name}.json"))
}

fn mount_arg(m: &Mount) -> String {
    let mut s = format!("{}:{}", m.host_path, m.container_path);
    if !m.volume_options.is_empty() {
        s.push(':');
        s.push_str(&m.volume_options);
    }
    s
}

/// Dispatch `storage:<sub>`.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    match sub {
        "report" => Report {
            plugin: "storage",
            kind: "storage",
            legacy: true,
        }
        .run(ctx, args, &report_rows, &|_| Ok(Vec::new())),
        "mount" | "unmount" => mount(ctx, sub, args),
        "list" => {
            let p = parse(args, &spec(&["--format"], &[]))?;
            let app = p.arg(0);
            ctx.verify_app(&app)?;
            let m = mounts(ctx, &app)?;
            if p.get("--format") == Some("json") {
                let v: Vec<serde_json::Value> = m
                    .iter()
                    .map(|m| serde_json::json!({"entry_name": m.entry_name, "host_path": m.host_path, "container_path": m.container_path, "volume_options": m.volume_options}))
                    .collect();
                ctx.out(serde_json::to_string(&v).unwrap_or_default());
            } else {
                ctx.info1(format!("{app} volume bind-mounts:"));
                m.iter().for_each(|m| ctx.verbose(mount_arg(m)));
            }
            Ok(())
        }
        "create" => {
            let p = parse(
                args,
                &spec(
                    &[
                        "--scheduler",
                        "--chown",
                        "--mode",
                        "--reclaim-policy",
                        "--size",
                        "--access-mode",
                        "--storage-class-name",
                        "--namespace",
                        "--annotation",
                        "--label",
                    ],
                    &[],
                ),
            )?;
            let name = p.arg(0);
            validate_entry_name(&name)?;
            if let Some(m) = p.get("--mode") {
                if !(m.len() == 3 || m.len() == 4) || !m.chars().all(|c| ('0'..='7').contains(&c)) {
                    return fail(format!("Unsupported directory mode \"{m}\". Value must be a 3 or 4 digit octal mode, such as 0755"));
                }
            }
            let ep = entry_path(ctx, &name);
            let scheduler = p.get("--scheduler").unwrap_or("docker-local");
            if let Some(existing) = read_opt(&ep)? {
                let existing: serde_json::Value =
                    serde_json::from_str(&existing).unwrap_or_default();
                let old = existing["scheduler"]
                    .as_str()
                    .unwrap_or("docker-local")
                    .to_string();
                if old != scheduler {
                    return fail(format!("storage entry \"{name}\" already exists with scheduler \"{old}\"; refusing to redefine"));
                }
                // Re-creating is idempotent (plugins/storage commands_entries.go).
                ctx.info1(format!(
                    "Storage entry {name} already exists, leaving in place"
                ));
                return Ok(());
            }
            let path = p.pos.get(1).cloned().unwrap_or_else(|| {
                ctx.paths
                    .lib
                    .join("data/storage")
                    .join(&name)
                    .display()
                    .to_string()
            });
            let v = serde_json::json!({"name": name, "path": path, "scheduler": scheduler, "chown": p.get("--chown").unwrap_or(""), "mode": p.get("--mode").unwrap_or("")});
            write_atomic(&ep, &v.to_string())?;
            ctx.info1(format!("Storage entry {name} created"));
            Ok(())
        }
        "destroy" => {
            let p = parse(args, &spec(&[], &["--force", "--destroy-host-dir"]))?;
            let name = p.arg(0);
            if name.is_empty() {
                return fail("storage entry name is required");
            }
            let ep = entry_path(ctx, &name);
            if !ep.exists() {
                return fail(format!("storage entry \"{name}\" does not exist"));
            }
            let mut using = Vec::new();
            for app in ctx.apps()? {
                if mounts(ctx, &app)?.iter().any(|m| m.entry_name == name) {
                    using.push(app);
                }
            }
            if !using.is_empty() {
                return fail(format!(
                    "storage entry \"{name}\" is still mounted by app(s): {}",
                    using.join(", ")
                ));
            }
            if !(p.has("--force") || ctx.forced()) {
                crate::cmd::apps::confirm(ctx, "storage entry", &name)?;
            }
            remove_any(&ep)?;
            ctx.info1(format!("Storage entry {name} destroyed"));
            Ok(())
        }
        "info" => {
            let p = parse(args, &spec(&["--format"], &[]))?;
            let name = p.arg(0);
            let Some(s) = read_opt(&entry_path(ctx, &name))? else {
                return fail(format!("storage entry \"{name}\" does not exist"));
            };
            ctx.out(s);
            Ok(())
        }
        "list-entries" => {
            let p = parse(args, &spec(&["--format", "--scheduler"], &[]))?;
            let dir = ctx.paths.lib.join("data/storage-entries");
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map(|rd| {
                    rd.flatten()
                        .filter_map(|e| {
                            e.file_name()
                                .to_string_lossy()
                                .strip_suffix(".json")
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            if p.get("--format") == Some("json") {
                ctx.out(serde_json::to_string(&names).unwrap_or_default());
            } else {
                names.iter().for_each(|n| ctx.out(n));
            }
            Ok(())
        }
        "ensure-directory" => {
            let p = parse(args, &spec(&["--chown"], &[]))?;
            ctx.warn("Deprecated: use storage:create instead");
            let dir = ctx.paths.lib.join("data/storage").join(p.arg(0));
            crate::store::mkdirs(&dir)?;
            ctx.info1(format!("Ensuring {} exists", dir.display()));
            Ok(())
        }
        _ => Err(Fail::Silent(255)),
    }
}

fn mount(ctx: &mut Ctx, sub: &str, args: &[String]) -> Res {
    let p = parse(
        args,
        &spec(
            &[
                "--container-dir",
                "--phase",
                "--process-type",
                "--volume-subpath",
                "--volume-chown",
                "--volume-options",
            ],
            &["--volume-readonly"],
        ),
    )?;
    let app = p.arg(0);
    ctx.verify_app(&app)?;
    let spec_arg = p.arg(1);
    if spec_arg.is_empty() {
        return fail("Please specify a mount");
    }
    let mut all = mounts(ctx, &app)?;
    if !spec_arg.contains(':') {
        // Named-entry form (plugins/storage CommandMount): idempotent, a re-mount updates attributes.
        let Some(entry) = read_opt(&entry_path(ctx, &spec_arg))? else {
            if sub == "unmount" {
                return fail(format!("storage entry \"{spec_arg}\" does not exist"));
            }
            return fail(format!("storage entry \"{spec_arg}\" does not exist; create it first with `dokku storage:create`"));
        };
        let Some(dir) = p.get("--container-dir") else {
            return fail("--container-dir is required when mounting a named storage entry");
        };
        let entry: serde_json::Value = serde_json::from_str(&entry).unwrap_or_default();
        let host = entry["path"].as_str().unwrap_or_default().to_string();
        let before = all.len();
        all.retain(|m| !(m.entry_name == spec_arg && m.container_path == dir));
        let existed = all.len() != before;
        if sub == "unmount" && !existed {
            return fail(format!(
                "storage entry \"{spec_arg}\" is not mounted at {dir} on {app}"
            ));
        }
        if sub == "mount" {
            if existed {
                ctx.info1(format!(
                    "Storage entry {spec_arg} mount at {dir} on {app} updated"
                ));
            } else {
                ctx.info1(format!(
                    "Storage entry {spec_arg} mounted at {dir} on {app}"
                ));
            }
            let mut opts = p.get("--volume-options").unwrap_or("").to_string();
            if p.has("--volume-readonly") {
                opts = if opts.is_empty() {
                    "ro".into()
                } else {
                    format!("{opts},ro")
                };
            }
            let phases = p
                .get("--phase")
                .unwrap_or("deploy,run")
                .split(',')
                .map(str::to_string)
                .collect();
            all.push(Mount {
                entry_name: spec_arg.clone(),
                host_path: host,
                container_path: dir.to_string(),
                volume_options: opts,
                phases,
            });
        }
        return save(ctx, &app, &all);
    }
    let parts: Vec<&str> = spec_arg.splitn(3, ':').collect();
    if parts.len() < 2 || parts[1].is_empty() || parts[0].is_empty() {
        return fail("Storage path must be two valid paths divided by colon.");
    }
    let m = Mount {
        entry_name: String::new(),
        host_path: parts[0].to_string(),
        container_path: parts[1].to_string(),
        volume_options: parts.get(2).map(|s| (*s).to_string()).unwrap_or_default(),
        phases: vec!["deploy".into(), "run".into()],
    };
    if sub == "mount" {
        if all
            .iter()
            .any(|x| x.entry_name.is_empty() && mount_arg(x) == spec_arg)
        {
            return fail("Mount path already exists.");
        }
        all.push(m);
    } else {
        let before = all.len();
        all.retain(|x| !(x.entry_name.is_empty() && mount_arg(x) == spec_arg));
        if all.len() == before {
            return fail("Mount path does not exist.");
        }
    }
    save(ctx, &app, &all)
}

/// Entry-name rules from plugins/storage entry.go (DNS-1123 label, at most 45, no `legacy-`).
fn validate_entry_name(name: &str) -> Res {
    if name.is_empty() {
        return fail("storage entry name is required");
    }
    if name.len() > 45 {
        return fail(format!("storage entry name \"{name}\" is too long (max 45 characters); helm release names cap our budget"));
    }
    if !is_valid_storage_name(name) {
        return fail(format!("storage entry name \"{name}\" must be a DNS-1123 label (lowercase letters, digits, and dashes; cannot start or end with a dash)"));
    }
    if name.starts_with("legacy-") {
        return fail(format!(
            "storage entry name \"{name}\" must not start with reserved prefix \"legacy-\""
        ));
    }
    Ok(())
}

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let m = mounts(ctx, app)?;
    let phase = |ph: &str| {
        m.iter()
            .filter(|x| x.phases.iter().any(|p| p == ph))
            .map(|x| format!("-v {}", mount_arg(x)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok(rows(vec![
        ("storage-build-mounts".into(), phase("build")),
        ("storage-deploy-mounts".into(), phase("deploy")),
        ("storage-run-mounts".into(), phase("run")),
    ]))
}
