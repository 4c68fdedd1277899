//! What else wakes a Transform besides its own changes: a PlatformPolicy changing (every Transform, since
//! policies select namespaces by label too) and the ConfigMap its module lives in changing. Without these,
//! such changes would wait for the periodic resync.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use pequod_api::{PlatformPolicy, SourceType, Transform};

/// Maps a change of a PlatformPolicy's spec (a new generation; its status changing is not one) to every
/// Transform the operator knows.
pub(crate) fn on_policy_change(store: Store<Transform>) -> impl Fn(PlatformPolicy) -> Vec<ObjectRef<Transform>> {
    let seen: Mutex<HashMap<String, Option<i64>>> = Mutex::default();
    move |policy| {
        let generation = policy.metadata.generation;
        let before = seen.lock().unwrap_or_else(PoisonError::into_inner).insert(policy.name_any(), generation);
        if before == Some(generation) {
            return Vec::new();
        }
        store.state().iter().map(|transform| ObjectRef::from_obj(&**transform)).collect()
    }
}

/// The Transforms whose module is a ConfigMap that changed, from a metadata-only watch of ConfigMaps (in
/// `namespace`, or all).
pub(crate) fn module_config_maps(
    client: Client,
    namespace: Option<&str>,
    store: Store<Transform>,
) -> impl Stream<Item = ObjectRef<Transform>> + Send + 'static {
    let api: Api<PartialObjectMeta<ConfigMap>> = match namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .filter_map(|changed| async move { changed.ok() })
        .flat_map(move |map: PartialObjectMeta<ConfigMap>| {
            let known = store.state();
            stream::iter(users(&known, &map.namespace().unwrap_or_default(), &map.name_any()))
        })
}

/// The Transforms of `transforms` whose module is the ConfigMap `namespace/name`.
fn users(transforms: &[Arc<Transform>], namespace: &str, name: &str) -> Vec<ObjectRef<Transform>> {
    let uses = |t: &Transform| {
        let reference = &t.spec.cue_ref;
        reference.source == SourceType::Configmap
            && reference.reference == name
            && t.namespace().as_deref() == Some(namespace)
    };
    transforms.iter().filter(|t| uses(t)).map(|t| ObjectRef::from_obj(&**t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform(namespace: &str, name: &str, source: &str, reference: &str) -> Arc<Transform> {
        let manifest = serde_json::json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"cueRef": {"type": source, "ref": reference}, "input": {}}});
        Arc::new(serde_json::from_value(manifest).unwrap())
    }

    #[test]
    fn a_config_map_wakes_the_transforms_of_its_namespace_that_use_it() {
        let transforms = [
            transform("a", "uses", "configmap", "module"),
            transform("a", "other-map", "configmap", "other"),
            transform("b", "other-namespace", "configmap", "module"),
            transform("a", "embedded", "embedded", "module"),
            transform("a", "also", "configmap", "module"),
        ];
        let names: Vec<String> = users(&transforms, "a", "module").into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["uses", "also"]);
        assert!(users(&transforms, "c", "module").is_empty());
    }
}
