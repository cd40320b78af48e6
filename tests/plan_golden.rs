//! Golden plans (style R18 tier 3): every folder under tests/fixtures/plans/ holds either a
//! `compose.json` (our own stacks, generated once from `compose.yaml` with the reference
//! binary, paths under the placeholder `@FIXTURE_DIR@`) or a `corpus` file naming a case of
//! ../shared/compose-corpus, plus optional `allow` (policy rules, one a line) and the expected
//! `plan.txt`, `plan.json` and `stderr.txt` (warnings, or the error). `UPDATE_GOLDEN=1`
//! rewrites the expectations. Every plan is also checked against ../shared/dokku-cli.json and
//! re-planned after a simulated apply, which must be empty.

use std::fs;
use std::path::{Path, PathBuf};

use dokku_compose::model::{ConvertOptions, StackName};
use dokku_compose::plan::{self, simulate, Options, Plan, PlanSettings};
use dokku_compose::policy::Policy;
use dokku_compose::state::DokkuState;
use dokku_compose::workflow;

use crate::plan_conformance::Conformance;
use crate::support::{golden, shared_dir};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans")
}

/// One golden case, loaded.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) json: serde_json::Value,
    pub(crate) opts: Options,
}

pub(crate) fn load_case(dir: &Path) -> Case {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let (text, project_dir) = if let Ok(corpus) = fs::read_to_string(dir.join("corpus")) {
        let corpus = corpus.trim();
        let path = shared_dir()
            .join("compose-corpus")
            .join(corpus)
            .join("expected.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (text, format!("@CORPUS_ROOT@/{corpus}"))
    } else {
        let path = dir.join("compose.json");
        (
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            "@FIXTURE_DIR@".to_owned(),
        )
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let allow = fs::read_to_string(dir.join("allow")).unwrap_or_default();
    let policy = Policy::from_names(allow.lines()).unwrap();
    let stack = StackName::sanitise(name.split("__").last().unwrap_or(&name));
    let opts = Options {
        convert: ConvertOptions { stack, project_dir },
        policy,
        settings: PlanSettings {
            source_rev: "0000000".into(),
            ..PlanSettings::default()
        },
    };
    Case {
        name,
        dir: dir.to_path_buf(),
        json,
        opts,
    }
}

impl Case {
    /// The host this case converges to: its plan on a fresh host, applied in the simulator.
    fn converged(&self) -> DokkuState {
        let host = DokkuState::default();
        let first = workflow::plan_compose_json(&self.json, &host, &self.opts).unwrap();
        applied(host, &first)
    }
}

/// `host` after every step of `plan` is applied to it in the simulator.
fn applied(mut host: DokkuState, plan: &Plan) -> DokkuState {
    for step in &plan.steps {
        simulate::apply(&mut host, step);
    }
    host
}

/// The ids of a plan's steps, in order.
fn step_ids(plan: &Plan) -> Vec<&str> {
    plan.steps.iter().map(|s| s.id.as_str()).collect()
}

pub(crate) fn all_cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| load_case(d)).collect()
}

fn outputs(result: &Result<Plan, plan::PlanError>) -> (String, String, String) {
    match result {
        Ok(p) => {
            let stderr: String = p.warnings.iter().map(|w| format!(" !     {w}\n")).collect();
            (
                p.to_string(),
                serde_json::to_string_pretty(&p.to_json()).unwrap() + "\n",
                stderr,
            )
        }
        Err(e) => (String::new(), String::new(), format!(" !     {e}\n")),
    }
}

