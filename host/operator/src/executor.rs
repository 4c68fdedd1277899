//! The ResourceGraph controller: apply the graph wave by wave, gate on readiness, keep the inventory, prune,
//! and delete in reverse order through a finalizer.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use pequod_api::{
    ConditionType, FIELD_MANAGER, GraphPhase, InventoryEntry, MANAGED_BY_LABEL, NodeState, NodeStatus, ResourceGraph,
    ResourceGraphStatus, TRANSFORM_LABEL, Transform, set_condition,
};
use pequod_graph::{DeletionPolicy, Node, ObjectIdentity};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::discovery::Discovery;
use crate::drift::{self, GRAPH_ANNOTATION};
use crate::events::{Severity, object_reference};
use crate::identity::Identity;
use crate::origin::{self, Origin};
use crate::policy::EffectivePolicy;
use crate::prune::{self, PruneStep, PruneTiming};
use crate::{Context, Error, now, readiness, step};

/// The finalizer that makes deletion go through [`cleanup`].
pub(crate) const FINALIZER: &str = "platform.pequod.io/cleanup";

/// How soon a graph that waits for readiness is looked at again.
const POLL: Duration = Duration::from_secs(2);
/// How often a ready graph is checked for drift.
const RESYNC: Duration = Duration::from_secs(60);
/// How soon a suspended graph looks at its Transform again.
const SUSPENDED: Duration = Duration::from_secs(30);
/// How soon a graph that is not (yet) the one its Transform recorded is looked at again.
const UNVERIFIED: Duration = Duration::from_secs(5);

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

/// The Transform that controls `graph`, as the API server has it now (not from a cache).
async fn owner(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<Option<Transform>, kube::Error> {
    let Some(reference) = origin::controller(graph) else { return Ok(None) };
    let transforms: Api<Transform> = Api::namespaced(context.client.clone(), namespace);
    transforms.get_opt(&reference.name).await
}

/// Forgets the cached render of the graph's Transform, which is going or gone: a Transform has no
/// finalizer, so its own reconcile may never see it deleted.
fn forget_owner(graph: &ResourceGraph, namespace: &str, context: &Context) {
    if let Some(reference) = origin::controller(graph) {
        context.forget_transform(namespace, &reference.name);
    }
}

/// A client with the identity the graph's Transform acts with.
fn client_for(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<kube::Client, Error> {
    let identity = Identity::choose(namespace, graph.spec.service_account_name.as_deref(), None);
    context.identities.client(&context.client, &identity).map_err(|error| Error::Invalid(error.to_string()))
}

/// Writes a status that says why nothing was done, keeping the inventory, and records an Event when the
/// reason is new.
async fn refuse(
    graph: &ResourceGraph,
    namespace: &str,
    context: &Context,
    reason: &'static str,
    message: String,
) -> Result<(), Error> {
    let mut status = graph.status.clone().unwrap_or_default();
    let before = status.conditions.iter().find(|c| c.type_ == "Ready").map(|c| (c.reason.clone(), c.message.clone()));
    if before.as_ref() != Some(&(reason.to_owned(), message.clone())) {
        let severity = if reason == "Suspended" { Severity::Normal } else { Severity::Warning };
        context.graph_event(graph, None, severity, reason, message.clone()).await;
    }
    let generation = graph.metadata.generation;
    set_condition(&mut status.conditions, ConditionType::Ready, false, reason, message, generation, now());
    status.observed_generation = generation;
    if reason != "Suspended" {
        status.phase = GraphPhase::Failed;
    }
    crate::write_status(&context.client, graph, namespace, &status).await
}

/// Applies what can be applied now and records where every node stands.
async fn execute(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<Action, Error> {
    match origin::verify(graph, owner(graph, namespace, context).await?.as_ref()) {
        Origin::Verified => {}
        Origin::Leaving => {
            forget_owner(graph, namespace, context);
            return Ok(Action::await_change());
        }
        Origin::Suspended => {
            let message = "its Transform's spec.suspend is true; nothing is applied, corrected or pruned".to_owned();
            refuse(graph, namespace, context, "Suspended", message).await?;
            return Ok(Action::requeue(SUSPENDED));
        }
        Origin::Unverified(message) => {
            refuse(graph, namespace, context, "UnverifiedGraph", message).await?;
            return Ok(Action::requeue(UNVERIFIED));
        }
    }
    let policy = match crate::policy::for_namespace(context, namespace).await {
        Ok(policy) => policy,
        Err(crate::policy::PolicyError::Unavailable(error)) => return Err(error.into()),
        Err(crate::policy::PolicyError::Invalid(message)) => {
            refuse(graph, namespace, context, "InvalidPolicy", message).await?;
            return Ok(Action::requeue(RESYNC));
        }
    };
    let client = match client_for(graph, namespace, context) {
        Ok(client) => client,
        Err(error) => {
            refuse(graph, namespace, context, "IdentityUnavailable", error.to_string()).await?;
            return Ok(Action::requeue(RESYNC));
        }
    };
    let plan = graph.spec.graph.validate().map_err(|error| Error::Invalid(error.to_string()))?;
    let previous = graph.status.clone().unwrap_or_default();
    let graph_key = format!("{namespace}/{}", graph.name_any());
    let mut inventory: BTreeMap<String, InventoryEntry> =
        previous.inventory.iter().map(|entry| (identity_key(entry), entry.clone())).collect();
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
                let previous_entry = inventory.get(&object_key(&node.object)).cloned();
                let target = Target { graph, graph_key: &graph_key, namespace, client: &client, policy: &policy };
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
                inventory.insert(identity_key(&entry), entry);
            }
            states.insert(node.id.as_str(), status);
        }
    }

    let current = current_keys(graph, &inventory);
    let stale: Vec<InventoryEntry> =
        inventory.iter().filter(|(key, _)| !current.contains(*key)).map(|(_, e)| e.clone()).collect();
    let target = Target { graph, graph_key: &graph_key, namespace, client: &client, policy: &policy };
    let (prune_errors, next_prune) = prune_stale(&stale, &mut inventory, &target, context).await;

    let mut nodes: Vec<NodeStatus> =
        graph.spec.graph.nodes.iter().filter_map(|node| states.remove(node.id.as_str())).collect();
    nodes.extend(graph.spec.deferred.iter().map(|id| deferred(id)));
    let checked_at = jiff::Timestamp::now();
    stamp_waiting(&mut nodes, &previous, checked_at);
    let poll = readiness_poll(&nodes, checked_at, context.options.readiness_poll_max);
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
    let after = match phase {
        GraphPhase::Ready => RESYNC,
        GraphPhase::Failed => Duration::from_secs(10),
        _ => poll,
    };
    Ok(Action::requeue(next_prune.map_or(after, |due| due.min(after))))
}

