//! The Pequod Graph artifact: what a renderer returns and what the executor applies.
//!
//! A [`Graph`] is a list of [`Node`]s, each holding one full Kubernetes object, the ids of the nodes it
//! depends on, the readiness predicates that must hold before its dependents are applied, and how it is
//! applied and deleted. It crosses the sandbox boundary as JSON (camelCase, with an explicit
//! `graphVersion`), so this crate owns both the serde types and the strict validation the host runs on
//! every Graph it receives ([`Graph::validate`]), which also yields the dependency order and the parallel
//! "waves" of the executor ([`Plan`]).
//!
//! Architecture invariant: this crate does no IO and depends on nothing that cannot build for
//! `wasm32-wasip2`, because the host and the guest SDK share it.

mod build;
mod context;
mod object;
mod readiness;
mod validate;

pub use context::RenderContext;
pub use object::ObjectIdentity;
pub use readiness::{ConditionStatus, Readiness};
pub use validate::{GraphProblem, InvalidGraph, Plan};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of the Graph artifact this crate writes: `v1alpha2` carries deferred nodes in
/// [`Graph::deferred`].
pub const GRAPH_VERSION: &str = "pequod.io/graph/v1alpha2";

/// The previous version, still read: it reported a deferred node as an `info` violation whose message
/// starts with [`V1ALPHA1_DEFERRED_PREFIX`]; [`Graph::upgrade`] turns such a graph into the current one.
pub const GRAPH_VERSION_V1ALPHA1: &str = "pequod.io/graph/v1alpha1";

/// How a `v1alpha1` graph marked the violation that reported a deferred node.
pub const V1ALPHA1_DEFERRED_PREFIX: &str = "deferred: ";

/// A rendered dependency graph of Kubernetes objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Graph {
    /// The artifact version; must be [`GRAPH_VERSION`].
    pub graph_version: String,
    /// Where the graph came from.
    #[serde(default)]
    pub metadata: GraphMetadata,
    /// The objects to apply, in the order the module declared them.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Non-fatal findings of the render (warnings and notes); errors end a render as `rejected` instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Values the module publishes for other tools (e.g. a URL); free-form JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exports: Option<serde_json::Map<String, Value>>,
    /// Nodes the module could not render yet because they need live state it has not observed (e.g. a
    /// field of `context.observed`). They are not in `nodes`; the executor keeps whatever they applied
    /// before, and the host renders again once the state they wait for is there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<Deferred>,
}

/// A node left out of a render until the live state it needs is observed.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deferred {
    /// The node's id, as it appears in `nodes` once rendered.
    pub id: String,
    /// What it waits for, e.g. the `context.observed` field it reads, or the deferred node it depends on.
    pub reason: String,
}

impl Graph {
    /// Brings a graph of an older version this crate still reads up to [`GRAPH_VERSION`]; a graph of
    /// the current or an unknown version is returned as it is (validation refuses the unknown one).
    pub fn upgrade(mut self) -> Self {
        if self.graph_version != GRAPH_VERSION_V1ALPHA1 {
            return self;
        }
        let (deferred, violations): (Vec<Violation>, Vec<Violation>) =
            self.violations.into_iter().partition(is_v1alpha1_deferred);
        self.violations = violations;
        self.deferred.extend(
            deferred
                .into_iter()
                .map(|v| Deferred { reason: v.message[V1ALPHA1_DEFERRED_PREFIX.len()..].to_owned(), id: v.path }),
        );
        self.graph_version = GRAPH_VERSION.to_owned();
        self
    }
}

fn is_v1alpha1_deferred(violation: &Violation) -> bool {
    violation.severity == Severity::Info && violation.message.starts_with(V1ALPHA1_DEFERRED_PREFIX)
}

/// Provenance of a graph: the module that rendered it and a hash of the result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphMetadata {
    /// The module's name, as reported by its `info()`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub module: String,
    /// The module's version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The sha256 digest of the module component (`sha256:<hex>`), filled in by the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// A sha256 over the rendered nodes (`sha256:<hex>`), filled in by the host; equal hashes mean equal
    /// objects, so the executor can skip work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_hash: Option<String>,
}

/// One Kubernetes object in the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// A stable id, unique in the graph, shaped like a DNS label (`deployment`, `db-secret`).
    pub id: String,
    /// The full object (`apiVersion`, `kind`, `metadata.name`, …) as it will be server-side applied.
    pub object: Value,
    /// Ids of the nodes that must be applied and ready before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Predicates over the live object that must all hold for the node to count as ready. Empty means
    /// ready as soon as it is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ready_when: Vec<Readiness>,
    /// How the object is applied and deleted.
    #[serde(default, skip_serializing_if = "ApplyPolicy::is_default")]
    pub apply_policy: ApplyPolicy,
}

/// How the executor treats one node's object.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyPolicy {
    /// Whether the object is created, updated or only adopted.
    #[serde(default)]
    pub mode: ApplyMode,
    /// What happens when another field manager owns a field we set.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// What happens to the object when it leaves the graph or the Transform is deleted. Unset means
    /// `Delete`, except for PersistentVolumeClaims and Secrets, which are kept (abandoned) unless the node says
    /// `Delete` explicitly: their data outlives a module change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

impl ApplyPolicy {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether a node's object is created, updated or only adopted.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyMode {
    /// Create the object if missing and keep it up to date.
    #[default]
    CreateOrUpdate,
    /// Create the object if missing; never change it afterwards.
    CreateOnly,
    /// Take over an object that must already exist; fail if it does not.
    AdoptOnly,
}

/// What happens when another field manager owns a field we apply.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConflictPolicy {
    /// Report the conflict (naming the other manager and the fields) and stop.
    #[default]
    Fail,
    /// Take ownership of the conflicting fields.
    Force,
}

/// What happens to an object when it leaves the graph or the Transform is deleted.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeletionPolicy {
    /// Delete the object.
    #[default]
    Delete,
    /// Leave the object in the cluster, dropping our ownership of its fields.
    Orphan,
}

/// A structured finding of a render, shared with the WIT `violation` record.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Violation {
    /// A dotted path; relative to `spec.input` for phase `input`.
    pub path: String,
    /// What is wrong, in words the Transform's author can act on.
    pub message: String,
    /// How bad it is.
    #[serde(default)]
    pub severity: Severity,
    /// Where it was found.
    pub phase: Phase,
}

/// How bad a violation is.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Makes the render fail.
    #[default]
    Error,
    /// Reported, but the graph is applied.
    Warning,
    /// A note.
    Info,
}

/// Where a violation was found.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// The Transform's input broke the module's schema or constraints.
    Input,
    /// The module could not render with this input and context.
    Render,
    /// A rendered object broke an output policy.
    Output,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let phase = match self.phase {
            Phase::Input => "input",
            Phase::Render => "render",
            Phase::Output => "output",
        };
        if self.path.is_empty() {
            write!(f, "{severity} ({phase}): {}", self.message)
        } else {
            write!(f, "{severity} ({phase}) at {}: {}", self.path, self.message)
        }
    }
}
