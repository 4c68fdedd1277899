//! What else wakes a Transform besides its own changes: a PlatformPolicy changing (every Transform, since
//! policies select namespaces by label too) and the ConfigMap its module lives in changing. Without these,
//! such changes would wait for the periodic resync.

use std::collections::HashMap;
use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};
use pequod_api::{PlatformPolicy, SourceType, Transform};

/// Maps a change of a PlatformPolicy's spec (a new generation; its status changing is not one), or its
/// deletion (`deleted`), to the Transforms it applied to before or applies to now: those of the namespaces
/// it names, or every one when it selects namespaces by label or applies to all.
pub(crate) fn on_policy_change(
    store: Store<Transform>,
) -> impl FnMut(PlatformPolicy, bool) -> Vec<ObjectRef<Transform>> + Send + use<> {
    let mut seen: HashMap<String, (Option<i64>, Reach)> = HashMap::new();
    move |policy, deleted| {
        let now = (policy.metadata.generation, reach(&policy));
        let before = match deleted {
            true => seen.remove(&policy.name_any()),
            false => seen.insert(policy.name_any(), now.clone()),
        };
        if !deleted && before.as_ref().is_some_and(|(generation, _)| *generation == now.0) {
            return Vec::new();
        }
        let touched = |t: &Transform| {
            let namespace = t.namespace().unwrap_or_default();
            now.1.covers(&namespace) || before.as_ref().is_some_and(|(_, reach)| reach.covers(&namespace))
        };
        store.state().iter().filter(|t| touched(t)).map(|t| ObjectRef::from_obj(&**t)).collect()
    }
}

/// Which namespaces a policy can apply to, as far as its spec alone tells.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reach {
    /// Every namespace, or those its label selector picks (which labels alone decide).
    Any,
    /// Only these.
    Named(Vec<String>),
}

impl Reach {
    fn covers(&self, namespace: &str) -> bool {
        match self {
            Reach::Any => true,
            Reach::Named(names) => names.iter().any(|name| name == namespace),
        }
    }
}

fn reach(policy: &PlatformPolicy) -> Reach {
    match (&policy.spec.namespace_selector, policy.spec.namespaces.is_empty()) {
        (None, false) => Reach::Named(policy.spec.namespaces.clone()),
        _ => Reach::Any,
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

    #[test]
    fn a_policy_reaches_the_namespaces_it_names_or_all() {
        let policy = |spec: serde_json::Value| -> PlatformPolicy {
            serde_json::from_value(serde_json::json!({"apiVersion": "platform.pequod.io/v1alpha1",
                "kind": "PlatformPolicy", "metadata": {"name": "p"}, "spec": spec}))
            .unwrap()
        };
        let named = reach(&policy(serde_json::json!({"namespaces": ["a", "b"]})));
        assert!(named.covers("a") && named.covers("b") && !named.covers("c"));
        assert_eq!(reach(&policy(serde_json::json!({}))), Reach::Any);
        let selector = serde_json::json!({"namespaces": ["a"], "namespaceSelector": {"matchLabels": {"x": "y"}}});
        assert_eq!(reach(&policy(selector)), Reach::Any, "labels may pick any namespace");
    }

    #[test]
    fn a_new_generation_or_a_deletion_wakes_the_transforms_of_the_namespaces_reached() {
        let (reader, mut writer) = kube::runtime::reflector::store();
        for transform in [transform("a", "one", "embedded", "m"), transform("b", "two", "embedded", "m")] {
            writer.apply_watcher_event(&watcher::Event::Apply((*transform).clone()));
        }
        let policy = |generation: i64, namespaces: &[&str]| -> PlatformPolicy {
            serde_json::from_value(serde_json::json!({"apiVersion": "platform.pequod.io/v1alpha1",
                "kind": "PlatformPolicy", "metadata": {"name": "p", "generation": generation},
                "spec": {"namespaces": namespaces}}))
            .unwrap()
        };
        let mut changed = on_policy_change(reader);
        let mut woken = |policy: PlatformPolicy, deleted: bool| {
            let mut names: Vec<String> = changed(policy, deleted).into_iter().map(|r| r.name).collect();
            names.sort();
            names
        };
        assert_eq!(woken(policy(1, &["a"]), false), ["one"], "first seen");
        assert!(woken(policy(1, &["a"]), false).is_empty(), "same generation: a status change");
        assert_eq!(woken(policy(2, &["b"]), false), ["one", "two"], "before and after");
        assert_eq!(woken(policy(2, &["b"]), true), ["two"], "deleted: the namespaces it reached");
        assert_eq!(woken(policy(2, &["b"]), false), ["two"], "created again");
    }
}
