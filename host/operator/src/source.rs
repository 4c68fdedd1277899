//! Resolving a Transform's `spec.cueRef` to renderer component bytes.
//!
//! Every source ends in a component the sandbox runs:
//!
//! - `embedded`: a module shipped in the binary (CUE modules are compiled on first use);
//! - `configmap`: a component under `binaryData."module.wasm"`, or CUE files (`*.cue` keys of `data`);
//! - `inline`: CUE text in the Transform;
//! - `oci`: an artifact in a registry, resolved to a digest, checked against the trust rules of the
//!   PlatformPolicies (allowed registries, signatures) and pulled by digest with every blob verified;
//! - `git`: a CUE module in a repository, the ref resolved to a commit.
//!
//! CUE source is compiled by the CUE runtime inside the sandbox (untrusted text is never parsed here), under
//! the compile limits, and the result is kept by the [`pequod_cue_compile::Compiler`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use pequod_api::{CueRef, SourceType};
use pequod_cue_compile::{CompileError, CompileLimits, ModuleSource};
use pequod_cue_runtime::Sources;
use pequod_embedded::EmbeddedKind;
use pequod_supply::{Credentials, DockerConfig, RegistryOptions, Resolver, SupplyError};

use crate::Context;
use crate::policy::EffectivePolicy;

/// The key of a module ConfigMap's `binaryData` that holds the component.
pub(crate) const CONFIGMAP_MODULE_KEY: &str = "module.wasm";

