//! The Transform controller: resolve, render, check, and hand the graph to a ResourceGraph.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use pequod_api::{
    ConditionType, FIELD_MANAGER, GraphPhase, NodeSummary, ResolvedCueRef, ResourceGraph, ResourceGraphSpec, Transform,
    TransformStatus, render_context, set_condition,
};
use pequod_graph::{Deferred, DeletionPolicy, Graph, ObjectIdentity, Violation};
use serde_json::json;

use crate::discovery::Discovery;
use crate::events::Severity;
use crate::identity::Identity;
use crate::policy::{EffectivePolicy, PolicyError};
use crate::{Context, Error, now, source};

/// How often a Transform is looked at again when nothing changes, to pick up policy changes.
const RESYNC: Duration = Duration::from_secs(300);

/// Reconciles one Transform.
pub(crate) async fn reconcile(transform: Arc<Transform>, context: Arc<Context>) -> Result<Action, Error> {
    let namespace = transform.namespace().ok_or_else(|| Error::Invalid("a Transform must be namespaced".into()))?;
    if transform.metadata.deletion_timestamp.is_some() {
        // Being deleted: its ResourceGraph's finalizer cleans up; writing the graph again would re-create it.
        context.forget_transform(&namespace, &transform.name_any());
        return Ok(Action::await_change());
    }
    let mut status = transform.status.clone().unwrap_or_default();
    status.observed_generation = transform.metadata.generation;
    let generation = transform.metadata.generation;
    let outcome = render_and_hand_over(&transform, &namespace, &context, &mut status).await;
    context.observe_caches();
    if let Err(step) = &outcome {
        set_condition(
            &mut status.conditions,
            ConditionType::Ready,
            false,
            step.reason,
            step.message.clone(),
            generation,
            now(),
        );
    }
    report_kstatus(&mut status, outcome.as_ref().err().map(|step| step.transient), generation);
    crate::write_status(&context.client, &*transform, &namespace, &status).await?;
    match outcome {
        Ok(()) => Ok(Action::requeue(RESYNC)),
        Err(step) if step.transient => Ok(Action::requeue(Duration::from_secs(10))),
        Err(_) => Ok(Action::requeue(RESYNC)),
    }
}

/// A step that did not succeed: already written into the conditions, summarised for `Ready`.
struct Stopped {
    reason: &'static str,
    message: String,
    transient: bool,
}

async fn render_and_hand_over(
    transform: &Transform,
    namespace: &str,
    context: &Context,
    status: &mut TransformStatus,
) -> Result<(), Stopped> {
    let mut stage = Stages::new(transform, namespace, context, status);
    if transform.spec.suspend {
        let message = "spec.suspend is true; nothing is reconciled".to_owned();
        return stage.condition(ConditionType::Ready, false, "Suspended", message);
    }
    let policy = stage.policy().await?;
    let (identity, client) = stage.identity()?;
    let resolved = stage.resolve(&client, &policy).await?;
    let (module, digest) = stage.load(&resolved).await?;
    stage.verified(&resolved)?;
    let rendered = stage.render(&module, &client, &policy).await?;
    stage.record_render(&rendered, &resolved, &digest).await?;
    let graph = stage.check_targets(&rendered.graph, &policy).await?;
    let spec = graph_spec(transform, graph, &identity, &rendered.graph);
    stage.hand_over(spec, rendered.graph.nodes.len()).await
}

/// The ResourceGraph spec the Transform hands over: the checked `graph`, and from the Transform and its
/// render what the executor needs besides (adopt list, identity, deferred nodes, prune grace period).
pub(crate) fn graph_spec(
    transform: &Transform,
    graph: Graph,
    identity: &Identity,
    rendered: &Graph,
) -> ResourceGraphSpec {
    ResourceGraphSpec {
        graph,
        adopt: transform.spec.adopt.clone(),
        service_account_name: identity.service_account().map(str::to_owned),
        deferred: rendered.deferred.iter().map(|d| d.id.clone()).collect(),
        prune_grace_period: transform.spec.prune_grace_period.clone(),
    }
}

