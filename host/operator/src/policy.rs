//! The cluster's PlatformPolicies, combined: the strictest limit wins, denials add up.

use pequod_api::units::{parse_bytes as quantity, parse_duration as duration};
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::core::{Selector, SelectorExt as _};
use pequod_api::{GroupKind, ModuleParameters, PlatformPolicy, SourceType};
use pequod_graph::{ObjectIdentity, Phase, Violation};
use pequod_sandbox::SandboxLimits;
use pequod_supply::hosts::HostClass;

/// What every PlatformPolicy that applies to a namespace together allows.
#[derive(Clone, Debug, Default)]
pub(crate) struct EffectivePolicy {
    pub(crate) limits: SandboxLimits,
    pub(crate) allowed_namespaces: Vec<String>,
    /// Denied kinds, each with the policy that denies it.
    pub(crate) denied_kinds: Vec<(String, GroupKind)>,
    /// Protected kinds some policy allows.
    pub(crate) allowed_kinds: Vec<GroupKind>,
    pub(crate) allow_cluster_scoped: bool,
    /// Some policy lets modules read Secret data through `context.observed`.
    pub(crate) observe_secret_data: bool,
    /// Some policy requires signatures.
    pub(crate) require_signatures: bool,
    /// Every trusted public key (PEM), of all policies.
    pub(crate) public_keys: Vec<String>,
    /// The allowed registries of each policy that lists some: a reference must match every list.
    pub(crate) allowed_registries: Vec<(String, Vec<String>)>,
    /// The allowed source types of each policy that lists some: a source must be in every list.
    pub(crate) allowed_sources: Vec<(String, Vec<SourceType>)>,
    /// The allowed git/OCI hosts of each policy that lists some: a host must be in every list.
    pub(crate) allowed_hosts: Vec<(String, Vec<String>)>,
    /// Each policy that requires signatures, with the source types it lets through unsigned.
    pub(crate) signatures_required_by: Vec<(String, Vec<SourceType>)>,
    /// The output policy's parameters, combined: what renders get as `context.policy`.
    pub(crate) module_parameters: ModuleParameters,
}

/// The stricter of two sets of output-policy parameters: registries both allow, the higher minimum of
/// replicas, the required labels of both. Fails when no registry is left or a label gets two values.
pub(crate) fn stricter(current: &ModuleParameters, other: &ModuleParameters) -> Result<ModuleParameters, String> {
    let allowed_registries = match (current.allowed_registries.is_empty(), other.allowed_registries.is_empty()) {
        (_, true) => current.allowed_registries.clone(),
        (true, false) => other.allowed_registries.clone(),
        (false, false) => common_prefixes(&current.allowed_registries, &other.allowed_registries).ok_or_else(|| {
            format!(
                "moduleParameters.allowedRegistries {:?} has no registry in common with {:?} of another policy for \
                 the same namespaces; no image could be used",
                other.allowed_registries, current.allowed_registries
            )
        })?,
    };
    let mut required_labels = current.required_labels.clone();
    for (key, value) in &other.required_labels {
        match required_labels.insert(key.clone(), value.clone()) {
            Some(before) if before != *value => {
                return Err(format!(
                    "moduleParameters.requiredLabels sets {key}={value}, another policy for the same namespaces \
                     sets {key}={before}"
                ));
            }
            _ => {}
        }
    }
    let min_replicas = current.min_replicas.max(other.min_replicas);
    Ok(ModuleParameters { allowed_registries, min_replicas, required_labels })
}

/// The prefixes that both lists allow: an entry of one list that some entry of the other is a prefix of.
fn common_prefixes(left: &[String], right: &[String]) -> Option<Vec<String>> {
    let covered = |entry: &String, by: &[String]| by.iter().any(|prefix| entry.starts_with(prefix.as_str()));
    let mut common: Vec<String> =
        left.iter().filter(|e| covered(e, right)).chain(right.iter().filter(|e| covered(e, left))).cloned().collect();
    common.sort();
    common.dedup();
    (!common.is_empty()).then_some(common)
}

