//! The `x-dokku` extension: what the mapping needs from the user that compose cannot say.
//! The schema is documented in docs/mapping.md; it is decoded with serde (unknown keys refused
//! with their key path) into the `Raw*` forms, then checked into the settings types.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ModelError;
use super::xdokku_paths::RawPath;
pub(crate) use super::xdokku_paths::{PathRoute, PathTarget};

/// How a service is expected to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

impl Backup {
    /// One line for reports: `postgres:shop-db `0 3 * * *` -> bucket (encrypted)`.
    pub(crate) fn describe(&self, plugin: &str, service: &str) -> String {
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
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
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

/// Service-level `x-dokku` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping")]
struct RawService {
    autoscaling: Option<Value>,
    backup: Option<RawBackup>,
    datastore: Option<bool>,
    #[serde(default, deserialize_with = "string_list")]
    domains: Option<Vec<String>>,
    letsencrypt: Option<bool>,
    logs: Option<RawLogs>,
    #[serde(default, deserialize_with = "paths")]
    paths: Option<Vec<RawPath>>,
    #[serde(default, deserialize_with = "string_list")]
    plain: Option<Vec<String>>,
    #[serde(default, deserialize_with = "port")]
    proxy_port: Option<u16>,
    scheduler: Option<Value>,
    secrets: Option<SecretsMode>,
    state: Option<ExpectedState>,
}

/// `secrets`: how compose secrets reach the service.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SecretsMode {
    Files,
    Env,
}

/// `logs` as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of `max_size`, `vector_sink`"
)]
struct RawLogs {
    max_size: Option<String>,
    vector_sink: Option<String>,
}

/// `backup` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping")]
struct RawBackup {
    #[serde(default, deserialize_with = "secret_ref")]
    access_key_id: Option<String>,
    bucket: Option<String>,
    #[serde(default, deserialize_with = "secret_ref")]
    encryption_passphrase: Option<String>,
    endpoint_url: Option<String>,
    region: Option<String>,
    schedule: Option<String>,
    #[serde(default, deserialize_with = "secret_ref")]
    secret_access_key: Option<String>,
    signature_version: Option<String>,
}

/// Top-level `x-dokku` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping")]
struct RawStack {
    letsencrypt: Option<bool>,
    letsencrypt_email: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    plain: Option<Vec<String>>,
    registry: Option<Value>,
    scheduler: Option<Value>,
    #[serde(default, deserialize_with = "services")]
    services: Option<BTreeMap<String, RawService>>,
    volumes: Option<Value>,
}

fn custom<E: serde::de::Error>(message: &str) -> E {
    E::custom(message)
}

/// A string or a list of strings.
fn string_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(Some(vec![s])),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                _ => Err(custom("must be a list of strings")),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        _ => Err(custom("must be a string or a list of strings")),
    }
}

/// A port number, 1 to 65535.
fn port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let n = Value::deserialize(d)?.as_u64().filter(|n| *n > 0);
    n.and_then(|n| u16::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| custom("must be a port number"))
}

/// `{secret: <name>}`: a compose secret's name (values are never written in x-dokku).
fn secret_ref<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    let name = v.get("secret").and_then(Value::as_str).map(str::to_owned);
    name.map(Some).ok_or_else(|| {
        custom(
            "must name a compose secret: `{secret: <name>}` (values are never written in x-dokku)",
        )
    })
}

/// `paths`: a list of entries.
fn paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<RawPath>>, D::Error> {
    struct Paths;
    impl<'de> serde::de::Visitor<'de> for Paths {
        type Value = Vec<RawPath>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of `{path: /…, service|redirect|static|nginx: …}`")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(p) = seq.next_element()? {
                out.push(p);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Paths).map(Some)
}

/// `services`: service name -> settings.
fn services<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, RawService>>, D::Error> {
    struct Services;
    impl<'de> serde::de::Visitor<'de> for Services {
        type Value = BTreeMap<String, RawService>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a mapping of service name to settings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry()? {
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Services).map(Some)
}

/// Decodes `v` (the value at `prefix`) into `T`; an error names its key path, an unknown key
/// the settings that are valid there.
fn decode<T: DeserializeOwned>(v: &Value, prefix: &str) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        // serde_path_to_error's path ends with an unknown key itself.
        let path = match inner.as_str() {
            "." => prefix.to_owned(),
            p if p.starts_with('[') => format!("{prefix}{p}"),
            p => format!("{prefix}.{p}"),
        };
        let message = e.into_inner().to_string();
        let message = match unknown_field(&message) {
            Some(valid) => format!("unknown setting; valid settings: {valid}"),
            None => message,
        };
        err(&path, message)
    })
}