/// The stages of one Transform reconcile; each records its condition in the status.
struct Stages<'a> {
    transform: &'a Transform,
    namespace: &'a str,
    context: &'a Context,
    status: &'a mut TransformStatus,
    /// The conditions' messages before this reconcile, by type: an Event is recorded only for a new one.
    before: Vec<(String, String)>,
}

impl<'a> Stages<'a> {
    fn new(
        transform: &'a Transform,
        namespace: &'a str,
        context: &'a Context,
        status: &'a mut TransformStatus,
    ) -> Self {
        let before = status.conditions.iter().map(|c| (c.type_.clone(), c.message.clone())).collect();
        Self { transform, namespace, context, status, before }
    }

    /// Sets a condition; a failing one stops the reconcile.
    fn condition(
        &mut self,
        kind: ConditionType,
        ok: bool,
        reason: &'static str,
        message: String,
    ) -> Result<(), Stopped> {
        let generation = self.transform.metadata.generation;
        set_condition(&mut self.status.conditions, kind, ok, reason, message.clone(), generation, now());
        if ok { Ok(()) } else { Err(Stopped { reason, message, transient: false }) }
    }

    /// Records a warning Event, unless the condition `kind` already said `message`.
    async fn warn_once(&self, kind: ConditionType, reason: &str, message: &str) {
        let before = self.before.iter().find(|(type_, _)| type_ == kind.as_str()).map(|(_, m)| m.as_str());
        if before != Some(message) {
            self.context.event(self.transform, Severity::Warning, reason, message.to_owned()).await;
        }
    }

    async fn policy(&mut self) -> Result<EffectivePolicy, Stopped> {
        match crate::policy::for_namespace(self.context, self.namespace).await {
            Ok(policy) => Ok(policy),
            Err(PolicyError::Invalid(message)) => {
                Err(self.condition(ConditionType::SourceReady, false, "InvalidPolicy", message).unwrap_err())
            }
            Err(error) => Err(Stopped { reason: "PolicyUnavailable", message: error.to_string(), transient: true }),
        }
    }

    fn identity(&mut self) -> Result<(Identity, kube::Client), Stopped> {
        let identity = self.context.identities.of(self.namespace, self.transform.spec.service_account_name.as_deref());
        match self.context.identities.client(&self.context.client, &identity) {
            Ok(client) => Ok((identity, client)),
            Err(error) => Err(self
                .condition(ConditionType::SourceReady, false, "IdentityUnavailable", error.to_string())
                .unwrap_err()),
        }
    }

    async fn resolve(&mut self, client: &kube::Client, policy: &EffectivePolicy) -> Result<source::Resolved, Stopped> {
        let context = self.context;
        let resolution = source::resolve(context, client, self.namespace, &self.transform.spec.cue_ref, policy).await;
        context.metrics.source_resolved(resolution.as_ref().map_or_else(|error| error.reason(), |_| "ok"));
        let error = match resolution {
            Ok(resolved) => return Ok(resolved),
            Err(error) => error,
        };
        let message = error.to_string();
        let kind = if error.is_verification() { ConditionType::Verified } else { ConditionType::SourceReady };
        self.warn_once(kind, error.reason(), &message).await;
        if error.is_verification() {
            let _ = self.condition(ConditionType::SourceReady, true, "Resolved", "the module was found".into());
        }
        let stopped = self.condition(kind, false, error.reason(), message).unwrap_err();
        Err(Stopped { transient: error.transient(), ..stopped })
    }

    /// Loads the component into the sandbox; `SourceReady` names the digest.
    async fn load(&mut self, resolved: &source::Resolved) -> Result<(pequod_sandbox::Module, String), Stopped> {
        let module = match self.context.sandbox.load_async(Arc::clone(&resolved.wasm)).await {
            Ok(module) => module,
            Err(error) => {
                let reason = match error {
                    pequod_sandbox::LoadError::CompileTimeout { .. } => "CompileTimeout",
                    _ => "InvalidModule",
                };
                self.context.event(self.transform, Severity::Warning, reason, error.to_string()).await;
                return Err(self.condition(ConditionType::SourceReady, false, reason, error.to_string()).unwrap_err());
            }
        };
        self.context.metrics.module_loaded(module.cache_outcome());
        let digest = resolved.digest.clone().unwrap_or_else(|| module.digest().to_string());
        let message = match &resolved.note {
            Some(note) => format!("module {digest}; {note}"),
            None => format!("module {digest}"),
        };
        self.condition(ConditionType::SourceReady, true, "Resolved", message)?;
        Ok((module, digest))
    }

