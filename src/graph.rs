//! Stage 3: the service graph (style R6, R7). Edges run from a dependency to its dependent,
//! from `depends_on` (every condition), `links`, `volumes_from`, `network_mode`/`ipc`/`pid:
//! service:x` and datastore links. Cycles are reported with their whole path, unknown
//! dependencies by name, and the order is deterministic: a name-ordered ready set.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{Project, ServiceName};

/// Why the services cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A reference to a service that does not exist.
    #[error(
        "service `{service}` depends on unknown service `{missing}` (`services.{service}.{key}`)"
    )]
    UnknownDependency {
        /// The dependent.
        service: ServiceName,
        /// The name it refers to.
        missing: String,
        /// The key the edge came from.
        key: String,
    },
    /// A dependency cycle; `cycle` starts and ends with `service`.
    #[error("{}", cycle_message(.service, .cycle))]
    Cycle {
        /// The first service of the cycle in name order.
        service: ServiceName,
        /// The path.
        cycle: Vec<ServiceName>,
    },
}

fn cycle_message(service: &ServiceName, cycle: &[ServiceName]) -> String {
    if cycle.len() == 2 {
        return format!("service `{service}` depends on itself");
    }
    let path: Vec<&str> = cycle.iter().map(ServiceName::as_str).collect();
    format!(
        "service `{service}` has circular dependency `{}`",
        path.join(" -> ")
    )
}

/// The ordered services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceGraph {
    /// Every service in deploy order (dependencies first, name order among ready ones).
    pub order: Vec<ServiceName>,
    /// Level of each service: 0 for no dependencies, else 1 + the highest level it depends on.
    /// Services of one level are independent and can be applied in parallel.
    pub levels: BTreeMap<ServiceName, usize>,
    /// Direct dependencies of each service.
    pub dependencies: BTreeMap<ServiceName, BTreeSet<ServiceName>>,
}

impl ServiceGraph {
    /// The services of each level, in name order.
    pub(crate) fn by_level(&self) -> Vec<Vec<ServiceName>> {
        let mut out: Vec<Vec<ServiceName>> = Vec::new();
        for (name, &level) in &self.levels {
            if out.len() <= level {
                out.resize(level + 1, Vec::new());
            }
            out[level].push(name.clone());
        }
        out
    }
}

/// Builds the graph of `project` and orders it.
///
/// Services are numbered in name order (the order of `project.services`), so "smallest
/// name" is "smallest number" and the bookkeeping lives in vectors.
pub fn build(project: &Project) -> Result<ServiceGraph, GraphError> {
    let names: Vec<&ServiceName> = project.services.keys().collect();
    let number = |n: &ServiceName| names.binary_search(&n).ok();
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(names.len(), names.len());
    for _ in &names {
        graph.add_node(());
    }
    // Direct dependencies of each service by number, in name order.
    let mut deps_of: Vec<Vec<usize>> = Vec::with_capacity(names.len());
    for (i, (name, svc)) in project.services.iter().enumerate() {
        let mut edges: Vec<(&ServiceName, &str, bool)> = Vec::new();
        edges.extend(
            svc.depends_on
                .iter()
                .map(|(d, spec)| (d, "depends_on", spec.required)),
        );
        edges.extend(svc.other_edges.iter().map(|(d, k)| (d, k.as_str(), true)));
        if let Some(app) = svc.app() {
            edges.extend(app.links.keys().map(|d| (d, "environment", true)));
        }
        let mut deps: Vec<usize> = Vec::with_capacity(edges.len());
        for (dep, key, required) in edges {
            match number(dep) {
                Some(from) => {
                    if !deps.contains(&from) {
                        deps.push(from);
                        graph.add_edge(NodeIndex::new(from), NodeIndex::new(i), ());
                    }
                }
                None if !required => {}
                None => {
                    return Err(GraphError::UnknownDependency {
                        service: name.clone(),
                        missing: dep.to_string(),
                        key: key.to_owned(),
                    })
                }
            }
        }
        deps.sort_unstable();
        deps_of.push(deps);
    }
    let dependencies: BTreeMap<ServiceName, BTreeSet<ServiceName>> = names
        .iter()
        .zip(&deps_of)
        .map(|(n, deps)| {
            (
                (*n).clone(),
                deps.iter().map(|&d| names[d].clone()).collect(),
            )
        })
        .collect();

    // Cycles: the strongly connected components with more than one node, or a self-loop.
    let mut cycles: Vec<Vec<ServiceName>> = Vec::new();
    for scc in tarjan_scc(&graph) {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() > 1 || self_loop {
            let members: BTreeSet<&ServiceName> = scc.iter().map(|i| names[i.index()]).collect();
            cycles.push(cycle_path(&members, &dependencies));
        }
    }
    if let Some(cycle) = cycles.into_iter().min() {
        return Err(GraphError::Cycle {
            service: cycle[0].clone(),
            cycle,
        });
    }

    // Kahn's algorithm with a name-ordered ready set.
    let mut remaining: Vec<usize> = deps_of.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (n, deps) in deps_of.iter().enumerate() {
        for &d in deps {
            dependents[d].push(n);
        }
    }
    let mut ready: BTreeSet<usize> = (0..names.len()).filter(|&n| remaining[n] == 0).collect();
    let mut order = Vec::with_capacity(names.len());
    let mut level_of = vec![0usize; names.len()];
    while let Some(next) = ready.pop_first() {
        level_of[next] = deps_of[next]
            .iter()
            .map(|&d| level_of[d] + 1)
            .max()
            .unwrap_or(0);
        order.push(names[next].clone());
        for &dep in &dependents[next] {
            remaining[dep] -= 1;
            if remaining[dep] == 0 {
                ready.insert(dep);
            }
        }
    }
    let levels = names
        .iter()
        .zip(&level_of)
        .map(|(n, &l)| ((*n).clone(), l))
        .collect();
    Ok(ServiceGraph {
        order,
        levels,
        dependencies,
    })
}