/// serde's "unknown field `k`, expected one of `a`, `b`" as `a, b`.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (_, rest) = rest.split_once('`')?;
    let expected = rest
        .trim_start_matches(", expected one of ")
        .trim_start_matches(", expected ");
    Some(expected.replace("` or `", ", ").replace('`', ""))
}

fn err(path: &str, message: String) -> ModelError {
    ModelError::Extension {
        path: path.to_owned(),
        message,
    }
}

/// A string at `path` that is not blank.
fn non_empty(v: Option<String>, path: &str) -> Result<Option<String>, ModelError> {
    match v {
        Some(s) if s.trim().is_empty() => Err(err(path, "must be a non-empty string".into())),
        other => Ok(other),
    }
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
    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self, ModelError> {
        decode::<RawService>(v, path)?.check(path)
    }
}

impl RawService {
    fn check(self, path: &str) -> Result<ServiceSettings, ModelError> {
        let p = |k: &str| format!("{path}.{k}");
        let domains = self.domains.unwrap_or_default();
        if let Some(bad) = domains.iter().find(|d| !valid_domain(d)) {
            return Err(err(&p("domains"), format!("`{bad}` is not a valid domain")));
        }
        let (log_max_size, log_vector_sink) = match self.logs {
            Some(l) => l.check(&p("logs"))?,
            None => (None, None),
        };
        let mut routes: Vec<PathRoute> = Vec::new();
        for (i, raw) in self.paths.into_iter().flatten().enumerate() {
            let route = raw.check(&format!("{path}.paths[{i}]"))?;
            if routes.iter().any(|r| r.path == route.path) {
                return Err(err(
                    &format!("{path}.paths[{i}].path"),
                    format!("`{}` is listed twice", route.path),
                ));
            }
            routes.push(route);
        }
        let mut k3s = super::k3s::ServiceK3s::default();
        for (key, v) in [
            ("autoscaling", &self.autoscaling),
            ("scheduler", &self.scheduler),
        ] {
            if let Some(v) = v {
                k3s.read(key, v, &p(key))?;
            }
        }
        let s = ServiceSettings {
            k3s,
            letsencrypt: self.letsencrypt.unwrap_or(false),
            letsencrypt_given: self.letsencrypt.is_some(),
            domains,
            proxy_port: self.proxy_port,
            datastore: self.datastore,
            state: self.state.unwrap_or_default(),
            state_given: self.state.is_some(),
            plain: self.plain.into_iter().flatten().collect(),
            secrets_as_env: matches!(self.secrets, Some(SecretsMode::Env)),
            backup: self.backup.map(|b| b.check(&p("backup"))).transpose()?,
            log_max_size,
            log_vector_sink,
            paths: routes,
        };
        if s.letsencrypt && s.domains.is_empty() {
            return Err(err(&p("letsencrypt"), "needs `domains`".into()));
        }
        Ok(s)
    }
}

impl RawLogs {
    fn check(self, path: &str) -> Result<(Option<String>, Option<String>), ModelError> {
        let word = |v: Option<String>, key: &str| match v {
            Some(t) if t.trim().is_empty() || t.contains(char::is_whitespace) => Err(err(
                &format!("{path}.{key}"),
                "must be a non-empty string without spaces".into(),
            )),
            other => Ok(other),
        };
        let max_size = word(self.max_size, "max_size")?;
        if let Some(t) = &max_size {
            let ok = t == "unlimited" || t.trim_end_matches(['k', 'm', 'g']).parse::<u64>().is_ok();
            if !ok {
                return Err(err(
                    &format!("{path}.max_size"),
                    format!("`{t}` is not a size like `10m` or `unlimited`"),
                ));
            }
        }
        Ok((max_size, word(self.vector_sink, "vector_sink")?))
    }
}

