//! `storage:*` (dokku-cli.json `storage:*`: legacy `host:container[:opts]` mounts that fail on
//! duplicates, 0.38 named entries (DNS-1123 names, dokku-facts.md §d) mounted idempotently,
//! destroy refused while mounted, confirmation unless `--force`).

use serde::{Deserialize, Serialize};

use crate::args::{parse, spec};
use crate::ctx::{fail, read_opt, write_atomic, Ctx, Fail, Res};
use crate::store::{rows, Report, Row};

use super::storage_entries;

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
    /// Process type (`_default_`).
    #[serde(default)]
    pub process_type: String,
    /// `--volume-subpath`.
    #[serde(default)]
    pub subpath: String,
    /// `--volume-chown`.
    #[serde(default)]
    pub volume_chown: String,
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
        "ensure-directory" => {
            // `CommandEnsureDirectory` (plugins/storage/subcommands.go).
            let p = parse(args, &spec(&["--chown"], &[]))?;
            ctx.warn(
                "Deprecated: please use 'storage:create' instead of 'storage:ensure-directory'",
            );
            let name = p.arg(0);
            if name.is_empty() {
                return fail("Please specify a directory to create");
            }
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return fail(
                    "Directory can only contain the following set of characters: [A-Za-z0-9_-]",
                );
            }
            let id = storage_entries::resolve_chown(ctx, p.get("--chown").unwrap_or("herokuish"))?;
            let dir = ctx.paths.lib.join("data/storage").join(&name);
            ctx.info1(format!("Ensuring {} exists", dir.display()));
            crate::store::mkdirs(&dir)?;
            if id != "false" {
                ctx.verbose(format!("Setting directory ownership to {id}:{id}"));
                let o = std::process::Command::new("chown")
                    .arg("-R")
                    .arg(format!("{id}:{id}"))
                    .arg(&dir)
                    .output();
                if !o.is_ok_and(|o| o.status.success()) {
                    return fail("Unable to set directory ownership");
                }
            }
            ctx.verbose("Directory ready for mounting");
            Ok(())
        }
        _ => storage_entries::run(ctx, sub, args).unwrap_or(Err(Fail::Silent(255))),
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
        if sub == "unmount" {
            // `RemoveAttachment`: without --container-dir the entry's only attachment goes.
            let dir = p.get("--container-dir").unwrap_or("");
            let matches: Vec<String> = all
                .iter()
                .filter(|m| m.entry_name == spec_arg && (dir.is_empty() || m.container_path == dir))
                .map(|m| m.container_path.clone())
                .collect();
            if matches.is_empty() {
                if dir.is_empty() {
                    return fail(format!(
                        "storage entry \"{spec_arg}\" is not mounted on app \"{app}\""
                    ));
                }
                return fail(format!(
                    "storage entry \"{spec_arg}\" is not mounted at \"{dir}\" on app \"{app}\""
                ));
            }
            if matches.len() > 1 && dir.is_empty() {
                let mut paths = matches;
                paths.sort();
                return fail(format!("storage entry \"{spec_arg}\" is mounted at multiple paths on app \"{app}\" ({}); pass --container-dir to disambiguate", paths.join(", ")));
            }
            all.retain(|m| {
                !(m.entry_name == spec_arg && (dir.is_empty() || m.container_path == dir))
            });
            return save(ctx, &app, &all);
        }
        let Some(entry) = storage_entries::load(ctx, &spec_arg)? else {
            return fail(format!("storage entry \"{spec_arg}\" does not exist; create it first with `dokku storage:create`"));
        };
        let Some(dir) = p.get("--container-dir") else {
            return fail("--container-dir is required when mounting a named storage entry");
        };
        let host = if entry.host_path.is_empty() {
            entry.name.clone()
        } else {
            entry.host_path.clone()
        };
        let before = all.len();
        all.retain(|m| !(m.entry_name == spec_arg && m.container_path == dir));
        let existed = all.len() != before;
        {
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
            let mut phases: Vec<String> = p
                .all("--phase")
                .iter()
                .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
                .filter(|v| !v.is_empty())
                .collect();
            if phases.is_empty() {
                phases = vec!["deploy".into(), "run".into()];
            }
            all.push(Mount {
                entry_name: spec_arg.clone(),
                host_path: host,
                container_path: dir.to_string(),
                readonly: p.has("--volume-readonly"),
                volume_options: opts,
                phases,
                process_type: p.get("--process-type").unwrap_or("_default_").to_string(),
                subpath: p.get("--volume-subpath").unwrap_or("").to_string(),
                volume_chown: p.get("--volume-chown").unwrap_or("").to_string(),
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
        if !storage_entries::exists(ctx, &entry) {
            storage_entries::save(
                ctx,
                &storage_entries::Entry {
                    name: entry.clone(),
                    scheduler: "docker-local".into(),
                    host_path: host.clone(),
                    schema_version: 1,
                    ..storage_entries::Entry::default()
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
            process_type: "_default_".into(),
            subpath: String::new(),
            volume_chown: String::new(),
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

fn report_rows(ctx: &Ctx, app: &str) -> Res<Vec<Row>> {
    let m = mounts(ctx, app)?;
    let phase = |ph: &str| {
        m.iter()
            .filter(|x| x.phases.iter().any(|p| p == ph))
            .map(|x| format!("-v {}", mount_arg(x)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut v = vec![
        ("storage-build-mounts".into(), phase("build")),
        ("storage-deploy-mounts".into(), phase("deploy")),
        ("storage-run-mounts".into(), phase("run")),
    ];
    // `registerAttachmentFlags` (plugins/storage/report.go): one group of keys per attachment
    // whose entry loads, numbered from 1.
    let mut index = 0;
    for a in &m {
        let Some(entry) = storage_entries::load(ctx, &a.entry_name)? else {
            ctx.warn(format!(
                "Skipping attachment on \"{app}\": missing entry \"{}\" (storage entry \"{}\" does not exist)",
                a.entry_name, a.entry_name
            ));
            continue;
        };
        index += 1;
        let host = if entry.host_path.is_empty() {
            entry.name.clone()
        } else {
            entry.host_path.clone()
        };
        let k = |f: &str| format!("storage-attachment.{index}.{f}");
        v.extend([
            (k("entry-name"), a.entry_name.clone()),
            (k("host-path"), host),
            (k("container-path"), a.container_path.clone()),
            (k("phases"), a.phases.join(",")),
            (k("process-type"), a.process_type.clone()),
            (k("subpath"), a.subpath.clone()),
            (k("readonly"), a.readonly.to_string()),
            (k("volume-options"), a.volume_options.clone()),
            (k("volume-chown"), a.volume_chown.clone()),
        ]);
    }
    Ok(rows(v))
}
