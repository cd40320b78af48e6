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
    /// Read-only (`ro` hoisted out of the options, as `ParseMountPath` does).
    #[serde(default)]
    pub readonly: bool,
    /// Other volume options.
    #[serde(default)]
    pub volume_options: String,
    /// Phases (`deploy,run`).
    #[serde(default)]
    pub phases: Vec<String>,
}

/// A storage entry as `plugins/storage/entry.go` stores and prints it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Entry {
    /// Entry name.
    pub name: String,
    /// `docker-local` or `k3s`.
    #[serde(default)]
    pub scheduler: String,
    /// Host directory (docker-local).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_path: String,
    /// `--chown`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chown: String,
    /// `--mode`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// Always 1.
    #[serde(default)]
    pub schema_version: u32,
}

fn load_entry(ctx: &Ctx, name: &str) -> Res<Option<Entry>> {
    Ok(read_opt(&entry_path(ctx, name))?.and_then(|s| serde_json::from_str(&s).ok()))
}

fn save_entry(ctx: &Ctx, e: &Entry) -> Res {
    write_atomic(
        &entry_path(ctx, &e.name),
        &serde_json::to_string(e).unwrap_or_default(),
    )
}

fn entries(ctx: &Ctx) -> Res<Vec<Entry>> {
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
    let mut v = Vec::new();
    for n in names {
        if let Some(e) = load_entry(ctx, &n)? {
            v.push(e);
        }
    }
    Ok(v)
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

/// `formatStorageListEntry` (plugins/storage/storage.go): `host:container[:ro,<opts>]`.
fn mount_arg(m: &Mount) -> String {
    let opts = match (m.readonly, m.volume_options.is_empty()) {
        (true, false) => format!("ro,{}", m.volume_options),
        (true, true) => "ro".to_string(),
        (false, _) => m.volume_options.clone(),
    };
    if opts.is_empty() {
        format!("{}:{}", m.host_path, m.container_path)
    } else {
        format!("{}:{}:{opts}", m.host_path, m.container_path)
    }
}

/// `LegacyMountToEntry` (plugins/storage/entry.go): a legacy `host:container` mount is an
/// entry named `legacy-` + the first 10 hex digits of the SHA-1 of the host path (of
/// `vol:<name>` for a docker volume), shared by every app mounting that host path.
pub fn legacy_entry_name(host: &str) -> String {
    use sha1::{Digest, Sha1};
    let input = if host.starts_with('/') {
        host.to_string()
    } else {
        format!("vol:{host}")
    };
    let hex: String = Sha1::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("legacy-{}", &hex[..10])
}

/// `ParseMountPath`: host, container, read-only, and the other options.
fn parse_mount_path(spec: &str) -> (String, String, bool, String) {
    let parts: Vec<&str> = spec.splitn(3, ':').collect();
    let mut readonly = false;
    let mut rest = Vec::new();
    if let Some(o) = parts.get(2).filter(|o| !o.is_empty()) {
        for t in o.split(',') {
            if t == "ro" {
                readonly = true;
            } else {
                rest.push(t);
            }
        }
    }
    (
        parts.first().copied().unwrap_or_default().to_string(),
        parts.get(1).copied().unwrap_or_default().to_string(),
        readonly,
        rest.join(","),
    )
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
            let format = p.get("--format").unwrap_or("text");
            if format != "text" && format != "json" {
                return fail("Invalid --format value specified");
            }
            // `CommandList`: the deploy-phase attachments as `StorageListEntry` rows.
            let m: Vec<Mount> = mounts(ctx, &app)?
                .into_iter()
                .filter(|m| m.phases.iter().any(|p| p == "deploy"))
                .collect();
            if format == "json" {
                let v: Vec<serde_json::Value> = m
                    .iter()
                    .map(|m| {
                        let mut o = serde_json::Map::new();
                        if !m.entry_name.is_empty() {
                            o.insert("entry_name".into(), m.entry_name.clone().into());
                        }
                        o.insert("host_path".into(), m.host_path.clone().into());
                        o.insert("container_path".into(), m.container_path.clone().into());
                        if m.readonly {
                            o.insert("readonly".into(), true.into());
                        }
                        if !m.volume_options.is_empty() {
                            o.insert("volume_options".into(), m.volume_options.clone().into());
                        }
                        serde_json::Value::Object(o)
                    })
                    .collect();
                ctx.out(serde_json::to_string(&v).unwrap_or_default());
            } else {
                ctx.info1(format!("{app} volume bind-mounts:"));
                for x in &m {
                    if ctx.globals.quiet {
                        ctx.out(mount_arg(x));
                    } else {
                        ctx.verbose(mount_arg(x));
                    }
                }
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
            save_entry(
                ctx,
                &Entry {
                    name: name.clone(),
                    scheduler: scheduler.to_string(),
                    host_path: path,
                    chown: p.get("--chown").unwrap_or("").to_string(),
                    mode: p.get("--mode").unwrap_or("").to_string(),
                    schema_version: 1,
                },
            )?;
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
            // `CommandListEntries` (plugins/storage/commands_entries.go): Entry objects.
            let p = parse(args, &spec(&["--format", "--scheduler"], &[]))?;
            let list: Vec<Entry> = entries(ctx)?
                .into_iter()
                .filter(|e| p.get("--scheduler").is_none_or(|s| s == e.scheduler))
                .collect();
            if p.get("--format") == Some("json") {
                ctx.out(serde_json::to_string_pretty(&list).unwrap_or_default());
            } else if list.is_empty() {
                ctx.info1("No storage entries registered");
            } else {
                ctx.info1("Storage entries:");
                for e in &list {
                    ctx.verbose(format!("{}\t{}\t{}", e.name, e.scheduler, e.host_path));
                }
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
        let entry: Entry = serde_json::from_str(&entry).unwrap_or_default();
        let host = if entry.host_path.is_empty() {
            entry.name.clone()
        } else {
            entry.host_path.clone()
        };
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
            let opts = p.get("--volume-options").unwrap_or("").to_string();
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
                readonly: p.has("--volume-readonly"),
                volume_options: opts,
                phases,
            });
        }
        return save(ctx, &app, &all);
    }
    // Legacy colon form (`mountLegacyColon` / `unmountLegacyColon`): a synthesized
    // `legacy-<hash>` entry plus an attachment keyed on (entry, container path).
    let (host, container, readonly, volume_options) = parse_mount_path(&spec_arg);
    if host.is_empty() || container.is_empty() {
        return fail("Storage path must be two valid paths divided by colon.");
    }
    let entry = legacy_entry_name(&host);
    let same = |x: &Mount| x.entry_name == entry && x.container_path == container;
    if sub == "mount" {
        if all.iter().any(same) {
            return fail("Mount path already exists.");
        }
        if !entry_path(ctx, &entry).exists() {
            save_entry(
                ctx,
                &Entry {
                    name: entry.clone(),
                    scheduler: "docker-local".into(),
                    host_path: host.clone(),
                    schema_version: 1,
                    ..Entry::default()
                },
            )?;
        }
        all.push(Mount {
            entry_name: entry,
            host_path: host,
            container_path: container,
            readonly,
            volume_options,
            phases: vec!["deploy".into(), "run".into()],
        });
    } else {
        let before = all.len();
        all.retain(|x| !same(x));
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
