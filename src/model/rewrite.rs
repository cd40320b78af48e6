//! Rewriting of dependents' environment that points at a datastore by its compose host name
//! (docs/mapping.md "Datastore references"). The rules are explicit and each rewrite is
//! recorded in [`super::Project::rewrites`] by key path and rule name.

use std::collections::BTreeMap;

use super::error::{ModelError, Warning};
use super::names::ServiceName;
use super::service::{DatastoreSpec, EnvVar, Kind, Link, Service};
use crate::dokku::catalog::{self, UrlUser};

/// The host name other containers reach a datastore by (`dokku-<plugin>-<service>`).
pub(crate) fn datastore_host(ds: &DatastoreSpec) -> String {
    format!(
        "dokku-{}-{}",
        ds.plugin,
        ds.name.as_str().replace(['.', '_'], "-")
    )
}

/// The user in the plugin's link URL.
pub(crate) fn datastore_user(ds: &DatastoreSpec) -> Option<String> {
    match catalog::by_plugin(ds.plugin)?.user {
        UrlUser::None => None,
        UrlUser::Fixed(u) => Some(u.to_owned()),
        UrlUser::ServiceName => Some(ds.name.as_str().to_owned()),
    }
}

enum Outcome {
    Rewritten(String, &'static str),
    /// A URL that needs the generated password: provided by the link itself.
    NeedsLinkVar,
    /// A reference that cannot be carried over without losing part of it.
    Refused(String),
}

/// Rule "host": the bare host name, optionally with a port.
fn rewrite_host(value: &str, ds: &DatastoreSpec) -> Option<String> {
    let def = catalog::by_plugin(ds.plugin).expect("datastores come from the catalog");
    let host = datastore_host(ds);
    for h in &ds.hosts {
        if value == h {
            return Some(host);
        }
        if let Some(port) = value
            .strip_prefix(h.as_str())
            .and_then(|r| r.strip_prefix(':'))
        {
            if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
                return Some(format!("{host}:{}", def.port));
            }
        }
    }
    None
}

/// The rules that find a reference by its form alone: "host" and "url". `None` when the
/// value does not point at `ds`.
fn rewrite_reference(value: &str, ds: &DatastoreSpec) -> Option<Outcome> {
    let def = catalog::by_plugin(ds.plugin).expect("datastores come from the catalog");
    if value.is_empty() {
        return None;
    }
    if let Some(h) = rewrite_host(value, ds) {
        return Some(Outcome::Rewritten(h, "host"));
    }
    // Rule "url": scheme://[user[:password]@]host[:port][/path][?query].
    let i = value.find("://")?;
    let (scheme, rest) = (&value[..i], &value[i + 3..]);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let h = hostport.split(':').next().unwrap_or(hostport);
    if !ds.hosts.contains(h) {
        return None;
    }
    let (path, query) = match tail.find('?') {
        Some(q) => (&tail[..q], &tail[q..]),
        None => (tail, ""),
    };
    let password = match (def.password, &ds.password) {
        (false, _) => None,
        (true, Some(p)) => Some(p.clone()),
        (true, None) => {
            // The link's URL is `<scheme>://…@<host>:<port>[/<database>]`: a path that is not
            // the database (a Redis DB index) or a query would be lost.
            if (!def.database && !matches!(path, "" | "/" | "/0")) || !query.is_empty() {
                let kept = if def.database {
                    query.to_owned()
                } else {
                    format!("{path}{query}")
                };
                return Some(Outcome::Refused(format!(
                    "`{kept}` cannot be kept: the {} plugin generates the password of datastore `{}`, so only the link's `{}` (without `{kept}`) can carry it; declare the password on the datastore (`{}`) so the URL can be written with it, or drop `{kept}`",
                    ds.plugin,
                    ds.name,
                    def.link_var,
                    def.password_keys.first().copied().unwrap_or("its password"),
                )));
            }
            return Some(Outcome::NeedsLinkVar);
        }
    };
    let user = datastore_user(ds);
    let userinfo = match (user, password) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (Some(u), None) => format!("{u}@"),
        (None, Some(p)) => format!(":{p}@"),
        (None, None) => String::new(),
    };
    let path = if def.database && path.len() > 1 {
        format!("/{}", ds.name.database_name())
    } else {
        path.to_owned()
    };
    Some(Outcome::Rewritten(
        format!(
            "{scheme}://{userinfo}{host}:{}{path}{query}",
            def.port,
            host = datastore_host(ds)
        ),
        "url",
    ))
}

