//! `compose:export` (issue #9 "Export"): golden tests of the rendering
//! (`tests/fixtures/export/<case>/state.json` → `compose.yaml`; `UPDATE_GOLDEN=1` rewrites),
//! and the round trip on every example under examples/: apply it to a fresh sandbox, export
//! the deployed stack (state read through the sandbox, recipe from the release store), plan the
//! export against the same host and require an empty plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dokku_compose::export::{self, ExportInput, Member};
use dokku_compose::state::DokkuState;
use serde::Deserialize;
use serde_json::Value;

use crate::support::{dotenv_keys, golden, text, Host};

/// A golden case: the pure inputs of [`export::export`].
#[derive(Deserialize)]
struct Case {
    stack: String,
    state: DokkuState,
    /// service → `{"app": name}` or `{"plugin": p, "name": n}`.
    services: BTreeMap<String, Value>,
    #[serde(default)]
    recipe: Option<Value>,
    #[serde(default)]
    project_dir: Option<String>,
    #[serde(default)]
    images: BTreeMap<String, String>,
}

fn member(v: &Value) -> Member {
    match v["app"].as_str() {
        Some(a) => Member::App(a.to_owned()),
        None => Member::Datastore {
            plugin: v["plugin"].as_str().unwrap().to_owned(),
            name: v["name"].as_str().unwrap().to_owned(),
        },
    }
}