    fn verified(&mut self, resolved: &source::Resolved) -> Result<(), Stopped> {
        let message = match &resolved.signer {
            Some(signer) => {
                return self.condition(
                    ConditionType::Verified,
                    true,
                    "Signed",
                    format!("signature verified with {signer}"),
                );
            }
            None if self.transform.spec.cue_ref.source == pequod_api::SourceType::Oci => {
                "no trusted signature was found, and the PlatformPolicies do not require one"
            }
            None => "signatures apply to OCI modules only",
        };
        self.condition(ConditionType::Verified, true, "NotRequired", message.into())
    }

    /// Renders; when nodes are deferred, observes the ready nodes' live objects and renders again.
    async fn render(
        &mut self,
        module: &pequod_sandbox::Module,
        client: &kube::Client,
        policy: &EffectivePolicy,
    ) -> Result<Arc<pequod_sandbox::Rendered>, Stopped> {
        let (transform, context) = (self.transform, self.context);
        let error = match render_observing(transform, self.namespace, module, client, policy, context).await {
            Ok(rendered) => return Ok(rendered),
            Err(RenderStop::Observe(message)) => {
                return Err(Stopped { reason: "ObserveFailed", message, transient: true });
            }
            Err(RenderStop::Render(error)) => error,
        };
        self.status.deferred.clear();
        self.status.violations = match &error {
            pequod_sandbox::RenderError::Rejected { violations } => violations.clone(),
            _ => Vec::new(),
        };
        let (reason, message) = (error.reason(), error.to_string());
        self.warn_once(ConditionType::Rendered, reason, &message).await;
        Err(self.condition(ConditionType::Rendered, false, reason, message).unwrap_err())
    }

    /// Records what was rendered from which module: `resolvedCueRef`, the render hash, `Rendered`.
    async fn record_render(
        &mut self,
        rendered: &pequod_sandbox::Rendered,
        resolved: &source::Resolved,
        digest: &str,
    ) -> Result<(), Stopped> {
        let metadata = &rendered.graph.metadata;
        self.status.resolved_cue_ref = Some(ResolvedCueRef {
            digest: digest.to_owned(),
            module: Some(format!("{} {}", metadata.module, metadata.version)),
            fetched_at: fetched_at(self.status, resolved, digest),
            signer: resolved.signer.clone(),
        });
        if self.status.render_hash != metadata.render_hash {
            let nodes = rendered.graph.nodes.len();
            let millis = rendered.elapsed.as_secs_f64() * 1e3;
            let note = format!("{} {} rendered {nodes} nodes in {millis:.1} ms", metadata.module, metadata.version);
            self.context.event(self.transform, Severity::Normal, "Rendered", note).await;
        }
        self.status.render_hash = metadata.render_hash.clone();
        self.status.violations = rendered.graph.violations.clone();
        self.status.deferred = rendered.graph.deferred.clone();
        let message = format!("{} nodes in {} waves", rendered.graph.nodes.len(), rendered.plan.waves.len());
        self.condition(ConditionType::Rendered, true, "Rendered", message)
    }

    /// Places the objects in the namespace and checks them against the target rules; the graph to hand over.
    async fn check_targets(&mut self, rendered: &Graph, policy: &EffectivePolicy) -> Result<Graph, Stopped> {
        let mut graph = rendered.clone();
        let violations = place_and_check(&mut graph, policy, self.namespace, self.context)
            .await
            .map_err(|message| Stopped { reason: "DiscoveryFailed", message, transient: true })?;
        if !violations.is_empty() {
            let message = violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            if self.status.violations != violations {
                self.context.event(self.transform, Severity::Warning, "TargetDenied", message.clone()).await;
            }
            self.status.violations = violations;
            return Err(self.condition(ConditionType::PolicyPassed, false, "TargetDenied", message).unwrap_err());
        }
        let allowed = "every object is within the target rules".to_owned();
        self.condition(ConditionType::PolicyPassed, true, "Allowed", allowed)?;
        apply_deletion_policy(&mut graph, self.transform);
        Ok(graph)
    }

