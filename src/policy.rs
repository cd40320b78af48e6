//! The security policy: compose settings that would give a pusher power over the host are
//! refused unless the operator allowed their rule (on the server a stored global policy,
//! off-server `--allow <rule>` flags). Checked on the model before planning, and again on
//! the finished plan ([`Policy::check_plan`]): every `docker-options:add` and every other
//! command whose values Dokku turns into docker flags is split the way Dokku splits it and
//! each resulting flag checked, so no mapping can smuggle a flag past the policy. Every
//! violation is listed with its key path.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::docker_opt::{self, Flag};
use crate::model::{Kind, Mount, PolicyRule, Project};
use crate::plan::Plan;

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
    /// The rule that would allow it; `None` when no rule does.
    pub rule: Option<PolicyRule>,
    /// What it does.
    pub detail: String,
}

/// Every violation of a project, in key-path order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The violations.
    pub violations: Vec<Violation>,
    /// How the reader allows a rule: the hint each violation ends with.
    pub fix: AllowFix,
}

/// A rule name (of `--allow` or the `allow` property) that is no policy rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy rule `{rule}`; valid rules: {}", valid_rules())]
pub struct UnknownRule {
    /// The name as given.
    pub rule: String,
}

/// Every rule name, comma-separated.
fn valid_rules() -> String {
    let valid: Vec<&str> = PolicyRule::ALL.iter().map(|r| r.name()).collect();
    valid.join(", ")
}

/// Where the policy was given, so the hint names the fix that works there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowFix {
    /// Off-server: `--allow RULE`.
    #[default]
    Flag,
    /// On the server: `dokku compose:set <stack> allow <rules>`, keeping the rules the stack
    /// allows already (the property holds the whole list).
    Property {
        /// The stack app.
        stack: String,
        /// The rules allowed now.
        allowed: Vec<String>,
    },
}

impl AllowFix {
    fn hint(&self, rule: &str) -> String {
        match self {
            AllowFix::Flag => format!("`--allow {rule}`"),
            AllowFix::Property { stack, allowed } => {
                let mut rules: Vec<&str> = allowed
                    .iter()
                    .map(String::as_str)
                    .filter(|r| *r != rule)
                    .collect();
                rules.push(rule);
                format!("`dokku compose:set {stack} allow {}`", rules.join(","))
            }
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the security policy refuses {} setting(s):",
            self.violations.len()
        )?;
        for v in &self.violations {
            match v.rule {
                Some(rule) => write!(
                    f,
                    "\n  `{}`: {} (allow with {})",
                    v.path,
                    v.detail,
                    self.fix.hint(rule.name())
                )?,
                None => write!(
                    f,
                    "\n  `{}`: {} (no policy rule allows this)",
                    v.path, v.detail
                )?,
            }
        }
        Ok(())
    }
}

