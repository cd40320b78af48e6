//! The `x-dokku` extension: what the mapping needs from the user that compose cannot say.
//! The schema is documented in docs/mapping.md and validated here key by key.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::error::ModelError;

/// How a service is expected to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedState {
    /// A long-running process (the default).
    #[default]
    Running,
    /// A job that runs once per deploy and must exit 0 (`dokku run`), e.g. migrations.
    OneShot,
    /// Deployed but scaled to zero.
    Stopped,
}

/// Service-level `x-dokku`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceSettings {
    /// `domains`: `domains:set`.
    pub domains: Vec<String>,
    /// `letsencrypt`: `letsencrypt:enable` after the deploy.
    pub letsencrypt: bool,
    /// Whether `letsencrypt` was given (a `false` opts out of the stack-wide setting).
    #[serde(skip)]
    pub letsencrypt_given: bool,
    /// `proxy_port`: the container port the proxy sends HTTP to when `ports` is empty.
    pub proxy_port: Option<u16>,
    /// `datastore: false` keeps a datastore image as an ordinary app.
    pub datastore: Option<bool>,
    /// `state`.
    pub state: ExpectedState,
    /// Whether `state` was given (otherwise it may be inferred from `depends_on`).
    #[serde(skip)]
    pub state_given: bool,
    /// `plain`: environment keys shown unmasked.
    pub plain: BTreeSet<String>,
    /// `secrets: env`: compose secrets reach the service as environment variables.
    pub secrets_as_env: bool,
    /// `backup`: the datastore's backups (datastore services only).
    pub backup: Option<Backup>,
    /// `logs.max_size`: `logs:set <app> max-size` (overrides compose `logging`).
    pub log_max_size: Option<String>,
    /// `logs.vector_sink`: `logs:set <app> vector-sink` (collect this service's logs).
    pub log_vector_sink: Option<String>,
    /// `paths`: path resources on the service's domains (issue 7, docs/routing.md).
    pub paths: Vec<PathRoute>,
    /// `scheduler`, `autoscaling`: the k3s scheduler (issue 21, [`super::k3s`]).
    pub k3s: super::k3s::ServiceK3s,
}

/// One entry of `x-dokku.services.<svc>.paths`: what a path of the service's domains serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathRoute {
    /// The location, starting with `/`.
    pub path: String,
    /// What it serves.
    pub target: PathTarget,
}

/// What a path serves (exactly one per entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PathTarget {
    /// `service: <name>`: proxied to another service of the stack, through its Dokku upstream.
    Service {
        /// The compose service.
        service: String,
    },
    /// `redirect: <url>`: a 302.
    Redirect {
        /// Where to.
        url: String,
    },
    /// `static: <dir>`: a directory of the pushed source (relative to the project directory),
    /// served by nginx; with `spa`, unknown paths fall back to `/index.html`.
    Static {
        /// The directory, normalised (`public`, `web/dist`).
        dir: String,
        /// Single-page-app fallback.
        spa: bool,
    },
    /// `nginx: <body>`: a custom location block body, passed through.
    Nginx {
        /// The body.
        body: String,
    },
}

const PATH_KEYS: &str = "nginx, path, redirect, service, spa, static";

/// A location or URL an nginx directive can hold as one word.
fn nginx_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '\\' | '\''))
}

/// `dir` relative to the project directory, normalised; `None` when it leaves the project.
fn inside_project(dir: &str) -> Option<String> {
    if dir.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in dir.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        Some(".".into())
    } else {
        Some(parts.join("/"))
    }
}

/// Whether every `{` of `body` is closed by a later `}` and no `}` closes more than was opened
/// (quoted strings and comments aside).
fn balanced(body: &str) -> bool {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    for c in body.chars() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '#' => comment = true,
            '"' | '\'' => quote = Some(c),
            '{' => depth += 1,
            '}' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0 && quote.is_none()
}

