//! The project stage of the workflow, read-only: what the pushed project asks for, checked
//! before anything of the stack is read or created (a refused push leaves no trace, issue
//! #13): the model, the policy, the limits, the graph, every path of the pushed source, the
//! deploy hooks and the secret values.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::ApplyRequest;
use crate::exec::apply::ApplyError;
use crate::exec::hooks::{self, Hook};
use crate::graph::ServiceGraph;
use crate::model::{from_compose_json, ConvertOptions, Limits, Project, Warning};
use crate::plan::PlanError;
use crate::policy::Policy;

/// A project that converts, is allowed by the policy (and the limits, when given) and has a
/// dependency graph: what the planner takes.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The Dokku model.
    pub project: Project,
    /// The model's warnings (the plan carries them).
    pub warnings: Vec<Warning>,
    /// The services' dependency graph.
    pub graph: ServiceGraph,
}

/// The pure part of the project stage: compose JSON -> model -> policy (-> limits) -> graph.
pub fn check(
    json: &Value,
    convert: &ConvertOptions,
    policy: &Policy,
    limits: Option<&Limits>,
) -> Result<Checked, PlanError> {
    let (project, warnings) = from_compose_json(json, convert)?;
    finish(project, warnings, policy, limits)
}

/// [`check`] for a typed compose project (the loader's output, off-server `plan`).
pub fn check_typed(
    compose: &crate::compose::types::Project,
    convert: &ConvertOptions,
    policy: &Policy,
    limits: Option<&Limits>,
) -> Result<Checked, PlanError> {
    let (project, warnings) = crate::model::from_compose(compose, convert)?;
    finish(project, warnings, policy, limits)
}

fn finish(
    project: crate::model::Project,
    warnings: Vec<crate::model::Warning>,
    policy: &Policy,
    limits: Option<&Limits>,
) -> Result<Checked, PlanError> {
    policy.check(&project)?;
    if let Some(limits) = limits {
        limits.check(&project)?;
    }
    let graph = crate::graph::build(&project)?;
    Ok(Checked {
        project,
        warnings,
        graph,
    })
}

/// Everything of the pushed project an apply uses, checked.
#[derive(Debug)]
pub struct Loaded {
    /// Model, warnings, graph.
    pub checked: Checked,
    /// The deploy hooks (`deploy.d`), allowed where they run.
    pub hooks: Vec<Hook>,
    /// The values of the compose `secrets` (vault-decrypted).
    pub secrets: BTreeMap<String, Vec<u8>>,
}

/// The project stage of an apply: [`check`], then (on the server) every path of the source
/// confined to the pushed tree, the hooks found and their placement allowed, the secrets read.
pub fn load(req: &ApplyRequest) -> Result<Loaded, ApplyError> {
    let checked = check(&req.compose, &req.convert, &req.policy, Some(&req.limits))?;
    // On the server, every path of the source stays inside it, checked before anything reads
    // or copies it.
    let jail = req.jail.as_ref().map(|j| crate::confine::Jail {
        root: req.source_dir.clone(),
        max_file_size: j.max_file_size,
    });
    if let Some(j) = &jail {
        confine_sources(&checked.project, j)?;
    }
    let hooks = hooks::discover(&req.source_dir, &req.hooks_dir, &checked.project)?;
    hooks::check_placement_allowed(&hooks, &req.policy, &req.convert.stack.to_string())?;
    let secrets = resolve_secrets(
        &req.compose,
        &req.environment,
        req.vault_password.as_ref(),
        jail.as_ref(),
    )?;
    Ok(Loaded {
        checked,
        hooks,
        secrets,
    })
}

