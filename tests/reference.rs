//! Side-by-side test against the real reference binary (Docker Compose v2.40.3) on our own
//! cases in tests/fixtures/config/<case>/: `files` (one compose file per line, may be empty
//! for the default lookup), optional `env` (the process environment, one `KEY=VALUE` a line),
//! optional `args` (global flags: `--profile P`, `--env-file F`, `--project-directory D`,
//! and `--no-interpolate`, which goes after `config`);
//! the project name is the folder name unless a `no-project-name` file is present.
//! Fails when the binary is missing: set COMPOSE_REF_BIN or run scripts/setup-reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dokku_compose::compose::{self, output, LoadOptions};

use crate::corpus::diff;

fn reference_bin() -> PathBuf {
    let bin = std::env::var_os("COMPOSE_REF_BIN").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".venv-ref/lib/python3.11/site-packages/compose/docker-compose")
        },
        PathBuf::from,
    );
    assert!(bin.is_file(), "reference compose binary missing at `{}`: run scripts/setup-reference or set COMPOSE_REF_BIN", bin.display());
    bin
}

fn case_env(dir: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
    env.insert("HOME".to_string(), "/home/corpus".to_string());
    if let Ok(text) = std::fs::read_to_string(dir.join("env")) {
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            env.insert(k.to_string(), v.to_string());
        }
    }
    env
}

fn compare(dir: &Path, bin: &Path) -> Result<(), String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let files: Vec<String> = std::fs::read_to_string(dir.join("files"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let env = case_env(dir);
    let mut args: Vec<String> = std::fs::read_to_string(dir.join("args"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let no_interpolate = args.iter().any(|a| a == "--no-interpolate");
    args.retain(|a| a != "--no-interpolate");
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir).env_clear().envs(&env);
    for f in &files {
        cmd.args(["-f", f]);
    }
    cmd.args(&args);
    let explicit_name = !dir.join("no-project-name").exists();
    let mut opts = LoadOptions {
        files: files.iter().map(PathBuf::from).collect(),
        project_name: explicit_name.then(|| name.clone()),
        environment: env,
        working_dir: dir.to_path_buf(),
        no_interpolate,
        ..LoadOptions::default()
    };
    for pair in args.chunks(2) {
        match pair {
            [flag, value] if flag == "--profile" => opts.profiles.push(value.clone()),
            [flag, value] if flag == "--env-file" => opts.env_files.push(PathBuf::from(value)),
            [flag, value] if flag == "--project-directory" => {
                opts.project_directory = Some(PathBuf::from(value))
            }
            other => panic!("unsupported args in `{}`: {other:?}", dir.display()),
        }
    }
    if explicit_name {
        cmd.args(["--project-name", &name]);
    }
    let mut yaml_cmd = Command::new(bin);
    yaml_cmd
        .current_dir(dir)
        .env_clear()
        .envs(&opts.environment)
        .args(cmd.get_args());
    let config: &[&str] = if no_interpolate {
        &["config", "--no-interpolate"]
    } else {
        &["config"]
    };
    let out = cmd
        .args(config)
        .args(["--format", "json"])
        .output()
        .unwrap();
    match (out.status.success(), compose::load(&opts)) {
        (true, Ok(loaded)) => {
            let expected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let text = if no_interpolate {
                output::render_json_untyped(&loaded.project)
            } else {
                output::render_json(&loaded.project, true)
            };
            let ours: serde_json::Value = serde_json::from_str(&text).unwrap();
            if expected != ours {
                return Err(format!(
                    "JSON output differs:\n{}",
                    diff(&expected, &ours, "")
                ));
            }
            // The YAML output, parsed, must equal the reference's too.
            let yaml_out = yaml_cmd
                .args(config)
                .args(["--format", "yaml"])
                .output()
                .unwrap();
            let expected: serde_json::Value = serde_yaml::from_slice(&yaml_out.stdout).unwrap();
            let ours: serde_json::Value =
                serde_yaml::from_str(&output::render_yaml(&loaded.project, !no_interpolate))
                    .unwrap();
            if expected == ours {
                Ok(())
            } else {
                Err(format!(
                    "YAML output differs:\n{}",
                    diff(&expected, &ours, "")
                ))
            }
        }
        (true, Err(e)) => Err(format!("we reject what the reference accepts: {e}")),
        (false, Ok(_)) => Err(format!(
            "we accept what the reference rejects: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        (false, Err(e)) => {
            if e.to_string().is_empty() {
                Err("rejected without a message".into())
            } else {
                Ok(())
            }
        }
    }
}

#[test]
fn own_cases_match_the_live_reference() {
    let bin = reference_bin();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under `{}`", root.display());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            compare(c, &bin)
                .err()
                .map(|e| format!("{}: {e}", c.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    println!(
        "live reference: matched {}/{}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
