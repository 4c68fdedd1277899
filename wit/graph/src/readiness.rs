//! Readiness predicates: when a node counts as ready, so that its dependents may be applied.

use serde::{Deserialize, Serialize};

/// A predicate over the live object of a node. A node is ready when all of its predicates hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", try_from = "RawReadiness")]
pub enum Readiness {
    /// The object exists in the cluster.
    Exists,
    /// `status.conditions` has a condition of this type with this status (and reason, if given).
    #[serde(rename_all = "camelCase")]
    ConditionMatch {
        /// The condition type, e.g. `Ready` or `ACK.ResourceSynced`.
        condition_type: String,
        /// The expected status.
        status: ConditionStatus,
        /// The expected reason, if it matters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A Deployment has rolled out: observed generation is current, the `Available` condition is true and
    /// all replicas are updated and available.
    DeploymentAvailable,
    /// A StatefulSet has all replicas ready at the current revision.
    StatefulSetReady,
    /// A Job has the `Complete` condition.
    JobComplete,
    /// A Service of type LoadBalancer has an ingress address.
    ServiceLoadBalancerReady,
    /// A PersistentVolumeClaim is `Bound`.
    #[serde(rename = "PVCBound")]
    PvcBound,
    /// A CEL expression over the live object (bound to `self`) is true.
    Cel {
        /// The expression, e.g. `self.status.phase == "Active"`.
        expr: String,
    },
}

impl std::fmt::Display for Readiness {
    /// A short human form, e.g. `ConditionMatch(Ready=True)` or `Cel(self.status.ready)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::ConditionMatch { condition_type, status, reason: None } => {
                write!(f, "ConditionMatch({condition_type}={status:?})")
            }
            Readiness::ConditionMatch { condition_type, status, reason: Some(reason) } => {
                write!(f, "ConditionMatch({condition_type}={status:?}, reason {reason})")
            }
            Readiness::Cel { expr } => write!(f, "Cel({expr})"),
            Readiness::PvcBound => f.write_str("PVCBound"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The status of a Kubernetes condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

/// The wire form of a predicate, read strictly: serde's internally tagged enums ignore unknown fields of
/// unit variants, and a typo in a readiness gate must not pass silently.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawReadiness {
    #[serde(rename = "type")]
    kind: String,
    condition_type: Option<String>,
    status: Option<ConditionStatus>,
    reason: Option<String>,
    expr: Option<String>,
}

impl TryFrom<RawReadiness> for Readiness {
    type Error = String;

    fn try_from(raw: RawReadiness) -> Result<Self, String> {
        let RawReadiness { kind, condition_type, status, reason, expr } = raw;
        let unit = |predicate: Readiness| {
            let extra = [
                ("conditionType", condition_type.is_some()),
                ("status", status.is_some()),
                ("reason", reason.is_some()),
                ("expr", expr.is_some()),
            ];
            match extra.iter().find(|(_, present)| *present) {
                Some((field, _)) => Err(format!("readiness type {kind} takes no field {field}")),
                None => Ok(predicate),
            }
        };
        match kind.as_str() {
            "Exists" => unit(Readiness::Exists),
            "DeploymentAvailable" => unit(Readiness::DeploymentAvailable),
            "StatefulSetReady" => unit(Readiness::StatefulSetReady),
            "JobComplete" => unit(Readiness::JobComplete),
            "ServiceLoadBalancerReady" => unit(Readiness::ServiceLoadBalancerReady),
            "PVCBound" => unit(Readiness::PvcBound),
            "ConditionMatch" => match (condition_type, status, expr) {
                (Some(condition_type), Some(status), None) => {
                    Ok(Readiness::ConditionMatch { condition_type, status, reason })
                }
                (_, _, Some(_)) => Err("readiness type ConditionMatch takes no field expr".into()),
                _ => Err("readiness type ConditionMatch needs conditionType and status".into()),
            },
            "Cel" => match (expr, condition_type.is_some() || status.is_some() || reason.is_some()) {
                (Some(expr), false) => Ok(Readiness::Cel { expr }),
                (None, _) => Err("readiness type Cel needs expr".into()),
                (Some(_), true) => Err("readiness type Cel takes only expr".into()),
            },
            other => Err(format!(
                "unknown readiness type {other:?}; expected one of Exists, ConditionMatch, DeploymentAvailable, \
                 StatefulSetReady, JobComplete, ServiceLoadBalancerReady, PVCBound, Cel"
            )),
        }
    }
}

/// The longest CEL expression a graph may carry.
pub(crate) const MAX_CEL_LENGTH: usize = 2048;

impl Readiness {
    /// The `(group, kind)` this predicate is meaningful for, if it is kind-specific.
    fn required_kind(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Readiness::DeploymentAvailable => Some(("apps", "Deployment")),
            Readiness::StatefulSetReady => Some(("apps", "StatefulSet")),
            Readiness::JobComplete => Some(("batch", "Job")),
            Readiness::ServiceLoadBalancerReady => Some(("", "Service")),
            Readiness::PvcBound => Some(("", "PersistentVolumeClaim")),
            Readiness::Exists | Readiness::ConditionMatch { .. } | Readiness::Cel { .. } => None,
        }
    }

