//! Storage entries (`storage:create`, `destroy`, `info`, `list-entries`, `set`,
//! `annotations:*`, `labels:*`), after plugins/storage `commands_entries.go`,
//! `commands_metadata.go` and `entry.go` of Dokku 0.38: validation, the default host
//! directory with `--mode`/`--chown` (the sudo helpers' rules), reclaim policy and
//! `--destroy-host-dir`. k3s entries are validated and stored; no cluster is modelled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::args::{parse, spec};
use crate::ctx::{fail, io_err, read_opt, remove_any, write_atomic, Ctx, Res};
use crate::store::is_valid_storage_name;

/// A storage entry as `plugins/storage/entry.go` stores and prints it (field order kept).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Entry {
    /// Entry name.
    pub name: String,
    /// `docker-local` or `k3s`.
    #[serde(default)]
    pub scheduler: String,
    /// Host directory or docker volume (docker-local).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_path: String,
    /// k3s size.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub size: String,
    /// k3s access mode.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_mode: String,
    /// k3s storage class.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_class: String,
    /// k3s namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `--chown`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chown: String,
    /// `--mode`, normalised to four digits.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// `Retain` or `Delete`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reclaim_policy: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Always 1.
    #[serde(default)]
    pub schema_version: u32,
}

/// `plugins/storage` `SettableProperties`, in the order the error lists them.
const SETTABLE: &[&str] = &[
    "access-mode",
    "chown",
    "mode",
    "namespace",
    "reclaim-policy",
    "size",
    "storage-class-name",
];

fn entry_path(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.paths
        .lib
        .join("data/storage-registry/entries")
        .join(format!("{name}.json"))
}

/// `GetStorageDirectory()/<name>`: the default host path of an entry.
pub fn default_host_path(ctx: &Ctx, name: &str) -> String {
    ctx.paths
        .lib
        .join("data/storage")
        .join(name)
        .display()
        .to_string()
}

/// Whether an entry exists.
pub fn exists(ctx: &Ctx, name: &str) -> bool {
    entry_path(ctx, name).exists()
}

/// Load an entry.
pub fn load(ctx: &Ctx, name: &str) -> Res<Option<Entry>> {
    Ok(read_opt(&entry_path(ctx, name))?.and_then(|s| serde_json::from_str(&s).ok()))
}

/// Save an entry.
pub fn save(ctx: &Ctx, e: &Entry) -> Res {
    write_atomic(
        &entry_path(ctx, &e.name),
        &serde_json::to_string(e).unwrap_or_default(),
    )
}

/// Every entry, sorted by name.
pub fn all(ctx: &Ctx) -> Res<Vec<Entry>> {
    let dir = ctx.paths.lib.join("data/storage-registry/entries");
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
        if let Some(e) = load(ctx, &n)? {
            v.push(e);
        }
    }
    Ok(v)
}

/// `ValidateEntryName`: a DNS-1123 label of at most 45 characters, without `legacy-`
/// unless the entry is a synthesized legacy one.
pub fn validate_name(name: &str, allow_legacy: bool) -> Res {
    if name.is_empty() {
        return fail("storage entry name is required");
    }
    if name.len() > 45 {
        return fail(format!("storage entry name \"{name}\" is too long (max 45 characters); helm release names cap our budget"));
    }
    if !is_valid_storage_name(name) {
        return fail(format!("storage entry name \"{name}\" must be a DNS-1123 label (lowercase letters, digits, and dashes; cannot start or end with a dash)"));
    }
    if !allow_legacy && name.starts_with("legacy-") {
        return fail(format!(
            "storage entry name \"{name}\" must not start with reserved prefix \"legacy-\""
        ));
    }
    Ok(())
}

/// `NormalizeDirectoryMode`: 3 or 4 octal digits, stored with 4.
fn normalize_mode(mode: &str) -> Res<String> {
    if mode.is_empty() {
        return Ok(String::new());
    }
    if !(mode.len() == 3 || mode.len() == 4) || !mode.chars().all(|c| ('0'..='7').contains(&c)) {
        return fail(format!("Unsupported directory mode \"{mode}\". Value must be a 3 or 4 digit octal mode, such as 0755"));
    }
    Ok(if mode.len() == 3 {
        format!("0{mode}")
    } else {
        mode.to_string()
    })
}