/// Checks every path of the pushed source the project uses, before anything reads or copies
/// it (issue #13): build contexts and static directories are trees whose links stay inside
/// them, Dockerfiles and copied files (configs, read-only binds) are regular files or such
/// trees, seeds of relative bind mounts likewise; each inside the pushed tree.
fn confine_sources(
    project: &crate::model::Project,
    jail: &crate::confine::Jail,
) -> Result<(), ApplyError> {
    use crate::model::{FileSource, Mount, PathTarget, Source};
    let refuse = |key: String, e: crate::confine::PathError| ApplyError::Io {
        path: key,
        message: e.to_string(),
    };
    let root = &jail.root;
    // A file must be regular; a directory is checked as a tree.
    let file_or_tree = |key: String, rel: &str| -> Result<(), ApplyError> {
        let resolved =
            crate::confine::resolve(root, Path::new(rel)).map_err(|e| refuse(key.clone(), e))?;
        match std::fs::symlink_metadata(&resolved) {
            Ok(m) if m.is_dir() => {
                crate::confine::check_tree(root, Path::new(rel)).map_err(|e| refuse(key, e))
            }
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(ApplyError::Io {
                path: key,
                message: format!("`{rel}` is not a regular file or directory"),
            }),
            // Checked here, before the first change (issue 15 item 10), not where it is used.
            Err(_) => Err(ApplyError::Io {
                path: key,
                message: format!("`{rel}` does not exist in the pushed source"),
            }),
        }
    };
    for (name, svc) in &project.services {
        for (i, route) in svc.settings.paths.iter().enumerate() {
            if let PathTarget::Static { dir, .. } = &route.target {
                file_or_tree(format!("x-dokku.services.{name}.paths[{i}].static"), dir)?;
            }
        }
        let crate::model::Kind::App(app) = &svc.kind else {
            continue;
        };
        if let Source::Build(b) = &app.source {
            let context = format!("services.{name}.build.context");
            crate::confine::resolve(root, Path::new(&b.context))
                .map_err(|e| refuse(context.clone(), e))?;
            let dockerfile = Path::new(&b.context).join(&b.dockerfile);
            let key = format!("services.{name}.build.dockerfile");
            let resolved =
                crate::confine::resolve(root, &dockerfile).map_err(|e| refuse(key.clone(), e))?;
            match std::fs::symlink_metadata(&resolved) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(ApplyError::Io { path: key, message: format!("`{}` is not a regular file", dockerfile.display()) }),
                Err(_) => return Err(ApplyError::Io { path: key, message: format!("`{}` does not exist in the pushed source; Dokku builds the service from it", dockerfile.display()) }),
            }
            file_or_tree(context, &b.context)?;
        }
        for (target, f) in &app.files {
            if let FileSource::Source { path } = f {
                file_or_tree(
                    format!("services.{name}.configs/volumes (`{path}` -> `{target}`)"),
                    path,
                )?;
            }
        }
        for m in &app.mounts {
            if let Mount::Entry {
                seed_from: Some(seed),
                target,
                ..
            } = m
            {
                file_or_tree(format!("services.{name}.volumes (`{seed}:{target}`)"), seed)?;
            }
        }
    }
    Ok(())
}

/// The values of the compose `secrets` the services use: a `file` is read (and decrypted when
/// it is an ansible vault), an `environment` secret comes from `environment`.
fn resolve_secrets(
    compose: &Value,
    environment: &BTreeMap<String, String>,
    vault: Option<&crate::vault::VaultPassword>,
    jail: Option<&crate::confine::Jail>,
) -> Result<BTreeMap<String, Vec<u8>>, ApplyError> {
    let mut out = BTreeMap::new();
    for (name, def) in compose
        .get("secrets")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(file) = def.get("file").and_then(Value::as_str) {
            if let Some(j) = jail {
                // In the jail: a regular file of the pushed tree, bounded (issue #13).
                match j.read(Path::new(file)) {
                    Ok(bytes) => {
                        let plain = crate::vault::plaintext(bytes, Path::new(file), vault)
                            .map_err(|e| ApplyError::Io {
                                path: format!("secrets.{name}.file"),
                                message: e.to_string(),
                            })?;
                        out.insert(name.clone(), plain);
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        return Err(ApplyError::Io {
                            path: format!("secrets.{name}.file"),
                            message: e.to_string(),
                        })
                    }
                }
                continue;
            }
            match crate::vault::read_maybe_vault(Path::new(file), vault) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                // A missing file is reported by the planner, naming the service that uses it.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(ApplyError::Io {
                        path: format!("secrets.{name}.file"),
                        message: e.to_string(),
                    })
                }
            }
        } else if let Some(var) = def.get("environment").and_then(Value::as_str) {
            if let Some(v) = environment.get(var) {
                out.insert(name.clone(), v.clone().into_bytes());
            }
        }
    }
    Ok(out)
}
