//! How fetching, verifying or publishing a module fails.

/// The condition reason when the registry cannot be reached, refuses access, or serves something that is not a
/// usable module.
pub const REASON_SOURCE_UNAVAILABLE: &str = "SourceUnavailable";
/// The condition reason when a signature is required and the module has none.
pub const REASON_SIGNATURE_MISSING: &str = "SignatureMissing";
/// The condition reason when signatures exist but none verifies against the trusted keys.
pub const REASON_SIGNATURE_INVALID: &str = "SignatureInvalid";
/// The condition reason when the module comes from a registry or repository the trust policy does not allow.
pub const REASON_UNTRUSTED_SOURCE: &str = "UntrustedSource";
/// The condition reason when a blob's content does not match its digest.
pub const REASON_DIGEST_MISMATCH: &str = "DigestMismatch";

/// Everything that can go wrong in the supply chain. [`SupplyError::reason`] maps each to the condition reason
/// the operator sets on the Transform.
#[derive(Debug, thiserror::Error)]
pub enum SupplyError {
    /// The reference cannot be parsed.
    #[error("invalid OCI reference {reference:?}: {message} (expected e.g. registry.example/team/module:1.0.0)")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        message: String,
    },
    /// The registry could not be reached or answered with an error, after the retries.
    #[error("registry unavailable for {reference}: {message}")]
    SourceUnavailable {
        /// The reference being fetched or pushed.
        reference: String,
        /// What happened.
        message: String,
    },
    /// The registry has no such tag, manifest or blob.
    #[error("{reference}: not found in the registry ({message})")]
    NotFound {
        /// The reference being fetched.
        reference: String,
        /// The registry's answer.
        message: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error(
        "registry refused access to {reference}: {message}; check the credentials (docker config file, \
         --username/--password, or the Transform's pullSecretRef)"
    )]
    Unauthorized {
        /// The reference being fetched or pushed.
        reference: String,
        /// The registry's answer.
        message: String,
    },
    /// The registry's content does not match its digest.
    #[error("{what} of {reference}: expected digest {expected}, got {actual}; the registry served altered content")]
    DigestMismatch {
        /// The reference being fetched.
        reference: String,
        /// Which part: the manifest, the config, a layer.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest of what was served.
        actual: String,
    },
    /// A manifest or layer is larger than allowed.
    #[error("{what} of {reference} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The reference being fetched.
        reference: String,
        /// Which part.
        what: String,
        /// Its size (as declared, or as much as was read before stopping).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The artifact is not a Pequod module (wrong media types, no WebAssembly layer, …).
    #[error("{reference} is not a Pequod module artifact: {message}")]
    NotAModule {
        /// The reference being fetched.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// A signature is required but the module has none.
    #[error(
        "{reference} ({digest}) is not signed: no signature tag {signature_tag}; sign it with \
         `pequod module sign` or `cosign sign --key`"
    )]
    SignatureMissing {
        /// The reference being verified.
        reference: String,
        /// The module's manifest digest.
        digest: String,
        /// The tag where signatures would be.
        signature_tag: String,
    },
    /// Signatures exist but none verifies with a trusted key for this digest and repository.
    #[error("no signature of {reference} ({digest}) verifies with the trusted keys: {}", problems.join("; "))]
    SignatureInvalid {
        /// The reference being verified.
        reference: String,
        /// The module's manifest digest.
        digest: String,
        /// Why each signature was rejected.
        problems: Vec<String>,
    },
    /// The module's registry or repository is not allowed by the trust policy.
    #[error(
        "{reference} is not from an allowed registry or repository (allowed: {}); publish it there or ask \
         the cluster admin to extend the PlatformPolicy's trust.allowedRegistries",
        allowed.join(", ")
    )]
    UntrustedSource {
        /// The reference being resolved.
        reference: String,
        /// The allowed prefixes.
        allowed: Vec<String>,
    },
    /// The trust policy itself is unusable (e.g. a public key that does not parse).
    #[error("the trust policy is unusable: {0}; fix the PlatformPolicy's trust section")]
    PolicyInvalid(String),
    /// A module could not be packaged (unreadable file, not a component, unreadable source directory).
    #[error("{0}")]
    Artifact(String),
    /// A key could not be generated, read or used.
    #[error("{0}")]
    Key(String),
}

impl SupplyError {
    /// The condition reason the operator sets on the Transform for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            SupplyError::InvalidReference { .. }
            | SupplyError::SourceUnavailable { .. }
            | SupplyError::NotFound { .. }
            | SupplyError::Unauthorized { .. }
            | SupplyError::TooLarge { .. }
            | SupplyError::NotAModule { .. }
            | SupplyError::Artifact(_)
            | SupplyError::Key(_) => REASON_SOURCE_UNAVAILABLE,
            SupplyError::DigestMismatch { .. } => REASON_DIGEST_MISMATCH,
            SupplyError::SignatureMissing { .. } => REASON_SIGNATURE_MISSING,
            SupplyError::SignatureInvalid { .. } => REASON_SIGNATURE_INVALID,
            SupplyError::UntrustedSource { .. } | SupplyError::PolicyInvalid(_) => REASON_UNTRUSTED_SOURCE,
        }
    }
}