#[test]
fn export_golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("state.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 2, "{cases:?}");
    let mut failures = Vec::new();
    for dir in cases {
        let case: Case =
            serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap())
                .unwrap();
        let input = ExportInput {
            stack: &case.stack,
            state: &case.state,
            services: case
                .services
                .iter()
                .map(|(k, v)| (k.clone(), member(v)))
                .collect(),
            recipe: case.recipe.as_ref(),
            project_dir: case.project_dir.as_deref(),
            images: case.images.clone(),
        };
        let e = export::export(&input).unwrap();
        let got = export::render(&e.doc).unwrap() + "---\n" + &export::env_example(&e);
        // No secret value reaches the output.
        for v in e.variables.values().filter(|v| v.len() >= 10) {
            assert!(
                !got.contains(v.as_str()),
                "{}: secret value {v:?} in the export",
                dir.display()
            );
        }
        // The output is YAML that reads back.
        let _: serde_yaml::Value =
            serde_yaml::from_str(got.split("---\n").next().unwrap()).unwrap();
        golden(&dir.join("compose.yaml"), &got, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn compose(h: &Host, clear: &[String], args: &[&str]) -> std::process::Output {
    let mut c = h.compose();
    for k in clear {
        c.env_remove(k);
    }
    c.args(args).arg("--data-dir").arg(h.data());
    c.output().unwrap()
}

/// A `.env` line with a literal value.
fn env_line(k: &str, v: &str) -> String {
    if v.contains('\'') || v.contains('\n') {
        format!("{k}={}\n", serde_json::to_string(v).unwrap())
    } else {
        format!("{k}='{v}'\n")
    }
}

/// Deploys `dir`, exports it, plans the export: the plan's steps (empty when the round trip holds).
fn round_trip(dir: &Path, keep: Option<&Path>) -> Result<Vec<Value>, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let h = Host::empty();
    let root = h.path();
    let clear = dotenv_keys(dir);
    let file = dir.join("compose.yaml");
    let o = compose(&h, &clear, &["apply", "-f", file.to_str().unwrap()]);
    if !o.status.success() {
        return Err(format!("{name}: apply failed:\n{}", text(&o)));
    }
    // The stack: the one directory the apply made in the data dir.
    let data = root.join("compose-data");
    let stack = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .find(|e| e.path().join("releases").is_dir())
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let sd = dokku_compose::exec::apply::stack_dir(&data, &stack);
    let key = dokku_compose::exec::secrets::HostKey::load_or_create(&sd.key()).unwrap();
    let store = dokku_compose::exec::releases::ReleaseStore::open(&sd.releases(), key).unwrap();
    let latest = store.latest().unwrap().unwrap();
    let recipe = store.masked_compose(latest.id).unwrap();
    let project_dir = dir.to_str().unwrap();
    let (project, services) =
        export::members_of(&recipe, &stack, project_dir).map_err(|e| e.to_string())?;
    let run = |cmd: &dokku_compose::dokku::Cmd| -> Result<Option<String>, dokku_compose::state::StateError> {
        let argv = cmd.argv();
        let o = h.dokku(&argv[1..].iter().map(String::as_str).collect::<Vec<_>>());
        Ok(o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned()))
    };
    let state =
        dokku_compose::state::read_parallel(&project, &run, 2).map_err(|e| e.to_string())?;
    let input = ExportInput {
        stack: &stack,
        state: &state,
        services,
        recipe: Some(&recipe),
        project_dir: Some(project_dir),
        images: BTreeMap::new(),
    };
    let e = export::export(&input).map_err(|e| e.to_string())?;
    let yaml = export::render(&e.doc).map_err(|e| e.to_string())?;
    let exported = root.join("exported.yaml");
    std::fs::write(&exported, &yaml).unwrap();
    let env: String = e.variables.iter().map(|(k, v)| env_line(k, v)).collect();
    std::fs::write(root.join("exported.env"), env).unwrap();
    if let Some(k) = keep {
        let case = serde_json::json!({"stack": stack, "state": state, "recipe": recipe, "project_dir": project_dir,
            "services": input.services.iter().map(|(s, m)| (s.clone(), match m {
                Member::App(a) => serde_json::json!({"app": a}),
                Member::Datastore { plugin, name } => serde_json::json!({"plugin": plugin, "name": name}),
            })).collect::<serde_json::Map<_, _>>()});
        std::fs::create_dir_all(k).unwrap();
        std::fs::write(
            k.join("state.json"),
            serde_json::to_string_pretty(&case).unwrap() + "\n",
        )
        .unwrap();
    }
    let env_file = root.join("exported.env");
    // The export planned by `apply --dry-run` with the variables of `env_file`.
    let dry_run = || {
        compose(
            &h,
            &clear,
            &[
                "apply",
                "--dry-run",
                "--format",
                "json",
                "-f",
                exported.to_str().unwrap(),
                "--stack",
                &stack,
                "--project-directory",
                project_dir,
                "--env-file",
                env_file.to_str().unwrap(),
            ],
        )
    };
    let o = dry_run();
    if !o.status.success() {
        return Err(format!(
            "{name}: planning the export failed:\n{}\n--- exported:\n{yaml}",
            text(&o)
        ));
    }
    let plan: Value =
        serde_json::from_slice(&o.stdout).map_err(|err| format!("{name}: {err}: {}", text(&o)))?;
    let steps = plan["steps"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("{name}: no `steps` in {plan}"))?;
    if steps.is_empty() {
        // Control: the same export with one variable changed is not empty (the check can fail).
        if let Some((k, _)) = e.variables.iter().next() {
            let env: String = e
                .variables
                .iter()
                .map(|(k2, v)| env_line(k2, if k2 == k { "changed-value" } else { v }))
                .collect();
            std::fs::write(&env_file, env).unwrap();
            let o = dry_run();
            let plan: Value = serde_json::from_slice(&o.stdout)
                .map_err(|err| format!("{name}: {err}: {}", text(&o)))?;
            if plan["steps"].as_array().is_none_or(Vec::is_empty) {
                return Err(format!("{name}: changing `{k}` gives an empty plan too"));
            }
        }
        Ok(steps)
    } else {
        Err(format!(
            "{name}: the plan of the export is not empty:\n{}\n--- exported:\n{yaml}",
            serde_json::to_string_pretty(&steps).unwrap()
        ))
    }
}

/// Every example: deploy, export, plan the export against the same host: no steps.
#[test]
fn export_round_trip_every_example_plans_empty() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5);
    let keep = std::env::var_os("EXPORT_KEEP_STATE").map(PathBuf::from);
    let mut problems = Vec::new();
    for d in &dirs {
        let k = keep.as_ref().map(|k| k.join(d.file_name().unwrap()));
        match round_trip(d, k.as_deref()) {
            Ok(_) => eprintln!(
                "round trip {}: empty plan",
                d.file_name().unwrap().to_string_lossy()
            ),
            Err(p) => problems.push(p),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
