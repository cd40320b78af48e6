//! Deploy hooks (issue #8): executables in the pushed repository's `deploy.d/` (or the
//! directory the `hooks-dir` property names) that run at two points of a stack deploy:
//!
//! - `deploy.d/pre/*`: before anything changes; a failure aborts the apply, nothing changed;
//! - `deploy.d/post/*`: after every service is deployed and healthy, inside the transaction;
//!   a failure rolls the whole apply back.
//!
//! Files run in name order. Where a hook runs is its choice, on its first lines:
//!
//! - `# dokku-compose: service=<name>` runs it inside a one-off container of that compose
//!   service (`dokku run --no-tty -e … <app> /bin/sh -c <script> <hook>`), the safer default:
//!   it sees what the service sees and nothing of the host;
//! - `# dokku-compose: host` runs it on the Dokku host as the dokku user, in the captured source
//!   directory: it can run any `dokku` command and read everything the dokku user can (other
//!   apps' config included), so only trusted repositories should use it.
//!
//! A hook with neither line is an error: the repository must say where its code runs.
//! Environment: `DOKKU_COMPOSE_STACK`, `DOKKU_COMPOSE_PHASE` (`pre`/`post`),
//! `DOKKU_COMPOSE_HOOK`, `DOKKU_COMPOSE_SOURCE_REV`, `DOKKU_COMPOSE_SERVICE_APPS` (`web=shop-web
//! db=postgres:shop-db …`), and every variable the compose file marks plain (`x-dokku.plain`)
//! with its value; never a secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::RunError;
use super::event::Event;
use super::runner::Runner;
use crate::dokku::Cmd;
use crate::model::{Kind, Project};

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Before any change.
    Pre,
    /// After every service is healthy, inside the transaction.
    Post,
}

impl Phase {
    /// `pre` or `post`: the directory and the `DOKKU_COMPOSE_PHASE` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
        }
    }
}

/// Where a hook runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunIn {
    /// On the host, as the dokku user.
    Host,
    /// In a one-off container of a compose service.
    Service {
        /// The compose service.
        service: String,
        /// Its app.
        app: String,
    },
}

/// One hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Phase.
    pub phase: Phase,
    /// `deploy.d/pre/10-backup.sh`, relative to the source.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Where it runs.
    pub run_in: RunIn,
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.run_in {
            RunIn::Host => write!(f, "{} {} (on the host)", self.phase.as_str(), self.name),
            RunIn::Service { service, app } => write!(
                f,
                "{} {} (in a container of `{service}`, app `{app}`)",
                self.phase.as_str(),
                self.name
            ),
        }
    }
}

/// A hook that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Its directory or file cannot be read.
    #[error("deploy hook `{name}`: {problem}")]
    Read {
        /// The hook.
        name: String,
        /// What went wrong.
        problem: ReadProblem,
    },
    /// It does not say where it runs, or names an unknown service.
    #[error("deploy hook `{name}`: {problem}")]
    Placement {
        /// The hook.
        name: String,
        /// What is wrong.
        problem: PlacementProblem,
    },
    /// It would run on the host, and the operator did not allow that.
    #[error("deploy hook `{name}`: `# dokku-compose: host` would run it on the Dokku host as the dokku user (it could read other apps' config and the plugin's keys), which the security policy refuses; run it in a service's container with `# dokku-compose: service=<name>`, or the operator allows host hooks with `dokku compose:set {stack} allow host-hooks`")]
    HostNotAllowed {
        /// The hook.
        name: String,
        /// The stack.
        stack: String,
    },
    /// It failed. The message shows the command's error itself (not also as a `source()`).
    #[error("deploy hook `{name}` failed: {error}")]
    Failed {
        /// The hook.
        name: String,
        /// The error.
        error: RunError,
    },
}

/// Why a hook cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadProblem {
    /// It leaves the pushed tree, or is not a regular file (issue #13).
    #[error("{0}")]
    Confined(crate::confine::PathError),
    /// The file system refused.
    #[error("{0}")]
    Io(std::io::Error),
    /// It is not text.
    #[error("not UTF-8 text")]
    NotUtf8,
}

/// Why a hook's placement line (`# dokku-compose: …`) is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementProblem {
    /// No placement line among the first five.
    #[error("say where it runs on one of its first lines: `# dokku-compose: service=<name>` (in that service's container) or `# dokku-compose: host` (on the Dokku host, as the dokku user)")]
    Missing,
    /// The line says neither `host` nor `service=<name>`.
    #[error("`# dokku-compose: {0}` is neither `host` nor `service=<name>`")]
    Unknown(String),
    /// It names a datastore.
    #[error("service `{0}` is a datastore; hooks run in app services")]
    Datastore(String),
    /// It names no service of the stack.
    #[error("there is no service `{0}`")]
    NoService(String),
}

