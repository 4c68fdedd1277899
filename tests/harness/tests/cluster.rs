//! The harness itself, on the real control plane: the API server answers, namespaces work, owner
//! references are garbage-collected (kube-controller-manager runs), and status can be written as a kubelet
//! would.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use pequod_test_harness::{TestCluster, mark_deployment_available};
use serde_json::json;

#[tokio::test]
async fn control_plane_serves_collects_garbage_and_takes_status() {
    let cluster = TestCluster::shared().await;
    let client = cluster.client();
    let namespace = cluster.namespace("harness").await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    let owner: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap();
    let owner = config_maps.create(&PostParams::default(), &owner).await.unwrap();
    let owned: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owned", "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid.clone().unwrap()
    }]}}))
    .unwrap();
    config_maps.create(&PostParams::default(), &owned).await.unwrap();
    config_maps.delete("owner", &DeleteParams::background()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while config_maps.get_opt("owned").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the garbage collector did not delete the owned ConfigMap");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
    });
    deployments.patch("web", &PatchParams::apply("harness-test"), &Patch::Apply(&deployment)).await.unwrap();
    mark_deployment_available(&client, &namespace, "web").await.unwrap();
    let status = deployments.get("web").await.unwrap().status.unwrap();
    assert_eq!(status.available_replicas, Some(2));

    assert!(cluster.kubeconfig().exists());
    cluster.delete_namespace(&namespace).await.unwrap();
}