impl PathRoute {
    fn from_json(v: &Value, path: &str) -> Result<Self, ModelError> {
        let map = v.as_object().ok_or_else(|| {
            err(
                path,
                "must be a mapping with `path` and one of `service`, `redirect`, `static`, `nginx`"
                    .into(),
            )
        })?;
        let mut location = None;
        let mut targets: Vec<(&str, PathTarget)> = Vec::new();
        let mut spa = None;
        for (k, v) in map {
            let p = format!("{path}.{k}");
            let text = || {
                v.as_str()
                    .map(str::to_owned)
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| err(&p, "must be a non-empty string".into()))
            };
            match k.as_str() {
                "path" => {
                    let l = text()?;
                    if !l.starts_with('/') {
                        return Err(err(&p, format!("`{l}` must start with `/`")));
                    }
                    if !nginx_word(&l) {
                        return Err(err(
                            &p,
                            format!("`{l}` must not contain whitespace, quotes, `{{`, `}}` or `;`"),
                        ));
                    }
                    if l == "/" {
                        return Err(err(
                            &p,
                            "`/` is the app itself (Dokku's own `location /`): route a sub-path"
                                .into(),
                        ));
                    }
                    location = Some(l);
                }
                "service" => targets.push(("service", PathTarget::Service { service: text()? })),
                "redirect" => {
                    let url = text()?;
                    if !nginx_word(&url) {
                        return Err(err(
                            &p,
                            format!(
                                "`{url}` must not contain whitespace, quotes, `{{`, `}}` or `;`"
                            ),
                        ));
                    }
                    targets.push(("redirect", PathTarget::Redirect { url }));
                }
                "static" => {
                    let d = text()?;
                    let dir = inside_project(&d).ok_or_else(|| err(&p, format!("`{d}` must be a directory inside the project (relative, without leaving it with `..`)")))?;
                    if !nginx_word(&dir) {
                        return Err(err(
                            &p,
                            format!("`{d}` must not contain whitespace, quotes, `{{`, `}}` or `;`"),
                        ));
                    }
                    targets.push(("static", PathTarget::Static { dir, spa: false }));
                }
                "spa" => spa = Some(boolean(v, &p)?),
                "nginx" => {
                    let body = text()?;
                    if !balanced(&body) {
                        return Err(err(&p, "has unbalanced braces or quotes: it must be the body of one location block".into()));
                    }
                    targets.push(("nginx", PathTarget::Nginx { body }));
                }
                _ => {
                    return Err(err(
                        &p,
                        format!("unknown setting; valid settings: {PATH_KEYS}"),
                    ))
                }
            }
        }
        let location =
            location.ok_or_else(|| err(&format!("{path}.path"), "is required".into()))?;
        if targets.len() != 1 {
            let given: Vec<&str> = targets.iter().map(|(k, _)| *k).collect();
            return Err(err(
                path,
                format!(
                    "needs exactly one of `service`, `redirect`, `static`, `nginx` (given: {})",
                    if given.is_empty() {
                        "none".to_owned()
                    } else {
                        given.join(", ")
                    }
                ),
            ));
        }
        let (_, mut target) = targets.remove(0);
        match (&mut target, spa) {
            (PathTarget::Static { spa: s, .. }, Some(v)) => *s = v,
            (_, Some(_)) => {
                return Err(err(
                    &format!("{path}.spa"),
                    "only applies to `static`".into(),
                ))
            }
            _ => {}
        }
        Ok(Self {
            path: location,
            target,
        })
    }
}

/// `x-dokku.services.<datastore>.backup`: scheduled backups to S3-compatible storage, with
/// credentials and passphrase given as names of compose `secrets` (never as values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Backup {
    /// Cron schedule (`0 3 * * *`).
    pub schedule: String,
    /// Bucket name, optionally with a path (`my-bucket/db`).
    pub bucket: String,
    /// Secret holding the access key id.
    pub access_key_id: String,
    /// Secret holding the secret access key.
    pub secret_access_key: String,
    /// Region (plain).
    pub region: Option<String>,
    /// Signature version (plain).
    pub signature_version: Option<String>,
    /// Endpoint URL for non-AWS storage (plain).
    pub endpoint_url: Option<String>,
    /// Secret holding the GPG passphrase the backups are encrypted with.
    pub encryption_passphrase: Option<String>,
}

