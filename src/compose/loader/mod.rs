//! The loader pipeline: files → YAML trees → interpolation → validation → `include` and
//! `extends` → canonical long syntax → merge of all files → profiles, defaults and references
//! (`finalize`). The one entry point is [`load`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::environment::Environment;
use super::error::NoConfigFile;
use super::finalize;
use super::merge;
use super::options::{LoadOptions, Loaded};
use super::tree::{Map, Node};
use super::warning::Warning;
use super::{interpolate, yaml, ComposeError};

mod include;
mod session;

use session::Session;

/// The default compose file names, in the reference's order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// Loads a compose project as `docker compose config` does.
pub fn load(opts: &LoadOptions) -> Result<Loaded, ComposeError> {
    let wd = &opts.working_dir;
    let abs = |p: &Path| PathBuf::from(super::syntax::clean(&wd.join(p).to_string_lossy()));
    let env_files: Vec<PathBuf> = opts.env_files.iter().map(|p| abs(p)).collect();
    let texts: BTreeMap<PathBuf, String> = opts
        .texts
        .iter()
        .map(|(p, t)| (abs(p), t.clone()))
        .collect();
    // `COMPOSE_*` settings may come from `.env` of the project (or working) directory.
    let first_dir = opts
        .project_directory
        .as_deref()
        .map_or_else(|| wd.clone(), &abs);
    let pre_env = Environment::resolve_in(
        &opts.environment,
        &first_dir,
        &env_files,
        opts.jail.as_ref(),
    )?;
    let files = config_files(opts, &pre_env, &abs)?;
    let project_dir = match &opts.project_directory {
        Some(d) => abs(d),
        None => files[0]
            .parent()
            .map_or_else(|| wd.clone(), Path::to_path_buf),
    };
    let env = if project_dir == first_dir {
        pre_env
    } else {
        Environment::resolve_in(
            &opts.environment,
            &project_dir,
            &env_files,
            opts.jail.as_ref(),
        )?
    };
    let mut vars = env.vars;
    let mut warnings = env.warnings;

    let name = project_name(opts, &vars, &files, &texts, &project_dir)?;
    vars.insert("COMPOSE_PROJECT_NAME".into(), name.clone());
    let mut session = Session {
        interpolate: !opts.no_interpolate,
        warnings: &mut warnings,
        includes: Vec::new(),
        project_dir: project_dir.clone(),
        extends_cache: std::collections::HashMap::new(),
        port_count: std::rc::Rc::default(),
        jail: opts.jail.clone(),
        texts,
        written: std::rc::Rc::default(),
    };
    let mut merged = Map::new();
    for file in &files {
        for doc in session.raw_file("compose file", file, &vars, true)? {
            let canonical = session.unit(doc, file, &project_dir, &vars)?;
            merge::project(&mut merged, canonical);
        }
    }
    let written = std::rc::Rc::clone(&session.written);
    let profiles = active_profiles(opts, &vars);
    let project = finalize::finalize(
        merged,
        &name,
        &profiles,
        &vars,
        &project_dir,
        opts.no_interpolate,
        opts.vault_password.as_ref(),
        opts.jail.as_ref(),
        &mut warnings,
    )?;
    warnings.sort();
    warnings.dedup();
    let written_paths = written_paths(&project, &written.borrow());
    Ok(Loaded {
        name,
        project: Node::Map(project),
        warnings,
        written_paths,
    })
}

/// The compose files: `-f` options, else `COMPOSE_FILE` (split on `COMPOSE_PATH_SEPARATOR`),
/// else the default names found in the working directory.
fn config_files(
    opts: &LoadOptions,
    pre_env: &Environment,
    abs: &dyn Fn(&Path) -> PathBuf,
) -> Result<Vec<PathBuf>, ComposeError> {
    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files.iter().map(|p| abs(p)).collect()
    } else if let Some(list) = pre_env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = pre_env
            .get("COMPOSE_PATH_SEPARATOR")
            .unwrap_or_else(|| ":".into());
        list.split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|p| abs(Path::new(p)))
            .collect()
    } else {
        default_files(&opts.working_dir)?
    };
    if files.is_empty() {
        return Err(ComposeError::NoConfigFile {
            reason: NoConfigFile::EmptyComposeFile,
        });
    }
    Ok(files)
}

