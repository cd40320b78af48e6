use super::*;
use crate::compose::error::{
    EnvFileProblem, Expected, ExtendsProblem, FileKind, FileProblem, IncludeProblem, KeyProblem,
    NoConfigFile, RefKind,
};

fn load_text(text: &str) -> Result<Loaded, ComposeError> {
    let file = PathBuf::from("/p/compose.yaml");
    load(&LoadOptions {
        files: vec![file.clone()],
        working_dir: PathBuf::from("/p"),
        texts: BTreeMap::from([(file, text.to_owned())]),
        ..LoadOptions::default()
    })
}

#[test]
fn a_short_syntax_error_names_the_file_and_the_key_path() {
    let e = load_text("services:\n  web:\n    image: x\n    ports: [\"80:abc\"]\n")
        .expect_err("an invalid port");
    assert!(
        matches!(&e, ComposeError::Syntax { path, .. } if path == "services.web.ports[0]"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "/p/compose.yaml: services.web.ports[0]: invalid containerPort: abc"
    );
    let e = load_text("services:\n  web:\n    image: x\n    mem_limit: 12x\n")
        .expect_err("an invalid size");
    assert_eq!(
        e.to_string(),
        "/p/compose.yaml: services.web.mem_limit: invalid size: '12x'"
    );
}

/// Loads `files` (path and text) from `/p`, with `opts` adjusted by `edit`.
fn load_with(
    files: &[(&str, &str)],
    edit: impl FnOnce(&mut LoadOptions),
) -> Result<Loaded, ComposeError> {
    let mut opts = LoadOptions {
        files: vec![PathBuf::from(files[0].0)],
        working_dir: PathBuf::from("/p"),
        texts: files
            .iter()
            .map(|(f, t)| (PathBuf::from(f), (*t).to_owned()))
            .collect(),
        ..LoadOptions::default()
    };
    edit(&mut opts);
    load(&opts)
}

/// A normalisation error carries the file, the exact key path and a typed reason.
#[test]
fn a_key_error_carries_file_path_and_reason() {
    let e = load_text(
        "services:\n  web:\n    image: x\n    secrets:\n      - source: s\n        mode: 9x\nsecrets:\n  s:\n    file: ./s\n",
    )
    .expect_err("a file mode that is not octal");
    match &e {
        ComposeError::Key {
            file: Some(file),
            path,
            problem: KeyProblem::InvalidFileMode(mode),
        } => {
            assert_eq!(file, Path::new("/p/compose.yaml"));
            assert_eq!(path, "services.web.secrets[0].mode");
            assert_eq!(mode, "9x");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "/p/compose.yaml: services.web.secrets[0].mode: invalid file mode \"9x\""
    );
    let e = load_text("services:\n  web:\n    image: x\n    environment: [[a]]\n")
        .expect_err("a list where a string is required");
    assert!(
        matches!(
            &e,
            ComposeError::Key {
                path,
                problem: KeyProblem::WrongType {
                    expected: Expected::String,
                    found: None,
                },
                ..
            } if path == "services.web.environment[0]"
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "/p/compose.yaml: services.web.environment[0] must be a string"
    );
}

/// Two values of one limit that disagree name the service's key path, without a file
/// (the project is merged from its files).
#[test]
fn distinct_limits_carry_both_keys() {
    let e = load_text(
        "services:\n  web:\n    image: x\n    mem_limit: 1g\n    deploy:\n      resources:\n        limits:\n          memory: 2g\n",
    )
    .expect_err("two memory limits");
    assert!(
        matches!(
            &e,
            ComposeError::Key {
                file: None,
                path,
                problem: KeyProblem::DistinctValues {
                    key: "mem_limit",
                    section: "limits",
                    field: "memory",
                },
            } if path == "services.web"
        ),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "services.web: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory': invalid compose project");
}

/// A schema error names the file, the key path and the unknown key.
#[test]
fn a_schema_error_carries_the_unknown_key() {
    let e = load_text("services:\n  web:\n    image: x\n    colour: red\n")
        .expect_err("an unknown key");
    assert!(
        matches!(
            &e,
            ComposeError::Schema { file, path, problem: KeyProblem::UnknownKey(k) }
                if file == Path::new("/p/compose.yaml") && path == "services.web" && k == "colour"
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "validating /p/compose.yaml: services.web additional properties 'colour' not allowed"
    );
    let e = load_text("services:\n  web:\n    image: x\n    pull_policy: sometimes\n")
        .expect_err("a pull policy outside the pattern");
    assert!(
        matches!(&e, ComposeError::Schema { path, problem: KeyProblem::PullPolicy(p), .. }
            if path == "services.web.pull_policy" && p == "sometimes"),
        "{e:?}"
    );
    let e = load_text(
        "services:\n  web:\n    image: x\n    volumes:\n      - type: nfs\n        target: /x\n",
    )
    .expect_err("an unknown volume type");
    assert!(
        matches!(&e, ComposeError::Schema { path, problem: KeyProblem::NotOneOf(allowed), .. }
            if path == "services.web.volumes.0.type" && allowed.contains(&"bind")),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "validating /p/compose.yaml: services.web.volumes.0.type value must be one of 'bind', 'volume', 'tmpfs', 'cluster', 'npipe', 'image'");
}

/// A reference to an undeclared network names the service, the kind and the name.
#[test]
fn an_undefined_reference_carries_its_kind_and_name() {
    let e = load_text("services:\n  web:\n    image: x\n    networks: [backnet]\n")
        .expect_err("an undeclared network");
    assert!(
        matches!(
            &e,
            ComposeError::Undefined { service, kind: RefKind::Network, name }
                if service == "web" && name == "backnet"
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "service \"web\" refers to undefined network backnet: invalid compose project"
    );
    let e = load_text("services:\n  web:\n    image: x\n    depends_on: [db]\n")
        .expect_err("an undeclared dependency");
    assert!(
        matches!(&e, ComposeError::Undefined { kind: RefKind::Service, name, .. } if name == "db"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "service \"web\" depends on undefined service \"db\": invalid compose project"
    );
    let e = load_text("services:\n  web:\n    image: x\n    secrets: [token]\n")
        .expect_err("an undeclared secret");
    assert!(
        matches!(&e, ComposeError::Undefined { kind: RefKind::Secret, name, .. } if name == "token"),
        "{e:?}"
    );
}

/// The consistency checks of a service: exclusive keys, no image, a dependency cycle.
#[test]
fn service_consistency_errors_are_typed() {
    let e = load_text("services:\n  web:\n    image: x\n    network_mode: host\n    networks: [a]\nnetworks:\n  a: {}\n")
        .expect_err("network_mode and networks");
    assert!(
        matches!(&e, ComposeError::Exclusive { service, first: "network_mode", second: "networks" } if service == "web"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "service web declares mutually exclusive `network_mode` and `networks`: invalid compose project");
    let e = load_text("services:\n  web:\n    restart: always\n").expect_err("no image");
    assert!(
        matches!(&e, ComposeError::NoImage { service } if service == "web"),
        "{e:?}"
    );
    let e = load_text("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n")
        .expect_err("a cycle");
    assert!(
        matches!(&e, ComposeError::Cycle { chain } if chain == &["a", "b", "a"]),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "dependency cycle detected: a -> b -> a");
}

/// `extends` errors name the file, the service and what is wrong.
#[test]
fn extends_errors_carry_the_service() {
    let e = load_text("services:\n  web:\n    extends: base\n").expect_err("an undefined base");
    assert!(
        matches!(
            &e,
            ComposeError::Extends { file, service, problem: ExtendsProblem::NotFound }
                if file == Path::new("/p/compose.yaml") && service == "base"
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "cannot extend service `base` in /p/compose.yaml: service not found"
    );
    let e = load_text(
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n",
    )
    .expect_err("an extends cycle");
    assert!(
        matches!(&e, ComposeError::Extends { problem: ExtendsProblem::Cycle { chain }, .. } if chain == &["a", "b", "a"]),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "circular reference with extends: a -> b -> a"
    );
}

/// `include` errors name the including file and the entry; a conflict names the service.
#[test]
fn include_errors_carry_the_entry() {
    let e = load_with(
        &[
            (
                "/p/compose.yaml",
                "include: [/p/a.yaml]\nservices:\n  web:\n    image: x\n",
            ),
            (
                "/p/a.yaml",
                "include: [/p/compose.yaml]\nservices:\n  db:\n    image: x\n",
            ),
        ],
        |_| {},
    )
    .expect_err("an include cycle");
    match &e {
        ComposeError::Include {
            file,
            index: 0,
            problem: IncludeProblem::Cycle { chain },
        } => {
            assert_eq!(file, Path::new("/p/a.yaml"));
            let want: Vec<PathBuf> = ["/p/compose.yaml", "/p/a.yaml", "/p/compose.yaml"]
                .iter()
                .map(PathBuf::from)
                .collect();
            assert_eq!(chain, &want);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "include cycle detected:\n/p/compose.yaml\n include /p/a.yaml\n include /p/compose.yaml"
    );
    let e = load_text("include:\n  - project_directory: .\nservices:\n  web:\n    image: x\n")
        .expect_err("an include without a path");
    assert!(
        matches!(
            &e,
            ComposeError::Include {
                index: 0,
                problem: IncludeProblem::PathRequired,
                ..
            }
        ),
        "{e:?}"
    );
    let e = load_with(
        &[
            (
                "/p/compose.yaml",
                "include: [/p/a.yaml]\nservices:\n  web:\n    image: x\n",
            ),
            ("/p/a.yaml", "services:\n  web:\n    image: y\n"),
        ],
        |_| {},
    )
    .expect_err("a service defined on both sides");
    assert!(
        matches!(&e, ComposeError::Conflict { service, included } if service == "web" && included == Path::new("/p/a.yaml")),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "services.web conflicts with imported resource (included from /p/a.yaml)"
    );
}

/// A file that leaves the pushed tree is refused with the key path that names it and the
/// confinement's own error.
#[test]
fn a_confined_read_carries_the_key_path_and_the_path_error() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let compose = root.path().join("compose.yaml");
    let e = load(&LoadOptions {
        files: vec![compose.clone()],
        working_dir: root.path().to_path_buf(),
        texts: BTreeMap::from([(
            compose,
            "services:\n  web:\n    image: x\n    env_file: /etc/hostname\n".to_owned(),
        )]),
        jail: Some(crate::confine::Jail::new(root.path())),
        ..LoadOptions::default()
    })
    .expect_err("an env file outside the tree");
    match &e {
        ComposeError::Confined { file, path, error } => {
            assert_eq!(file, Path::new("/etc/hostname"));
            assert_eq!(path, "services.web.env_file[0]");
            assert!(
                matches!(error.kind, crate::confine::PathErrorKind::Absolute),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "`services.web.env_file[0]`: `/etc/hostname` is outside the pushed tree"
    );
}

/// A service's missing env file names its key path, the file and the reason.
#[test]
fn a_missing_service_file_carries_its_key_path() {
    let e = load_text("services:\n  web:\n    image: x\n    env_file: /p/missing.env\n")
        .expect_err("a missing env file");
    assert!(
        matches!(
            &e,
            ComposeError::ServiceFile { path, kind: FileKind::Env, file, problem: FileProblem::Missing }
                if path == "services.web.env_file[0]" && file == Path::new("/p/missing.env")
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "env file /p/missing.env not found: No such file or directory (os error 2)"
    );
}

/// Errors of the loader's inputs: env file, variables, files, project name, options.
#[test]
fn input_errors_are_typed() {
    let compose = [("/p/compose.yaml", "services:\n  web:\n    image: x\n")];
    let e = load_with(&compose, |o| o.env_files = vec!["/p/missing.env".into()])
        .expect_err("a missing --env-file");
    assert!(
        matches!(&e, ComposeError::EnvFile { file, problem: EnvFileProblem::NotFound } if file == Path::new("/p/missing.env")),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "couldn't find env file: /p/missing.env");
    let e = load_with(&compose, |o| {
        o.environment
            .insert("COMPOSE_DISABLE_ENV_FILE".into(), "maybe".into());
    })
    .expect_err("not a boolean");
    assert!(
        matches!(&e, ComposeError::NotBool { variable: "COMPOSE_DISABLE_ENV_FILE", value } if value == "maybe"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "strconv.ParseBool: parsing \"maybe\": invalid syntax"
    );
    let e = load_with(&compose, |o| {
        o.files.clear();
        o.environment.insert("COMPOSE_FILE".into(), ":".into());
    })
    .expect_err("COMPOSE_FILE lists no file");
    assert!(
        matches!(
            &e,
            ComposeError::NoConfigFile {
                reason: NoConfigFile::EmptyComposeFile
            }
        ),
        "{e:?}"
    );
    let e = load_with(&compose, |o| o.project_name = Some("Shop".into()))
        .expect_err("an invalid project name");
    assert!(
        matches!(&e, ComposeError::ProjectName { name } if name == "Shop"),
        "{e:?}"
    );
    let e = load_with(&[("/p/compose.yaml", "- a\n")], |_| {}).expect_err("a list");
    assert!(
        matches!(
            &e,
            ComposeError::NotMapping {
                found: "a sequence",
                ..
            }
        ),
        "{e:?}"
    );
    let e = load_with(&[("/p/compose.yaml", "# nothing\n")], |_| {}).expect_err("empty");
    assert!(
        matches!(&e, ComposeError::Empty { file } if file == Path::new("/p/compose.yaml")),
        "{e:?}"
    );
    let e = load_typed(&LoadOptions {
        no_interpolate: true,
        ..LoadOptions::default()
    })
    .expect_err("no interpolation");
    assert!(matches!(e, ComposeError::NeedsInterpolation), "{e:?}");
}

/// A project that does not fit the typed model names the project and the key path.
#[test]
fn a_decode_error_carries_the_key_path() {
    let file = PathBuf::from("/p/compose.yaml");
    let e = load_typed(&LoadOptions {
        files: vec![file.clone()],
        working_dir: PathBuf::from("/p"),
        texts: BTreeMap::from([(
            file,
            "services:\n  web:\n    image: x\n    ports:\n      - target: -5\n".to_owned(),
        )]),
        ..LoadOptions::default()
    })
    .expect_err("a negative port");
    assert!(
        matches!(&e, ComposeError::Decode { project, error }
            if project == "p" && error.path == "services.web.ports[0].target"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "project `p` does not fit the typed model: `services.web.ports[0].target`: invalid value: integer `-5`, expected u32");
}
