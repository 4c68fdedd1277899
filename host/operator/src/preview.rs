//! What the operator would do for a Transform, without doing it (`pequod diff`).
//!
//! The same steps as the Transform controller (PlatformPolicies, identity, module resolution with its
//! signature rules, render with the policy's limits, target rules), then for every node the executor's own
//! decision and a server-side dry-run apply made with the Transform's identity, and for every inventory
//! entry that left the graph what pruning would do to it. Nothing is written: no status, no Event, no object.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use pequod_api::{FIELD_MANAGER, InventoryEntry, ResourceGraph, ResourceGraphSpec, Transform};
use pequod_graph::{Graph, Node};
use serde_json::{Value, json};

use crate::discovery::Discovery;
use crate::executor::{self, Target};
use crate::identity::Identity;
use crate::policy::{EffectivePolicy, PolicyError};
use crate::prune::{self, PruneStep};
use crate::step::{self, Step};
use crate::transform::{self, RenderStop};
use crate::{Context, source};

/// What the operator would do for a Transform.
#[derive(Clone, Debug)]
pub struct Preview {
    /// Whose permissions the requests were made with.
    pub identity: String,
    /// One entry per node, in apply order.
    pub nodes: Vec<NodePreview>,
    /// The inventory entries that are no longer in the graph.
    pub stale: Vec<StalePreview>,
    /// Nodes the module deferred: whatever they applied before is kept as it is.
    pub deferred: Vec<String>,
}

/// An object as reports name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectName {
    /// Its kind, e.g. `ConfigMap`.
    pub kind: String,
    /// Its namespace (none for cluster-scoped objects).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl ObjectName {
    fn of(object: &Value) -> Self {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
        Self { kind: text(&object["kind"]), namespace, name: text(&object["metadata"]["name"]) }
    }

    fn of_entry(entry: &InventoryEntry) -> Self {
        Self { kind: entry.kind.clone(), namespace: entry.namespace.clone(), name: entry.name.clone() }
    }
}

impl std::fmt::Display for ObjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One node of the graph.
#[derive(Clone, Debug)]
pub struct NodePreview {
    /// The node's id.
    pub id: String,
    /// Its object.
    pub object: ObjectName,
    /// The live object (none: it does not exist, or could not be read).
    pub live: Option<Value>,
    /// What the apply would do.
    pub outcome: Outcome,
}

/// What applying one node would do.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The object after the apply, as the API server's dry run returned it.
    Applied {
        /// The dry-run result.
        after: Value,
        /// The field-manager conflict a plain apply ran into (`after` is then the forced apply's result).
        conflict: Option<Conflict>,
    },
    /// The operator leaves the object as it is (unchanged since its last apply, or `CreateOnly`).
    Kept,
    /// The apply would be refused (target rules, adoption rules, RBAC, admission): the reason.
    Refused(String),
}

/// A conflict with another field manager.
#[derive(Clone, Debug)]
pub struct Conflict {
    /// The API server's message: the managers and the fields.
    pub message: String,
    /// Whether the operator forces ownership (`applyPolicy.conflictPolicy: Force`, or adopting); when it
    /// does not, its apply fails on the conflict.
    pub forced: bool,
}

/// An inventory entry that left the graph.
#[derive(Clone, Debug)]
pub struct StalePreview {
    /// The node that applied it.
    pub node: String,
    /// The object.
    pub object: ObjectName,
    /// What pruning would do to it.
    pub fate: Fate,
}

/// What pruning would do to an object that left the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Delete it (once the grace period, if any, has run out).
    Pruned {
        /// The Transform's `spec.pruneGracePeriod`.
        grace: Option<String>,
    },
    /// Leave it in place without Pequod's ownership: why.
    Orphaned(&'static str),
    /// Leave it alone, it is not the object Pequod applied (or the target rules refuse it): why.
    Untouched(String),
    /// It is gone already.
    Gone,
    /// Its state could not be read: the error.
    Unknown(String),
}