/// The project name: `-p`, else `COMPOSE_PROJECT_NAME` (both must be valid as written), else
/// the files' `name:` (the last one wins) normalised, else the project directory's name.
fn project_name(
    opts: &LoadOptions,
    vars: &BTreeMap<String, String>,
    files: &[PathBuf],
    texts: &BTreeMap<PathBuf, String>,
    project_dir: &Path,
) -> Result<String, ComposeError> {
    let mut name = opts
        .project_name
        .clone()
        .or_else(|| vars.get("COMPOSE_PROJECT_NAME").cloned())
        .filter(|s| !s.is_empty());
    if let Some(n) = &name {
        if !valid_project_name(n) {
            return Err(ComposeError::ProjectName { name: n.clone() });
        }
    } else {
        // `name:` of the files (the last one wins) names the project, normalised, and is
        // visible to interpolation as ${COMPOSE_PROJECT_NAME}.
        name = peek_name(files, vars, opts.jail.as_ref(), texts)?
            .map(|n| normalize_project_name(&n))
            .filter(|n| !n.is_empty());
    }
    Ok(name.unwrap_or_else(|| {
        normalize_project_name(
            &project_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    }))
}

/// The active profiles: `--profile` options, else `COMPOSE_PROFILES` (comma-separated).
fn active_profiles(opts: &LoadOptions, vars: &BTreeMap<String, String>) -> Vec<String> {
    if opts.profiles.is_empty() {
        vars.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.clone()
    }
}

/// Key paths of expanded port entries whose written index differs (`services.web.ports[7]`
/// -> `services.web.ports[2]` when `ports[1]` was a range of six): an entry the merge of
/// several files or a later stage changed keeps its expanded path.
fn written_paths(
    project: &Map,
    written: &BTreeMap<(String, String), usize>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(Node::Map(services)) = project.get("services") else {
        return out;
    };
    for (name, svc) in services {
        let Some(Node::Seq(ports)) = svc.as_map().and_then(|m| m.get("ports")) else {
            continue;
        };
        let path = format!("services.{name}.ports");
        for (j, entry) in ports.iter().enumerate() {
            if let Some(&i) = written.get(&(path.clone(), merge::fingerprint(entry))) {
                if i != j {
                    out.insert(format!("{path}[{j}]"), format!("{path}[{i}]"));
                }
            }
        }
    }
    out
}

/// Loads a project and decodes it into the typed model the planner reads (interpolation on).
pub fn load_typed(
    opts: &LoadOptions,
) -> Result<(super::types::Project, Vec<Warning>), ComposeError> {
    if opts.no_interpolate {
        return Err(ComposeError::NeedsInterpolation);
    }
    let loaded = load(opts)?;
    let project = super::types::Project::from_loaded(&loaded)?;
    Ok((project, loaded.warnings))
}

/// The reference's project-name normalisation: lowercase, only `[a-z0-9_-]`, starting with a
/// letter or digit.
pub fn normalize_project_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

/// Reads a file the project names (`key`, its key path, names it in errors): inside the jail
/// when there is one (the plugin: regular, bounded, never through a link that leaves the
/// pushed tree), else as the reference does. `Ok(None)` when it does not exist.
pub(crate) fn read_named(
    jail: Option<&crate::confine::Jail>,
    key: &str,
    path: &Path,
) -> Result<Option<Vec<u8>>, ComposeError> {
    match jail {
        Some(j) => match j.read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(error) => Err(ComposeError::Confined {
                file: path.to_path_buf(),
                path: key.to_owned(),
                error,
            }),
        },
        None => match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(ComposeError::Read {
                path: path.to_path_buf(),
                error,
            }),
        },
    }
}

