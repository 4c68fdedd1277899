//! Pequod's supply chain: renderer modules as OCI artifacts, cosign-compatible signatures and the trust
//! policy.
//!
//! - [`ModuleArtifact`] packages a component (and its CUE source) in the CNCF WebAssembly OCI layout,
//!   reproducibly.
//! - [`Registry`] pushes artifacts, resolves tags to digests and pulls by digest, checking every blob's sha256
//!   and size, with timeouts, retries with backoff and credentials ([`Credentials`], [`DockerConfig`]).
//! - [`sign`] and [`verify`] produce and check cosign signatures (`sha256-<digest>.sig` tag, simple-signing
//!   payload) with the `sigstore` crate; [`generate_key_pair`] writes cosign-compatible keys.
//! - [`BlobCache`] keeps pulled blobs on disk by digest, with a size limit, LRU eviction and counters.
//! - [`hosts`] classifies source hosts (loopback, link-local, cluster-internal, private, public).
//! - [`Resolver::resolve`] does it all under a [`TrustPolicy`] and returns a [`VerifiedModule`]; each failure is
//!   a [`SupplyError`] whose [`SupplyError::reason`] is the Transform condition reason.

mod artifact;
mod cache;
mod credentials;
mod error;
pub mod git;
pub mod hosts;
mod policy;
mod registry;
mod signature;

pub use artifact::{
    ANNOTATION_MODULE_NAME, ANNOTATION_MODULE_VERSION, Blob, CUE_SOURCE_MEDIA_TYPE, ComponentInterface, Descriptor,
    ImageManifest, ModuleArtifact, ModuleMetadata, OCI_MANIFEST_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE, WasmConfig, component_interface, sha256_digest, source_archive,
};
pub use cache::{BlobCache, CacheStats};
pub use credentials::{Credentials, DockerConfig, Login};
pub use error::{
    REASON_DIGEST_MISMATCH, REASON_SIGNATURE_INVALID, REASON_SIGNATURE_MISSING, REASON_SOURCE_UNAVAILABLE,
    REASON_UNTRUSTED_SOURCE, SupplyError,
};
pub use git::{
    GitCredentials, GitError, GitFetchOptions, GitModule, GitModuleCache, GitReference, REASON_MODULE_TOO_LARGE,
    REASON_PATH_NOT_FOUND, REASON_REF_NOT_FOUND, fetch_module, remove_stale_scratch,
};
pub use policy::{Resolver, TrustPolicy, VerifiedModule};
pub use registry::{PulledModule, Reference, Registry, RegistryOptions, parse_reference, repository_name};
pub use signature::{
    PASSWORD_ENV, PublicKey, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignOutcome, SigningKey,
    VerifiedSignature, generate_key_pair, sign, signature_tag, simple_signing_payload, verify,
};