    /// Records the graph's hash, writes the ResourceGraph and reports its progress.
    async fn hand_over(&mut self, spec: ResourceGraphSpec, rendered_nodes: usize) -> Result<(), Stopped> {
        let (transform, namespace, context) = (self.transform, self.namespace, self.context);
        let write_failed = |error: kube::Error| Stopped {
            reason: "ResourceGraphWriteFailed",
            message: error.to_string(),
            transient: true,
        };
        let hash = spec.hash();
        if self.status.graph_hash.as_deref() != Some(hash.as_str()) {
            // The executor runs only the graph whose hash the Transform records: record it before handing over.
            self.status.graph_hash = Some(hash);
            crate::write_status(&context.client, transform, namespace, &*self.status).await.map_err(
                |error| match error {
                    Error::Kube(error) => write_failed(error),
                    other => Stopped { reason: "StatusWriteFailed", message: other.to_string(), transient: true },
                },
            )?;
        }
        let graph_status = hand_over(transform, namespace, spec, context).await.map_err(write_failed)?;
        self.status.resource_graph_ref = Some(transform.name_any());
        report_progress(self.status, graph_status.as_ref(), rendered_nodes, transform.metadata.generation)
    }
}

/// Applies the Transform's `spec.deletionPolicy` to the graph: a Transform-wide Orphan keeps everything; a
/// Transform-wide Delete does not lift the protection of PersistentVolumeClaims and Secrets (only a node's
/// explicit policy does).
pub(crate) fn apply_deletion_policy(graph: &mut Graph, transform: &Transform) {
    if transform.spec.deletion_policy == Some(DeletionPolicy::Orphan) {
        for node in &mut graph.nodes {
            node.apply_policy.deletion_policy = Some(DeletionPolicy::Orphan);
        }
    }
}

/// Why a render (with the observation of its deferred nodes) produced no graph.
pub(crate) enum RenderStop {
    /// The live objects of the ready nodes could not be read.
    Observe(String),
    /// The render itself failed.
    Render(pequod_sandbox::RenderError),
}

/// Renders as the controller does: the cluster's capabilities and the policy in the context, the policy's
/// limits; when nodes are deferred, observes the ready nodes' live objects (with `client`, the Transform's
/// identity) and renders again.
pub(crate) async fn render_observing(
    transform: &Transform,
    namespace: &str,
    module: &pequod_sandbox::Module,
    client: &kube::Client,
    policy: &EffectivePolicy,
    context: &Context,
) -> Result<Arc<pequod_sandbox::Rendered>, RenderStop> {
    let capabilities = context.capabilities().await;
    let mut render_context = render_context(transform, capabilities, Default::default());
    render_context.policy = policy.context_policy();
    let rendered = render(transform, module, &render_context, policy, context).await.map_err(RenderStop::Render)?;
    if rendered.graph.deferred.is_empty() {
        return Ok(rendered);
    }
    let observed = observe(transform, namespace, client, policy, context).await.map_err(RenderStop::Observe)?;
    if observed.is_empty() {
        return Ok(rendered);
    }
    render_context.observed = observed;
    render(transform, module, &render_context, policy, context).await.map_err(RenderStop::Render)
}

/// When the module at `digest` was first fetched: a re-resolve to the same digest changes nothing in the
/// status, so it does not wake the Transform again.
fn fetched_at(
    status: &TransformStatus,
    resolved: &source::Resolved,
    digest: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
    let recorded = status.resolved_cue_ref.as_ref().filter(|r| r.digest == digest).and_then(|r| r.fetched_at.clone());
    let fetched = || resolved.fetched_at.and_then(|at| jiff::Timestamp::try_from(at).ok());
    recorded.or_else(|| fetched().map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time)).or_else(|| Some(now()))
}

