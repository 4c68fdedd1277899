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