/// Prunes what left the graph (last applied first), or starts or waits out the graph's prune grace period.
/// Returns the prune errors and when the next grace period runs out.
async fn prune_stale(
    stale: &[InventoryEntry],
    inventory: &mut BTreeMap<String, InventoryEntry>,
    target: &Target<'_>,
    context: &Context,
) -> (Vec<String>, Option<Duration>) {
    let graph = target.graph;
    let grace = match prune::grace_period(graph.spec.prune_grace_period.as_deref()) {
        Ok(grace) => grace,
        Err(error) => return (vec![format!("nothing is pruned: {error}")], None),
    };
    let (mut errors, mut next) = (Vec::new(), None::<Duration>);
    for entry in stale.iter().rev() {
        let after = match prune::timing(entry, grace, jiff::Timestamp::now()) {
            PruneTiming::Now => None,
            PruneTiming::Start(after) => {
                let left = InventoryEntry { left_graph_at: Some(jiff::Timestamp::now().to_string()), ..entry.clone() };
                inventory.insert(identity_key(entry), left);
                announce_prune(graph, entry, Some(after), context).await;
                Some(after)
            }
            PruneTiming::Wait(after) => Some(after),
        };
        if let Some(after) = after {
            next = Some(next.map_or(after, |due| due.min(after)));
            continue;
        }
        if grace.is_none() {
            announce_prune(graph, entry, None, context).await;
        }
        match prune(entry, entry.deletion_policy, target, context).await {
            Ok(outcome) => {
                inventory.remove(&identity_key(entry));
                report_pruned(graph, entry, &outcome, context).await;
            }
            Err(error) => errors.push(format!("pruning {} {}: {error}", entry.kind, entry.name)),
        }
    }
    (errors, next)
}

