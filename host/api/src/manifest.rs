//! Reading a Transform from a manifest file, strictly, for the CLI.

use serde::Deserialize;
use serde_json::Value;

use crate::{API_VERSION, Transform};

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

/// Reads the one Transform in a YAML (or JSON) text of one or more documents.
pub fn parse_transform(text: &str) -> Result<Transform, ManifestError> {
    let mut transforms = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|error| ManifestError::Parse(error.to_string()))?;
        if value.is_null() {
            continue; // An empty document, e.g. after a trailing `---`.
        }
        transforms.push(from_value(value)?);
    }
    match transforms.len() {
        1 => Ok(transforms.remove(0)),
        count => Err(ManifestError::Count(count)),
    }
}

/// Reads a Transform from one JSON value, checking its kind and required fields.
fn from_value(value: Value) -> Result<Transform, ManifestError> {
    let text = |field: &str| value.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if api_version != API_VERSION || kind != "Transform" {
        return Err(ManifestError::NotATransform { api_version, kind });
    }
    let transform: Transform =
        serde_json::from_value(value).map_err(|error| ManifestError::Parse(error.to_string()))?;
    check(&transform)?;
    Ok(transform)
}

fn check(transform: &Transform) -> Result<(), ManifestError> {
    if transform.metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err(ManifestError::Invalid { field: "metadata.name", message: "must not be empty".into() });
    }
    if transform.spec.cue_ref.reference.trim().is_empty() {
        return Err(ManifestError::Invalid { field: "spec.cueRef.ref", message: "must not be empty".into() });
    }
    if !transform.spec.input.is_object() {
        return Err(ManifestError::Invalid { field: "spec.input", message: "must be an object".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SourceType, TRANSFORM_LABEL, render_context};

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
        let transform = parse_transform(SHOP).unwrap();
        assert_eq!(transform.spec.cue_ref.source, SourceType::Embedded);
        assert_eq!(transform.spec.input["image"], "nginx:1.27");
        let context = render_context(&transform, Default::default(), Default::default());
        assert_eq!((context.name.as_str(), context.namespace.as_str()), ("shop", "team-a"));
        assert_eq!(context.labels[TRANSFORM_LABEL], "shop");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let error = |text: &str| parse_transform(text).unwrap_err().to_string();
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
        let transform = parse_transform(&SHOP.replace("  namespace: team-a\n", "")).unwrap();
        assert_eq!(render_context(&transform, Default::default(), Default::default()).namespace, "default");
    }
}
