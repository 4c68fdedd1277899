//! The executor never loses what it manages, on a real kube-apiserver: renaming a node, a cluster-scoped node
//! that names a namespace, two Transforms claiming one object, a ResourceGraph deleted alone, suspend, a
//! finalizer whose CRD is gone, objects protected from prune, a prune grace period, a 500-node status.

mod common;

use std::time::Duration;

use common::{Operator, apply, cluster, eventually, passthrough};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use pequod_api::{PlatformPolicy, ResourceGraph, Transform};
use serde_json::{Value, json};

fn config_map(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}})
}

async fn uid(maps: &Api<ConfigMap>, name: &str) -> Option<String> {
    maps.get_opt(name).await.unwrap()?.metadata.uid
}

fn node_error(graph: &ResourceGraph, id: &str) -> Option<String> {
    graph.status.as_ref()?.nodes.iter().find(|node| node.id == id)?.last_error.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_a_node_keeps_its_object() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("rename").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    apply(&client, &namespace, &passthrough("data", json!({"store": {"object": config_map("data", "1")}}))).await;
    common::ready(&client, &namespace, "data").await;
    let before = uid(&maps, "data").await.unwrap();
    apply(&client, &namespace, &passthrough("data", json!({"volume": {"object": config_map("data", "2")}}))).await;
    eventually("the new value under the new node id", || async {
        let map = maps.get("data").await.ok()?;
        (map.data?.get("k").map(String::as_str) == Some("2")).then_some(())
    })
    .await;
    common::ready(&client, &namespace, "data").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(uid(&maps, "data").await, Some(before), "the object was never deleted and re-created");
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_scoped_node_that_names_a_namespace_is_applied_once() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("scoped").await.unwrap();
    let operator = Operator::start(client.clone(), &namespace);
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    let policy = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "PlatformPolicy",
        "metadata": {"name": "scoped"}, "spec": {"namespaces": [namespace], "targets": {"allowClusterScoped": true}}});
    policies.patch("scoped", &PatchParams::apply("e2e-test").force(), &Patch::Apply(&policy)).await.unwrap();
    let class_name = format!("{namespace}-class");
    let class = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": class_name, "namespace": namespace}, "value": 1000});
    apply(&client, &namespace, &passthrough("class", json!({"class": {"object": class}}))).await;
    common::ready(&client, &namespace, "class").await;
    let classes: Api<PriorityClass> = Api::all(client.clone());
    let before = classes.get(&class_name).await.unwrap().metadata.uid;
    let applied = operator.counter("pequod_applies_total{result=\"applied\"}");
    // Several reconciles later: the same object, not applied again.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(classes.get(&class_name).await.unwrap().metadata.uid, before);
    assert_eq!(operator.counter("pequod_applies_total{result=\"applied\"}"), applied, "no apply after Ready");
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let inventory = graphs.get("class").await.unwrap().status.unwrap().inventory;
    assert_eq!(inventory.len(), 1);
    assert_eq!(inventory[0].namespace, None);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    transforms.delete("class", &DeleteParams::default()).await.unwrap();
    eventually("the PriorityClass to be deleted with its Transform", || async {
        classes.get_opt(&class_name).await.unwrap().is_none().then_some(())
    })
    .await;
    policies.delete("scoped", &DeleteParams::default()).await.unwrap();
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_of_another_graph_is_refused_naming_it() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("claims").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);

    apply(&client, &namespace, &passthrough("first", json!({"shared": {"object": config_map("shared", "first")}})))
        .await;
    common::ready(&client, &namespace, "first").await;
    let mut second = passthrough("second", json!({"shared": {"object": config_map("shared", "second")}}));
    second["spec"]["adopt"] = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "shared"}]);
    apply(&client, &namespace, &second).await;
    let error =
        eventually("the refusal", || async { node_error(&graphs.get_opt("second").await.unwrap()?, "shared") }).await;
    assert!(error.contains("first"), "the other graph is named: {error}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(maps.get("shared").await.unwrap().data.unwrap()["k"], "first", "no flip-flop");
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_only_the_resource_graph_keeps_the_objects() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("regraph").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);

    apply(&client, &namespace, &passthrough("kept", json!({"config": {"object": config_map("kept", "1")}}))).await;
    common::ready(&client, &namespace, "kept").await;
    let before = uid(&maps, "kept").await.unwrap();
    let old_graph = graphs.get("kept").await.unwrap().metadata.uid;
    graphs.delete("kept", &DeleteParams::default()).await.unwrap();
    eventually("a new ResourceGraph", || async {
        let graph = graphs.get_opt("kept").await.unwrap()?;
        (graph.metadata.uid != old_graph && graph.metadata.deletion_timestamp.is_none()).then_some(())
    })
    .await;
    common::ready(&client, &namespace, "kept").await;
    assert_eq!(uid(&maps, "kept").await, Some(before), "the object survived its graph's deletion");
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_stops_every_write() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("suspend").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    let mut manifest = passthrough("paused", json!({"config": {"object": config_map("paused", "1")}}));
    apply(&client, &namespace, &manifest).await;
    common::ready(&client, &namespace, "paused").await;
    manifest["spec"]["suspend"] = json!(true);
    apply(&client, &namespace, &manifest).await;
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    eventually("the graph to say Suspended", || async {
        let graph = graphs.get("paused").await.ok()?;
        graph.status?.conditions.into_iter().find(|c| c.type_ == "Ready" && c.reason == "Suspended")
    })
    .await;
    maps.delete("paused", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(maps.get_opt("paused").await.unwrap().is_none(), "no drift correction while suspended");
    manifest["spec"]["suspend"] = json!(false);
    apply(&client, &namespace, &manifest).await;
    eventually("the object back after resuming", || async { maps.get_opt("paused").await.unwrap() }).await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

fn widget_crd(group: &str) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_objects_survive_prune_and_cleanup() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("finish").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let group = format!("{namespace}.example.com");
    cluster.install_crds(&[widget_crd(&group)]).await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);

    let mut protected = config_map("protected", "1");
    protected["metadata"]["annotations"] = json!({"platform.pequod.io/prune": "disabled"});
    let widget = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w"}, "spec": {}});
    let nodes = json!({"protected": {"object": protected}, "widget": {"object": widget}});
    apply(&client, &namespace, &passthrough("finish", nodes)).await;
    common::ready(&client, &namespace, "finish").await;

    // The protected object's node leaves the graph: it is abandoned, not deleted.
    apply(&client, &namespace, &passthrough("finish", json!({"widget": {"object": widget}}))).await;
    eventually("the protected object abandoned", || async {
        let map = maps.get("protected").await.ok()?;
        let labels = map.metadata.labels.unwrap_or_default();
        (!labels.contains_key("app.kubernetes.io/managed-by")).then_some(())
    })
    .await;

    transforms.delete("finish", &DeleteParams::default()).await.unwrap();
    eventually("the graph's finalizer to finish", || async {
        graphs.get_opt("finish").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(maps.get_opt("protected").await.unwrap().is_some(), "the protected object survived");
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// A PersistentVolumeClaim and a Secret whose nodes leave the graph are kept (abandoned, same uid) unless
/// their node says `deletionPolicy: Delete`; an Event names each object before and after it is pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_and_secrets_outlive_their_nodes_unless_told_otherwise() {
    use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("keep-data").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    let secret = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "stringData": {"password": "s3cret"}})
    };
    let delete = json!({"deletionPolicy": "Delete"});
    let nodes = json!({"claim": {"object": claim}, "secret": {"object": secret("kept")},
        "scratch": {"object": secret("scratch"), "applyPolicy": delete}, "config": {"object": config_map("config", "1")},
        "stays": {"object": config_map("stays", "1")}});
    apply(&client, &namespace, &passthrough("data", nodes)).await;
    common::ready(&client, &namespace, "data").await;
    let claim_uid = claims.get("data").await.unwrap().metadata.uid;
    let secret_uid = secrets.get("kept").await.unwrap().metadata.uid;

    apply(&client, &namespace, &passthrough("data", json!({"stays": {"object": config_map("stays", "1")}}))).await;
    eventually("the ConfigMap and the Secret marked Delete to be pruned", || async {
        let gone =
            maps.get_opt("config").await.unwrap().is_none() && secrets.get_opt("scratch").await.unwrap().is_none();
        gone.then_some(())
    })
    .await;
    let kept_claim = claims.get("data").await.unwrap();
    assert_eq!(kept_claim.metadata.uid, claim_uid, "the claim was never deleted");
    assert!(kept_claim.metadata.deletion_timestamp.is_none());
    let annotations = kept_claim.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("platform.pequod.io/resource-graph"), "the claim was abandoned");
    assert_eq!(secrets.get("kept").await.unwrap().metadata.uid, secret_uid, "the Secret was never deleted");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &namespace);
    let notes = eventually("the prune Events", || async {
        let notes: Vec<String> =
            events.list(&Default::default()).await.ok()?.items.into_iter().filter_map(|e| e.note).collect();
        let named = |text: &str| notes.iter().any(|note| note.contains(text));
        (named("PersistentVolumeClaim data") && named("Secret scratch") && named("will be pruned")).then_some(notes)
    })
    .await;
    assert!(notes.iter().any(|note| note.contains("PersistentVolumeClaims and Secrets are kept")), "{notes:?}");
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// With `spec.pruneGracePeriod`, an object whose node left the graph stays until the period runs out (an
/// Event says when); its node coming back in time cancels the prune.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_grace_period_keeps_objects_until_it_runs_out() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("grace").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let with_grace = |nodes: Value| {
        let mut manifest = passthrough("grace", nodes);
        manifest["spec"]["pruneGracePeriod"] = json!("8s");
        manifest
    };
    let both = json!({"stays": {"object": config_map("stays", "1")}, "leaves": {"object": config_map("leaves", "1")}});
    let one = json!({"stays": {"object": config_map("stays", "1")}});
    apply(&client, &namespace, &with_grace(both.clone())).await;
    common::ready(&client, &namespace, "grace").await;
    let before = uid(&maps, "leaves").await.unwrap();

    // Leaves, comes back within the grace period: the same object.
    apply(&client, &namespace, &with_grace(one.clone())).await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &namespace);
    eventually("the Event announcing the prune", || async {
        let items = events.list(&Default::default()).await.ok()?.items;
        items
            .into_iter()
            .filter_map(|event| event.note)
            .find(|note| note.contains("ConfigMap leaves") && note.contains("will be pruned in"))
    })
    .await;
    apply(&client, &namespace, &with_grace(both)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(uid(&maps, "leaves").await, Some(before.clone()), "the node came back in time: nothing was pruned");

    // Leaves for good: kept for the grace period, then pruned.
    apply(&client, &namespace, &with_grace(one)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(uid(&maps, "leaves").await, Some(before), "kept while the grace period runs");
    common::eventually_within(Duration::from_secs(40), "the prune after the grace period", || async {
        maps.get_opt("leaves").await.unwrap().is_none().then_some(())
    })
    .await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// A graph of 500 nodes (the default `maxNodes`) keeps its ResourceGraph status far below etcd's object size
/// limit (1.5 MiB): the status is measured and must stay under a quarter of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::print_stdout, reason = "the measured size is shown with --nocapture")]
async fn a_500_node_graph_has_a_small_status() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("large").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let nodes: serde_json::Map<String, Value> = (0..500)
        .map(|index| {
            let mut object = config_map(&format!("config-map-with-a-realistic-name-{index:03}"), "value");
            object["metadata"]["labels"] = json!({"app.kubernetes.io/name": "large", "index": index.to_string()});
            (format!("config-map-node-{index:03}"), json!({"object": object}))
        })
        .collect();
    apply(&client, &namespace, &passthrough("large", Value::Object(nodes))).await;
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let graph = common::eventually_within(Duration::from_secs(240), "all 500 nodes ready", || async {
        let graph = graphs.get_opt("large").await.unwrap()?;
        let status = graph.status.as_ref()?;
        (status.inventory.len() == 500 && status.phase == pequod_api::GraphPhase::Ready).then_some(graph)
    })
    .await;
    let status_bytes = serde_json::to_vec(&graph.status).unwrap().len();
    let object_bytes = serde_json::to_vec(&graph).unwrap().len();
    println!("500-node ResourceGraph: status {status_bytes} bytes, whole object {object_bytes} bytes");
    assert!(status_bytes < 1536 * 1024 / 4, "the status takes {status_bytes} bytes");
    assert!(object_bytes < 1536 * 1024 / 2, "the whole object takes {object_bytes} bytes");
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// The finalizer finishes when a kind the graph applied is gone from the cluster (its CRD deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finalizer_finishes_when_a_crd_is_gone() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("crd-gone").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let group = format!("{namespace}.example.com");
    cluster.install_crds(&[widget_crd(&group)]).await.unwrap();
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let widget = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w"}, "spec": {}});
    let nodes = json!({"widget": {"object": widget}, "config": {"object": config_map("config", "1")}});
    apply(&client, &namespace, &passthrough("gone", nodes)).await;
    common::ready(&client, &namespace, "gone").await;

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete(&format!("widgets.{group}"), &DeleteParams::default()).await.unwrap();
    eventually("the CRD to be gone", || async {
        crds.get_opt(&format!("widgets.{group}")).await.unwrap().is_none().then_some(())
    })
    .await;
    transforms.delete("gone", &DeleteParams::default()).await.unwrap();
    common::eventually_within(Duration::from_secs(60), "the graph's finalizer to finish", || async {
        graphs.get_opt("gone").await.unwrap().is_none().then_some(())
    })
    .await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert!(maps.get_opt("config").await.unwrap().is_none(), "the rest was cleaned up");
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// 60 ConfigMaps in one wave.
fn wide_graph() -> Value {
    let nodes: serde_json::Map<String, Value> = (0..60)
        .map(|index| (format!("node-{index:02}"), json!({"object": config_map(&format!("wide-{index:02}"), "v")})))
        .collect();
    passthrough("wide", Value::Object(nodes))
}

/// Waits until some but not all of the wide graph's objects exist; returns their uids by name.
async fn partly_applied(maps: &Api<ConfigMap>) -> std::collections::BTreeMap<String, String> {
    common::eventually_within(Duration::from_secs(60), "part of the wave applied", || async {
        let list = maps.list(&Default::default()).await.ok()?;
        let wide: std::collections::BTreeMap<String, String> = list
            .items
            .into_iter()
            .filter_map(|map| Some((map.metadata.name?, map.metadata.uid?)))
            .filter(|(name, _)| name.starts_with("wide-"))
            .collect();
        (!wide.is_empty()).then_some(wide)
    })
    .await
}

/// After the interruption: Ready, every object once, the ones applied before untouched (same uid), and an
/// inventory that names exactly the live objects.
async fn completed_without_loss(
    client: &kube::Client,
    namespace: &str,
    before: &std::collections::BTreeMap<String, String>,
) {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    common::ready(client, namespace, "wide").await;
    let live: std::collections::BTreeMap<String, String> = maps
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|map| Some((map.metadata.name?, map.metadata.uid?)))
        .filter(|(name, _)| name.starts_with("wide-"))
        .collect();
    assert_eq!(live.len(), 60, "every object exactly once");
    for (name, uid) in before {
        assert_eq!(live.get(name), Some(uid), "{name} was applied before the interruption and never re-created");
    }
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), namespace);
    let inventory = graphs.get("wide").await.unwrap().status.unwrap().inventory;
    let recorded: std::collections::BTreeMap<String, String> =
        inventory.into_iter().map(|entry| (entry.name, entry.uid.unwrap_or_default())).collect();
    assert_eq!(recorded, live, "the inventory names exactly the live objects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_apply_loses_nothing() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("killed").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let first = Operator::start(client.clone(), &namespace);
    apply(&client, &namespace, &wide_graph()).await;
    let before = partly_applied(&maps).await;
    first.kill().await;
    let _second = Operator::start(client.clone(), &namespace);
    completed_without_loss(&client, &namespace, &before).await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_mid_apply_loses_nothing() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("outage-wave").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let proxy = common::FlakyProxy::start(cluster).await;
    let operator = Operator::start(proxy.client(cluster), &namespace);
    apply(&client, &namespace, &wide_graph()).await;
    let before = partly_applied(&maps).await;
    proxy.down();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(operator.is_running(), "an outage must not stop the operator");
    proxy.up();
    completed_without_loss(&client, &namespace, &before).await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_transform_leaves_no_cached_render() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("forget").await.unwrap();
    let operator = Operator::start(client.clone(), &namespace);
    for name in ["kept", "gone"] {
        let nodes = json!({"map": {"object": config_map(&format!("{name}-map"), "1")}});
        apply(&client, &namespace, &passthrough(name, nodes)).await;
        common::ready(&client, &namespace, name).await;
    }
    let entries = || operator.counter("pequod_render_cache_entries");
    eventually("both renders cached", || async { (entries() == 2).then_some(()) }).await;
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    transforms.delete("gone", &DeleteParams::default()).await.unwrap();
    eventually("the Transform gone", || async { transforms.get_opt("gone").await.unwrap().is_none().then_some(()) })
        .await;
    eventually("its render forgotten", || async { (entries() == 1).then_some(()) }).await;
    cluster.delete_namespace(&namespace).await.unwrap();
}
