//! The ResourceGraph resource: a rendered graph and the state of its execution.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use pequod_graph::Graph;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The graph a Transform rendered, owned by the Transform; written by the operator, not by users.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "platform.pequod.io",
    version = "v1alpha1",
    kind = "ResourceGraph",
    namespaced,
    status = "ResourceGraphStatus",
    shortname = "rg",
    category = "pequod",
    doc = "A rendered graph of Kubernetes objects and the state of applying it. Managed by its Transform.",
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.readySummary"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGraphSpec {
    /// The Graph artifact, as the module rendered it and the host validated it.
    #[schemars(schema_with = "crate::free_form_object")]
    pub graph: Graph,
    /// Existing objects the graph may take over (copied from the Transform's `spec.adopt`); any other object
    /// that already exists and is not Pequod's is refused rather than silently taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopt: Vec<crate::AdoptTarget>,
    /// The ServiceAccount (of the graph's namespace) impersonated for every request made for this graph;
    /// none: the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Nodes the module left out until the live state they need is observed: whatever they applied before
    /// is kept, never pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    /// How long an object that left the graph stays before it is pruned (copied from the Transform's
    /// `spec.pruneGracePeriod`, e.g. `10m`); none: pruned at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_grace_period: Option<String>,
}

impl ResourceGraphSpec {
    /// The hash of the spec, over its canonical JSON (object keys sorted, numbers by value), so that the
    /// copy read back from the API server hashes the same as the copy written.
    pub fn hash(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let value = serde_json::to_value(self).expect("a graph spec serializes");
        let mut text = String::new();
        canonical(&value, &mut text);
        format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
    }
}

/// Writes `value` as JSON with object keys sorted.
fn canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        Value::Number(number) => out.push_str(&canonical_number(number)),
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A number as the API server may write it back: `1.0` and `1` are the same number.
fn canonical_number(number: &serde_json::Number) -> String {
    if number.is_i64() || number.is_u64() {
        return number.to_string();
    }
    let float = number.as_f64().unwrap_or_default();
    if float.fract() == 0.0 && float.abs() < 9.0e15 { format!("{}", float as i64) } else { format!("{float:e}") }
}

/// The state of a graph's execution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGraphStatus {
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the execution stands.
    #[serde(default)]
    pub phase: GraphPhase,
    /// `ready/total`, for printer columns.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ready_summary: String,
    /// One entry per node, in graph order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
    /// Every object Pequod applied or adopted for this graph and not yet pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<InventoryEntry>,
    /// `Ready` and friends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Where a graph's execution stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GraphPhase {
    /// Nothing applied yet.
    #[default]
    Pending,
    /// Applying, or waiting for readiness.
    Progressing,
    /// Every node is ready.
    Ready,
    /// A node failed; see its `lastError`.
    Failed,
    /// The graph is being deleted.
    Deleting,
}

/// The state of one node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The node's id.
    pub id: String,
    /// Its state.
    pub state: NodeState,
    /// The last error applying or checking it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// What its readiness gates are waiting for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<String>,
    /// Since when it has been applied and waiting for its readiness gates (RFC 3339): its re-checks back
    /// off from this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<String>,
}

/// The state of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NodeState {
    /// Waiting for its dependencies.
    #[default]
    Pending,
    /// Applied; waiting for its readiness gates.
    Applied,
    /// Applied and ready.
    Ready,
    /// Applying or checking it failed.
    Error,
    /// Its object is incomplete until a dependency reports state (`context.observed`).
    Deferred,
}

/// One object in the inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// The node that holds it.
    pub node: String,
    /// Its apiVersion.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace, if namespaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Its uid when applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// How Pequod holds it.
    pub mode: InventoryMode,
    /// A hash of the object as last applied, to skip unchanged applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_hash: Option<String>,
    /// A hash of the applied fields as the server stored them, to tell drift from normalisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_hash: Option<String>,
    /// What happens to the object when it leaves the graph or the graph is deleted (`Delete` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<pequod_graph::DeletionPolicy>,
    /// When the object's node left the graph (RFC 3339), while a prune grace period runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_graph_at: Option<String>,
}

/// How Pequod holds an object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum InventoryMode {
    /// Created and managed by Pequod.
    #[default]
    Managed,
    /// Existed before and was taken over.
    Adopted,
    /// Left in the cluster without Pequod's ownership.
    Orphaned,
}
