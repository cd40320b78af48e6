//! The loader pipeline: files → YAML trees → interpolation → validation → `include` and
//! `extends` → canonical long syntax → merge of all files → profiles, defaults and references
//! (`finalize`). The one entry point is [`load`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::environment::Environment;
use super::finalize;
use super::merge;
use super::normalize::{self, Ctx};
use super::options::{LoadOptions, Loaded};
use super::tree::{Map, Node};
use super::validate;
use super::warning::Warning;
use super::{interpolate, yaml, ComposeError};

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
        default_files(wd)?
    };
    if files.is_empty() {
        return Err(ComposeError::Invalid {
            message: "no configuration file provided: `COMPOSE_FILE` lists no file".into(),
        });
    }
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

    let mut name = opts
        .project_name
        .clone()
        .or_else(|| vars.get("COMPOSE_PROJECT_NAME").cloned())
        .filter(|s| !s.is_empty());
    if let Some(n) = &name {
        if !valid_project_name(n) {
            return Err(ComposeError::Invalid {
                message: format!("invalid project name {n:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"),
            });
        }
    } else {
        // `name:` of the files (the last one wins) names the project, normalised, and is
        // visible to interpolation as ${COMPOSE_PROJECT_NAME}.
        name = peek_name(&files, &vars, opts.jail.as_ref(), &texts)?
            .map(|n| normalize_project_name(&n))
            .filter(|n| !n.is_empty());
    }
    let name = name.unwrap_or_else(|| {
        normalize_project_name(
            &project_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    });
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
    let profiles: Vec<String> = if opts.profiles.is_empty() {
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
    };
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
        return Err(ComposeError::Invalid {
            message: "the typed model needs interpolation: `no_interpolate` is set".into(),
        });
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
            Err(e) => Err(ComposeError::Invalid {
                message: format!("`{key}`: {e}"),
            }),
        },
        None => match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ComposeError::Read {
                path: path.to_path_buf(),
                source,
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
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    String::from_utf8(bytes).map_err(|_| ComposeError::Read {
        path: file.to_path_buf(),
        source: std::io::Error::new(
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
    Err(ComposeError::Invalid {
        message: "no configuration file provided: not found".into(),
    })
}

struct Session<'w> {
    interpolate: bool,
    warnings: &'w mut Vec<Warning>,
    /// The chain of files being included, to detect cycles.
    includes: Vec<PathBuf>,
    /// The project directory, to report files read from outside it.
    project_dir: PathBuf,
    /// Services already resolved through `extends`, by file and name: each is resolved once,
    /// so many services extending one base stay linear.
    extends_cache: std::collections::HashMap<(PathBuf, String), Map>,
    /// Port mappings expanded so far in the current document (see `MAX_PORT_MAPPINGS`).
    port_count: std::rc::Rc<std::cell::Cell<usize>>,
    /// Where expanded port entries were written ([`normalize::Ctx::written`]).
    written: std::rc::Rc<std::cell::RefCell<BTreeMap<(String, String), usize>>>,
    /// The plugin's confinement to the pushed tree.
    jail: Option<crate::confine::Jail>,
    /// Texts given instead of files.
    texts: BTreeMap<PathBuf, String>,
}

/// Deepest `extends` chain followed; deeper chains are an error, not a stack overflow.
pub(crate) const MAX_EXTENDS_DEPTH: usize = 64;

impl Session<'_> {
    /// A file outside the project directory: refused in the jail (issue #13), else a warning.
    fn outside(&mut self, key: &str, path: &Path) -> Result<(), ComposeError> {
        if let Some(j) = &self.jail {
            crate::confine::resolve(&j.root, path).map_err(|e| ComposeError::Invalid {
                message: format!("`{key}`: {e}"),
            })?;
        } else if let Some(w) = outside_warning(key, path, &self.project_dir) {
            self.warnings.push(w);
        }
        Ok(())
    }

    /// Reads, parses, interpolates and validates every document of one file.
    fn raw_file(
        &mut self,
        key: &str,
        file: &Path,
        vars: &BTreeMap<String, String>,
        check: bool,
    ) -> Result<Vec<Map>, ComposeError> {
        let src = read_compose(self.jail.as_ref(), &self.texts, key, file)?;
        let docs = yaml::parse(&src, file)?;
        let mut out = Vec::new();
        for doc in docs {
            let doc = if self.interpolate {
                let lookup = |k: &str| vars.get(k).cloned();
                interpolate::interpolate_node(doc, &lookup, self.warnings)?
            } else {
                doc
            };
            match doc {
                Node::Null => {}
                Node::Map(m) => {
                    if check {
                        validate::schema(&m, file)?;
                    }
                    out.push(m);
                }
                other => {
                    return Err(ComposeError::Invalid {
                        message: format!(
                            "validating {}: top-level object must be a mapping, not {}",
                            file.display(),
                            other.kind()
                        ),
                    })
                }
            }
        }
        if out.is_empty() {
            return Err(ComposeError::Invalid {
                message: format!("empty compose file: `{}`", file.display()),
            });
        }
        Ok(out)
    }

    /// Turns one validated document into its canonical form: includes loaded, extends
    /// resolved, short syntaxes expanded.
    fn unit(
        &mut self,
        mut doc: Map,
        file: &Path,
        base: &Path,
        vars: &BTreeMap<String, String>,
    ) -> Result<Map, ComposeError> {
        if doc.remove("version").is_some() {
            self.warnings.push(Warning::new(format!("{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion", file.display())));
        }
        let includes = doc.remove("include");
        let port_count = std::rc::Rc::clone(&self.port_count);
        let written = std::rc::Rc::clone(&self.written);
        let ctx = Ctx {
            base,
            env: vars,
            ports: &port_count,
            untyped: !self.interpolate,
            written: Some(&written),
        };
        let mut out = Map::new();
        let raw_services = match doc.remove("services") {
            Some(Node::Map(m)) => m,
            Some(Node::Null) | None => Map::new(),
            Some(other) => {
                return Err(ComposeError::Invalid {
                    message: format!(
                        "validating {}: services must be a mapping, not {}",
                        file.display(),
                        other.kind()
                    ),
                })
            }
        };
        let mut services = Map::new();
        // Cached resolutions belong to one document (another may define the same names).
        self.extends_cache.clear();
        self.port_count.set(0);
        let any_extends = raw_services
            .values()
            .any(|s| matches!(untagged(s), Node::Map(m) if m.contains_key("extends")));
        if any_extends {
            for (name, svc) in &raw_services {
                let resolved = Node::Map(self.extends(
                    name,
                    &raw_services,
                    file,
                    base,
                    vars,
                    &mut Vec::new(),
                )?);
                let resolved = match svc {
                    Node::Tagged(t, _) => Node::Tagged(*t, Box::new(resolved)),
                    _ => resolved,
                };
                services.insert(name.clone(), resolved);
            }
        } else {
            // The common case: normalise each service in place, without copies.
            for (name, svc) in raw_services {
                let resolved = match svc {
                    Node::Tagged(t, inner) => Node::Tagged(
                        t,
                        Box::new(Node::Map(
                            normalize::service(&name, *inner, &ctx)
                                .map_err(|e| in_file(file, e))?,
                        )),
                    ),
                    other => Node::Map(
                        normalize::service(&name, other, &ctx).map_err(|e| in_file(file, e))?,
                    ),
                };
                services.insert(name, resolved);
            }
        }
        out.insert("services".into(), Node::Map(services));
        for (key, value) in doc {
            let value = match key.as_str() {
                "networks" | "volumes" | "secrets" | "configs" => {
                    let mut m = Map::new();
                    for (name, v) in into_map(value) {
                        m.insert(
                            name.clone(),
                            normalize::resource(&key, &name, v, &ctx)
                                .map_err(|e| in_file(file, e))?,
                        );
                    }
                    Node::Map(m)
                }
                _ => value,
            };
            out.insert(key, value);
        }
        if let Some(includes) = includes {
            self.include(includes, file, base, vars, &mut out)?;
        }
        Ok(out)
    }

    /// Resolves `extends` of service `name` and returns it canonical.
    fn extends(
        &mut self,
        name: &str,
        services: &Map,
        file: &Path,
        base: &Path,
        vars: &BTreeMap<String, String>,
        stack: &mut Vec<(PathBuf, String)>,
    ) -> Result<Map, ComposeError> {
        let key = (file.to_path_buf(), name.to_string());
        if let Some(done) = self.extends_cache.get(&key) {
            return Ok(done.clone());
        }
        if stack.len() >= MAX_EXTENDS_DEPTH {
            return Err(ComposeError::Invalid {
                message: format!(
                    "services.{name}.extends in {}: chain deeper than {MAX_EXTENDS_DEPTH} services",
                    file.display()
                ),
            });
        }
        if stack.contains(&key) {
            let chain: Vec<String> = stack
                .iter()
                .map(|(_, n)| n.clone())
                .chain([name.to_string()])
                .collect();
            return Err(ComposeError::Invalid {
                message: format!("circular reference with extends: {}", chain.join(" -> ")),
            });
        }
        let raw = services.get(name).ok_or_else(|| ComposeError::Invalid {
            message: format!(
                "cannot extend service `{name}` in {}: service not found",
                file.display()
            ),
        })?;
        let mut raw = match strip_tag(raw.clone()) {
            Node::Map(m) => m,
            Node::Null => Map::new(),
            other => {
                return Err(ComposeError::Invalid {
                    message: format!(
                        "validating {}: services.{name} must be a mapping, not {}",
                        file.display(),
                        other.kind()
                    ),
                })
            }
        };
        let ext = raw.remove("extends");
        let port_count = std::rc::Rc::clone(&self.port_count);
        let written = std::rc::Rc::clone(&self.written);
        let ctx = Ctx {
            base,
            env: vars,
            ports: &port_count,
            untyped: !self.interpolate,
            written: Some(&written),
        };
        let own = normalize::service(name, Node::Map(raw), &ctx).map_err(|e| in_file(file, e))?;
        let Some(ext) = ext else { return Ok(own) };
        let (target, other_file) = match ext {
            Node::Str(s) => (s, None),
            Node::Map(m) => {
                let target = m
                    .get("service")
                    .and_then(Node::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ComposeError::Invalid {
                        message: format!(
                            "extends.{name}.service is required (services.{name}.extends in {})",
                            file.display()
                        ),
                    })?;
                (
                    target,
                    m.get("file").and_then(Node::as_str).map(str::to_string),
                )
            }
            other => {
                return Err(ComposeError::Invalid {
                    message: format!(
                        "services.{name}.extends must be a string or a mapping, not {}",
                        other.kind()
                    ),
                })
            }
        };
        stack.push(key);
        let mut merged = match other_file {
            None => self.extends(&target, services, file, base, vars, stack)?,
            Some(f) => {
                let path = PathBuf::from(super::syntax::resolve_path(
                    &f,
                    file.parent().unwrap_or(base),
                    vars.get("HOME").map(String::as_str),
                ));
                self.outside(&format!("services.{name}.extends.file"), &path)?;
                let docs =
                    self.raw_file(&format!("services.{name}.extends.file"), &path, vars, false)?;
                let mut other = Map::new();
                for mut d in docs {
                    if let Some(Node::Map(s)) = d.remove("services") {
                        other.extend(s);
                    }
                }
                let other_base = path.parent().unwrap_or(base).to_path_buf();
                self.extends(&target, &other, &path, &other_base, vars, stack)?
            }
        };
        stack.pop();
        merge::service(&mut merged, own);
        self.extends_cache
            .insert((file.to_path_buf(), name.to_string()), merged.clone());
        Ok(merged)
    }

    /// Loads every `include` entry as its own project and merges it under `out`.
    fn include(
        &mut self,
        includes: Node,
        file: &Path,
        base: &Path,
        vars: &BTreeMap<String, String>,
        out: &mut Map,
    ) -> Result<(), ComposeError> {
        let entries = match includes {
            Node::Seq(items) => items,
            Node::Null => Vec::new(),
            other => vec![other],
        };
        self.includes.push(file.to_path_buf());
        for (i, entry) in entries.into_iter().enumerate() {
            let (paths, project_dir, env_files) = match entry {
                Node::Str(s) => (vec![s], None, Vec::new()),
                Node::Map(m) => {
                    let paths = match m.get("path") {
                        Some(Node::Str(s)) => vec![s.clone()],
                        Some(Node::Seq(s)) => s
                            .iter()
                            .filter_map(Node::as_str)
                            .map(str::to_string)
                            .collect(),
                        _ => {
                            return Err(ComposeError::Invalid {
                                message: format!(
                                    "include[{i}].path is required in {}",
                                    file.display()
                                ),
                            })
                        }
                    };
                    let env_files = match m.get("env_file") {
                        Some(Node::Str(s)) => vec![s.clone()],
                        Some(Node::Seq(s)) => s
                            .iter()
                            .filter_map(Node::as_str)
                            .map(str::to_string)
                            .collect(),
                        _ => Vec::new(),
                    };
                    (
                        paths,
                        m.get("project_directory")
                            .and_then(Node::as_str)
                            .map(str::to_string),
                        env_files,
                    )
                }
                other => {
                    return Err(ComposeError::Invalid {
                        message: format!(
                            "include[{i}] must be a string or a mapping, not {}",
                            other.kind()
                        ),
                    })
                }
            };
            if paths.is_empty() {
                return Err(ComposeError::Invalid {
                    message: format!("include[{i}].path in {} lists no file", file.display()),
                });
            }
            let home = vars.get("HOME").map(String::as_str);
            let paths: Vec<PathBuf> = paths
                .iter()
                .map(|p| PathBuf::from(super::syntax::resolve_path(p, base, home)))
                .collect();
            for p in &paths {
                self.outside(&format!("include[{i}]"), p)?;
            }
            if self.includes.len() >= MAX_EXTENDS_DEPTH {
                return Err(ComposeError::Invalid {
                    message: format!(
                        "include[{i}] in {}: includes nested deeper than {MAX_EXTENDS_DEPTH} files",
                        file.display()
                    ),
                });
            }
            if let Some(p) = paths.iter().find(|p| self.includes.contains(p)) {
                let chain: Vec<String> = self
                    .includes
                    .iter()
                    .chain([p])
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(ComposeError::Invalid {
                    message: format!("include cycle detected:\n{}", chain.join("\n include ")),
                });
            }
            let inc_dir = match &project_dir {
                Some(d) => PathBuf::from(super::syntax::resolve_path(d, base, home)),
                None => paths[0].parent().unwrap_or(base).to_path_buf(),
            };
            // The included project sees the including environment, over its own env files.
            let mut inc_vars = BTreeMap::new();
            let env_paths: Vec<PathBuf> = env_files
                .iter()
                .map(|p| PathBuf::from(super::syntax::resolve_path(p, base, home)))
                .collect();
            let inc_env = Environment::resolve_in(
                &BTreeMap::new(),
                &inc_dir,
                &env_paths,
                self.jail.as_ref(),
            )?;
            inc_vars.extend(inc_env.vars);
            inc_vars.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            let mut included = Map::new();
            for path in &paths {
                for doc in self.raw_file(&format!("include[{i}]"), path, &inc_vars, true)? {
                    let canonical = self.unit(doc, path, &inc_dir, &inc_vars)?;
                    merge::project(&mut included, canonical);
                }
            }
            for (key, value) in included {
                match (out.get_mut(&key), value) {
                    (Some(Node::Map(existing)), Node::Map(new))
                        if matches!(
                            key.as_str(),
                            "services" | "networks" | "volumes" | "secrets" | "configs"
                        ) =>
                    {
                        for (name, v) in new {
                            match existing.get(&name) {
                                Some(e) if *e != v && key == "services" => {
                                    return Err(ComposeError::Invalid {
                                        message: format!("services.{name} conflicts with imported resource (included from {})", paths[0].display()),
                                    })
                                }
                                Some(_) => {}
                                None => {
                                    existing.insert(name, v);
                                }
                            }
                        }
                    }
                    (None, v) => {
                        out.insert(key, v);
                    }
                    _ => {}
                }
            }
        }
        self.includes.pop();
        Ok(())
    }
}

/// Names the file in a normalisation error (`FILE: services.web.ports[1]: …`).
fn in_file(file: &Path, e: ComposeError) -> ComposeError {
    match e {
        ComposeError::Invalid { message } => ComposeError::Invalid {
            message: format!("{}: {message}", file.display()),
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
