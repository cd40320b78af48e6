//! Hostile input for the loader's front end (issue #2): each case must end in a clear error or
//! a correct result, within bounded time and memory, never a panic or a hang. Times and sizes
//! are printed (run with `--nocapture`), never asserted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use dokku_compose::compose::interpolate::{self, MAX_INTERPOLATED_BYTES};
use dokku_compose::compose::yaml::{
    self, MAX_ALIAS_BYTES, MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES,
};
use dokku_compose::compose::{dotenv, Node};

use crate::support::shared_dir;

fn file() -> &'static Path {
    Path::new("/stack/compose.yml")
}

fn parse_err(src: &str) -> yaml::YamlError {
    yaml::parse(src, file()).expect_err("hostile input must be rejected")
}

/// `levels` alias levels of `fanout` aliases each: `fanout^levels` leaves.
fn laughs(levels: usize, fanout: usize) -> String {
    let mut src = String::from("x-l0: &l0 {k: v}\n");
    for level in 1..=levels {
        let items = vec![format!("*l{}", level - 1); fanout].join(", ");
        src.push_str(&format!("x-l{level}: &l{level} [{items}]\n"));
    }
    src.push_str("services:\n  svc:\n    image: alpine\n");
    src
}

fn count_nodes(node: &Node) -> usize {
    1 + match node {
        Node::Seq(items) => items.iter().map(count_nodes).sum(),
        Node::Map(m) => m.values().map(count_nodes).sum(),
        Node::Tagged(_, inner) => count_nodes(inner),
        _ => 0,
    }
}

#[test]
fn billion_laughs_is_refused_quickly_with_a_clear_error() {
    let start = Instant::now();
    let err = parse_err(&laughs(9, 10));
    println!("billion laughs refused in {:?}", start.elapsed());
    assert!(err.message.contains("excessive aliasing"), "{err}");
    assert!(err.message.contains(&MAX_ALIAS_NODES.to_string()), "{err}");
    assert!(
        err.message
            .starts_with("failed to parse /stack/compose.yml: line "),
        "{err}"
    );
}