/// The live objects of the Transform's nodes that are ready, by node id: `context.observed`. Only objects in
/// the graph's inventory are read (never an object the graph merely names), with the Transform's identity;
/// Secret data is left out unless a PlatformPolicy allows modules to read it.
async fn observe(
    transform: &Transform,
    namespace: &str,
    client: &kube::Client,
    policy: &EffectivePolicy,
    context: &Context,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let graphs: Api<ResourceGraph> = Api::namespaced(context.client.clone(), namespace);
    let Some(graph) = graphs.get_opt(&transform.name_any()).await.map_err(|e| format!("cannot read the graph: {e}"))?
    else {
        return Ok(serde_json::Map::new());
    };
    let Some(status) = &graph.status else { return Ok(serde_json::Map::new()) };
    let ready: Vec<&str> =
        status.nodes.iter().filter(|node| node.state == pequod_api::NodeState::Ready).map(|n| n.id.as_str()).collect();
    let mut observed = serde_json::Map::new();
    for entry in status.inventory.iter().filter(|entry| ready.contains(&entry.node.as_str())) {
        let kind = context
            .discovery
            .resolve(&entry.api_version, &entry.kind)
            .await
            .map_err(|e| format!("cannot discover {} in {}: {e}", entry.kind, entry.api_version))?;
        let api = Discovery::api(client, &kind, entry.namespace.as_deref().unwrap_or(namespace));
        match api.get_opt(&entry.name).await {
            Ok(Some(object)) if object.metadata.uid == entry.uid || entry.uid.is_none() => {
                let value = observed_value(object, policy.observe_secret_data).map_err(|e| e.to_string())?;
                observed.insert(entry.node.clone(), value);
            }
            Ok(_) => {}
            Err(error) => return Err(format!("cannot read {} {}: {error}", entry.kind, entry.name)),
        }
    }
    Ok(observed)
}

/// A live object as a module sees it: no managed fields, and a Secret without its data unless allowed.
fn observed_value(mut object: kube::api::DynamicObject, secret_data: bool) -> serde_json::Result<serde_json::Value> {
    object.metadata.managed_fields = None;
    let is_secret = object.types.as_ref().is_some_and(|types| types.kind == "Secret" && types.api_version == "v1");
    if is_secret
        && !secret_data
        && let Some(fields) = object.data.as_object_mut()
    {
        fields.remove("data");
        fields.remove("stringData");
    }
    serde_json::to_value(&object)
}

/// Renders in the sandbox, or reuses the Transform's last render when nothing that goes into it changed:
/// the module digest, the input, the context and the limits.
async fn render(
    transform: &Transform,
    module: &pequod_sandbox::Module,
    render_context: &pequod_graph::RenderContext,
    policy: &EffectivePolicy,
    context: &Context,
) -> Result<Arc<pequod_sandbox::Rendered>, pequod_sandbox::RenderError> {
    let key = format!("{}/{}", transform.namespace().unwrap_or_default(), transform.name_any());
    let fingerprint = {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(module.digest().to_string());
        hasher.update(serde_json::to_vec(&transform.spec.input).unwrap_or_default());
        hasher.update(serde_json::to_vec(render_context).unwrap_or_default());
        hasher.update(format!("{:?}", policy.limits));
        hex::encode(hasher.finalize())
    };
    if context.options.render_cache {
        let mut renders = context.renders.lock().expect("render cache lock");
        if let Some((_, rendered)) = renders.get_if(&key, |(seen, _)| *seen == fingerprint) {
            return Ok(Arc::clone(rendered));
        }
    }
    let result = context.sandbox.render(module, &transform.spec.input, render_context, &policy.limits).await;
    match &result {
        Ok(rendered) => context.metrics.rendered("ok", rendered.elapsed, rendered.fuel_used),
        Err(error) => context.metrics.rendered(error.reason(), Duration::ZERO, None),
    }
    let rendered = Arc::new(result?);
    if context.options.render_cache {
        // Entries of Transforms deleted unseen are never looked up again: the bounds drop them in time.
        let size = rendered_size(&rendered);
        context.renders.lock().expect("render cache lock").insert(key, (fingerprint, Arc::clone(&rendered)), size);
    }
    Ok(rendered)
}

/// About what keeping a render costs in memory: its graph as JSON and what the module printed.
fn rendered_size(rendered: &pequod_sandbox::Rendered) -> u64 {
    let graph = serde_json::to_vec(&rendered.graph).map_or(0, |json| json.len());
    (graph + rendered.guest_output.len()) as u64
}

