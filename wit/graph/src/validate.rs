//! Strict validation of a Graph and its dependency order.

use std::collections::{BTreeMap, HashMap, HashSet};

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::object::{ObjectIdentity, is_dns_label};
use crate::{GRAPH_VERSION, Graph};

/// One thing wrong with a graph.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphProblem {
    /// The `graphVersion` is not one this host reads.
    #[error("graphVersion {found:?} is not supported; this host reads {GRAPH_VERSION:?}")]
    UnsupportedVersion {
        /// The version the graph declared.
        found: String,
    },
    /// A node id is not a DNS label.
    #[error("node id {id:?} is not a DNS label (1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit)")]
    InvalidId {
        /// The offending id.
        id: String,
    },
    /// Two nodes share an id.
    #[error("node id {id:?} is used by more than one node")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// A node's object lacks a required field or is not an object.
    #[error("node {node:?}: the object's {field} is missing or not a non-empty string")]
    MissingField {
        /// The node.
        node: String,
        /// The field, e.g. `metadata.name`.
        field: &'static str,
    },
    /// A node depends on an id no node has.
    #[error("node {node:?} depends on {missing:?}, which is not a node of this graph")]
    UnknownDependency {
        /// The dependent node.
        node: String,
        /// The missing id.
        missing: String,
    },
    /// A node depends on a node the render deferred; the renderer must defer it too.
    #[error("node {node:?} depends on {deferred:?}, which the render deferred; defer {node:?} with it")]
    DependsOnDeferred {
        /// The dependent node.
        node: String,
        /// The deferred node.
        deferred: String,
    },
    /// A node depends on itself.
    #[error("node {node:?} depends on itself")]
    SelfDependency {
        /// The node.
        node: String,
    },
    /// A node lists the same dependency twice.
    #[error("node {node:?} lists dependency {dependency:?} more than once")]
    RepeatedDependency {
        /// The node.
        node: String,
        /// The repeated dependency.
        dependency: String,
    },
    /// The dependencies form a cycle, spelled out as ids in `dependsOn` direction with the first repeated at
    /// the end: `["a", "b", "a"]` means a depends on b, which depends on a.
    #[error("dependency cycle (each node depends on the next): {}", cycle.join(" -> "))]
    Cycle {
        /// The ids along the cycle, e.g. `["a", "b", "a"]`.
        cycle: Vec<String>,
    },
    /// Two nodes hold the same Kubernetes object.
    #[error("nodes {first:?} and {second:?} both hold {identity}")]
    DuplicateObject {
        /// The object.
        identity: String,
        /// The first node holding it.
        first: String,
        /// The second node holding it.
        second: String,
    },
    /// A readiness predicate is malformed or does not fit the object's kind.
    #[error("node {node:?}, readyWhen[{index}]: {reason}")]
    InvalidReadiness {
        /// The node.
        node: String,
        /// The predicate's index in `readyWhen`.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Every problem found in a graph, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid graph: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidGraph {
    /// The problems, at least one.
    pub problems: Vec<GraphProblem>,
}

/// The execution plan of a valid graph: node indexes in dependency order, grouped in waves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Indexes into `Graph::nodes`; every node comes after all of its dependencies.
    pub order: Vec<usize>,
    /// Wave `k` holds the nodes whose longest chain of dependencies has `k` links; the nodes of one wave do
    /// not depend on each other and can be applied in parallel once the earlier waves are ready. Within a
    /// wave, nodes keep the order the module declared them in.
    pub waves: Vec<Vec<usize>>,
}

impl Graph {
    /// Checks everything the executor relies on and returns the plan, or every problem found.
    pub fn validate(&self) -> Result<Plan, InvalidGraph> {
        let mut problems = Vec::new();
        if self.graph_version != GRAPH_VERSION {
            problems.push(GraphProblem::UnsupportedVersion { found: self.graph_version.clone() });
        }
        let index_of = self.check_ids(&mut problems);
        self.check_objects(&mut problems);
        let edges = self.check_dependencies(&index_of, &mut problems);
        if !problems.is_empty() {
            return Err(InvalidGraph { problems });
        }
        plan(self, &edges).map_err(|cycle| InvalidGraph { problems: vec![GraphProblem::Cycle { cycle }] })
    }

    /// Checks that node and deferred ids are DNS labels used once between them; returns the nodes' indexes.
    fn check_ids(&self, problems: &mut Vec<GraphProblem>) -> HashMap<&str, usize> {
        let mut index_of = HashMap::new();
        let mut seen = HashSet::new();
        let ids = self.nodes.iter().map(|n| &n.id).chain(self.deferred.iter().map(|d| &d.id));
        for (index, id) in ids.enumerate() {
            if !is_dns_label(id) {
                problems.push(GraphProblem::InvalidId { id: id.clone() });
            }
            if !seen.insert(id.as_str()) {
                problems.push(GraphProblem::DuplicateId { id: id.clone() });
            }
            if index < self.nodes.len() {
                index_of.entry(id.as_str()).or_insert(index);
            }
        }
        index_of
    }

