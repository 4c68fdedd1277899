//! The ResourceGraph controller: apply the graph wave by wave, gate on readiness, keep the inventory, prune,
//! and delete in reverse order through a finalizer.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use pequod_api::{
    ConditionType, FIELD_MANAGER, GraphPhase, InventoryEntry, InventoryMode, MANAGED_BY_LABEL, NodeState, NodeStatus,
    ResourceGraph, ResourceGraphStatus, TRANSFORM_LABEL, set_condition,
};
use pequod_graph::{ApplyMode, ConflictPolicy, DeletionPolicy, Node};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::drift::{self, GRAPH_ANNOTATION};
use crate::events::{Severity, object_reference};
use crate::{Context, Error, now, readiness};

/// The finalizer that makes deletion go through [`cleanup`].
pub(crate) const FINALIZER: &str = "platform.pequod.io/cleanup";

/// How soon a graph that waits for readiness is looked at again.
const POLL: Duration = Duration::from_secs(2);
/// How often a ready graph is checked for drift.
const RESYNC: Duration = Duration::from_secs(60);

/// Reconciles one ResourceGraph.
pub(crate) async fn reconcile(graph: Arc<ResourceGraph>, context: Arc<Context>) -> Result<Action, Error> {
    let namespace = graph.namespace().ok_or_else(|| Error::Invalid("a ResourceGraph must be namespaced".into()))?;
    let api: Api<ResourceGraph> = Api::namespaced(context.client.clone(), &namespace);
    // The status is the inventory and the record of what was applied: read it from the API server, not
    // from the watch cache, which may not have our last status write yet (a reconcile woken by the watch
    // event of our own apply would otherwise apply again, or forget that an object was adopted).
    let Some(graph) = api.get_opt(&graph.name_any()).await? else { return Ok(Action::await_change()) };
    finalizer(&api, FINALIZER, Arc::new(graph), |event| async {
        match event {
            Event::Apply(graph) => execute(&graph, &namespace, &context).await,
            Event::Cleanup(graph) => cleanup(&graph, &namespace, &context).await,
        }
    })
    .await
    .map_err(|error| Error::Finalizer(error.to_string()))
}

