//! Talking to an OCI registry: push a module artifact, resolve a tag to a digest, pull by digest and check
//! every blob against its digest, with timeouts, retries with backoff, credentials and size limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use crate::artifact::{
    CUE_SOURCE_MEDIA_TYPE, Descriptor, ImageManifest, ModuleArtifact, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
    WasmConfig, sha256_digest,
};
use crate::cache::BlobCache;
use crate::{Credentials, SupplyError};

pub use oci_client::Reference;

/// Media type of a Docker v2 image manifest (cosign may write signatures with it).
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Parses an OCI reference such as `registry.example/team/module:1.0.0` or `…@sha256:…`.
pub fn parse_reference(reference: &str) -> Result<Reference, SupplyError> {
    reference
        .trim()
        .parse::<Reference>()
        .map_err(|error| SupplyError::InvalidReference { reference: reference.to_owned(), message: error.to_string() })
}

/// `registry/repository` of a reference, without tag or digest.
pub fn repository_name(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

/// How to reach registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Registry credentials.
    pub credentials: Credentials,
    /// Registries (`host:port`) reached over plain HTTP instead of HTTPS; meant for loopback test registries.
    pub plain_http: Vec<String>,
    /// The largest layer (and signature payload) accepted, in bytes.
    pub max_layer_size: u64,
    /// Time allowed for each request (one attempt).
    pub request_timeout: Duration,
    /// Attempts per request when the registry is unreachable or answers 5xx/429.
    pub attempts: u32,
    /// Wait before the first retry; doubled after each.
    pub backoff: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            credentials: Credentials::Anonymous,
            plain_http: Vec::new(),
            max_layer_size: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// The largest manifest or config accepted, in bytes.
const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// A module pulled by digest, every blob checked against its digest.
#[derive(Clone, Debug)]
pub struct PulledModule {
    /// The manifest digest.
    pub digest: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: WasmConfig,
    /// The component.
    pub wasm: Vec<u8>,
    /// The CUE source archive (tar.gz), when it was asked for and the artifact has one.
    pub cue_source: Option<Vec<u8>>,
}

/// A client for OCI registries.
pub struct Registry {
    client: Client,
    options: RegistryOptions,
    cache: Option<Arc<BlobCache>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("options", &self.options).finish_non_exhaustive()
    }
}

