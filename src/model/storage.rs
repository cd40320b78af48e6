//! `volumes` and `use_api_socket`: named volumes -> storage entries, anonymous volumes ->
//! kept entries, binds inside the pushed source -> files copied into the image (or a seeded
//! entry for build services), binds outside it -> host paths for the policy, `tmpfs` mounts
//! -> `--tmpfs` (docs/mapping.md "Volumes", "Source mounts").

use std::collections::BTreeMap;

use super::container::Opts;
use super::ctx::{shape, Ctx};
use super::docker_opt::Flag;
use super::error::ModelError;
use super::names::{ServiceName, StorageName};
use super::service::{FileSource, Mount};
use crate::compose::types;

/// What the mounts of one service become.
#[derive(Default)]
pub(super) struct Storage {
    pub(super) mounts: Vec<Mount>,
    pub(super) files: BTreeMap<String, FileSource>,
}

pub(super) fn storage(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    raw: &types::Service,
    is_build: bool,
    opts: &mut Opts,
) -> Result<Storage, ModelError> {
    let base = opts.base.clone();
    let mut out = Storage::default();
    for (i, v) in raw.volumes.iter().enumerate() {
        let path = format!("{base}.volumes[{i}]");
        convert_volume(ctx, name, v, path, is_build, &mut out, opts)?;
    }
    if types::set(&raw.use_api_socket) == Some(&true) {
        out.mounts.push(Mount::HostPath {
            source: "/var/run/docker.sock".into(),
            target: "/var/run/docker.sock".into(),
            read_only: false,
            path: format!("{base}.use_api_socket"),
        });
    }
    Ok(out)
}

/// Mounts the storage entry `name` (created by the stack, not seeded) at `target`.
fn entry_mount(
    ctx: &mut Ctx<'_>,
    out: &mut Storage,
    name: StorageName,
    target: String,
    read_only: bool,
) {
    ctx.storage.entry(name.clone()).or_insert(None);
    out.mounts.push(Mount::Entry {
        name,
        target,
        read_only,
        seed_from: None,
    });
}

fn convert_volume(
    ctx: &mut Ctx<'_>,
    name: &ServiceName,
    v: &types::Mount,
    path: String,
    is_build: bool,
    out: &mut Storage,
    opts: &mut Opts,
) -> Result<(), ModelError> {
    let kind = v.kind.as_str();
    let target = v.target.clone();
    let read_only = v.read_only == Some(true);
    match (kind, v.source.as_deref()) {
        ("volume", Some(src)) => {
            let (storage, external, docker_name) = ctx
                .volumes
                .get(src)
                .cloned()
                .ok_or_else(|| shape(&path, "names an undefined volume"))?;
            if external {
                out.mounts.push(Mount::HostPath {
                    source: docker_name,
                    target,
                    read_only,
                    path,
                });
            } else {
                entry_mount(ctx, out, storage, target, read_only);
            }
        }
        ("volume", None) => {
            let storage =
                StorageName::for_volume(ctx.stack, &format!("{name}{}", target.replace('/', "-")));
            ctx.warn(
                path,
                format!("anonymous volume kept as storage entry `{storage}`"),
            );
            entry_mount(ctx, out, storage, target, read_only);
        }
        ("bind", Some(src)) => bind(ctx, src, target, read_only, path, is_build, out),
        ("tmpfs", _) => opts.add_at(path, Flag::Tmpfs, Some(&target))?,
        _ => ctx.warn(
            path,
            format!("`{kind}` mounts have no Dokku equivalent; not applied"),
        ),
    }
    Ok(())
}

fn bind(
    ctx: &mut Ctx<'_>,
    src: &str,
    target: String,
    read_only: bool,
    path: String,
    is_build: bool,
    out: &mut Storage,
) {
    let rel = ctx.relative(src);
    // Outside the pushed source (absolute, `~`-expanded, `../`): a host path for the policy.
    if src.ends_with("/docker.sock") || rel.starts_with('/') || rel.starts_with("..") {
        out.mounts.push(Mount::HostPath {
            source: src.to_owned(),
            target,
            read_only,
            path,
        });
    } else if !is_build {
        // A source mount follows each push: copied into the image at every deploy, a
        // file stays a file (docs/mapping.md "Source mounts", issue 15 item 5).
        if !read_only {
            ctx.warn(path, "the pushed source is copied into the image at every deploy, so the service sees each push; writes inside the container are lost at the next deploy and never reach the source (use a named volume for data)");
        }
        out.files.insert(target, FileSource::Source { path: rel });
    } else {
        ctx.warn(path, "a build service's image is its own Dockerfile's: the storage entry is seeded from the pushed source when it is created and later pushes do not change it; COPY the source in the Dockerfile to follow pushes");
        let storage = StorageName::for_volume(ctx.stack, &rel.replace(['/', '.'], "-"));
        ctx.storage.insert(storage.clone(), Some(rel.clone()));
        out.mounts.push(Mount::Entry {
            name: storage,
            target,
            read_only,
            seed_from: Some(rel),
        });
    }
}