/// Why there is no preview.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// A request the preview needs failed (PlatformPolicies, the ResourceGraph, discovery, identity).
    #[error("{0}")]
    Cluster(String),
    /// The PlatformPolicies that apply are invalid.
    #[error("invalid PlatformPolicy: {0}")]
    Policy(String),
    /// The module could not be resolved (or its signature verified).
    #[error("{reason}: {message}")]
    Source {
        /// The condition reason the operator would report, e.g. `SignatureInvalid`.
        reason: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The module is not a renderer component the sandbox can load.
    #[error(transparent)]
    Load(#[from] pequod_sandbox::LoadError),
    /// The render ended without a graph.
    #[error(transparent)]
    Render(pequod_sandbox::RenderError),
    /// The target rules refuse objects of the graph: the violations.
    #[error("the target rules refuse the graph: {0}")]
    Targets(String),
}

/// Previews what the operator would do for `transform`: everything it would read is read (with the Transform's
/// identity where the operator uses it), nothing is written.
pub async fn preview(context: &Context, transform: &Transform) -> Result<Preview, PreviewError> {
    let namespace =
        transform.namespace().ok_or_else(|| PreviewError::Cluster("the Transform has no namespace".into()))?;
    let policy = crate::policy::for_namespace(context, &namespace).await.map_err(policy_error)?;
    let identity = context.identities.of(&namespace, transform.spec.service_account_name.as_deref());
    let client = context
        .identities
        .client(&context.client, &identity)
        .map_err(|error| PreviewError::Cluster(error.to_string()))?;
    let (rendered, graph) = render(context, transform, &namespace, &client, &policy).await?;
    let spec = transform::graph_spec(transform, graph, &identity, &rendered);
    let resource_graph = with_inventory(transform, &namespace, spec, context).await?;
    let graph_key = format!("{namespace}/{}", transform.name_any());
    let target = Target {
        graph: &resource_graph,
        graph_key: &graph_key,
        namespace: &namespace,
        client: &client,
        policy: &policy,
    };
    Ok(Preview {
        identity: describe_identity(&identity),
        nodes: preview_nodes(&target, context).await?,
        stale: preview_stale(&target, context).await,
        deferred: resource_graph.spec.deferred.clone(),
    })
}

fn policy_error(error: PolicyError) -> PreviewError {
    match error {
        PolicyError::Invalid(message) => PreviewError::Policy(message),
        PolicyError::Unavailable(error) => PreviewError::Cluster(format!("cannot read PlatformPolicies: {error}")),
    }
}

fn describe_identity(identity: &Identity) -> String {
    match identity {
        Identity::Operator => "the caller's own credentials (the Transform names no ServiceAccount)".to_owned(),
        account => account.to_string(),
    }
}

/// Resolves, loads and renders the module, and places and checks the graph: the rendered graph and the
/// graph the operator would hand over.
async fn render(
    context: &Context,
    transform: &Transform,
    namespace: &str,
    client: &kube::Client,
    policy: &EffectivePolicy,
) -> Result<(Graph, Graph), PreviewError> {
    let resolved = source::resolve(context, client, namespace, &transform.spec.cue_ref, policy)
        .await
        .map_err(|error| PreviewError::Source { reason: error.reason(), message: error.to_string() })?;
    let module = context.sandbox.load_async(Arc::clone(&resolved.wasm)).await?;
    let rendered = match transform::render_observing(transform, namespace, &module, client, policy, context).await {
        Ok(rendered) => rendered,
        Err(RenderStop::Observe(message)) => return Err(PreviewError::Cluster(message)),
        Err(RenderStop::Render(error)) => return Err(PreviewError::Render(error)),
    };
    let mut graph = rendered.graph.clone();
    let violations =
        transform::place_and_check(&mut graph, policy, namespace, context).await.map_err(PreviewError::Cluster)?;
    if !violations.is_empty() {
        let message = violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        return Err(PreviewError::Targets(message));
    }
    transform::apply_deletion_policy(&mut graph, transform);
    Ok((rendered.graph.clone(), graph))
}

/// The graph as its ResourceGraph would hold it, with the inventory of the live ResourceGraph (if any).
async fn with_inventory(
    transform: &Transform,
    namespace: &str,
    spec: ResourceGraphSpec,
    context: &Context,
) -> Result<ResourceGraph, PreviewError> {
    let name = transform.name_any();
    let graphs: Api<ResourceGraph> = Api::namespaced(context.client.clone(), namespace);
    let live = graphs
        .get_opt(&name)
        .await
        .map_err(|error| PreviewError::Cluster(format!("cannot read the ResourceGraph {namespace}/{name}: {error}")))?;
    let mut graph = ResourceGraph::new(&name, spec);
    graph.metadata.namespace = Some(namespace.to_owned());
    graph.status = live.and_then(|live| live.status);
    Ok(graph)
}

/// The inventory of the graph, keyed as the executor keys it.
fn inventory(graph: &ResourceGraph) -> BTreeMap<String, InventoryEntry> {
    let entries = graph.status.iter().flat_map(|status| &status.inventory);
    entries.map(|entry| (executor::identity_key(entry), entry.clone())).collect()
}

async fn preview_nodes(target: &Target<'_>, context: &Context) -> Result<Vec<NodePreview>, PreviewError> {
    let graph = &target.graph.spec.graph;
    let plan = graph.validate().map_err(|error| PreviewError::Cluster(error.to_string()))?;
    let inventory = inventory(target.graph);
    let mut nodes = Vec::with_capacity(plan.order.len());
    for &index in &plan.order {
        let node = &graph.nodes[index];
        let previous = inventory.get(&executor::object_key(&node.object));
        nodes.push(preview_node(node, target, previous, context).await);
    }
    Ok(nodes)
}

async fn preview_node(
    node: &Node,
    target: &Target<'_>,
    previous: Option<&InventoryEntry>,
    context: &Context,
) -> NodePreview {
    let (live, outcome) = match dry_run_node(node, target, previous, context).await {
        Ok(found) => found,
        Err(refused) => (None, Outcome::Refused(refused)),
    };
    NodePreview { id: node.id.clone(), object: ObjectName::of(&node.object), live, outcome }
}

/// The live object and what applying the node would do to it, decided as the executor decides.
async fn dry_run_node(
    node: &Node,
    target: &Target<'_>,
    previous: Option<&InventoryEntry>,
    context: &Context,
) -> Result<(Option<Value>, Outcome), String> {
    let api_version = node.object["apiVersion"].as_str().unwrap_or_default();
    let kind_name = node.object["kind"].as_str().unwrap_or_default();
    let name = node.object["metadata"]["name"].as_str().unwrap_or_default();
    let kind = context
        .discovery
        .resolve(api_version, kind_name)
        .await
        .map_err(|error| format!("cannot resolve {kind_name} in {api_version}: {error}"))?;
    if let Some(refused) = executor::refusal(&node.object, &kind, target) {
        return Err(format!("refused by the target rules: {refused}"));
    }
    let namespace = node.object["metadata"]["namespace"].as_str().unwrap_or(target.namespace);
    let api = Discovery::api(target.client, &kind, namespace);
    let desired = executor::stamped(node, target);
    let live = api.get_opt(name).await.map_err(|error| executor::describe_apply_error(&error))?;
    let facts = live.as_ref().map(|live| executor::live_facts(live, &desired, target.graph_key));
    let listed = executor::adoption_listed(target, api_version, kind_name, name, namespace);
    let hash = executor::applied_hash(&desired);
    let step = step::decide(&node.apply_policy, &hash, facts.as_ref(), previous, listed)
        .map_err(|refused| refused.message(&format!("{kind_name} {name}")))?;
    let live = live.map(|live| serde_json::to_value(live).unwrap_or(Value::Null));
    let outcome = match step {
        Step::Keep => Outcome::Kept,
        step => dry_run(&api, &desired, name, step.force(&node.apply_policy)).await,
    };
    Ok((live, outcome))
}

/// A dry-run apply without force; on a conflict, the conflict and a forced dry run's result.
async fn dry_run(api: &Api<DynamicObject>, desired: &Value, name: &str, operator_forces: bool) -> Outcome {
    let error = match dry_run_apply(api, desired, name, false).await {
        Ok(after) => return Outcome::Applied { after, conflict: None },
        Err(error) => error,
    };
    let conflict = match error {
        kube::Error::Api(response) if response.code == 409 => {
            Conflict { message: response.message, forced: operator_forces }
        }
        other => return Outcome::Refused(executor::describe_apply_error(&other)),
    };
    match dry_run_apply(api, desired, name, true).await {
        Ok(after) => Outcome::Applied { after, conflict: Some(conflict) },
        Err(error) => Outcome::Refused(executor::describe_apply_error(&error)),
    }
}

/// A server-side apply with `dryRun=All`, as Pequod's field manager.
async fn dry_run_apply(
    api: &Api<DynamicObject>,
    desired: &Value,
    name: &str,
    force: bool,
) -> Result<Value, kube::Error> {
    let params = PatchParams { dry_run: true, force, ..PatchParams::apply(FIELD_MANAGER) };
    let after = api.patch(name, &params, &Patch::Apply(desired)).await?;
    Ok(serde_json::to_value(after).unwrap_or(Value::Null))
}

/// What pruning would do to every inventory entry that left the graph, last applied first.
async fn preview_stale(target: &Target<'_>, context: &Context) -> Vec<StalePreview> {
    let inventory = inventory(target.graph);
    let current = executor::current_keys(target.graph, &inventory);
    let mut stale = Vec::new();
    for (_, entry) in inventory.iter().filter(|(key, _)| !current.contains(*key)).rev() {
        let fate = stale_fate(entry, target, context).await;
        stale.push(StalePreview { node: entry.node.clone(), object: ObjectName::of_entry(entry), fate });
    }
    stale
}

/// What pruning would do to `entry`, decided as the executor decides (see [`prune::decide`]).
async fn stale_fate(entry: &InventoryEntry, target: &Target<'_>, context: &Context) -> Fate {
    let kind = match context.discovery.resolve(&entry.api_version, &entry.kind).await {
        Ok(kind) => kind,
        Err(kube::Error::Api(response)) if response.code == 404 => return Fate::Gone,
        Err(error) => return Fate::Unknown(error.to_string()),
    };
    let object = json!({"apiVersion": entry.api_version, "kind": entry.kind,
        "metadata": {"name": entry.name, "namespace": entry.namespace}});
    if let Some(refused) = executor::refusal(&object, &kind, target) {
        return Fate::Untouched(format!("the target rules refuse it: {refused}"));
    }
    let api = Discovery::api(target.client, &kind, entry.namespace.as_deref().unwrap_or_default());
    let live = match api.get_opt(&entry.name).await {
        Ok(live) => live,
        Err(kube::Error::Api(response)) if response.code == 404 => return Fate::Gone,
        Err(error) => return Fate::Unknown(executor::describe_apply_error(&error)),
    };
    let step = prune::decide(entry, entry.deletion_policy, live.as_ref().map(|live| &live.metadata), target.graph_key);
    fate_of(step, target.graph.spec.prune_grace_period.clone())
}

/// The fate of a prune step.
fn fate_of(step: PruneStep, grace: Option<String>) -> Fate {
    match step {
        PruneStep::Gone => Fate::Gone,
        PruneStep::NotOurs(why) => Fate::Untouched(why.to_owned()),
        PruneStep::Abandon(why) => Fate::Orphaned(why),
        PruneStep::Delete { .. } => Fate::Pruned { grace },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_steps_are_fates() {
        let grace = Some("10m".to_owned());
        let cases = [
            (PruneStep::Gone, Fate::Gone),
            (PruneStep::NotOurs("replaced"), Fate::Untouched("replaced".into())),
            (PruneStep::Abandon("kept"), Fate::Orphaned("kept")),
            (PruneStep::Delete { uid: None }, Fate::Pruned { grace: grace.clone() }),
        ];
        for (step, expected) in cases {
            assert_eq!(fate_of(step.clone(), grace.clone()), expected, "{step:?}");
        }
    }

    #[test]
    fn objects_are_named_with_their_namespace_when_they_have_one() {
        let namespaced = json!({"kind": "ConfigMap", "metadata": {"name": "web", "namespace": "team"}});
        let cluster = json!({"kind": "ClusterRole", "metadata": {"name": "reader"}});
        assert_eq!(ObjectName::of(&namespaced).to_string(), "ConfigMap team/web");
        assert_eq!(ObjectName::of(&cluster).to_string(), "ClusterRole reader");
    }
}