/// An Event naming an object that left the graph before anything is done to it.
async fn announce_prune(graph: &ResourceGraph, entry: &InventoryEntry, after: Option<Duration>, context: &Context) {
    let when = match after {
        None => "will be pruned now".to_owned(),
        Some(after) => format!("will be pruned in {}s unless its node comes back", after.as_secs()),
    };
    let note = format!("{} {} (node {}) left the graph and {when}", entry.kind, entry.name, entry.node);
    context.graph_event(graph, Some(entry_reference(entry)), Severity::Normal, "Pruning", note).await;
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

/// The objects the graph holds now: its nodes' objects, and whatever its deferred nodes applied before
/// (a deferred node keeps what is there until the module renders it again).
pub(crate) fn current_keys(graph: &ResourceGraph, inventory: &BTreeMap<String, InventoryEntry>) -> HashSet<String> {
    let deferred: HashSet<&str> = graph.spec.deferred.iter().map(String::as_str).collect();
    let kept = inventory.iter().filter(|(_, entry)| deferred.contains(entry.node.as_str())).map(|(key, _)| key.clone());
    graph.spec.graph.nodes.iter().map(|node| object_key(&node.object)).chain(kept).collect()
}

/// An Event for every object that left the graph, saying what happened to it.
async fn report_pruned(graph: &ResourceGraph, entry: &InventoryEntry, outcome: &Pruned, context: &Context) {
    let (reason, what) = match outcome {
        Pruned::Deleted => ("Pruned", "was deleted".to_owned()),
        Pruned::Gone => ("Pruned", "was already gone".to_owned()),
        Pruned::Orphaned(why) => ("Orphaned", format!("was left in place without Pequod's ownership: {why}")),
        Pruned::Skipped(why) => ("PruneSkipped", format!("was not deleted: {why}")),
    };
    let note = format!("{} {} (node {}) left the graph and {what}", entry.kind, entry.name, entry.node);
    context.graph_event(graph, Some(entry_reference(entry)), Severity::Normal, reason, note).await;
}

/// Records since when each node applied and waiting for its readiness gates has been waiting: carried over
/// from the last status while it keeps waiting, `now` when it starts.
fn stamp_waiting(nodes: &mut [NodeStatus], previous: &ResourceGraphStatus, now: jiff::Timestamp) {
    for node in nodes.iter_mut().filter(|node| node.state == NodeState::Applied) {
        let before = previous.nodes.iter().find(|old| old.id == node.id && old.state == NodeState::Applied);
        node.waiting_since = before.and_then(|old| old.waiting_since.clone()).or_else(|| Some(now.to_string()));
    }
}

/// When to check the readiness of the waiting nodes again: soon for a node that just started waiting, backing
/// off (a quarter of the time it has waited) up to `max` for one that has waited long. Watch events on the
/// objects wake the graph earlier.
fn readiness_poll(nodes: &[NodeStatus], now: jiff::Timestamp, max: Duration) -> Duration {
    nodes
        .iter()
        .filter_map(|node| node.waiting_since.as_deref()?.parse::<jiff::Timestamp>().ok())
        .map(|since| Duration::try_from(now.duration_since(since)).unwrap_or_default())
        .map(|waited| (waited / 4).clamp(POLL, max.max(POLL)))
        .min()
        .unwrap_or(POLL)
}

/// The status of a node the module deferred.
fn deferred(id: &str) -> NodeStatus {
    NodeStatus {
        id: id.to_owned(),
        state: NodeState::Deferred,
        last_error: None,
        readiness: Some("waiting for the live state of the nodes it reads (context.observed)".into()),
        waiting_since: None,
    }
}

/// The graph a node belongs to, and what its requests are made with.
pub(crate) struct Target<'a> {
    pub(crate) graph: &'a ResourceGraph,
    pub(crate) graph_key: &'a str,
    pub(crate) namespace: &'a str,
    /// A client with the Transform's identity.
    pub(crate) client: &'a kube::Client,
    /// The target rules, checked again before every apply and prune.
    pub(crate) policy: &'a EffectivePolicy,
}

fn pending(node: &Node, dependency: &str) -> NodeStatus {
    NodeStatus {
        id: node.id.clone(),
        state: NodeState::Pending,
        last_error: None,
        readiness: Some(format!("waiting for {dependency} to be ready")),
        waiting_since: None,
    }
}

