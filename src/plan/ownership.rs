//! Ownership (issue #13, docs/security.md "Ownership"): a stack changes only what it owns.
//!
//! What a stack owns is the plugin's own record, `<data>/<stack>/ownership.json`: the apps,
//! datastores, networks, storage entries and domains it created (or that the operator adopted
//! with `dokku compose:import-apps`). The records of every stack together are the host-wide
//! index: they live in the plugin's data directory, which only the dokku user writes, so a
//! pusher cannot forge them (a mark inside Dokku, such as a config var, could be set by anyone
//! who may run `config:set` on that app, and datastores, networks and domains have no place
//! for one).
//!
//! [`check`] is pure: the project, its plan, the host's state and the records in; every
//! refusal out, before the first change. Refused:
//! - an existing app or datastore the stack would configure, link or deploy that is not its own
//!   (another stack's, or made by hand), naming `compose:import-apps` as the way to adopt it;
//! - an existing network or storage entry the stack would create that is not its own;
//! - an external network or volume that belongs to another stack;
//! - a domain served by an app that is not the stack's own, or recorded by another stack.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::step::{Action, Plan};
use crate::model::{AppSpec, DatastoreSpec, Kind, Mount, Project};
use crate::state::DokkuState;

/// What one stack owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    /// Apps.
    #[serde(default)]
    pub apps: BTreeSet<String>,
    /// Datastore services as `<plugin>:<service>`.
    #[serde(default)]
    pub datastores: BTreeSet<String>,
    /// Docker networks.
    #[serde(default)]
    pub networks: BTreeSet<String>,
    /// Storage entries.
    #[serde(default)]
    pub storage: BTreeSet<String>,
    /// Domains.
    #[serde(default)]
    pub domains: BTreeSet<String>,
}

impl Owned {
    /// Everything `project` makes its stack own once applied: its apps, datastores, and the
    /// networks and storage entries it creates (externals excluded). Domains are added by the
    /// caller from what the apps serve after the apply.
    pub(crate) fn of(project: &Project) -> Self {
        let mut o = Owned::default();
        for svc in project.services.values() {
            match &svc.kind {
                Kind::App(a) => {
                    o.apps.insert(a.app.to_string());
                }
                Kind::Datastore(d) => {
                    o.datastores.insert(format!("{}:{}", d.plugin, d.name));
                }
            }
        }
        o.networks
            .extend(project.networks.values().map(ToString::to_string));
        o.storage
            .extend(project.storage.keys().map(ToString::to_string));
        o
    }

    /// Adds everything of `other`.
    pub(crate) fn extend(&mut self, other: &Owned) {
        self.apps.extend(other.apps.iter().cloned());
        self.datastores.extend(other.datastores.iter().cloned());
        self.networks.extend(other.networks.iter().cloned());
        self.storage.extend(other.storage.iter().cloned());
        self.domains.extend(other.domains.iter().cloned());
    }
}

/// The ownership records of the host: this stack's and every other stack's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// The stack being applied.
    pub mine: Owned,
    /// Other stacks, by name.
    pub others: BTreeMap<String, Owned>,
}

impl Ownership {
    fn other_owner(&self, what: impl Fn(&Owned) -> bool) -> Option<&str> {
        self.others
            .iter()
            .find(|(_, o)| what(o))
            .map(|(s, _)| s.as_str())
    }
}

/// One thing the stack may not touch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Foreign {
    /// Key path in the compose file.
    pub path: String,
    /// What it is and why it is refused.
    pub detail: String,
}

/// Everything the push would change that the stack does not own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OwnershipError {
    /// The stack.
    pub stack: String,
    /// Each refusal, by key path.
    pub foreign: Vec<Foreign>,
}

impl fmt::Display for OwnershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stack `{}` does not own {} thing(s) this push would change:",
            self.stack,
            self.foreign.len()
        )?;
        for x in &self.foreign {
            write!(f, "\n  `{}`: {}", x.path, x.detail)?;
        }
        Ok(())
    }
}

fn owner_text(owner: Option<&str>) -> String {
    match owner {
        Some(s) => format!("it belongs to stack `{s}`"),
        None => "no stack created it".to_owned(),
    }
}

/// Checks `project` and its `plan` against the host `state` and the ownership records (see
/// the module documentation). `state.vhosts` must have been read when the plan sets domains.
pub(crate) fn check(
    project: &Project,
    plan: &Plan,
    state: &DokkuState,
    own: &Ownership,
) -> Result<(), OwnershipError> {
    let mut c = Checker {
        stack: project.stack.to_string(),
        state,
        own,
        foreign: Vec::new(),
    };
    let mut used_networks: BTreeMap<String, String> = BTreeMap::new();
    for (name, svc) in &project.services {
        let path = format!("services.{name}");
        match &svc.kind {
            Kind::App(a) => {
                c.app(&path, a);
                for n in &a.networks {
                    used_networks
                        .entry(n.to_string())
                        .or_insert_with(|| format!("{path}.networks"));
                }
            }
            Kind::Datastore(d) => {
                c.datastore(&path, d);
                if let Some(n) = &d.network {
                    used_networks
                        .entry(n.to_string())
                        .or_insert_with(|| format!("{path}.networks"));
                }
            }
        }
    }
    c.networks(project, &used_networks);
    c.storage(project);
    c.domains(plan);
    let Checker {
        stack, mut foreign, ..
    } = c;
    foreign.sort();
    foreign.dedup();
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(OwnershipError { stack, foreign })
    }
}

