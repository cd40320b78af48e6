//! Property tests (proptest, on stable) for the front end's parsers: arbitrary input never
//! panics and always finishes, and generated valid input round-trips. The default case count
//! keeps CI to seconds; set `PROPTEST_CASES` to run longer.

use std::collections::BTreeMap;
use std::path::Path;

use dokku_compose::compose::{dotenv, interpolate, yaml, Node};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn lookup(name: &str) -> Option<String> {
    match name {
        "A" => Some("alpha".into()),
        "EMPTY" => Some(String::new()),
        "DOLLAR" => Some("$x".into()),
        _ => None,
    }
}

/// Text made mostly of the characters that matter to the parsers.
fn syntaxy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("$".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just(":-".to_string()),
            Just("?".to_string()),
            Just("+".to_string()),
            Just("A".to_string()),
            Just("\n".to_string()),
            Just("\"".to_string()),
            Just("'".to_string()),
            Just("\\".to_string()),
            Just("#".to_string()),
            Just("=".to_string()),
            Just(" ".to_string()),
            Just("&a".to_string()),
            Just("*a".to_string()),
            Just("<<".to_string()),
            Just("- ".to_string()),
            Just(": ".to_string()),
            Just("!reset".to_string()),
            "[a-z0-9_]{1,3}",
            any::<char>().prop_map(String::from),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

/// JSON values that are also YAML with the same meaning (JSON is a subset of YAML 1.2).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1.0e9f64..1.0e9).prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::String),
        "[^\\p{C}\\u{85}\\u{2028}\\u{2029}]{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.-]{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn as_json(node: &Node) -> serde_json::Value {
    node.to_json()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn yaml_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = yaml::parse_bytes(&bytes, Path::new("fuzz.yml"));
    }

    #[test]
    fn yaml_never_panics_on_yamlish_text(text in syntaxy()) {
        let _ = yaml::parse(&text, Path::new("fuzz.yml"));
    }

    #[test]
    fn yaml_reads_json_documents_as_their_values(value in json_value()) {
        let doc = serde_json::json!({"x-fuzz": value});
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let parsed = yaml::parse(&text, Path::new("fuzz.yml")).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        let back = as_json(&parsed[0]);
        // Floats may come back as integers when they are whole (`1.0` → 1.0 stays a float).
        prop_assert_eq!(back, doc);
    }

    #[test]
    fn interpolation_never_panics(template in syntaxy()) {
        let _ = interpolate::interpolate_str(&template, &lookup, &mut Vec::new());
    }

    #[test]
    fn escaped_text_interpolates_to_itself(text in "\\PC{0,40}") {
        let escaped = text.replace('$', "$$");
        let out = interpolate::interpolate_str(&escaped, &lookup, &mut Vec::new()).unwrap();
        prop_assert_eq!(out, text);
    }

    #[test]
    fn defaults_apply_to_unset_names(name in "[A-Z_][A-Z0-9_]{0,6}X", default in "[a-z0-9 ./:]{0,12}") {
        let mut warnings = Vec::new();
        let out = interpolate::interpolate_str(&format!("<${{{name}:-{default}}}>"), &lookup, &mut warnings).unwrap();
        prop_assert_eq!(out, format!("<{default}>"));
        prop_assert!(warnings.is_empty());
    }

    #[test]
    fn dotenv_never_panics(text in syntaxy()) {
        let _ = dotenv::parse(&text, Path::new(".env"), &lookup);
        let _ = dotenv::parse_raw(&text, Path::new(".env"), &lookup);
    }

    #[test]
    fn dotenv_round_trips_quoted_values(entries in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,10}", "[^'\\\\\\x00]{0,20}", 0..8)) {
        let text: String = entries.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
        let mut vars = BTreeMap::new();
        dotenv::parse_into(&text, Path::new(".env"), &lookup, &mut vars, &mut Vec::new()).unwrap();
        prop_assert_eq!(vars, entries);
    }

    #[test]
    fn raw_env_files_round_trip(entries in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,10}", "[^\\n\\r]{0,20}", 0..8)) {
        let text: String = entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let parsed: BTreeMap<String, String> = dotenv::parse_raw(&text, Path::new("raw.env"), &lookup).unwrap().into_iter().collect();
        prop_assert_eq!(parsed, entries);
    }
}

