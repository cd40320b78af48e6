//! The security policy: compose settings that would give a pusher power over the host are
//! refused unless the operator allowed their rule (on the server a stored global policy,
//! off-server `--allow <rule>` flags). Checked before planning; every violation is listed
//! with its key path.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::{Kind, Mount, PolicyRule, Project};

/// The operator's policy: the rules that are allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allowed rules; empty is the secure default.
    pub allow: BTreeSet<PolicyRule>,
}

/// One setting the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Key path.
    pub path: String,
    /// The rule that would allow it.
    pub rule: PolicyRule,
    /// What it does.
    pub detail: String,
}

/// Every violation of a project, in key-path order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The violations.
    pub violations: Vec<Violation>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the security policy refuses {} setting(s):", self.violations.len())?;
        for v in &self.violations {
            write!(f, "\n  `{}`: {} (allow with `--allow {}`)", v.path, v.detail, v.rule.name())?;
        }
        Ok(())
    }
}

impl Policy {
    /// A policy allowing the given rule names; unknown names are returned as the error.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut allow = BTreeSet::new();
        for n in names {
            for part in n.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let rule = PolicyRule::parse(part).ok_or_else(|| {
                    let valid: Vec<&str> = PolicyRule::ALL.iter().map(|r| r.name()).collect();
                    format!("unknown policy rule `{part}`; valid rules: {}", valid.join(", "))
                })?;
                allow.insert(rule);
            }
        }
        Ok(Self { allow })
    }

    /// The allowed rule names, comma-separated in rule order: the form the plugin stores
    /// (as a global property) and `from_names` reads back.
    pub fn to_names(&self) -> String {
        self.allow.iter().map(|r| r.name()).collect::<Vec<_>>().join(",")
    }

    /// Checks `project`; `Ok` when nothing needs a rule that is not allowed.
    pub fn check(&self, project: &Project) -> Result<(), PolicyError> {
        let mut violations = Vec::new();
        let apps: Vec<String> = project.services.values().filter_map(|s| if let Kind::App(a) = &s.kind { Some(a.app.to_string()) } else { None }).collect();
        for (name, svc) in &project.services {
            // Custom nginx locations outside the allow-list (issue #13, crate::routing).
            for (i, route) in svc.settings.paths.iter().enumerate() {
                let crate::model::PathTarget::Nginx { body } = &route.target else { continue };
                if self.allow.contains(&PolicyRule::NginxCustom) {
                    continue;
                }
                for detail in crate::routing::nginx_custom_violations(&apps, body) {
                    violations.push(Violation { path: format!("x-dokku.services.{name}.paths[{i}].nginx"), rule: PolicyRule::NginxCustom, detail });
                }
            }
            let Kind::App(app) = &svc.kind else { continue };
            for opt in &app.docker_options {
                if let Some(rule) = opt.rule.filter(|r| !self.allow.contains(r)) {
                    violations.push(Violation { path: opt.path.clone(), rule, detail: format!("would run the container with `{}`", opt.option) });
                }
            }
            for m in &app.mounts {
                if let Mount::HostPath { source, path, .. } = m {
                    if !source.starts_with('/') {
                        continue; // an external Docker volume, not a host path
                    }
                    let rule = if source.ends_with("docker.sock") { PolicyRule::DockerSocket } else { PolicyRule::HostPath };
                    if !self.allow.contains(&rule) {
                        violations.push(Violation {
                            path: path.clone(),
                            rule,
                            detail: format!("would mount host path `{source}` into the container"),
                        });
                    }
                }
            }
        }
        violations.sort();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(PolicyError { violations })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let p = Policy::from_names(["sysctls, privileged", "host-path"]).unwrap();
        assert_eq!(p.to_names(), "privileged,host-path,sysctls");
        assert_eq!(Policy::from_names([p.to_names().as_str()]).unwrap(), p);
        assert_eq!(Policy::from_names([""]).unwrap(), Policy::default());
        assert!(Policy::from_names(["root"]).unwrap_err().starts_with("unknown policy rule `root`"));
    }
}
