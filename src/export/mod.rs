//! `compose:export` (issue #9 "Export"): the inverse of the planner. From a [`DokkuState`]
//! snapshot of a stack's apps and datastores, plus the deploy recipe of each app (the compose
//! service of the stack's latest release, when there is one), build a compose project that
//! describes what the apps run now, and render it with `templates/export.compose.yaml.tera`.
//!
//! Everything here is pure; the caller reads the host (`state::read_parallel`) and the release
//! store. What comes from where, and what cannot be recovered, is documented in docs/export.md:
//!
//! * from the host state: environment (the keys the stack manages, `DOKKU_COMPOSE_KEYS`, else
//!   every key but Dokku's own and link variables), `http` port maps, storage mounts, networks
//!   and extra `--network-alias`es, scale, resources, restart policy, stop timeout, domains,
//!   Let's Encrypt, datastores and their links (→ `depends_on`);
//! * from the recipe (what the host cannot tell): image or `build`, `command`, `entrypoint`,
//!   `working_dir`, `user`, `healthcheck`, files baked into the image, other container options,
//!   `x-dokku` plain keys and the one-shot state; without a recipe the image is the one the host
//!   reports for the app.
//!
//! Environment values are written as `${VARIABLE}` references (never the value) unless the key
//! is plain (`x-dokku.plain`, `x-dokku.services.<svc>.plain`); the values are returned in
//! [`Export::variables`] for the caller that must interpolate the file (import), never rendered.

mod app;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::dokku::catalog::DATASTORES;
use crate::state::DokkuState;

/// The template, embedded (style R20).
pub(crate) const TEMPLATE: &str = include_str!("../../templates/export.compose.yaml.tera");

/// Exporting failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The template did not render.
    #[error("cannot render the compose file: {0}")]
    Template(String),
    /// An app to export does not exist on the host.
    #[error("app `{0}` does not exist")]
    MissingApp(String),
}

/// What a compose service of the exported stack is on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// A Dokku app.
    App(String),
    /// A datastore service: plugin and service name.
    Datastore {
        /// `postgres`.
        plugin: String,
        /// `shop-db`.
        name: String,
    },
}

/// Everything [`export`] reads.
#[derive(Debug, Clone)]
pub struct ExportInput<'a> {
    /// The stack name (the compose project name of the export).
    pub stack: &'a str,
    /// The host's state for the members.
    pub state: &'a DokkuState,
    /// Compose service name → what it is on the host.
    pub services: BTreeMap<String, Member>,
    /// The normalised compose JSON of the stack's latest release (masked values are fine: its
    /// environment is never used), the recipe of each app.
    pub recipe: Option<&'a Value>,
    /// The project directory the recipe's absolute paths start with: they are written relative
    /// to it (`./api`), so the export works from the same directory.
    pub project_dir: Option<&'a str>,
    /// App → image the host reports (`git:report` source image), used without a recipe.
    pub images: BTreeMap<String, String>,
}

/// One `key: value` line; the value is JSON text, which YAML reads as the same value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The key, as written.
    pub key: String,
    /// The value, JSON text.
    pub value: String,
}

/// One exported service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceDoc {
    /// The service name, JSON text.
    pub name: String,
    /// Its keys other than `environment`.
    pub fields: Vec<Field>,
    /// `environment`, one line per key.
    pub environment: Vec<Field>,
}

/// The exported compose project, ready for the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposeDoc {
    /// The stack, as a plain word (for the header comment).
    pub stack: String,
    /// The project name, JSON text.
    pub name: String,
    /// Services by name.
    pub services: Vec<ServiceDoc>,
    /// Top-level networks.
    pub networks: Vec<Field>,
    /// Top-level volumes.
    pub volumes: Vec<Field>,
    /// Other top-level keys (`secrets`, `configs`).
    pub top: Vec<Field>,
    /// Top-level `x-dokku`, JSON text (empty when there is none).
    pub x_dokku: String,
}

/// The result of [`export`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The document to render.
    pub doc: ComposeDoc,
    /// Every `${VARIABLE}` the document refers to → its current value. Secret: never rendered.
    pub variables: BTreeMap<String, String>,
}

