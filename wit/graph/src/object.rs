//! Reading the identity of a Kubernetes object held as JSON.

use serde_json::Value;

/// What makes two objects the same object in a cluster: API group, kind, namespace and name. The version is
/// left out on purpose: `apps/v1` and `apps/v1beta1` Deployments of one name are one object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectIdentity {
    /// The API group (`apps`), empty for the core group.
    pub group: String,
    /// The kind (`Deployment`).
    pub kind: String,
    /// The namespace; `None` when the object names none (namespaced objects then go to the Transform's
    /// namespace, cluster-scoped objects have none).
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectIdentity {
    /// Reads the identity of `object`, or says which required field is missing or malformed.
    pub fn of(object: &Value) -> Result<Self, &'static str> {
        let map = object.as_object().ok_or("object must be a JSON object")?;
        let api_version = non_empty_str(map.get("apiVersion")).ok_or("apiVersion")?;
        let kind = non_empty_str(map.get("kind")).ok_or("kind")?;
        let metadata = map.get("metadata").and_then(Value::as_object).ok_or("metadata")?;
        let name = non_empty_str(metadata.get("name")).ok_or("metadata.name")?;
        let namespace = match metadata.get("namespace") {
            None | Some(Value::Null) => None,
            Some(value) => Some(non_empty_str(Some(value)).ok_or("metadata.namespace")?),
        };
        let group = match api_version.split_once('/') {
            Some((group, _version)) => group,
            None => "",
        };
        Ok(Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for ObjectIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() { "core" } else { &self.group };
        match &self.namespace {
            Some(namespace) => write!(f, "{}.{group} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{}.{group} {}", self.kind, self.name),
        }
    }
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|text| !text.is_empty())
}

/// Whether `id` is a DNS label: 1 to 63 lowercase letters, digits and `-`, starting and ending with a letter
/// or digit.
pub(crate) fn is_dns_label(id: &str) -> bool {
    let bytes = id.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (1..=63).contains(&bytes.len()) && bytes.iter().all(allowed) && edge(bytes.first()) && edge(bytes.last())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_ignores_version_and_reads_core_group() {
        let a = ObjectIdentity::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team"}}))
        .unwrap();
        let b = ObjectIdentity::of(&json!({"apiVersion": "apps/v1beta1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team"}}))
        .unwrap();
        assert_eq!(a, b);
        let service = ObjectIdentity::of(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}));
        assert_eq!(service.unwrap().to_string(), "Service.core web");
    }

    #[test]
    fn identity_names_the_missing_field() {
        assert_eq!(ObjectIdentity::of(&json!([])), Err("object must be a JSON object"));
        assert_eq!(ObjectIdentity::of(&json!({"kind": "X"})), Err("apiVersion"));
        assert_eq!(ObjectIdentity::of(&json!({"apiVersion": "v1", "kind": ""})), Err("kind"));
        assert_eq!(ObjectIdentity::of(&json!({"apiVersion": "v1", "kind": "X"})), Err("metadata"));
        assert_eq!(ObjectIdentity::of(&json!({"apiVersion": "v1", "kind": "X", "metadata": {}})), Err("metadata.name"));
        let bad_namespace = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "namespace": 3}});
        assert_eq!(ObjectIdentity::of(&bad_namespace), Err("metadata.namespace"));
    }

    #[test]
    fn dns_labels() {
        for good in ["a", "web", "db-0", "0a", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