/// Whether the Transform that owns `graph` is gone or going: its graph must not apply anything any more (a
/// render that was in flight when the Transform was deleted may have written the graph again).
async fn owner_is_leaving(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<bool, kube::Error> {
    let Some(owner) = graph.metadata.owner_references.iter().flatten().find(|owner| owner.kind == "Transform") else {
        return Ok(false);
    };
    let transforms: Api<pequod_api::Transform> = Api::namespaced(context.client.clone(), namespace);
    Ok(match transforms.get_opt(&owner.name).await? {
        None => true,
        Some(transform) => {
            transform.metadata.deletion_timestamp.is_some() || transform.metadata.uid.as_deref() != Some(&owner.uid)
        }
    })
}

/// Applies what can be applied now and records where every node stands.
async fn execute(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<Action, Error> {
    if owner_is_leaving(graph, namespace, context).await? {
        return Ok(Action::await_change());
    }
    let plan = graph.spec.graph.validate().map_err(|error| Error::Invalid(error.to_string()))?;
    let previous = graph.status.clone().unwrap_or_default();
    let graph_key = format!("{namespace}/{}", graph.name_any());
    let mut inventory: BTreeMap<(String, String), InventoryEntry> =
        previous.inventory.iter().map(|entry| ((entry.node.clone(), identity_key(entry)), entry.clone())).collect();
    let mut states: BTreeMap<&str, NodeStatus> = BTreeMap::new();
    for wave in &plan.waves {
        let applies: Vec<_> = wave
            .iter()
            .copied()
            .map(|index| {
                let node = &graph.spec.graph.nodes[index];
                let blocked = node
                    .depends_on
                    .iter()
                    .find(|dep| states.get(dep.as_str()).is_none_or(|s| s.state != NodeState::Ready));
                let previous_entry = inventory.get(&(node.id.clone(), object_key(&node.object))).cloned();
                let target = Target { graph, graph_key: &graph_key, namespace };
                async move {
                    match blocked {
                        Some(dependency) => (node, pending(node, dependency), None),
                        None => {
                            let (status, entry) = apply_node(node, &target, previous_entry, context).await;
                            (node, status, entry)
                        }
                    }
                }
            })
            .collect();
        let results: Vec<_> =
            futures::stream::iter(applies).buffered(context.options.apply_concurrency.max(1)).collect().await;
        for (node, status, entry) in results {
            if let Some(entry) = entry {
                inventory.insert((node.id.clone(), identity_key(&entry)), entry);
            }
            states.insert(node.id.as_str(), status);
        }
    }

    let current: HashSet<(String, String)> =
        graph.spec.graph.nodes.iter().map(|node| (node.id.clone(), object_key(&node.object))).collect();
    let stale: Vec<InventoryEntry> =
        inventory.iter().filter(|(key, _)| !current.contains(*key)).map(|(_, e)| e.clone()).collect();
    let mut prune_errors = Vec::new();
    for entry in stale.iter().rev() {
        match prune(entry, entry.deletion_policy.unwrap_or_default(), context).await {
            Ok(outcome) => {
                inventory.remove(&(entry.node.clone(), identity_key(entry)));
                let (reason, verb) = match outcome {
                    Pruned::Deleted => ("Pruned", "deleted"),
                    Pruned::Orphaned => ("Orphaned", "left in place without Pequod's ownership"),
                };
                let note = format!("{} {} (node {}) left the graph and was {verb}", entry.kind, entry.name, entry.node);
                context.graph_event(graph, Some(entry_reference(entry)), Severity::Normal, reason, note).await;
            }
            Err(error) => prune_errors.push(format!("pruning {} {}: {error}", entry.kind, entry.name)),
        }
    }

    let nodes: Vec<NodeStatus> =
        graph.spec.graph.nodes.iter().filter_map(|node| states.remove(node.id.as_str())).collect();
    report_node_changes(graph, &nodes, &previous, context).await;
    let status = summarise(graph, nodes, inventory.into_values().collect(), &prune_errors, &previous);
    let phase = status.phase;
    let counts: Vec<(&str, usize)> = [
        ("Pending", NodeState::Pending),
        ("Applied", NodeState::Applied),
        ("Ready", NodeState::Ready),
        ("Error", NodeState::Error),
        ("Deferred", NodeState::Deferred),
    ]
    .into_iter()
    .map(|(name, state)| (name, status.nodes.iter().filter(|node| node.state == state).count()))
    .collect();
    context.metrics.graph_state(namespace, &graph.name_any(), Some((status.inventory.len(), &counts)));
    if phase == GraphPhase::Ready && previous.phase != GraphPhase::Ready {
        let note = format!("all {} nodes are ready", status.nodes.len());
        context.graph_event(graph, None, Severity::Normal, "Ready", note).await;
    }
    crate::write_status(&context.client, graph, namespace, &status).await?;
    Ok(match phase {
        GraphPhase::Ready => Action::requeue(RESYNC),
        GraphPhase::Failed => Action::requeue(Duration::from_secs(10)),
        _ => Action::requeue(POLL),
    })
}

/// Events for nodes whose error is new (not the same as in the last status).
async fn report_node_changes(
    graph: &ResourceGraph,
    nodes: &[NodeStatus],
    previous: &ResourceGraphStatus,
    context: &Context,
) {
    for node in nodes {
        let Some(error) = &node.last_error else { continue };
        let before = previous.nodes.iter().find(|old| old.id == node.id).and_then(|old| old.last_error.as_ref());
        if before != Some(error) {
            let object =
                graph.spec.graph.nodes.iter().find(|n| n.id == node.id).map(|n| object_reference(&n.object, None));
            context
                .graph_event(graph, object, Severity::Warning, "ApplyFailed", format!("node {}: {error}", node.id))
                .await;
        }
    }
}

/// The graph a node belongs to.
struct Target<'a> {
    graph: &'a ResourceGraph,
    graph_key: &'a str,
    namespace: &'a str,
}

fn pending(node: &Node, dependency: &str) -> NodeStatus {
    NodeStatus {
        id: node.id.clone(),
        state: NodeState::Pending,
        last_error: None,
        readiness: Some(format!("waiting for {dependency} to be ready")),
    }
}

/// The object as Pequod applies it: labelled as managed, and annotated with the graph that owns it (the
/// drift watches map events back through the annotation).
fn stamped(node: &Node, target: &Target<'_>) -> Value {
    let mut object = node.object.clone();
    let metadata = &mut object["metadata"];
    if !metadata["labels"].is_object() {
        metadata["labels"] = Value::Object(Default::default());
    }
    metadata["labels"][MANAGED_BY_LABEL] = Value::from("pequod");
    if metadata["labels"][TRANSFORM_LABEL].is_null() {
        metadata["labels"][TRANSFORM_LABEL] = Value::from(target.graph.name_any());
    }
    if !metadata["annotations"].is_object() {
        metadata["annotations"] = Value::Object(Default::default());
    }
    metadata["annotations"][GRAPH_ANNOTATION] = Value::from(target.graph_key);
    object
}

/// Whether a live object was applied by this graph.
fn applied_by(live: &DynamicObject, graph_key: &str) -> bool {
    live.metadata.annotations.as_ref().and_then(|annotations| annotations.get(GRAPH_ANNOTATION)).map(String::as_str)
        == Some(graph_key)
}

/// Applies one node (or reads it back when it is unchanged since the last apply) and checks its readiness.
async fn apply_node(
    node: &Node,
    target: &Target<'_>,
    previous: Option<InventoryEntry>,
    context: &Context,
) -> (NodeStatus, Option<InventoryEntry>) {
    let failed = |message: String| {
        let status =
            NodeStatus { id: node.id.clone(), state: NodeState::Error, last_error: Some(message), readiness: None };
        (status, previous.clone())
    };
    let api_version = node.object["apiVersion"].as_str().unwrap_or_default();
    let kind_name = node.object["kind"].as_str().unwrap_or_default();
    let name = node.object["metadata"]["name"].as_str().unwrap_or_default();
    let kind = match context.discovery.resolve(api_version, kind_name).await {
        Ok(kind) => kind,
        Err(error) => return failed(format!("cannot resolve {kind_name} in {api_version}: {error}")),
    };
    context.drift.watch(&kind.resource, kind.namespaced);
    let object_namespace = node.object["metadata"]["namespace"].as_str().unwrap_or(target.namespace);
    let api = context.discovery.api(&kind, object_namespace);
    let desired = stamped(node, target);
    let hash = applied_hash(&desired);
    let mut mode = previous.as_ref().map(|entry| entry.mode).unwrap_or_default();
    let related = || object_reference(&node.object, kind.namespaced.then_some(object_namespace));

    let live = match api.get_opt(name).await {
        Ok(live) => live,
        Err(error) => return failed(describe_apply_error(&error)),
    };
    // What to do, decided from what exists: refuse to take over what is not ours unless told to.
    let mut force = node.apply_policy.conflict_policy == ConflictPolicy::Force;
    let action = match &live {
        None if node.apply_policy.mode == ApplyMode::AdoptOnly => {
            return failed(format!(
                "{kind_name} {name} does not exist; applyPolicy.mode AdoptOnly takes over an existing object only"
            ));
        }
        None => Step::Apply("created"),
        Some(live) if !applied_by(live, target.graph_key) && previous.is_none() => {
            let listed = target.graph.spec.adopt.iter().any(|adopt| {
                adopt.api_version == api_version
                    && adopt.kind == kind_name
                    && adopt.name == name
                    && adopt.namespace.as_deref().is_none_or(|ns| ns == object_namespace)
            });
            if !(listed || node.apply_policy.mode == ApplyMode::AdoptOnly) {
                return failed(format!(
                    "{kind_name} {name} already exists and is not managed by this Transform; list it in the \
                     Transform's spec.adopt (apiVersion, kind, name) to take it over"
                ));
            }
            mode = InventoryMode::Adopted;
            force = true;
            Step::Apply("adopted")
        }
        Some(_) if node.apply_policy.mode == ApplyMode::CreateOnly => Step::Keep,
        Some(live) => {
            let unchanged = previous.as_ref().is_some_and(|entry| entry.applied_hash.as_deref() == Some(hash.as_str()));
            let live_json = serde_json::to_value(live).unwrap_or(Value::Null);
            let observed = drift::observed_hash(&live_json, &desired);
            if !unchanged {
                Step::Apply("updated")
            } else if previous.as_ref().is_some_and(|entry| entry.observed_hash.as_deref() == Some(observed.as_str())) {
                Step::Keep
            } else {
                Step::Apply("drift corrected")
            }
        }
    };
    let live = match action {
        Step::Keep => {
            context.metrics.applied("unchanged");
            live.expect("kept objects exist")
        }
        Step::Apply(what) => match apply(&api, &desired, name, force).await {
            Ok(applied) => {
                context.metrics.applied("applied");
                let (reason, severity) = match what {
                    "adopted" => ("Adopted", Severity::Normal),
                    "drift corrected" => ("DriftCorrected", Severity::Warning),
                    _ => ("Applied", Severity::Normal),
                };
                let note = format!("{kind_name} {name} {what} (node {})", node.id);
                context.graph_event(target.graph, Some(related()), severity, reason, note).await;
                applied
            }
            Err(error) => {
                let conflict = matches!(&error, kube::Error::Api(response) if response.code == 409);
                context.metrics.applied(if conflict { "conflict" } else { "error" });
                return failed(describe_apply_error(&error));
            }
        },
    };
    let live_json = serde_json::to_value(&live).unwrap_or(Value::Null);
    let (state, readiness) = match readiness::check(&node.ready_when, &live_json).await {
        Ok(()) => (NodeState::Ready, None),
        Err(waiting) => (NodeState::Applied, Some(waiting)),
    };
    let deletion_policy = node.apply_policy.deletion_policy;
    let entry = InventoryEntry {
        node: node.id.clone(),
        api_version: api_version.to_owned(),
        kind: kind_name.to_owned(),
        namespace: kind.namespaced.then(|| object_namespace.to_owned()),
        name: name.to_owned(),
        uid: live.metadata.uid.clone(),
        mode,
        applied_hash: Some(hash),
        observed_hash: Some(drift::observed_hash(&live_json, &desired)),
        deletion_policy: (deletion_policy != DeletionPolicy::Delete).then_some(deletion_policy),
    };
    (NodeStatus { id: node.id.clone(), state, last_error: None, readiness }, Some(entry))
}

/// What a node needs this time.
enum Step {
    /// Nothing: the live object is as applied.
    Keep,
    /// Apply, for the given reason.
    Apply(&'static str),
}

async fn apply(
    api: &Api<DynamicObject>,
    object: &Value,
    name: &str,
    force: bool,
) -> Result<DynamicObject, kube::Error> {
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    api.patch(name, &params, &Patch::Apply(object)).await
}

/// A field-manager conflict names the other manager and the fields; say so plainly.
fn describe_apply_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(response) if response.code == 409 => format!(
            "conflict with another field manager: {} (set applyPolicy.conflictPolicy: Force to take ownership)",
            response.message
        ),
        kube::Error::Api(response) => format!("{} ({})", response.message, response.reason),
        other => other.to_string(),
    }
}