#[test]
fn a_large_anchored_string_aliased_many_times_is_refused() {
    let mut src = format!("x-big: &big \"{}\"\nx-copies:\n", "x".repeat(1 << 20));
    for _ in 0..100 {
        src.push_str("  - *big\n");
    }
    let err = parse_err(&src);
    assert!(
        err.message.contains(&format!(
            "more than {MAX_ALIAS_BYTES} bytes of text copied by aliases"
        )),
        "{err}"
    );
    // Fewer copies are fine.
    let few = src.lines().take(12).collect::<Vec<_>>().join("\n");
    assert_eq!(
        yaml::parse(&few, file()).unwrap()[0].as_map().unwrap()["x-copies"]
            .as_seq()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn the_reference_alias_bomb_case_is_expanded_like_the_reference() {
    // compose-go__loader-reset_test-go-testaliasbombprevented: v2.40.3 expands 3^10 leaves.
    let case = shared_dir()
        .join("compose-corpus/compose-go__loader-reset_test-go-testaliasbombprevented/compose.yml");
    let src = std::fs::read(&case).expect("the corpus is next to the project (../shared)");
    let start = Instant::now();
    let docs = yaml::parse_bytes(&src, &case).unwrap_or_else(|e| panic!("{e}"));
    println!("reference alias bomb expanded in {:?}", start.elapsed());
    let doc = docs[0].as_map().unwrap();
    let mut leaves = &doc["x-k"];
    let mut fanout = Vec::new();
    while let Node::Seq(items) = leaves {
        fanout.push(items.len());
        leaves = &items[0];
    }
    assert_eq!(fanout, vec![3; 10]);
    assert_eq!(leaves.to_json(), serde_json::json!({"k": "v"}));
    assert!(count_nodes(&docs[0]) < MAX_ALIAS_NODES);
}

#[test]
fn deep_block_nesting_hits_the_depth_limit() {
    let mut src = String::new();
    for level in 0..MAX_DEPTH + 10 {
        src.push_str(&" ".repeat(level));
        src.push_str("a:\n");
    }
    let err = parse_err(&src);
    assert!(
        err.message
            .contains(&format!("deeper than the limit of {MAX_DEPTH} levels")),
        "{err}"
    );
    assert!(err.line.is_some());
}

#[test]
fn deep_flow_nesting_is_an_error_not_a_stack_overflow() {
    for open in ["[", "{a: "] {
        let src = format!("x: {}", open.repeat(100_000));
        let err = parse_err(&src);
        assert!(
            err.message
                .starts_with("failed to parse /stack/compose.yml: "),
            "{err}"
        );
    }
}

#[test]
fn nesting_through_aliases_is_bounded_too() {
    // Each level nests the previous anchor one deeper: depth grows through aliases only.
    let mut src = String::from("x0: &a0 [1]\n");
    for level in 1..=MAX_DEPTH + 5 {
        src.push_str(&format!("x{level}: &a{level} [*a{}]\n", level - 1));
    }
    let err = parse_err(&src);
    assert!(err.message.contains("deeper than the limit"), "{err}");
}

#[test]
fn depth_within_the_limit_is_accepted() {
    let src = format!("x: {}1{}\n", "[".repeat(100), "]".repeat(100));
    assert_eq!(yaml::parse(&src, file()).unwrap().len(), 1);
}

#[test]
fn files_over_the_size_limit_are_refused_before_parsing() {
    let big = vec![b'#'; MAX_FILE_BYTES + 1];
    let start = Instant::now();
    let err = yaml::parse_bytes(&big, file()).unwrap_err();
    println!("oversized input refused in {:?}", start.elapsed());
    assert_eq!(err.message, format!("failed to parse /stack/compose.yml: file is larger than the limit of {MAX_FILE_BYTES} bytes"));

    // A 50 MB file on disk is refused without reading it all.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compose.yml");
    let handle = std::fs::File::create(&path).unwrap();
    handle.set_len(50 * 1024 * 1024).unwrap();
    let err = yaml::parse_file(&path).unwrap().unwrap_err();
    assert!(err.message.contains("larger than the limit"), "{err}");
}

/// A generated stack of `services` services, with an anchor merged into each.
fn stack(services: usize) -> String {
    let mut src = String::from(
        "x-common: &common\n  restart: unless-stopped\n  labels:\n    team: core\nservices:\n",
    );
    for i in 0..services {
        src.push_str(&format!(
            "  svc{i}:\n    <<: *common\n    image: registry.example.com/app-{i}:1.{}\n    environment:\n      KEY_{i}: \"value {i}\"\n      PORT: {}\n    ports:\n      - \"{}:80\"\n",
            i % 100,
            8000 + i % 1000,
            10000 + i,
        ));
    }
    src
}

#[test]
fn a_large_file_parses_correctly() {
    // Debug builds parse about ten times slower than release ones; 3 MB keeps CI quick. The
    // release numbers for 15 MB and 50 MB are in docs/loader.md.
    let src = stack(15_000);
    let start = Instant::now();
    let docs = yaml::parse(&src, file()).unwrap();
    println!(
        "{} bytes, 15000 services parsed in {:?}",
        src.len(),
        start.elapsed()
    );
    let services = docs[0].as_map().unwrap()["services"].as_map().unwrap();
    assert_eq!(services.len(), 15_000);
    assert_eq!(
        services["svc14999"].to_json(),
        serde_json::json!({
            "image": "registry.example.com/app-14999:1.99",
            "restart": "unless-stopped",
            "labels": {"team": "core"},
            "environment": {"KEY_14999": "value 14999", "PORT": 8999},
            "ports": ["24999:80"],
        })
    );
}

#[test]
fn invalid_utf8_names_the_file_line_and_byte_offset() {
    let err = yaml::parse_bytes(b"services:\n  web:\n    image: ng\xffinx\n", file()).unwrap_err();
    assert_eq!(
        err.message,
        "failed to parse /stack/compose.yml: yaml: line 3: invalid UTF-8 at byte offset 30"
    );
    assert_eq!(err.line, Some(3));
}

#[test]
fn nul_and_control_bytes_name_the_file_line_and_byte_offset() {
    let err = yaml::parse_bytes(b"services:\n  web:\n    image: a\0b\n", file()).unwrap_err();
    assert_eq!(err.message, "failed to parse /stack/compose.yml: yaml: line 3: control characters are not allowed (U+0000 at byte offset 29)");
    let err = yaml::parse("a: \u{1b}[31m\n", file()).unwrap_err();
    assert!(err.message.contains("U+001B at byte offset 3"), "{err}");
    // A byte-order mark is fine.
    assert_eq!(
        yaml::parse_bytes(b"\xef\xbb\xbfa: 1\n", file()).unwrap()[0].to_json(),
        serde_json::json!({"a": 1})
    );
}

#[test]
fn non_string_keys_are_rejected_with_the_reference_text() {
    let case =
        shared_dir().join("compose-corpus/compose-go__loader-loader_test-go-testnonstringkeys");
    let src = std::fs::read(case.join("compose.yml"))
        .expect("the corpus is next to the project (../shared)");
    let err = yaml::parse_bytes(&src, &case.join("compose.yml")).unwrap_err();
    let want = std::fs::read_to_string(case.join("expected.stderr")).unwrap();
    assert!(err.message.starts_with(want.trim_end()), "{err} vs {want}");
    for (src, want) in [
        ("? [a]\n: x\n", "invalid map key"),
        ("? {a: 1}\n: x\n", "invalid map key"),
        ("1: x\n", "non-string key at top level: 1"),
    ] {
        let err = parse_err(src);
        assert!(err.message.contains(want), "{src}: {err}");
    }
}

#[test]
fn interpolation_cannot_blow_up_a_value() {
    let big = "x".repeat(1 << 20);
    let lookup = |name: &str| (name == "BIG").then(|| big.clone());
    let err =
        interpolate::interpolate_str(&"${BIG}".repeat(8), &lookup, &mut Vec::new()).unwrap_err();
    assert!(
        err.message
            .contains(&format!("limit of {MAX_INTERPOLATED_BYTES} bytes")),
        "{}",
        err.message
    );
    // The same through a document: the error names the key path.
    let doc = yaml::parse(
        "services:\n  a:\n    environment:\n      X: ${BIG}${BIG}${BIG}${BIG}${BIG}\n",
        file(),
    )
    .unwrap()
    .remove(0);
    let err = interpolate::interpolate_node(doc, &lookup, &mut Vec::new()).unwrap_err();
    assert!(
        err.message
            .starts_with("error while interpolating services.a.environment.X: "),
        "{}",
        err.message
    );
}

#[test]
fn interpolation_growth_over_a_whole_document_is_bounded() {
    let big = "x".repeat(3 << 20);
    let lookup = |name: &str| (name == "BIG").then(|| big.clone());
    let mut src = String::from("x-many:\n");
    for i in 0..40 {
        src.push_str(&format!("  k{i}: ${{BIG}}\n"));
    }
    let doc = yaml::parse(&src, file()).unwrap().remove(0);
    let err = interpolate::interpolate_node(doc, &lookup, &mut Vec::new()).unwrap_err();
    assert!(
        err.message
            .contains("grows the document by more than the limit"),
        "{}",
        err.message
    );
}

#[test]
fn long_lines_of_expressions_are_linear_not_quadratic() {
    let lookup = |name: &str| (name == "A").then(|| "a".to_string());
    let template = "${A:-x}".repeat(200_000);
    let start = Instant::now();
    let out = interpolate::interpolate_str(&template, &lookup, &mut Vec::new()).unwrap();
    println!(
        "{} bytes of `${{A:-x}}` interpolated in {:?}",
        template.len(),
        start.elapsed()
    );
    assert_eq!(out, "a".repeat(200_000));
}

#[test]
fn hostile_env_files_are_errors_or_values() {
    let path = PathBuf::from("/stack/.env");
    let lookup = |_: &str| None;
    let unterminated = format!("A=\"never closed\n{}", "B=1\n".repeat(1000));
    let err = dotenv::parse(&unterminated, &path, &lookup).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to read /stack/.env: line 1002: unterminated quoted value \"never closed"
    );
    assert!(
        matches!(
            err.problem,
            dotenv::DotenvProblem::UnterminatedQuote { line: 1002, .. }
        ),
        "{err:?}"
    );
    let nested = format!("A={}x{}\n", "${B:-".repeat(1000), "}".repeat(1000));
    let err = dotenv::parse(&nested, &path, &lookup).unwrap_err();
    assert!(
        matches!(err.problem, dotenv::DotenvProblem::Interpolation(_))
            && err.to_string().contains("nests deeper than the limit"),
        "{err}"
    );
    let long = format!("A={}\n", "v".repeat(1 << 20));
    assert_eq!(
        dotenv::parse(&long, &path, &lookup).unwrap()[0]
            .1
            .as_ref()
            .map(String::len),
        Some(1 << 20)
    );
}

/// Every compose file of the corpus: the reference's YAML errors are reproduced word for word
/// (after the file path), and every other file parses.
#[test]
fn corpus_files_parse_like_the_reference() {
    let corpus = shared_dir().join("compose-corpus");
    let root = corpus
        .canonicalize()
        .expect("the corpus is next to the project (../shared)");
    let mut checked = 0;
    for case in std::fs::read_dir(&root).unwrap() {
        let case = case.unwrap().path();
        let Ok(files) = std::fs::read_to_string(case.join("files")) else {
            continue;
        };
        let stderr = std::fs::read_to_string(case.join("expected.stderr")).unwrap_or_default();
        let error_line = stderr
            .lines()
            .find(|l| !l.starts_with("level="))
            .unwrap_or_default()
            .replace("@CORPUS_ROOT@", &root.to_string_lossy());
        for name in files.lines().filter(|l| !l.is_empty()) {
            let path = case.join(name);
            let src = std::fs::read(&path).unwrap();
            let result = yaml::parse_bytes(&src, &path);
            let yaml_error = error_line.starts_with(&format!("failed to parse {}", path.display()))
                || error_line.starts_with("non-string key");
            match result {
                Err(e) if yaml_error => assert!(
                    e.message.starts_with(&error_line),
                    "{}: {e}\nwanted: {error_line}",
                    path.display()
                ),
                Err(e) => panic!("{}: {e}", path.display()),
                Ok(_) => assert!(
                    !yaml_error,
                    "{}: parsed, the reference says: {error_line}",
                    path.display()
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} corpus files found");
}

// ---------------------------------------------------------------------------------------------
// Not hostile, but the front end's own differential check: every `interp__NN` corpus case run
// through `Environment::resolve` + `yaml::parse_bytes` + `interpolate_node` only. Accepted
// cases must give exactly the reference's warnings; rejected cases whose error comes from the
// front end must give exactly its error text.

fn go_quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The front end's result for a case: its warnings (as the reference logs them) or its error.
fn front_end(case: &Path) -> (Vec<String>, Option<String>) {
    use dokku_compose::compose::environment::Environment;
    let mut process = std::collections::BTreeMap::from([
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ("HOME".to_string(), "/home/corpus".to_string()),
    ]);
    if let Ok(env) = std::fs::read_to_string(case.join("env")) {
        for line in env.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('=').unwrap();
            process.insert(k.to_string(), v.to_string());
        }
    }
    let env = match Environment::resolve(&process, case, &[]) {
        Ok(env) => env,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut vars = env.vars.clone();
    vars.insert(
        "COMPOSE_PROJECT_NAME".into(),
        case.file_name().unwrap().to_string_lossy().into_owned(),
    );
    let lookup = |k: &str| vars.get(k).cloned();
    let mut warnings = env.warnings.clone();
    let files = std::fs::read_to_string(case.join("files")).unwrap();
    for name in files.lines().filter(|l| !l.is_empty()) {
        let path = case.join(name);
        let docs = match yaml::parse_bytes(&std::fs::read(&path).unwrap(), &path) {
            Ok(docs) => docs,
            Err(e) => return (Vec::new(), Some(e.to_string())),
        };
        for doc in docs {
            if let Err(e) = interpolate::interpolate_node(doc, &lookup, &mut warnings) {
                return (Vec::new(), Some(e.to_string()));
            }
        }
    }
    let mut lines: Vec<String> = warnings
        .iter()
        .map(|w| format!("level=warning msg={}", go_quoted(&w.message)))
        .collect();
    lines.sort();
    (lines, None)
}

/// The compose corpus (../shared/compose-corpus) and its cases, each with whether it is an
/// interpolation case (`interp__*`).
fn corpus_cases() -> (PathBuf, Vec<(PathBuf, bool)>) {
    let corpus = shared_dir()
        .join("compose-corpus")
        .canonicalize()
        .expect("the corpus is next to the project (../shared)");
    let cases = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|case| {
            let case = case.unwrap().path();
            let interp = case
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("interp__");
            (case, interp)
        })
        .collect();
    (corpus, cases)
}

/// What the reference did with a corpus case: whether it accepted it, and its stderr (with the
/// corpus's path in place).
fn reference_result(corpus: &Path, case: &Path) -> (bool, String) {
    let stderr = std::fs::read_to_string(case.join("expected.stderr"))
        .unwrap_or_default()
        .replace("@CORPUS_ROOT@", &corpus.to_string_lossy());
    let accepted = std::fs::read_to_string(case.join("expected.exit"))
        .unwrap()
        .trim()
        == "0";
    (accepted, stderr)
}

#[test]
fn interp_cases_match_the_reference_in_the_front_end() {
    let (corpus, cases) = corpus_cases();
    let (mut checked, mut errors, mut warned) = (0, 0, 0);
    for (case, interp) in cases {
        if !interp {
            continue;
        }
        let (accepted, stderr) = reference_result(&corpus, &case);
        let (warnings, error) = front_end(&case);
        let name = case.display();
        if accepted {
            assert_eq!(error, None, "{name}");
            let expected: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("level=warning"))
                .collect();
            assert_eq!(warnings, expected, "{name}");
            warned += usize::from(!expected.is_empty());
        } else {
            let expected = stderr
                .lines()
                .filter(|l| !l.starts_with("level="))
                .collect::<Vec<_>>()
                .join("\n");
            let ours = [
                "error while interpolating",
                "invalid interpolation format",
                "failed to read",
                "failed to parse",
            ];
            if ours.iter().any(|p| expected.starts_with(p)) {
                assert_eq!(error.as_deref(), Some(expected.as_str()), "{name}");
                errors += 1;
            }
        }
        checked += 1;
    }
    assert_eq!(
        (checked, errors, warned),
        (60, 15, 5),
        "all interp cases, every rejected one, those with warnings"
    );
}

/// The other corpus cases through the front end alone: its warnings are among the reference's
/// (which also has the loader's own), and errors that are the front end's are reproduced.
#[test]
fn other_corpus_cases_agree_with_the_front_end() {
    let (corpus, cases) = corpus_cases();
    let mut compared = 0;
    for (case, interp) in cases {
        if !case.join("files").exists() || interp {
            continue;
        }
        let (accepted, stderr) = reference_result(&corpus, &case);
        let (warnings, error) = front_end(&case);
        let name = case.display();
        let expected_error = stderr
            .lines()
            .filter(|l| !l.starts_with("level="))
            .collect::<Vec<_>>()
            .join("\n");
        match error {
            Some(e) => {
                assert!(!accepted, "{name}: {e}");
                assert!(
                    expected_error.starts_with(&e) || e.starts_with(&expected_error),
                    "{name}: {e}\nwanted: {expected_error}"
                );
            }
            None if accepted => {
                let mut expected: Vec<&str> = stderr
                    .lines()
                    .filter(|l| l.starts_with("level=warning"))
                    .collect();
                for w in &warnings {
                    let at = expected.iter().position(|e| e == w);
                    assert!(at.is_some(), "{name}: unexpected warning {w}");
                    expected.remove(at.unwrap_or_default());
                }
            }
            None => {
                let ours = ["error while interpolating", "invalid interpolation format"];
                assert!(
                    !ours.iter().any(|p| expected_error.starts_with(p)),
                    "{name}: the reference fails in interpolation: {expected_error}"
                );
            }
        }
        compared += 1;
    }
    assert!(compared > 130, "only {compared} cases");
}

/// `include` and `extends.file` paths that leave the project directory, through `..` or a
/// symlink, are followed as the reference follows them, and each is reported (the `env_file`
/// case is in tests/cli.rs).
#[test]
fn include_and_extends_outside_the_project_directory_are_allowed_but_reported() {
    use dokku_compose::compose::{self, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        dir.path().join("included.yaml"),
        "services:\n  inc:\n    image: busybox\n",
    )
    .unwrap();
    std::fs::write(
        elsewhere.join("base.yaml"),
        "services:\n  base:\n    image: busybox\n    environment: {FROM: base}\n",
    )
    .unwrap();
    std::fs::write(
        elsewhere.join("linked.yaml"),
        "services:\n  lnk:\n    image: alpine\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(elsewhere.join("linked.yaml"), project.join("linked.yaml")).unwrap();
    std::fs::write(
        project.join("compose.yaml"),
        "include:\n  - ../included.yaml\n  - linked.yaml\nservices:\n  web:\n    extends: {file: ../elsewhere/base.yaml, service: base}\n",
    )
    .unwrap();
    let opts = LoadOptions {
        files: vec![PathBuf::from("compose.yaml")],
        project_name: Some("p".into()),
        working_dir: project.clone(),
        ..LoadOptions::default()
    };
    let loaded = compose::load(&opts).expect("paths outside the project directory are allowed");
    let json = compose::output::to_json(&loaded.project, false);
    assert_eq!(
        json["services"]["web"]["environment"],
        serde_json::json!({"FROM": "base"})
    );
    assert_eq!(json["services"]["inc"]["image"], "busybox");
    assert_eq!(json["services"]["lnk"]["image"], "alpine");
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    for key in [
        "`include[0]`",
        "`include[1]`",
        "`services.web.extends.file`",
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(key) && w.contains("outside the project directory")),
            "no warning for {key}: {warnings:?}"
        );
    }
}

/// Issue #13: in the plugin's jail the same paths are refused, each naming its key, and so
/// are env files and label files that leave the pushed tree, devices, FIFOs and files over
/// the size limit. Inside the tree, links are followed.
#[test]
fn issue_13_the_jail_refuses_every_file_outside_the_pushed_tree() {
    use dokku_compose::compose::{self, LoadOptions};
    use dokku_compose::confine::Jail;
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("conf")).unwrap();
    std::fs::write(dir.path().join("secret.env"), "STOLEN=yes\n").unwrap();
    std::fs::write(
        dir.path().join("included.yaml"),
        "services:\n  inc:\n    image: busybox\n",
    )
    .unwrap();
    std::fs::write(project.join("conf/app.env"), "A=1\n").unwrap();
    std::os::unix::fs::symlink("conf/app.env", project.join("in.env")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.env"), project.join("out.env")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", project.join("zero.env")).unwrap();
    let load = |compose: &str, limit: u64| {
        std::fs::write(project.join("compose.yaml"), compose).unwrap();
        let opts = LoadOptions {
            files: vec![PathBuf::from("compose.yaml")],
            project_name: Some("p".into()),
            working_dir: project.clone(),
            jail: Some(Jail {
                root: project.clone(),
                max_file_size: limit,
            }),
            ..LoadOptions::default()
        };
        compose::load(&opts)
            .map(|l| compose::output::to_json(&l.project, false))
            .map_err(|e| e.to_string())
    };
    let ok = load(
        "services:\n  web:\n    image: nginx\n    env_file: in.env\n",
        100,
    )
    .unwrap();
    assert_eq!(
        ok["services"]["web"]["environment"]["A"], "1",
        "a link inside the tree is followed"
    );
    let cases = [
        ("env_file: out.env", "`services.web.env_file[0]`: `out.env`: `out.env` is a symlink to"),
        ("env_file: ../secret.env", "`services.web.env_file[0]`: `../secret.env` is outside the pushed tree"),
        ("env_file: /etc/passwd", "`services.web.env_file[0]`: `/etc/passwd` is outside the pushed tree"),
        ("env_file: zero.env", "`services.web.env_file[0]`: `zero.env`: `zero.env` is a symlink to `/dev/zero`, outside the pushed tree"),
        ("label_file: out.env", "`services.web.label_file[0]`: `out.env`: `out.env` is a symlink to"),
        ("extends: {file: ../included.yaml, service: inc}", "`services.web.extends.file`: `../included.yaml` is outside the pushed tree"),
    ];
    for (line, want) in cases {
        let err = load(
            &format!("services:\n  web:\n    image: nginx\n    {line}\n"),
            100,
        )
        .unwrap_err();
        assert!(err.contains(want), "{line}: {err}");
        assert!(!err.contains("STOLEN"), "{err}");
    }
    let err = load(
        "include:\n  - ../included.yaml\nservices:\n  web:\n    image: nginx\n",
        100,
    )
    .unwrap_err();
    assert!(
        err.contains("`include[0]`: `../included.yaml` is outside the pushed tree"),
        "{err}"
    );
    std::fs::write(
        project.join("conf/big.env"),
        format!("B={}\n", "x".repeat(200)),
    )
    .unwrap();
    let err = load(
        "services:\n  web:\n    image: nginx\n    env_file: conf/big.env\n",
        100,
    )
    .unwrap_err();
    assert!(
        err.contains("`services.web.env_file[0]`: `conf/big.env` is larger than 100 bytes"),
        "{err}"
    );
    nix::unistd::mkfifo(&project.join("fifo.env"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let err = load(
        "services:\n  web:\n    image: nginx\n    env_file: fifo.env\n",
        100,
    )
    .unwrap_err();
    assert!(
        err.contains("`fifo.env` is a FIFO, not a regular file"),
        "{err}"
    );
    std::os::unix::fs::symlink(dir.path().join("secret.env"), project.join(".env")).unwrap();
    let err = load("services:\n  web:\n    image: nginx\n", 100).unwrap_err();
    assert!(
        err.contains("`.env`: `.env`: `.env` is a symlink to"),
        "{err}"
    );
}