/// Refuses the hooks that would run on the host unless the operator allowed the `host-hooks`
/// rule for the stack (`dokku compose:set <stack> allow host-hooks`): a host hook runs as the
/// dokku user and can read every app's config and the plugin's host key, so a pusher alone
/// cannot decide to run one.
pub(crate) fn check_placement_allowed(
    hooks: &[Hook],
    policy: &crate::policy::Policy,
    stack: &str,
) -> Result<(), HookError> {
    if policy.allow.contains(&crate::model::PolicyRule::HostHooks) {
        return Ok(());
    }
    match hooks.iter().find(|h| h.run_in == RunIn::Host) {
        Some(h) => Err(HookError::HostNotAllowed {
            name: h.name.clone(),
            stack: stack.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Where a hook says it runs: `# dokku-compose: host` or `# dokku-compose: service=<name>`
/// within its first five lines.
fn placement(script: &str) -> Option<Result<Option<String>, PlacementProblem>> {
    for line in script.lines().take(5) {
        let Some(rest) = line
            .trim()
            .strip_prefix('#')
            .map(str::trim)
            .and_then(|l| l.strip_prefix("dokku-compose:"))
        else {
            continue;
        };
        let rest = rest.trim();
        return Some(match rest.strip_prefix("service=") {
            Some(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            _ if rest == "host" => Ok(None),
            _ => Err(PlacementProblem::Unknown(rest.to_owned())),
        });
    }
    None
}

/// The hooks of `hooks_dir` (relative to `source`), pre then post, each in name order.
pub(crate) fn discover(
    source: &Path,
    hooks_dir: &str,
    project: &Project,
) -> Result<Vec<Hook>, HookError> {
    let mut hooks = Vec::new();
    for phase in [Phase::Pre, Phase::Post] {
        // The hooks directory and each hook are resolved inside the pushed source: a link
        // out of it would run (or send to a container) a file of the host (issue #13).
        let rel_dir = Path::new(hooks_dir).join(phase.as_str());
        let dir = match crate::confine::resolve(source, &rel_dir) {
            Ok(d) => d,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                return Err(HookError::Read {
                    name: rel_dir.display().to_string(),
                    problem: ReadProblem::Confined(e),
                })
            }
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<std::ffi::OsString> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for file in names {
            let rel = rel_dir.join(&file);
            let name = format!("{hooks_dir}/{}/{}", phase.as_str(), file.to_string_lossy());
            let path = crate::confine::resolve(source, &rel).map_err(|e| HookError::Read {
                name: name.clone(),
                problem: ReadProblem::Confined(e),
            })?;
            if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let bytes =
                crate::confine::read_file(source, &rel, crate::confine::DEFAULT_MAX_FILE_SIZE)
                    .map_err(|e| HookError::Read {
                        name: name.clone(),
                        problem: ReadProblem::Confined(e),
                    })?;
            let script = String::from_utf8(bytes).map_err(|_| HookError::Read {
                name: name.clone(),
                problem: ReadProblem::NotUtf8,
            })?;
            let run_in = match placement(&script) {
                None => {
                    return Err(HookError::Placement {
                        name,
                        problem: PlacementProblem::Missing,
                    })
                }
                Some(Err(problem)) => return Err(HookError::Placement { name, problem }),
                Some(Ok(None)) => RunIn::Host,
                Some(Ok(Some(service))) => {
                    let svc = project
                        .services
                        .iter()
                        .find(|(n, _)| n.as_str() == service)
                        .map(|(_, s)| s);
                    match svc.map(|s| &s.kind) {
                        Some(Kind::App(a)) => RunIn::Service {
                            service,
                            app: a.app.to_string(),
                        },
                        Some(Kind::Datastore(_)) => {
                            return Err(HookError::Placement {
                                name,
                                problem: PlacementProblem::Datastore(service),
                            })
                        }
                        None => {
                            return Err(HookError::Placement {
                                name,
                                problem: PlacementProblem::NoService(service),
                            })
                        }
                    }
                }
            };
            hooks.push(Hook {
                phase,
                name,
                path,
                run_in,
            });
        }
    }
    Ok(hooks)
}

/// The environment every hook gets.
pub(crate) fn environment(
    project: &Project,
    phase: Phase,
    source_rev: &str,
) -> Vec<(String, String)> {
    let apps: Vec<String> = project
        .services
        .iter()
        .map(|(n, s)| match &s.kind {
            Kind::App(a) => format!("{n}={}", a.app),
            Kind::Datastore(d) => format!("{n}={}:{}", d.plugin, d.name),
        })
        .collect();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for svc in project.services.values() {
        let Kind::App(a) = &svc.kind else { continue };
        for (k, v) in &a.env {
            if project.settings.plain.contains(k) || svc.settings.plain.contains(k) {
                env.entry(k.clone()).or_insert_with(|| v.value.clone());
            }
        }
    }
    env.insert("DOKKU_COMPOSE_STACK".into(), project.stack.to_string());
    env.insert("DOKKU_COMPOSE_PHASE".into(), phase.as_str().into());
    env.insert("DOKKU_COMPOSE_SOURCE_REV".into(), source_rev.into());
    env.insert("DOKKU_COMPOSE_SERVICE_APPS".into(), apps.join(" "));
    env.into_iter().collect()
}

/// The command that runs `hook`.
pub(crate) fn command(
    hook: &Hook,
    source: &Path,
    env: &[(String, String)],
) -> Result<Cmd, HookError> {
    let mut env = env.to_vec();
    env.push(("DOKKU_COMPOSE_HOOK".into(), hook.name.clone()));
    match &hook.run_in {
        RunIn::Host => {
            let path = std::fs::canonicalize(&hook.path).map_err(|e| HookError::Read {
                name: hook.name.clone(),
                problem: ReadProblem::Io(e),
            })?;
            Ok(Cmd::hook(
                &path.display().to_string(),
                &source.display().to_string(),
                env,
            ))
        }
        RunIn::Service { app, .. } => {
            let script = std::fs::read_to_string(&hook.path).map_err(|e| HookError::Read {
                name: hook.name.clone(),
                problem: ReadProblem::Io(e),
            })?;
            let mut cmd = Cmd::dokku(["run", "--no-tty"]);
            for (k, v) in env {
                cmd = cmd.flag("--env", format!("{k}={v}"));
            }
            // The script is the repository's own; it reaches `sh -c` as one argument, never
            // through a shell of ours.
            Ok(cmd
                .arg(app.clone())
                .arg("/bin/sh")
                .arg("-c")
                .arg(script)
                .arg(hook.name.clone()))
        }
    }
}

/// Runs the hooks of `phase` in order, streaming their output with Dokku's prefixes; the
/// first failure stops.
pub(crate) fn run_phase(
    hooks: &[Hook],
    phase: Phase,
    source: &Path,
    env: &[(String, String)],
    runner: &dyn Runner,
    timeout: Duration,
    events: &(dyn Fn(&Event) + Sync),
) -> Result<(), HookError> {
    for hook in hooks.iter().filter(|h| h.phase == phase) {
        let cmd = command(hook, source, env)?;
        events(&Event::ServiceStarted {
            service: format!("hook {}", hook.name),
            steps: 1,
        });
        let started = Instant::now();
        let name = hook.name.clone();
        runner
            .run_streamed(&cmd, Some(Instant::now() + timeout), &|line| {
                events(&Event::Output {
                    source: name.clone(),
                    line: line.to_owned(),
                })
            })
            .map_err(|error| HookError::Failed {
                name: hook.name.clone(),
                error,
            })?;
        events(&Event::ServiceFinished {
            service: format!("hook {}", hook.name),
            duration: started.elapsed(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_lines() {
        assert_eq!(
            placement("#!/bin/sh\n# dokku-compose: host\necho"),
            Some(Ok(None))
        );
        assert_eq!(
            placement("#!/bin/sh\n#dokku-compose: service=web\n"),
            Some(Ok(Some("web".into())))
        );
        assert_eq!(
            placement("# dokku-compose: somewhere"),
            Some(Err(PlacementProblem::Unknown("somewhere".into())))
        );
        assert_eq!(
            placement("#!/bin/sh\necho\n\n\n\n# dokku-compose: host"),
            None,
            "only the first five lines count"
        );
    }

    #[test]
    fn host_hooks_need_the_host_hooks_rule() {
        let hook = |run_in| Hook {
            phase: Phase::Pre,
            name: "deploy.d/pre/10.sh".into(),
            path: "x".into(),
            run_in,
        };
        let host = [
            hook(RunIn::Service {
                service: "web".into(),
                app: "shop-web".into(),
            }),
            hook(RunIn::Host),
        ];
        let err = check_placement_allowed(&host, &crate::policy::Policy::default(), "shop")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("deploy hook `deploy.d/pre/10.sh`: `# dokku-compose: host` would run it on the Dokku host") && err.contains("`dokku compose:set shop allow host-hooks`"), "{err}");
        assert!(check_placement_allowed(
            &host,
            &crate::policy::Policy::from_names(["host-hooks"]).unwrap(),
            "shop"
        )
        .is_ok());
        assert!(
            check_placement_allowed(&host[..1], &crate::policy::Policy::default(), "shop").is_ok(),
            "container hooks need no rule"
        );
    }

    #[test]
    fn discover_orders_and_checks_services() {
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::json!({"services": {"web": {"image": "nginx"}, "db": {"image": "postgres:16"}}});
        let opts = crate::model::ConvertOptions {
            stack: crate::model::StackName::parse("s").unwrap(),
            project_dir: dir.path().display().to_string(),
        };
        let (project, _) = crate::model::from_compose_json(&json, &opts).unwrap();
        let pre = dir.path().join("deploy.d/pre");
        let post = dir.path().join("deploy.d/post");
        std::fs::create_dir_all(&pre).unwrap();
        std::fs::create_dir_all(&post).unwrap();
        std::fs::write(pre.join("20-b.sh"), "# dokku-compose: service=web\necho b").unwrap();
        std::fs::write(
            pre.join("10-a.sh"),
            "#!/bin/sh\n# dokku-compose: host\necho a",
        )
        .unwrap();
        std::fs::write(post.join("notify"), "# dokku-compose: host\n").unwrap();
        let hooks = discover(dir.path(), "deploy.d", &project).unwrap();
        let names: Vec<&str> = hooks.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "deploy.d/pre/10-a.sh",
                "deploy.d/pre/20-b.sh",
                "deploy.d/post/notify"
            ]
        );
        assert_eq!(
            hooks[1].run_in,
            RunIn::Service {
                service: "web".into(),
                app: "s-web".into()
            }
        );
        let env = environment(&project, Phase::Pre, "abc");
        let cmd = command(&hooks[1], dir.path(), &env).unwrap();
        assert_eq!(cmd.args[..3], ["run", "--no-tty", "--env"]);
        assert!(
            cmd.args
                .contains(&"DOKKU_COMPOSE_SERVICE_APPS=db=postgres:s-db web=s-web".to_owned()),
            "{:?}",
            cmd.args
        );
        assert_eq!(
            cmd.args[cmd.args.len() - 5..],
            [
                "s-web",
                "/bin/sh",
                "-c",
                "# dokku-compose: service=web\necho b",
                "deploy.d/pre/20-b.sh"
            ]
        );
        std::fs::write(post.join("x"), "echo nowhere").unwrap();
        let err = discover(dir.path(), "deploy.d", &project)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("deploy hook `deploy.d/post/x`: say where it runs"),
            "{err}"
        );
        std::fs::write(post.join("x"), "# dokku-compose: service=db\n").unwrap();
        assert!(discover(dir.path(), "deploy.d", &project)
            .unwrap_err()
            .to_string()
            .contains("is a datastore"));
        std::fs::write(post.join("x"), "# dokku-compose: service=nope\n").unwrap();
        assert!(discover(dir.path(), "deploy.d", &project)
            .unwrap_err()
            .to_string()
            .contains("there is no service `nope`"));
    }

    #[test]
    fn issue_13_hooks_are_files_of_the_pushed_tree() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("deploy.d/pre")).unwrap();
        std::fs::write(
            t.path().join("host-script"),
            "# dokku-compose: host\ncat /etc/shadow",
        )
        .unwrap();
        let json = serde_json::json!({"services": {"web": {"image": "nginx"}}});
        let opts = crate::model::ConvertOptions {
            stack: crate::model::StackName::parse("s").unwrap(),
            project_dir: src.display().to_string(),
        };
        let (project, _) = crate::model::from_compose_json(&json, &opts).unwrap();
        std::fs::write(src.join("real.sh"), "# dokku-compose: host\necho ok").unwrap();
        std::os::unix::fs::symlink("../../real.sh", src.join("deploy.d/pre/10-in.sh")).unwrap();
        let hooks = discover(&src, "deploy.d", &project).unwrap();
        assert_eq!(
            hooks[0].path,
            src.canonicalize().unwrap().join("real.sh"),
            "a link inside the tree is followed"
        );
        std::os::unix::fs::symlink(
            t.path().join("host-script"),
            src.join("deploy.d/pre/20-out.sh"),
        )
        .unwrap();
        let err = discover(&src, "deploy.d", &project)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("deploy hook `deploy.d/pre/20-out.sh`: `deploy.d/pre/20-out.sh`: `deploy.d/pre/20-out.sh` is a symlink to"), "{err}");
        std::fs::remove_dir_all(src.join("deploy.d")).unwrap();
        std::os::unix::fs::symlink(t.path(), src.join("deploy.d")).unwrap();
        assert!(discover(&src, "deploy.d", &project)
            .unwrap_err()
            .to_string()
            .contains("outside the pushed tree"));
    }
}