/// The host every golden case is planned against: a fresh docker-local host, and (issue 21)
/// a fresh host whose global scheduler is k3s with a global registry, whose expectations are
/// the `*.k3s.*` files beside the others.
pub(crate) fn hosts() -> [(&'static str, DokkuState); 2] {
    let k3s = DokkuState {
        scheduler_global: Some("k3s".into()),
        registry_global: Some("registry.example.com".into()),
        ..DokkuState::default()
    };
    [("", DokkuState::default()), (".k3s", k3s)]
}

#[test]
fn golden_plans() {
    let cases = all_cases();
    assert!(cases.len() >= 25, "only {} golden stacks", cases.len());
    let conformance = Conformance::load();
    let mut failures = Vec::new();
    for case in &cases {
        for (suffix, host) in hosts() {
            let result = workflow::plan_compose_json(&case.json, &host, &case.opts);
            let (txt, json, stderr) = outputs(&result);
            for (file, actual) in [
                (format!("plan{suffix}.txt"), &txt),
                (format!("plan{suffix}.json"), &json),
                (format!("stderr{suffix}.txt"), &stderr),
            ] {
                golden(&case.dir.join(file), actual, &mut failures);
            }
            if let Ok(p) = &result {
                for step in &p.steps {
                    let undo = match &step.undo {
                        plan::Undo::Commands { cmds } => cmds.clone(),
                        plan::Undo::Irreversible { .. } => Vec::new(),
                    };
                    for cmd in std::iter::once(&step.run).chain(undo.iter()) {
                        if let Err(e) = conformance.check(&cmd.argv()) {
                            failures
                                .push(format!("{}{suffix}: step `{}`: {e}", case.name, step.id));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The plan for a stack that is deployed as described is empty: apply every golden plan to a
/// simulated host, then plan again.
#[test]
fn replanning_a_converged_stack_is_empty() {
    let mut checked = 0;
    for case in all_cases() {
        for (suffix, host) in hosts() {
            let Ok(first) = workflow::plan_compose_json(&case.json, &host, &case.opts) else {
                continue;
            };
            let state = applied(host, &first);
            let again = workflow::plan_compose_json(&case.json, &state, &case.opts).unwrap();
            let ids = step_ids(&again);
            assert!(
                ids.is_empty(),
                "{}{suffix}: re-plan is not empty: {ids:?}",
                case.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} plans checked");
}

/// A changed value in a converged stack yields exactly the config step and a restart.
#[test]
fn changing_one_value_replans_only_that() {
    let case = load_case(&fixtures().join("web-worker-postgres-redis"));
    let state = case.converged();
    let mut json = case.json.clone();
    json["services"]["worker"]["environment"]["QUEUE"] = serde_json::json!("urgent");
    let again = workflow::plan_compose_json(&json, &state, &case.opts).unwrap();
    let ids = step_ids(&again);
    assert_eq!(ids, ["worker/config", "worker/restart"]);
    // An ordinary value is shown, so the plan can be reviewed (issue #15 item 16); a secret
    // one is masked.
    assert_eq!(
        again.steps[0].run.to_string(),
        "dokku config:set --no-restart web-worker-postgres-redis-worker QUEUE=urgent"
    );
    json["services"]["worker"]["environment"]["QUEUE"] = serde_json::json!("default");
    json["services"]["worker"]["environment"]["API_TOKEN"] = serde_json::json!("t0ken-value");
    let again = workflow::plan_compose_json(&json, &state, &case.opts).unwrap();
    // A secret goes on stdin, masked where it is shown, never in argv.
    assert!(
        again.steps[0]
            .run
            .to_string()
            .starts_with("dokku config:import"),
        "{}",
        again.steps[0].run
    );
    let shown = again.steps[0].run.stdin.as_ref().unwrap().describe();
    assert!(
        shown.contains("API_TOKEN=********") && !shown.contains("t0ken-value"),
        "{shown}"
    );
    assert!(!again.steps[0]
        .run
        .argv()
        .iter()
        .any(|a| a.contains("t0ken-value")));
}

/// A docker option dropped from the compose file is removed; options added by others stay.
#[test]
fn dropped_docker_option_is_removed() {
    let case = load_case(&fixtures().join("volumes-and-binds"));
    let mut state = case.converged();
    state
        .apps
        .get_mut("volumes-and-binds-proxy")
        .unwrap()
        .docker_options
        .get_mut("deploy")
        .unwrap()
        .push("--link x:y".into());
    let mut json = case.json.clone();
    json["services"]["proxy"]
        .as_object_mut()
        .unwrap()
        .remove("init");
    let again = workflow::plan_compose_json(&json, &state, &case.opts).unwrap();
    let shown: Vec<String> = again.steps.iter().map(|s| s.run.to_string()).collect();
    assert_eq!(
        shown,
        [
            "dokku docker-options:remove volumes-and-binds-proxy deploy --init",
            "dokku config:set --no-restart volumes-and-binds-proxy 'DOKKU_COMPOSE_OPTIONS=[\"deploy --network-alias proxy\",\"deploy --tmpfs /tmp\",\"deploy --shm-size 67108864\",\"deploy --read-only\",\"deploy --add-host legacy.internal:10.0.0.5\",\"deploy --ulimit nofile=1024:2048\"]'",
            "dokku ps:restart volumes-and-binds-proxy",
        ]
    );
}

/// No secret value reaches the printed plan: passwords given to datastores and environment
/// values whose key names a secret are absent from every golden's text and JSON form.
#[test]
fn secrets_never_reach_the_output() {
    let mut checked = 0;
    for case in all_cases() {
        let Ok(p) = workflow::plan_compose_json(&case.json, &DokkuState::default(), &case.opts)
        else {
            continue;
        };
        let out = format!("{p}\n{}", serde_json::to_string(&p.to_json()).unwrap());
        let mut secrets: Vec<String> = Vec::new();
        // Values that are also names (a password `nextcloud` in stack `nextcloud`) prove nothing.
        let services = case.json["services"].as_object().unwrap();
        let names: Vec<String> = services
            .iter()
            .flat_map(|(n, s)| {
                [
                    n.clone(),
                    s["image"].as_str().unwrap_or_default().to_owned(),
                ]
            })
            .chain([case.opts.convert.stack.to_string()])
            .collect();
        for svc in services.values() {
            for (k, v) in svc["environment"].as_object().into_iter().flatten() {
                let upper = k.to_ascii_uppercase();
                // `*_FILE` values name a secret's file (`/run/secrets/db-password`), not a secret.
                if ["PASS", "SECRET", "TOKEN", "_KEY"]
                    .iter()
                    .any(|w| upper.contains(w))
                    && !upper.ends_with("_FILE")
                {
                    if let Some(v) = v.as_str().filter(|v| {
                        v.len() >= 6
                            && !v.starts_with("/run/secrets/")
                            && !names.iter().any(|n| n.contains(*v))
                    }) {
                        secrets.push(v.to_owned());
                    }
                }
            }
        }
        for s in &secrets {
            assert!(
                !out.contains(s.as_str()),
                "{}: secret `{s}` is printed",
                case.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} secrets checked");
}

/// Batches for parallel apply keep every step once, stack steps first, levels in order.
#[test]
fn batches_cover_every_step_once() {
    let case = load_case(&fixtures().join("web-worker-postgres-redis"));
    let p = workflow::plan_compose_json(&case.json, &DokkuState::default(), &case.opts).unwrap();
    let b = p.batches();
    let count = b.stack.len()
        + b.levels
            .iter()
            .flat_map(|l| l.values())
            .map(Vec::len)
            .sum::<usize>();
    assert_eq!(count, p.steps.len());
    let level0: Vec<&str> = b.levels[0].keys().map(|s| s.as_str()).collect();
    let level1: Vec<&str> = b.levels[1].keys().map(|s| s.as_str()).collect();
    assert_eq!(
        (level0, level1),
        (vec!["cache", "db"], vec!["web", "worker"])
    );
    assert_eq!(
        b.stack.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["stack/network/web-worker-postgres-redis-default"],
        "the datastore keeps its own data: no storage entry"
    );
}

/// A new image tag redeploys exactly that app (new digest), with no restart.
#[test]
fn new_image_redeploys_only_that_app() {
    let case = load_case(&fixtures().join("web-worker-postgres-redis"));
    let state = case.converged();
    let mut json = case.json.clone();
    json["services"]["worker"]["image"] = serde_json::json!("ghcr.io/example/shop:1.4.3");
    let again = workflow::plan_compose_json(&json, &state, &case.opts).unwrap();
    let ids = step_ids(&again);
    assert_eq!(ids, ["worker/config", "worker/deploy"]);
    assert_eq!(
        again.steps[0].reason,
        "config differs in DOKKU_COMPOSE_DIGEST"
    );
    assert_eq!(again.steps[1].reason, "the build context changed");
}

/// Issue #15 items 1 and 7: a changed datastore password is refused (no plugin can change it,
/// and apps must only get the one the datastore has); a new image tag is an upgrade step.
#[test]
fn datastore_password_change_is_refused_and_version_bump_upgrades() {
    let case = load_case(&fixtures().join("web-worker-postgres-redis"));
    let mut state = case.converged();
    let db = "web-worker-postgres-redis-db";
    state.datastore_info.insert(
        dokku_compose::state::datastore_key("postgres", db),
        dokku_compose::state::DatastoreInfo {
            version: "postgres:16-alpine".into(),
            dsn: format!("postgres://postgres:hunter2@dokku-postgres-{db}:5432/x"),
        },
    );
    assert!(workflow::plan_compose_json(&case.json, &state, &case.opts)
        .unwrap()
        .steps
        .is_empty());
    let mut json = case.json.clone();
    json["services"]["db"]["environment"]["POSTGRES_PASSWORD"] = serde_json::json!("changed");
    let e = workflow::plan_compose_json(&json, &state, &case.opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("`services.db.environment.POSTGRES_PASSWORD`: the postgres service")
            && e.contains("postgres:info"),
        "{e}"
    );
    let mut json = case.json.clone();
    json["services"]["db"]["image"] = serde_json::json!("postgres:17-alpine");
    let again = workflow::plan_compose_json(&json, &state, &case.opts).unwrap();
    let runs: Vec<String> = again.steps.iter().map(|s| s.run.to_string()).collect();
    assert_eq!(
        runs,
        [format!(
            "dokku postgres:upgrade {db} --image postgres --image-version 17-alpine"
        )]
    );
}

/// (issue 21) Every stack of examples/ planned on a fresh host under both schedulers, through
/// the off-server `dokku-compose plan` of its compose files: the whole output (and exit code)
/// compared with tests/fixtures/example-plans/<example>/plan{,.k3s}.txt (`UPDATE_GOLDEN=1`
/// rewrites them). On k3s an example either plans or is refused with its key path and reason.
#[test]
fn example_plans_under_both_schedulers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut examples: Vec<PathBuf> = fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "only {} examples", examples.len());
    let states = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut refused_on_k3s = 0;
    for (suffix, host) in hosts() {
        let state = states.path().join(format!("state{suffix}.json"));
        fs::write(&state, serde_json::to_string(&host).unwrap()).unwrap();
        for ex in &examples {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_dokku-compose"))
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .arg("plan")
                .arg("-f")
                .arg(ex.join("compose.yaml"))
                .arg("--state")
                .arg(&state)
                .output()
                .unwrap();
            if suffix == ".k3s" && !o.status.success() {
                refused_on_k3s += 1;
            }
            let text = format!(
                "{}{}exit: {}\n",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
                o.status.code().unwrap_or(-1)
            )
            .replace(&root.display().to_string(), "<repo>");
            let name = ex.file_name().unwrap().to_string_lossy().into_owned();
            let dir = root.join("tests/fixtures/example-plans").join(&name);
            fs::create_dir_all(&dir).unwrap();
            golden(&dir.join(format!("plan{suffix}.txt")), &text, &mut failures);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Some examples plan on k3s and some are refused (Let's Encrypt, path routes): both kinds
    // are covered.
    assert!(refused_on_k3s > 0 && refused_on_k3s < examples.len());
}