/// Kinds a graph may not contain unless a PlatformPolicy's `targets.allowedKinds` names them: each lets a
/// Transform act beyond its namespace or its author's permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protected {
    /// Transform, ResourceGraph, PlatformPolicy: a graph that writes them escapes its own checks.
    Pequod,
    /// Role, RoleBinding, ClusterRole, ClusterRoleBinding: permissions.
    Rbac,
    /// Webhook configurations and admission policies: every write in the cluster.
    Admission,
    /// CustomResourceDefinitions: the cluster's API.
    Crd,
    /// Namespaces: tenancy itself.
    Namespace,
}

impl Protected {
    /// Whether `group`/`kind` is protected, and how.
    pub(crate) fn of(group: &str, kind: &str) -> Option<Self> {
        match (group, kind) {
            (pequod_api::GROUP, _) => Some(Self::Pequod),
            ("rbac.authorization.k8s.io", "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding") => {
                Some(Self::Rbac)
            }
            ("admissionregistration.k8s.io", _) => Some(Self::Admission),
            ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(Self::Crd),
            ("", "Namespace") => Some(Self::Namespace),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Pequod => "Pequod's own kinds (a graph may not create Transforms, ResourceGraphs or policies)",
            Self::Rbac => "RBAC kinds (a graph may not grant permissions)",
            Self::Admission => "admission webhooks and policies",
            Self::Crd => "CustomResourceDefinitions",
            Self::Namespace => "Namespaces",
        }
    }
}

/// Why the target rules refuse an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A PlatformPolicy denies the kind.
    DeniedKind { policy: String },
    /// The kind is protected and no policy allows it.
    Protected(Protected),
    /// Cluster-scoped, and no policy allows cluster-scoped objects.
    ClusterScoped,
    /// In another namespace than the Transform's, and no policy allows that namespace.
    OtherNamespace { namespace: String },
}

impl Refusal {
    /// What was refused, and which policy field would allow it.
    fn message(&self, identity: &ObjectIdentity, home: &str) -> String {
        match self {
            Refusal::DeniedKind { policy } => {
                format!(
                    "{identity}: kind {} is denied by PlatformPolicy {policy} (spec.targets.deniedKinds)",
                    identity.kind
                )
            }
            Refusal::Protected(protected) => format!(
                "{identity}: {} are refused; a PlatformPolicy selecting namespace {home} must list {{group: {:?}, \
                 kind: {}}} in spec.targets.allowedKinds to allow it",
                protected.describe(),
                identity.group,
                identity.kind
            ),
            Refusal::ClusterScoped => format!(
                "{identity}: cluster-scoped objects are refused; a PlatformPolicy selecting namespace {home} must \
                 set spec.targets.allowClusterScoped to allow them"
            ),
            Refusal::OtherNamespace { namespace } => format!(
                "{identity}: objects may be placed only in the Transform's namespace {home}; a PlatformPolicy \
                 selecting namespace {home} must list {namespace} in spec.targets.allowedNamespaces to allow it"
            ),
        }
    }

    fn field(&self) -> &'static str {
        match self {
            Refusal::OtherNamespace { .. } => "metadata.namespace",
            Refusal::DeniedKind { .. } | Refusal::Protected(_) => "kind",
            Refusal::ClusterScoped => "metadata",
        }
    }
}

/// Whether `policy` applies to Transforms in `namespace` (whose labels are `labels`): it lists the namespace,
/// or its selector matches; a policy that names neither applies everywhere.
pub(crate) fn applies(policy: &PlatformPolicy, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
    let spec = &policy.spec;
    if spec.namespaces.is_empty() && spec.namespace_selector.is_none() {
        return true;
    }
    let listed = spec.namespaces.iter().any(|listed| listed == namespace);
    let selected = spec.namespace_selector.clone().is_some_and(|selector| {
        // A selector the API server accepted but we cannot read selects nothing (fail closed).
        Selector::try_from(selector).is_ok_and(|selector| selector.matches(labels))
    });
    listed || selected
}

