//! The cluster's PlatformPolicies, combined: the strictest limit wins, denials add up.

use pequod_api::units::{parse_bytes as quantity, parse_duration as duration};
use pequod_api::{GroupKind, PlatformPolicy, SourceType};
use pequod_graph::{ObjectIdentity, Phase, Violation};
use pequod_sandbox::SandboxLimits;

/// What every PlatformPolicy together allows.
#[derive(Clone, Debug, Default)]
pub(crate) struct EffectivePolicy {
    pub(crate) limits: SandboxLimits,
    pub(crate) allowed_namespaces: Vec<String>,
    pub(crate) denied_kinds: Vec<GroupKind>,
    pub(crate) allow_cluster_scoped: bool,
    /// Some policy requires signatures.
    pub(crate) require_signatures: bool,
    /// Every trusted public key (PEM), of all policies.
    pub(crate) public_keys: Vec<String>,
    /// The allowed registries of each policy that lists some: a reference must match every list.
    pub(crate) allowed_registries: Vec<(String, Vec<String>)>,
    /// The allowed source types of each policy that lists some: a source must be in every list.
    pub(crate) allowed_sources: Vec<(String, Vec<SourceType>)>,
}

impl EffectivePolicy {
    /// Combines `policies`; without any, the defaults (and cluster-scoped objects are refused).
    pub(crate) fn combine(policies: &[PlatformPolicy]) -> Result<Self, String> {
        let mut effective = EffectivePolicy { allow_cluster_scoped: !policies.is_empty(), ..Self::default() };
        for policy in policies {
            let name = policy.metadata.name.as_deref().unwrap_or_default();
            if let Some(sandbox) = &policy.spec.sandbox {
                let limits = &mut effective.limits;
                if let Some(fuel) = sandbox.fuel {
                    limits.fuel = limits.fuel.min(fuel);
                }
                if let Some(memory) = &sandbox.memory {
                    limits.memory_bytes =
                        limits.memory_bytes.min(quantity(memory).map_err(|e| format!("{name}: {e}"))?);
                }
                if let Some(timeout) = &sandbox.timeout {
                    limits.timeout = limits.timeout.min(duration(timeout).map_err(|e| format!("{name}: {e}"))?);
                }
                if let Some(output) = &sandbox.max_output {
                    let bytes = quantity(output).map_err(|e| format!("{name}: {e}"))?;
                    limits.max_output_bytes = limits.max_output_bytes.min(bytes);
                }
                if let Some(nodes) = sandbox.max_nodes {
                    limits.max_nodes = limits.max_nodes.min(nodes as usize);
                }
            }
            if let Some(trust) = &policy.spec.trust {
                effective.require_signatures |= trust.require_signatures;
                effective.public_keys.extend(trust.public_keys.iter().cloned());
                if !trust.allowed_registries.is_empty() {
                    effective.allowed_registries.push((name.to_owned(), trust.allowed_registries.clone()));
                }
                if !trust.allowed_sources.is_empty() {
                    effective.allowed_sources.push((name.to_owned(), trust.allowed_sources.clone()));
                }
            }
            let targets = policy.spec.targets.clone().unwrap_or_default();
            effective.allowed_namespaces.extend(targets.allowed_namespaces);
            effective.denied_kinds.extend(targets.denied_kinds);
            effective.allow_cluster_scoped &= targets.allow_cluster_scoped;
        }
        Ok(effective)
    }

    /// Whether every policy that lists allowed source types allows `source`.
    pub(crate) fn source_allowed(&self, source: SourceType) -> bool {
        self.allowed_sources.iter().all(|(_, allowed)| allowed.contains(&source))
    }

