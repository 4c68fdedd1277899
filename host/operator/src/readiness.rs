//! Evaluating readiness predicates against a live object.

mod cel;

use pequod_graph::{ConditionStatus, Readiness};
use serde_json::Value;

#[allow(unused_imports, reason = "check_cel is called where transform.rs checks graphs, wired separately")]
pub(crate) use cel::{LIMIT_REASON, check_cel};

/// Whether every predicate holds for `live`; when not, what the first unmet one waits for. CEL predicates
/// are evaluated on the blocking pool under cost and time limits (see [`cel`]); the others are cheap.
pub(crate) async fn check(predicates: &[Readiness], live: &Value) -> Result<(), String> {
    for predicate in predicates {
        match predicate {
            Readiness::Cel { expr } => cel::holds(expr, live).await?,
            builtin => holds(builtin, live)?,
        }
    }
    Ok(())
}

/// Whether one predicate holds, evaluated on the current thread (CEL within the default limits).
fn holds(predicate: &Readiness, live: &Value) -> Result<(), String> {
    let status = &live["status"];
    match predicate {
        Readiness::Exists => Ok(()),
        Readiness::ConditionMatch { condition_type, status: wanted, reason } => {
            let wanted = match wanted {
                ConditionStatus::True => "True",
                ConditionStatus::False => "False",
                ConditionStatus::Unknown => "Unknown",
            };
            let condition = conditions(live).find(|c| c["type"] == condition_type.as_str());
            let matches = condition.is_some_and(|c| {
                c["status"] == wanted && reason.as_ref().is_none_or(|reason| c["reason"] == reason.as_str())
            });
            if matches { Ok(()) } else { Err(format!("waiting for condition {condition_type}={wanted}")) }
        }
        Readiness::DeploymentAvailable => deployment_available(live),
        Readiness::StatefulSetReady => {
            let replicas = live["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = status["readyReplicas"].as_i64().unwrap_or(0);
            let current =
                status["currentRevision"].is_string() && status["currentRevision"] == status["updateRevision"];
            if generation_observed(live) && ready >= replicas && current {
                Ok(())
            } else {
                Err(format!("waiting for StatefulSet: {ready}/{replicas} replicas ready"))
            }
        }
        Readiness::JobComplete => {
            if conditions(live).any(|c| c["type"] == "Complete" && c["status"] == "True") {
                Ok(())
            } else {
                Err("waiting for the Job to complete".into())
            }
        }
        Readiness::ServiceLoadBalancerReady => {
            if status["loadBalancer"]["ingress"].as_array().is_some_and(|ingress| !ingress.is_empty()) {
                Ok(())
            } else {
                Err("waiting for a load balancer address".into())
            }
        }
        Readiness::PvcBound => {
            if status["phase"] == "Bound" {
                Ok(())
            } else {
                Err("waiting for the claim to be Bound".into())
            }
        }
        Readiness::Cel { expr } => cel::evaluate(expr, live, cel::Limits::default()),
    }
}

fn conditions(live: &Value) -> impl Iterator<Item = &Value> {
    live["status"]["conditions"].as_array().into_iter().flatten()
}

fn generation_observed(live: &Value) -> bool {
    let generation = live["metadata"]["generation"].as_i64().unwrap_or(0);
    live["status"]["observedGeneration"].as_i64().unwrap_or(-1) >= generation
}

fn deployment_available(live: &Value) -> Result<(), String> {
    let status = &live["status"];
    let replicas = live["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = status["updatedReplicas"].as_i64().unwrap_or(0);
    let available = status["availableReplicas"].as_i64().unwrap_or(0);
    let available_condition = conditions(live).any(|c| c["type"] == "Available" && c["status"] == "True");
    if generation_observed(live) && available_condition && updated >= replicas && available >= replicas {
        Ok(())
    } else {
        Err(format!("waiting for Deployment rollout: {available}/{replicas} available, {updated} updated"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The predicates evaluated on the test's thread.
    fn check(predicates: &[Readiness], live: &Value) -> Result<(), String> {
        predicates.iter().try_for_each(|predicate| holds(predicate, live))
    }

    #[test]
    fn deployment_needs_current_generation_and_all_replicas() {
        let mut live = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {
            "observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Available", "status": "True"}]}});
        assert_eq!(check(&[Readiness::DeploymentAvailable], &live), Ok(()));
        live["status"]["observedGeneration"] = json!(1);
        assert!(check(&[Readiness::DeploymentAvailable], &live).is_err());
        live["status"]["observedGeneration"] = json!(2);
        live["status"]["availableReplicas"] = json!(1);
        assert_eq!(
            check(&[Readiness::DeploymentAvailable], &live),
            Err("waiting for Deployment rollout: 1/2 available, 2 updated".into())
        );
    }

    #[test]
    fn condition_match_checks_reason_when_given() {
        let live =
            json!({"status": {"conditions": [{"type": "ACK.ResourceSynced", "status": "True", "reason": "Synced"}]}});
        let gate = |reason: Option<&str>| Readiness::ConditionMatch {
            condition_type: "ACK.ResourceSynced".into(),
            status: ConditionStatus::True,
            reason: reason.map(str::to_owned),
        };
        assert!(check(&[gate(None)], &live).is_ok());
        assert!(check(&[gate(Some("Synced"))], &live).is_ok());
        assert!(check(&[gate(Some("Other"))], &live).is_err());
        assert!(check(&[Readiness::PvcBound], &live).is_err());
        assert!(check(&[], &live).is_ok());
    }

    #[test]
    fn cel_sees_the_live_object_as_self() {
        let live =
            json!({"status": {"phase": "Active", "replicas": 3, "conditions": [{"type": "Synced", "status": "True"}]}});
        let cel = |expr: &str| check(&[Readiness::Cel { expr: expr.into() }], &live);
        assert_eq!(cel("self.status.phase == 'Active'"), Ok(()));
        assert_eq!(cel("object.status.replicas >= 3"), Ok(()));
        assert_eq!(cel("self.status.conditions.exists(c, c.type == 'Synced' && c.status == 'True')"), Ok(()));
        assert_eq!(cel("self.status.replicas > 5"), Err("waiting for Cel(self.status.replicas > 5) to be true".into()));
        assert!(
            cel("self.status.missing == 1").unwrap_err().starts_with("waiting for Cel(self.status.missing == 1): ")
        );
        assert!(cel("self.status.phase").unwrap_err().contains("must be a boolean"));
        assert!(cel("self.status.(").unwrap_err().contains("does not parse"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn every_predicate_is_checked_and_cel_runs_under_the_limits() {
        let live = json!({"status": {"phase": "Active", "items": (0..2000).collect::<Vec<_>>()}});
        let gates = |expr: &str| [Readiness::Exists, Readiness::Cel { expr: expr.into() }];
        assert_eq!(super::check(&gates("self.status.phase == 'Active'"), &live).await, Ok(()));
        assert!(super::check(&[Readiness::PvcBound, Readiness::Cel { expr: "true".into() }], &live).await.is_err());
        let expensive = "self.status.items.all(a, self.status.items.all(b, a != b || a == b))";
        let error = super::check(&gates(expensive), &live).await.unwrap_err();
        assert!(error.ends_with(&format!("({LIMIT_REASON})")), "{error}");
    }
}