/// `dockerNamedVolumeRegexp`.
fn is_volume_token(s: &str) -> bool {
    let mut c = s.chars();
    s.len() >= 2
        && c.next().is_some_and(|ch| ch.is_ascii_alphanumeric())
        && c.all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

/// `Entry.Validate`.
fn validate(ctx: &Ctx, e: &Entry) -> Res {
    validate_name(&e.name, e.name.starts_with("legacy-"))?;
    let n = &e.name;
    if e.scheduler != "docker-local" && e.scheduler != "k3s" {
        return fail(format!(
            "storage entry \"{n}\" has unsupported scheduler \"{}\" (supported: docker-local, k3s)",
            e.scheduler
        ));
    }
    if !e.reclaim_policy.is_empty() && e.reclaim_policy != "Retain" && e.reclaim_policy != "Delete"
    {
        return fail(format!(
            "storage entry \"{n}\" has unsupported reclaim policy \"{}\"",
            e.reclaim_policy
        ));
    }
    if e.scheduler == "docker-local" {
        if e.host_path.is_empty() {
            return fail(format!(
                "storage entry \"{n}\" (docker-local) is missing host_path"
            ));
        }
        if !e.host_path.starts_with('/') && !is_volume_token(&e.host_path) {
            return fail(format!("storage entry \"{n}\" host_path must be an absolute path or a docker named volume token, got \"{}\"", e.host_path));
        }
        for (v, flag) in [
            (&e.size, "--size"),
            (&e.storage_class, "--storage-class-name"),
            (&e.access_mode, "--access-mode"),
        ] {
            if !v.is_empty() {
                return fail(format!(
                    "storage entry \"{n}\" (docker-local) does not accept {flag}"
                ));
            }
        }
        normalize_mode(&e.mode)?;
        let default = default_host_path(ctx, n);
        if e.reclaim_policy == "Delete" && e.host_path != default {
            return fail(format!("storage entry \"{n}\" (docker-local) only accepts --reclaim-policy Delete on the default host path ({default})"));
        }
    } else {
        if e.size.is_empty() {
            return fail(format!("storage entry \"{n}\" (k3s) requires --size"));
        }
        if !e.storage_class.is_empty() && !e.host_path.is_empty() {
            return fail(format!("storage entry \"{n}\" (k3s) cannot set both --storage-class-name and a host path; the cluster provisions class-backed volumes"));
        }
        if !e.access_mode.is_empty()
            && ![
                "ReadWriteOnce",
                "ReadOnlyMany",
                "ReadWriteMany",
                "ReadWriteOncePod",
            ]
            .contains(&e.access_mode.as_str())
        {
            return fail(format!(
                "storage entry \"{n}\" has unsupported access mode \"{}\"",
                e.access_mode
            ));
        }
        if !e.host_path.is_empty() && !e.host_path.starts_with('/') {
            return fail(format!(
                "storage entry \"{n}\" host_path must be absolute, got \"{}\"",
                e.host_path
            ));
        }
        if !e.mode.is_empty() {
            return fail(format!(
                "storage entry \"{n}\" (k3s) does not accept --mode"
            ));
        }
    }
    Ok(())
}

/// `requireDefaultHostPath`.
fn require_default(ctx: &Ctx, e: &Entry, flag: &str) -> Res {
    let default = default_host_path(ctx, &e.name);
    if e.host_path == default {
        return Ok(());
    }
    fail(format!("{flag} is only supported when the storage entry uses the default host path ({default}); omit {flag} and manage {} manually", e.host_path))
}

/// `ResolveChownID` and `chown-storage-dir`'s bounds.
pub fn resolve_chown(ctx: &Ctx, flag: &str) -> Res<String> {
    let id = match flag {
        "herokuish" => "32767".to_string(),
        "heroku" => "1000".to_string(),
        "packeto" => {
            ctx.verbose("Detected deprecated chown flag 'packeto'. Using 'paketo' instead. Please update your configuration.");
            "2000".to_string()
        }
        "paketo" => "2000".to_string(),
        "root" => "0".to_string(),
        "false" => return Ok("false".into()),
        other => match other.parse::<u16>() {
            Ok(n) => n.to_string(),
            Err(_) => return fail("Unsupported chown permissions"),
        },
    };
    Ok(id)
}

/// `ensureDockerLocalPath`: create the directory, then apply `--mode` and `--chown`.
fn ensure_dir(ctx: &Ctx, e: &Entry) -> Res {
    let wants_chown = !e.chown.is_empty() && e.chown != "false";
    if wants_chown {
        require_default(ctx, e, "--chown")?;
    }
    if !e.mode.is_empty() {
        require_default(ctx, e, "--mode")?;
    }
    if !e.host_path.starts_with('/') {
        return Ok(());
    }
    let p = Path::new(&e.host_path);
    if p.exists() && !p.is_dir() {
        return fail(format!(
            "storage entry path {} exists but is not a directory",
            e.host_path
        ));
    }
    if !p.exists() {
        crate::store::mkdirs(p)?;
        ctx.verbose(format!("Created {}", e.host_path));
    }
    if !e.mode.is_empty() {
        ctx.verbose(format!("Setting directory mode to {}", e.mode));
        let m = u32::from_str_radix(&e.mode, 8).unwrap_or(0o755);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).map_err(io_err(p))?;
    }
    if wants_chown {
        let id = resolve_chown(ctx, &e.chown)?;
        if id != "false" {
            ctx.verbose(format!("Setting directory ownership to {id}:{id}"));
            chown_r(p, &id)?;
        }
    }
    Ok(())
}

