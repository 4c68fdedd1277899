//! What pruning (and cleanup) does to one inventory entry: decided from the entry and the live object only.
//!
//! Pequod deletes an object only when it is still the object Pequod applied (same uid) and its annotation
//! still names this graph; a delete carries the uid as a precondition, so an object re-created by someone
//! else in between is never deleted. Objects annotated `platform.pequod.io/prune: disabled` are abandoned
//! (left in place, our ownership dropped), never deleted.

use std::time::Duration;

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

/// Why an unset deletion policy keeps PersistentVolumeClaims and Secrets.
const KEPT_KIND: &str =
    "PersistentVolumeClaims and Secrets are kept unless their node sets applyPolicy.deletionPolicy: Delete";

/// Whether objects of this kind hold data that outlives a module change: kept unless their node says
/// `Delete` explicitly.
fn holds_data(api_version: &str, kind: &str) -> bool {
    !api_version.contains('/') && matches!(kind, "PersistentVolumeClaim" | "Secret")
}

/// Decides for `entry`, held under the node's `policy` (`None`: unset), given the live object's metadata
/// (if it exists).
pub(crate) fn decide(
    entry: &InventoryEntry,
    policy: Option<DeletionPolicy>,
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
    match policy {
        _ if entry.mode == InventoryMode::Orphaned => PruneStep::Abandon("its deletionPolicy is Orphan"),
        Some(DeletionPolicy::Orphan) => PruneStep::Abandon("its deletionPolicy is Orphan"),
        None if holds_data(&entry.api_version, &entry.kind) => PruneStep::Abandon(KEPT_KIND),
        Some(DeletionPolicy::Delete) | None => PruneStep::Delete { uid: live.uid.clone() },
    }
}

/// The longest prune grace period a Transform may ask for.
pub(crate) const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// When an object that left the graph is pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PruneTiming {
    /// Now: no grace period, or it has run out.
    Now,
    /// A grace period starts now: record when, announce it, prune after `Duration`.
    Start(Duration),
    /// The grace period runs for `Duration` more.
    Wait(Duration),
}

/// Decides when to prune `entry` under `grace` (none: at once), at `now`.
pub(crate) fn timing(entry: &InventoryEntry, grace: Option<Duration>, now: jiff::Timestamp) -> PruneTiming {
    let Some(grace) = grace.filter(|grace| !grace.is_zero()) else { return PruneTiming::Now };
    let left = entry.left_graph_at.as_deref().and_then(|text| text.parse::<jiff::Timestamp>().ok());
    let Some(left) = left else { return PruneTiming::Start(grace) };
    let elapsed = Duration::try_from(now.duration_since(left)).unwrap_or_default();
    match grace.checked_sub(elapsed) {
        Some(remaining) if !remaining.is_zero() => PruneTiming::Wait(remaining),
        _ => PruneTiming::Now,
    }
}

