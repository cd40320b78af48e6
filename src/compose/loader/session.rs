//! One load's state (warnings, the include chain, the `extends` cache, confinement) and the
//! per-file stages: read and interpolate a file, validate it, resolve `extends`, normalise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{in_file, into_map, outside_warning, read_compose, strip_tag, untagged};
use crate::compose::error::{Expected, ExtendsProblem, KeyProblem};
use crate::compose::merge;
use crate::compose::normalize::{self, Ctx};
use crate::compose::tree::{Map, Node};
use crate::compose::validate;
use crate::compose::warning::Warning;
use crate::compose::{interpolate, yaml, ComposeError};

pub(super) struct Session<'w> {
    pub(super) interpolate: bool,
    pub(super) warnings: &'w mut Vec<Warning>,
    /// The chain of files being included, to detect cycles.
    pub(super) includes: Vec<PathBuf>,
    /// The project directory, to report files read from outside it.
    pub(super) project_dir: PathBuf,
    /// Services already resolved through `extends`, by file and name: each is resolved once,
    /// so many services extending one base stay linear.
    pub(super) extends_cache: std::collections::HashMap<(PathBuf, String), Map>,
    /// Port mappings expanded so far in the current document (see `MAX_PORT_MAPPINGS`).
    pub(super) port_count: std::rc::Rc<std::cell::Cell<usize>>,
    /// Where expanded port entries were written ([`normalize::Ctx::written`]).
    pub(super) written: std::rc::Rc<std::cell::RefCell<BTreeMap<(String, String), usize>>>,
    /// The plugin's confinement to the pushed tree.
    pub(super) jail: Option<crate::confine::Jail>,
    /// Texts given instead of files.
    pub(super) texts: BTreeMap<PathBuf, String>,
}

/// Deepest `extends` chain followed; deeper chains are an error, not a stack overflow.
pub(crate) const MAX_EXTENDS_DEPTH: usize = 64;

impl Session<'_> {
    /// A file outside the project directory: refused in the jail (issue #13), else a warning.
    pub(super) fn outside(&mut self, key: &str, path: &Path) -> Result<(), ComposeError> {
        if let Some(j) = &self.jail {
            crate::confine::resolve(&j.root, path).map_err(|error| ComposeError::Confined {
                file: path.to_path_buf(),
                path: key.to_owned(),
                error,
            })?;
        } else if let Some(w) = outside_warning(key, path, &self.project_dir) {
            self.warnings.push(w);
        }
        Ok(())
    }

    /// Reads, parses, interpolates and validates every document of one file.
    pub(super) fn raw_file(
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
                    return Err(ComposeError::NotMapping {
                        file: file.to_path_buf(),
                        found: other.kind(),
                    })
                }
            }
        }
        if out.is_empty() {
            return Err(ComposeError::Empty {
                file: file.to_path_buf(),
            });
        }
        Ok(out)
    }

    /// Turns one validated document into its canonical form: includes loaded, extends
    /// resolved, short syntaxes expanded.
    pub(super) fn unit(
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
                return Err(ComposeError::Schema {
                    file: file.to_path_buf(),
                    path: "services".into(),
                    problem: KeyProblem::wrong(Expected::Mapping, other.kind()),
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
    pub(super) fn extends(
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
            return Err(extends_error(
                file,
                name,
                ExtendsProblem::TooDeep {
                    limit: MAX_EXTENDS_DEPTH,
                },
            ));
        }
        if stack.contains(&key) {
            let chain: Vec<String> = stack
                .iter()
                .map(|(_, n)| n.clone())
                .chain([name.to_string()])
                .collect();
            return Err(extends_error(file, name, ExtendsProblem::Cycle { chain }));
        }
        let raw = services
            .get(name)
            .ok_or_else(|| extends_error(file, name, ExtendsProblem::NotFound))?;
        let mut raw = match strip_tag(raw.clone()) {
            Node::Map(m) => m,
            Node::Null => Map::new(),
            other => {
                return Err(ComposeError::Schema {
                    file: file.to_path_buf(),
                    path: format!("services.{name}"),
                    problem: KeyProblem::wrong(Expected::Mapping, other.kind()),
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
                    .ok_or_else(|| extends_error(file, name, ExtendsProblem::ServiceRequired))?;
                (
                    target,
                    m.get("file").and_then(Node::as_str).map(str::to_string),
                )
            }
            other => {
                return Err(extends_error(
                    file,
                    name,
                    ExtendsProblem::WrongType {
                        found: other.kind(),
                    },
                ))
            }
        };
        stack.push(key);
        let mut merged = match other_file {
            None => self.extends(&target, services, file, base, vars, stack)?,
            Some(f) => {
                let path = PathBuf::from(crate::compose::syntax::resolve_path(
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
}

fn extends_error(file: &Path, service: &str, problem: ExtendsProblem) -> ComposeError {
    ComposeError::Extends {
        file: file.to_path_buf(),
        service: service.to_owned(),
        problem,
    }
}
