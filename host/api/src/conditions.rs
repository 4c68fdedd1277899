//! Conditions on Pequod's resources.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition types Pequod writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// The module was resolved and fetched.
    SourceReady,
    /// The module's signature was verified (or no signature is required).
    Verified,
    /// The module rendered a valid graph.
    Rendered,
    /// The graph passed the target rules.
    PolicyPassed,
    /// Every node of the graph is applied and ready.
    Ready,
    /// kstatus: work is under way (present only while it is).
    Reconciling,
    /// kstatus: no progress is possible until something changes (present only while so).
    Stalled,
}

impl ConditionType {
    /// The type's name as it appears in `status.conditions`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::SourceReady => "SourceReady",
            ConditionType::Verified => "Verified",
            ConditionType::Rendered => "Rendered",
            ConditionType::PolicyPassed => "PolicyPassed",
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
        }
    }
}

/// Sets a condition in `conditions`, keeping its transition time when the status did not change.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    kind: ConditionType,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) {
    let status = if status { "True" } else { "False" }.to_owned();
    let message = message.into();
    match conditions.iter_mut().find(|condition| condition.type_ == kind.as_str()) {
        Some(condition) => {
            if condition.status != status {
                condition.last_transition_time = now;
            }
            condition.status = status;
            condition.reason = reason.to_owned();
            condition.message = message;
            condition.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: kind.as_str().to_owned(),
            status,
            reason: reason.to_owned(),
            message,
            observed_generation,
            last_transition_time: now,
        }),
    }
}

/// Where a resource stands, as kstatus-based tools (Flux health checks, `kubectl wait`, cli-utils) read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Done: neither `Reconciling` nor `Stalled`.
    Current,
    /// Work is under way or will be retried: `Reconciling=True`.
    Reconciling,
    /// Nothing will change until the spec, a policy or the cluster does: `Stalled=True`.
    Stalled,
}

/// Sets the kstatus conditions for `progress`, with the reason and message given (those of `Ready`): the one
/// that holds is `True`, the other is removed, and both are removed when the resource is current.
pub fn set_progress(
    conditions: &mut Vec<Condition>,
    progress: Progress,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Time,
) {
    let holds = match progress {
        Progress::Current => None,
        Progress::Reconciling => Some(ConditionType::Reconciling),
        Progress::Stalled => Some(ConditionType::Stalled),
    };
    for kind in [ConditionType::Reconciling, ConditionType::Stalled] {
        if Some(kind) == holds {
            set_condition(conditions, kind, true, reason, message, observed_generation, now.clone());
        } else {
            conditions.retain(|condition| condition.type_ != kind.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(conditions: &[Condition]) -> Vec<(&str, &str)> {
        conditions.iter().map(|c| (c.type_.as_str(), c.reason.as_str())).collect()
    }

    #[test]
    fn kstatus_conditions_follow_progress() {
        let now: Time = serde_json::from_str("\"2026-01-01T00:00:00Z\"").unwrap();
        let mut conditions = Vec::new();
        set_progress(&mut conditions, Progress::Reconciling, "Progressing", "1/3 nodes ready", Some(1), now.clone());
        assert_eq!(types(&conditions), [("Reconciling", "Progressing")]);
        set_progress(&mut conditions, Progress::Stalled, "Rejected", "bad input", Some(2), now.clone());
        assert_eq!(types(&conditions), [("Stalled", "Rejected")]);
        assert_eq!(conditions[0].observed_generation, Some(2));
        set_progress(&mut conditions, Progress::Current, "Ready", "", Some(2), now);
        assert!(conditions.is_empty());
    }
}