/// The policies that apply to `namespace`, combined: they are read from the API server each time, so a
/// policy created or changed just before a Transform is always seen by its first render (a watch cache could
/// lag; `host/operator/tests/policy.rs` relies on this).
pub(crate) async fn for_namespace(context: &crate::Context, namespace: &str) -> Result<EffectivePolicy, PolicyError> {
    let (policies, labels) = read_from_api(&context.client, namespace).await?;
    let applicable: Vec<PlatformPolicy> =
        policies.into_iter().filter(|policy| applies(policy, namespace, &labels)).collect();
    EffectivePolicy::combine(&applicable).map_err(PolicyError::Invalid)
}

/// Every PlatformPolicy, and the labels of `namespace` (none when it does not exist).
type PolicyInputs = (Vec<PlatformPolicy>, BTreeMap<String, String>);

async fn read_from_api(client: &kube::Client, namespace: &str) -> Result<PolicyInputs, PolicyError> {
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    let policies = policies.list(&ListParams::default()).await.map_err(PolicyError::Unavailable)?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let labels = match namespaces.get_opt(namespace).await.map_err(PolicyError::Unavailable)? {
        Some(found) => found.metadata.labels.unwrap_or_default(),
        None => BTreeMap::new(),
    };
    Ok((policies.items, labels))
}

/// Why the policies for a namespace are not known.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyError {
    /// The API server did not answer; retried.
    #[error("cannot read PlatformPolicies: {0}")]
    Unavailable(kube::Error),
    /// A policy does not parse (a bad quantity, say).
    #[error("{0}")]
    Invalid(String),
}

impl EffectivePolicy {
    /// Combines `policies` (those that apply to one namespace): the strictest limit wins, denials add up,
    /// and an allowance holds when any policy grants it. Without any policy, the defaults, which refuse
    /// protected kinds, cluster-scoped objects and other namespaces.
    pub(crate) fn combine(policies: &[PlatformPolicy]) -> Result<Self, String> {
        let mut effective = EffectivePolicy::default();
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
                if !trust.allowed_hosts.is_empty() {
                    effective.allowed_hosts.push((name.to_owned(), trust.allowed_hosts.clone()));
                }
                if trust.require_signatures {
                    effective.signatures_required_by.push((name.to_owned(), trust.allow_unsigned.clone()));
                }
            }
            let targets = policy.spec.targets.clone().unwrap_or_default();
            effective.allowed_namespaces.extend(targets.allowed_namespaces);
            effective.denied_kinds.extend(targets.denied_kinds.into_iter().map(|kind| (name.to_owned(), kind)));
            effective.allowed_kinds.extend(targets.allowed_kinds);
            effective.allow_cluster_scoped |= targets.allow_cluster_scoped;
            effective.observe_secret_data |= targets.observe_secret_data;
            if let Some(parameters) = &policy.spec.module_parameters {
                effective.module_parameters =
                    stricter(&effective.module_parameters, parameters).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        Ok(effective)
    }