const BACKUP_KEYS: &str = "access_key_id, bucket, encryption_passphrase, endpoint_url, region, schedule, secret_access_key, signature_version";

impl Backup {
    fn from_json(v: &Value, path: &str) -> Result<Self, ModelError> {
        let map = v
            .as_object()
            .ok_or_else(|| err(path, "must be a mapping".into()))?;
        let mut b = Self::default();
        for (k, v) in map {
            let p = format!("{path}.{k}");
            let text = || {
                v.as_str()
                    .map(str::to_owned)
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| err(&p, "must be a non-empty string".into()))
            };
            let secret_name = || -> Result<String, ModelError> {
                let name = match v {
                    Value::Object(o) => o.get("secret").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                };
                name.ok_or_else(|| err(&p, "must name a compose secret: `{secret: <name>}` (values are never written in x-dokku)".into()))
            };
            match k.as_str() {
                "schedule" => {
                    let s = text()?;
                    if s.split_whitespace().count() != 5 {
                        return Err(err(
                            &p,
                            format!("`{s}` is not a cron schedule of five fields"),
                        ));
                    }
                    b.schedule = s;
                }
                "bucket" => b.bucket = text()?,
                "access_key_id" => b.access_key_id = secret_name()?,
                "secret_access_key" => b.secret_access_key = secret_name()?,
                "encryption_passphrase" => b.encryption_passphrase = Some(secret_name()?),
                "region" => b.region = Some(text()?),
                "signature_version" => b.signature_version = Some(text()?),
                "endpoint_url" => b.endpoint_url = Some(text()?),
                _ => {
                    return Err(err(
                        &p,
                        format!("unknown setting; valid settings: {BACKUP_KEYS}"),
                    ))
                }
            }
        }
        for (key, present) in [
            ("schedule", !b.schedule.is_empty()),
            ("bucket", !b.bucket.is_empty()),
            ("access_key_id", !b.access_key_id.is_empty()),
            ("secret_access_key", !b.secret_access_key.is_empty()),
        ] {
            if !present {
                return Err(err(&format!("{path}.{key}"), "is required".into()));
            }
        }
        Ok(b)
    }

    /// One line for reports: `postgres:shop-db `0 3 * * *` -> bucket (encrypted)`.
    pub fn describe(&self, plugin: &str, service: &str) -> String {
        format!(
            "{plugin}:{service} `{}` -> {}{}",
            self.schedule,
            self.bucket,
            if self.encryption_passphrase.is_some() {
                " (encrypted)"
            } else {
                ""
            }
        )
    }

    /// The compose secrets the backup reads.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        [
            Some(self.access_key_id.as_str()),
            Some(self.secret_access_key.as_str()),
            self.encryption_passphrase.as_deref(),
        ]
        .into_iter()
        .flatten()
    }
}

/// Top-level `x-dokku`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StackSettings {
    /// `letsencrypt_email`: `letsencrypt:set <app> email` for apps with letsencrypt.
    pub letsencrypt_email: Option<String>,
    /// `letsencrypt: true`: every service with domains gets a certificate (a service's own
    /// `letsencrypt: false` opts out).
    pub letsencrypt: bool,
    /// `plain`: environment keys shown unmasked in every service.
    pub plain: BTreeSet<String>,
    /// `services.<name>`: per-service settings. This is the portable place for them: Docker
    /// Compose v2.40.3 drops service-level `x-*` keys from `config --format json`, so a
    /// service-level `x-dokku` only survives a loader that keeps it.
    pub services: BTreeMap<String, ServiceSettings>,
    /// `scheduler`, `registry`, `volumes`: the k3s scheduler (issue 21, [`super::k3s`]).
    pub k3s: super::k3s::StackK3s,
}

