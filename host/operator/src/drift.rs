//! Drift correction: one label-filtered watch per kind the graphs manage. A change to (or the deletion of)
//! a managed object wakes the ResourceGraph that owns it, which re-applies what drifted.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::channel::mpsc;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use pequod_api::ResourceGraph;

/// The label every object Pequod applies carries, for the watches' label selector.
pub(crate) const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=pequod";
/// The annotation naming the ResourceGraph (`namespace/name`) that applied an object.
pub(crate) const GRAPH_ANNOTATION: &str = "platform.pequod.io/resource-graph";

/// Starts watches on demand and turns their events into reconcile requests.
pub(crate) struct DriftWatches {
    client: Client,
    namespace: Option<String>,
    watched: Arc<Mutex<HashSet<(String, String, String)>>>,
    sender: mpsc::UnboundedSender<ObjectRef<ResourceGraph>>,
}

impl DriftWatches {
    /// Watches sending their triggers into the returned receiver (for `Controller::reconcile_on`).
    /// With `namespace`, namespaced kinds are watched only there.
    pub(crate) fn new(
        client: Client,
        namespace: Option<String>,
    ) -> (Self, mpsc::UnboundedReceiver<ObjectRef<ResourceGraph>>) {
        let (sender, receiver) = mpsc::unbounded();
        (Self { client, namespace, watched: Arc::default(), sender }, receiver)
    }

    /// Makes sure objects of `resource` are watched (cluster-wide, only those Pequod manages).
    pub(crate) fn watch(&self, resource: &ApiResource, namespaced: bool) {
        let key = (resource.group.clone(), resource.version.clone(), resource.kind.clone());
        if !self.watched.lock().expect("drift lock").insert(key.clone()) {
            return;
        }
        let watched = Arc::clone(&self.watched);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let api: Api<DynamicObject> = match (&self.namespace, namespaced) {
            (Some(namespace), true) => Api::namespaced_with(self.client.clone(), namespace, resource),
            _ => Api::all_with(self.client.clone(), resource),
        };
        let sender = self.sender.clone();
        let kind = resource.kind.clone();
        runtime.spawn(async move {
            tracing::debug!(%kind, "watching managed objects for drift");
            let events =
                watcher(api, watcher::Config::default().labels(MANAGED_SELECTOR)).default_backoff().touched_objects();
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                match event {
                    Ok(object) => {
                        if let Some(graph) = owner(&object)
                            && sender.unbounded_send(graph).is_err()
                        {
                            return;
                        }
                    }
                    Err(error) if kind_gone(&error) => {
                        // Its CRD was removed: stop; the next apply of the kind watches it again.
                        tracing::debug!(%kind, %error, "the kind is no longer served; its drift watch stops");
                        watched.lock().expect("drift lock").remove(&key);
                        return;
                    }
                    Err(error) => tracing::debug!(%kind, %error, "drift watch error (retried)"),
                }
            }
        });
    }
}

/// Whether a watch failed because the API server no longer serves the kind (a bare 404 on list or watch).
fn kind_gone(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(response))
        | watcher::Error::WatchStartFailed(kube::Error::Api(response))
        | watcher::Error::WatchFailed(kube::Error::Api(response)) => response.code == 404,
        _ => false,
    }
}

/// The ResourceGraph an object's annotation names.
fn owner(object: &DynamicObject) -> Option<ObjectRef<ResourceGraph>> {
    let value = object.metadata.annotations.as_ref()?.get(GRAPH_ANNOTATION)?;
    let (namespace, name) = value.split_once('/')?;
    Some(ObjectRef::new(name).within(namespace))
}

/// The part of `live` that `desired` speaks about: the same fields, list items matched by their `name`
/// where they have one (containers, ports, env) and by position otherwise. Hashed right after an apply and
/// again later, it tells drift (someone changed our fields) from the API server's own normalisation (a
/// quantity rewritten, a default filled in), which is already part of the first hash.
pub(crate) fn project(live: &serde_json::Value, desired: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    const MISSING: &Value = &Value::Null;
    match desired {
        Value::Object(desired) => Value::Object(
            desired
                .iter()
                .map(|(key, value)| (key.clone(), project(live.get(key).unwrap_or(MISSING), value)))
                .collect(),
        ),
        Value::Array(desired) => Value::Array(
            desired
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let counterpart = match item.get("name") {
                        Some(name) => {
                            live.as_array().and_then(|items| items.iter().find(|i| i.get("name") == Some(name)))
                        }
                        None => live.get(index),
                    };
                    project(counterpart.unwrap_or(MISSING), item)
                })
                .collect(),
        ),
        _ => live.clone(),
    }
}

/// A hash of [`project`]: equal when the fields we apply still hold what the server made of them.
pub(crate) fn observed_hash(live: &serde_json::Value, desired: &serde_json::Value) -> String {
    use sha2::{Digest as _, Sha256};
    let bytes = serde_json::to_vec(&project(live, desired)).expect("a JSON value serializes");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_sees_changes_to_our_fields_only() {
        let desired = json!({"spec": {"replicas": 2, "template": {"containers": [{"name": "a", "image": "x"}]}}});
        let live = json!({"metadata": {"uid": "1"}, "spec": {"replicas": 2, "paused": false,
            "template": {"containers": [{"name": "b", "image": "y"}, {"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"}]}}});
        assert_eq!(project(&live, &desired), desired, "extra fields and other managers' list items are not ours");
        let before = observed_hash(&live, &desired);
        let mut changed = live.clone();
        changed["spec"]["template"]["containers"][1]["image"] = json!("evil");
        assert_ne!(observed_hash(&changed, &desired), before);
        let mut unrelated = live;
        unrelated["spec"]["paused"] = json!(true);
        assert_eq!(observed_hash(&unrelated, &desired), before);
    }

    #[test]
    fn owner_reads_the_annotation() {
        let mut object = DynamicObject::new("web", &ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&()));
        assert!(owner(&object).is_none());
        object.metadata.annotations = Some([(GRAPH_ANNOTATION.to_owned(), "team-a/shop".to_owned())].into());
        let graph = owner(&object).unwrap();
        assert_eq!((graph.name.as_str(), graph.namespace.as_deref()), ("shop", Some("team-a")));
    }
}
