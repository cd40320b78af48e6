//! Every example stack under examples/ (each directory holding a `compose.yaml`, discovered, so a
//! new example is covered without touching this file) is applied to a fresh Dokku sandbox:
//! every compose service must become what the plan says (an app or a datastore service), apps
//! must have the port maps, domains, proxy state, scale and certificates the compose file and
//! its `x-dokku` ask for, and a second apply must say "up to date" and run no mutating command.
//! Every example must be documented by a README.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{self, dotenv_keys, mutating, text};

/// The example directories: every directory under examples/ with a compose.yaml, by name.
fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.join("compose.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// One fresh sandbox and the data directory of dokku-compose; `clear` are the variables the
/// example's `.env` sets, removed from dokku-compose's environment.
struct Host {
    host: support::Host,
    clear: Vec<String>,
}

impl std::ops::Deref for Host {
    type Target = support::Host;
    fn deref(&self) -> &support::Host {
        &self.host
    }
}

impl Host {
    fn new(clear: Vec<String>) -> Self {
        Host {
            host: support::Host::bare(),
            clear,
        }
    }
    fn compose(&self, args: &[&str]) -> Output {
        let mut c = self.host.compose();
        for k in &self.clear {
            c.env_remove(k);
        }
        c.args(args);
        if args.first() == Some(&"apply") {
            c.arg("--data-dir").arg(self.data());
        }
        c.output().unwrap()
    }
}

/// What a compose service became, from the plan header: ``app `x` `` or ``<plugin> service `x` ``.
#[derive(Debug)]
enum Target {
    App(String),
    Datastore { plugin: String, name: String },
}

fn target(desc: &str) -> Target {
    let name = desc
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no name in {desc:?}"))
        .to_owned();
    match desc.split_once(' ') {
        Some(("app", _)) => Target::App(name),
        Some((plugin, rest)) if rest.starts_with("service ") => Target::Datastore {
            plugin: plugin.to_owned(),
            name,
        },
        _ => panic!("unexpected service mapping {desc:?}"),
    }
}

/// The port maps compose asks for: `http:<published>:<target>` per published TCP port (the
/// target when no published port is given), else `http:80:<proxy_port>`.
fn wanted_ports(svc: &Value, xdokku: &Value) -> Vec<String> {
    let mut maps: Vec<String> = svc["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter(|p| p["protocol"].as_str().unwrap_or("tcp") == "tcp")
                .map(|p| {
                    let target = p["target"].as_u64().unwrap();
                    let published = match &p["published"] {
                        Value::String(s) if !s.is_empty() => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => target.to_string(),
                    };
                    format!("http:{published}:{target}")
                })
                .collect()
        })
        .unwrap_or_default();
    if maps.is_empty() {
        if let Some(port) = xdokku["proxy_port"].as_u64() {
            maps.push(format!("http:80:{port}"));
        }
    }
    maps
}

/// How many of each check ran over all examples, so the test cannot pass vacuously.
#[derive(Debug, Default)]
struct Checked {
    datastores: usize,
    port_maps: usize,
    proxy_ports: usize,
    domains: usize,
    letsencrypt: usize,
    one_shots: usize,
}

