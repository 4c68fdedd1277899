//! PlatformPolicies on a real kube-apiserver: sandbox limits and target rules end in conditions, violations
//! and Events, and nothing is applied. PlatformPolicy is cluster-scoped, so these tests have a test binary
//! (and an API server) of their own.

mod common;

use common::{Operator, apply_transform, cluster, condition, eventually, reasons};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use pequod_api::{PlatformPolicy, ResourceGraph, Transform};
use serde_json::json;

async fn set_policy(client: &kube::Client, spec: serde_json::Value) {
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    let policy = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "PlatformPolicy",
        "metadata": {"name": "test-policy"}, "spec": spec});
    policies.patch("test-policy", &PatchParams::apply("e2e-test").force(), &Patch::Apply(&policy)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_limits_and_target_rules_of_platform_policies() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("policy").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);

    // Too little fuel for the module: a condition and an Event, no graph, nothing applied.
    set_policy(&client, json!({"sandbox": {"fuel": 1000}})).await;
    apply_transform(&client, &namespace, "starved", json!({"image": "nginx:1.27"})).await;
    let transform = eventually("Rendered=False", || async {
        let transform = transforms.get("starved").await.unwrap();
        (condition(&transform, "Rendered")?.status == "False").then_some(transform)
    })
    .await;
    assert_eq!(condition(&transform, "Rendered").unwrap().reason, "FuelExhausted");
    assert_eq!(condition(&transform, "Ready").unwrap().status, "False");
    assert!(graphs.get_opt("starved").await.unwrap().is_none());
    assert!(deployments.get_opt("starved").await.unwrap().is_none());
    eventually("a FuelExhausted event", || async {
        reasons(&client, &namespace, "starved").await.iter().any(|r| r == "FuelExhausted").then_some(())
    })
    .await;

    // A denied kind: the policy check fails before anything is applied, naming the node.
    set_policy(
        &client,
        json!({"targets": {"deniedKinds": [{"group": "autoscaling", "kind": "HorizontalPodAutoscaler"}]}}),
    )
    .await;
    apply_transform(&client, &namespace, "scaled", json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 3}}))
        .await;
    let transform = eventually("PolicyPassed=False", || async {
        let transform = transforms.get("scaled").await.unwrap();
        (condition(&transform, "PolicyPassed")?.status == "False").then_some(transform)
    })
    .await;
    let violations = transform.status.unwrap().violations;
    assert!(violations.iter().any(|v| v.path.starts_with("hpa")), "{violations:?}");
    assert!(graphs.get_opt("scaled").await.unwrap().is_none());
    assert!(deployments.get_opt("scaled").await.unwrap().is_none());
    eventually("a TargetDenied event", || async {
        reasons(&client, &namespace, "scaled").await.iter().any(|r| r == "TargetDenied").then_some(())
    })
    .await;

    // Without the denial the same Transform renders and is handed over, with a Rendered event.
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    policies.delete("test-policy", &DeleteParams::default()).await.unwrap();
    eventually("the policy to be gone", || async {
        policies.get_opt("test-policy").await.unwrap().is_none().then_some(())
    })
    .await;
    apply_transform(&client, &namespace, "scaled", json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 4}}))
        .await;
    eventually("the graph", || async { graphs.get_opt("scaled").await.unwrap() }).await;
    eventually("a Rendered event", || async {
        reasons(&client, &namespace, "scaled").await.iter().any(|r| r == "Rendered").then_some(())
    })
    .await;
    cluster.delete_namespace(&namespace).await.unwrap();
}
