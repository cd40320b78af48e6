//! Rewriting of dependents' environment that points at a datastore by its compose host name
//! (docs/mapping.md "Datastore references"). The rules are explicit and each rewrite is
//! recorded in [`super::Project::rewrites`] by key path and rule name.

use std::collections::BTreeMap;

use super::error::Warning;
use super::names::ServiceName;
use super::service::{DatastoreSpec, Kind, Link, Service};
use super::xdokku::StackSettings;
use crate::dokku::catalog::{self, UrlUser};

/// The host name other containers reach a datastore by (`dokku-<plugin>-<service>`).
pub fn datastore_host(ds: &DatastoreSpec) -> String {
    format!("dokku-{}-{}", ds.plugin, ds.name.as_str().replace(['.', '_'], "-"))
}

/// The user in the plugin's link URL.
pub fn datastore_user(ds: &DatastoreSpec) -> Option<String> {
    match catalog::by_plugin(ds.plugin)?.user {
        UrlUser::None => None,
        UrlUser::Fixed(u) => Some(u.to_owned()),
        UrlUser::ServiceName => Some(ds.name.as_str().to_owned()),
    }
}

enum Outcome {
    Unchanged,
    Rewritten(String, &'static str),
    /// A URL that needs the generated password: provided by the link itself.
    NeedsLinkVar,
}

fn rewrite_value(key: &str, value: &str, ds: &DatastoreSpec) -> Outcome {
    let def = catalog::by_plugin(ds.plugin).expect("datastores come from the catalog");
    let host = datastore_host(ds);
    if value.is_empty() {
        return Outcome::Unchanged;
    }
    let upper = key.to_ascii_uppercase();
    // Rule "host": the bare host name, optionally with a port.
    for h in &ds.hosts {
        if value == h {
            return Outcome::Rewritten(host, "host");
        }
        if let Some(port) = value.strip_prefix(h.as_str()).and_then(|r| r.strip_prefix(':')) {
            if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
                return Outcome::Rewritten(format!("{host}:{}", def.port), "host");
            }
        }
    }
    // Rule "url": scheme://[user[:password]@]host[:port][/path][?query].
    if let Some(i) = value.find("://") {
        let (scheme, rest) = (&value[..i], &value[i + 3..]);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let h = hostport.split(':').next().unwrap_or(hostport);
        if ds.hosts.contains(h) {
            let url_password = userinfo.and_then(|u| u.split_once(':')).map(|(_, p)| p);
            let password = if def.password {
                match (&ds.password, url_password) {
                    (Some(p), _) => Some(p.clone()),
                    (None, _) => return Outcome::NeedsLinkVar,
                }
            } else {
                None
            };
            let user = datastore_user(ds);
            let userinfo = match (user, password) {
                (Some(u), Some(p)) => format!("{u}:{p}@"),
                (Some(u), None) => format!("{u}@"),
                (None, Some(p)) => format!(":{p}@"),
                (None, None) => String::new(),
            };
            let (path, query) = match tail.find('?') {
                Some(q) => (&tail[..q], &tail[q..]),
                None => (tail, ""),
            };
            let path = if def.database && path.len() > 1 { format!("/{}", ds.name.database_name()) } else { path.to_owned() };
            return Outcome::Rewritten(format!("{scheme}://{userinfo}{host}:{}{path}{query}", def.port), "url");
        }
        return Outcome::Unchanged;
    }
    // Rules "user" and "database": the credentials the datastore declared. Passwords are kept:
    // the declared password is passed on with `--password`.
    if ["PASS", "SECRET", "KEY", "TOKEN"].iter().any(|w| upper.contains(w)) {
        return Outcome::Unchanged;
    }
    if ds.declared_user.as_deref() == Some(value) && upper.contains("USER") {
        if let Some(u) = datastore_user(ds) {
            return Outcome::Rewritten(u, "user");
        }
    }
    if ds.declared_database.as_deref() == Some(value) && (upper.contains("DB") || upper.contains("DATABASE") || upper.contains("NAME")) && def.database {
        return Outcome::Rewritten(ds.name.database_name(), "database");
    }
    Outcome::Unchanged
}

/// Rewrites every app's environment against every datastore, records links (from
/// `depends_on`, `links` and references), and reports what could not be rewritten.
pub(super) fn rewrite_datastore_refs(
    services: &mut BTreeMap<ServiceName, Service>,
    _settings: &StackSettings,
    rewrites: &mut BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
) {
    let datastores: BTreeMap<ServiceName, DatastoreSpec> =
        services.iter().filter_map(|(n, s)| s.datastore().map(|d| (n.clone(), d.clone()))).collect();
    if datastores.is_empty() {
        return;
    }
    for (name, svc) in services.iter_mut() {
        let mut linked: BTreeMap<ServiceName, Link> = BTreeMap::new();
        for dep in svc.depends_on.keys().chain(svc.other_edges.keys()) {
            if let Some(ds) = datastores.get(dep) {
                linked.insert(dep.clone(), Link { plugin: ds.plugin, datastore: ds.name.clone(), alias: None });
            }
        }
        let Kind::App(app) = &mut svc.kind else { continue };
        let mut drop_keys = Vec::new();
        for (key, var) in &mut app.env {
            for (ds_name, ds) in &datastores {
                let path = format!("services.{name}.environment.{key}");
                match rewrite_value(key, &var.value, ds) {
                    Outcome::Unchanged => continue,
                    Outcome::Rewritten(v, rule) => {
                        var.value = v;
                        rewrites.insert(path, format!("{rule} of datastore `{ds_name}`"));
                    }
                    Outcome::NeedsLinkVar => {
                        let def = catalog::by_plugin(ds.plugin).expect("catalog");
                        let link = linked.entry(ds_name.clone()).or_insert_with(|| Link { plugin: ds.plugin, datastore: ds.name.clone(), alias: None });
                        if key == def.link_var {
                            drop_keys.push(key.clone());
                            rewrites.insert(path, format!("set by the link to datastore `{ds_name}`"));
                        } else if let (Some(alias), None) = (key.strip_suffix("_URL"), &link.alias) {
                            link.alias = Some(alias.to_owned());
                            drop_keys.push(key.clone());
                            rewrites.insert(path, format!("set by the link to datastore `{ds_name}` with `--alias {alias}`"));
                        } else {
                            warnings.push(Warning {
                                path,
                                message: format!(
                                    "points at datastore `{ds_name}`, whose password the plugin generates; read `{}` set by the link instead",
                                    def.link_var
                                ),
                            });
                        }
                    }
                }
                linked.entry(ds_name.clone()).or_insert_with(|| Link { plugin: ds.plugin, datastore: ds.name.clone(), alias: None });
                break;
            }
        }
        for k in drop_keys {
            app.env.remove(&k);
        }
        app.links = linked;
    }
}