/// One check's inputs and the refusals found so far.
struct Checker<'a> {
    stack: String,
    state: &'a DokkuState,
    own: &'a Ownership,
    foreign: Vec<Foreign>,
}

impl Checker<'_> {
    /// How the operator adopts `name`.
    fn adopt(&self, name: &str) -> String {
        format!(
            "the operator adopts it with `dokku compose:import-apps {} {name}`",
            self.stack
        )
    }

    /// An existing app that is not the stack's; external volumes of other stacks it mounts.
    fn app(&mut self, path: &str, a: &AppSpec) {
        let (state, own) = (self.state, self.own);
        let app = a.app.as_str();
        if state.apps.contains_key(app) && !own.mine.apps.contains(app) {
            let owner = own.other_owner(|o| o.apps.contains(app));
            self.foreign.push(Foreign {
                path: path.to_owned(),
                detail: format!(
                    "app `{app}` already exists and is not this stack's ({}); {}",
                    owner_text(owner),
                    self.adopt(app)
                ),
            });
        }
        for m in &a.mounts {
            let Mount::HostPath {
                source, path: key, ..
            } = m
            else {
                continue;
            };
            if source.starts_with('/') {
                continue;
            }
            if let Some(owner) = own
                .other_owner(|o| o.storage.contains(source))
                .filter(|_| !own.mine.storage.contains(source))
            {
                self.foreign.push(Foreign {
                    path: key.clone(),
                    detail: format!("external volume `{source}` belongs to stack `{owner}`"),
                });
            }
        }
    }

    /// An existing datastore that is not the stack's.
    fn datastore(&mut self, path: &str, d: &DatastoreSpec) {
        let id = format!("{}:{}", d.plugin, d.name);
        let exists = self
            .state
            .datastores
            .get(d.plugin)
            .is_some_and(|m| m.contains_key(d.name.as_str()));
        if exists && !self.own.mine.datastores.contains(&id) {
            let owner = self.own.other_owner(|o| o.datastores.contains(&id));
            self.foreign.push(Foreign {
                path: path.to_owned(),
                detail: format!(
                    "{} service `{}` already exists and is not this stack's ({}); {}",
                    d.plugin,
                    d.name,
                    owner_text(owner),
                    self.adopt(&id)
                ),
            });
        }
    }

    /// Networks the stack creates that exist and are not its own; external networks of other
    /// stacks. `used` maps each network a service uses to the first key path using it.
    fn networks(&mut self, project: &Project, used: &BTreeMap<String, String>) {
        let own = self.own;
        let created: BTreeMap<String, &String> = project
            .networks
            .iter()
            .map(|(k, n)| (n.to_string(), k))
            .collect();
        for (net, path) in used {
            if own.mine.networks.contains(net) {
                continue;
            }
            let owner = own.other_owner(|o| o.networks.contains(net));
            match created.get(net) {
                Some(key) if self.state.networks.contains(net) => {
                    self.foreign.push(Foreign {
                        path: format!("networks.{key}"),
                        detail: format!(
                            "network `{net}` already exists and is not this stack's ({})",
                            owner_text(owner)
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    if let Some(owner) = owner {
                        self.foreign.push(Foreign {
                            path: path.clone(),
                            detail: format!("external network `{net}` belongs to stack `{owner}`"),
                        });
                    }
                }
            }
        }
    }

    /// Storage entries the stack creates that exist and are not its own, named by the key
    /// path of their first mount.
    fn storage(&mut self, project: &Project) {
        let own = self.own;
        let mut mounted: BTreeMap<&str, String> = BTreeMap::new();
        for (svc, s) in &project.services {
            let Kind::App(a) = &s.kind else { continue };
            for m in &a.mounts {
                if let Mount::Entry { name, .. } = m {
                    mounted
                        .entry(name.as_str())
                        .or_insert_with(|| format!("services.{svc}.volumes"));
                }
            }
        }
        for name in project.storage.keys() {
            let name = name.as_str();
            if self.state.storage.contains(name) && !own.mine.storage.contains(name) {
                let owner = own.other_owner(|o| o.storage.contains(name));
                let path = mounted
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "volumes".into());
                self.foreign.push(Foreign {
                    path,
                    detail: format!(
                        "storage entry `{name}` already exists and is not this stack's ({})",
                        owner_text(owner)
                    ),
                });
            }
        }
    }

    /// Domains the plan sets that an app not the stack's serves, or another stack recorded.
    fn domains(&mut self, plan: &Plan) {
        let (state, own) = (self.state, self.own);
        for step in &plan.steps {
            let Action::SetDomains { app, domains } = &step.action else {
                continue;
            };
            let service = step
                .service
                .as_ref()
                .map_or_else(String::new, ToString::to_string);
            for d in domains {
                let served_by = state
                    .vhosts
                    .get(d)
                    .filter(|other| *other != app && !own.mine.apps.contains(*other));
                let recorded = own
                    .other_owner(|o| o.domains.contains(d))
                    .filter(|_| !own.mine.domains.contains(d));
                let why = match (served_by, recorded) {
                    (Some(other), _) => format!(
                        "domain `{d}` is already served by app `{other}`, which is not this stack's"
                    ),
                    (None, Some(owner)) => format!("domain `{d}` belongs to stack `{owner}`"),
                    (None, None) => continue,
                };
                self.foreign.push(Foreign {
                    path: format!("x-dokku.services.{service}.domains"),
                    detail: why,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{from_compose_json, ConvertOptions, StackName};
    use crate::state::AppState;

    fn project(json: serde_json::Value) -> Project {
        let opts = ConvertOptions {
            stack: StackName::parse("shop").unwrap(),
            project_dir: "/p".into(),
        };
        from_compose_json(&json, &opts).unwrap().0
    }

    fn plan_for(p: &Project, state: &DokkuState) -> Plan {
        let graph = crate::graph::build(p).unwrap();
        super::super::plan(
            p,
            &graph,
            state,
            &super::super::PlanSettings::default(),
            Vec::new(),
        )
        .unwrap()
    }

    fn refused(p: &Project, state: &DokkuState, own: &Ownership) -> String {
        check(p, &plan_for(p, state), state, own)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn existing_apps_and_datastores_need_ownership() {
        let p = project(
            serde_json::json!({"services": {"web": {"image": "nginx"}, "db": {"image": "postgres:16"}}}),
        );
        let mut state = DokkuState::default();
        state.apps.insert("shop-web".into(), AppState::default());
        state
            .datastores
            .entry("postgres".into())
            .or_default()
            .insert("shop-db".into(), BTreeSet::new());
        let mut own = Ownership::default();
        own.others.insert(
            "shop-x".into(),
            Owned {
                datastores: ["postgres:shop-db".to_owned()].into(),
                ..Owned::default()
            },
        );
        let err = refused(&p, &state, &own);
        assert!(err.contains("`services.web`: app `shop-web` already exists and is not this stack's (no stack created it); the operator adopts it with `dokku compose:import-apps shop shop-web`"), "{err}");
        assert!(err.contains("`services.db`: postgres service `shop-db` already exists and is not this stack's (it belongs to stack `shop-x`)") && err.contains("compose:import-apps shop postgres:shop-db"), "{err}");
        // Owned: fine; and nothing existing: fine.
        own.mine = Owned::of(&p);
        assert!(check(&p, &plan_for(&p, &state), &state, &own).is_ok());
        assert!(check(
            &p,
            &plan_for(&p, &DokkuState::default()),
            &DokkuState::default(),
            &Ownership::default()
        )
        .is_ok());
    }

    #[test]
    fn networks_volumes_and_domains_of_others_are_refused() {
        let p = project(serde_json::json!({
            "services": {"web": {"image": "nginx", "networks": {"back": null, "theirs": null}, "ports": [{"target": 80, "published": "80"}],
                "volumes": [{"type": "volume", "source": "data", "target": "/d"}, {"type": "volume", "source": "loot", "target": "/l"}],
                "x-dokku": {"domains": ["shop.example.com", "bank.example.com"]}}},
            "networks": {"back": {}, "theirs": {"external": true, "name": "bank-back"}},
            "volumes": {"data": {}, "loot": {"external": true, "name": "bank-data"}}
        }));
        let mut state = DokkuState::default();
        state.networks.insert("shop-back".into());
        state.storage.insert("shop-data".into());
        state
            .vhosts
            .insert("bank.example.com".into(), "bank-web".into());
        let mut own = Ownership::default();
        own.others.insert(
            "bank".into(),
            Owned {
                networks: ["bank-back".to_owned()].into(),
                storage: ["bank-data".to_owned()].into(),
                ..Owned::default()
            },
        );
        let err = refused(&p, &state, &own);
        for want in [
            "`networks.back`: network `shop-back` already exists and is not this stack's",
            "`services.web.networks`: external network `bank-back` belongs to stack `bank`",
            "`services.web.volumes[1]`: external volume `bank-data` belongs to stack `bank`",
            "`services.web.volumes`: storage entry `shop-data` already exists and is not this stack's",
            "`x-dokku.services.web.domains`: domain `bank.example.com` is already served by app `bank-web`, which is not this stack's",
        ] {
            assert!(err.contains(want), "{want}\n{err}");
        }
        assert!(!err.contains("shop.example.com"), "{err}");
    }
}
