//! The ResourceGraph controller: apply the graph wave by wave, gate on readiness, keep the inventory, prune,
//! and delete in reverse order through a finalizer.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use pequod_api::{
    ConditionType, FIELD_MANAGER, GraphPhase, InventoryEntry, InventoryMode, NodeState, NodeStatus, ResourceGraph,
    ResourceGraphStatus, set_condition,
};
use pequod_graph::{ConflictPolicy, DeletionPolicy, Node};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

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
    finalizer(&api, FINALIZER, graph, |event| async {
        match event {
            Event::Apply(graph) => execute(&graph, &namespace, &context).await,
            Event::Cleanup(graph) => cleanup(&graph, &namespace, &context).await,
        }
    })
    .await
    .map_err(|error| Error::Finalizer(error.to_string()))
}

/// Applies what can be applied now and records where every node stands.
async fn execute(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<Action, Error> {
    let plan = graph.spec.graph.validate().map_err(|error| Error::Invalid(error.to_string()))?;
    let previous = graph.status.clone().unwrap_or_default();
    let mut inventory: BTreeMap<(String, String), InventoryEntry> =
        previous.inventory.iter().map(|entry| ((entry.node.clone(), identity_key(entry)), entry.clone())).collect();
    let mut states: BTreeMap<&str, NodeStatus> = BTreeMap::new();
    for wave in &plan.waves {
        let applies = wave.iter().map(|&index| {
            let node = &graph.spec.graph.nodes[index];
            let blocked =
                node.depends_on.iter().find(|dep| states.get(dep.as_str()).is_none_or(|s| s.state != NodeState::Ready));
            let previous_entry = inventory.get(&(node.id.clone(), object_key(&node.object))).cloned();
            async move {
                match blocked {
                    Some(dependency) => (node, pending(node, dependency), None),
                    None => {
                        let (status, entry) = apply_node(node, namespace, previous_entry, context).await;
                        (node, status, entry)
                    }
                }
            }
        });
        for (node, status, entry) in futures::future::join_all(applies).await {
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
        match prune(entry, context).await {
            Ok(()) => {
                inventory.remove(&(entry.node.clone(), identity_key(entry)));
            }
            Err(error) => prune_errors.push(format!("pruning {} {}: {error}", entry.kind, entry.name)),
        }
    }

    let nodes: Vec<NodeStatus> =
        graph.spec.graph.nodes.iter().filter_map(|node| states.remove(node.id.as_str())).collect();
    let status = summarise(graph, nodes, inventory.into_values().collect(), &prune_errors, &previous);
    let phase = status.phase;
    crate::write_status(&context.client, graph, namespace, &status).await?;
    Ok(match phase {
        GraphPhase::Ready => Action::requeue(RESYNC),
        GraphPhase::Failed => Action::requeue(Duration::from_secs(10)),
        _ => Action::requeue(POLL),
    })
}

fn pending(node: &Node, dependency: &str) -> NodeStatus {
    NodeStatus {
        id: node.id.clone(),
        state: NodeState::Pending,
        last_error: None,
        readiness: Some(format!("waiting for {dependency} to be ready")),
    }
}

/// Applies one node (or reads it back when it is unchanged since the last apply) and checks its readiness.
async fn apply_node(
    node: &Node,
    namespace: &str,
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
    let object_namespace = node.object["metadata"]["namespace"].as_str().unwrap_or(namespace);
    let api = context.discovery.api(&kind, object_namespace);
    let hash = applied_hash(&node.object);
    let unchanged = previous.as_ref().is_some_and(|entry| entry.applied_hash.as_deref() == Some(hash.as_str()));
    let live = if unchanged {
        match api.get_opt(name).await {
            Ok(Some(live)) => Ok(live),
            Ok(None) => apply(&api, node, name).await,
            Err(error) => Err(error),
        }
    } else {
        apply(&api, node, name).await
    };
    let live = match live {
        Ok(live) => live,
        Err(error) => return failed(describe_apply_error(&error)),
    };
    let live_json = serde_json::to_value(&live).unwrap_or(Value::Null);
    let (state, readiness) = match readiness::check(&node.ready_when, &live_json) {
        Ok(()) => (NodeState::Ready, None),
        Err(waiting) => (NodeState::Applied, Some(waiting)),
    };
    let entry = InventoryEntry {
        node: node.id.clone(),
        api_version: api_version.to_owned(),
        kind: kind_name.to_owned(),
        namespace: kind.namespaced.then(|| object_namespace.to_owned()),
        name: name.to_owned(),
        uid: live.metadata.uid.clone(),
        mode: previous.map(|entry| entry.mode).unwrap_or_default(),
        applied_hash: Some(hash),
    };
    (NodeStatus { id: node.id.clone(), state, last_error: None, readiness }, Some(entry))
}

async fn apply(api: &Api<DynamicObject>, node: &Node, name: &str) -> Result<DynamicObject, kube::Error> {
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = node.apply_policy.conflict_policy == ConflictPolicy::Force;
    api.patch(name, &params, &Patch::Apply(&node.object)).await
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

/// Deletes (or, for `Orphan`, forgets) an object that left the graph.
async fn prune(entry: &InventoryEntry, context: &Context) -> Result<(), kube::Error> {
    if entry.mode != InventoryMode::Managed {
        return Ok(());
    }
    let kind = context.discovery.resolve(&entry.api_version, &entry.kind).await?;
    let api = context.discovery.api(&kind, entry.namespace.as_deref().unwrap_or_default());
    match api.delete(&entry.name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(response)) if response.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// Deletes every managed object in reverse dependency order, honouring each node's deletion policy.
async fn cleanup(graph: &ResourceGraph, _namespace: &str, context: &Context) -> Result<Action, Error> {
    let status = graph.status.clone().unwrap_or_default();
    let policies: BTreeMap<&str, DeletionPolicy> =
        graph.spec.graph.nodes.iter().map(|node| (node.id.as_str(), node.apply_policy.deletion_policy)).collect();
    let order = graph.spec.graph.validate().map(|plan| plan.order).unwrap_or_default();
    let rank = |id: &str| order.iter().position(|&index| graph.spec.graph.nodes[index].id == id).unwrap_or(usize::MAX);
    let mut entries = status.inventory.clone();
    entries.sort_by_key(|entry| std::cmp::Reverse(rank(&entry.node)));
    for entry in entries {
        if policies.get(entry.node.as_str()).copied().unwrap_or_default() == DeletionPolicy::Orphan {
            continue;
        }
        prune(&entry, context).await?;
    }
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
pub(crate) fn error_policy(graph: Arc<ResourceGraph>, error: &Error, _context: Arc<Context>) -> Action {
    tracing::warn!(graph = %graph.name_any(), namespace = ?graph.namespace(), error = %error, label = error.label(), "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}
