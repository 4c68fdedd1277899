//! What a diff leaves out of an object (fields the API server sets) and hides in it (Secret values).

use serde_json::{Map, Value};

/// The metadata fields the API server sets on every write: noise in a diff.
const SERVER_METADATA: [&str; 6] =
    ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"];

/// What a Secret value is shown as when it is the same on both sides.
pub const MASK: &str = "***";
/// What a changed Secret value is shown as on the live side.
pub const MASK_BEFORE: &str = "*** (before)";
/// What a changed Secret value is shown as on the dry-run side.
pub const MASK_AFTER: &str = "*** (after)";

/// The object without what the API server sets by itself: `status`, and `metadata.managedFields`,
/// `resourceVersion`, `generation`, `uid`, `creationTimestamp`, `selfLink`.
pub fn without_noise(object: &Value) -> Value {
    let mut object = object.clone();
    let Some(fields) = object.as_object_mut() else { return object };
    fields.remove("status");
    if let Some(metadata) = fields.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_METADATA {
            metadata.remove(field);
        }
    }
    object
}

/// Whether `object` is a core Secret, whose values a diff never shows.
fn is_secret(object: &Value) -> bool {
    object["apiVersion"] == "v1" && object["kind"] == "Secret"
}

/// Replaces the values of Secrets' `data` and `stringData` by masks: [`MASK`] where a key has the same value
/// on both sides, [`MASK_BEFORE`] and [`MASK_AFTER`] where it changed. Keys stay, so a diff shows which ones
/// were added, removed or changed, never a value.
pub fn mask_secrets(before: Option<&mut Value>, after: Option<&mut Value>) {
    let secret = before.as_deref().is_some_and(is_secret) || after.as_deref().is_some_and(is_secret);
    if !secret {
        return;
    }
    let (mut before, mut after) = (before, after);
    for field in ["data", "stringData"] {
        let old = before.as_deref_mut().and_then(|object| object.get_mut(field)).and_then(Value::as_object_mut);
        let new = after.as_deref_mut().and_then(|object| object.get_mut(field)).and_then(Value::as_object_mut);
        mask_values(old, new);
    }
}

fn mask_values(before: Option<&mut Map<String, Value>>, after: Option<&mut Map<String, Value>>) {
    let empty = Map::new();
    let old_values = before.as_deref().cloned().unwrap_or_else(|| empty.clone());
    let new_values = after.as_deref().cloned().unwrap_or(empty);
    let changed = |key: &str| matches!((old_values.get(key), new_values.get(key)), (Some(a), Some(b)) if a != b);
    if let Some(values) = before {
        for (key, value) in values.iter_mut() {
            *value = Value::from(if changed(key) { MASK_BEFORE } else { MASK });
        }
    }
    if let Some(values) = after {
        for (key, value) in values.iter_mut() {
            *value = Value::from(if changed(key) { MASK_AFTER } else { MASK });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn server_set_fields_are_left_out() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web", "namespace": "team", "uid": "u1", "resourceVersion": "42", "generation": 3,
                         "creationTimestamp": "2026-12-03T10:00:00Z", "managedFields": [{"manager": "pequod"}],
                         "selfLink": "/api/v1/…", "labels": {"app": "web"}, "annotations": {"note": "kept"}},
            "data": {"color": "blue"},
            "status": {"phase": "whatever"},
        });
        let expected = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web", "namespace": "team", "labels": {"app": "web"}, "annotations": {"note": "kept"}},
            "data": {"color": "blue"},
        });
        assert_eq!(without_noise(&live), expected);
        assert_eq!(without_noise(&json!("not an object")), json!("not an object"));
        assert_eq!(without_noise(&json!({"kind": "X"})), json!({"kind": "X"}));
    }

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": data})
    }

    #[test]
    fn secret_values_are_masked_but_changes_are_shown() {
        type Case = (Option<Value>, Option<Value>, Option<Value>, Option<Value>);
        let cases: Vec<Case> = vec![
            // same value: masked alike on both sides
            (
                Some(secret(json!({"password": "czNjcmV0"}))),
                Some(secret(json!({"password": "czNjcmV0"}))),
                Some(secret(json!({"password": MASK}))),
                Some(secret(json!({"password": MASK}))),
            ),
            // changed value: before and after differ, neither shows the value
            (
                Some(secret(json!({"password": "czNjcmV0", "user": "YWRtaW4="}))),
                Some(secret(json!({"password": "bmV3", "user": "YWRtaW4="}))),
                Some(secret(json!({"password": MASK_BEFORE, "user": MASK}))),
                Some(secret(json!({"password": MASK_AFTER, "user": MASK}))),
            ),
            // a key added, a key removed, a new Secret
            (
                Some(secret(json!({"old": "YQ=="}))),
                Some(secret(json!({"new": "Yg=="}))),
                Some(secret(json!({"old": MASK}))),
                Some(secret(json!({"new": MASK}))),
            ),
            (None, Some(secret(json!({"token": "dA=="}))), None, Some(secret(json!({"token": MASK})))),
        ];
        for (mut before, mut after, want_before, want_after) in cases {
            mask_secrets(before.as_mut(), after.as_mut());
            assert_eq!((before, after), (want_before, want_after));
        }
    }

    #[test]
    fn string_data_is_masked_and_other_kinds_are_left_alone() {
        let mut string_data = json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"password": "s3cret"}});
        mask_secrets(None, Some(&mut string_data));
        assert_eq!(string_data["stringData"]["password"], MASK);
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"password": "visible"}});
        let mut masked = config.clone();
        mask_secrets(None, Some(&mut masked));
        assert_eq!(masked, config);
        let mut custom = json!({"apiVersion": "example.com/v1", "kind": "Secret", "data": {"a": "b"}});
        mask_secrets(None, Some(&mut custom));
        assert_eq!(custom["data"]["a"], "b", "only core Secrets are masked");
    }
}