/// Parses a grace period (`30s`, `10m`, `1h`), at most [`MAX_GRACE`].
pub(crate) fn grace_period(text: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(text) = text else { return Ok(None) };
    let grace = pequod_api::units::parse_duration(text).map_err(|error| format!("pruneGracePeriod: {error}"))?;
    Ok(Some(grace.min(MAX_GRACE)))
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
        let cases: Vec<(Option<ObjectMeta>, Option<DeletionPolicy>, PruneStep)> = vec![
            (None, Some(DeletionPolicy::Delete), PruneStep::Gone),
            (Some(meta("u1", &ours)), Some(DeletionPolicy::Delete), PruneStep::Delete { uid: Some("u1".into()) }),
            (
                Some(meta("u2", &ours)),
                Some(DeletionPolicy::Delete),
                PruneStep::NotOurs("it was replaced by an object with another uid"),
            ),
            (
                Some(meta("u1", &[(GRAPH_ANNOTATION, "other/graph")])),
                Some(DeletionPolicy::Delete),
                PruneStep::NotOurs("its platform.pequod.io/resource-graph annotation no longer names this graph"),
            ),
            (
                Some(meta("u1", &[])),
                Some(DeletionPolicy::Delete),
                PruneStep::NotOurs("its platform.pequod.io/resource-graph annotation no longer names this graph"),
            ),
            (
                Some(meta("u1", &[(GRAPH_ANNOTATION, "team/web"), (PRUNE_ANNOTATION, "disabled")])),
                Some(DeletionPolicy::Delete),
                PruneStep::Abandon("it is annotated platform.pequod.io/prune: disabled"),
            ),
            (Some(meta("u1", &ours)), Some(DeletionPolicy::Orphan), PruneStep::Abandon("its deletionPolicy is Orphan")),
            (Some(meta("u1", &ours)), None, PruneStep::Delete { uid: Some("u1".into()) }),
        ];
        for (live, policy, expected) in cases {
            assert_eq!(decide(&entry, policy, live.as_ref(), "team/web"), expected, "{live:?} {policy:?}");
        }
    }

    #[test]
    fn volumes_and_secrets_are_kept_unless_their_node_says_delete() {
        let live = meta("u1", &[(GRAPH_ANNOTATION, "team/web")]);
        let delete = PruneStep::Delete { uid: Some("u1".into()) };
        let cases = [
            ("v1", "PersistentVolumeClaim", None, PruneStep::Abandon(KEPT_KIND)),
            ("v1", "Secret", None, PruneStep::Abandon(KEPT_KIND)),
            ("v1", "Secret", Some(DeletionPolicy::Delete), delete.clone()),
            ("v1", "PersistentVolumeClaim", Some(DeletionPolicy::Delete), delete.clone()),
            ("v1", "ConfigMap", None, delete.clone()),
            ("example.com/v1", "Secret", None, delete.clone()),
            ("v1", "ConfigMap", Some(DeletionPolicy::Orphan), PruneStep::Abandon("its deletionPolicy is Orphan")),
        ];
        for (api_version, kind, policy, expected) in cases {
            let entry = InventoryEntry {
                api_version: api_version.into(),
                kind: kind.into(),
                uid: Some("u1".into()),
                ..Default::default()
            };
            assert_eq!(decide(&entry, policy, Some(&live), "team/web"), expected, "{kind} {policy:?}");
        }
    }

    #[test]
    fn grace_periods_delay_the_prune() {
        let now: jiff::Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let left = |at: &str| InventoryEntry { left_graph_at: Some(at.into()), ..Default::default() };
        let minutes = |m: u64| Some(Duration::from_secs(m * 60));
        let cases = [
            (InventoryEntry::default(), None, PruneTiming::Now),
            (InventoryEntry::default(), Some(Duration::ZERO), PruneTiming::Now),
            (InventoryEntry::default(), minutes(10), PruneTiming::Start(Duration::from_secs(600))),
            (left("2026-12-03T09:55:00Z"), minutes(10), PruneTiming::Wait(Duration::from_secs(300))),
            (left("2026-12-03T09:50:00Z"), minutes(10), PruneTiming::Now),
            (left("2026-12-03T09:00:00Z"), minutes(10), PruneTiming::Now),
            (left("garbage"), minutes(10), PruneTiming::Start(Duration::from_secs(600))),
            (left("2026-12-03T09:55:00Z"), None, PruneTiming::Now),
        ];
        for (entry, grace, expected) in cases {
            assert_eq!(timing(&entry, grace, now), expected, "{:?} {grace:?}", entry.left_graph_at);
        }
        assert_eq!(grace_period(Some("10m")).unwrap(), minutes(10));
        assert_eq!(grace_period(Some("9999h")).unwrap(), Some(MAX_GRACE));
        assert!(grace_period(Some("soon")).unwrap_err().contains("pruneGracePeriod"));
    }
}