impl Policy {
    /// A policy allowing the given rule names (each a comma-separated list); the first
    /// unknown name is the error.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownRule> {
        let mut allow = BTreeSet::new();
        for n in names {
            for part in n.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let rule = PolicyRule::parse(part).ok_or_else(|| UnknownRule {
                    rule: part.to_owned(),
                })?;
                allow.insert(rule);
            }
        }
        Ok(Self { allow })
    }

    /// The allowed rule names, comma-separated in rule order: the form the plugin stores
    /// (as a global property) and `from_names` reads back (tests check the round trip).
    #[cfg(test)]
    pub(crate) fn to_names(&self) -> String {
        self.allow
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Checks `project`; `Ok` when nothing needs a rule that is not allowed.
    pub fn check(&self, project: &Project) -> Result<(), PolicyError> {
        let mut violations = Vec::new();
        let apps: Vec<String> = project
            .services
            .values()
            .filter_map(|s| {
                if let Kind::App(a) = &s.kind {
                    Some(a.app.to_string())
                } else {
                    None
                }
            })
            .collect();
        for (name, svc) in &project.services {
            // Custom nginx locations outside the allow-list (issue #13, crate::routing).
            for (i, route) in svc.settings.paths.iter().enumerate() {
                let crate::model::PathTarget::Nginx { body } = &route.target else {
                    continue;
                };
                if self.allow.contains(&PolicyRule::NginxCustom) {
                    continue;
                }
                for detail in crate::routing::nginx_custom_violations(&apps, body) {
                    violations.push(Violation {
                        path: format!("x-dokku.services.{name}.paths[{i}].nginx"),
                        rule: Some(PolicyRule::NginxCustom),
                        detail,
                    });
                }
            }
            let Kind::App(app) = &svc.kind else { continue };
            for opt in &app.docker_options {
                if let Some(rule) = opt.rule.filter(|r| !self.allow.contains(r)) {
                    violations.push(Violation {
                        path: opt.path.clone(),
                        rule: Some(rule),
                        detail: format!("would run the container with `{}`", opt.option),
                    });
                }
            }
            for m in &app.mounts {
                if let Mount::HostPath { source, path, .. } = m {
                    if !source.starts_with('/') {
                        continue; // an external Docker volume, not a host path
                    }
                    let rule = if source.ends_with("docker.sock") {
                        PolicyRule::DockerSocket
                    } else {
                        PolicyRule::HostPath
                    };
                    if !self.allow.contains(&rule) {
                        violations.push(Violation {
                            path: path.clone(),
                            rule: Some(rule),
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
            Err(PolicyError {
                violations,
                fix: AllowFix::Flag,
            })
        }
    }

    /// Checks the planned commands themselves: every `docker-options:add` is split as Dokku
    /// splits it (`docker_opt::dokku_groups`, then `xargs` at deploy) and must be exactly one
    /// docker flag dokku-compose sets, with a value of the flag's grammar, needing no rule
    /// that is not allowed; the values of `resource:limit`/`resource:reserve`,
    /// `network:set … initial-network` and `storage:mount`, which Dokku prints into the
    /// `docker run` arguments unquoted, must be single words of their grammar. Run on every plan that is shown or applied, so
    /// a mapping that forgot to build a typed option cannot pass a flag through.
    pub(crate) fn check_plan(&self, project: &Project, plan: &Plan) -> Result<(), PolicyError> {
        let mut violations = Vec::new();
        for step in &plan.steps {
            let argv = &step.run.args;
            if step.run.program != "dokku" {
                continue;
            }
            let path_of = |option: &str| {
                option_path(project, step.service.as_ref().map(|s| s.as_str()), option)
            };
            match argv.first().map(String::as_str) {
                Some("docker-options:add") => {
                    let (Some(phase), Some(_app)) = (argv.get(2), argv.get(1)) else {
                        continue;
                    };
                    // Dokku joins every argument after the phase with spaces.
                    let option = argv.get(3..).map(|a| a.join(" ")).unwrap_or_default();
                    self.check_option(&path_of(&option), phase, &option, &mut violations);
                }
                Some(cmd @ ("resource:limit" | "resource:reserve")) => {
                    let mut it = argv.iter().skip(1);
                    while let Some(a) = it.next() {
                        let Some(key) = a.strip_prefix("--") else {
                            continue;
                        };
                        let Some(value) = it.next() else { break };
                        // Kubernetes quantities (k3s apps, issue 21): `500m` CPUs, `512Mi`.
                        let k8s = ["Ki", "Mi", "Gi"]
                            .iter()
                            .find_map(|u| value.strip_suffix(u))
                            .unwrap_or(value);
                        let ok = match key {
                            "cpu" => {
                                (value.parse::<f64>().is_ok_and(|c| c > 0.0 && c.is_finite())
                                    && value.chars().all(|c| c.is_ascii_digit() || c == '.'))
                                    || value.strip_suffix('m').is_some_and(|d| {
                                        !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
                                    })
                            }
                            _ => {
                                k8s.trim_end_matches(['b', 'k', 'm', 'g'])
                                    .chars()
                                    .all(|c| c.is_ascii_digit())
                                    && value.starts_with(|c: char| c.is_ascii_digit())
                            }
                        };
                        if !ok {
                            let which = if cmd == "resource:limit" {
                                "limits"
                            } else {
                                "reservations"
                            };
                            violations.push(Violation {
                                path: step.service.as_ref().map_or_else(|| step.id.clone(), |s| format!("services.{s}.deploy.resources.{which}")),
                                rule: None,
                                detail: format!("`{cmd} --{key} {value}`: `{value}` is not a number, and Dokku prints it into the `docker run` arguments, where it would become extra docker flags"),
                            });
                        }
                    }
                }
                Some("storage:mount") => {
                    // Dokku prints `-v <host>:<container>[:opts]` unquoted into the arguments
                    // that `xargs` splits: a blank, quote or backslash would split or re-quote it.
                    if let Some(bad) = argv.iter().skip(2).find(|a| {
                        a.chars()
                            .any(|c| c.is_whitespace() || c.is_control() || "'\"\\".contains(c))
                    }) {
                        violations.push(Violation {
                            path: step.service.as_ref().map_or_else(
                                || step.id.clone(),
                                |s| format!("services.{s}.{}", if step.id.contains("secret/") { "secrets" } else { "volumes" }),
                            ),
                            rule: None,
                            detail: format!(
                                "`{}` holds a blank, quote or backslash; Dokku prints mounts into the `docker run` arguments as `-v <host>:<container>`, where it would become extra docker flags",
                                bad.escape_debug()
                            ),
                        });
                    }
                }
                Some("network:set")
                    if argv.get(2).map(String::as_str) == Some("initial-network") =>
                {
                    if let Some(net) = argv
                        .get(3)
                        .filter(|n| Flag::Network.check(Some(n)).is_err() || n.as_str() == "host")
                    {
                        violations.push(Violation {
                            path: step.service.as_ref().map_or_else(|| step.id.clone(), |s| format!("services.{s}.networks")),
                            rule: None,
                            detail: format!("`{net}` is not a network name, and Dokku prints it into the `docker run` arguments as `--network={net}`"),
                        });
                    }
                }
                _ => {}
            }
        }
        violations.sort();
        violations.dedup();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(PolicyError {
                violations,
                fix: AllowFix::Flag,
            })
        }
    }

    /// Checks one `docker-options:add <app> <phase> <option>`.
    fn check_option(&self, path: &str, phase: &str, option: &str, violations: &mut Vec<Violation>) {
        let mut refuse = |detail: String| {
            violations.push(Violation {
                path: path.to_owned(),
                rule: None,
                detail,
            })
        };
        let groups = match docker_opt::dokku_groups(option) {
            Ok(g) => g,
            Err(e) => {
                return refuse(format!(
                    "docker option {e}; Dokku would not pass it to docker as written"
                ))
            }
        };
        if groups.len() != 1 {
            let flags: Vec<&str> = groups
                .iter()
                .filter_map(|g| g.first().map(String::as_str))
                .collect();
            return refuse(format!(
                "docker option `{option}` becomes {} docker options in Dokku (`{}`), not one",
                groups.len(),
                flags.join("`, `")
            ));
        }
        let typed = match docker_opt::parse_group(&groups[0]) {
            Ok(t) => t,
            Err(e) => return refuse(format!("docker option `{option}`: {e}")),
        };
        if typed.flag.phase() != phase {
            return refuse(format!(
                "docker option `{option}` belongs to the {} phase, not {phase}",
                typed.flag.phase()
            ));
        }
        if let Some(rule) = typed.rule().filter(|r| !self.allow.contains(r)) {
            violations.push(Violation {
                path: path.to_owned(),
                rule: Some(rule),
                detail: format!("would run the container with `{option}`"),
            });
        }
    }
}

/// The compose key path an emitted docker option came from, when the project says.
fn option_path(project: &Project, service: Option<&str>, option: &str) -> String {
    let svc = service.and_then(|s| project.services.values().find(|v| v.name.as_str() == s));
    let Some(svc) = svc else {
        return format!("docker option `{option}`");
    };
    let base = format!("services.{}", svc.name);
    if let Kind::App(app) = &svc.kind {
        if let Some(o) = app.docker_options.iter().find(|o| o.option == option) {
            return o.path.clone();
        }
        if option.starts_with("--network-alias ") {
            return format!("{base}.networks");
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_the_fix_that_works_where_the_policy_was_given() {
        let v = |path: &str, rule| Violation {
            path: path.into(),
            rule: Some(rule),
            detail: "does it".into(),
        };
        let mut e = PolicyError {
            violations: vec![v("services.web.privileged", PolicyRule::Privileged)],
            fix: AllowFix::Flag,
        };
        assert_eq!(e.to_string(), "the security policy refuses 1 setting(s):\n  `services.web.privileged`: does it (allow with `--allow privileged`)");
        // On the server the property holds the whole list: the rules allowed now are kept.
        e.fix = AllowFix::Property {
            stack: "shop".into(),
            allowed: vec!["devices".into(), "privileged".into()],
        };
        e.violations.push(Violation {
            path: "services.web.pid".into(),
            rule: None,
            detail: "no".into(),
        });
        assert_eq!(
            e.to_string(),
            "the security policy refuses 2 setting(s):\n  `services.web.privileged`: does it (allow with `dokku compose:set shop allow devices,privileged`)\n  `services.web.pid`: no (no policy rule allows this)"
        );
    }

    #[test]
    fn names_round_trip() {
        let p = Policy::from_names(["sysctls, privileged", "host-path"]).unwrap();
        assert_eq!(p.to_names(), "privileged,host-path,sysctls");
        assert_eq!(Policy::from_names([p.to_names().as_str()]).unwrap(), p);
        assert_eq!(Policy::from_names([""]).unwrap(), Policy::default());
        let err = Policy::from_names(["privileged, root"]).unwrap_err();
        assert_eq!(
            err,
            UnknownRule {
                rule: "root".into()
            }
        );
        assert!(err
            .to_string()
            .starts_with("unknown policy rule `root`; valid rules: privileged, cap-add,"));
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::dokku::Cmd;
    use crate::model::{from_compose_json, ConvertOptions, StackName};
    use crate::plan::{Action, PlanSettings, Step, Undo};
    use crate::state::DokkuState;

    fn planned(extra: &[&[&str]]) -> (Project, Plan) {
        let json = serde_json::json!({"name": "shop", "services": {"web": {"image": "nginx:1"}}});
        let (project, warnings) = from_compose_json(
            &json,
            &ConvertOptions {
                stack: StackName::sanitise("shop"),
                project_dir: "/src".into(),
            },
        )
        .unwrap();
        let graph = crate::graph::build(&project).unwrap();
        let mut plan = crate::plan::plan(
            &project,
            &graph,
            &DokkuState::default(),
            &PlanSettings::default(),
            warnings,
        )
        .unwrap();
        for (i, argv) in extra.iter().enumerate() {
            plan.steps.push(Step {
                id: format!("web/extra-{i}"),
                service: project.services.keys().next().cloned(),
                level: 0,
                action: Action::AddDockerOption {
                    app: "shop-web".into(),
                    phase: "deploy".into(),
                    option: String::new(),
                },
                run: Cmd::dokku(argv.iter().copied()),
                reason: String::new(),
                undo: Undo::Irreversible {
                    reason: String::new(),
                },
            });
        }
        (project, plan)
    }

    fn refused(extra: &[&str], policy: &Policy) -> Vec<Violation> {
        let (project, plan) = planned(&[extra]);
        policy
            .check_plan(&project, &plan)
            .map(|()| Vec::new())
            .unwrap_or_else(|e| e.violations)
    }

    #[test]
    fn plans_the_model_made_pass() {
        let (project, plan) = planned(&[]);
        assert_eq!(Policy::default().check_plan(&project, &plan), Ok(()));
    }

    #[test]
    fn a_planned_option_dokku_splits_into_two_flags_is_refused() {
        let v = refused(
            &[
                "docker-options:add",
                "shop-web",
                "deploy",
                "--stop-signal SIGTERM --privileged",
            ],
            &Policy::default(),
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].detail.contains("becomes 2 docker options"),
            "{}",
            v[0].detail
        );
        // Dokku joins the arguments after the phase with spaces: the same as one argument.
        let v = refused(
            &[
                "docker-options:add",
                "shop-web",
                "deploy",
                "--stop-signal",
                "SIGTERM",
                "--privileged",
            ],
            &Policy::all(),
        );
        assert_eq!(v.len(), 1, "{v:?}");
    }

    #[test]
    fn flags_outside_the_grammar_are_refused_whatever_the_policy() {
        for option in [
            "-v /:/host",
            "--volume=/:/host",
            "--mount type=bind,src=/,dst=/h",
            "--env-file /etc/shadow",
            "--dns $(id)",
            "--dns \"1.1.1.1\"",
            "--sysctl kernel.core_pattern=x",
        ] {
            let v = refused(
                &["docker-options:add", "shop-web", "deploy", option],
                &Policy::all(),
            );
            assert_eq!(v.len(), 1, "{option}: {v:?}");
            assert_eq!(v[0].rule, None, "{option}");
        }
    }

    #[test]
    fn guarded_flags_need_their_rule_in_any_spelling() {
        for (option, rule) in [
            ("--privileged", PolicyRule::Privileged),
            ("--cap-add cap_sys_admin", PolicyRule::CapAdd),
            ("--cap-add=all", PolicyRule::CapAdd),
            ("--pid=host", PolicyRule::HostNamespaces),
            ("--network host", PolicyRule::HostNamespaces),
            ("--security-opt seccomp=unconfined", PolicyRule::SecurityOpt),
            ("--device /dev/mem", PolicyRule::Devices),
        ] {
            let v = refused(
                &["docker-options:add", "shop-web", "deploy", option],
                &Policy::default(),
            );
            assert_eq!(
                v.iter().map(|v| v.rule).collect::<Vec<_>>(),
                [Some(rule)],
                "{option}"
            );
            assert_eq!(
                refused(
                    &["docker-options:add", "shop-web", "deploy", option],
                    &Policy::all()
                ),
                [],
                "{option}"
            );
        }
    }

    #[test]
    fn resource_and_network_values_dokku_prints_into_docker_args_are_checked() {
        let smuggled: [&[&str]; 4] = [
            &["resource:limit", "--cpu", "1 --privileged", "shop-web"],
            &[
                "network:set",
                "shop-web",
                "initial-network",
                "net --privileged",
            ],
            &[
                "storage:mount",
                "shop-web",
                "shop-data",
                "--container-dir",
                "/data -v /:/host",
            ],
            &["storage:mount", "shop-web", "/srv/x:/run/secrets/a 'b"],
        ];
        for argv in smuggled {
            let v = refused(argv, &Policy::all());
            assert_eq!(v.len(), 1, "{argv:?}: {v:?}");
        }
        let plain: [&[&str]; 2] = [
            &[
                "resource:limit",
                "--cpu",
                "0.5",
                "--memory",
                "512m",
                "shop-web",
            ],
            &[
                "storage:mount",
                "shop-web",
                "shop-data",
                "--container-dir",
                "/data",
                "--volume-readonly",
            ],
        ];
        for argv in plain {
            assert!(refused(argv, &Policy::default()).is_empty(), "{argv:?}");
        }
    }

    #[test]
    fn build_phase_flags_stay_in_the_build_phase() {
        assert!(refused(
            &[
                "docker-options:add",
                "shop-web",
                "build",
                "--build-arg 'A=b c'"
            ],
            &Policy::default()
        )
        .is_empty());
        assert_eq!(
            refused(
                &[
                    "docker-options:add",
                    "shop-web",
                    "deploy",
                    "--build-arg A=b"
                ],
                &Policy::default()
            )
            .len(),
            1
        );
    }

    impl Policy {
        fn all() -> Self {
            Self {
                allow: PolicyRule::ALL.into_iter().collect(),
            }
        }
    }
}