impl Registry {
    /// A client with these options.
    pub fn new(options: RegistryOptions) -> Self {
        let protocol = if options.plain_http.is_empty() {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(options.plain_http.clone())
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(options.request_timeout.min(Duration::from_secs(10))),
            read_timeout: Some(options.request_timeout),
            use_monolithic_push: true,
            platform_resolver: None,
            user_agent: concat!("pequod/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        Self { client: Client::new(config), options, cache: None }
    }

    /// Serves blobs pulled by digest (manifests, configs, layers) from `cache` when it has them, and stores
    /// those it fetches there.
    pub fn with_cache(mut self, cache: Arc<BlobCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    fn cached(&self, digest: &str) -> Option<Vec<u8>> {
        self.cache.as_ref()?.get(digest)
    }

    fn remember(&self, digest: &str, data: &[u8]) {
        if let Some(Err(error)) = self.cache.as_ref().map(|cache| cache.put(digest, data)) {
            tracing::warn!(%error, "cannot cache a blob");
        }
    }

    /// The options of this client.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    fn auth_for(&self, reference: &Reference) -> RegistryAuth {
        match self.options.credentials.login_for(reference.registry()) {
            Some(login) => RegistryAuth::Basic(login.username, login.password),
            None => RegistryAuth::Anonymous,
        }
    }

    pub(crate) async fn authenticate(
        &self,
        reference: &Reference,
        operation: RegistryOperation,
    ) -> Result<(), SupplyError> {
        let auth = self.auth_for(reference);
        self.with_retry(reference, "authentication", || self.client.auth(reference, &auth, operation)).await?;
        Ok(())
    }

    /// Runs `operation` with a per-attempt timeout, retrying with exponential backoff while the failure is
    /// transient (unreachable, timed out, 5xx, 429).
    async fn with_retry<T, F, Fut>(&self, reference: &Reference, what: &str, mut operation: F) -> Result<T, SupplyError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut delay = self.options.backoff;
        let mut attempt = 1;
        loop {
            let (error, transient) = match tokio::time::timeout(self.options.request_timeout, operation()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => classify(reference, what, error),
                Err(_) => (
                    SupplyError::SourceUnavailable {
                        reference: reference.whole(),
                        message: format!("{what} timed out after {:?}", self.options.request_timeout),
                    },
                    true,
                ),
            };
            if !transient || attempt >= self.options.attempts.max(1) {
                if transient && attempt > 1 {
                    return Err(match error {
                        SupplyError::SourceUnavailable { reference, message } => SupplyError::SourceUnavailable {
                            reference,
                            message: format!("{message} (after {attempt} attempts)"),
                        },
                        other => other,
                    });
                }
                return Err(error);
            }
            tracing::warn!(%error, attempt, ?delay, "registry request failed; retrying");
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
            attempt += 1;
        }
    }

    /// Pushes a module artifact under `reference` (a tag, or the artifact's own digest) and returns its
    /// digest. Blobs the repository already has are not uploaded again.
    pub async fn push(&self, reference: &Reference, artifact: &ModuleArtifact) -> Result<String, SupplyError> {
        self.authenticate(reference, RegistryOperation::Push).await?;
        for blob in std::iter::once(&artifact.config).chain(&artifact.layers) {
            self.push_blob(reference, &blob.descriptor.digest, &blob.data).await?;
        }
        self.push_manifest(reference, &artifact.manifest).await?;
        Ok(artifact.digest.clone())
    }

    pub(crate) async fn push_blob(&self, reference: &Reference, digest: &str, data: &[u8]) -> Result<(), SupplyError> {
        let exists =
            self.with_retry(reference, "checking a blob", || self.client.blob_exists(reference, digest)).await?;
        if !exists {
            let data = bytes::Bytes::copy_from_slice(data);
            self.with_retry(reference, "uploading a blob", || self.client.push_blob(reference, data.clone(), digest))
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn push_manifest(&self, reference: &Reference, manifest: &[u8]) -> Result<(), SupplyError> {
        let body = bytes::Bytes::copy_from_slice(manifest);
        let content_type = http::HeaderValue::from_static(crate::artifact::OCI_MANIFEST_MEDIA_TYPE);
        self.with_retry(reference, "uploading the manifest", || {
            self.client.push_manifest_raw(reference, body.clone(), content_type.clone())
        })
        .await?;
        Ok(())
    }

    /// The digest `reference` points to: its own digest, or what its tag resolves to now.
    pub async fn resolve(&self, reference: &Reference) -> Result<String, SupplyError> {
        let auth = self.auth_for(reference);
        let what = if reference.digest().is_some() { "checking access to the manifest" } else { "resolving the tag" };
        let found = self.with_retry(reference, what, || self.client.fetch_manifest_digest(reference, &auth)).await?;
        match reference.digest() {
            // Asked even for a digest whose blobs are cached: the registry, with this caller's credentials,
            // decides whether the caller may have the module (cached blobs are shared by every Transform).
            Some(digest) if digest != found => Err(SupplyError::DigestMismatch {
                reference: reference.whole(),
                what: "the manifest".into(),
                expected: digest.to_owned(),
                actual: found,
            }),
            _ => Ok(found),
        }
    }

    /// The manifest at `reference` (a tag or digest) and its digest, or `None` when there is none. The bytes
    /// are checked against the digest the registry claims and, for a digest reference, the reference's.
    pub(crate) async fn try_pull_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<(ImageManifest, String, Vec<u8>)>, SupplyError> {
        let auth = self.auth_for(reference);
        let accepted = [crate::artifact::OCI_MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE];
        let pulled = self
            .with_retry(reference, "fetching the manifest", || {
                self.client.pull_manifest_raw(reference, &auth, &accepted)
            })
            .await;
        let (bytes, claimed) = match pulled {
            Ok(pulled) => pulled,
            Err(SupplyError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(SupplyError::TooLarge {
                reference: reference.whole(),
                what: "the manifest".into(),
                size: bytes.len() as u64,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let actual = sha256_digest(&bytes);
        let expected = reference.digest().unwrap_or(&claimed);
        if actual != expected {
            return Err(SupplyError::DigestMismatch {
                reference: reference.whole(),
                what: "the manifest".into(),
                expected: expected.to_owned(),
                actual,
            });
        }
        let manifest = parse_manifest(reference, &bytes)?;
        Ok(Some((manifest, actual, bytes.to_vec())))
    }

    /// A blob of the repository, checked against the descriptor's size and digest and the size `limit`.
    pub(crate) async fn pull_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        what: &str,
        limit: u64,
    ) -> Result<Vec<u8>, SupplyError> {
        let too_large =
            |size| SupplyError::TooLarge { reference: reference.whole(), what: what.to_owned(), size, limit };
        if descriptor.size > limit {
            return Err(too_large(descriptor.size));
        }
        if let Some(data) = self.cached(&descriptor.digest) {
            return Ok(data);
        }
        let oci_descriptor = OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let cap = descriptor.size.min(limit);
        let client = &self.client;
        let pulled = self
            .with_retry(reference, what, || {
                let oci_descriptor = &oci_descriptor;
                async move {
                    let mut buffer = LimitedBuffer { data: Vec::new(), limit: cap, overflowed: false };
                    match client.pull_blob(reference, oci_descriptor, &mut buffer).await {
                        Ok(()) => Ok(Ok(buffer.data)),
                        Err(_) if buffer.overflowed => Ok(Err(())),
                        Err(error) => Err(error),
                    }
                }
            })
            .await;
        let data = match pulled {
            Ok(Ok(data)) => data,
            // More bytes than the descriptor declares: the content cannot match the digest.
            Ok(Err(())) if cap == descriptor.size => {
                return Err(SupplyError::DigestMismatch {
                    reference: reference.whole(),
                    what: what.to_owned(),
                    expected: descriptor.digest.clone(),
                    actual: format!("content longer than the declared {} bytes", descriptor.size),
                });
            }
            Ok(Err(())) => return Err(too_large(cap + 1)),
            Err(SupplyError::DigestMismatch { reference, expected, actual, .. }) => {
                return Err(SupplyError::DigestMismatch { reference, what: what.to_owned(), expected, actual });
            }
            Err(error) => return Err(error),
        };
        let actual = sha256_digest(&data);
        if actual != descriptor.digest {
            return Err(SupplyError::DigestMismatch {
                reference: reference.whole(),
                what: what.to_owned(),
                expected: descriptor.digest.clone(),
                actual,
            });
        }
        self.remember(&descriptor.digest, &data);
        Ok(data)
    }

    /// Pulls the module with manifest `digest` from `reference`'s repository, checking every blob.
    pub async fn pull_module(
        &self,
        reference: &Reference,
        digest: &str,
        with_source: bool,
    ) -> Result<PulledModule, SupplyError> {
        let by_digest = Reference::with_digest(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            digest.to_owned(),
        );
        let not_module = |message: String| SupplyError::NotAModule { reference: reference.whole(), message };
        let manifest = match self.cached(digest) {
            Some(bytes) => parse_manifest(&by_digest, &bytes)?,
            None => {
                let (manifest, _, bytes) = self.try_pull_manifest(&by_digest).await?.ok_or_else(|| {
                    SupplyError::NotFound { reference: by_digest.whole(), message: "no such manifest".into() }
                })?;
                self.remember(digest, &bytes);
                manifest
            }
        };
        if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
            return Err(not_module(format!(
                "its config media type is {:?}, not {WASM_CONFIG_MEDIA_TYPE:?}",
                manifest.config.media_type
            )));
        }
        let mut wasm_layers = manifest.layers.iter().filter(|layer| layer.media_type == WASM_LAYER_MEDIA_TYPE);
        let (Some(wasm_layer), None) = (wasm_layers.next(), wasm_layers.next()) else {
            return Err(not_module(format!("it must have exactly one {WASM_LAYER_MEDIA_TYPE:?} layer")));
        };
        let config = self.pull_blob(&by_digest, &manifest.config, "the config", MAX_MANIFEST_SIZE).await?;
        let config: WasmConfig = serde_json::from_slice(&config)
            .map_err(|error| not_module(format!("its config is not a WebAssembly config: {error}")))?;
        let wasm = self.pull_blob(&by_digest, wasm_layer, "the component layer", self.options.max_layer_size).await?;
        let cue_source = match manifest.layers.iter().find(|layer| layer.media_type == CUE_SOURCE_MEDIA_TYPE) {
            Some(layer) if with_source => {
                Some(self.pull_blob(&by_digest, layer, "the CUE source layer", self.options.max_layer_size).await?)
            }
            _ => None,
        };
        Ok(PulledModule { digest: digest.to_owned(), manifest, config, wasm, cue_source })
    }
}

fn parse_manifest(reference: &Reference, bytes: &[u8]) -> Result<ImageManifest, SupplyError> {
    serde_json::from_slice(bytes).map_err(|error| SupplyError::NotAModule {
        reference: reference.whole(),
        message: format!("the manifest is not an OCI image manifest: {error}"),
    })
}

/// Maps a client error to ours, and tells whether trying again may help.
fn classify(reference: &Reference, what: &str, error: OciDistributionError) -> (SupplyError, bool) {
    let reference_text = reference.whole();
    let unavailable = |message: String| SupplyError::SourceUnavailable { reference: reference_text.clone(), message };
    match error {
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError { expected, actual }) => {
            (SupplyError::DigestMismatch { reference: reference_text, what: what.to_owned(), expected, actual }, false)
        }
        OciDistributionError::AuthenticationFailure(message) => {
            (SupplyError::Unauthorized { reference: reference_text, message }, false)
        }
        OciDistributionError::UnauthorizedError { url } => (
            SupplyError::Unauthorized {
                reference: reference_text,
                message: format!("{what}: 401 Unauthorized from {url}"),
            },
            false,
        ),
        OciDistributionError::ImageManifestNotFoundError(message) => {
            (SupplyError::NotFound { reference: reference_text, message }, false)
        }
        OciDistributionError::RegistryError { envelope, url } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|error| &error.code).collect();
            let message = format!("{what}: {envelope} ({url})");
            if codes.iter().any(|code| {
                matches!(
                    code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                (SupplyError::NotFound { reference: reference_text, message }, false)
            } else if codes.iter().any(|code| matches!(code, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                (SupplyError::Unauthorized { reference: reference_text, message }, false)
            } else {
                let transient = codes.iter().any(|code| matches!(code, OciErrorCode::Toomanyrequests));
                (unavailable(message), transient)
            }
        }
        OciDistributionError::ServerError { code, url, message } => match code {
            404 => {
                (SupplyError::NotFound { reference: reference_text, message: format!("{what}: 404 from {url}") }, false)
            }
            401 | 403 => (
                SupplyError::Unauthorized { reference: reference_text, message: format!("{what}: {code} from {url}") },
                false,
            ),
            _ => (unavailable(format!("{what}: HTTP {code} from {url}: {message}")), code >= 500 || code == 429),
        },
        OciDistributionError::RequestError(error) if error.status().is_some() => {
            let code = error.status().map_or(0, |status| status.as_u16());
            let message = format!("{what}: {error}");
            match code {
                401 | 403 => (SupplyError::Unauthorized { reference: reference_text, message }, false),
                404 => (SupplyError::NotFound { reference: reference_text, message }, false),
                _ => (unavailable(message), code >= 500 || code == 429),
            }
        }
        OciDistributionError::RequestError(error) => {
            let mut message = format!("{what}: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            (unavailable(message), true)
        }
        other => (unavailable(format!("{what}: {other}")), false),
    }
}

/// A growing buffer that refuses to hold more than `limit` bytes.
struct LimitedBuffer {
    data: Vec<u8>,
    limit: u64,
    overflowed: bool,
}

impl tokio::io::AsyncWrite for LimitedBuffer {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.data.len() as u64 + buf.len() as u64 > this.limit {
            this.overflowed = true;
            return Poll::Ready(Err(std::io::Error::other("the blob is larger than allowed")));
        }
        this.data.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_name_their_repository() {
        let reference = parse_reference("127.0.0.1:5000/team/web:1.0.0").unwrap();
        assert_eq!(repository_name(&reference), "127.0.0.1:5000/team/web");
        assert_eq!(reference.tag(), Some("1.0.0"));
        assert!(matches!(parse_reference("UPPER/Case::"), Err(SupplyError::InvalidReference { .. })));
    }
}
