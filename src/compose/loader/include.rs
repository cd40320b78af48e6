//! `include`: every entry loaded as its own project (its own directory and env files, the
//! including environment over them) and merged under the including file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::session::{Session, MAX_EXTENDS_DEPTH};
use crate::compose::environment::Environment;
use crate::compose::error::IncludeProblem;
use crate::compose::merge;
use crate::compose::tree::{Map, Node};
use crate::compose::ComposeError;

impl Session<'_> {
    /// Loads every `include` entry as its own project and merges it under `out`.
    pub(super) fn include(
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
            let IncludeEntry {
                paths,
                project_dir,
                env_files,
            } = include_entry(entry, i, file)?;
            if paths.is_empty() {
                return Err(include_error(file, i, IncludeProblem::NoFile));
            }
            let home = vars.get("HOME").map(String::as_str);
            let paths: Vec<PathBuf> = paths
                .iter()
                .map(|p| PathBuf::from(crate::compose::syntax::resolve_path(p, base, home)))
                .collect();
            for p in &paths {
                self.outside(&format!("include[{i}]"), p)?;
            }
            if self.includes.len() >= MAX_EXTENDS_DEPTH {
                return Err(include_error(
                    file,
                    i,
                    IncludeProblem::TooDeep {
                        limit: MAX_EXTENDS_DEPTH,
                    },
                ));
            }
            if let Some(p) = paths.iter().find(|p| self.includes.contains(p)) {
                let chain = self.includes.iter().chain([p]).cloned().collect();
                return Err(include_error(file, i, IncludeProblem::Cycle { chain }));
            }
            let inc_dir = match &project_dir {
                Some(d) => PathBuf::from(crate::compose::syntax::resolve_path(d, base, home)),
                None => paths[0].parent().unwrap_or(base).to_path_buf(),
            };
            // The included project sees the including environment, over its own env files.
            let mut inc_vars = BTreeMap::new();
            let env_paths: Vec<PathBuf> = env_files
                .iter()
                .map(|p| PathBuf::from(crate::compose::syntax::resolve_path(p, base, home)))
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
            merge_included(out, included, &paths[0])?;
        }
        self.includes.pop();
        Ok(())
    }
}

/// One `include` entry as written: its files, project directory and env files.
struct IncludeEntry {
    paths: Vec<String>,
    project_dir: Option<String>,
    env_files: Vec<String>,
}

/// A string or a list of strings (the list's other items skipped); `None` for anything else.
fn strings(node: Option<&Node>) -> Option<Vec<String>> {
    match node? {
        Node::Str(s) => Some(vec![s.clone()]),
        Node::Seq(s) => Some(
            s.iter()
                .filter_map(Node::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// Reads `include[i]`: a path, or a mapping with `path` (one or a list), `project_directory`
/// and `env_file`.
fn include_entry(entry: Node, i: usize, file: &Path) -> Result<IncludeEntry, ComposeError> {
    Ok(match entry {
        Node::Str(s) => IncludeEntry {
            paths: vec![s],
            project_dir: None,
            env_files: Vec::new(),
        },
        Node::Map(m) => {
            let Some(paths) = strings(m.get("path")) else {
                return Err(include_error(file, i, IncludeProblem::PathRequired));
            };
            let env_files = strings(m.get("env_file")).unwrap_or_default();
            IncludeEntry {
                paths,
                project_dir: m
                    .get("project_directory")
                    .and_then(Node::as_str)
                    .map(str::to_string),
                env_files,
            }
        }
        other => {
            return Err(include_error(
                file,
                i,
                IncludeProblem::WrongType {
                    found: other.kind(),
                },
            ))
        }
    })
}

/// Merges an included project under `out`: new resources are added, an existing one is kept,
/// and a service defined differently on both sides is a conflict (`first` names the include).
fn merge_included(out: &mut Map, included: Map, first: &Path) -> Result<(), ComposeError> {
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
                            return Err(ComposeError::Conflict {
                                service: name,
                                included: first.to_path_buf(),
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
    Ok(())
}

fn include_error(file: &Path, index: usize, problem: IncludeProblem) -> ComposeError {
    ComposeError::Include {
        file: file.to_path_buf(),
        index,
        problem,
    }
}
