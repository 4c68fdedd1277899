//! Pequod's user-facing API: the `Transform` manifest (group `platform.pequod.io`, version `v1alpha1`) and
//! the render context the host derives from it.
//!
//! The CLI and the operator both build the context through [`Transform::render_context`], so an offline
//! `pequod render` sees exactly what the operator's render would see.
//!
//! Architecture invariant: no IO and no Kubernetes client here; these are plain serde types.

use std::collections::BTreeMap;

use pequod_graph::RenderContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API group of Pequod's resources.
pub const GROUP: &str = "platform.pequod.io";
/// The `apiVersion` of Pequod's resources.
pub const API_VERSION: &str = "platform.pequod.io/v1alpha1";
/// The label every rendered object carries, naming the tool that manages it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The label every rendered object carries, naming its Transform.
pub const TRANSFORM_LABEL: &str = "platform.pequod.io/transform";

/// A request to render a module with some input and apply the result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transform {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be `Transform`.
    pub kind: String,
    /// Name, namespace and labels.
    pub metadata: Metadata,
    /// What to render.
    pub spec: TransformSpec,
    /// Written by the operator; ignored by `pequod render`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// The parts of Kubernetes object metadata a Transform manifest uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The Transform's name.
    pub name: String,
    /// The Transform's namespace; `default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Transform's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The Transform's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Everything else Kubernetes puts in metadata (uid, resourceVersion, …), kept but unused here.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// The desired state of a Transform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformSpec {
    /// Which module renders it.
    pub cue_ref: CueRef,
    /// Free-form input, checked by the module's schema.
    #[serde(default = "empty_object")]
    pub input: Value,
    /// What happens to the rendered objects when the Transform is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<pequod_graph::DeletionPolicy>,
    /// Existing objects to take over instead of creating them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopt: Vec<Value>,
    /// Stop reconciling while true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Where the module comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CueRef {
    /// The kind of source.
    #[serde(rename = "type")]
    pub source: SourceType,
    /// The reference within that source: an OCI reference, a git URL, a ConfigMap name, inline CUE text, or
    /// the name of an embedded module.
    #[serde(rename = "ref")]
    pub reference: String,
    /// A directory within the source, for git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A Secret with registry or git credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret_ref: Option<LocalObjectReference>,
}

/// A reference to an object in the Transform's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalObjectReference {
    /// Its name.
    pub name: String,
}

/// The kinds of module source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    /// A module artifact in an OCI registry.
    Oci,
    /// A CUE module in a git repository.
    Git,
    /// A module in a ConfigMap of the Transform's namespace.
    Configmap,
    /// CUE source in the Transform itself.
    Inline,
    /// A module shipped inside the Pequod binary.
    Embedded,
}

impl std::fmt::Display for SourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceType::Oci => "oci",
            SourceType::Git => "git",
            SourceType::Configmap => "configmap",
            SourceType::Inline => "inline",
            SourceType::Embedded => "embedded",
        })
    }
}