/// What pruning did.
enum Pruned {
    Deleted,
    Orphaned,
}

/// Deletes an object that left the graph, or, for `Orphan`, leaves it without Pequod's ownership.
async fn prune(entry: &InventoryEntry, policy: DeletionPolicy, context: &Context) -> Result<Pruned, kube::Error> {
    let kind = context.discovery.resolve(&entry.api_version, &entry.kind).await?;
    let api = context.discovery.api(&kind, entry.namespace.as_deref().unwrap_or_default());
    if entry.mode == InventoryMode::Orphaned || policy == DeletionPolicy::Orphan {
        release(&api, &entry.name).await?;
        return Ok(Pruned::Orphaned);
    }
    match api.delete(&entry.name, &DeleteParams::background()).await {
        Ok(_) => Ok(Pruned::Deleted),
        Err(kube::Error::Api(response)) if response.code == 404 => Ok(Pruned::Deleted),
        Err(error) => Err(error),
    }
}

/// Abandons an object: drops Pequod's field ownership, labels and annotation, and leaves everything else (the
/// fields keep their values; another manager can take them over without conflicts).
async fn release(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    let Some(live) = api.get_opt(name).await? else { return Ok(()) };
    let managed: Vec<_> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| entry.manager.as_deref() != Some(FIELD_MANAGER))
        .collect();
    // An empty list would mean "unchanged" to the API server; a list with one empty entry resets it.
    let managed = if managed.is_empty() { json!([{}]) } else { serde_json::to_value(&managed).unwrap_or(json!([{}])) };
    let patch = json!({"metadata": {
        "resourceVersion": live.metadata.resource_version,
        "managedFields": managed,
        "labels": {MANAGED_BY_LABEL: null, TRANSFORM_LABEL: null},
        "annotations": {GRAPH_ANNOTATION: null},
    }});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

