//! The module artifact: an OCI image manifest in the CNCF WebAssembly layout.
//!
//! - config (`application/vnd.wasm.config.v0+json`): architecture `wasm`, os `wasip2`, the layer digests and
//!   the component's imports and exports;
//! - layer 1 (`application/wasm`): the renderer component;
//! - layer 2, optional (`application/vnd.pequod.cue.source.v1.tar+gzip`): the module's CUE source, for
//!   auditing, as a reproducible archive;
//! - annotations: `org.opencontainers.image.*` and the module's name and version.
//!
//! Building is a pure function of the inputs: the same component, source and metadata give the same bytes and
//! so the same manifest digest.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::SupplyError;

/// Media type of the OCI image manifest.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the config blob (CNCF WebAssembly OCI artifact layout).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the component layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Media type of the CUE source layer.
pub const CUE_SOURCE_MEDIA_TYPE: &str = "application/vnd.pequod.cue.source.v1.tar+gzip";
/// Annotation holding the module's name.
pub const ANNOTATION_MODULE_NAME: &str = "io.pequod.module.name";
/// Annotation holding the module's version.
pub const ANNOTATION_MODULE_VERSION: &str = "io.pequod.module.version";

/// What is recorded about a module besides its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleMetadata {
    /// The module's name (`io.pequod.module.name`, `org.opencontainers.image.title`).
    pub name: String,
    /// Its version (`io.pequod.module.version`, `org.opencontainers.image.version`).
    pub version: Option<String>,
    /// Where its source lives, e.g. a repository URL (`org.opencontainers.image.source`).
    pub source: Option<String>,
    /// The source revision, e.g. a commit SHA (`org.opencontainers.image.revision`).
    pub revision: Option<String>,
    /// When it was built, RFC 3339 (`org.opencontainers.image.created`). Left out when absent so that
    /// rebuilding gives the same digest; pass a fixed time (e.g. from `SOURCE_DATE_EPOCH`) to record one.
    pub created: Option<String>,
}

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// The content's size in bytes.
    pub size: u64,
    /// Annotations of this descriptor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`OCI_MANIFEST_MEDIA_TYPE`].
    #[serde(default)]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The config blob of a WebAssembly artifact (`application/vnd.wasm.config.v0+json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When the module was built, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for components.
    pub os: String,
    /// The digests of the layers, in order.
    #[serde(default)]
    pub layer_digests: Vec<String>,
    /// The component's interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInterface>,
}

/// The imports and exports of a component's outermost level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInterface {
    /// Exported names, e.g. `pequod:graph/renderer@0.1.0`.
    #[serde(default)]
    pub exports: Vec<String>,
    /// Imported names, e.g. `wasi:cli/environment@0.2.0`.
    #[serde(default)]
    pub imports: Vec<String>,
}

/// A blob with its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Its descriptor.
    pub descriptor: Descriptor,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob of `media_type` holding `data`.
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest: sha256_digest(&data),
            size: data.len() as u64,
            annotations: BTreeMap::new(),
        };
        Self { descriptor, data }
    }
}

/// A module packaged as an OCI artifact, ready to push.
#[derive(Clone, Debug)]
pub struct ModuleArtifact {
    /// The manifest's bytes, exactly as pushed.
    pub manifest: Vec<u8>,
    /// `sha256:<hex>` of [`ModuleArtifact::manifest`]: the module's digest.
    pub digest: String,
    /// The config blob.
    pub config: Blob,
    /// The layers: the component, then the CUE source if any.
    pub layers: Vec<Blob>,
}