/// The object as Pequod applies it: labelled as managed, and annotated with the graph that owns it (the
/// drift watches map events back through the annotation).
pub(crate) fn stamped(node: &Node, target: &Target<'_>) -> Value {
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

/// The graph (namespace/name) that manages `live`, when it is another one than `graph_key`.
fn claimed_by_other(live: &DynamicObject, graph_key: &str) -> Option<String> {
    let annotations = live.metadata.annotations.as_ref()?;
    annotations.get(GRAPH_ANNOTATION).filter(|owner| owner.as_str() != graph_key).cloned()
}

/// Applies one node (or reads it back when it is unchanged since the last apply) and checks its readiness.
async fn apply_node(
    node: &Node,
    target: &Target<'_>,
    previous: Option<InventoryEntry>,
    context: &Context,
) -> (NodeStatus, Option<InventoryEntry>) {
    let failed = |message: String| {
        let status = NodeStatus {
            id: node.id.clone(),
            state: NodeState::Error,
            last_error: Some(message),
            ..Default::default()
        };
        (status, previous.clone())
    };
    let api_version = node.object["apiVersion"].as_str().unwrap_or_default();
    let kind_name = node.object["kind"].as_str().unwrap_or_default();
    let name = node.object["metadata"]["name"].as_str().unwrap_or_default();
    let kind = match context.discovery.resolve(api_version, kind_name).await {
        Ok(kind) => kind,
        Err(error) => return failed(format!("cannot resolve {kind_name} in {api_version}: {error}")),
    };
    let object_namespace = node.object["metadata"]["namespace"].as_str().unwrap_or(target.namespace);
    if let Some(refused) = refusal(&node.object, &kind, target) {
        return failed(format!("refused by the target rules: {refused}"));
    }
    context.drift.watch(&kind.resource, kind.namespaced);
    let api = Discovery::api(target.client, &kind, object_namespace);
    let desired = stamped(node, target);
    let hash = applied_hash(&desired);
    let related = || object_reference(&node.object, kind.namespaced.then_some(object_namespace));

    let live = match api.get_opt(name).await {
        Ok(live) => live,
        Err(error) => return failed(describe_apply_error(&error)),
    };
    let facts = live.as_ref().map(|live| live_facts(live, &desired, target.graph_key));
    let listed = adoption_listed(target, api_version, kind_name, name, object_namespace);
    let step = match step::decide(&node.apply_policy, &hash, facts.as_ref(), previous.as_ref(), listed) {
        Ok(step) => step,
        Err(refused) => return failed(refused.message(&format!("{kind_name} {name}"))),
    };
    let mode = step.mode(previous.as_ref());
    let live = match step.event() {
        None => {
            context.metrics.applied("unchanged");
            live.expect("kept objects exist")
        }
        Some((reason, severity, verb)) => match apply(&api, &desired, name, step.force(&node.apply_policy)).await {
            Ok(applied) => {
                context.metrics.applied("applied");
                let note = format!("{kind_name} {name} {verb} (node {})", node.id);
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
        deletion_policy: node.apply_policy.deletion_policy,
        left_graph_at: None,
    };
    (NodeStatus { id: node.id.clone(), state, readiness, ..Default::default() }, Some(entry))
}

/// What [`step::decide`] needs to know of a live object.
pub(crate) fn live_facts(live: &DynamicObject, desired: &Value, graph_key: &str) -> step::Live {
    let live_json = serde_json::to_value(live).unwrap_or(Value::Null);
    step::Live {
        other_graph: claimed_by_other(live, graph_key),
        ours: applied_by(live, graph_key),
        observed_hash: drift::observed_hash(&live_json, desired),
    }
}

/// Whether the graph's `spec.adopt` lists this object.
pub(crate) fn adoption_listed(target: &Target<'_>, api_version: &str, kind: &str, name: &str, namespace: &str) -> bool {
    target.graph.spec.adopt.iter().any(|adopt| {
        adopt.api_version == api_version
            && adopt.kind == kind
            && adopt.name == name
            && adopt.namespace.as_deref().is_none_or(|ns| ns == namespace)
    })
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
pub(crate) fn describe_apply_error(error: &kube::Error) -> String {
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
    Gone,
    Orphaned(&'static str),
    Skipped(String),
}

/// Why the target rules refuse `object` now, if they do.
pub(crate) fn refusal(object: &Value, kind: &crate::discovery::Kind, target: &Target<'_>) -> Option<String> {
    let mut identity = ObjectIdentity::of(object).ok()?;
    if !kind.namespaced {
        identity.namespace = None;
    }
    target.policy.check("", &identity, kind.namespaced, target.namespace).map(|violation| violation.message)
}

/// Deletes an object that left the graph, or abandons it, or leaves it alone when it is no longer the object
/// Pequod applied (see [`prune::decide`]). Kinds the cluster no longer serves count as gone.
async fn prune(
    entry: &InventoryEntry,
    policy: Option<DeletionPolicy>,
    target: &Target<'_>,
    context: &Context,
) -> Result<Pruned, kube::Error> {
    let kind = match context.discovery.resolve(&entry.api_version, &entry.kind).await {
        Ok(kind) => kind,
        Err(kube::Error::Api(response)) if response.code == 404 => return Ok(Pruned::Gone),
        Err(error) => return Err(error),
    };
    let object = json!({"apiVersion": entry.api_version, "kind": entry.kind,
        "metadata": {"name": entry.name, "namespace": entry.namespace}});
    if let Some(refused) = refusal(&object, &kind, target) {
        return Ok(Pruned::Skipped(format!("the target rules refuse it: {refused}")));
    }
    let api = Discovery::api(target.client, &kind, entry.namespace.as_deref().unwrap_or_default());
    let live = match api.get_opt(&entry.name).await {
        Ok(live) => live,
        // A bare 404 (not a NotFound status): the kind is no longer served, its CRD is gone.
        Err(kube::Error::Api(response)) if response.code == 404 => return Ok(Pruned::Gone),
        Err(error) => return Err(error),
    };
    match prune::decide(entry, policy, live.as_ref().map(|live| &live.metadata), target.graph_key) {
        PruneStep::Gone => Ok(Pruned::Gone),
        PruneStep::NotOurs(why) => Ok(Pruned::Skipped(why.to_owned())),
        PruneStep::Abandon(why) => {
            release(&api, &entry.name).await?;
            Ok(Pruned::Orphaned(why))
        }
        PruneStep::Delete { uid } => {
            let params = DeleteParams {
                preconditions: Some(Preconditions { uid, resource_version: None }),
                ..DeleteParams::background()
            };
            match api.delete(&entry.name, &params).await {
                Ok(_) => Ok(Pruned::Deleted),
                Err(kube::Error::Api(response)) if response.code == 404 => Ok(Pruned::Gone),
                Err(kube::Error::Api(response)) if response.code == 409 => {
                    Ok(Pruned::Skipped("it was replaced while being deleted".into()))
                }
                Err(error) => Err(error),
            }
        }
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

/// Deletes every managed object in reverse dependency order, honouring each node's deletion policy — unless
/// the graph was deleted while its Transform still exists (the Transform re-creates it; nothing is deleted)
/// or an admin asked to skip cleanup.
async fn cleanup(graph: &ResourceGraph, namespace: &str, context: &Context) -> Result<Action, Error> {
    context.metrics.graph_state(namespace, &graph.name_any(), None);
    let skip = graph.annotations().get(prune::SKIP_CLEANUP_ANNOTATION).is_some_and(|value| value == "true");
    if skip {
        let note = format!("{} is set: every object is left as it is", prune::SKIP_CLEANUP_ANNOTATION);
        context.graph_event(graph, None, Severity::Warning, "CleanupSkipped", note).await;
        return Ok(Action::await_change());
    }
    if origin::verify(graph, owner(graph, namespace, context).await?.as_ref()) != Origin::Leaving
        && origin::controller(graph).is_some()
    {
        let note = "the ResourceGraph was deleted while its Transform exists: its objects are kept and the \
                    Transform writes the graph again"
            .to_owned();
        context.graph_event(graph, None, Severity::Warning, "GraphRecreated", note).await;
        return Ok(Action::await_change());
    }
    forget_owner(graph, namespace, context);
    let policy = crate::policy::for_namespace(context, namespace).await.map_err(|e| Error::Invalid(e.to_string()))?;
    let client = client_for(graph, namespace, context)?;
    let graph_key = format!("{namespace}/{}", graph.name_any());
    let target = Target { graph, graph_key: &graph_key, namespace, client: &client, policy: &policy };
    let status = graph.status.clone().unwrap_or_default();
    let policies: BTreeMap<&str, Option<DeletionPolicy>> =
        graph.spec.graph.nodes.iter().map(|node| (node.id.as_str(), node.apply_policy.deletion_policy)).collect();
    let order = graph.spec.graph.validate().map(|plan| plan.order).unwrap_or_default();
    let rank = |id: &str| order.iter().position(|&index| graph.spec.graph.nodes[index].id == id).unwrap_or(usize::MAX);
    let mut entries = status.inventory.clone();
    entries.sort_by_key(|entry| std::cmp::Reverse(rank(&entry.node)));
    for entry in entries {
        let policy = policies.get(entry.node.as_str()).copied().flatten().or(entry.deletion_policy);
        let outcome = prune(&entry, policy, &target, context).await?;
        if let Pruned::Skipped(_) | Pruned::Orphaned(_) = outcome {
            report_pruned(graph, &entry, &outcome, context).await;
        }
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
    // Deferred nodes are the Transform's to report (it renders them once their inputs are observed).
    let total = nodes.iter().filter(|node| node.state != NodeState::Deferred).count();
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
pub(crate) fn object_key(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    let kind = object["kind"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    format!("{group}/{kind}/{namespace}/{name}")
}

pub(crate) fn identity_key(entry: &InventoryEntry) -> String {
    let group = entry.api_version.split_once('/').map_or("", |(group, _)| group);
    format!("{group}/{}/{}/{}", entry.kind, entry.namespace.as_deref().unwrap_or_default(), entry.name)
}

pub(crate) fn applied_hash(object: &Value) -> String {
    let bytes = serde_json::to_vec(object).expect("a JSON value serializes");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Transient API errors are retried soon.
pub(crate) fn error_policy(graph: Arc<ResourceGraph>, error: &Error, context: Arc<Context>) -> Action {
    tracing::warn!(graph = %graph.name_any(), namespace = ?graph.namespace(), error = %error, label = error.label(), "reconcile failed");
    Action::requeue(context.backoff(crate::backoff_key(&*graph)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(id: &str, since: Option<&str>) -> NodeStatus {
        NodeStatus {
            id: id.into(),
            state: NodeState::Applied,
            waiting_since: since.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn readiness_checks_back_off_per_node() {
        let now: jiff::Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let max = Duration::from_secs(60);
        let secs = Duration::from_secs;
        let cases: [(Vec<NodeStatus>, Duration); 6] = [
            (vec![], POLL),
            (vec![waiting("a", Some("2026-12-03T10:00:00Z"))], POLL),
            (vec![waiting("a", Some("2026-12-03T09:59:20Z"))], secs(10)),
            (vec![waiting("a", Some("2026-12-03T09:00:00Z"))], max),
            (vec![waiting("a", Some("2026-12-03T09:00:00Z")), waiting("b", Some("2026-12-03T09:59:40Z"))], secs(5)),
            (vec![waiting("a", Some("not a time"))], POLL),
        ];
        for (nodes, expected) in cases {
            assert_eq!(readiness_poll(&nodes, now, max), expected, "{nodes:?}");
        }
        let constant = [waiting("a", Some("2026-12-03T09:00:00Z"))];
        assert_eq!(readiness_poll(&constant, now, POLL), POLL, "a max of 2 s polls at a constant 2 s");
    }

    #[test]
    fn waiting_starts_once_and_is_carried_over() {
        let now: jiff::Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let previous = ResourceGraphStatus {
            nodes: vec![
                waiting("old", Some("2026-12-03T09:00:00Z")),
                NodeStatus { id: "was-ready".into(), state: NodeState::Ready, ..Default::default() },
            ],
            ..Default::default()
        };
        let mut nodes = vec![
            waiting("old", None),
            waiting("was-ready", None),
            waiting("new", None),
            NodeStatus { id: "ready".into(), state: NodeState::Ready, ..Default::default() },
        ];
        stamp_waiting(&mut nodes, &previous, now);
        let since: Vec<Option<&str>> = nodes.iter().map(|node| node.waiting_since.as_deref()).collect();
        assert_eq!(
            since,
            [Some("2026-12-03T09:00:00Z"), Some("2026-12-03T10:00:00Z"), Some("2026-12-03T10:00:00Z"), None]
        );
    }
}
