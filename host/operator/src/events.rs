//! Kubernetes Events on the Transform, so that `kubectl describe transform` tells the story: renders, policy
//! failures, applies, readiness, prunes, adoptions and errors. Events about graph execution are recorded
//! on the owning Transform too (a developer looks at the Transform, not at its ResourceGraph), with the
//! object concerned as the related object.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType};
use pequod_api::{ResourceGraph, Transform};

use crate::Context;

/// Whether an event reports normal progress or a problem.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Severity {
    Normal,
    Warning,
}

/// The longest note the Events API accepts is 1 kB; keep ours shorter.
const MAX_NOTE: usize = 1000;

impl Context {
    /// Records an event about `transform`.
    pub(crate) async fn event(&self, transform: &Transform, severity: Severity, reason: &str, note: String) {
        self.publish(transform.object_ref(&()), None, severity, reason, note).await;
    }

    /// Records an event about the Transform that owns `graph`, concerning `related` if given.
    pub(crate) async fn graph_event(
        &self,
        graph: &ResourceGraph,
        related: Option<ObjectReference>,
        severity: Severity,
        reason: &str,
        note: String,
    ) {
        let Some(owner) = graph.metadata.owner_references.iter().flatten().find(|owner| owner.kind == "Transform")
        else {
            self.publish(graph.object_ref(&()), related, severity, reason, note).await;
            return;
        };
        let reference = ObjectReference {
            api_version: Some(owner.api_version.clone()),
            kind: Some(owner.kind.clone()),
            name: Some(owner.name.clone()),
            namespace: graph.metadata.namespace.clone(),
            uid: Some(owner.uid.clone()),
            ..ObjectReference::default()
        };
        self.publish(reference, related, severity, reason, note).await;
    }

    async fn publish(
        &self,
        reference: ObjectReference,
        related: Option<ObjectReference>,
        severity: Severity,
        reason: &str,
        mut note: String,
    ) {
        if note.len() > MAX_NOTE {
            let mut cut = MAX_NOTE;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push('…');
        }
        // Every event is also a log line naming the object it is about (and the related object, if any).
        let object = format!(
            "{}/{}/{}",
            reference.kind.as_deref().unwrap_or_default(),
            reference.namespace.as_deref().unwrap_or_default(),
            reference.name.as_deref().unwrap_or_default()
        );
        let related_object = related
            .as_ref()
            .map(|r| format!("{}/{}", r.kind.as_deref().unwrap_or_default(), r.name.as_deref().unwrap_or_default()));
        match severity {
            Severity::Normal => tracing::info!(%object, related = ?related_object, reason, %note, "event"),
            Severity::Warning => tracing::warn!(%object, related = ?related_object, reason, %note, "event"),
        }
        let event = Event {
            type_: match severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: reason.to_owned(),
            note: Some(note),
            action: reason.to_owned(),
            secondary: related,
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::debug!(%error, reason, "could not record an event");
        }
    }
}

/// A reference to the object a node applies, for an event's related object.
pub(crate) fn object_reference(object: &serde_json::Value, namespace: Option<&str>) -> ObjectReference {
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    ObjectReference {
        api_version: text(&object["apiVersion"]),
        kind: text(&object["kind"]),
        name: text(&object["metadata"]["name"]),
        namespace: namespace.map(str::to_owned),
        ..ObjectReference::default()
    }
}
