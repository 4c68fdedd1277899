//! The render context: what the host tells a renderer besides the input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The second argument of `render`: facts about the Transform and the cluster. The host fills every field;
/// renderers must not expect more.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderContext {
    /// The Transform's name; modules use it to name their objects.
    pub name: String,
    /// The Transform's namespace; namespaced objects without a namespace land here.
    pub namespace: String,
    /// Labels the host asks every object to carry (e.g. `app.kubernetes.io/managed-by: pequod`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What the cluster offers, e.g. `{"apiGroups": ["iam.services.k8s.aws", …]}`.
    #[serde(default)]
    pub capabilities: Map<String, Value>,
    /// The live state of already-applied nodes, keyed by node id (e.g. `observed.role.status.ackResourceMetadata.arn`).
    #[serde(default)]
    pub observed: Map<String, Value>,
    /// The parameters of the output policy (`allowedRegistries`, `minReplicas`, `requiredLabels`), combined
    /// from the PlatformPolicies that apply; empty means the policy package's defaults.
    #[serde(default)]
    pub policy: Map<String, Value>,
}
