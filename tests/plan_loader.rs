//! The loader and the planner together: planning a stack from its compose files (our loader)
//! gives exactly the plan that planning the reference's normalised JSON gives, and service-level
//! `x-dokku` (which the reference's JSON leaves out) reaches the planner.

use std::collections::BTreeMap;
use std::path::Path;

use dokku_compose::cli::plan_cmd::LoadedProject;
use dokku_compose::compose::{self, LoadOptions};
use dokku_compose::state::DokkuState;
use dokku_compose::workflow;

use crate::plan_cli::assert_secret_config_masked;
use crate::plan_golden::all_cases;
use crate::support::{dokku_compose, stderr_failed, stdout_ok};

fn load(dir: &Path, name: &str) -> Result<LoadedProject, compose::ComposeError> {
    let environment = BTreeMap::from([
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ("HOME".to_string(), "/home/corpus".to_string()),
    ]);
    let opts = LoadOptions {
        files: vec!["compose.yaml".into()],
        project_name: Some(name.to_string()),
        environment,
        working_dir: dir.to_path_buf(),
        ..LoadOptions::default()
    };
    compose::load(&opts).and_then(|loaded| LoadedProject::new(&loaded, dir.to_path_buf()))
}

#[test]
fn planning_from_compose_files_equals_planning_from_the_reference_json() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in all_cases() {
        if !case.dir.join("compose.yaml").is_file() || !case.dir.join("compose.json").is_file() {
            continue;
        }
        let dir = case.dir.canonicalize().unwrap();
        let render = |json: &serde_json::Value| match workflow::plan_compose_json(
            json,
            &DokkuState::default(),
            &case.opts,
        ) {
            Ok(p) => format!("{p}{}", serde_json::to_string_pretty(&p.to_json()).unwrap()),
            Err(e) => format!("error: {e}"),
        };
        compared += 1;
        let ours = match load(&dir, &case.name) {
            Ok(ours) => ours,
            // The loader refuses what the reference refuses (a depends_on cycle): the golden,
            // planned from hand-made JSON, must then be an error too.
            Err(e) => {
                if !render(&case.json).starts_with("error: ") {
                    failures.push(format!(
                        "{}: our loader refuses it ({e}) but the golden plan is not an error",
                        case.name
                    ));
                }
                continue;
            }
        };
        let text = serde_json::to_string(&ours.json)
            .unwrap()
            .replace(&dir.display().to_string(), "@FIXTURE_DIR@");
        let ours: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (expected, actual) = (render(&case.json), render(&ours));
        if expected != actual {
            failures.push(format!(
                "{}:\n--- from the reference JSON\n{expected}\n--- from our loader\n{actual}",
                case.name
            ));
        }
    }
    println!(
        "plan from compose files == plan from reference JSON: {}/{compared}",
        compared - failures.len()
    );
    assert!(
        compared >= 10,
        "only {compared} own golden stacks have compose.yaml"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `dokku-compose plan <args>` in a directory whose compose.yaml is `yaml`.
fn plan_in(yaml: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
    dokku_compose()
        .current_dir(dir.path())
        .arg("plan")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn service_level_x_dokku_reaches_the_planner() {
    let out = plan_in(
        "services:\n  web:\n    image: nginx:1.27\n    environment:\n      MODE: prod\n      TOKEN: s3cret\n    x-dokku:\n      plain: [MODE]\n",
        &["--stack", "demo"],
    );
    assert_secret_config_masked(&stdout_ok(&out));
}

#[test]
fn stack_name_defaults_to_the_compose_project_name() {
    let out = plan_in(
        "name: shop\nservices:\n  web:\n    image: nginx:1.27\n",
        &[],
    );
    let stdout = stdout_ok(&out);
    assert!(stdout.contains("dokku apps:create shop-web\n"), "{stdout}");
}

#[test]
fn invalid_compose_fails_the_plan_with_the_loader_error() {
    let out = plan_in(
        "services:\n  web:\n    image: nginx\n    ports: [\"99999:80\"]\n",
        &["--stack", "demo"],
    );
    let stderr = stderr_failed(&out);
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("services.web.ports"), "{stderr}");
}
