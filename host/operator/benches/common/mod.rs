//! What the operator benchmarks share.

#![allow(dead_code, reason = "each benchmark uses a different subset")]

use kube::api::{Api, Patch, PatchParams};
use pequod_api::Transform;
use serde_json::json;

/// A Transform `name` of the embedded `webservice` module with `replicas`.
pub fn webservice(name: &str, replicas: u32) -> serde_json::Value {
    json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform", "metadata": {"name": name},
        "spec": {"cueRef": {"type": "embedded", "ref": "webservice"},
                 "input": {"image": "ghcr.io/acme/shop:1.4.2", "replicas": replicas}}})
}

/// Applies `count` Transforms of the embedded `webservice` module, `svc-0` … `svc-<count-1>`.
pub async fn apply_webservices(transforms: &Api<Transform>, count: usize) {
    for index in 0..count {
        let name = format!("svc-{index}");
        let manifest = webservice(&name, 2);
        transforms.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&manifest)).await.unwrap();
    }
}
