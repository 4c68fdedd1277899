//! What the executor does with one node this time, decided from facts only (the node's policy, what exists,
//! what the inventory recorded): a pure function with table tests. `executor.rs` gathers the facts and
//! carries the step out.

use pequod_api::{InventoryEntry, InventoryMode};
use pequod_graph::{ApplyMode, ApplyPolicy, ConflictPolicy};

use crate::events::Severity;

/// What is known about the node's object in the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Live {
    /// The graph (`namespace/name`) another Pequod graph's annotation names, when it is not this one.
    pub(crate) other_graph: Option<String>,
    /// Whether this graph's annotation is on it.
    pub(crate) ours: bool,
    /// The hash of the fields we apply, as they are on the live object now.
    pub(crate) observed_hash: String,
}

/// What one node needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing: the live object is as applied (or the node is CreateOnly and it exists).
    Keep,
    /// Create the missing object.
    Create,
    /// Apply a changed desired state.
    Update,
    /// Apply again: someone changed the fields we own.
    CorrectDrift,
    /// Take over an existing object listed in `spec.adopt`.
    Adopt,
}

impl Step {
    /// Whether the apply forces field ownership.
    pub(crate) fn force(self, policy: &ApplyPolicy) -> bool {
        self == Step::Adopt || policy.conflict_policy == ConflictPolicy::Force
    }

    /// The inventory mode the object has afterwards.
    pub(crate) fn mode(self, previous: Option<&InventoryEntry>) -> InventoryMode {
        match self {
            Step::Adopt => InventoryMode::Adopted,
            _ => previous.map(|entry| entry.mode).unwrap_or_default(),
        }
    }

    /// The Event reason, severity and past-tense verb of an apply; `None` for [`Step::Keep`].
    pub(crate) fn event(self) -> Option<(&'static str, Severity, &'static str)> {
        match self {
            Step::Keep => None,
            Step::Create => Some(("Applied", Severity::Normal, "created")),
            Step::Update => Some(("Applied", Severity::Normal, "updated")),
            Step::CorrectDrift => Some(("DriftCorrected", Severity::Warning, "drift corrected")),
            Step::Adopt => Some(("Adopted", Severity::Normal, "adopted")),
        }
    }
}

/// Why a node's object is not touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `AdoptOnly`, and there is nothing to adopt.
    NothingToAdopt,
    /// Another graph manages it.
    OtherGraph(String),
    /// It exists, is not ours, and `spec.adopt` does not list it.
    NotListed,
}

impl Refused {
    /// The node's error, naming the object as `what` (e.g. `ConfigMap web`).
    pub(crate) fn message(&self, what: &str) -> String {
        match self {
            Refused::NothingToAdopt => {
                format!("{what} does not exist; applyPolicy.mode AdoptOnly takes over an existing object only")
            }
            Refused::OtherGraph(other) => format!(
                "{what} is managed by another graph ({other}, of the Transform of that name); it must abandon it \
                 (remove the node with deletionPolicy: Orphan) before this Transform may take it"
            ),
            Refused::NotListed => format!(
                "{what} already exists and is not managed by this Transform; list it in the Transform's \
                 spec.adopt (apiVersion, kind, name) to take it over"
            ),
        }
    }
}