    /// The allowed source types, per policy, for messages.
    pub(crate) fn allowed_sources_text(&self) -> String {
        self.allowed_sources
            .iter()
            .map(|(name, allowed)| {
                let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
                format!("{} by PlatformPolicy {name}", list.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The trust rules for the OCI `reference`: it must come from a registry every policy that lists some
    /// allows; signatures are required when any policy requires them, by any trusted key.
    pub(crate) fn trust_for(&self, reference: &str) -> Result<pequod_supply::TrustPolicy, pequod_supply::SupplyError> {
        let parsed = pequod_supply::parse_reference(reference)?;
        for (name, allowed) in &self.allowed_registries {
            let rules = pequod_supply::TrustPolicy { allowed_registries: allowed.clone(), ..Default::default() };
            rules.check_source(&parsed).map_err(|error| match error {
                pequod_supply::SupplyError::UntrustedSource { reference, allowed } => {
                    pequod_supply::SupplyError::UntrustedSource {
                        reference: format!("{reference} (PlatformPolicy {name})"),
                        allowed,
                    }
                }
                other => other,
            })?;
        }
        Ok(pequod_supply::TrustPolicy {
            require_signatures: self.require_signatures,
            public_keys: self.public_keys.clone(),
            allowed_registries: Vec::new(),
        })
    }

    /// Checks one object (already placed in a namespace, or cluster-scoped) against the target rules.
    pub(crate) fn check(
        &self,
        node: &str,
        identity: &ObjectIdentity,
        namespaced: bool,
        home: &str,
    ) -> Option<Violation> {
        let path = format!("{node}.metadata");
        if self.denied_kinds.iter().any(|denied| denied.group == identity.group && denied.kind == identity.kind) {
            let message = format!("{identity}: kind {} is denied by PlatformPolicy", identity.kind);
            return Some(Violation::error(Phase::Output, path, message));
        }
        if !namespaced {
            return (!self.allow_cluster_scoped).then(|| {
                let message = format!("{identity}: cluster-scoped objects are not allowed by PlatformPolicy");
                Violation::error(Phase::Output, path.clone(), message)
            });
        }
        let namespace = identity.namespace.as_deref().unwrap_or(home);
        if namespace != home && !self.allowed_namespaces.iter().any(|allowed| allowed == namespace) {
            let message = format!("{identity}: objects may be placed only in the Transform's namespace {home}");
            return Some(Violation::error(Phase::Output, format!("{node}.metadata.namespace"), message));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use pequod_api::{PlatformPolicySpec, SandboxPolicy, TargetRules};

    fn policy(name: &str, spec: PlatformPolicySpec) -> PlatformPolicy {
        PlatformPolicy::new(name, spec)
    }

    #[test]
    fn strictest_limits_win_and_denials_add_up() {
        let lenient = policy(
            "a",
            PlatformPolicySpec {
                sandbox: Some(SandboxPolicy { fuel: Some(5), memory: Some("1Gi".into()), ..Default::default() }),
                targets: Some(TargetRules { allow_cluster_scoped: true, ..Default::default() }),
                ..Default::default()
            },
        );
        let strict = policy(
            "b",
            PlatformPolicySpec {
                sandbox: Some(SandboxPolicy {
                    memory: Some("64Mi".into()),
                    timeout: Some("200ms".into()),
                    ..Default::default()
                }),
                targets: Some(TargetRules {
                    denied_kinds: vec![GroupKind { group: "".into(), kind: "Secret".into() }],
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let effective = EffectivePolicy::combine(&[lenient, strict]).unwrap();
        assert_eq!(effective.limits.fuel, 5);
        assert_eq!(effective.limits.memory_bytes, 64 << 20);
        assert_eq!(effective.limits.timeout, Duration::from_millis(200));
        assert!(!effective.allow_cluster_scoped);
        let secret = ObjectIdentity { group: "".into(), kind: "Secret".into(), namespace: None, name: "s".into() };
        assert!(effective.check("secret", &secret, true, "team").unwrap().message.contains("denied"));
    }

    #[test]
    fn objects_stay_in_the_transforms_namespace() {
        let effective = EffectivePolicy::combine(&[]).unwrap();
        let mut map = ObjectIdentity { group: "".into(), kind: "ConfigMap".into(), namespace: None, name: "c".into() };
        assert!(effective.check("config", &map, true, "team").is_none());
        map.namespace = Some("kube-system".into());
        assert_eq!(effective.check("config", &map, true, "team").unwrap().path, "config.metadata.namespace");
        let role = ObjectIdentity {
            group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            namespace: None,
            name: "r".into(),
        };
        assert!(effective.check("role", &role, false, "team").unwrap().message.contains("cluster-scoped"));
    }

    #[test]
    fn bad_quantities_name_the_policy() {
        let bad = policy(
            "broken",
            PlatformPolicySpec {
                sandbox: Some(SandboxPolicy { memory: Some("lots".into()), ..Default::default() }),
                ..Default::default()
            },
        );
        assert!(EffectivePolicy::combine(&[bad]).unwrap_err().starts_with("broken: "));
    }
}