impl ModuleArtifact {
    /// Packages a renderer component, with its CUE source directory when given.
    pub fn build(wasm: &[u8], metadata: &ModuleMetadata, cue_source: Option<&Path>) -> Result<Self, SupplyError> {
        let interface = component_interface(wasm)?;
        let mut layers = vec![Blob::new(WASM_LAYER_MEDIA_TYPE, wasm.to_vec())];
        if let Some(dir) = cue_source {
            layers.push(Blob::new(CUE_SOURCE_MEDIA_TYPE, source_archive(dir)?));
        }
        let config = WasmConfig {
            created: metadata.created.clone(),
            architecture: "wasm".to_owned(),
            os: "wasip2".to_owned(),
            layer_digests: layers.iter().map(|layer| layer.descriptor.digest.clone()).collect(),
            component: Some(interface),
        };
        let config = Blob::new(WASM_CONFIG_MEDIA_TYPE, to_json(&config));
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
            config: config.descriptor.clone(),
            layers: layers.iter().map(|layer| layer.descriptor.clone()).collect(),
            annotations: annotations(metadata),
        };
        let manifest = to_json(&manifest);
        Ok(Self { digest: sha256_digest(&manifest), manifest, config, layers })
    }
}

fn annotations(metadata: &ModuleMetadata) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(value) = value.as_ref().filter(|value| !value.is_empty()) {
            annotations.insert(key.to_owned(), value.clone());
        }
    };
    let name = Some(metadata.name.clone());
    put(ANNOTATION_MODULE_NAME, &name);
    put("org.opencontainers.image.title", &name);
    put(ANNOTATION_MODULE_VERSION, &metadata.version);
    put("org.opencontainers.image.version", &metadata.version);
    put("org.opencontainers.image.source", &metadata.source);
    put("org.opencontainers.image.revision", &metadata.revision);
    put("org.opencontainers.image.created", &metadata.created);
    annotations
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs, strings and maps: serialisation cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The imports and exports of a WebAssembly component; an error when `wasm` is not a component.
pub fn component_interface(wasm: &[u8]) -> Result<ComponentInterface, SupplyError> {
    use wasmparser::{Encoding, Parser, Payload};

    let not_component = |detail: String| {
        SupplyError::Artifact(format!(
            "not a WebAssembly component ({detail}); build it with `cargo build --target wasm32-wasip2` or `cue-to-wasm build`"
        ))
    };
    let mut interface = ComponentInterface::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|error| not_component(error.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } if depth == 0 && encoding != Encoding::Component => {
                return Err(not_component("a core module".to_owned()));
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|error| not_component(error.to_string()))?;
                    interface.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|error| not_component(error.to_string()))?;
                    interface.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(interface)
}

/// A reproducible gzip'd tar of `dir`: entries sorted by path, regular files and directories only, zero
/// timestamps and owners, modes normalised to 0644/0755. `.git` directories are left out; symbolic links
/// are refused (their target could lie outside the module).
pub fn source_archive(dir: &Path) -> Result<Vec<u8>, SupplyError> {
    let mut entries = Vec::new();
    collect(dir, Path::new(""), &mut entries)?;
    entries.sort();
    let encoder = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    let mut archive = tar::Builder::new(encoder);
    archive.mode(tar::HeaderMode::Deterministic);
    for (relative, is_dir) in &entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let io_error = |error: std::io::Error| {
            SupplyError::Artifact(format!("cannot archive {}: {error}", dir.join(relative).display()))
        };
        if *is_dir {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            archive.append_data(&mut header, relative, std::io::empty()).map_err(io_error)?;
        } else {
            let data = std::fs::read(dir.join(relative)).map_err(io_error)?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            archive.append_data(&mut header, relative, data.as_slice()).map_err(io_error)?;
        }
    }
    let finish = |error: std::io::Error| SupplyError::Artifact(format!("cannot archive {}: {error}", dir.display()));
    let mut encoder = archive.into_inner().map_err(finish)?;
    encoder.flush().map_err(finish)?;
    encoder.finish().map_err(finish)
}

