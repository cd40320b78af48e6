//! Where the image comes from and how the process starts: `image` or `build` (context,
//! Dockerfile, args, target), `command`, `entrypoint`, `user`, `working_dir` (baked into the
//! generated Dockerfile, or docker options for build services), and the build's docker
//! options (`--build-arg`, `--target`).

use std::collections::BTreeMap;

use super::container::Opts;
use super::ctx::{is_unset, shape, Ctx};
use super::docker_opt::Flag;
use super::error::ModelError;
use super::service::{Build, Source};
use crate::compose::types::{self, set, Scalar};

/// Parses a compose duration (`1m30s`, `500ms`, `10s`) into whole seconds, rounding up.
pub(crate) fn duration_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    // The loader prints durations in Go's form; a bare number is nanoseconds.
    let ns = if s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse::<i128>().ok()?
    } else {
        crate::compose::syntax::parse_duration(s).ok()?
    };
    u64::try_from(ns).ok().map(|ns| ns.div_ceil(1_000_000_000))
}

/// How the process starts.
pub(super) struct Start {
    pub(super) source: Source,
    pub(super) command: Option<Vec<String>>,
    pub(super) entrypoint: Option<Vec<String>>,
    pub(super) working_dir: Option<String>,
    pub(super) user: Option<String>,
}

/// `image`/`build`, `command`, `entrypoint`, `user`, `working_dir`. A build service's image
/// is its own Dockerfile's, so its entrypoint, user and working directory become docker
/// options.
pub(super) fn start(
    ctx: &mut Ctx<'_>,
    raw: &types::Service,
    opts: &mut Opts,
) -> Result<Start, ModelError> {
    let base = opts.base.clone();
    let source = match (&raw.build, &raw.image) {
        (Some(b), _) => Source::Build(convert_build(ctx, b, &format!("{base}.build"))?),
        (None, Some(image)) => Source::Image {
            image: image.clone(),
        },
        (None, None) => return Err(shape(&base, "has neither `image` nor `build`")),
    };
    let start = Start {
        source,
        command: raw.command.clone(),
        entrypoint: raw.entrypoint.clone(),
        working_dir: set(&raw.working_dir)
            .and_then(Scalar::as_str)
            .map(str::to_owned),
        user: set(&raw.user).and_then(Scalar::as_str).map(str::to_owned),
    };
    if !matches!(start.source, Source::Build(_)) {
        return Ok(start);
    }
    if let Some(ep) = &start.entrypoint {
        // `docker run --entrypoint` takes one executable; its arguments cannot follow it.
        match ep.as_slice() {
            [exe] => opts.add("entrypoint", Flag::Entrypoint, Some(exe))?,
            [] => {}
            _ => {
                return Err(ModelError::Rejected {
                    path: format!("{base}.entrypoint"),
                    reason: "a build service's entrypoint is set with `docker run --entrypoint`, which takes one executable; put its arguments in `command`".into(),
                })
            }
        }
        ctx.warn(
            format!("{base}.entrypoint"),
            "set with a docker option, which the k3s scheduler ignores",
        );
    }
    if let Some(u) = &start.user {
        opts.add("user", Flag::User, Some(u))?;
    }
    if let Some(w) = &start.working_dir {
        opts.add("working_dir", Flag::Workdir, Some(w))?;
    }
    Ok(start)
}

/// The build's `--build-arg` and `--target` docker options.
pub(super) fn build_options(source: &Source, opts: &mut Opts) -> Result<(), ModelError> {
    if let Source::Build(b) = source {
        for (k, v) in &b.args {
            opts.add(
                &format!("build.args.{k}"),
                Flag::BuildArg,
                Some(&format!("{k}={v}")),
            )?;
        }
        if let Some(t) = &b.target {
            opts.add("build.target", Flag::Target, Some(t))?;
        }
    }
    Ok(())
}

fn convert_build(ctx: &mut Ctx<'_>, b: &types::Build, path: &str) -> Result<Build, ModelError> {
    let c = b.context.as_str();
    if c.contains("://") || c.starts_with("git@") {
        return Err(ModelError::Rejected {
            path: format!("{path}.context"),
            reason: "remote build contexts are not in the pushed source".into(),
        });
    }
    let mut build = Build {
        context: ctx.relative(c),
        dockerfile: b.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()),
        target: b.target.clone(),
        args: BTreeMap::new(),
    };
    for (ak, av) in &b.args {
        match av {
            None => ctx.warn(format!("{path}.args.{ak}"), "has no value; not passed"),
            Some(s) => {
                build.args.insert(ak.clone(), s.clone());
            }
        }
    }
    if b.dockerfile_inline.is_some() {
        return Err(ModelError::Rejected {
            path: format!("{path}.dockerfile_inline"),
            reason: "Dokku builds from a Dockerfile in the pushed source; commit the Dockerfile"
                .into(),
        });
    }
    if set(&b.privileged) == Some(&true) {
        return Err(ModelError::Rejected {
            path: format!("{path}.privileged"),
            reason: "privileged builds would give the pusher root on the host".into(),
        });
    }
    for (k, v) in &b.other {
        if !is_unset(v) {
            ctx.warn(
                format!("{path}.{k}"),
                "not supported by Dokku's Dockerfile builder; not applied",
            );
        }
    }
    if build.context.starts_with("..") || build.context.starts_with('/') {
        return Err(ModelError::Rejected { path: format!("{path}.context"), reason: format!("`{}` is outside the pushed tree; the build context must be inside the pushed source", build.context) });
    }
    Ok(build)
}
