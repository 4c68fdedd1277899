//! The baseline PlatformPolicy the chart installs (`deploy/baseline-policy.yaml`, generated from the chart), on
//! a real kube-apiserver: embedded modules render, inline CUE is refused naming the policy field that would
//! allow it, and OCI modules are refused until a policy lists a public key. PlatformPolicies are
//! cluster-scoped, so this test has a test binary (and an API server) of its own.

mod common;

use common::{Operator, apply, apply_transform, cluster, condition, eventually, transform};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use pequod_api::{PlatformPolicy, Transform};
use serde_json::{Value, json};

/// The baseline PlatformPolicy as shipped.
fn baseline() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/baseline-policy.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/baseline-policy.yaml is in the repository");
    serde_yaml::from_str(&text).expect("deploy/baseline-policy.yaml is one YAML document")
}

/// Waits until the Transform's condition `kind` has `status`, and returns its reason and message.
async fn wait_for(transforms: &Api<Transform>, name: &str, kind: &str, status: &str) -> (String, String) {
    eventually(&format!("{name}: {kind}={status}"), || async {
        let transform = transforms.get(name).await.ok()?;
        let condition = condition(&transform, kind)?;
        (condition.status == status).then(|| (condition.reason.clone(), condition.message.clone()))
    })
    .await
}

fn with_source(name: &str, source: Value) -> Value {
    let mut manifest = transform(name, json!({}));
    manifest["spec"]["cueRef"] = source;
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_baseline_allows_embedded_modules_and_refuses_unsigned_ones() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("baseline").await.unwrap();
    let policy = baseline();
    assert_eq!(policy["kind"], "PlatformPolicy");
    let name = policy["metadata"]["name"].as_str().unwrap().to_owned();
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    policies.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&policy)).await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);

    apply_transform(&client, &namespace, "embedded", json!({"image": "ghcr.io/stefanprodan/podinfo:6.7.1"})).await;
    wait_for(&transforms, "embedded", "Rendered", "True").await;

    let inline = json!({"type": "inline", "ref": "package x\nmodule: {name: \"x\", version: \"1.0.0\"}\n"});
    apply(&client, &namespace, &with_source("inline", inline)).await;
    let (reason, message) = wait_for(&transforms, "inline", "Verified", "False").await;
    assert_eq!(reason, "UntrustedSource", "{message}");
    assert!(message.contains("cueRef.type inline") && message.contains(&format!("PlatformPolicy {name}")), "{message}");
    assert!(message.contains("embedded, oci"), "{message}");

    let oci = json!({"type": "oci", "ref": "ghcr.io/acme/modules/web:1.0.0"});
    apply(&client, &namespace, &with_source("oci", oci)).await;
    let (reason, message) = wait_for(&transforms, "oci", "Verified", "False").await;
    assert!(message.contains("trust.publicKeys"), "{reason}: {message}");

    policies.delete(&name, &DeleteParams::default()).await.unwrap();
}