/// Strings made of what matters to Dokku's option splitting: blanks, quotes, shell
/// characters, flags, and the characters valid values are made of.
fn option_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(" ".to_string()),
            Just(" --privileged".to_string()),
            Just("-v /:/host".to_string()),
            Just("--pid=host".to_string()),
            Just("-".to_string()),
            Just("'".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("$(id)".to_string()),
            Just(";".to_string()),
            Just("#".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            Just("=".to_string()),
            Just(":".to_string()),
            Just("/".to_string()),
            Just(",".to_string()),
            Just(".".to_string()),
            "[a-zA-Z0-9_]{1,6}",
            "[0-9]{1,4}",
            any::<char>().prop_map(String::from),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

/// A compose service holding `s` in one key that becomes a docker option, and the docker
/// arguments that option must become: `(key, service JSON, flag, intended value)`.
fn option_case(which: usize, s: &str) -> (serde_json::Value, &'static str, String) {
    use serde_json::json;
    let image = |extra: serde_json::Value| {
        let mut svc = json!({"image": "nginx:1"});
        svc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        svc
    };
    let build = |extra: serde_json::Value| {
        let mut svc = json!({"build": {"context": "."}});
        svc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        svc
    };
    let caps = s.to_ascii_uppercase();
    let cap = caps.strip_prefix("CAP_").unwrap_or(&caps).to_owned();
    match which {
        0 => (
            image(json!({"stop_signal": s})),
            "--stop-signal",
            s.to_owned(),
        ),
        1 => (image(json!({"dns": [s]})), "--dns", s.to_owned()),
        2 => (image(json!({"dns_opt": [s]})), "--dns-option", s.to_owned()),
        3 => (
            image(json!({"dns_search": s})),
            "--dns-search",
            s.to_owned(),
        ),
        4 => (
            image(json!({"extra_hosts": {"db": s}})),
            "--add-host",
            format!("db:{s}"),
        ),
        5 => (image(json!({"tmpfs": [s]})), "--tmpfs", s.to_owned()),
        6 => (
            image(json!({"group_add": [s]})),
            "--group-add",
            s.to_owned(),
        ),
        7 => (
            image(json!({"ulimits": {"nofile": {"soft": s, "hard": 10}}})),
            "--ulimit",
            format!("nofile={s}:10"),
        ),
        8 => (
            image(json!({"ulimits": {s: 5}})),
            "--ulimit",
            format!("{s}=5:5"),
        ),
        9 => (image(json!({"cpuset": s})), "--cpuset-cpus", s.to_owned()),
        10 => (
            image(json!({"cpu_shares": s})),
            "--cpu-shares",
            s.to_owned(),
        ),
        11 => (
            image(json!({"oom_score_adj": s})),
            "--oom-score-adj",
            s.to_owned(),
        ),
        12 => (image(json!({"pid": s})), "--pid", s.to_owned()),
        13 => (image(json!({"network_mode": s})), "--network", s.to_owned()),
        14 => (image(json!({"ipc": s})), "--ipc", s.to_owned()),
        15 => (image(json!({"userns_mode": s})), "--userns", s.to_owned()),
        16 => (image(json!({"cap_add": [s]})), "--cap-add", cap),
        17 => (
            image(json!({"security_opt": [s]})),
            "--security-opt",
            s.to_owned(),
        ),
        18 => (
            image(json!({"sysctls": {"net.core.somaxconn": s}})),
            "--sysctl",
            format!("net.core.somaxconn={s}"),
        ),
        19 => (image(json!({"devices": [s]})), "--device", s.to_owned()),
        20 => (
            image(json!({"volumes": [{"type": "tmpfs", "target": s}]})),
            "--tmpfs",
            s.to_owned(),
        ),
        21 => (
            image(json!({"networks": {"default": {"aliases": [s]}}})),
            "--network-alias",
            s.to_owned(),
        ),
        22 => (build(json!({"user": s})), "--user", s.to_owned()),
        23 => (build(json!({"working_dir": s})), "--workdir", s.to_owned()),
        24 => (
            build(json!({"entrypoint": [s]})),
            "--entrypoint",
            s.to_owned(),
        ),
        25 => (
            json!({"build": {"context": ".", "args": {"ARG": s}}}),
            "--build-arg",
            format!("ARG={s}"),
        ),
        26 => (
            json!({"build": {"context": ".", "args": {s: "1"}}}),
            "--build-arg",
            format!("{s}=1"),
        ),
        27 => (
            json!({"build": {"context": ".", "target": s}}),
            "--target",
            s.to_owned(),
        ),
        28 => (
            image(json!({"device_cgroup_rules": [s]})),
            "--device-cgroup-rule",
            s.to_owned(),
        ),
        _ => (
            image(json!({"mem_swappiness": s})),
            "--memory-swappiness",
            s.to_owned(),
        ),
    }
}

const OPTION_CASES: usize = 30;

/// A value each case accepts, so that mutations of it reach the interesting boundary.
const OPTION_SAMPLES: [&str; OPTION_CASES] = [
    "SIGTERM",
    "1.1.1.1",
    "ndots:2",
    "example.com",
    "10.0.0.2",
    "/run:size=64k",
    "audio",
    "1024",
    "nofile",
    "0-3",
    "512",
    "-500",
    "host",
    "none",
    "shareable",
    "host",
    "cap_sys_admin",
    "apparmor:unconfined",
    "1024",
    "/dev/fuse:/dev/fuse:rwm",
    "/cache",
    "api",
    "1000:1000",
    "/srv/app",
    "/entry.sh",
    "hello world",
    "RUST_VERSION",
    "builder",
    "c 1:3 mr",
    "60",
];

/// A case and its value: arbitrary text, the case's valid sample, or the sample with
/// arbitrary text put in at some place.
fn option_input() -> impl Strategy<Value = (usize, String)> {
    (
        0..OPTION_CASES,
        0..3usize,
        option_text(),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(which, mode, noise, at)| {
            let sample = OPTION_SAMPLES[which];
            let s = match mode {
                0 => noise,
                1 => sample.to_owned(),
                _ => {
                    let cut = sample
                        .char_indices()
                        .map(|(i, _)| i)
                        .chain([sample.len()])
                        .collect::<Vec<_>>();
                    let i = cut[at.index(cut.len())];
                    format!("{}{noise}{}", &sample[..i], &sample[i..])
                }
            };
            (which, s)
        })
}

proptest! {
    #![proptest_config(config())]

    /// Whatever a pusher writes in a key that becomes a docker option, the plan either refuses
    /// it, or every `docker-options:add` it emits becomes, split as Dokku splits it (shell
    /// words grouped at flags when stored, `xargs` at deploy), exactly the intended flag with
    /// the intended value, and nothing else.
    #[test]
    fn docker_option_values_are_refused_or_reach_docker_intact((which, s) in option_input()) {
        use dokku_compose::model::docker_opt::{dokku_argv, dokku_groups};
        use dokku_compose::model::{ConvertOptions, StackName};
        use dokku_compose::plan::{Options, PlanSettings};
        use dokku_compose::workflow;
        use dokku_compose::policy::Policy;
        use dokku_compose::state::DokkuState;

        let (svc, flag, value) = option_case(which, &s);
        let json = serde_json::json!({"name": "shop", "services": {"web": svc}});
        let all = Policy::from_names(["privileged,cap-add,devices,host-namespaces,host-path,docker-socket,security-opt,sysctls"]).unwrap();
        let opts = Options {
            convert: ConvertOptions { stack: StackName::sanitise("shop"), project_dir: "/src".into() },
            policy: all,
            settings: PlanSettings { source_rev: "0000000".into(), ..PlanSettings::default() },
        };
        let Ok(plan) = workflow::plan_compose_json(&json, &DokkuState::default(), &opts) else { return Ok(()) };
        let mut seen = false;
        for step in &plan.steps {
            let argv = &step.run.args;
            if argv.first().map(String::as_str) != Some("docker-options:add") {
                continue;
            }
            let option = argv[3..].join(" ");
            let groups = dokku_groups(&option).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(groups.len(), 1, "`{}` is stored by Dokku as {:?}", option, groups);
            let words = dokku_argv(&option).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&words, &groups[0]);
            if words == ["--network-alias", "web"] {
                continue; // the service's own name, always an alias
            }
            if words[0].split('=').next() == Some(flag) {
                let intended = [vec![flag.to_owned(), value.clone()], vec![format!("{flag}={value}")]];
                prop_assert!(intended.contains(&words), "{:?} from `{}` is not {:?}", words, s, intended[0]);
                seen = true;
            } else {
                prop_assert!(false, "unexpected docker option {:?} from `{}`", words, s);
            }
        }
        let _ = seen;
    }

    /// With the default policy nothing a rule guards reaches a plan, whatever the value.
    #[test]
    fn default_policy_plans_carry_no_guarded_flag((which, s) in option_input()) {
        use dokku_compose::model::docker_opt::{dokku_groups, parse_group};
        use dokku_compose::model::{ConvertOptions, StackName};
        use dokku_compose::plan::{Options, PlanSettings};
        use dokku_compose::workflow;
        use dokku_compose::policy::Policy;
        use dokku_compose::state::DokkuState;

        let (svc, _, _) = option_case(which, &s);
        let json = serde_json::json!({"name": "shop", "services": {"web": svc}});
        let opts = Options {
            convert: ConvertOptions { stack: StackName::sanitise("shop"), project_dir: "/src".into() },
            policy: Policy::default(),
            settings: PlanSettings { source_rev: "0000000".into(), ..PlanSettings::default() },
        };
        let Ok(plan) = workflow::plan_compose_json(&json, &DokkuState::default(), &opts) else { return Ok(()) };
        for step in plan.steps.iter().filter(|st| st.run.args.first().map(String::as_str) == Some("docker-options:add")) {
            let option = step.run.args[3..].join(" ");
            for g in dokku_groups(&option).map_err(|e| TestCaseError::fail(e.to_string()))? {
                let typed = parse_group(&g).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(typed.rule(), None, "`{}` from `{}`", option, s);
            }
        }
    }
}