/// Puts namespaced objects without a namespace into the Transform's, and checks every object against the
/// target rules.
pub(crate) async fn place_and_check(
    graph: &mut Graph,
    policy: &EffectivePolicy,
    namespace: &str,
    context: &Context,
) -> Result<Vec<Violation>, String> {
    let mut violations = Vec::new();
    for node in &mut graph.nodes {
        let api_version = node.object["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind_name = node.object["kind"].as_str().unwrap_or_default().to_owned();
        let kind = match context.discovery.resolve(&api_version, &kind_name).await {
            Ok(kind) => kind,
            Err(kube::Error::Api(response)) if response.code == 404 => {
                violations.push(Violation::error(
                    pequod_graph::Phase::Output,
                    format!("{}.kind", node.id),
                    format!("the cluster does not serve {kind_name} in {api_version} (is its CRD installed?)"),
                ));
                continue;
            }
            Err(error) => return Err(format!("cannot discover {kind_name} in {api_version}: {error}")),
        };
        if kind.namespaced && node.object["metadata"]["namespace"].is_null() {
            node.object["metadata"]["namespace"] = json!(namespace);
        }
        if !kind.namespaced
            && let Some(metadata) = node.object["metadata"].as_object_mut()
        {
            // A cluster-scoped object has no namespace: one written anyway must not make the object look
            // different to the inventory than to the graph.
            metadata.remove("namespace");
        }
        let identity = ObjectIdentity::of(&node.object).map_err(|field| format!("node {}: {field}", node.id))?;
        violations.extend(policy.check(&node.id, &identity, kind.namespaced, namespace));
    }
    Ok(violations)
}

/// Writes the graph into the Transform's ResourceGraph and returns the ResourceGraph's current status.
async fn hand_over(
    transform: &Transform,
    namespace: &str,
    spec: ResourceGraphSpec,
    context: &Context,
) -> Result<Option<pequod_api::ResourceGraphStatus>, kube::Error> {
    let graphs: Api<ResourceGraph> = Api::namespaced(context.client.clone(), namespace);
    let name = transform.name_any();
    let mut resource_graph = ResourceGraph::new(&name, spec);
    resource_graph.metadata.owner_references = transform.controller_owner_ref(&()).map(|owner| vec![owner]);
    crate::shard::label_graph(transform, &mut resource_graph.metadata);
    let watched = context.watched_graph(namespace, &name);
    let applied = match watched.filter(|watched| already_written(watched, &resource_graph)) {
        // What the graph watch last saw is what would be written: no request (a Transform is reconciled
        // again at every change of its graph's status).
        Some(watched) => (*watched).clone(),
        None => graphs.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&resource_graph)).await?,
    };
    // A status the executor wrote for an older generation of the graph says nothing about this one.
    let current = applied.metadata.generation;
    Ok(applied.status.filter(|status| current.is_none() || status.observed_generation == current))
}

/// Whether `watched` (the ResourceGraph as the watch last saw it) already has what `wanted` would write: the
/// same spec, owner and shard label, and it is not being deleted.
fn already_written(watched: &ResourceGraph, wanted: &ResourceGraph) -> bool {
    let label = |graph: &ResourceGraph| {
        graph.metadata.labels.as_ref().and_then(|labels| labels.get(crate::shard::SHARD_LABEL)).cloned()
    };
    let owners = watched.metadata.owner_references.as_deref().unwrap_or_default();
    watched.metadata.deletion_timestamp.is_none()
        && serde_json::to_value(&watched.spec).ok() == serde_json::to_value(&wanted.spec).ok()
        && wanted.metadata.owner_references.as_deref().unwrap_or_default().iter().all(|owner| owners.contains(owner))
        && label(watched) == label(wanted)
}

/// Sets `Ready` and the node summary from the ResourceGraph's progress.
fn report_progress(
    status: &mut TransformStatus,
    graph_status: Option<&pequod_api::ResourceGraphStatus>,
    rendered: usize,
    generation: Option<i64>,
) -> Result<(), Stopped> {
    let ready = graph_status.map_or(0, |s| s.nodes.iter().filter(|n| n.state == pequod_api::NodeState::Ready).count());
    let total = rendered + status.deferred.len();
    status.nodes = Some(NodeSummary::new(ready as u32, total as u32));
    let phase = graph_status.map(|s| s.phase).unwrap_or_default();
    let (ok, reason, message) = match (phase, status.deferred.first()) {
        (GraphPhase::Ready, Some(first)) => (false, "Deferred", waiting_message(ready, total, &status.deferred, first)),
        (GraphPhase::Ready, None) => (true, "Ready", format!("all {total} nodes are ready")),
        (GraphPhase::Failed, _) => failure(graph_status),
        _ => (false, "Progressing", format!("{ready}/{total} nodes ready")),
    };
    set_condition(&mut status.conditions, ConditionType::Ready, ok, reason, message, generation, now());
    Ok(())
}