/// Why a module could not be resolved; each is a `SourceReady=False` (or `Verified=False`) reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    /// The module does not exist where the reference points.
    #[error("{0}")]
    NotFound(String),
    /// The PlatformPolicies do not allow this kind of source.
    #[error("{0}")]
    Denied(String),
    /// The API server failed; retried.
    #[error("cannot read the module: {0}")]
    Kube(#[from] kube::Error),
    /// The registry, the signatures or the trust rules refused the module.
    #[error("{0}")]
    Supply(#[from] SupplyError),
    /// The git repository could not be read, or the ref or path is not there.
    #[error("{0}")]
    Git(#[from] pequod_supply::GitError),
    /// CUE source did not compile.
    #[error("the CUE module does not compile: {0}")]
    Compile(#[from] CompileError),
    /// The memory a compile needs could not be reserved from the render memory budget: it stayed busy
    /// (`transient`), or it is smaller than one compile needs.
    #[error("cannot compile the CUE module: {message}")]
    Budget {
        /// What happened and which flag to raise.
        message: String,
        /// Whether waiting may help.
        transient: bool,
    },
}

impl SourceError {
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            SourceError::NotFound(_) => "ModuleNotFound",
            SourceError::Denied(_) => pequod_supply::REASON_UNTRUSTED_SOURCE,
            SourceError::Kube(_) => "SourceUnavailable",
            SourceError::Supply(error) => error.reason(),
            SourceError::Git(error) => error.reason(),
            SourceError::Compile(CompileError::FuelExhausted { .. }) => "CompileFuelExhausted",
            SourceError::Compile(CompileError::MemoryLimitExceeded { .. }) => "CompileMemoryLimitExceeded",
            SourceError::Compile(CompileError::Timeout { .. }) => "CompileTimeout",
            SourceError::Compile(_) => "InvalidModule",
            SourceError::Budget { .. } => "RenderMemoryBudget",
        }
    }

    /// Whether trying again later may help (the registry or API server may come back).
    pub(crate) fn transient(&self) -> bool {
        match self {
            SourceError::Kube(_) => true,
            SourceError::Supply(error) => error.reason() == pequod_supply::REASON_SOURCE_UNAVAILABLE,
            SourceError::Git(error) => error.is_transient(),
            SourceError::Budget { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Whether this is a signature or trust failure (reported on `Verified` rather than `SourceReady`).
    pub(crate) fn is_verification(&self) -> bool {
        matches!(
            self.reason(),
            pequod_supply::REASON_SIGNATURE_MISSING
                | pequod_supply::REASON_SIGNATURE_INVALID
                | pequod_supply::REASON_UNTRUSTED_SOURCE
                | pequod_supply::REASON_DIGEST_MISMATCH
        )
    }
}

/// A resolved module.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// The component.
    pub(crate) wasm: Arc<[u8]>,
    /// The digest of what was fetched: the OCI manifest digest, the git commit, or the CUE source digest;
    /// `None` when the component's own digest is all there is.
    pub(crate) digest: Option<String>,
    /// Who signed it, when a signature was verified.
    pub(crate) signer: Option<String>,
    /// When it was fetched from its source.
    pub(crate) fetched_at: Option<SystemTime>,
    /// A note for the `SourceReady` message (e.g. the registry was unreachable and the last verified
    /// digest is used).
    pub(crate) note: Option<String>,
}

impl Resolved {
    fn local(wasm: Arc<[u8]>) -> Self {
        Resolved { wasm, digest: None, signer: None, fetched_at: None, note: None }
    }
}

/// The component `cue_ref` names, read in `namespace`, allowed by `policy`.
pub(crate) async fn resolve(
    context: &Context,
    client: &kube::Client,
    namespace: &str,
    cue_ref: &CueRef,
    policy: &EffectivePolicy,
) -> Result<Resolved, SourceError> {
    if !policy.source_allowed(cue_ref.source) {
        return Err(SourceError::Denied(format!(
            "cueRef.type {} is not allowed by PlatformPolicy (allowed: {})",
            cue_ref.source,
            policy.allowed_sources_text()
        )));
    }
    policy.signature_rule(cue_ref.source).map_err(SourceError::Denied)?;
    match cue_ref.source {
        SourceType::Embedded => {
            let Some(module) = pequod_embedded::find(&cue_ref.reference) else {
                return Err(SourceError::NotFound(format!(
                    "no embedded module named {:?}; this operator embeds: {}",
                    cue_ref.reference,
                    pequod_embedded::names().join(", ")
                )));
            };
            match &module.kind {
                EmbeddedKind::Component(wasm) => Ok(Resolved::local(Arc::from(*wasm))),
                EmbeddedKind::Cue { .. } => {
                    let sources = module.sources().expect("CUE modules have sources");
                    compile(context, sources).await
                }
            }
        }
        SourceType::Inline => compile(context, pequod_embedded::inline_sources(&cue_ref.reference)).await,
        SourceType::Configmap => configmap(context, client, namespace, cue_ref).await,
        SourceType::Oci => oci(context, client, namespace, cue_ref, policy).await,
        SourceType::Git => git(context, client, namespace, cue_ref, policy).await,
    }
}

/// The memory one CUE compile may use: the shipped modules need 17 to 32 MiB.
const COMPILE_MEMORY: usize = 128 << 20;

/// Compiles CUE sources in the sandboxed runtime (or takes the component compiled before). A compile
/// reserves its memory from the renders' budget first, so compiles and renders together stay within
/// `--max-render-memory`.
async fn compile(context: &Context, sources: Sources) -> Result<Resolved, SourceError> {
    let source = ModuleSource::Sources(sources);
    let digest = source.digest();
    if let Some(wasm) = context.compiler.cached(&source).await {
        return Ok(Resolved { digest: Some(digest), ..Resolved::local(wasm) });
    }
    let limits = CompileLimits { memory: COMPILE_MEMORY, ..CompileLimits::default() };
    let _reserved = reserve(&context.sandbox, &limits).await?;
    let wasm = context.compiler.compile(&source, &limits).await?;
    Ok(Resolved { digest: Some(digest), ..Resolved::local(wasm) })
}

/// Reserves a compile's memory, waiting at most its time limit while renders hold the budget.
async fn reserve(
    sandbox: &pequod_sandbox::Sandbox,
    limits: &CompileLimits,
) -> Result<pequod_sandbox::MemoryPermit, SourceError> {
    match tokio::time::timeout(limits.timeout, sandbox.reserve_memory(limits.memory)).await {
        Ok(reserved) => reserved.map_err(|error| SourceError::Budget { message: error.to_string(), transient: false }),
        Err(_) => Err(SourceError::Budget {
            transient: true,
            message: format!(
                "{} MiB of the render memory budget were not free within {} s; renders and compiles use it all \
             (raise `pequod run --max-render-memory`)",
                limits.memory >> 20,
                limits.timeout.as_secs()
            ),
        }),
    }
}

async fn configmap(
    context: &Context,
    client: &kube::Client,
    namespace: &str,
    cue_ref: &CueRef,
) -> Result<Resolved, SourceError> {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let Some(config_map) = config_maps.get_opt(&cue_ref.reference).await? else {
        return Err(SourceError::NotFound(format!("ConfigMap {namespace}/{} does not exist", cue_ref.reference)));
    };
    if let Some(bytes) = config_map.binary_data.as_ref().and_then(|data| data.get(CONFIGMAP_MODULE_KEY)) {
        return Ok(Resolved::local(Arc::from(bytes.0.as_slice())));
    }
    let files: BTreeMap<String, String> =
        config_map.data.unwrap_or_default().into_iter().filter(|(key, _)| key.ends_with(".cue")).collect();
    if files.is_empty() {
        return Err(SourceError::NotFound(format!(
            "ConfigMap {namespace}/{} holds neither a renderer component (binaryData key {CONFIGMAP_MODULE_KEY:?}) \
             nor CUE files (data keys ending in .cue)",
            cue_ref.reference
        )));
    }
    compile(context, pequod_embedded::package_sources(files)).await
}

/// The annotation (or `data` key `host`) that binds a git credentials Secret to the one host it may be sent to.
pub(crate) const HOST_ANNOTATION: &str = "platform.pequod.io/host";

/// The Secret `cueRef.pullSecretRef` names.
struct PullSecret {
    name: String,
    data: BTreeMap<String, Vec<u8>>,
    /// The host it is bound to: `data.host` or the [`HOST_ANNOTATION`].
    host: Option<String>,
}

/// The Secret `cueRef.pullSecretRef` names, if any.
async fn pull_secret(
    client: &kube::Client,
    namespace: &str,
    cue_ref: &CueRef,
) -> Result<Option<PullSecret>, SourceError> {
    let Some(reference) = &cue_ref.pull_secret_ref else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        return Err(SourceError::NotFound(format!(
            "cueRef.pullSecretRef names Secret {namespace}/{}, which does not exist",
            reference.name
        )));
    };
    let annotated = secret.metadata.annotations.as_ref().and_then(|annotations| annotations.get(HOST_ANNOTATION));
    let data: BTreeMap<String, Vec<u8>> =
        secret.data.unwrap_or_default().into_iter().map(|(key, value)| (key, value.0)).collect();
    let stored = data.get("host").map(|host| String::from_utf8_lossy(host).trim().to_owned());
    let host = stored.or_else(|| annotated.cloned());
    Ok(Some(PullSecret { name: reference.name.clone(), data, host }))
}

async fn oci(
    context: &Context,
    client: &kube::Client,
    namespace: &str,
    cue_ref: &CueRef,
    policy: &EffectivePolicy,
) -> Result<Resolved, SourceError> {
    let mut options = RegistryOptions { plain_http: context.options.insecure_registries.clone(), ..Default::default() };
    let registry = pequod_supply::parse_reference(&cue_ref.reference)?.registry().to_owned();
    let admin_listed = context.options.insecure_registries.iter().any(|host| host.eq_ignore_ascii_case(&registry));
    let class = pequod_supply::hosts::classify(&registry, 443).await;
    policy.host_rule(&registry, class, admin_listed).map_err(SourceError::Denied)?;
    let secret = pull_secret(client, namespace, cue_ref).await?;
    // The last verified digest is kept per namespace and credentials: another tenant never gets it.
    let secret_name = secret.as_ref().map(|secret| secret.name.clone()).unwrap_or_default();
    if let Some(PullSecret { name, data, .. }) = secret {
        let config = data.get(".dockerconfigjson").ok_or_else(|| {
            SourceError::NotFound(format!(
                "Secret {namespace}/{name} has no .dockerconfigjson key; create it with `kubectl create secret \
                 docker-registry {name} --docker-server=… --docker-username=… --docker-password=…`"
            ))
        })?;
        let config = DockerConfig::from_json(config).map_err(SourceError::Supply)?;
        options.credentials = Credentials::DockerConfig(config);
    }
    let resolver = match &context.blob_cache {
        Some(cache) => Resolver::with_cache(options, Arc::clone(cache)),
        None => Resolver::new(options),
    };
    let trust = policy.trust_for(&cue_ref.reference)?;
    let key = format!("{namespace}\n{secret_name}\n{}\n{:?}", cue_ref.reference, trust);
    match resolver.resolve(&cue_ref.reference, &trust).await {
        Ok(module) => {
            let resolved = Resolved {
                wasm: Arc::from(module.wasm),
                digest: Some(module.digest),
                signer: module.signer,
                fetched_at: Some(module.fetched_at),
                note: None,
            };
            let size = resolved.wasm.len() as u64;
            context.verified.lock().expect("verified lock").insert(key, resolved.clone(), size);
            Ok(resolved)
        }
        Err(error) if error.reason() == pequod_supply::REASON_SOURCE_UNAVAILABLE => {
            // Keep serving the digest verified last time until the tag can be re-resolved and re-verified.
            let last = context.verified.lock().expect("verified lock").get(&key).cloned();
            match last {
                Some(mut resolved) => {
                    resolved.note = Some(format!(
                        "the registry is unreachable ({error}); using {} verified before",
                        resolved.digest.as_deref().unwrap_or("the module")
                    ));
                    Ok(resolved)
                }
                None => Err(error.into()),
            }
        }
        Err(error) => Err(error.into()),
    }
}

async fn git(
    context: &Context,
    client: &kube::Client,
    namespace: &str,
    cue_ref: &CueRef,
    policy: &EffectivePolicy,
) -> Result<Resolved, SourceError> {
    use pequod_supply::{GitCredentials, GitFetchOptions, GitReference};
    let mut text = cue_ref.reference.clone();
    if let Some(path) = cue_ref.path.as_deref().filter(|p| !p.trim_matches('/').is_empty()) {
        text.push(if text.contains('?') { '&' } else { '?' });
        text.push_str(&format!("path={}", path.trim_matches('/')));
    }
    let reference = GitReference::parse(&text)?;
    let class = pequod_supply::hosts::classify(reference.authority(), 443).await;
    policy.host_rule(reference.authority(), class, false).map_err(SourceError::Denied)?;
    let mut options = GitFetchOptions::new(git_cache_dir(&context.options));
    options.module_cache = context.git_cache.clone();
    options.slots = Some(Arc::clone(&context.git_slots));
    let credentials = match pull_secret(client, namespace, cue_ref).await? {
        Some(secret) => {
            check_binding(namespace, &secret, reference.authority())?;
            options.credentials_source = Some(format!("Secret \"{namespace}/{}\"", secret.name));
            Some(GitCredentials::from_secret_data(&secret.data)?)
        }
        None => None,
    };
    let fetched = pequod_supply::fetch_module(&reference, credentials.as_ref(), &options).await?;
    let mut files = BTreeMap::new();
    for (path, contents) in fetched.files {
        let text = String::from_utf8(contents)
            .map_err(|_| SourceError::NotFound(format!("{path} at commit {} is not UTF-8 text", fetched.commit)))?;
        files.insert(path, text);
    }
    let sources = Sources { dir: fetched.package_dir.clone(), files };
    let mut resolved = compile(context, sources).await?;
    resolved.digest = Some(fetched.commit);
    resolved.fetched_at = Some(SystemTime::now());
    Ok(resolved)
}

/// Git fetches at once: their scratch repositories take at most this many times the download limit
/// (128 MiB) of the cache volume.
pub(crate) const GIT_FETCH_SLOTS: usize = 2;

/// The shared cache of git modules, after removing the scratch repositories a stopped process left behind.
pub(crate) fn open_git_cache(options: &crate::Options) -> Option<Arc<pequod_supply::GitModuleCache>> {
    let directory = git_cache_dir(options);
    let removed = pequod_supply::remove_stale_scratch(&directory, std::time::Duration::from_secs(600));
    if removed > 0 {
        tracing::info!(removed, "removed git scratch repositories left by an earlier process");
    }
    let modules = pequod_supply::GitModuleCache::directory(&directory);
    match pequod_supply::GitModuleCache::open(&modules, options.caches.git_modules) {
        Ok(cache) => Some(Arc::new(cache)),
        Err(error) => {
            tracing::warn!(%error, "git modules will be cached per fetch");
            None
        }
    }
}

/// Where git fetches keep their scratch repositories and modules: `<cache dir>/git`, else a temporary
/// directory's.
pub(crate) fn git_cache_dir(options: &crate::Options) -> std::path::PathBuf {
    options.cache_dir.clone().unwrap_or_else(std::env::temp_dir).join("git")
}

/// Git credentials go only to the host their Secret is bound to.
fn check_binding(namespace: &str, secret: &PullSecret, authority: &str) -> Result<(), SourceError> {
    let name = &secret.name;
    match &secret.host {
        Some(host) if pequod_supply::hosts::names(host, authority) => Ok(()),
        Some(host) => Err(SourceError::Denied(format!(
            "Secret {namespace}/{name} is bound to host {host}, not {authority}; its credentials are not sent \
             elsewhere"
        ))),
        None => Err(SourceError::Denied(format!(
            "Secret {namespace}/{name} does not say which host its credentials are for; add the annotation \
             {HOST_ANNOTATION}: {authority} (or a `host` key)"
        ))),
    }
}
