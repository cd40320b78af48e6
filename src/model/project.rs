//! The converted compose project and the conversion's top level: from the typed compose
//! project ([`crate::compose::types::Project`]) to the domain model. Every key is looked up in
//! [`super::keys`]: mapped keys are converted (one file per concern, see `mod.rs`), warned
//! keys produce a [`Warning`], rejected keys an error; nothing is dropped silently.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::ctx::{is_unset, Ctx};
use super::error::{ModelError, Warning};
use super::keys::{self, Support};
use super::names::{AppName, NetworkName, ServiceName, StackName, StorageName};
use super::service::Service;
use super::xdokku::StackSettings;
use crate::compose::types;

/// A compose project mapped onto Dokku names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// The stack.
    pub stack: StackName,
    /// Services by compose name.
    pub services: BTreeMap<ServiceName, Service>,
    /// Networks the stack creates (compose key -> Docker network), externals excluded.
    pub networks: BTreeMap<String, NetworkName>,
    /// Storage entries the stack creates, with the directory to seed a new one from.
    pub storage: BTreeMap<StorageName, Option<String>>,
    /// Top-level `x-dokku`.
    pub settings: StackSettings,
    /// Environment values rewritten to reach datastores (key path -> rule), for the plan header.
    pub rewrites: BTreeMap<String, String>,
    /// The claims of the storage entries on k3s (issue 21, [`super::k3s::claims`]).
    pub claims: BTreeMap<StorageName, super::k3s::Claim>,
}

/// Inputs of the conversion besides the project.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// The stack name.
    pub stack: StackName,
    /// The project directory as it is written in the project's absolute paths.
    pub project_dir: String,
}

/// Converts compose JSON (`config --format json` output, `$$` for a dollar, with service-level
/// `x-*` keys where the loader kept them) into a [`Project`]: decoded into the typed compose
/// project first ([`types::Project::from_json`]), then [`from_compose`].
pub fn from_compose_json(
    json: &Value,
    opts: &ConvertOptions,
) -> Result<(Project, Vec<Warning>), ModelError> {
    from_compose(&types::Project::from_json(json)?, opts)
}

/// Converts the typed compose project into a [`Project`], with the warnings for keys that have
/// no (full) Dokku meaning.
pub fn from_compose(
    compose: &types::Project,
    opts: &ConvertOptions,
) -> Result<(Project, Vec<Warning>), ModelError> {
    let mut ctx = Ctx {
        stack: &opts.stack,
        project_dir: opts.project_dir.trim_end_matches('/'),
        warnings: Vec::new(),
        networks: BTreeMap::new(),
        external_networks: BTreeMap::new(),
        volumes: BTreeMap::new(),
        storage: BTreeMap::new(),
        configs: &compose.configs,
        secrets: &compose.secrets,
    };
    classify_top_level(&mut ctx, compose)?;
    let settings = match compose.extensions.get("x-dokku") {
        Some(v) => StackSettings::from_json(v)?,
        None => StackSettings::default(),
    };
    super::toplevel::read_networks(&mut ctx, &compose.networks);
    super::toplevel::read_volumes(&mut ctx, &compose.volumes);
    let app_names = app_names(&mut ctx, compose, opts);
    if let Some(unknown) = settings
        .services
        .keys()
        .find(|s| !compose.services.contains_key(*s))
    {
        return Err(ModelError::Extension {
            path: format!("x-dokku.services.{unknown}"),
            message: "names no service of the project".into(),
        });
    }
    let mut services = BTreeMap::new();
    // `app_names` is in the order of `compose.services`.
    for ((svc_name, app), raw) in app_names.into_iter().zip(compose.services.values()) {
        let service =
            super::convert_service::convert_service(&mut ctx, &settings, &svc_name, app, raw)?;
        services.insert(svc_name, service);
    }
    super::derive::resolve_volumes_from(&mut services);
    warn_letsencrypt_email(&mut ctx, &settings, &services);
    super::derive::infer_one_shot(&mut services, &mut ctx.warnings);
    let mut rewrites = BTreeMap::new();
    super::rewrite::rewrite_datastore_refs(&mut services, &mut rewrites, &mut ctx.warnings)?;

    let claims = super::k3s::claims(&settings.k3s, &ctx.volumes, &compose.volumes)?;
    ctx.warnings.sort();
    ctx.warnings.dedup();
    let project = Project {
        claims,
        stack: opts.stack.clone(),
        services,
        networks: ctx.networks,
        storage: ctx.storage,
        settings,
        rewrites,
    };
    Ok((project, ctx.warnings))
}

/// The top-level key pass: every key but `x-*` is looked up in the key table.
fn classify_top_level(ctx: &mut Ctx<'_>, compose: &types::Project) -> Result<(), ModelError> {
    let typed = [
        ("configs", !compose.configs.is_empty()),
        ("name", !compose.name.is_empty()),
        ("networks", !compose.networks.is_empty()),
        ("secrets", !compose.secrets.is_empty()),
        ("services", !compose.services.is_empty()),
        ("volumes", !compose.volumes.is_empty()),
    ];
    let mut entries: Vec<(&str, bool)> = typed.to_vec();
    // Extension fields are the user's own anchors; compose keeps them verbatim.
    let other = compose
        .extensions
        .iter()
        .filter(|(k, _)| !k.starts_with("x-"));
    entries.extend(other.map(|(k, v)| (k.as_str(), !is_unset(v))));
    entries.sort_unstable();
    for (key, set) in entries {
        match keys::top_level_key(key) {
            None => return Err(ModelError::UnknownKey { path: key.into() }),
            Some(Support::Rejected(reason)) => {
                return Err(ModelError::Rejected {
                    path: key.into(),
                    reason: reason.into(),
                })
            }
            Some(Support::Warned(reason)) if set => ctx.warn(key, reason),
            _ => {}
        }
    }
    Ok(())
}

/// App names, in service-name order, so collisions are resolved in that order and reported.
fn app_names(
    ctx: &mut Ctx<'_>,
    compose: &types::Project,
    opts: &ConvertOptions,
) -> Vec<(ServiceName, AppName)> {
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    let mut app_names: Vec<(ServiceName, AppName)> = Vec::with_capacity(compose.services.len());
    for name in compose.services.keys() {
        let svc = ServiceName::new(name.as_str());
        let base = AppName::for_service(&opts.stack, &svc);
        let mut app = base.clone();
        let mut n = 2;
        while taken.contains_key(app.as_str()) {
            app = base.with_suffix(n);
            n += 1;
        }
        if app != base {
            let other = &taken[base.as_str()];
            ctx.warn(
                format!("services.{name}"),
                format!("app name `{base}` is already service `{other}`'s; using `{app}`"),
            );
        }
        taken.insert(app.as_str().to_owned(), name.clone());
        app_names.push((svc, app));
    }
    app_names
}

fn warn_letsencrypt_email(
    ctx: &mut Ctx<'_>,
    settings: &StackSettings,
    services: &BTreeMap<ServiceName, Service>,
) {
    if settings.letsencrypt_email.is_some() {
        return;
    }
    for (name, svc) in services {
        if svc.settings.letsencrypt {
            ctx.warn(
                format!("services.{name}.x-dokku.letsencrypt"),
                "no `x-dokku.letsencrypt_email`: `letsencrypt:enable` needs the host's global e-mail, which this plan does not see; the push refuses before any change when it is not set (`dokku letsencrypt:set --global email …`)",
            );
        }
    }
}
