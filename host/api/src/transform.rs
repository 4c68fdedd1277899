//! The Transform resource: a module reference plus free-form input.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, ResourceExt};
use pequod_graph::{Deferred, DeletionPolicy, RenderContext, Violation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{MANAGED_BY_LABEL, TRANSFORM_LABEL};

/// A request to render a module with some input and apply the resulting graph.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "platform.pequod.io",
    version = "v1alpha1",
    kind = "Transform",
    namespaced,
    status = "TransformStatus",
    shortname = "tf",
    category = "pequod",
    doc = "Renders a Pequod module with the given input and applies the resulting graph of objects.",
    printcolumn = r#"{"name": "Module", "type": "string", "jsonPath": ".status.resolvedCueRef.module"}"#,
    printcolumn = r#"{"name": "Source", "type": "string", "jsonPath": ".spec.cueRef.type", "priority": 1}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Nodes", "type": "string", "jsonPath": ".status.nodes.summary"}"#,
    printcolumn = r#"{"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name": "Digest", "type": "string", "jsonPath": ".status.resolvedCueRef.digest", "priority": 1}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformSpec {
    /// Which module renders this Transform.
    pub cue_ref: CueRef,
    /// Free-form input, checked by the module's schema.
    #[serde(default = "empty_object")]
    #[schemars(schema_with = "crate::free_form_object")]
    pub input: Value,
    /// What happens to the rendered objects when the Transform is deleted (default: each node's own policy).
    /// `Orphan` keeps every object; `Delete` does not delete PersistentVolumeClaims and Secrets whose node
    /// does not say `Delete` itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// How long an object whose node left the rendered graph is kept before it is pruned (e.g. `10m`; at
    /// most 7 days): an Event names it when it leaves, and the node coming back cancels the prune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_grace_period: Option<String>,
    /// Existing objects to take over instead of creating them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopt: Vec<AdoptTarget>,
    /// Stop reconciling while true: nothing is rendered, applied, corrected or pruned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// The ServiceAccount of the Transform's namespace whose permissions every request for this Transform's
    /// graph is made with (impersonated); default: the operator's `--default-service-account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Where the module comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CueRef {
    /// The kind of source.
    #[serde(rename = "type")]
    pub source: SourceType,
    /// The reference within that source: an OCI reference, a git URL, a ConfigMap name, inline CUE text, or
    /// the name of an embedded module.
    #[serde(rename = "ref")]
    pub reference: String,
    /// A directory within the source, for git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A Secret with registry or git credentials, in the Transform's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret_ref: Option<LocalObjectReference>,
}

/// A reference to an object in the Transform's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalObjectReference {
    /// Its name.
    pub name: String,
}

/// An existing object the Transform takes over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdoptTarget {
    /// The object's apiVersion.
    pub api_version: String,
    /// The object's kind.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The object's namespace (default: the Transform's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The kinds of module source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    /// A module artifact in an OCI registry.
    Oci,
    /// A CUE module in a git repository.
    Git,
    /// A module in a ConfigMap of the Transform's namespace.
    Configmap,
    /// CUE source in the Transform itself.
    Inline,
    /// A module shipped inside the Pequod binary.
    Embedded,
}

impl std::fmt::Display for SourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceType::Oci => "oci",
            SourceType::Git => "git",
            SourceType::Configmap => "configmap",
            SourceType::Inline => "inline",
            SourceType::Embedded => "embedded",
        })
    }
}

/// What the operator observed and did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformStatus {
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `SourceReady`, `Verified`, `Rendered`, `PolicyPassed`, `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The module actually used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_cue_ref: Option<ResolvedCueRef>,
    /// The hash of the last rendered graph's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_hash: Option<String>,
    /// Violations of the last render (errors when it was rejected, warnings otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Nodes the last render left out until the live state they read (`context.observed`) is there, with
    /// what each waits for; whatever they applied before is kept meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<Deferred>,
    /// The hash of the ResourceGraph spec the operator handed over; the graph is executed only while it
    /// matches, so a graph that Pequod did not render is never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_hash: Option<String>,
    /// The name of the ResourceGraph holding the rendered graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_graph_ref: Option<String>,
    /// How many nodes are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeSummary>,
}

/// The module a Transform was rendered with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedCueRef {
    /// The module's digest, `sha256:<hex>`.
    pub digest: String,
    /// The module's name and version, as its `info()` reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// When the module was fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<Time>,
    /// Who signed it, when a signature was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// Ready nodes out of all nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// Nodes that are ready.
    pub ready: u32,
    /// All nodes.
    pub total: u32,
    /// `ready/total`, for printer columns.
    pub summary: String,
}

impl NodeSummary {
    /// A summary of `ready` out of `total`.
    pub fn new(ready: u32, total: u32) -> Self {
        Self { ready, total, summary: format!("{ready}/{total}") }
    }
}

/// The context a render of `transform` gets: its name and namespace, the labels every rendered object
/// carries, and the cluster's capabilities and observed state as the caller knows them.
pub fn render_context(
    transform: &Transform,
    capabilities: serde_json::Map<String, Value>,
    observed: serde_json::Map<String, Value>,
) -> RenderContext {
    let name = transform.name_any();
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), "pequod".to_owned()),
        (TRANSFORM_LABEL.to_owned(), name.clone()),
    ]);
    RenderContext {
        name,
        namespace: transform.namespace().unwrap_or_else(|| "default".to_owned()),
        labels,
        capabilities,
        observed,
        policy: serde_json::Map::new(),
    }
}