/// Rules "user" and "database": a value equal to the user or database the datastore declared,
/// under a key that names that role, in a consumer that uses the datastore. Passwords are
/// kept: the declared password is passed on with `--password`.
fn rewrite_credential(
    key: &str,
    value: &str,
    ds: &DatastoreSpec,
) -> Option<(String, &'static str)> {
    let def = catalog::by_plugin(ds.plugin).expect("datastores come from the catalog");
    let upper = key.to_ascii_uppercase();
    if value.is_empty() || super::secret::env_key_is_secret(key) {
        return None;
    }
    if ds.declared_user.as_deref() == Some(value) && upper.contains("USER") {
        return datastore_user(ds).map(|u| (u, "user"));
    }
    let db_key = upper.contains("DATABASE")
        || upper
            .split('_')
            .any(|w| w.starts_with("DB") || w.ends_with("DB"))
        || def.database_keys.contains(&key);
    if def.database && ds.declared_database.as_deref() == Some(value) && db_key {
        return Some((ds.name.database_name(), "database"));
    }
    None
}

/// Whether `key` is one of the variables `ds`'s own image reads for its user or database
/// (`POSTGRES_DB` for postgres): an app that sets it to the same value uses that datastore.
fn own_key(key: &str, ds: &DatastoreSpec) -> bool {
    catalog::by_plugin(ds.plugin)
        .is_some_and(|d| d.user_keys.contains(&key) || d.database_keys.contains(&key))
}

/// Whether `key` names `ds`'s kind or its service (`RABBITMQ_USER`, `PG_USER`, `DB_USER` for
/// a service `db`), to choose among datastores that declared the same user.
fn key_names(key: &str, ds_name: &ServiceName, ds: &DatastoreSpec) -> bool {
    let upper = key.to_ascii_uppercase();
    let words: Vec<&str> = upper.split('_').collect();
    let own = ds_name
        .as_str()
        .to_ascii_uppercase()
        .replace(['-', '.'], "_");
    let kind: &[&str] = match ds.plugin {
        "postgres" => &["POSTGRES", "POSTGRESQL", "PG", "PSQL"],
        "mysql" | "mariadb" => &["MYSQL", "MARIADB"],
        "rabbitmq" => &["RABBITMQ", "RABBIT", "AMQP", "MQ"],
        "mongo" => &["MONGO", "MONGODB"],
        other => {
            return upper.contains(&other.to_ascii_uppercase())
                || upper.starts_with(&format!("{own}_"))
        }
    };
    words.iter().any(|w| kind.contains(w)) || upper.starts_with(&format!("{own}_"))
}

/// `value` for the plan header: credentials in a URL and secret values masked.
fn shown(key: &str, value: &str) -> String {
    if super::secret::env_key_is_secret(key) {
        return crate::dokku::cmd::MASK.to_owned();
    }
    mask_url_password(value)
}

