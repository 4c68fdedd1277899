//! Whether a ResourceGraph is one Pequod rendered, and may be executed now.
//!
//! Anyone allowed to write ResourceGraphs could otherwise hand the executor any graph. A graph is executed
//! only when a live Transform controls it (owner reference with `controller: true` and the Transform's uid)
//! and that Transform's status records the hash of exactly this graph's spec — a hash only the operator
//! writes, after rendering and checking the graph.

use kube::ResourceExt as _;
use pequod_api::{ResourceGraph, Transform};

/// What the executor may do with a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Rendered by its Transform: execute it.
    Verified,
    /// Its Transform is gone or being deleted: apply nothing (the finalizer cleans up).
    Leaving,
    /// Its Transform is suspended: no write at all, drift correction and prune included.
    Suspended,
    /// Not a graph Pequod rendered (or not any more): refuse, saying why.
    Unverified(String),
}

/// Decides from the graph and the Transform that controls it (as read from the API server, if any).
pub(crate) fn verify(graph: &ResourceGraph, owner: Option<&Transform>) -> Origin {
    let Some(reference) = controller(graph) else {
        return Origin::Unverified(
            "no Transform controls this ResourceGraph; Pequod executes only graphs it rendered from a Transform".into(),
        );
    };
    let Some(transform) = owner else { return Origin::Leaving };
    if transform.metadata.uid.as_deref() != Some(reference.uid.as_str())
        || transform.metadata.deletion_timestamp.is_some()
    {
        return Origin::Leaving;
    }
    if transform.spec.suspend {
        return Origin::Suspended;
    }
    let recorded = transform.status.as_ref().and_then(|status| status.graph_hash.as_deref());
    let actual = graph.spec.hash();
    if recorded == Some(actual.as_str()) {
        return Origin::Verified;
    }
    Origin::Unverified(format!(
        "this graph ({actual}) is not the one Transform {} rendered ({}); it was written by someone else or \
         the Transform is rendering a new one",
        transform.name_any(),
        recorded.unwrap_or("none yet")
    ))
}

/// The owner reference of the Transform that controls `graph`.
pub(crate) fn controller(
    graph: &ResourceGraph,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    graph.metadata.owner_references.iter().flatten().find(|owner| {
        owner.controller == Some(true) && owner.kind == "Transform" && owner.api_version == pequod_api::API_VERSION
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::Resource as _;
    use pequod_api::{CueRef, ResourceGraphSpec, SourceType, TransformSpec, TransformStatus};

    fn transform() -> Transform {
        let spec = TransformSpec {
            cue_ref: CueRef {
                source: SourceType::Embedded,
                reference: "webservice".into(),
                path: None,
                pull_secret_ref: None,
            },
            input: serde_json::json!({}),
            deletion_policy: None,
            prune_grace_period: None,
            adopt: Vec::new(),
            suspend: false,
            service_account_name: None,
        };
        let mut transform = Transform::new("web", spec);
        transform.metadata.namespace = Some("team".into());
        transform.metadata.uid = Some("uid-1".into());
        transform
    }

    fn graph(owner: Option<OwnerReference>) -> ResourceGraph {
        let graph: pequod_graph::Graph = serde_json::from_value(serde_json::json!({
            "graphVersion": "pequod.io/graph/v1alpha1",
            "metadata": {"module": "m", "version": "1.0.0"},
            "nodes": []
        }))
        .unwrap();
        let spec = ResourceGraphSpec {
            graph,
            adopt: Vec::new(),
            service_account_name: None,
            deferred: Vec::new(),
            prune_grace_period: None,
        };
        let mut graph = ResourceGraph::new("web", spec);
        graph.metadata.owner_references = owner.map(|owner| vec![owner]);
        graph
    }

    #[test]
    fn only_the_graph_its_transform_recorded_is_verified() {
        let mut owner = transform();
        let reference = owner.controller_owner_ref(&()).unwrap();
        let rendered = graph(Some(reference.clone()));
        owner.status = Some(TransformStatus { graph_hash: Some(rendered.spec.hash()), ..Default::default() });
        let mut other = rendered.clone();
        other.spec.adopt.push(pequod_api::AdoptTarget {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "victim".into(),
            namespace: None,
        });
        let not_controller = graph(Some(OwnerReference { controller: None, ..reference.clone() }));
        let mut suspended = owner.clone();
        suspended.spec.suspend = true;
        let mut replaced = owner.clone();
        replaced.metadata.uid = Some("uid-2".into());
        let unverified = |origin: &Origin| matches!(origin, Origin::Unverified(_));
        assert_eq!(verify(&rendered, Some(&owner)), Origin::Verified);
        assert!(unverified(&verify(&other, Some(&owner))), "a changed spec is not the rendered graph");
        assert!(unverified(&verify(&graph(None), Some(&owner))), "no owner");
        assert!(unverified(&verify(&not_controller, Some(&owner))), "an owner that is not the controller");
        assert_eq!(verify(&rendered, None), Origin::Leaving);
        assert_eq!(verify(&rendered, Some(&replaced)), Origin::Leaving);
        assert_eq!(verify(&rendered, Some(&suspended)), Origin::Suspended);
        let mut fresh = owner.clone();
        fresh.status = None;
        assert!(unverified(&verify(&rendered, Some(&fresh))), "nothing recorded yet");
    }

    #[test]
    fn the_hash_survives_a_round_trip_through_json_with_other_key_order() {
        let rendered = graph(None);
        let text = serde_json::to_string(&rendered.spec).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Reverse every object's key order, as another serializer may.
        fn reverse(value: &serde_json::Value) -> serde_json::Value {
            match value {
                serde_json::Value::Object(map) => {
                    serde_json::Value::Object(map.iter().rev().map(|(k, v)| (k.clone(), reverse(v))).collect())
                }
                serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(reverse).collect()),
                other => other.clone(),
            }
        }
        let back: ResourceGraphSpec = serde_json::from_value(reverse(&value)).unwrap();
        assert_eq!(back.hash(), rendered.spec.hash());
    }
}