/// The Ready message of a graph whose only missing nodes are deferred: the first one and what it waits for.
fn waiting_message(ready: usize, total: usize, deferred: &[Deferred], first: &Deferred) -> String {
    let others: Vec<&str> = deferred[1..].iter().map(|d| d.id.as_str()).collect();
    let more = if others.is_empty() { String::new() } else { format!(" (also deferred: {})", others.join(", ")) };
    format!("{ready}/{total} nodes ready; {} waits for live state it reads: {}{more}", first.id, first.reason)
}

/// Sets `Reconciling`/`Stalled` from `Ready` and, when the reconcile stopped early, whether that is
/// transient: what kstatus-based tools (Flux health checks, `kubectl wait`) read.
fn report_kstatus(status: &mut TransformStatus, stopped_transient: Option<bool>, generation: Option<i64>) {
    let ready = status.conditions.iter().find(|c| c.type_ == ConditionType::Ready.as_str());
    let (ok, reason, message) = ready
        .map_or((false, String::new(), String::new()), |c| (c.status == "True", c.reason.clone(), c.message.clone()));
    let progress = progress(ok, &reason, stopped_transient);
    pequod_api::set_progress(&mut status.conditions, progress, &reason, &message, generation, now());
}

/// Where a Transform stands for kstatus: current when Ready; stalled when it stopped for a reason that
/// waiting will not fix (a rejected input, a refused policy) or its graph failed; reconciling otherwise.
fn progress(ready: bool, reason: &str, stopped_transient: Option<bool>) -> pequod_api::Progress {
    use pequod_api::Progress;
    match (ready, stopped_transient) {
        (true, _) => Progress::Current,
        (false, Some(true)) => Progress::Reconciling,
        (false, Some(false)) => Progress::Stalled,
        (false, None) if reason == "ApplyFailed" || reason == "Suspended" => Progress::Stalled,
        (false, None) => Progress::Reconciling,
    }
}

/// Why a graph failed: its nodes' errors, or what its executor refused (an unverified graph, say).
fn failure(graph_status: Option<&pequod_api::ResourceGraphStatus>) -> (bool, &'static str, String) {
    let failed: Vec<String> = graph_status
        .into_iter()
        .flat_map(|s| &s.nodes)
        .filter_map(|n| n.last_error.as_ref().map(|e| format!("{}: {e}", n.id)))
        .collect();
    if !failed.is_empty() {
        return (false, "ApplyFailed", failed.join("; "));
    }
    let refused = graph_status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    (false, "ApplyFailed", refused.map(|c| format!("{}: {}", c.reason, c.message)).unwrap_or_default())
}

/// Transient API errors are retried soon; anything else waits for a change.
pub(crate) fn error_policy(transform: Arc<Transform>, error: &Error, context: Arc<Context>) -> Action {
    tracing::warn!(transform = %transform.name_any(), namespace = ?transform.namespace(), error = %error, label = error.label(), "reconcile failed");
    Action::requeue(context.backoff(crate::backoff_key(&*transform)))
}

#[cfg(test)]
mod tests {
    use pequod_api::Progress;

    use super::progress;

    #[test]
    fn kstatus_progress_of_a_transform() {
        let cases = [
            (true, "Ready", None, Progress::Current),
            (false, "Progressing", None, Progress::Reconciling),
            (false, "Deferred", None, Progress::Reconciling),
            (false, "ApplyFailed", None, Progress::Stalled),
            (false, "SourceUnavailable", Some(true), Progress::Reconciling),
            (false, "Rejected", Some(false), Progress::Stalled),
        ];
        for (ready, reason, stopped_transient, expected) in cases {
            assert_eq!(progress(ready, reason, stopped_transient), expected, "{reason}");
        }
    }
}