/// Why a manifest is not a Transform Pequod can use.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not YAML, or does not have a Transform's fields.
    #[error("{0}")]
    Parse(String),
    /// The document is some other kind of object.
    #[error("expected apiVersion {API_VERSION} and kind Transform, found apiVersion {api_version:?} and kind {kind:?}")]
    NotATransform {
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// The file has no Transform, or more than one.
    #[error("expected exactly one Transform document, found {0}")]
    Count(usize),
    /// A field has a value Pequod cannot use.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, e.g. `metadata.name`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Transform {
    /// Reads the one Transform in a YAML (or JSON) text of one or more documents.
    pub fn from_yaml(text: &str) -> Result<Self, ManifestError> {
        let mut transforms = Vec::new();
        for document in serde_yaml::Deserializer::from_str(text) {
            let value = Value::deserialize(document).map_err(|error| ManifestError::Parse(error.to_string()))?;
            if value.is_null() {
                continue; // An empty document, e.g. after a trailing `---`.
            }
            transforms.push(Self::from_value(value)?);
        }
        match transforms.len() {
            1 => Ok(transforms.remove(0)),
            count => Err(ManifestError::Count(count)),
        }
    }

    /// Reads a Transform from one JSON value, checking its kind and required fields.
    pub fn from_value(value: Value) -> Result<Self, ManifestError> {
        let text = |field: &str| value.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        if api_version != API_VERSION || kind != "Transform" {
            return Err(ManifestError::NotATransform { api_version, kind });
        }
        let transform: Transform =
            serde_json::from_value(value).map_err(|error| ManifestError::Parse(error.to_string()))?;
        transform.check()?;
        Ok(transform)
    }

    fn check(&self) -> Result<(), ManifestError> {
        if self.metadata.name.is_empty() {
            return Err(ManifestError::Invalid { field: "metadata.name", message: "must not be empty".into() });
        }
        if self.spec.cue_ref.reference.trim().is_empty() {
            return Err(ManifestError::Invalid { field: "spec.cueRef.ref", message: "must not be empty".into() });
        }
        if !self.spec.input.is_object() {
            return Err(ManifestError::Invalid { field: "spec.input", message: "must be an object".into() });
        }
        Ok(())
    }

    /// The Transform's namespace, `default` when the manifest names none.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// The context a render of this Transform gets: its name and namespace, the labels every rendered object
    /// carries, and the cluster's capabilities and observed state as the caller knows them.
    pub fn render_context(
        &self,
        capabilities: serde_json::Map<String, Value>,
        observed: serde_json::Map<String, Value>,
    ) -> RenderContext {
        let labels = BTreeMap::from([
            (MANAGED_BY_LABEL.to_owned(), "pequod".to_owned()),
            (TRANSFORM_LABEL.to_owned(), self.metadata.name.clone()),
        ]);
        RenderContext {
            name: self.metadata.name.clone(),
            namespace: self.namespace().to_owned(),
            labels,
            capabilities,
            observed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = "
apiVersion: platform.pequod.io/v1alpha1
kind: Transform
metadata:
  name: shop
  namespace: team-a
spec:
  cueRef: {type: embedded, ref: webservice-example}
  input:
    image: nginx:1.27
";

    #[test]
    fn reads_a_transform_and_builds_its_context() {
        let transform = Transform::from_yaml(SHOP).unwrap();
        assert_eq!(transform.spec.cue_ref.source, SourceType::Embedded);
        assert_eq!(transform.spec.input["image"], "nginx:1.27");
        let context = transform.render_context(Default::default(), Default::default());
        assert_eq!((context.name.as_str(), context.namespace.as_str()), ("shop", "team-a"));
        assert_eq!(context.labels[TRANSFORM_LABEL], "shop");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let error = |text: &str| Transform::from_yaml(text).unwrap_err().to_string();
        assert_eq!(
            error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"),
            "expected apiVersion platform.pequod.io/v1alpha1 and kind Transform, found apiVersion \"v1\" and kind \"ConfigMap\""
        );
        assert!(error(&SHOP.replace("cueRef", "cueref")).contains("unknown field `cueref`"));
        assert!(error(&SHOP.replace("embedded", "ftp")).contains("unknown variant `ftp`"));
        assert_eq!(error(&format!("{SHOP}---\n{SHOP}")), "expected exactly one Transform document, found 2");
        assert_eq!(error(""), "expected exactly one Transform document, found 0");
        assert_eq!(error(&SHOP.replace("name: shop", "name: ''")), "metadata.name: must not be empty");
        assert_eq!(error(&SHOP.replace("    image: nginx:1.27", "    - 1")), "spec.input: must be an object");
        assert!(error("{").contains("while parsing a flow node"), "{}", error("{"));
    }

    #[test]
    fn namespace_defaults_to_default() {
        let transform = Transform::from_yaml(&SHOP.replace("  namespace: team-a\n", "")).unwrap();
        assert_eq!(transform.namespace(), "default");
    }
}
