//! The trust policy and the resolver the operator calls: tag → digest, signature check, pull by digest.

use std::time::SystemTime;

use crate::SupplyError;
use crate::artifact::WasmConfig;
use crate::registry::{Reference, Registry, RegistryOptions, parse_reference, repository_name};
use crate::signature::{PublicKey, verify};

/// Which modules may be used: the `trust` section of a PlatformPolicy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Refuse modules without a valid signature by one of `public_keys`.
    pub require_signatures: bool,
    /// PEM public keys whose signatures are trusted.
    pub public_keys: Vec<String>,
    /// `registry[/repository…]` prefixes modules may come from; empty allows any. A prefix matches whole
    /// path segments: `reg.example/team` allows `reg.example/team/web` but not `reg.example/teammate`.
    pub allowed_registries: Vec<String>,
}

impl TrustPolicy {
    /// Fails with [`SupplyError::UntrustedSource`] when `reference` is outside the allowed registries.
    pub fn check_source(&self, reference: &Reference) -> Result<(), SupplyError> {
        if self.allowed_registries.is_empty() {
            return Ok(());
        }
        let name = normalize_hub(&repository_name(reference));
        let allowed = self.allowed_registries.iter().any(|prefix| {
            let prefix = normalize_hub(prefix.trim().trim_end_matches('/'));
            !prefix.is_empty()
                && (name == prefix || name.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.starts_with('/')))
        });
        if allowed {
            Ok(())
        } else {
            Err(SupplyError::UntrustedSource { reference: reference.whole(), allowed: self.allowed_registries.clone() })
        }
    }

    /// The parsed public keys; [`SupplyError::PolicyInvalid`] when one does not parse, or when signatures are
    /// required but no key is given.
    pub fn keys(&self) -> Result<Vec<PublicKey>, SupplyError> {
        if self.require_signatures && self.public_keys.is_empty() {
            return Err(SupplyError::PolicyInvalid(
                "trust.requireSignatures is set but no PlatformPolicy lists trust.publicKeys, so no OCI module can be \
                 trusted; add the cosign public key (PEM) that signs your modules to trust.publicKeys"
                    .to_owned(),
            ));
        }
        self.public_keys
            .iter()
            .enumerate()
            .map(|(index, pem)| {
                PublicKey::from_pem(pem)
                    .map_err(|error| SupplyError::PolicyInvalid(format!("publicKeys[{index}]: {error}")))
            })
            .collect()
    }
}

fn normalize_hub(name: &str) -> String {
    for hub in ["index.docker.io", "registry-1.docker.io"] {
        if let Some(rest) = name.strip_prefix(hub) {
            return format!("docker.io{rest}");
        }
    }
    name.to_owned()
}

/// A module that passed the trust policy, pulled by digest with every blob checked.
#[derive(Clone, Debug)]
pub struct VerifiedModule {
    /// The reference as given.
    pub reference: String,
    /// The manifest digest (`sha256:<hex>`).
    pub digest: String,
    /// The component bytes.
    pub wasm: Vec<u8>,
    /// The artifact's config.
    pub config: WasmConfig,
    /// The manifest's annotations (module name, version, source, …).
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The [`PublicKey::id`] of the key whose signature verified; `None` for an unsigned module accepted
    /// because signatures are not required.
    pub signer: Option<String>,
    /// When it was fetched.
    pub fetched_at: SystemTime,
}

/// Resolves OCI module references under a trust policy.
#[derive(Debug)]
pub struct Resolver {
    registry: Registry,
}

impl Resolver {
    /// A resolver reaching registries with these options.
    pub fn new(options: RegistryOptions) -> Self {
        Self { registry: Registry::new(options) }
    }

    /// A resolver that keeps the blobs it pulls by digest in `cache` and reuses them (tags and signatures are
    /// still checked against the registry on every resolve).
    pub fn with_cache(options: RegistryOptions, cache: std::sync::Arc<crate::BlobCache>) -> Self {
        Self { registry: Registry::new(options).with_cache(cache) }
    }

    /// The registry client.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Resolves `reference` (tag or digest) to a digest, checks it against `policy`, and pulls it by digest.
    ///
    /// In order: the source must be allowed ([`SupplyError::UntrustedSource`]); the tag is resolved
    /// ([`SupplyError::SourceUnavailable`] and friends); when the policy has keys, the digest's signatures are
    /// checked — required signatures must exist ([`SupplyError::SignatureMissing`]) and one must verify
    /// ([`SupplyError::SignatureInvalid`]), optional ones only name the signer when they verify; finally every
    /// blob is pulled and checked against its digest ([`SupplyError::DigestMismatch`]).
    pub async fn resolve(&self, reference: &str, policy: &TrustPolicy) -> Result<VerifiedModule, SupplyError> {
        let parsed = parse_reference(reference)?;
        policy.check_source(&parsed)?;
        let keys = policy.keys()?;
        let digest = self.registry.resolve(&parsed).await?;
        let signer = if keys.is_empty() {
            None
        } else {
            match verify(&self.registry, &parsed, &digest, &keys).await {
                Ok(verified) => Some(verified.key_id),
                Err(error) if policy.require_signatures => return Err(error),
                Err(error) => {
                    tracing::info!(%error, "module accepted without a verified signature (signatures not required)");
                    None
                }
            }
        };
        let module = self.registry.pull_module(&parsed, &digest, false).await?;
        Ok(VerifiedModule {
            reference: reference.to_owned(),
            digest,
            wasm: module.wasm,
            config: module.config,
            annotations: module.manifest.annotations,
            signer,
            fetched_at: SystemTime::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> TrustPolicy {
        TrustPolicy { allowed_registries: allowed.iter().map(|s| s.to_string()).collect(), ..TrustPolicy::default() }
    }

    fn check(policy: &TrustPolicy, reference: &str) -> bool {
        policy.check_source(&reference.parse().unwrap()).is_ok()
    }

    #[test]
    fn allowed_registries_match_whole_segments() {
        let team = policy(&["reg.example/team"]);
        assert!(check(&team, "reg.example/team/web:1"));
        assert!(check(
            &team,
            "reg.example/team@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        ));
        assert!(!check(&team, "reg.example/teammate/web:1"));
        assert!(!check(&team, "other.example/team/web:1"));
        assert!(check(&policy(&["reg.example"]), "reg.example/any/thing:1"));
        assert!(check(&policy(&[]), "anything.example/x:1"));
        assert!(check(&policy(&["index.docker.io/library"]), "docker.io/library/busybox:1"));
        let error = team.check_source(&"other.example/x:1".parse().unwrap()).unwrap_err();
        assert_eq!(error.reason(), crate::REASON_UNTRUSTED_SOURCE);
    }

    #[test]
    fn required_signatures_need_keys() {
        let policy = TrustPolicy { require_signatures: true, ..TrustPolicy::default() };
        assert!(matches!(policy.keys(), Err(SupplyError::PolicyInvalid(_))));
        let bad = TrustPolicy { public_keys: vec!["not a key".into()], ..TrustPolicy::default() };
        assert!(bad.keys().unwrap_err().to_string().contains("publicKeys[0]"));
    }
}