fn chown_r(p: &Path, id: &str) -> Res {
    let o = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{id}:{id}"))
        .arg(p)
        .output()
        .map_err(io_err(p))?;
    if !o.status.success() {
        return fail(format!(
            "unable to chown {}: {}",
            p.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(())
}

/// `key=value` pairs of `--annotation`/`--label`.
fn kv_pairs(items: &[String]) -> Res<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for i in items {
        let Some((k, v)) = i.split_once('=') else {
            return fail(format!("invalid key=value pair: {i}"));
        };
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

const CREATE_FLAGS: &[&str] = &[
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
];

/// The names of the apps whose attachments use `name`.
fn apps_using(ctx: &Ctx, name: &str) -> Res<Vec<String>> {
    let mut using = Vec::new();
    for app in ctx.apps()? {
        if crate::cmd::storage::mounts(ctx, &app)?
            .iter()
            .any(|m| m.entry_name == name)
        {
            using.push(app);
        }
    }
    Ok(using)
}

/// Dispatch the entry subcommands; `None` when `sub` is not one of them.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> Option<Res> {
    Some(match sub {
        "create" => create(ctx, args),
        "destroy" => destroy(ctx, args),
        "info" => info(ctx, args),
        "list-entries" => list(ctx, args),
        "set" => set(ctx, args),
        "annotations:set" => map_set(ctx, args, Field::Annotations),
        "labels:set" => map_set(ctx, args, Field::Labels),
        "annotations:report" => map_report(ctx, args, Field::Annotations),
        "labels:report" => map_report(ctx, args, Field::Labels),
        _ => return None,
    })
}

fn create(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(CREATE_FLAGS, &[]))?;
    let name = p.arg(0);
    validate_name(&name, false)?;
    let scheduler = p.get("--scheduler").unwrap_or("docker-local").to_string();
    let mut host_path = p.pos.get(1).cloned().unwrap_or_default();
    if scheduler == "docker-local" && host_path.is_empty() {
        host_path = default_host_path(ctx, &name);
    }
    let mode = normalize_mode(p.get("--mode").unwrap_or(""))?;
    let s = |f: &str| p.get(f).unwrap_or("").to_string();
    let e = Entry {
        name: name.clone(),
        scheduler: scheduler.clone(),
        host_path,
        size: s("--size"),
        access_mode: s("--access-mode"),
        storage_class: s("--storage-class-name"),
        namespace: s("--namespace"),
        chown: s("--chown"),
        mode,
        reclaim_policy: s("--reclaim-policy"),
        annotations: kv_pairs(&p.all("--annotation"))?,
        labels: kv_pairs(&p.all("--label"))?,
        schema_version: 1,
    };
    validate(ctx, &e)?;
    if let Some(existing) = load(ctx, &name)? {
        if existing.scheduler != e.scheduler {
            return fail(format!("storage entry \"{name}\" already exists with scheduler \"{}\"; refusing to redefine", existing.scheduler));
        }
        ctx.info1(format!(
            "Storage entry {name} already exists, leaving in place"
        ));
    }
    if e.scheduler == "docker-local" {
        if !e.chown.is_empty() && e.chown != "false" {
            // The sudo helper's bounds, checked before anything is written.
            check_chown_bounds(&resolve_chown(ctx, &e.chown)?)?;
        }
        ensure_dir(ctx, &e)?;
    }
    save(ctx, &e)?;
    // plugins/storage `CommandCreate`: the k3s scheduler's `storage-create` provisions the
    // PVC (and PV); a refusal removes the entry again.
    if let Err(err) = crate::k3s::storage_create(ctx, &e) {
        remove_any(&entry_path(ctx, &name))?;
        return fail(format!("scheduler refused storage entry \"{name}\": {err}"));
    }
    ctx.info1(format!("Storage entry {name} created"));
    Ok(())
}

/// `chown-storage-dir`: 0-65535, or the user-namespace range 165536-231071.
fn check_chown_bounds(id: &str) -> Res {
    if id == "false" {
        return Ok(());
    }
    let n: u64 = id.parse().map_err(|_| crate::ctx::Fail::Dokku {
        code: 1,
        lines: vec!["Unsupported chown permissions. Value must be a non-negative integer.".into()],
        raw: false,
    })?;
    if n > 65535 && !(165_536..=231_071).contains(&n) {
        return fail("Unsupported chown permissions. Supported values: 0-65535 (and user namespace offset variants, 165536-231071)");
    }
    Ok(())
}

fn destroy(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&[], &["--force", "--destroy-host-dir"]))?;
    let name = p.arg(0);
    if name.is_empty() {
        return fail("storage entry name is required");
    }
    let Some(e) = load(ctx, &name)? else {
        return fail(format!("storage entry \"{name}\" does not exist"));
    };
    let using = apps_using(ctx, &name)?;
    if !using.is_empty() {
        return fail(format!(
            "storage entry \"{name}\" is still mounted by app(s): {}",
            using.join(", ")
        ));
    }
    let destroy_dir = p.has("--destroy-host-dir");
    if destroy_dir && e.scheduler != "docker-local" {
        return fail(format!("--destroy-host-dir only applies to docker-local storage entries; \"{name}\" is scheduler \"{}\" and follows --reclaim-policy", e.scheduler));
    }
    let mut remove_dir = false;
    if e.scheduler == "docker-local" && (destroy_dir || e.reclaim_policy == "Delete") {
        match require_default(ctx, &e, "--destroy-host-dir") {
            Ok(()) => remove_dir = true,
            Err(err) if destroy_dir => return Err(err),
            Err(_) => ctx.warn(format!(
                "Leaving {} in place; reclaim policy Delete only removes the default host path",
                e.host_path
            )),
        }
    }
    if !(p.has("--force") || ctx.forced()) {
        if remove_dir {
            ctx.warn(format!(
                "Storage entry {name} is backed by {}, which will be removed along with its contents.",
                e.host_path
            ));
        }
        crate::cmd::apps::confirm(ctx, "storage entry", &name)?;
    }
    if let Err(err) = crate::k3s::storage_destroy(ctx, &e) {
        return fail(format!(
            "scheduler refused to remove storage entry \"{name}\": {err}"
        ));
    }
    if remove_dir {
        let dir = Path::new(&e.host_path);
        if dir.exists() {
            remove_any(dir)?;
        }
        ctx.verbose(format!("Removed {}", e.host_path));
    }
    remove_any(&entry_path(ctx, &name))?;
    ctx.info1(format!("Storage entry {name} destroyed"));
    Ok(())
}

