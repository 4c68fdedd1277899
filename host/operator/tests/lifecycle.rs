//! The operator on a real kube-apiserver: a Transform becomes a ResourceGraph whose objects are applied in
//! dependency order, gated on readiness, pruned when they leave the graph, and deleted with the Transform.

mod common;

use common::{Operator, apply_transform, cluster, condition, eventually, transform};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use pequod_api::{ResourceGraph, Transform};
use pequod_test_harness::mark_deployment_available;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_lifecycle_on_a_real_api_server() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("lifecycle").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);

    // Create: the first wave is applied, the HPA waits for the Deployment to be available.
    apply_transform(&client, &namespace, "shop", json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 4}}))
        .await;
    eventually("the Deployment and Service", || async {
        let deployment = deployments.get_opt("shop").await.unwrap()?;
        services.get_opt("shop").await.unwrap()?;
        Some(deployment)
    })
    .await;
    let graph = eventually("the ResourceGraph to report the HPA as pending", || async {
        let graph = graphs.get_opt("shop").await.unwrap()?;
        let status = graph.status.clone()?;
        status.nodes.iter().any(|n| n.id == "hpa" && n.state == pequod_api::NodeState::Pending).then_some(graph)
    })
    .await;
    assert_eq!(graph.metadata.owner_references.as_ref().unwrap()[0].kind, "Transform");
    assert!(autoscalers.get_opt("shop").await.unwrap().is_none(), "the HPA must wait for the Deployment");
    let transform = transforms.get("shop").await.unwrap();
    assert_eq!(condition(&transform, "Ready").map(|c| c.status.as_str()), Some("False"));

    // Ready: once the Deployment is available the HPA is applied and the Transform becomes Ready.
    mark_deployment_available(&client, &namespace, "shop").await.unwrap();
    eventually("the HPA", || async { autoscalers.get_opt("shop").await.unwrap() }).await;
    let transform = eventually("the Transform to be Ready", || async {
        let transform = transforms.get("shop").await.unwrap();
        (condition(&transform, "Ready")?.status == "True").then_some(transform)
    })
    .await;
    let status = transform.status.unwrap();
    assert_eq!(status.nodes.unwrap().summary, "3/3");
    assert!(status.resolved_cue_ref.unwrap().digest.starts_with("sha256:"));

    // Update: dropping autoscaling prunes the HPA.
    apply_transform(&client, &namespace, "shop", json!({"image": "nginx:1.27"})).await;
    eventually("the HPA to be pruned", || async { autoscalers.get_opt("shop").await.unwrap().is_none().then_some(()) })
        .await;

    // A rejected input is reported with spec.input paths, and nothing already applied is touched.
    apply_transform(&client, &namespace, "shop", json!({"image": "nginx:1.27", "replicas": 50})).await;
    let transform = eventually("the rejection", || async {
        let transform = transforms.get("shop").await.unwrap();
        (condition(&transform, "Rendered")?.reason == "Rejected").then_some(transform)
    })
    .await;
    let violations = transform.status.unwrap().violations;
    assert_eq!(violations[0].path, "replicas");
    assert!(deployments.get_opt("shop").await.unwrap().is_some());

    // Delete: the finalizer removes the objects, then the graph goes.
    transforms.delete("shop", &DeleteParams::foreground()).await.unwrap();
    eventually("the objects to be deleted", || async {
        let gone =
            deployments.get_opt("shop").await.unwrap().is_none() && services.get_opt("shop").await.unwrap().is_none();
        gone.then_some(())
    })
    .await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_limits_and_missing_modules_are_conditions() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("conditions").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let mut missing = transform("missing", json!({}));
    missing["spec"]["cueRef"]["ref"] = json!("no-such-module");
    transforms.patch("missing", &PatchParams::apply("e2e-test"), &Patch::Apply(&missing)).await.unwrap();
    let transform = eventually("SourceReady=False", || async {
        let transform = transforms.get("missing").await.unwrap();
        (condition(&transform, "SourceReady")?.status == "False").then_some(transform)
    })
    .await;
    assert_eq!(condition(&transform, "SourceReady").unwrap().reason, "ModuleNotFound");
    assert_eq!(condition(&transform, "Ready").unwrap().status, "False");
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    assert!(graphs.get_opt("missing").await.unwrap().is_none(), "no graph without a module");
    cluster.delete_namespace(&namespace).await.unwrap();
}
