//! Sharding on a real kube-apiserver: operators started for the shards `blue` and `green` and a main operator
//! each reconcile only their own Transforms; a Transform whose label names no shard is reported; when the
//! blue shard's leader stops, its standby takes over without touching the green shard's objects.

mod common;

use std::time::Duration;

use common::{Operator, apply, cluster, condition, eventually, eventually_within, passthrough, reasons};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use pequod_api::{ResourceGraph, Transform};
use pequod_operator::{LeaderElection, Options, SHARD_LABEL, Sharding};
use serde_json::{Value, json};

fn config_map(name: &str, value: &str) -> Value {
    json!({"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}})
}

/// A passthrough Transform `name` rendering the ConfigMap `name` with `value`, in `shard` (unlabelled: None).
fn sharded(name: &str, shard: Option<&str>, value: &str) -> Value {
    let mut transform = passthrough(name, json!({"config": config_map(name, value)}));
    if let Some(shard) = shard {
        transform["metadata"]["labels"] = json!({SHARD_LABEL: shard});
    }
    transform
}

fn options(namespace: &str, sharding: Sharding) -> Options {
    Options { namespace: Some(namespace.to_owned()), sharding, ..Options::default() }
}

fn election(namespace: &str, sharding: &Sharding, identity: &str) -> LeaderElection {
    LeaderElection {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(500),
        ..LeaderElection::new(namespace, sharding.lease_name("pequod-operator"), identity)
    }
}

/// Whether the Transform `name` has been reconciled at all (it has a `Ready` condition).
async fn reconciled(transforms: &Api<Transform>, name: &str) -> bool {
    transforms.get(name).await.ok().and_then(|transform| condition(&transform, "Ready").cloned()).is_some()
}

async fn value(config_maps: &Api<ConfigMap>, name: &str) -> Option<String> {
    config_maps.get_opt(name).await.unwrap()?.data?.remove("v")
}

async fn wait_for_value(config_maps: &Api<ConfigMap>, name: &str, expected: &str) {
    eventually(&format!("ConfigMap {name} = {expected}"), || async {
        (value(config_maps, name).await.as_deref() == Some(expected)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_reconcile_only_their_transforms_and_fail_over_alone() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("sharding").await.unwrap();
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let blue = Sharding::Shard("blue".into());
    let green = Sharding::Shard("green".into());
    let main = Sharding::Main(vec!["blue".into(), "green".into()]);

    for (name, shard) in [("b1", Some("blue")), ("g1", Some("green")), ("plain", None), ("lost", Some("purple"))] {
        apply(&client, &namespace, &sharded(name, shard, "1")).await;
    }

    // Two candidates for the blue shard: only Transforms labelled blue are reconciled.
    let blue_a = Operator::start_leading(
        client.clone(),
        options(&namespace, blue.clone()),
        election(&namespace, &blue, "blue-a"),
    );
    wait_for_value(&config_maps, "b1", "1").await;
    let blue_b = Operator::start_leading(
        client.clone(),
        options(&namespace, blue.clone()),
        election(&namespace, &blue, "blue-b"),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["g1", "plain", "lost"] {
        assert!(!reconciled(&transforms, name).await, "the blue shard reconciled {name}");
    }
    let graph = graphs.get("b1").await.unwrap();
    assert_eq!(graph.metadata.labels.unwrap()[SHARD_LABEL], "blue", "the graph carries its Transform's shard");

    // The green shard and the main operator take theirs; the Transform labelled with no shard is reported.
    let _green = Operator::start_leading(
        client.clone(),
        options(&namespace, green.clone()),
        election(&namespace, &green, "green"),
    );
    let main_operator =
        Operator::start_leading(client.clone(), options(&namespace, main.clone()), election(&namespace, &main, "main"));
    wait_for_value(&config_maps, "g1", "1").await;
    wait_for_value(&config_maps, "plain", "1").await;
    assert!(!reconciled(&transforms, "lost").await, "a Transform of no shard was reconciled");
    assert!(value(&config_maps, "lost").await.is_none());
    eventually("a NoShard event about lost", || async {
        reasons(&client, &namespace, "lost").await.iter().any(|reason| reason == "NoShard").then_some(())
    })
    .await;
    eventually("pequod_unassigned_transforms 1", || async {
        main_operator
            .context
            .metrics
            .encode()
            .lines()
            .any(|line| line == "pequod_unassigned_transforms 1")
            .then_some(())
    })
    .await;
    for (operator, shard) in [(&blue_a, "blue"), (&blue_b, "blue"), (&main_operator, "main")] {
        // Only the main operator reports, and only while it leads.
        let reported = operator.context.metrics.encode().lines().any(|line| line == "pequod_unassigned_transforms 1");
        assert_eq!(reported, shard == "main", "{shard}");
    }

    // Moving `lost` to the green shard: green reconciles it and the report clears.
    apply(&client, &namespace, &sharded("lost", Some("green"), "1")).await;
    wait_for_value(&config_maps, "lost", "1").await;
    eventually("pequod_unassigned_transforms 0", || async {
        main_operator
            .context
            .metrics
            .encode()
            .lines()
            .any(|line| line == "pequod_unassigned_transforms 0")
            .then_some(())
    })
    .await;

    // The blue leader stops; its standby takes over. Green's objects are not written meanwhile.
    let green_version = config_maps.get("g1").await.unwrap().metadata.resource_version;
    blue_a.kill().await;
    apply(&client, &namespace, &sharded("b1", Some("blue"), "2")).await;
    eventually_within(Duration::from_secs(60), "the blue standby applies b1 = 2", || async {
        (value(&config_maps, "b1").await.as_deref() == Some("2")).then_some(())
    })
    .await;
    assert_eq!(config_maps.get("g1").await.unwrap().metadata.resource_version, green_version);
    drop(blue_b);
}