/// Decides the step for a node with `policy` whose desired state hashes to `desired_hash`, given its live
/// object (`None`: missing), the inventory entry recorded for that object, and whether `spec.adopt` lists it.
pub(crate) fn decide(
    policy: &ApplyPolicy,
    desired_hash: &str,
    live: Option<&Live>,
    previous: Option<&InventoryEntry>,
    listed_for_adoption: bool,
) -> Result<Step, Refused> {
    let Some(live) = live else {
        return if policy.mode == ApplyMode::AdoptOnly { Err(Refused::NothingToAdopt) } else { Ok(Step::Create) };
    };
    if let Some(other) = &live.other_graph {
        return Err(Refused::OtherGraph(other.clone()));
    }
    if !live.ours && previous.is_none() {
        return if listed_for_adoption { Ok(Step::Adopt) } else { Err(Refused::NotListed) };
    }
    if policy.mode == ApplyMode::CreateOnly {
        return Ok(Step::Keep);
    }
    match previous {
        Some(entry) if entry.applied_hash.as_deref() != Some(desired_hash) => Ok(Step::Update),
        None => Ok(Step::Update),
        Some(entry) if entry.observed_hash.as_deref() == Some(live.observed_hash.as_str()) => Ok(Step::Keep),
        Some(_) => Ok(Step::CorrectDrift),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(applied: &str, observed: &str) -> InventoryEntry {
        InventoryEntry {
            applied_hash: Some(applied.into()),
            observed_hash: Some(observed.into()),
            ..Default::default()
        }
    }

    fn live(ours: bool, observed: &str) -> Live {
        Live { other_graph: None, ours, observed_hash: observed.into() }
    }

    #[test]
    fn steps_from_facts() {
        let normal = ApplyPolicy::default();
        let adopt_only = ApplyPolicy { mode: ApplyMode::AdoptOnly, ..Default::default() };
        let create_only = ApplyPolicy { mode: ApplyMode::CreateOnly, ..Default::default() };
        let other = Live { other_graph: Some("team/other".into()), ..live(false, "o") };
        let recorded = entry("d1", "o1");
        type Case<'a> = (&'a ApplyPolicy, Option<Live>, Option<&'a InventoryEntry>, bool, Result<Step, Refused>);
        let cases: Vec<Case> = vec![
            (&normal, None, None, false, Ok(Step::Create)),
            (&normal, None, Some(&recorded), false, Ok(Step::Create)),
            (&adopt_only, None, None, true, Err(Refused::NothingToAdopt)),
            (&normal, Some(other.clone()), None, true, Err(Refused::OtherGraph("team/other".into()))),
            (&normal, Some(other), Some(&recorded), true, Err(Refused::OtherGraph("team/other".into()))),
            (&normal, Some(live(false, "o1")), None, false, Err(Refused::NotListed)),
            (&adopt_only, Some(live(false, "o1")), None, false, Err(Refused::NotListed)),
            (&normal, Some(live(false, "o1")), None, true, Ok(Step::Adopt)),
            (&adopt_only, Some(live(false, "o1")), None, true, Ok(Step::Adopt)),
            (&create_only, Some(live(true, "changed")), Some(&recorded), false, Ok(Step::Keep)),
            (&normal, Some(live(true, "o1")), Some(&recorded), false, Ok(Step::Keep)),
            (&normal, Some(live(true, "changed")), Some(&recorded), false, Ok(Step::CorrectDrift)),
            (&normal, Some(live(true, "o1")), None, false, Ok(Step::Update)),
            (&normal, Some(live(false, "o1")), Some(&recorded), false, Ok(Step::Keep)),
        ];
        for (policy, live, previous, listed, expected) in cases {
            let step = decide(policy, "d1", live.as_ref(), previous, listed);
            assert_eq!(step, expected, "{policy:?} {live:?} {previous:?} {listed}");
        }
        let changed = decide(&normal, "d2", Some(&live(true, "o1")), Some(&recorded), false);
        assert_eq!(changed, Ok(Step::Update), "a new desired state is applied");
    }

    #[test]
    fn what_each_step_implies() {
        let force = ApplyPolicy { conflict_policy: ConflictPolicy::Force, ..Default::default() };
        assert!(Step::Adopt.force(&ApplyPolicy::default()));
        assert!(!Step::Update.force(&ApplyPolicy::default()));
        assert!(Step::Update.force(&force));
        let adopted = InventoryEntry { mode: InventoryMode::Adopted, ..Default::default() };
        assert_eq!(Step::Update.mode(Some(&adopted)), InventoryMode::Adopted);
        assert_eq!(Step::Adopt.mode(None), InventoryMode::Adopted);
        assert_eq!(Step::Create.mode(None), InventoryMode::default());
        assert!(Step::Keep.event().is_none());
        assert_eq!(Step::CorrectDrift.event().map(|(reason, ..)| reason), Some("DriftCorrected"));
    }
}
