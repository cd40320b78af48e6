//! Resource limits of one stack (issue #13): how many replicas a service may run, how many
//! ports it may publish (a range counts each port) and how many services a stack may have.
//! The defaults fit a real host; the operator raises them with `dokku compose:set` properties
//! (`max-replicas`, `max-ports`, `max-services`, per stack or `--global`). Checked before
//! anything changes, with the key path of what is over.

use std::fmt;

use super::{Kind, Project};

/// The limits a stack is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Replicas of one service (`deploy.replicas`, `scale`).
    pub replicas: u32,
    /// Published ports of one service, each port of a range counted.
    pub ports: usize,
    /// Services of one stack.
    pub services: usize,
}

impl Limits {
    /// 20 replicas: more than one host runs usefully for one process type.
    pub(crate) const DEFAULT_REPLICAS: u32 = 20;
    /// 100 ports: each is a proxy listener and an nginx server block.
    pub(crate) const DEFAULT_PORTS: usize = 100;
    /// 100 services: each is a Dokku app or datastore, read and planned on every push.
    pub(crate) const DEFAULT_SERVICES: usize = 100;

    /// Every service and port of `project` within the limits; else every excess, by key path.
    pub fn check(&self, project: &Project) -> Result<(), LimitError> {
        let mut over = Vec::new();
        if project.services.len() > self.services {
            over.push(Excess {
                path: "services".into(),
                what: format!("{} services", project.services.len()),
                limit: self.services.to_string(),
                property: "max-services",
            });
        }
        for svc in project.services.values() {
            let Kind::App(app) = &svc.kind else { continue };
            if let Some(n) = app.replicas.filter(|n| *n > self.replicas) {
                let path = app
                    .replicas_path
                    .clone()
                    .unwrap_or_else(|| format!("services.{}.deploy.replicas", svc.name));
                over.push(Excess {
                    path,
                    what: format!("{n} replicas"),
                    limit: self.replicas.to_string(),
                    property: "max-replicas",
                });
            }
            // Ports the proxy forwards and ports docker publishes itself (`-p`).
            let published = app.ports.len()
                + app
                    .docker_options
                    .iter()
                    .filter(|o| o.path.starts_with(&format!("services.{}.ports", svc.name)))
                    .count();
            if published > self.ports {
                over.push(Excess {
                    path: format!("services.{}.ports", svc.name),
                    what: format!("{published} published ports (a range counts each port)"),
                    limit: self.ports.to_string(),
                    property: "max-ports",
                });
            }
        }
        if over.is_empty() {
            Ok(())
        } else {
            Err(LimitError { over })
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            replicas: Self::DEFAULT_REPLICAS,
            ports: Self::DEFAULT_PORTS,
            services: Self::DEFAULT_SERVICES,
        }
    }
}

/// One value over its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    /// Key path.
    pub path: String,
    /// What the file asks for.
    pub what: String,
    /// The limit.
    pub limit: String,
    /// The property that raises it.
    pub property: &'static str,
}

/// Values over the stack's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LimitError {
    /// Each excess.
    pub over: Vec<Excess>,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the stack's limits refuse {} setting(s):",
            self.over.len()
        )?;
        for e in &self.over {
            write!(f, "\n  `{}`: {} is over the limit of {} (the operator raises it with `dokku compose:set <stack> {} <n>`)", e.path, e.what, e.limit, e.property)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{from_compose_json, ConvertOptions, StackName};

    fn project(json: serde_json::Value) -> Project {
        let opts = ConvertOptions {
            stack: StackName::parse("s").unwrap(),
            project_dir: "/p".into(),
        };
        from_compose_json(&json, &opts).unwrap().0
    }

    #[test]
    fn replicas_ports_and_services_are_limited() {
        let huge = project(
            serde_json::json!({"services": {"web": {"image": "nginx", "deploy": {"replicas": 4_294_967_295_u64}}}}),
        );
        let err = Limits::default().check(&huge).unwrap_err().to_string();
        assert!(
            err.contains(
                "`services.web.deploy.replicas`: 4294967295 replicas is over the limit of 20"
            ) && err.contains("max-replicas"),
            "{err}"
        );
        let beyond = project(
            serde_json::json!({"services": {"web": {"image": "nginx", "scale": 99_999_999_999_u64}}}),
        );
        assert!(Limits::default()
            .check(&beyond)
            .unwrap_err()
            .to_string()
            .contains("`services.web.scale`"));
        let ports: Vec<serde_json::Value> = (1..=150)
            .map(|p| serde_json::json!({"target": p, "published": p.to_string()}))
            .collect();
        let many =
            project(serde_json::json!({"services": {"web": {"image": "nginx", "ports": ports}}}));
        let err = Limits::default().check(&many).unwrap_err().to_string();
        assert!(
            err.contains("`services.web.ports`: 150 published ports") && err.contains("max-ports"),
            "{err}"
        );
        assert!(
            Limits {
                ports: 150,
                ..Limits::default()
            }
            .check(&many)
            .is_ok(),
            "raised by the operator"
        );
        let services: serde_json::Map<String, serde_json::Value> = (0..101)
            .map(|i| (format!("s{i}"), serde_json::json!({"image": "nginx"})))
            .collect();
        let err = Limits::default()
            .check(&project(serde_json::json!({"services": services})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`services`: 101 services is over the limit of 100")
                && err.contains("max-services"),
            "{err}"
        );
        let ok = project(
            serde_json::json!({"services": {"web": {"image": "nginx", "deploy": {"replicas": 20}}}}),
        );
        assert!(Limits::default().check(&ok).is_ok());
    }
}