    fn check_objects(&self, problems: &mut Vec<GraphProblem>) {
        let mut holder: BTreeMap<ObjectIdentity, &str> = BTreeMap::new();
        for node in &self.nodes {
            let identity = match ObjectIdentity::of(&node.object) {
                Ok(identity) => identity,
                Err(field) => {
                    problems.push(GraphProblem::MissingField { node: node.id.clone(), field });
                    continue;
                }
            };
            for (index, predicate) in node.ready_when.iter().enumerate() {
                if let Err(reason) = predicate.check(&identity.group, &identity.kind) {
                    problems.push(GraphProblem::InvalidReadiness { node: node.id.clone(), index, reason });
                }
            }
            if let Some(first) = holder.get(&identity) {
                problems.push(GraphProblem::DuplicateObject {
                    identity: identity.to_string(),
                    first: (*first).to_owned(),
                    second: node.id.clone(),
                });
            } else {
                holder.insert(identity, &node.id);
            }
        }
    }

    /// Returns the dependency edges `(dependency, dependent)` as node indexes.
    fn check_dependencies(
        &self,
        index_of: &HashMap<&str, usize>,
        problems: &mut Vec<GraphProblem>,
    ) -> Vec<(usize, usize)> {
        let mut edges = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            for (position, dependency) in node.depends_on.iter().enumerate() {
                if node.depends_on[..position].contains(dependency) {
                    problems.push(GraphProblem::RepeatedDependency {
                        node: node.id.clone(),
                        dependency: dependency.clone(),
                    });
                } else if *dependency == node.id {
                    problems.push(GraphProblem::SelfDependency { node: node.id.clone() });
                } else if let Some(&target) = index_of.get(dependency.as_str()) {
                    edges.push((target, index));
                } else if self.deferred.iter().any(|d| d.id == *dependency) {
                    problems
                        .push(GraphProblem::DependsOnDeferred { node: node.id.clone(), deferred: dependency.clone() });
                } else {
                    problems
                        .push(GraphProblem::UnknownDependency { node: node.id.clone(), missing: dependency.clone() });
                }
            }
        }
        edges
    }
}

/// Orders the nodes, or returns one cycle spelled out by id.
fn plan(graph: &Graph, edges: &[(usize, usize)]) -> Result<Plan, Vec<String>> {
    let mut dag: DiGraph<usize, ()> = DiGraph::with_capacity(graph.nodes.len(), edges.len());
    for index in 0..graph.nodes.len() {
        dag.add_node(index);
    }
    for &(from, to) in edges {
        dag.add_edge(NodeIndex::new(from), NodeIndex::new(to), ());
    }
    let sorted = toposort(&dag, None).map_err(|_| find_cycle(graph, &dag))?;
    let mut level = vec![0usize; graph.nodes.len()];
    for node in &sorted {
        let dependencies = dag.neighbors_directed(*node, petgraph::Direction::Incoming);
        level[node.index()] = dependencies.map(|dependency| level[dependency.index()] + 1).max().unwrap_or(0);
    }
    let wave_count = level.iter().max().map_or(0, |deepest| deepest + 1);
    let mut waves = vec![Vec::new(); wave_count];
    for (index, depth) in level.iter().enumerate() {
        waves[*depth].push(index);
    }
    let order = waves.iter().flatten().copied().collect();
    Ok(Plan { order, waves })
}

/// Finds one cycle in a graph known to have one, starting from the earliest-declared node on a cycle and
/// following `dependsOn` (edges point from a dependency to its dependent, so the walk goes against them).
fn find_cycle(graph: &Graph, dag: &DiGraph<usize, ()>) -> Vec<String> {
    let component = tarjan_scc(dag)
        .into_iter()
        .filter(|component| component.len() > 1)
        .min_by_key(|component| component.iter().map(|node| node.index()).min())
        .expect("toposort reported a cycle, so a strongly connected component has more than one node");
    let start = *component.iter().min_by_key(|node| node.index()).expect("component is not empty");
    // Walk inside the component, back to the start when it is a dependency and otherwise to the
    // earliest-declared dependency, until the walk returns to a node already on the path. Every node of a
    // strongly connected component has a dependency inside it, so the walk closes within its size.
    let mut path = vec![start];
    loop {
        let current = *path.last().expect("path starts non-empty");
        let next = dag
            .neighbors_directed(current, petgraph::Direction::Incoming)
            .filter(|next| component.contains(next))
            .min_by_key(|next| (*next != start, next.index()))
            .expect("every node of a strongly connected component has a dependency inside it");
        if let Some(position) = path.iter().position(|node| *node == next) {
            let mut cycle: Vec<String> =
                path[position..].iter().map(|node| graph.nodes[node.index()].id.clone()).collect();
            cycle.push(graph.nodes[next.index()].id.clone());
            return cycle;
        }
        path.push(next);
    }
}