/// [`read_named`] of a compose file, as text; a missing file is an error.
fn read_compose(
    jail: Option<&crate::confine::Jail>,
    texts: &BTreeMap<PathBuf, String>,
    key: &str,
    file: &Path,
) -> Result<String, ComposeError> {
    if let Some(t) = texts.get(file) {
        return Ok(t.clone());
    }
    let bytes = read_named(jail, key, file)?.ok_or_else(|| ComposeError::Read {
        path: file.to_path_buf(),
        error: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    String::from_utf8(bytes).map_err(|_| ComposeError::Read {
        path: file.to_path_buf(),
        error: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ),
    })
}

/// A warning when `path` (symlinks resolved) lies outside `project_dir`: the reference
/// allows such paths, and we allow them too, but a user should know (issue #2, hostile input).
pub(crate) fn outside_warning(key: &str, path: &Path, project_dir: &Path) -> Option<Warning> {
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let root = project_dir
        .canonicalize()
        .unwrap_or_else(|_| project_dir.to_path_buf());
    (!real.starts_with(&root)).then(|| {
        Warning::new(format!(
            "`{key}` reads `{}`, outside the project directory `{}`",
            path.display(),
            project_dir.display()
        ))
    })
}

/// Whether `name` is a valid explicit project name (`-p`, `COMPOSE_PROJECT_NAME`).
fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The interpolated top-level `name:` of the last file that has one.
fn peek_name(
    files: &[PathBuf],
    vars: &BTreeMap<String, String>,
    jail: Option<&crate::confine::Jail>,
    texts: &BTreeMap<PathBuf, String>,
) -> Result<Option<String>, ComposeError> {
    let mut name = None;
    for file in files {
        let src = read_compose(jail, texts, "compose file", file)?;
        for doc in yaml::parse(&src, file)? {
            if let Some(Node::Str(n)) = doc.as_map().and_then(|m| m.get("name")) {
                let lookup = |k: &str| vars.get(k).cloned();
                name = Some(interpolate::interpolate_str(n, &lookup, &mut Vec::new())?);
            }
        }
    }
    Ok(name)
}

fn default_files(wd: &Path) -> Result<Vec<PathBuf>, ComposeError> {
    let mut dir = Some(wd);
    while let Some(d) = dir {
        if let Some(f) = DEFAULT_FILES
            .iter()
            .map(|f| d.join(f))
            .find(|p| p.is_file())
        {
            let mut files = vec![f];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|f| d.join(f))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(ComposeError::NoConfigFile {
        reason: NoConfigFile::NotFound,
    })
}

/// Names the file in a normalisation error (`FILE: services.web.ports[1]: …`).
fn in_file(file: &Path, e: ComposeError) -> ComposeError {
    match e {
        ComposeError::Key {
            file: None,
            path,
            problem,
        } => ComposeError::Key {
            file: Some(file.to_path_buf()),
            path,
            problem,
        },
        ComposeError::Syntax {
            file: None,
            path,
            reason,
        } => ComposeError::Syntax {
            file: Some(file.to_path_buf()),
            path,
            reason,
        },
        other => other,
    }
}

fn untagged(node: &Node) -> &Node {
    match node {
        Node::Tagged(_, inner) => inner,
        other => other,
    }
}

fn strip_tag(node: Node) -> Node {
    match node {
        Node::Tagged(_, inner) => *inner,
        other => other,
    }
}

fn into_map(node: Node) -> Map {
    match node {
        Node::Map(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::error::{
        EnvFileProblem, Expected, ExtendsProblem, FileKind, FileProblem, IncludeProblem,
        KeyProblem, NoConfigFile, RefKind,
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
        let e = load_text("services:\n  web:\n    image: x\n    volumes:\n      - type: nfs\n        target: /x\n")
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
}
