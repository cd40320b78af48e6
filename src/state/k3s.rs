//! What the plan needs to know of the k3s scheduler (issue 21): the host's global scheduler
//! (one `scheduler:report --global`, every read), and, only when the stack involves k3s
//! (an explicit `x-dokku` scheduler, or a global `k3s`), the global registry server and the
//! apps' `scheduler`, `scheduler-k3s` and `registry` reports (one bulk call each).

use std::collections::BTreeMap;

use super::{parse_report, AppState, DokkuState, QueryOutput, StateError};
use crate::dokku::Cmd;
use crate::model::k3s::Scheduler;
use crate::model::Project;

/// The global values read before the apps.
pub(super) struct Globals {
    scheduler: Option<String>,
    registry: Option<String>,
    involved: bool,
}

/// The reports an app's k3s settings come from, and the keys kept as properties.
const APP_REPORTS: [(&str, &[&str]); 3] = [
    ("scheduler", &["selected"]),
    ("scheduler-k3s", &["namespace"]),
    (
        "registry",
        &["server", "push-on-release", "image-repo-template"],
    ),
];

/// Whether the project names a scheduler anywhere.
fn explicit(project: &Project) -> bool {
    project.settings.k3s.scheduler.is_some()
        || project
            .services
            .values()
            .any(|s| s.settings.k3s.scheduler.is_some())
}

fn global(
    plugin: &str,
    key: &str,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<Option<String>, StateError> {
    let report = format!("{plugin}:report");
    let cmd = Cmd::dokku([report.as_str(), "--global", "--format", "json"]);
    Ok(match run(&cmd)? {
        // A Dokku without the plugin answers non-zero: its default.
        None => Some(String::new()),
        Some(out) => Some(
            parse_report(&cmd, &out)?
                .get(key)
                .cloned()
                .unwrap_or_default(),
        ),
    })
}

/// Reads the global scheduler, and the global registry when k3s is involved.
pub(super) fn read_globals(
    project: &Project,
    run: &mut dyn FnMut(&Cmd) -> Result<QueryOutput, StateError>,
) -> Result<Globals, StateError> {
    let scheduler = global("scheduler", "global-selected", run)?;
    let involved = explicit(project)
        || scheduler.as_deref().and_then(Scheduler::parse) == Some(Scheduler::K3s);
    let registry = if involved {
        global("registry", "global-server", run)?
    } else {
        None
    };
    Ok(Globals {
        scheduler,
        registry,
        involved,
    })
}

impl Globals {
    /// The extra per-app reports to read.
    pub(super) fn reports(&self) -> &'static [&'static str] {
        if self.involved {
            &["scheduler", "scheduler-k3s", "registry"]
        } else {
            &[]
        }
    }

    /// Records the globals in the state.
    pub(super) fn store(self, state: &mut DokkuState) {
        state.scheduler_global = self.scheduler;
        state.registry_global = self.registry;
    }
}

/// Keeps an app's k3s settings from its reports as properties (`scheduler:selected`,
/// `scheduler-k3s:namespace`, `registry:server` …), as the planner compares them.
pub(super) fn app_properties(reports: &BTreeMap<&str, BTreeMap<String, String>>, a: &mut AppState) {
    for (plugin, keys) in APP_REPORTS {
        let Some(r) = reports.get(plugin) else {
            continue;
        };
        for key in keys {
            if let Some(v) = r.get(*key).filter(|v| !v.is_empty()) {
                a.properties.insert(format!("{plugin}:{key}"), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::state::{read_answering, QueryOutput};

    #[test]
    fn k3s_reports_are_read_only_when_k3s_is_involved() {
        let json =
            serde_json::json!({"services": {"web": {"image": "nginx"}, "api": {"image": "api"}}});
        let opts = crate::model::ConvertOptions {
            stack: crate::model::StackName::parse("s").unwrap(),
            project_dir: "/p".into(),
        };
        let (project, _) = crate::model::from_compose_json(&json, &opts).unwrap();
        for global in ["", "k3s"] {
            let answer = |line: &str| -> QueryOutput {
                match line {
                    "dokku apps:list --format json" => Some(r#"["s-api","s-web"]"#.into()),
                    "dokku scheduler:report --global --format json" => {
                        Some(format!(r#"{{"global-selected":"{global}"}}"#))
                    }
                    "dokku registry:report --global --format json" => {
                        Some(r#"{"global-server":"registry.example.com"}"#.into())
                    }
                    "dokku scheduler-k3s:report --format json" => {
                        Some("{\"namespace\":\"s\"}\n{\"namespace\":\"\"}\n".into())
                    }
                    "dokku network:list --format json" => Some("[]".into()),
                    l if l.ends_with(":report --format json") => Some("{}\n{}\n".into()),
                    _ => None,
                }
            };
            let (state, asked) = read_answering(&project, answer);
            let k3s_reads = asked
                .iter()
                .filter(|a| {
                    a.contains("registry:report")
                        || a.contains("scheduler-k3s:report")
                        || a.starts_with("dokku scheduler:report --format")
                })
                .count();
            assert_eq!(state.scheduler_global.as_deref(), Some(global));
            if global.is_empty() {
                assert_eq!(k3s_reads, 0, "{asked:#?}");
                assert_eq!(state.registry_global, None);
            } else {
                // The global registry and one bulk report per k3s plugin.
                assert_eq!(k3s_reads, 4, "{asked:#?}");
                assert_eq!(
                    state.registry_global.as_deref(),
                    Some("registry.example.com")
                );
                assert_eq!(
                    state.apps["s-api"].properties["scheduler-k3s:namespace"],
                    "s"
                );
                assert!(!state.apps["s-web"]
                    .properties
                    .contains_key("scheduler-k3s:namespace"));
            }
        }
    }
}
