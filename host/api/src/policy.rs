//! The PlatformPolicy resource: what cluster admins allow renders and graphs to do.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::SourceType;

/// Sandbox limits, trust rules and target rules for the Transforms of the cluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "platform.pequod.io",
    version = "v1alpha1",
    kind = "PlatformPolicy",
    shortname = "pp",
    category = "pequod",
    doc = "Limits and trust rules for Pequod renders, set by cluster admins.",
    status = "PlatformPolicyStatus",
    printcolumn = r#"{"name": "Valid", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Namespaces", "type": "integer", "jsonPath": ".status.namespaceCount"}"#,
    printcolumn = r#"{"name": "Transforms", "type": "integer", "jsonPath": ".status.transforms"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformPolicySpec {
    /// The namespaces whose Transforms this policy applies to (with `namespaceSelector`: either matches).
    /// With neither, the policy applies to every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// The labels of the namespaces whose Transforms this policy applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Limits of each render.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxPolicy>,
    /// Which modules may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustPolicy>,
    /// Which objects a graph may contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<TargetRules>,
    /// Parameters of the output policy modules apply to what they render (the shared CUE package
    /// `policy`), passed to every render as `context.policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_parameters: Option<ModuleParameters>,
}

/// What the operator found about a PlatformPolicy (written when it watches every namespace).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformPolicyStatus {
    /// The generation these findings are about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: whether the policy itself is valid (a quantity that does not parse, say, is named here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    /// The namespaces it applies to now, sorted (at most 50 are listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// How many namespaces it applies to.
    #[serde(default)]
    pub namespace_count: i32,
    /// How many Transforms it applies to.
    #[serde(default)]
    pub transforms: i32,
}

/// Parameters of the output policy modules apply (CUE package `policy`, `#Params`). Several policies for
/// one namespace combine to the strictest: an image must match every list of registries, the highest
/// minimum of replicas wins, and required labels add up (two values for one label are an error). A module
/// may add rules of its own; it cannot lift these.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModuleParameters {
    /// Prefixes of the registries (or repositories) container images may come from, e.g. `ghcr.io/acme/`.
    /// Without any, the policy package's defaults apply (well-known public registries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    /// The fewest replicas a workload may declare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,
    /// Labels every workload's Pod template carries, with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub required_labels: BTreeMap<String, String>,
}

/// Limits of each render; absent fields keep the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxPolicy {
    /// Fuel (about one unit per WebAssembly instruction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Memory, as a quantity (`256Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Wall time, e.g. `1s` or `1500ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Largest graph, as a quantity (`1Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<String>,
    /// Most nodes in a graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<u32>,
}

/// Which modules may be used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustPolicy {
    /// Refuse modules without a valid signature from `publicKeys`.
    #[serde(default)]
    pub require_signatures: bool,
    /// PEM public keys whose signatures are trusted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_keys: Vec<String>,
    /// The source types Transforms may use (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_sources: Vec<SourceType>,
    /// Registry or repository prefixes OCI modules may come from (default: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    /// Hosts (`host` or `host:port`) git and OCI modules may be fetched from. When some policy lists hosts, a
    /// source's host must be in every list. Loopback, link-local, private and cluster-internal addresses
    /// (`*.svc`, `*.cluster.local`, single-label names) are refused unless a policy lists them here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Source types that may be used without a signature although this policy sets `requireSignatures`
    /// (`inline`, `configmap` and `git` modules cannot carry one). Embedded modules ship in the operator's
    /// image and are always allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_unsigned: Vec<SourceType>,
}

/// Which objects a graph may contain. Without a policy allowing them, graphs may not contain Pequod's own
/// kinds, RBAC kinds, admission webhooks and policies, CRDs, Namespaces, cluster-scoped objects or objects
/// in other namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetRules {
    /// Namespaces objects may be placed in besides the Transform's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_namespaces: Vec<String>,
    /// Kinds a graph must not contain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_kinds: Vec<GroupKind>,
    /// Kinds that are refused by default (RBAC, admission, CRDs, Namespaces, Pequod's own) that graphs may
    /// contain; `kind: "*"` allows every kind of the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_kinds: Vec<GroupKind>,
    /// Whether graphs may contain cluster-scoped objects.
    #[serde(default)]
    pub allow_cluster_scoped: bool,
    /// Whether modules may read the `data` of Secrets of their graph through `context.observed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observe_secret_data: bool,
}

/// An API group and kind; `group` is empty for the core group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupKind {
    /// The API group (`apps`), empty for core.
    #[serde(default)]
    pub group: String,
    /// The kind.
    pub kind: String,
}