const SERVICE_KEYS: &str =
    "autoscaling, backup, datastore, domains, letsencrypt, logs, paths, plain, proxy_port, scheduler, secrets, state";
const STACK_KEYS: &str =
    "letsencrypt, letsencrypt_email, plain, registry, scheduler, services, volumes";

fn err(path: &str, message: String) -> ModelError {
    ModelError::Extension {
        path: path.to_owned(),
        message,
    }
}

fn string_list(v: &Value, path: &str) -> Result<Vec<String>, ModelError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(path, "must be a list of strings".into()))
            })
            .collect(),
        _ => Err(err(path, "must be a string or a list of strings".into())),
    }
}

fn boolean(v: &Value, path: &str) -> Result<bool, ModelError> {
    v.as_bool()
        .ok_or_else(|| err(path, "must be true or false".into()))
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
        })
}

impl ServiceSettings {
    /// Reads `services.<svc>.x-dokku` at `path`.
    pub fn from_json(v: &Value, path: &str) -> Result<Self, ModelError> {
        let map = v
            .as_object()
            .ok_or_else(|| err(path, "must be a mapping".into()))?;
        let mut s = Self::default();
        for (k, v) in map {
            let p = format!("{path}.{k}");
            match k.as_str() {
                "domains" => {
                    s.domains = string_list(v, &p)?;
                    if let Some(bad) = s.domains.iter().find(|d| !valid_domain(d)) {
                        return Err(err(&p, format!("`{bad}` is not a valid domain")));
                    }
                }
                "letsencrypt" => {
                    s.letsencrypt = boolean(v, &p)?;
                    s.letsencrypt_given = true;
                }
                "proxy_port" => {
                    let n = v.as_u64().filter(|n| (1..=65535).contains(n));
                    s.proxy_port = Some(
                        n.and_then(|n| u16::try_from(n).ok())
                            .ok_or_else(|| err(&p, "must be a port number".into()))?,
                    );
                }
                "datastore" => s.datastore = Some(boolean(v, &p)?),
                "state" => {
                    s.state_given = true;
                    s.state = match v.as_str() {
                        Some("running") => ExpectedState::Running,
                        Some("one-shot") => ExpectedState::OneShot,
                        Some("stopped") => ExpectedState::Stopped,
                        _ => {
                            return Err(err(
                                &p,
                                "must be one of `running`, `one-shot`, `stopped`".into(),
                            ))
                        }
                    }
                }
                "plain" => s.plain = string_list(v, &p)?.into_iter().collect(),
                "secrets" => {
                    s.secrets_as_env = match v.as_str() {
                        Some("env") => true,
                        Some("files") => false,
                        _ => return Err(err(&p, "must be `files` (the default) or `env`".into())),
                    }
                }
                "backup" => s.backup = Some(Backup::from_json(v, &p)?),
                "logs" => {
                    let m = v.as_object().ok_or_else(|| {
                        err(&p, "must be a mapping of `max_size`, `vector_sink`".into())
                    })?;
                    for (lk, lv) in m {
                        let lp = format!("{p}.{lk}");
                        let text = lv
                            .as_str()
                            .filter(|t| !t.trim().is_empty() && !t.contains(char::is_whitespace))
                            .map(str::to_owned)
                            .ok_or_else(|| {
                                err(&lp, "must be a non-empty string without spaces".into())
                            });
                        match lk.as_str() {
                            "max_size" => {
                                let t = text?;
                                let ok = t == "unlimited"
                                    || t.trim_end_matches(['k', 'm', 'g']).parse::<u64>().is_ok();
                                if !ok {
                                    return Err(err(
                                        &lp,
                                        format!("`{t}` is not a size like `10m` or `unlimited`"),
                                    ));
                                }
                                s.log_max_size = Some(t);
                            }
                            "vector_sink" => s.log_vector_sink = Some(text?),
                            _ => {
                                return Err(err(
                                    &lp,
                                    "unknown setting; valid settings: max_size, vector_sink".into(),
                                ))
                            }
                        }
                    }
                }
                "paths" => {
                    let items = v.as_array().ok_or_else(|| {
                        err(
                            &p,
                            "must be a list of `{path: /…, service|redirect|static|nginx: …}`"
                                .into(),
                        )
                    })?;
                    for (i, item) in items.iter().enumerate() {
                        let route = PathRoute::from_json(item, &format!("{p}[{i}]"))?;
                        if s.paths.iter().any(|r: &PathRoute| r.path == route.path) {
                            return Err(err(
                                &format!("{p}[{i}].path"),
                                format!("`{}` is listed twice", route.path),
                            ));
                        }
                        s.paths.push(route);
                    }
                }
                k if super::k3s::SERVICE_KEYS.contains(&k) => s.k3s.read(k, v, &p)?,
                _ => {
                    return Err(err(
                        &p,
                        format!("unknown setting; valid settings: {SERVICE_KEYS}"),
                    ))
                }
            }
        }
        if s.letsencrypt && s.domains.is_empty() {
            return Err(err(
                &format!("{path}.letsencrypt"),
                "needs `domains`".into(),
            ));
        }
        Ok(s)
    }
}