impl RawBackup {
    fn check(self, path: &str) -> Result<Backup, ModelError> {
        let p = |k: &str| format!("{path}.{k}");
        let schedule = non_empty(self.schedule, &p("schedule"))?;
        if let Some(s) = &schedule {
            if s.split_whitespace().count() != 5 {
                return Err(err(
                    &p("schedule"),
                    format!("`{s}` is not a cron schedule of five fields"),
                ));
            }
        }
        let required = |v: Option<String>, key: &str| {
            v.filter(|s| !s.is_empty())
                .ok_or_else(|| err(&p(key), "is required".into()))
        };
        Ok(Backup {
            schedule: required(schedule, "schedule")?,
            bucket: required(non_empty(self.bucket, &p("bucket"))?, "bucket")?,
            access_key_id: required(self.access_key_id, "access_key_id")?,
            secret_access_key: required(self.secret_access_key, "secret_access_key")?,
            region: non_empty(self.region, &p("region"))?,
            signature_version: non_empty(self.signature_version, &p("signature_version"))?,
            endpoint_url: non_empty(self.endpoint_url, &p("endpoint_url"))?,
            encryption_passphrase: self.encryption_passphrase,
        })
    }
}

impl StackSettings {
    /// Reads the top-level `x-dokku`.
    pub(crate) fn from_json(v: &Value) -> Result<Self, ModelError> {
        let path = "x-dokku";
        let raw: RawStack = decode(v, path)?;
        let letsencrypt_email = match raw.letsencrypt_email {
            Some(e) if !e.contains('@') => {
                return Err(err(
                    &format!("{path}.letsencrypt_email"),
                    "must be an e-mail address".into(),
                ))
            }
            e => e,
        };
        let mut services = BTreeMap::new();
        for (name, settings) in raw.services.into_iter().flatten() {
            let settings = settings.check(&format!("{path}.services.{name}"))?;
            services.insert(name, settings);
        }
        let mut k3s = super::k3s::StackK3s::default();
        for (key, v) in [
            ("registry", &raw.registry),
            ("scheduler", &raw.scheduler),
            ("volumes", &raw.volumes),
        ] {
            if let Some(v) = v {
                k3s.read(key, v, &format!("{path}.{key}"))?;
            }
        }
        Ok(Self {
            k3s,
            letsencrypt_email,
            letsencrypt: raw.letsencrypt.unwrap_or(false),
            plain: raw.plain.into_iter().flatten().collect::<BTreeSet<_>>(),
            services,
        })
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

    #[test]
    fn serde_errors_name_the_key_path() {
        let e = ServiceSettings::from_json(
            &json!({"paths": [{"path": "/a", "service": "api", "extra": 1}]}),
            "s",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`s.paths[0].extra`: unknown setting; valid settings: nginx, path, redirect, service, spa, static"
        );
        let e =
            StackSettings::from_json(&json!({"services": {"web": {"domainz": "x"}}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`x-dokku.services.web.domainz`: unknown setting; valid settings: autoscaling, backup, datastore, domains, letsencrypt, logs, paths, plain, proxy_port, scheduler, secrets, state"
        );
        let e = ServiceSettings::from_json(&json!({"letsencrypt": "yes"}), "s").unwrap_err();
        assert!(
            e.to_string().starts_with("`s.letsencrypt`: invalid type"),
            "{e}"
        );
        let e = ServiceSettings::from_json(&json!({"proxy_port": 70000}), "s").unwrap_err();
        assert_eq!(e.to_string(), "`s.proxy_port`: must be a port number");
        let e = ServiceSettings::from_json(
            &json!({"backup": {"schedule": "0 3 * * *", "bucket": "b", "access_key_id": "AKIA", "secret_access_key": {"secret": "k"}}}),
            "s",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`s.backup.access_key_id`: must name a compose secret"),
            "{e}"
        );
        let e = ServiceSettings::from_json(&json!({"logs": {"max_size": "10m", "x": 1}}), "s")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`s.logs.x`: unknown setting; valid settings: max_size, vector_sink"
        );
        let e = StackSettings::from_json(&json!({"services": []})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`x-dokku.services`: invalid type"),
            "{e}"
        );
    }
}
