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
mod tests;