/// A cycle through the component, starting at its smallest name and always following the
/// smallest-named dependent inside the component, back to the start.
fn cycle_path(
    members: &BTreeSet<&ServiceName>,
    dependencies: &BTreeMap<ServiceName, BTreeSet<ServiceName>>,
) -> Vec<ServiceName> {
    // `a -> b` reads "`a` depends on `b`", the direction a reader follows in the file.
    let start = *members.iter().next().expect("non-empty component");
    let mut path = vec![start.clone()];
    let mut seen: BTreeSet<&ServiceName> = BTreeSet::from([start]);
    let mut cur = start;
    loop {
        let next = dependencies[cur]
            .iter()
            .filter(|d| members.contains(d))
            .min()
            .expect("a cycle member has a dependency in the cycle");
        path.push(next.clone());
        if next == start {
            return path;
        }
        if !seen.insert(next) {
            // Entered a smaller loop that does not pass through `start`: restart from there.
            let pos = path.iter().position(|p| p == next).expect("seen");
            return path[pos..].to_vec();
        }
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{from_compose_json, ConvertOptions, StackName};
    use serde_json::json;

    fn project(services: serde_json::Value) -> Project {
        let opts = ConvertOptions {
            stack: StackName::parse("s").unwrap(),
            project_dir: "/p".into(),
        };
        from_compose_json(&json!({ "services": services }), &opts)
            .unwrap()
            .0
    }

    fn svc(deps: &[&str]) -> serde_json::Value {
        let d: serde_json::Map<String, serde_json::Value> = deps
            .iter()
            .map(|d| {
                (
                    (*d).to_owned(),
                    json!({"condition": "service_started", "required": true}),
                )
            })
            .collect();
        json!({"image": "busybox", "depends_on": d})
    }

    #[test]
    fn order_is_name_ordered_among_ready_services() {
        let g = build(&project(json!({"web": svc(&["db", "cache"]), "cache": svc(&[]), "db": svc(&[]), "worker": svc(&["db"])}))).unwrap();
        let order: Vec<&str> = g.order.iter().map(ServiceName::as_str).collect();
        assert_eq!(order, ["cache", "db", "web", "worker"]);
        assert_eq!(g.by_level().len(), 2);
        assert_eq!(g.levels[&ServiceName::new("web")], 1);
    }

    #[test]
    fn cycle_names_the_whole_path() {
        let e = build(&project(
            json!({"a": svc(&["b"]), "b": svc(&["c"]), "c": svc(&["a"]), "d": svc(&[])}),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "service `a` has circular dependency `a -> b -> c -> a`"
        );
    }

    #[test]
    fn self_loop() {
        let e = build(&project(json!({"a": svc(&["a"])}))).unwrap_err();
        assert_eq!(e.to_string(), "service `a` depends on itself");
    }

    #[test]
    fn unknown_dependency() {
        let e = build(&project(json!({"web": svc(&["dbb"])}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "service `web` depends on unknown service `dbb` (`services.web.depends_on`)"
        );
    }

    #[test]
    fn optional_unknown_dependency_is_ignored() {
        let p = project(
            json!({"web": {"image": "x", "depends_on": {"gone": {"condition": "service_started", "required": false}}}}),
        );
        assert_eq!(build(&p).unwrap().order.len(), 1);
    }
}