/// Applies one example to a fresh sandbox and checks it; returns the problems found.
fn check_example(dir: &Path, checked: &mut Checked) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(format!("{name}: {p}"));
    if !dir.join("README.md").is_file() {
        problem("has no README.md".into());
    }
    let file = dir.join("compose.yaml");
    let file = file.to_str().unwrap();
    let h = Host::new(dotenv_keys(dir));

    // What the plan says each service becomes, and what the compose file asks for.
    let o = h.compose(&["plan", "-f", file, "--format", "json"]);
    assert!(o.status.success(), "{name}: plan failed:\n{}", text(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = h.compose(&["config", "-f", file, "--format", "json"]);
    assert!(o.status.success(), "{name}: config failed:\n{}", text(&o));
    let config: Value = serde_json::from_slice(&o.stdout).unwrap();
    let services = config["services"].as_object().unwrap();
    let mapping: BTreeMap<String, Target> = plan["services"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(svc, desc)| (svc.clone(), target(desc.as_str().unwrap())))
        .collect();
    let svc_names: BTreeSet<&String> = services.keys().collect();
    let mapped: BTreeSet<&String> = mapping.keys().collect();
    if svc_names != mapped {
        problem(format!(
            "the plan maps {mapped:?}, the compose file has {svc_names:?}"
        ));
    }

    // First apply.
    let o = h.compose(&["apply", "-f", file]);
    if !o.status.success() {
        problem(format!("first apply failed:\n{}", text(&o)));
        return problems;
    }

    let apps: BTreeSet<String> = h
        .json(&["apps:list", "--format", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let planned_apps: BTreeSet<String> = mapping
        .values()
        .filter_map(|t| {
            if let Target::App(a) = t {
                Some(a.clone())
            } else {
                None
            }
        })
        .collect();
    if apps != planned_apps {
        problem(format!(
            "apps on the host {apps:?}, planned {planned_apps:?}"
        ));
    }
    if planned_apps.is_empty() {
        problem("no service became an app".into());
    }

    for (svc, t) in &mapping {
        let app = match t {
            Target::Datastore { plugin, name: ds } => {
                let list = h.read(&[&format!("{plugin}:list")]);
                checked.datastores += 1;
                if !list.lines().any(|l| l.trim() == ds) {
                    problem(format!("service `{svc}`: {plugin} service `{ds}` is not in `{plugin}:list`:\n{list}"));
                }
                continue;
            }
            Target::App(app) => app,
        };
        let spec = &services[svc];
        let xdokku = &config["x-dokku"]["services"][svc];

        // Port maps (letsencrypt adds its https maps: only the wanted ones are required).
        let want = wanted_ports(spec, xdokku);
        let ports = h.report("ports", app);
        let have: BTreeSet<&str> = ports["map"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        checked.port_maps += want.len();
        checked.proxy_ports += usize::from(
            xdokku["proxy_port"].is_u64() && spec["ports"].as_array().is_none_or(Vec::is_empty),
        );
        for m in &want {
            if !have.contains(m.as_str()) {
                problem(format!(
                    "app `{app}`: port map `{m}` missing, have {have:?}"
                ));
            }
        }
        // No published port and no proxy_port: the proxy is off.
        let proxy = h.report("proxy", app);
        let enabled = proxy["enabled"].as_str() == Some("true");
        if enabled == want.is_empty() {
            problem(format!(
                "app `{app}`: proxy enabled is {enabled}, want {}",
                !want.is_empty()
            ));
        }

        // Domains.
        let want_domains: BTreeSet<&str> = xdokku["domains"]
            .as_array()
            .map(|d| d.iter().map(|d| d.as_str().unwrap()).collect())
            .unwrap_or_default();
        let domains = h.report("domains", app);
        let have_domains: BTreeSet<&str> = domains["app-vhosts"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        checked.domains += want_domains.len();
        if !want_domains.is_empty() && have_domains != want_domains {
            problem(format!(
                "app `{app}`: domains {have_domains:?}, want {want_domains:?}"
            ));
        }
        if xdokku["letsencrypt"] == Value::Bool(true) {
            checked.letsencrypt += 1;
            let active = h.read(&["letsencrypt:active", app]);
            if active.trim() != "true" {
                problem(format!("app `{app}`: letsencrypt:active says {active:?}"));
            }
        }

        // Scale: one-shot jobs keep no process, replicas are honoured.
        let state = xdokku["state"].as_str();
        let completed = services
            .values()
            .any(|s| s["depends_on"][svc]["condition"] == "service_completed_successfully");
        let want_scale = if state == Some("one-shot")
            || state == Some("stopped")
            || (state.is_none() && completed)
        {
            Some(0)
        } else {
            spec["deploy"]["replicas"]
                .as_u64()
                .or_else(|| spec["scale"].as_u64())
        };
        checked.one_shots += usize::from(want_scale == Some(0));
        if let Some(n) = want_scale {
            let scale = h.json(&["ps:scale", app, "--format", "json"]);
            let web = scale
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["process_type"] == "web")
                .map_or(0, |p| p["quantity"].as_u64().unwrap());
            if web != n {
                problem(format!("app `{app}`: web scale {web}, want {n}"));
            }
        }
    }

    // Second apply: nothing to do, nothing mutated.
    let before = h.calls().len();
    let o = h.compose(&["apply", "-f", file]);
    let out = text(&o);
    if !o.status.success() || !out.contains("up to date") {
        problem(format!("second apply is not \"up to date\":\n{out}"));
    }
    let again: Vec<Value> = h
        .calls_since(before)
        .into_iter()
        .filter(|c| c["depth"] == 0)
        .collect();
    let mutations: Vec<String> = again
        .iter()
        .filter(|c| mutating(c))
        .map(|c| c["argv"].to_string())
        .collect();
    if !mutations.is_empty() {
        problem(format!(
            "the second apply ran mutating commands:\n{}",
            mutations.join("\n")
        ));
    }
    if again.is_empty() {
        problem("the second apply did not read the host".into());
    }
    problems
}

#[test]
fn every_example_applies_to_a_fresh_sandbox_and_reapplies_as_a_noop() {
    let dirs = examples();
    assert!(dirs.len() >= 5, "at least five examples, found {dirs:?}");
    let mut checked = Checked::default();
    let problems: Vec<String> = dirs
        .iter()
        .flat_map(|d| check_example(d, &mut checked))
        .collect();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    // The examples between them exercise every kind of check.
    let Checked {
        datastores,
        port_maps,
        proxy_ports,
        domains,
        letsencrypt,
        one_shots,
    } = checked;
    assert!(
        datastores > 0
            && port_maps > 0
            && proxy_ports > 0
            && domains > 0
            && letsencrypt > 0
            && one_shots > 0,
        "{checked:?}"
    );
}