/// Keys of a recipe service that the host state decides (rebuilt from the state).
const FROM_STATE: &[&str] = &[
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "deploy",
    "restart",
    "stop_grace_period",
    "scale",
    "mem_limit",
    "memswap_limit",
    "mem_reservation",
    "cpus",
    "depends_on",
    "links",
    "x-dokku",
];

/// Config vars Dokku or its plugins set themselves, never exported.
fn dokku_own(key: &str) -> bool {
    key.starts_with("DOKKU_") || key == "GIT_REV"
}

fn text(v: &Value) -> String {
    v.to_string()
}

fn field(key: &str, v: &Value) -> Field {
    Field {
        key: key.to_owned(),
        value: text(v),
    }
}

/// Every string equal to `dir` or below it becomes relative (`.`, `./x`).
fn relativise(v: &mut Value, dir: &str) {
    match v {
        Value::String(s) => {
            if s == dir {
                ".".clone_into(s);
            } else if let Some(rest) = s.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
                *s = format!("./{rest}");
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| relativise(x, dir)),
        Value::Object(m) => m.values_mut().for_each(|x| relativise(x, dir)),
        _ => {}
    }
}

/// A literal `$` is written `$$` (compose interpolation).
fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

/// `SERVICE_KEY` for a key whose value differs between services.
fn scoped_var(service: &str, key: &str) -> String {
    format!("{}_{key}", crate::model::upper_snake(service))
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// One app's environment: `(key, value, plain)` by key.
type Env = Vec<(String, String, bool)>;

/// What the services of an export share while they are built.
struct Ctx<'a> {
    input: &'a ExportInput<'a>,
    recipe: &'a Value,
    /// `<stack>-`, the prefix of the stack's apps, networks and volumes.
    prefix: String,
    /// Datastore service `(plugin, name)` → compose service.
    ds_of: BTreeMap<(&'a str, &'a str), &'a str>,
}

/// What the services use, for the top-level keys.
#[derive(Default)]
struct Used {
    networks: BTreeSet<String>,
    volumes: BTreeSet<String>,
    le_email: Option<String>,
}

/// Builds the compose project of the stack's members from the host state and the recipe.
///
/// # Errors
///
/// [`ExportError::MissingApp`] when an app member is not in the state.
pub fn export(input: &ExportInput<'_>) -> Result<Export, ExportError> {
    let stack = input.stack;
    let empty = Value::Null;
    let recipe = input.recipe.unwrap_or(&empty);
    let ctx = Ctx {
        input,
        recipe,
        prefix: format!("{stack}-"),
        ds_of: input
            .services
            .iter()
            .filter_map(|(svc, m)| match m {
                Member::Datastore { plugin, name } => {
                    Some(((plugin.as_str(), name.as_str()), svc.as_str()))
                }
                Member::App(_) => None,
            })
            .collect(),
    };
    // Pass 1: environment of every app, to name variables consistently.
    let envs = app_envs(input, &recipe["x-dokku"])?;
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for list in envs.values() {
        for (k, v, plain) in list {
            if !plain {
                values.entry(k.as_str()).or_default().insert(v.as_str());
            }
        }
    }
    let mut variables = BTreeMap::new();
    let mut services = Vec::new();
    let mut used = Used::default();
    let mut xd_services = Map::new();
    for (svc, member) in &input.services {
        let (out, xd) = service_fields(&ctx, svc, member, &mut used);
        let environment = envs
            .get(svc.as_str())
            .into_iter()
            .flatten()
            .map(|(k, v, plain)| {
                let value = if *plain {
                    escape(v)
                } else {
                    let var = if values.get(k.as_str()).is_some_and(|s| s.len() > 1) {
                        scoped_var(svc, k)
                    } else {
                        k.clone()
                    };
                    variables.insert(var.clone(), v.clone());
                    format!("${{{var}}}")
                };
                Field {
                    key: k.clone(),
                    value: text(&json!(value)),
                }
            })
            .collect();
        if !xd.is_empty() {
            xd_services.insert(svc.clone(), Value::Object(xd));
        }
        // `image` and `build` first, the rest by name.
        let mut fields: Vec<Field> = out.iter().map(|(k, v)| field(k, v)).collect();
        fields.sort_by_key(|f| (!matches!(f.key.as_str(), "image" | "build"), f.key.clone()));
        services.push(ServiceDoc {
            name: text(&json!(svc)),
            fields,
            environment,
        });
    }
    let doc = document(&ctx, services, used, xd_services);
    Ok(Export { doc, variables })
}