    /// Checks the predicate against the object it gates (by group and kind); returns what is wrong.
    pub(crate) fn check(&self, group: &str, kind: &str) -> Result<(), String> {
        if let Some((want_group, want_kind)) = self.required_kind()
            && (group != want_group || kind != want_kind)
        {
            let want_api = if want_group.is_empty() { "v1".to_owned() } else { format!("{want_group}/*") };
            return Err(format!("{self:?} applies only to {want_kind} ({want_api}), not to {kind}"));
        }
        match self {
            Readiness::ConditionMatch { condition_type, reason, .. } => {
                if condition_type.trim().is_empty() {
                    return Err("ConditionMatch needs a non-empty conditionType".into());
                }
                if reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
                    return Err("ConditionMatch reason, when given, must not be empty".into());
                }
                Ok(())
            }
            Readiness::Cel { expr } => check_cel_shape(expr),
            _ => Ok(()),
        }
    }
}

/// A shape check of a CEL expression: not empty, not huge, brackets balanced and strings closed. The
/// executor compiles the expression fully; this catches what can be caught without a CEL parser, so a
/// broken graph is refused before anything is applied.
fn check_cel_shape(expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("Cel needs a non-empty expr".into());
    }
    if expr.len() > MAX_CEL_LENGTH {
        return Err(format!("Cel expr is {} bytes long; the limit is {MAX_CEL_LENGTH}", expr.len()));
    }
    let mut open: Vec<char> = Vec::new();
    let mut chars = expr.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                skip_string(&mut chars, c).map_err(|()| format!("Cel expr has an unclosed string: {expr}"))?
            }
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let expected = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(expected) {
                    return Err(format!("Cel expr has an unbalanced '{c}': {expr}"));
                }
            }
            _ => {}
        }
    }
    match open.last() {
        Some(c) => Err(format!("Cel expr has an unclosed '{c}': {expr}")),
        None => Ok(()),
    }
}

fn skip_string(chars: &mut std::str::Chars<'_>, quote: char) -> Result<(), ()> {
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == quote {
            return Ok(());
        }
    }
    Err(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serde_form_is_tagged_by_type() {
        let predicate = Readiness::ConditionMatch {
            condition_type: "ACK.ResourceSynced".into(),
            status: ConditionStatus::True,
            reason: None,
        };
        let value = serde_json::to_value(&predicate).unwrap();
        assert_eq!(value, json!({"type": "ConditionMatch", "conditionType": "ACK.ResourceSynced", "status": "True"}));
        assert_eq!(serde_json::from_value::<Readiness>(value).unwrap(), predicate);
        assert_eq!(serde_json::to_value(Readiness::PvcBound).unwrap(), json!({"type": "PVCBound"}));
        let error = |value| serde_json::from_value::<Readiness>(value).unwrap_err().to_string();
        assert!(error(json!({"type": "Exists", "extra": 1})).contains("unknown field `extra`"));
        assert_eq!(error(json!({"type": "Exists", "expr": "x"})), "readiness type Exists takes no field expr");
        assert!(error(json!({"type": "Sometime"})).starts_with("unknown readiness type \"Sometime\""));
        assert_eq!(
            error(json!({"type": "ConditionMatch", "status": "True"})),
            "readiness type ConditionMatch needs conditionType and status"
        );
        assert_eq!(error(json!({"type": "Cel"})), "readiness type Cel needs expr");
        let cel = json!({"type": "Cel", "expr": "self.x"});
        assert_eq!(serde_json::from_value::<Readiness>(cel).unwrap(), Readiness::Cel { expr: "self.x".into() });
    }

    #[test]
    fn kind_specific_predicates_check_the_kind() {
        assert!(Readiness::DeploymentAvailable.check("apps", "Deployment").is_ok());
        let error = Readiness::DeploymentAvailable.check("", "Service").unwrap_err();
        assert!(error.contains("applies only to Deployment"), "{error}");
        assert!(Readiness::PvcBound.check("", "PersistentVolumeClaim").is_ok());
        assert!(Readiness::Exists.check("example.com", "Widget").is_ok());
    }

    #[test]
    fn cel_shapes() {
        let cel = |expr: &str| Readiness::Cel { expr: expr.into() }.check("", "ConfigMap");
        assert!(cel("self.status.phase == \"Active\" && size(self.data) > 0").is_ok());
        assert!(cel("has(self.status) && self.status.x[0] == ')'").is_ok());
        assert!(cel("  ").is_err());
        assert!(cel("size(self.data").unwrap_err().contains("unclosed '('"));
        assert!(cel("self.a)").unwrap_err().contains("unbalanced ')'"));
        assert!(cel("self.a == \"x").unwrap_err().contains("unclosed string"));
        assert!(cel(&"a".repeat(MAX_CEL_LENGTH + 1)).unwrap_err().contains("limit"));
    }
}