impl StackSettings {
    /// Reads the top-level `x-dokku`.
    pub fn from_json(v: &Value) -> Result<Self, ModelError> {
        let path = "x-dokku";
        let map = v
            .as_object()
            .ok_or_else(|| err(path, "must be a mapping".into()))?;
        let mut s = Self::default();
        for (k, v) in map {
            let p = format!("{path}.{k}");
            match k.as_str() {
                "letsencrypt" => s.letsencrypt = boolean(v, &p)?,
                "letsencrypt_email" => {
                    let e = v
                        .as_str()
                        .filter(|e| e.contains('@'))
                        .ok_or_else(|| err(&p, "must be an e-mail address".into()))?;
                    s.letsencrypt_email = Some(e.to_owned());
                }
                "plain" => s.plain = string_list(v, &p)?.into_iter().collect(),
                "services" => {
                    let map = v.as_object().ok_or_else(|| {
                        err(&p, "must be a mapping of service name to settings".into())
                    })?;
                    for (name, settings) in map {
                        s.services.insert(
                            name.clone(),
                            ServiceSettings::from_json(settings, &format!("{p}.{name}"))?,
                        );
                    }
                }
                k if super::k3s::STACK_KEYS.contains(&k) => s.k3s.read(k, v, &p)?,
                _ => {
                    return Err(err(
                        &p,
                        format!("unknown setting; valid settings: {STACK_KEYS}"),
                    ))
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_settings() {
        let s = ServiceSettings::from_json(
            &json!({"domains": ["a.example.com"], "letsencrypt": true, "state": "one-shot", "plain": "LOG_LEVEL"}),
            "services.web.x-dokku",
        )
        .unwrap();
        assert_eq!(s.domains, ["a.example.com"]);
        assert_eq!(s.state, ExpectedState::OneShot);
        assert!(s.plain.contains("LOG_LEVEL"));
    }

    #[test]
    fn errors_name_the_key_path() {
        let e = ServiceSettings::from_json(&json!({"domian": "x"}), "services.web.x-dokku")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`services.web.x-dokku.domian`: unknown setting; valid settings: autoscaling, backup, datastore, domains, letsencrypt, logs, paths, plain, proxy_port, scheduler, secrets, state"
        );
        let e = ServiceSettings::from_json(&json!({"letsencrypt": true}), "services.web.x-dokku")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`services.web.x-dokku.letsencrypt`: needs `domains`"
        );
        let e = ServiceSettings::from_json(&json!({"domains": "-bad-"}), "s").unwrap_err();
        assert_eq!(e.to_string(), "`s.domains`: `-bad-` is not a valid domain");
    }
}