fn collect(root: &Path, relative: &Path, out: &mut Vec<(std::path::PathBuf, bool)>) -> Result<(), SupplyError> {
    let dir = root.join(relative);
    let read = std::fs::read_dir(&dir)
        .map_err(|error| SupplyError::Artifact(format!("cannot read source directory {}: {error}", dir.display())))?;
    for entry in read {
        let entry = entry.map_err(|error| SupplyError::Artifact(format!("cannot read {}: {error}", dir.display())))?;
        let name = entry.file_name();
        let path = relative.join(&name);
        let kind = entry
            .file_type()
            .map_err(|error| SupplyError::Artifact(format!("cannot read {}: {error}", root.join(&path).display())))?;
        if kind.is_symlink() {
            return Err(SupplyError::Artifact(format!(
                "{} is a symbolic link; the CUE source layer holds only regular files and directories",
                root.join(&path).display()
            )));
        } else if kind.is_dir() {
            if name == ".git" {
                continue;
            }
            out.push((path.clone(), true));
            collect(root, &path, out)?;
        } else {
            out.push((path, false));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: magic, component version and layer, no sections.
    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn metadata() -> ModuleMetadata {
        ModuleMetadata { name: "web".into(), version: Some("1.2.0".into()), ..ModuleMetadata::default() }
    }

    #[test]
    fn same_inputs_give_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("module.cue"), "package web\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/extra.cue"), "package sub\n").unwrap();
        let first = ModuleArtifact::build(COMPONENT, &metadata(), Some(dir.path())).unwrap();
        // Touch the files: timestamps must not matter.
        std::fs::write(dir.path().join("module.cue"), "package web\n").unwrap();
        let second = ModuleArtifact::build(COMPONENT, &metadata(), Some(dir.path())).unwrap();
        assert_eq!(first.digest, second.digest);
        assert_eq!(first.manifest, second.manifest);

        let other = ModuleMetadata { version: Some("1.2.1".into()), ..metadata() };
        assert_ne!(ModuleArtifact::build(COMPONENT, &other, Some(dir.path())).unwrap().digest, first.digest);
        std::fs::write(dir.path().join("module.cue"), "package web // changed\n").unwrap();
        assert_ne!(ModuleArtifact::build(COMPONENT, &metadata(), Some(dir.path())).unwrap().digest, first.digest);
    }

    #[test]
    fn layout_follows_the_wasm_artifact_spec() {
        let artifact = ModuleArtifact::build(COMPONENT, &metadata(), None).unwrap();
        let manifest: ImageManifest = serde_json::from_slice(&artifact.manifest).unwrap();
        assert_eq!(manifest.config.media_type, WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(manifest.layers.len(), 1);
        assert_eq!(manifest.layers[0].media_type, WASM_LAYER_MEDIA_TYPE);
        assert_eq!(manifest.layers[0].digest, sha256_digest(COMPONENT));
        assert_eq!(manifest.annotations[ANNOTATION_MODULE_NAME], "web");
        assert_eq!(manifest.annotations["org.opencontainers.image.version"], "1.2.0");
        assert!(!manifest.annotations.contains_key("org.opencontainers.image.created"));
        let config: WasmConfig = serde_json::from_slice(&artifact.config.data).unwrap();
        assert_eq!((config.architecture.as_str(), config.os.as_str()), ("wasm", "wasip2"));
        assert_eq!(config.layer_digests, vec![manifest.layers[0].digest.clone()]);
    }

    #[test]
    fn archive_is_sorted_and_zeroed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.cue"), "b").unwrap();
        std::fs::write(dir.path().join("a.cue"), "a").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        let archive = source_archive(dir.path()).unwrap();
        let mut reader = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
        let names: Vec<(String, u64, u64)> = reader
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (entry.path().unwrap().display().to_string(), header.mtime().unwrap(), header.uid().unwrap())
            })
            .collect();
        assert_eq!(names, vec![("a.cue".to_owned(), 0, 0), ("b.cue".to_owned(), 0, 0)]);
    }

    #[test]
    fn core_modules_and_garbage_are_refused() {
        let core = b"\0asm\x01\0\0\0";
        assert!(component_interface(core).unwrap_err().to_string().contains("a core module"));
        assert!(component_interface(b"not wasm").is_err());
    }
}