/// The environment of every app member: the keys the stack manages (`DOKKU_COMPOSE_KEYS`),
/// else every key but Dokku's own and link variables; plain when `x-dokku.plain` says so.
fn app_envs<'i>(
    input: &'i ExportInput<'_>,
    recipe_xd: &Value,
) -> Result<BTreeMap<&'i str, Env>, ExportError> {
    let stack_plain: BTreeSet<String> = str_list(&recipe_xd["plain"]).into_iter().collect();
    let mut envs = BTreeMap::new();
    for (svc, m) in &input.services {
        let Member::App(app) = m else { continue };
        let a = input
            .state
            .apps
            .get(app)
            .ok_or_else(|| ExportError::MissingApp(app.clone()))?;
        let mut plain = stack_plain.clone();
        plain.extend(str_list(&recipe_xd["services"][svc]["plain"]));
        let keys: BTreeSet<String> = match a.config.get(crate::plan::KEYS_VAR) {
            Some(k) => k
                .split(',')
                .filter(|k| !k.is_empty() && a.config.contains_key(*k))
                .map(str::to_owned)
                .collect(),
            None => {
                let link_vars: BTreeSet<&str> = input
                    .state
                    .datastores
                    .iter()
                    .filter(|(_, svcs)| svcs.values().any(|links| links.contains(app)))
                    .filter_map(|(plugin, _)| {
                        DATASTORES
                            .iter()
                            .find(|d| d.plugin == plugin)
                            .map(|d| d.link_var)
                    })
                    .collect();
                a.config
                    .keys()
                    .filter(|k| !dokku_own(k) && !link_vars.contains(k.as_str()))
                    .cloned()
                    .collect()
            }
        };
        let list = keys
            .into_iter()
            .map(|k| (a.config[&k].clone(), plain.contains(&k), k))
            .map(|(v, p, k)| (k, v, p))
            .collect();
        envs.insert(svc.as_str(), list);
    }
    Ok(envs)
}

/// A service's compose keys and its `x-dokku` block (paths relative to the project
/// directory, when known).
fn service_fields(
    ctx: &Ctx<'_>,
    svc: &str,
    member: &Member,
    used: &mut Used,
) -> (Map<String, Value>, Map<String, Value>) {
    let rsvc = ctx.recipe["services"].get(svc).and_then(Value::as_object);
    let mut out: Map<String, Value> = Map::new();
    let mut xd: Map<String, Value> = ctx.recipe["x-dokku"]["services"][svc]
        .as_object()
        .cloned()
        .unwrap_or_default();
    match member {
        Member::Datastore { plugin, .. } => {
            let image = rsvc
                .and_then(|r| r.get("image"))
                .cloned()
                .unwrap_or_else(|| {
                    json!(DATASTORES
                        .iter()
                        .find(|d| d.plugin == plugin)
                        .map_or(plugin.as_str(), |d| d.image))
                });
            out.insert("image".into(), image);
            if let Some(c) = rsvc.and_then(|r| r.get("command")).filter(|c| !c.is_null()) {
                out.insert("command".into(), c.clone());
            }
        }
        Member::App(app) => app::app_fields(ctx, svc, app, rsvc, &mut out, &mut xd, used),
    }
    if let Some(dir) = ctx.input.project_dir {
        let mut v = Value::Object(std::mem::take(&mut out));
        relativise(&mut v, dir);
        if let Value::Object(m) = v {
            out = m;
        }
    }
    (out, xd)
}

