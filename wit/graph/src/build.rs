//! Builders, so renderers written in Rust read like the graph they produce.

use serde_json::Value;

use crate::{
    ApplyMode, ApplyPolicy, ConflictPolicy, DeletionPolicy, GRAPH_VERSION, Graph, GraphMetadata, Node, Phase,
    Readiness, Severity, Violation,
};

impl Graph {
    /// An empty graph of the current [`GRAPH_VERSION`] rendered by `module` at `version`.
    pub fn new(module: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            graph_version: GRAPH_VERSION.to_owned(),
            metadata: GraphMetadata { module: module.into(), version: version.into(), digest: None, render_hash: None },
            nodes: Vec::new(),
            violations: Vec::new(),
            exports: None,
            deferred: Vec::new(),
        }
    }

    /// Adds a node.
    pub fn with_node(mut self, node: Node) -> Self {
        self.nodes.push(node);
        self
    }

    /// Leaves node `id` out until the live state it reads (`context.observed`) is there; the executor keeps
    /// whatever it applied before.
    pub fn with_deferred(mut self, id: impl Into<String>, reason: impl Into<String>) -> Self {
        self.deferred.push(crate::Deferred { id: id.into(), reason: reason.into() });
        self
    }

    /// Adds a non-fatal warning, reported on the Transform.
    pub fn with_warning(mut self, phase: Phase, path: impl Into<String>, message: impl Into<String>) -> Self {
        self.violations.push(Violation {
            path: path.into(),
            message: message.into(),
            severity: Severity::Warning,
            phase,
        });
        self
    }

    /// Publishes a value under `exports.<key>`.
    pub fn with_export(mut self, key: impl Into<String>, value: Value) -> Self {
        self.exports.get_or_insert_with(Default::default).insert(key.into(), value);
        self
    }

    /// The node with this id, if any.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id == id)
    }
}

impl Node {
    /// A node with id `id` holding `object`, with no dependencies, no readiness gates and the default policy.
    pub fn new(id: impl Into<String>, object: Value) -> Self {
        Self {
            id: id.into(),
            object,
            depends_on: Vec::new(),
            ready_when: Vec::new(),
            apply_policy: ApplyPolicy::default(),
        }
    }

    /// Makes this node wait until node `id` is applied and ready.
    pub fn depends_on(mut self, id: impl Into<String>) -> Self {
        self.depends_on.push(id.into());
        self
    }

    /// Adds a readiness predicate.
    pub fn ready_when(mut self, predicate: Readiness) -> Self {
        self.ready_when.push(predicate);
        self
    }

    /// Sets how the object is created or adopted.
    pub fn mode(mut self, mode: ApplyMode) -> Self {
        self.apply_policy.mode = mode;
        self
    }

    /// Sets what happens on a field-manager conflict.
    pub fn conflict_policy(mut self, policy: ConflictPolicy) -> Self {
        self.apply_policy.conflict_policy = policy;
        self
    }

    /// Sets what happens to the object when it leaves the graph.
    pub fn deletion_policy(mut self, policy: DeletionPolicy) -> Self {
        self.apply_policy.deletion_policy = Some(policy);
        self
    }
}

impl Violation {
    /// An error-severity violation.
    pub fn error(phase: Phase, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), severity: Severity::Error, phase }
    }
}
