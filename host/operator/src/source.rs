//! Resolving a Transform's `spec.cueRef` to renderer component bytes.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use pequod_api::{CueRef, SourceType};

/// The key of a module ConfigMap's `binaryData` that holds the component.
pub(crate) const CONFIGMAP_MODULE_KEY: &str = "module.wasm";

/// Why a module could not be resolved; each is a `SourceReady=False` reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    /// The module does not exist where the reference points.
    #[error("{0}")]
    NotFound(String),
    /// The source type is not available in this build.
    #[error("{0}")]
    Unsupported(String),
    /// The API server failed; retried.
    #[error("cannot read the module: {0}")]
    Kube(#[from] kube::Error),
}

impl SourceError {
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            SourceError::NotFound(_) => "ModuleNotFound",
            SourceError::Unsupported(_) => "UnsupportedSource",
            SourceError::Kube(_) => "SourceUnavailable",
        }
    }
}

/// The component bytes `cue_ref` names, read in `namespace`.
pub(crate) async fn resolve(client: &kube::Client, namespace: &str, cue_ref: &CueRef) -> Result<Vec<u8>, SourceError> {
    match cue_ref.source {
        SourceType::Embedded => match pequod_embedded::find(&cue_ref.reference) {
            Some(module) => Ok(module.wasm.to_vec()),
            None => Err(SourceError::NotFound(format!(
                "no embedded module named {:?}; this operator embeds: {}",
                cue_ref.reference,
                pequod_embedded::names().join(", ")
            ))),
        },
        SourceType::Configmap => {
            let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
            let Some(config_map) = config_maps.get_opt(&cue_ref.reference).await? else {
                return Err(SourceError::NotFound(format!(
                    "ConfigMap {namespace}/{} does not exist",
                    cue_ref.reference
                )));
            };
            config_map.binary_data.and_then(|mut data| data.remove(CONFIGMAP_MODULE_KEY)).map(|bytes| bytes.0).ok_or_else(
                || {
                    SourceError::NotFound(format!(
                        "ConfigMap {namespace}/{} has no binaryData key {CONFIGMAP_MODULE_KEY:?} holding a renderer component",
                        cue_ref.reference
                    ))
                },
            )
        }
        other => Err(SourceError::Unsupported(format!(
            "cueRef.type {other} is not supported by this operator yet; use embedded or configmap"
        ))),
    }
}