/// The document: the services, then the networks and volumes they use, the recipe's
/// `secrets` and `configs`, and the top-level `x-dokku`.
fn document(
    ctx: &Ctx<'_>,
    services: Vec<ServiceDoc>,
    used: Used,
    xd_services: Map<String, Value>,
) -> ComposeDoc {
    let (recipe, prefix) = (ctx.recipe, &ctx.prefix);
    let networks = used
        .networks
        .iter()
        .filter(|n| *n != &format!("{prefix}default"))
        .map(|full| match full.strip_prefix(prefix.as_str()) {
            Some(n) => field(n, &json!({})),
            None => field(full, &json!({"external": true, "name": full})),
        })
        .collect();
    let volumes = used
        .volumes
        .iter()
        .map(|v| {
            let spec = recipe["volumes"]
                .get(v)
                .filter(|s| s["external"] == true)
                .cloned()
                .unwrap_or_else(|| json!({}));
            field(v, &spec)
        })
        .collect();
    let mut top = Vec::new();
    for key in ["secrets", "configs"] {
        if let Some(v) = recipe
            .get(key)
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        {
            let mut v = v.clone();
            if let Some(dir) = ctx.input.project_dir {
                relativise(&mut v, dir);
            }
            top.push(field(key, &v));
        }
    }
    let mut xd_top: Map<String, Value> = recipe["x-dokku"].as_object().cloned().unwrap_or_default();
    xd_top.remove("services");
    if let Some(e) = used
        .le_email
        .filter(|_| !xd_top.contains_key("letsencrypt_email"))
    {
        xd_top.insert("letsencrypt_email".into(), json!(e));
    }
    if !xd_services.is_empty() {
        xd_top.insert("services".into(), Value::Object(xd_services));
    }
    let x_dokku = if xd_top.is_empty() {
        String::new()
    } else {
        text(&Value::Object(xd_top))
    };
    ComposeDoc {
        stack: ctx.input.stack.to_owned(),
        name: text(&json!(ctx.input.stack)),
        services,
        networks,
        volumes,
        top,
        x_dokku,
    }
}

/// Renders the compose file (pure; golden-tested in tests/export.rs).
///
/// # Errors
///
/// [`ExportError::Template`] if the template does not render (a bug).
pub fn render(doc: &ComposeDoc) -> Result<String, ExportError> {
    let ctx =
        tera::Context::from_serialize(doc).map_err(|e| ExportError::Template(e.to_string()))?;
    let mut out = tera::Tera::one_off(TEMPLATE, &ctx, false)
        .map_err(|e| ExportError::Template(format!("{e:?}")))?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// `.env.example`: every variable the export refers to, without its value.
pub fn env_example(export: &Export) -> String {
    let mut out = String::from(
        "# The variables the exported compose file refers to; their values are not exported.\n",
    );
    for k in export.variables.keys() {
        out.push_str(k);
        out.push_str("=\n");
    }
    out
}

/// The members of a stack from its release's compose JSON (pure): the model project (for
/// `state::read`) and compose service → app or datastore.
///
/// # Errors
///
/// The model's error when the JSON is not a valid stack.
pub fn members_of(
    recipe: &Value,
    stack: &str,
    project_dir: &str,
) -> Result<(crate::model::Project, BTreeMap<String, Member>), crate::model::ModelError> {
    use crate::model::{ConvertOptions, Kind, StackName};
    let stack = StackName::parse(stack).map_err(|e| crate::model::ModelError::Shape {
        path: "name".into(),
        message: e.to_string(),
    })?;
    let (project, _) = crate::model::from_compose_json(
        recipe,
        &ConvertOptions {
            stack,
            project_dir: project_dir.to_owned(),
        },
    )?;
    let members = project
        .services
        .iter()
        .map(|(name, svc)| {
            let m = match &svc.kind {
                Kind::App(a) => Member::App(a.app.to_string()),
                Kind::Datastore(d) => Member::Datastore {
                    plugin: d.plugin.to_owned(),
                    name: d.name.to_string(),
                },
            };
            (name.to_string(), m)
        })
        .collect();
    Ok((project, members))
}
