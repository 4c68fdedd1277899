//! Harder operator scenarios on a real kube-apiserver: drift and field-manager conflicts, adoption, abandon,
//! a restart halfway through a graph, an API server outage, and many Transforms at once.

mod common;

use std::time::{Duration, Instant};

use common::{
    FlakyProxy, Operator, apply, apply_transform, cluster, condition, eventually, eventually_within, ready, transform,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use pequod_api::{InventoryMode, NodeState, ResourceGraph, Transform};
use pequod_test_harness::mark_deployment_available;
use serde_json::json;

fn node_error(graph: &ResourceGraph, id: &str) -> Option<String> {
    graph.status.as_ref()?.nodes.iter().find(|node| node.id == id)?.last_error.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_and_conflicts_name_the_other_manager() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("drift").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);

    apply_transform(&client, &namespace, "web", json!({"image": "nginx:1.27"})).await;
    eventually("the Deployment", || async { deployments.get_opt("web").await.unwrap() }).await;
    mark_deployment_available(&client, &namespace, "web").await.unwrap();
    ready(&client, &namespace, "web").await;

    // A deleted object comes back well before the periodic resync: the drift watch woke the graph.
    let before = services.get("web").await.unwrap().metadata.uid;
    services.delete("web", &DeleteParams::default()).await.unwrap();
    let recreated = eventually_within(Duration::from_secs(20), "the Service to be re-created", || async {
        let service = services.get_opt("web").await.unwrap()?;
        (service.metadata.uid != before).then_some(service)
    })
    .await;
    let labels = recreated.metadata.labels.unwrap();
    assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("pequod"));

    // Another manager takes a field we own: with conflictPolicy Fail the node reports who and what.
    let intruder = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:evil"}]}}}});
    deployments.patch("web", &PatchParams::apply("intruder").force(), &Patch::Apply(&intruder)).await.unwrap();
    let error = eventually("the conflict on the deployment node", || async {
        let graph = graphs.get("web").await.unwrap();
        node_error(&graph, "deployment").filter(|error| error.contains("conflict"))
    })
    .await;
    assert!(error.contains("intruder"), "the other manager is named: {error}");
    assert!(error.contains("image"), "the field is named: {error}");
    assert!(error.contains("conflictPolicy: Force"), "the way out is named: {error}");
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let transform = eventually("Ready=False", || async {
        let transform = transforms.get("web").await.unwrap();
        (condition(&transform, "Ready")?.reason == "ApplyFailed").then_some(transform)
    })
    .await;
    assert!(condition(&transform, "Ready").unwrap().message.contains("intruder"));
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// The Deployment the example module renders for `name`, to create it beforehand as someone else would.
async fn rendered_deployment(namespace: &str, name: &str, image: &str) -> serde_json::Value {
    let sandbox = pequod_sandbox::Sandbox::new(Default::default()).unwrap();
    let module = sandbox.load(pequod_embedded::find("webservice-example").unwrap().component().unwrap()).unwrap();
    let manifest = serde_json::to_string(&transform(name, json!({"image": image}))).unwrap();
    let mut transform = pequod_api::parse_transform(&manifest).unwrap();
    transform.metadata.namespace = Some(namespace.to_owned());
    let context = pequod_api::render_context(&transform, Default::default(), Default::default());
    let rendered = sandbox.render(&module, &transform.spec.input, &context, &Default::default()).await.unwrap();
    let node = rendered.graph.nodes.into_iter().find(|node| node.object["kind"] == "Deployment").unwrap();
    let mut object = node.object;
    object["metadata"]["labels"] = json!({"team": "legacy"});
    object
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_objects_are_taken_over_only_when_listed_in_adopt() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("adopt").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);

    let existing = rendered_deployment(&namespace, "legacy", "nginx:1.25").await;
    let resource = ApiResource::erase::<Deployment>(&());
    let dynamic: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
    let existing: DynamicObject = serde_json::from_value(existing).unwrap();
    let created = dynamic
        .create(&PostParams { field_manager: Some("legacy-tool".into()), ..Default::default() }, &existing)
        .await
        .unwrap();

    // Not listed: refused, and the object is left alone.
    apply_transform(&client, &namespace, "legacy", json!({"image": "nginx:1.27"})).await;
    let error =
        eventually("the refusal", || async { node_error(&graphs.get_opt("legacy").await.unwrap()?, "deployment") })
            .await;
    assert!(error.contains("spec.adopt"), "the error says how to adopt: {error}");
    let untouched = deployments.get("legacy").await.unwrap();
    assert_eq!(untouched.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:1.25"));

    // Listed: taken over in place (same uid), marked as adopted in the inventory.
    let mut manifest = transform("legacy", json!({"image": "nginx:1.27"}));
    manifest["spec"]["adopt"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy"}]);
    apply(&client, &namespace, &manifest).await;
    let adopted = eventually("the adopted image", || async {
        let deployment = deployments.get("legacy").await.unwrap();
        let image = deployment.spec.as_ref()?.template.spec.as_ref()?.containers[0].image.clone();
        (image.as_deref() == Some("nginx:1.27")).then_some(deployment)
    })
    .await;
    assert_eq!(adopted.metadata.uid, created.metadata.uid, "adopted in place, not re-created");
    mark_deployment_available(&client, &namespace, "legacy").await.unwrap();
    ready(&client, &namespace, "legacy").await;
    let graph = graphs.get("legacy").await.unwrap();
    let entry = graph.status.unwrap().inventory.into_iter().find(|entry| entry.node == "deployment").unwrap();
    assert_eq!(entry.mode, InventoryMode::Adopted);
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_deletion_leaves_objects_without_our_ownership() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("orphan").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);

    let mut manifest = transform("keep", json!({"image": "nginx:1.27"}));
    manifest["spec"]["deletionPolicy"] = json!("Orphan");
    apply(&client, &namespace, &manifest).await;
    eventually("the Deployment", || async { deployments.get_opt("keep").await.unwrap() }).await;
    mark_deployment_available(&client, &namespace, "keep").await.unwrap();
    ready(&client, &namespace, "keep").await;

    transforms.delete("keep", &DeleteParams::foreground()).await.unwrap();
    eventually("the Transform to be gone", || async {
        transforms.get_opt("keep").await.unwrap().is_none().then_some(())
    })
    .await;
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    eventually("the graph to be gone", || async { graphs.get_opt("keep").await.unwrap().is_none().then_some(()) })
        .await;
    let kept = deployments.get("keep").await.expect("an orphaned object stays");
    let managers: Vec<_> = kept.metadata.managed_fields.iter().flatten().filter_map(|e| e.manager.clone()).collect();
    assert!(
        !managers.iter().any(|m| m == "pequod"),
        "Pequod no longer owns fields: {:#?}",
        kept.metadata.managed_fields
    );
    let labels = kept.metadata.labels.unwrap_or_default();
    assert!(!labels.contains_key("app.kubernetes.io/managed-by"), "{labels:?}");
    assert_eq!(kept.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:1.27"));
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_resumes_without_repeating_work() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("restart").await.unwrap();
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &namespace);

    let first = Operator::start(client.clone(), &namespace);
    apply_transform(&client, &namespace, "resume", json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 3}}))
        .await;
    eventually("the HPA to wait", || async {
        let status = graphs.get_opt("resume").await.unwrap()?.status?;
        status.nodes.iter().any(|n| n.id == "hpa" && n.state == NodeState::Pending).then_some(())
    })
    .await;
    first.kill().await;

    let second = Operator::start(client.clone(), &namespace);
    mark_deployment_available(&client, &namespace, "resume").await.unwrap();
    ready(&client, &namespace, "resume").await;
    assert!(autoscalers.get_opt("resume").await.unwrap().is_some());
    let applied = second.counter("pequod_applies_total{result=\"applied\"}");
    assert_eq!(applied, 1, "only the HPA is applied after the restart; the rest was done before");
    assert!(second.counter("pequod_applies_total{result=\"unchanged\"}") >= 2);
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_during_apply_is_survived() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("outage").await.unwrap();
    let proxy = FlakyProxy::start(cluster).await;
    let operator = Operator::start(proxy.client(cluster), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);

    apply_transform(&client, &namespace, "steady", json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 3}}))
        .await;
    eventually("the Deployment", || async { deployments.get_opt("steady").await.unwrap() }).await;
    proxy.down();
    // The HPA becomes applicable while the operator cannot reach the server.
    mark_deployment_available(&client, &namespace, "steady").await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(operator.is_running(), "an outage must not stop the operator");
    proxy.up();
    ready(&client, &namespace, "steady").await;
    assert!(operator.is_running());
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_transforms_at_once() {
    const COUNT: usize = 50;
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("fifty").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let started = Instant::now();
    let names: Vec<String> = (0..COUNT).map(|i| format!("app-{i}")).collect();
    futures::future::join_all(
        names.iter().map(|name| apply_transform(&client, &namespace, name, json!({"image": "nginx:1.27"}))),
    )
    .await;
    // Play the kubelet: every Deployment that appears becomes available.
    let mut marked = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        for deployment in deployments.list(&Default::default()).await.unwrap() {
            let name = deployment.metadata.name.unwrap();
            if !marked.contains(&name) {
                mark_deployment_available(&client, &namespace, &name).await.unwrap();
                marked.insert(name);
            }
        }
        let list = transforms.list(&Default::default()).await.unwrap();
        let ready = list.items.iter().filter(|t| condition(t, "Ready").is_some_and(|c| c.status == "True")).count();
        if ready == COUNT {
            break;
        }
        assert!(Instant::now() < deadline, "only {ready}/{COUNT} Transforms Ready after 240 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    #[expect(clippy::print_stderr, reason = "a figure for the test log")]
    {
        eprintln!("{COUNT} Transforms Ready in {:.1} s", started.elapsed().as_secs_f64());
    }
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// A raw HTTP/1.0 GET on loopback: status code and body.
async fn http_get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_endpoints_tell_health_and_metrics() {
    use k8s_openapi::api::coordination::v1::Lease;
    use pequod_operator::{Context, LeaderElection, Options, RunOptions};
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("leader").await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let start = |identity: &str, metrics_address| {
        let sandbox = pequod_sandbox::Sandbox::new(Default::default()).unwrap();
        let options = Options { namespace: Some(namespace.clone()), ..Options::default() };
        let context = Context::with_options(client.clone(), sandbox, options);
        let mut election = LeaderElection::new(namespace.clone(), "pequod-test", identity);
        // Margins for a loaded 2-core CI machine: a leader starved of CPU for 2 s must not lose the lease.
        election.lease_duration = Duration::from_secs(8);
        election.renew_deadline = Duration::from_secs(6);
        election.retry_period = Duration::from_secs(1);
        let options = RunOptions { metrics_address, leader_election: Some(election) };
        tokio::spawn(pequod_operator::run_with(context, options))
    };
    let holder =
        || async { leases.get_opt("pequod-test").await.unwrap().and_then(|lease| lease.spec?.holder_identity) };

    let address = free_port();
    let first = start("first", Some(address));
    eventually("the first replica to lead", || async { (holder().await.as_deref() == Some("first")).then_some(()) })
        .await;
    let second = start("second", None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(holder().await.as_deref(), Some("first"), "a valid lease is not taken over");

    // The endpoints of the leader.
    assert_eq!(http_get(address, "/healthz").await.0, 200);
    let (status, body) = http_get(address, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    apply_transform(&client, &namespace, "measured", json!({"image": "nginx:1.27"})).await;
    let metrics = eventually("metrics of a render", || async {
        let (_, body) = http_get(address, "/metrics").await;
        let done = body.contains("pequod_renders_total{result=\"ok\"}")
            && body.contains("pequod_reconciles_total{controller=\"Transform\"}");
        done.then_some(body)
    })
    .await;
    assert!(metrics.contains("pequod_render_duration_seconds_bucket"), "{metrics}");

    // The leader dies without releasing: the standby takes over once the lease expires.
    first.abort();
    eventually("the second replica to lead", || async { (holder().await.as_deref() == Some("second")).then_some(()) })
        .await;
    assert!(!second.is_finished());
    second.abort();
    cluster.delete_namespace(&namespace).await.unwrap();
}