fn info(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&["--format"], &[]))?;
    let name = p.arg(0);
    if name.is_empty() {
        return fail("storage entry name is required");
    }
    let Some(e) = load(ctx, &name)? else {
        return fail(format!("storage entry \"{name}\" does not exist"));
    };
    if p.get("--format") == Some("json") {
        ctx.out(serde_json::to_string_pretty(&e).unwrap_or_default());
        return Ok(());
    }
    ctx.info1(format!("Storage entry {}", e.name));
    ctx.verbose(format!("Scheduler:        {}", e.scheduler));
    for (label, v) in [
        ("Host path:", &e.host_path),
        ("Size:", &e.size),
        ("Access mode:", &e.access_mode),
        ("Storage class:", &e.storage_class),
        ("Namespace:", &e.namespace),
        ("Chown:", &e.chown),
        ("Mode:", &e.mode),
        ("Reclaim policy:", &e.reclaim_policy),
    ] {
        if !v.is_empty() {
            ctx.verbose(format!("{label:<18}{v}"));
        }
    }
    Ok(())
}

fn list(ctx: &mut Ctx, args: &[String]) -> Res {
    let p = parse(args, &spec(&["--format", "--scheduler"], &[]))?;
    let list: Vec<Entry> = all(ctx)?
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

/// `storage:set <name> <property> [<value>]`, or the deprecated flag form.
fn set(ctx: &mut Ctx, args: &[String]) -> Res {
    let flags: Vec<String> = SETTABLE.iter().map(|k| format!("--{k}")).collect();
    let mut values: Vec<&str> = flags.iter().map(String::as_str).collect();
    values.extend(["--annotation", "--label"]);
    let p = parse(args, &spec(&values, &[]))?;
    let name = p.arg(0);
    let property = p.arg(1);
    let mut changes: Vec<(String, String)> = SETTABLE
        .iter()
        .filter_map(|k| {
            p.get(&format!("--{k}"))
                .map(|v| ((*k).to_string(), v.to_string()))
        })
        .collect();
    let map_flags = p.has("--annotation") || p.has("--label");
    let used_flags = !changes.is_empty() || map_flags;
    if !property.is_empty() && used_flags {
        return fail("storage:set accepts either a property and a value or flags, not both");
    }
    if property.is_empty() && !used_flags {
        return fail("No property specified");
    }
    if used_flags {
        if !changes.is_empty() {
            ctx.warn(
                "Deprecated: please use 'storage:set <name> <property> [<value>]' instead of flags",
            );
        }
        if map_flags {
            ctx.warn("Deprecated: please use 'storage:annotations:set' and 'storage:labels:set' instead of --annotation and --label");
        }
    } else {
        changes.push((property, p.arg(2)));
    }
    let Some(mut e) = load(ctx, &name)? else {
        return fail(format!("storage entry \"{name}\" does not exist"));
    };
    let mut touches_dir = false;
    for (k, v) in changes {
        match k.as_str() {
            "access-mode" if v != e.access_mode => {
                return fail("storage:set cannot change access-mode in place; recreate the entry")
            }
            "storage-class-name" if v != e.storage_class => {
                return fail(
                    "storage:set cannot change storage-class-name in place; recreate the entry",
                )
            }
            "access-mode" | "storage-class-name" => {}
            "size" => e.size = v,
            "namespace" => e.namespace = v,
            "chown" => {
                e.chown = v;
                touches_dir = true;
            }
            "mode" => {
                e.mode = normalize_mode(&v)?;
                touches_dir = true;
            }
            "reclaim-policy" => e.reclaim_policy = v,
            "" => return fail("No property specified"),
            _ => {
                return fail(format!(
                    "Invalid property specified, valid properties include: {}",
                    SETTABLE.join(", ")
                ))
            }
        }
    }
    if map_flags {
        e.annotations = kv_pairs(&p.all("--annotation"))?;
        e.labels = kv_pairs(&p.all("--label"))?;
    }
    validate(ctx, &e)?;
    save(ctx, &e)?;
    if e.scheduler == "docker-local" && touches_dir {
        ensure_dir(ctx, &e)?;
    }
    if let Err(err) = crate::k3s::storage_create(ctx, &e) {
        return fail(format!(
            "scheduler refused storage:set for \"{name}\": {err}"
        ));
    }
    ctx.info1(format!("Storage entry {name} updated"));
    Ok(())
}

#[derive(Clone, Copy)]
enum Field {
    Annotations,
    Labels,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Annotations => "annotations",
            Field::Labels => "labels",
        }
    }
    fn singular(self) -> &'static str {
        match self {
            Field::Annotations => "annotation",
            Field::Labels => "label",
        }
    }
    fn row(self) -> &'static str {
        match self {
            Field::Annotations => "Annotation",
            Field::Labels => "Label",
        }
    }
    fn map(self, e: &mut Entry) -> &mut BTreeMap<String, String> {
        match self {
            Field::Annotations => &mut e.annotations,
            Field::Labels => &mut e.labels,
        }
    }
}

