//! Pequod's controllers.
//!
//! The **Transform controller** resolves a Transform's module, renders it in the sandbox with the limits of
//! the cluster's PlatformPolicies, checks the graph against the target rules and writes it into a
//! ResourceGraph owned by the Transform. The **ResourceGraph controller** executes that graph: it applies
//! the nodes wave by wave with Server-Side Apply, waits for each node's readiness gates before applying its
//! dependents, keeps an inventory of what it applied, prunes what left the graph and, through a finalizer,
//! deletes the objects in reverse dependency order when the graph goes away.
//!
//! Reconcilers are small: `reconcile(Arc<K>, Arc<Context>) -> Result<Action, Error>`, with an error policy
//! that requeues transient errors with a delay; permanent problems are written as conditions instead.

mod discovery;
mod error;
mod executor;
mod policy;
mod readiness;
mod source;
mod transform;

use std::sync::Arc;

use futures::StreamExt;
use kube::Client;
use kube::api::Api;
use kube::runtime::Controller;
use kube::runtime::watcher::Config as WatcherConfig;
use pequod_api::{ResourceGraph, Transform};
use pequod_sandbox::Sandbox;

pub use crate::error::Error;

/// What the reconcilers share.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The renderer sandbox.
    pub sandbox: Sandbox,
    /// Kinds resolved through discovery.
    discovery: discovery::Discovery,
}

impl Context {
    /// A context over `client` rendering in `sandbox`.
    pub fn new(client: Client, sandbox: Sandbox) -> Arc<Self> {
        let discovery = discovery::Discovery::new(client.clone());
        Arc::new(Self { client, sandbox, discovery })
    }
}

/// Runs both controllers until the process is asked to stop.
pub async fn run(context: Arc<Context>) {
    let transforms: Api<Transform> = Api::all(context.client.clone());
    let graphs: Api<ResourceGraph> = Api::all(context.client.clone());
    let transform_controller = Controller::new(transforms, WatcherConfig::default())
        .owns(graphs.clone(), WatcherConfig::default())
        .shutdown_on_signal()
        .run(transform::reconcile, transform::error_policy, Arc::clone(&context))
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "transform reconcile ended with an error");
            }
        });
    let graph_controller = Controller::new(graphs, WatcherConfig::default())
        .shutdown_on_signal()
        .run(executor::reconcile, executor::error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "resource graph reconcile ended with an error");
            }
        });
    futures::join!(transform_controller, graph_controller);
}

/// Writes `status` into the status subresource of `object` with Server-Side Apply, as field manager
/// [`pequod_api::FIELD_MANAGER`]; an unchanged status is a no-op on the server.
pub(crate) async fn write_status<K>(
    client: &Client,
    object: &K,
    namespace: &str,
    status: &impl serde::Serialize,
) -> Result<(), Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    use kube::ResourceExt as _;
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    let params = kube::api::PatchParams::apply(pequod_api::FIELD_MANAGER).force();
    api.patch_status(&object.name_any(), &params, &kube::api::Patch::Apply(&patch)).await?;
    Ok(())
}

/// The current time as a Kubernetes timestamp.
pub(crate) fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())
}