    /// The output policy's parameters as renders get them (`context.policy`): only what some policy set.
    pub(crate) fn context_policy(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(&self.module_parameters) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
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

    /// Whether a module of `source` type may be used under the policies' signature requirements: OCI modules
    /// are checked against the keys, embedded ones ship in the operator's image; the others carry no signature
    /// and pass only where every policy requiring signatures lists them in `trust.allowUnsigned`.
    pub(crate) fn signature_rule(&self, source: SourceType) -> Result<(), String> {
        if matches!(source, SourceType::Oci | SourceType::Embedded) {
            return Ok(());
        }
        match self.signatures_required_by.iter().find(|(_, unsigned)| !unsigned.contains(&source)) {
            Some((name, _)) => Err(format!(
                "cueRef.type {source} modules carry no signature and PlatformPolicy {name} sets \
                 trust.requireSignatures; use a signed OCI module, or list {source} in that policy's \
                 trust.allowUnsigned"
            )),
            None => Ok(()),
        }
    }

    /// Whether a module may be fetched from `authority` (`host[:port]`), which is on a network of `class`:
    /// it must be in every policy's `trust.allowedHosts` that lists hosts, and a host that is not public must
    /// be listed by some policy (or be one the operator's own flags name, `admin_listed`).
    pub(crate) fn host_rule(&self, authority: &str, class: HostClass, admin_listed: bool) -> Result<(), String> {
        let listed = |hosts: &Vec<String>| hosts.iter().any(|entry| pequod_supply::hosts::names(entry, authority));
        if let Some((name, hosts)) = self.allowed_hosts.iter().find(|(_, hosts)| !listed(hosts)) {
            return Err(format!(
                "the source host {authority} is not in trust.allowedHosts of PlatformPolicy {name} (allowed: {})",
                hosts.join(", ")
            ));
        }
        let granted = admin_listed || self.allowed_hosts.iter().any(|(_, hosts)| listed(hosts));
        if class == HostClass::Public || granted {
            return Ok(());
        }
        Err(format!(
            "the source host {authority} is {}; the operator does not connect there unless a PlatformPolicy \
             lists it in trust.allowedHosts",
            class.describe()
        ))
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
        let refusal = self.decide(identity, namespaced, home).err()?;
        let path = format!("{node}.{}", refusal.field());
        Some(Violation::error(Phase::Output, path, refusal.message(identity, home)))
    }

    /// The target rules for one object: denied kinds first, then protected kinds, scope and namespace.
    pub(crate) fn decide(&self, identity: &ObjectIdentity, namespaced: bool, home: &str) -> Result<(), Refusal> {
        let same = |kind: &GroupKind| kind.group == identity.group && (kind.kind == identity.kind || kind.kind == "*");
        if let Some((policy, _)) = self.denied_kinds.iter().find(|(_, kind)| same(kind)) {
            return Err(Refusal::DeniedKind { policy: policy.clone() });
        }
        if let Some(protected) = Protected::of(&identity.group, &identity.kind)
            && !self.allowed_kinds.iter().any(same)
        {
            return Err(Refusal::Protected(protected));
        }
        if !namespaced {
            return if self.allow_cluster_scoped { Ok(()) } else { Err(Refusal::ClusterScoped) };
        }
        let namespace = identity.namespace.as_deref().unwrap_or(home);
        if namespace != home && !self.allowed_namespaces.iter().any(|allowed| allowed == namespace) {
            return Err(Refusal::OtherNamespace { namespace: namespace.to_owned() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use pequod_api::{PlatformPolicySpec, SandboxPolicy, TargetRules};

    fn policy(name: &str, spec: PlatformPolicySpec) -> PlatformPolicy {
        PlatformPolicy::new(name, spec)
    }

    fn targets(rules: TargetRules) -> PlatformPolicySpec {
        PlatformPolicySpec { targets: Some(rules), ..Default::default() }
    }

    fn object(group: &str, kind: &str, namespace: Option<&str>) -> ObjectIdentity {
        ObjectIdentity {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: "x".into(),
        }
    }

    fn kind(group: &str, kind: &str) -> GroupKind {
        GroupKind { group: group.into(), kind: kind.into() }
    }

    fn trust(name: &str, trust: pequod_api::TrustPolicy) -> PlatformPolicy {
        policy(name, PlatformPolicySpec { trust: Some(trust), ..Default::default() })
    }

    #[test]
    fn source_hosts_fail_closed_for_internal_networks() {
        let none = EffectivePolicy::combine(&[]).unwrap();
        let listing = |hosts: &[&str]| pequod_api::TrustPolicy {
            allowed_hosts: hosts.iter().map(|host| host.to_string()).collect(),
            ..Default::default()
        };
        let internal =
            EffectivePolicy::combine(&[trust("git", listing(&["127.0.0.1:3000", "gitea.tools.svc"]))]).unwrap();
        let two =
            EffectivePolicy::combine(&[trust("a", listing(&["github.com"])), trust("b", listing(&["gitlab.com"]))])
                .unwrap();
        let cases: [(&EffectivePolicy, &str, HostClass, bool, Option<&str>); 9] = [
            (&none, "github.com", HostClass::Public, false, None),
            (&none, "127.0.0.1:3000", HostClass::Loopback, false, Some("is a loopback address")),
            (&none, "169.254.169.254", HostClass::LinkLocal, false, Some("trust.allowedHosts")),
            (&none, "127.0.0.1:5000", HostClass::Loopback, true, None),
            (&internal, "127.0.0.1:3000", HostClass::Loopback, false, None),
            (
                &internal,
                "127.0.0.1:3001",
                HostClass::Loopback,
                false,
                Some("not in trust.allowedHosts of PlatformPolicy git"),
            ),
            (&internal, "gitea.tools.svc:8080", HostClass::ClusterInternal, false, None),
            (&two, "github.com", HostClass::Public, false, Some("PlatformPolicy b")),
            (&none, "gitea", HostClass::ClusterInternal, false, Some("cluster-internal")),
        ];
        for (policy, authority, class, admin, refusal) in cases {
            let result = policy.host_rule(authority, class, admin);
            match refusal {
                None => assert!(result.is_ok(), "{authority}: {result:?}"),
                Some(text) => assert!(result.as_ref().is_err_and(|m| m.contains(text)), "{authority}: {result:?}"),
            }
        }
    }

    #[test]
    fn required_signatures_cover_every_source_type() {
        let required = |unsigned: Vec<SourceType>| pequod_api::TrustPolicy {
            require_signatures: true,
            allow_unsigned: unsigned,
            ..Default::default()
        };
        let strict = EffectivePolicy::combine(&[trust("strict", required(vec![]))]).unwrap();
        let git_ok = EffectivePolicy::combine(&[trust("git-ok", required(vec![SourceType::Git]))]).unwrap();
        let both = EffectivePolicy::combine(&[
            trust("git-ok", required(vec![SourceType::Git])),
            trust("strict", required(vec![])),
        ])
        .unwrap();
        let none = EffectivePolicy::combine(&[]).unwrap();
        let cases = [
            (&none, SourceType::Inline, true),
            (&strict, SourceType::Oci, true),
            (&strict, SourceType::Embedded, true),
            (&strict, SourceType::Inline, false),
            (&strict, SourceType::Configmap, false),
            (&strict, SourceType::Git, false),
            (&git_ok, SourceType::Git, true),
            (&git_ok, SourceType::Inline, false),
            (&both, SourceType::Git, false),
        ];
        for (policy, source, allowed) in cases {
            let result = policy.signature_rule(source);
            assert_eq!(result.is_ok(), allowed, "{source}: {result:?}");
        }
        let message = strict.signature_rule(SourceType::Inline).unwrap_err();
        assert!(message.contains("PlatformPolicy strict") && message.contains("trust.allowUnsigned"), "{message}");
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
                targets: Some(TargetRules { denied_kinds: vec![kind("", "Secret")], ..Default::default() }),
                ..Default::default()
            },
        );
        let effective = EffectivePolicy::combine(&[lenient, strict]).unwrap();
        assert_eq!(effective.limits.fuel, 5);
        assert_eq!(effective.limits.memory_bytes, 64 << 20);
        assert_eq!(effective.limits.timeout, Duration::from_millis(200));
        assert!(effective.allow_cluster_scoped, "an allowance holds when any applicable policy grants it");
        let secret = object("", "Secret", None);
        let violation = effective.check("secret", &secret, true, "team").unwrap();
        assert!(violation.message.contains("denied by PlatformPolicy b"), "{}", violation.message);
    }

    /// The target rules, without a policy and with the allowances that lift each refusal.
    #[test]
    fn target_rules_fail_closed_and_name_the_field_that_allows() {
        let none = EffectivePolicy::combine(&[]).unwrap();
        let allowing = EffectivePolicy::combine(&[policy(
            "allow",
            targets(TargetRules {
                allowed_kinds: vec![kind("rbac.authorization.k8s.io", "RoleBinding"), kind("platform.pequod.io", "*")],
                allowed_namespaces: vec!["shared".into()],
                allow_cluster_scoped: true,
                ..Default::default()
            }),
        )])
        .unwrap();
        let rbac = "rbac.authorization.k8s.io";
        let cases: Vec<(ObjectIdentity, bool, Option<Refusal>, Option<Refusal>)> = vec![
            (object("", "ConfigMap", None), true, None, None),
            (object("apps", "Deployment", Some("team")), true, None, None),
            (
                object("", "ConfigMap", Some("other")),
                true,
                Some(Refusal::OtherNamespace { namespace: "other".into() }),
                Some(Refusal::OtherNamespace { namespace: "other".into() }),
            ),
            (
                object("", "ConfigMap", Some("shared")),
                true,
                Some(Refusal::OtherNamespace { namespace: "shared".into() }),
                None,
            ),
            (object(rbac, "RoleBinding", None), true, Some(Refusal::Protected(Protected::Rbac)), None),
            (
                object(rbac, "Role", None),
                true,
                Some(Refusal::Protected(Protected::Rbac)),
                Some(Refusal::Protected(Protected::Rbac)),
            ),
            (
                object(rbac, "ClusterRoleBinding", None),
                false,
                Some(Refusal::Protected(Protected::Rbac)),
                Some(Refusal::Protected(Protected::Rbac)),
            ),
            (
                object("platform.pequod.io", "ResourceGraph", None),
                true,
                Some(Refusal::Protected(Protected::Pequod)),
                None,
            ),
            (object("platform.pequod.io", "Transform", None), true, Some(Refusal::Protected(Protected::Pequod)), None),
            (
                object("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", None),
                false,
                Some(Refusal::Protected(Protected::Admission)),
                Some(Refusal::Protected(Protected::Admission)),
            ),
            (
                object("apiextensions.k8s.io", "CustomResourceDefinition", None),
                false,
                Some(Refusal::Protected(Protected::Crd)),
                Some(Refusal::Protected(Protected::Crd)),
            ),
            (
                object("", "Namespace", None),
                false,
                Some(Refusal::Protected(Protected::Namespace)),
                Some(Refusal::Protected(Protected::Namespace)),
            ),
            (object("storage.k8s.io", "StorageClass", None), false, Some(Refusal::ClusterScoped), None),
        ];
        for (identity, namespaced, without, with) in cases {
            assert_eq!(none.decide(&identity, namespaced, "team").err(), without, "no policy: {identity}");
            assert_eq!(allowing.decide(&identity, namespaced, "team").err(), with, "allowing policy: {identity}");
        }
    }

    #[test]
    fn refusals_say_which_policy_field_would_allow_them() {
        let none = EffectivePolicy::combine(&[]).unwrap();
        let binding = object("rbac.authorization.k8s.io", "RoleBinding", Some("team"));
        let violation = none.check("admin", &binding, true, "team").unwrap();
        assert_eq!(violation.path, "admin.kind");
        assert!(violation.message.contains("spec.targets.allowedKinds"), "{}", violation.message);
        let elsewhere = object("", "ConfigMap", Some("victim"));
        let violation = none.check("config", &elsewhere, true, "team").unwrap();
        assert_eq!(violation.path, "config.metadata.namespace");
        assert!(violation.message.contains("spec.targets.allowedNamespaces"), "{}", violation.message);
        let class = object("storage.k8s.io", "StorageClass", None);
        assert!(none.check("class", &class, false, "team").unwrap().message.contains("allowClusterScoped"));
    }

    #[test]
    fn policies_apply_to_the_namespaces_they_select() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let selector = LabelSelector {
            match_labels: Some(labels(&[("tier", "platform")]).into_iter().collect()),
            ..Default::default()
        };
        let everywhere = policy("all", PlatformPolicySpec::default());
        let listed = policy("listed", PlatformPolicySpec { namespaces: vec!["team-a".into()], ..Default::default() });
        let selected =
            policy("selected", PlatformPolicySpec { namespace_selector: Some(selector), ..Default::default() });
        let cases = [
            (&everywhere, "team-a", labels(&[]), true),
            (&listed, "team-a", labels(&[]), true),
            (&listed, "team-b", labels(&[("tier", "platform")]), false),
            (&selected, "team-b", labels(&[("tier", "platform")]), true),
            (&selected, "team-b", labels(&[("tier", "apps")]), false),
            (&selected, "team-c", labels(&[]), false),
        ];
        for (policy, namespace, labels, expected) in cases {
            let name = policy.metadata.name.clone().unwrap_or_default();
            assert_eq!(applies(policy, namespace, &labels), expected, "{name} in {namespace} {labels:?}");
        }
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

    fn parameters(registries: &[&str], min_replicas: Option<i32>, labels: &[(&str, &str)]) -> ModuleParameters {
        ModuleParameters {
            allowed_registries: registries.iter().map(|r| (*r).to_owned()).collect(),
            min_replicas,
            required_labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn module_parameters_combine_to_the_strictest() {
        type Case<'a> = (&'a [&'a str], &'a [&'a str], Result<&'a [&'a str], &'a str>);
        let cases: [Case; 6] = [
            (&[], &[], Ok(&[])),
            (&[], &["ghcr.io/acme/"], Ok(&["ghcr.io/acme/"])),
            (&["ghcr.io/acme/"], &[], Ok(&["ghcr.io/acme/"])),
            (&["ghcr.io/"], &["ghcr.io/acme/", "quay.io/"], Ok(&["ghcr.io/acme/"])),
            (&["ghcr.io/acme/", "docker.io/"], &["ghcr.io/", "docker.io/"], Ok(&["docker.io/", "ghcr.io/acme/"])),
            (&["ghcr.io/acme/"], &["quay.io/"], Err("no registry in common")),
        ];
        for (current, other, expected) in cases {
            let found = stricter(&parameters(current, None, &[]), &parameters(other, None, &[]));
            match (found, expected) {
                (Ok(found), Ok(expected)) => assert_eq!(found.allowed_registries, expected, "{current:?} & {other:?}"),
                (Err(found), Err(expected)) => assert!(found.contains(expected), "{found}"),
                (found, expected) => panic!("{current:?} & {other:?}: {found:?}, expected {expected:?}"),
            }
        }
        let both = stricter(&parameters(&[], Some(2), &[("team", "a")]), &parameters(&[], Some(1), &[("tier", "x")]));
        assert_eq!(both.unwrap(), parameters(&[], Some(2), &[("team", "a"), ("tier", "x")]));
        let clash = stricter(&parameters(&[], None, &[("team", "a")]), &parameters(&[], None, &[("team", "b")]));
        assert!(clash.unwrap_err().contains("team=b"), "two values for one label");
    }

    #[test]
    fn only_set_parameters_reach_the_render_context() {
        let none = EffectivePolicy::combine(&[]).unwrap();
        assert!(none.context_policy().is_empty(), "the policy package's defaults apply");
        let spec = PlatformPolicySpec {
            module_parameters: Some(parameters(&["ghcr.io/acme/"], Some(2), &[])),
            ..Default::default()
        };
        let effective = EffectivePolicy::combine(&[policy("images", spec)]).unwrap();
        assert_eq!(
            serde_json::Value::Object(effective.context_policy()),
            serde_json::json!({"allowedRegistries": ["ghcr.io/acme/"], "minReplicas": 2})
        );
    }
}