/// `setEntryMapKey`: one key set, or removed when the value is omitted.
fn map_set(ctx: &mut Ctx, args: &[String], f: Field) -> Res {
    let p = parse(args, &spec(&[], &[]))?;
    let (name, key, value) = (p.arg(0), p.arg(1), p.arg(2));
    if name.is_empty() {
        return fail("storage entry name is required");
    }
    if key.is_empty() {
        return fail(format!("No {} key specified", f.singular()));
    }
    let Some(mut e) = load(ctx, &name)? else {
        return fail(format!("storage entry \"{name}\" does not exist"));
    };
    if value.is_empty() {
        f.map(&mut e).remove(&key);
        ctx.info2(format!("Unsetting {} {key}", f.singular()));
    } else {
        f.map(&mut e).insert(key.clone(), value.clone());
        ctx.info2(format!("Setting {} {key} to {value}", f.singular()));
    }
    validate(ctx, &e)?;
    save(ctx, &e)
}

/// `reportEntryMap`: one entry's map, or every entry's.
fn map_report(ctx: &mut Ctx, args: &[String], f: Field) -> Res {
    let (flag_args, rest): (Vec<String>, Vec<String>) = args
        .iter()
        .cloned()
        .partition(|a| a.starts_with(&format!("--storage-{}.", f.name())));
    let p = parse(&rest, &spec(&["--format"], &[]))?;
    let format = p.get("--format").unwrap_or("stdout");
    if !["stdout", "text", "json"].contains(&format) {
        return fail(format!("Invalid format: {format}"));
    }
    let info_flag = flag_args.first().cloned().unwrap_or_default();
    if format == "json" && !info_flag.is_empty() {
        return fail("--format flag cannot be specified when specifying an info flag");
    }
    let name = p.arg(0);
    let entries = if name.is_empty() {
        if !info_flag.is_empty() {
            return fail(format!(
                "storage:{}:report requires a storage entry name when an info flag is specified",
                f.name()
            ));
        }
        let v = all(ctx)?;
        if v.is_empty() {
            ctx.info1("No storage entries registered");
            return Ok(());
        }
        v
    } else {
        match load(ctx, &name)? {
            Some(e) => vec![e],
            None => return fail(format!("storage entry \"{name}\" does not exist")),
        }
    };
    for mut e in entries {
        let ename = e.name.clone();
        let values = f.map(&mut e).clone();
        if !info_flag.is_empty() {
            let prefix = format!("--storage-{}.", f.name());
            return match values
                .iter()
                .find(|(k, _)| format!("{prefix}{k}") == info_flag)
            {
                Some((_, v)) => {
                    ctx.out(v);
                    Ok(())
                }
                None => fail(format!(
                    "Invalid flag passed, valid flags: {}",
                    values
                        .keys()
                        .map(|k| format!("{prefix}{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
        }
        if format == "json" {
            ctx.out(serde_json::to_string(&values).unwrap_or_default());
            continue;
        }
        ctx.info2(format!("{ename} {} information", f.name()));
        let width = values
            .keys()
            .map(|k| format!("{} {k}:", f.row()).len())
            .max()
            .unwrap_or(0)
            .max(31);
        for (k, v) in &values {
            ctx.verbose(format!("{:<width$}{v}", format!("{} {k}:", f.row())));
        }
    }
    Ok(())
}
