//! What pruning (and cleanup) does to one inventory entry: decided from the entry and the live object only.
//!
//! Pequod deletes an object only when it is still the object Pequod applied (same uid) and its annotation
//! still names this graph; a delete carries the uid as a precondition, so an object re-created by someone
//! else in between is never deleted. Objects annotated `platform.pequod.io/prune: disabled` are abandoned
//! (left in place, our ownership dropped), never deleted.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use pequod_api::{InventoryEntry, InventoryMode};
use pequod_graph::DeletionPolicy;

use crate::drift::GRAPH_ANNOTATION;

/// The annotation that protects an object from deletion by prune and cleanup (value `disabled`).
pub(crate) const PRUNE_ANNOTATION: &str = "platform.pequod.io/prune";
/// The annotation on a ResourceGraph that makes its cleanup leave every object as it is (value `true`):
/// for an admin whose cleanup cannot finish (the operator's permissions were narrowed, say).
pub(crate) const SKIP_CLEANUP_ANNOTATION: &str = "platform.pequod.io/skip-cleanup";

/// What to do with an object that left the graph (or whose graph is deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PruneStep {
    /// It is gone already.
    Gone,
    /// It is not the object Pequod applied any more: forget it, touch nothing.
    NotOurs(&'static str),
    /// Leave it in place without Pequod's ownership.
    Abandon(&'static str),
    /// Delete it, on condition that its uid is still this one.
    Delete { uid: Option<String> },
}

/// Decides for `entry`, held under `policy`, given the live object's metadata (if it exists).
pub(crate) fn decide(
    entry: &InventoryEntry,
    policy: DeletionPolicy,
    live: Option<&ObjectMeta>,
    graph_key: &str,
) -> PruneStep {
    let Some(live) = live else { return PruneStep::Gone };
    let annotation = |key: &str| live.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str);
    if entry.uid.is_some() && live.uid != entry.uid {
        return PruneStep::NotOurs("it was replaced by an object with another uid");
    }
    if annotation(GRAPH_ANNOTATION) != Some(graph_key) {
        return PruneStep::NotOurs("its platform.pequod.io/resource-graph annotation no longer names this graph");
    }
    if annotation(PRUNE_ANNOTATION) == Some("disabled") {
        return PruneStep::Abandon("it is annotated platform.pequod.io/prune: disabled");
    }
    if entry.mode == InventoryMode::Orphaned || policy == DeletionPolicy::Orphan {
        return PruneStep::Abandon("its deletionPolicy is Orphan");
    }
    PruneStep::Delete { uid: live.uid.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: &str, annotations: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            annotations: Some(annotations.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_object_pequod_applied_is_deleted() {
        let entry = InventoryEntry { uid: Some("u1".into()), name: "web".into(), ..Default::default() };
        let ours = [(GRAPH_ANNOTATION, "team/web")];
        let cases: Vec<(Option<ObjectMeta>, DeletionPolicy, PruneStep)> = vec![
            (None, DeletionPolicy::Delete, PruneStep::Gone),
            (Some(meta("u1", &ours)), DeletionPolicy::Delete, PruneStep::Delete { uid: Some("u1".into()) }),
            (
                Some(meta("u2", &ours)),
                DeletionPolicy::Delete,
                PruneStep::NotOurs("it was replaced by an object with another uid"),
            ),
            (
                Some(meta("u1", &[(GRAPH_ANNOTATION, "other/graph")])),
                DeletionPolicy::Delete,
                PruneStep::NotOurs("its platform.pequod.io/resource-graph annotation no longer names this graph"),
            ),
            (
                Some(meta("u1", &[])),
                DeletionPolicy::Delete,
                PruneStep::NotOurs("its platform.pequod.io/resource-graph annotation no longer names this graph"),
            ),
            (
                Some(meta("u1", &[(GRAPH_ANNOTATION, "team/web"), (PRUNE_ANNOTATION, "disabled")])),
                DeletionPolicy::Delete,
                PruneStep::Abandon("it is annotated platform.pequod.io/prune: disabled"),
            ),
            (Some(meta("u1", &ours)), DeletionPolicy::Orphan, PruneStep::Abandon("its deletionPolicy is Orphan")),
        ];
        for (live, policy, expected) in cases {
            assert_eq!(decide(&entry, policy, live.as_ref(), "team/web"), expected, "{live:?} {policy:?}");
        }
    }
}