/// A URL with the password in its user part replaced by the mask.
pub(super) fn mask_url_password(value: &str) -> String {
    if !super::secret::value_has_credentials(value) {
        return value.to_owned();
    }
    let i = value.find("://").map_or(0, |i| i + 3);
    let rest = &value[i..];
    let at = rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
        .rfind('@')
        .unwrap_or(0);
    let userinfo = &rest[..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    format!(
        "{}{user}:{}{}",
        &value[..i],
        crate::dokku::cmd::MASK,
        &rest[at..]
    )
}

/// Rewrites every app's environment against every datastore, records links (from
/// `depends_on`, `links` and references), and reports what could not be rewritten. Each
/// rewrite is listed in `rewrites` (key path -> old and new value, rule), values shown unless
/// secret.
pub(super) fn rewrite_datastore_refs(
    services: &mut BTreeMap<ServiceName, Service>,
    rewrites: &mut BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ModelError> {
    let datastores: BTreeMap<ServiceName, DatastoreSpec> = services
        .iter()
        .filter_map(|(n, s)| s.datastore().map(|d| (n.clone(), d.clone())))
        .collect();
    if datastores.is_empty() {
        return Ok(());
    }
    for (name, svc) in services.iter_mut() {
        let linked: BTreeMap<ServiceName, Link> = svc
            .depends_on
            .keys()
            .chain(svc.other_edges.keys())
            .filter_map(|dep| datastores.get(dep).map(|ds| (dep.clone(), link_to(ds))))
            .collect();
        let Kind::App(app) = &mut svc.kind else {
            continue;
        };
        let mut r = AppRewrite {
            name,
            datastores: &datastores,
            linked,
            drop_keys: Vec::new(),
            rewrites,
            warnings,
        };
        r.references(&mut app.env)?;
        r.credentials(&mut app.env);
        r.empty_link_vars(&app.env);
        for k in &r.drop_keys {
            app.env.remove(k);
        }
        app.links = r.linked;
    }
    Ok(())
}

fn link_to(ds: &DatastoreSpec) -> Link {
    Link {
        plugin: ds.plugin,
        datastore: ds.name.clone(),
        alias: None,
    }
}

/// The rewriting of one app's environment.
struct AppRewrite<'a> {
    name: &'a ServiceName,
    datastores: &'a BTreeMap<ServiceName, DatastoreSpec>,
    /// The datastores the app is linked to, with the link's alias.
    linked: BTreeMap<ServiceName, Link>,
    /// Keys the link sets, removed from the environment at the end.
    drop_keys: Vec<String>,
    rewrites: &'a mut BTreeMap<String, String>,
    warnings: &'a mut Vec<Warning>,
}

impl AppRewrite<'_> {
    fn path(&self, key: &str) -> String {
        format!("services.{}.environment.{key}", self.name)
    }

    fn record(&mut self, key: &str, old: &str, new: Option<&str>, why: String) {
        let text = match new {
            Some(n) => format!("`{}` -> `{}` ({why})", shown(key, old), shown(key, n)),
            None => format!("`{}` dropped ({why})", shown(key, old)),
        };
        self.rewrites.insert(self.path(key), text);
    }

    fn link(&mut self, ds_name: &ServiceName) -> &mut Link {
        let ds = &self.datastores[ds_name];
        self.linked
            .entry(ds_name.clone())
            .or_insert_with(|| link_to(ds))
    }

    /// Pass 1: references by form (host names, URLs); they also make the app a consumer.
    fn references(&mut self, env: &mut BTreeMap<String, EnvVar>) -> Result<(), ModelError> {
        let datastores = self.datastores;
        for (key, var) in env.iter_mut() {
            for (ds_name, ds) in datastores {
                let Some(outcome) = rewrite_reference(&var.value, ds) else {
                    continue;
                };
                match outcome {
                    Outcome::Refused(message) => {
                        return Err(ModelError::Extension {
                            path: self.path(key),
                            message,
                        })
                    }
                    Outcome::Rewritten(v, rule) => {
                        let why = format!("{rule} of datastore `{ds_name}`");
                        self.record(key, &var.value, Some(&v), why);
                        var.secret |= super::secret::value_has_credentials(&v);
                        var.value = v;
                    }
                    Outcome::NeedsLinkVar => self.link_var(key, &var.value, ds_name, ds),
                }
                self.link(ds_name);
                break;
            }
        }
        Ok(())
    }

    /// A URL with the generated password: the link's own variable (or one with an alias)
    /// replaces it.
    fn link_var(&mut self, key: &str, value: &str, ds_name: &ServiceName, ds: &DatastoreSpec) {
        let def = catalog::by_plugin(ds.plugin).expect("catalog");
        let alias_free = self.link(ds_name).alias.is_none();
        if key == def.link_var {
            self.drop_keys.push(key.to_owned());
            let why = format!("set by the link to datastore `{ds_name}`");
            self.record(key, value, None, why);
        } else if let (Some(alias), true) = (key.strip_suffix("_URL"), alias_free) {
            self.link(ds_name).alias = Some(alias.to_owned());
            self.drop_keys.push(key.to_owned());
            let why = format!("set by the link to datastore `{ds_name}` with `--alias {alias}`");
            self.record(key, value, None, why);
        } else {
            self.warnings.push(Warning {
                path: self.path(key),
                message: format!(
                    "points at datastore `{ds_name}`, whose password the plugin generates; read `{}` set by the link instead",
                    def.link_var
                ),
            });
        }
    }

    /// Pass 2: declared users and databases, only towards datastores the app uses; when
    /// several declared the same value, the one the key names.
    fn credentials(&mut self, env: &mut BTreeMap<String, EnvVar>) {
        let datastores = self.datastores;
        for (key, var) in env.iter_mut() {
            if self.drop_keys.contains(key) {
                continue;
            }
            let candidates: Vec<(&ServiceName, String, &'static str)> = datastores
                .iter()
                .filter(|(d, ds)| self.linked.contains_key(*d) || own_key(key, ds))
                .filter_map(|(d, ds)| {
                    rewrite_credential(key, &var.value, ds).map(|(v, r)| (d, v, r))
                })
                .collect();
            let chosen = match candidates.as_slice() {
                [] => continue,
                [one] => Some(one),
                many => {
                    let named: Vec<_> = many
                        .iter()
                        .filter(|(d, _, _)| key_names(key, d, &datastores[*d]))
                        .collect();
                    match named.as_slice() {
                        [one] => Some(*one),
                        _ => None,
                    }
                }
            };
            match chosen {
                Some((ds_name, v, rule)) => {
                    let why = format!("{rule} of datastore `{ds_name}`");
                    self.record(key, &var.value, Some(v), why);
                    var.value = v.clone();
                    self.link(ds_name);
                }
                None => self.warnings.push(Warning {
                    path: self.path(key),
                    message: format!(
                        "`{}` is declared by datastores {}; the key names none of them, so it is not rewritten",
                        var.value,
                        candidates.iter().map(|(d, _, _)| format!("`{d}`")).collect::<Vec<_>>().join(", ")
                    ),
                }),
            }
        }
    }

    /// An empty value under a key a link sets (`REDIS_URL: ${REDIS_URL:-}`) would overwrite
    /// the link's value: the link wins.
    fn empty_link_vars(&mut self, env: &BTreeMap<String, EnvVar>) {
        let keys: Vec<(ServiceName, String)> = self
            .linked
            .iter()
            .map(|(ds_name, link)| {
                let def = catalog::by_plugin(link.plugin).expect("catalog");
                let key = link
                    .alias
                    .as_ref()
                    .map_or_else(|| def.link_var.to_owned(), |a| format!("{a}_URL"));
                (ds_name.clone(), key)
            })
            .collect();
        for (ds_name, key) in keys {
            if env.get(&key).is_some_and(|v| v.value.is_empty()) && !self.drop_keys.contains(&key) {
                let why = format!("empty; set by the link to datastore `{ds_name}`");
                self.record(&key, "", None, why);
                self.drop_keys.push(key);
            }
        }
    }
}