fn entry_reference(entry: &InventoryEntry) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(entry.api_version.clone()),
        kind: Some(entry.kind.clone()),
        name: Some(entry.name.clone()),
        namespace: entry.namespace.clone(),
        uid: entry.uid.clone(),
        ..Default::default()
    }
}

/// Deletes every managed object in reverse dependency order, honouring each node's deletion policy.
async fn cleanup(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<Action, Error> {
    let status = graph.status.clone().unwrap_or_default();
    let policies: BTreeMap<&str, DeletionPolicy> =
        graph.spec.graph.nodes.iter().map(|node| (node.id.as_str(), node.apply_policy.deletion_policy)).collect();
    let order = graph.spec.graph.validate().map(|plan| plan.order).unwrap_or_default();
    let rank = |id: &str| order.iter().position(|&index| graph.spec.graph.nodes[index].id == id).unwrap_or(usize::MAX);
    let mut entries = status.inventory.clone();
    entries.sort_by_key(|entry| std::cmp::Reverse(rank(&entry.node)));
    for entry in entries {
        let policy = policies.get(entry.node.as_str()).copied().or(entry.deletion_policy).unwrap_or_default();
        prune(&entry, policy, context).await?;
    }
    context.metrics.graph_state(namespace, &graph.name_any(), None);
    Ok(Action::await_change())
}

fn summarise(
    graph: &ResourceGraph,
    nodes: Vec<NodeStatus>,
    inventory: Vec<InventoryEntry>,
    prune_errors: &[String],
    previous: &ResourceGraphStatus,
) -> ResourceGraphStatus {
    let total = nodes.len();
    let ready = nodes.iter().filter(|node| node.state == NodeState::Ready).count();
    let failed: Vec<String> =
        nodes.iter().filter_map(|node| node.last_error.as_ref().map(|error| format!("{}: {error}", node.id))).collect();
    let phase = if !failed.is_empty() || !prune_errors.is_empty() {
        GraphPhase::Failed
    } else if ready == total {
        GraphPhase::Ready
    } else {
        GraphPhase::Progressing
    };
    let mut conditions = previous.conditions.clone();
    let generation = graph.metadata.generation;
    let message = match phase {
        GraphPhase::Ready => format!("all {total} nodes are ready"),
        GraphPhase::Failed => failed.iter().chain(prune_errors).cloned().collect::<Vec<_>>().join("; "),
        _ => format!("{ready}/{total} nodes ready"),
    };
    let reason = match phase {
        GraphPhase::Ready => "Ready",
        GraphPhase::Failed => "ApplyFailed",
        _ => "Progressing",
    };
    set_condition(
        &mut conditions,
        ConditionType::Ready,
        phase == GraphPhase::Ready,
        reason,
        message,
        generation,
        now(),
    );
    ResourceGraphStatus {
        observed_generation: generation,
        phase,
        ready_summary: format!("{ready}/{total}"),
        nodes,
        inventory,
        conditions,
    }
}

/// A stable key of the object a node holds: group/kind/namespace/name.
fn object_key(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    let kind = object["kind"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    format!("{group}/{kind}/{namespace}/{name}")
}

fn identity_key(entry: &InventoryEntry) -> String {
    let group = entry.api_version.split_once('/').map_or("", |(group, _)| group);
    format!("{group}/{}/{}/{}", entry.kind, entry.namespace.as_deref().unwrap_or_default(), entry.name)
}

fn applied_hash(object: &Value) -> String {
    let bytes = serde_json::to_vec(object).expect("a JSON value serializes");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Transient API errors are retried soon.
pub(crate) fn error_policy(graph: Arc<ResourceGraph>, error: &Error, context: Arc<Context>) -> Action {
    tracing::warn!(graph = %graph.name_any(), namespace = ?graph.namespace(), error = %error, label = error.label(), "reconcile failed");
    Action::requeue(context.backoff(crate::backoff_key(&*graph)))
}
