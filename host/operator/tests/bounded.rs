//! Expensive CEL readiness gates on a real kube-apiserver (issue 13): a Transform whose gates would take
//! minutes (or forever) must not wedge the operator. Its nodes report the limit they ran into, while a
//! Transform in another namespace, run by another operator in the same process, becomes Ready in time.
//!
//! The test body runs on its own two-worker runtime inside a thread, so a wedged runtime fails the test
//! after a deadline instead of hanging it.
//!
//! CUE compiles reserve their memory from the renders' budget (`--max-render-memory`): with a budget
//! smaller than one compile, a Transform is refused with the reason and the flag, not compiled beside it.

mod common;

use std::time::Duration;

use common::{Operator, cluster, condition, eventually, eventually_within, passthrough};
use kube::api::{Api, Patch, PatchParams};
use pequod_api::{ResourceGraph, Transform};
use pequod_test_guests::extra;
use serde_json::{Value, json};

/// A ConfigMap with `keys` entries whose readiness is the CEL expression `gate`, and a second node that
/// waits for it. Every entry of `gates` becomes a ConfigMap of its own, so several gates run at once.
const GATED: &str = r#"package gated

import "list"

module: {name: "gated", version: "1.0.0"}
#Input: {gates: [...string], keys: int & >=1 & <=2000}
input: #Input
context: {name: string, ...}
graph: nodes: {
	for i, gate in input.gates {
		"gate-\(i)": {
			readyWhen: [{type: "Cel", expr: gate}]
			object: {
				apiVersion: "v1"
				kind:       "ConfigMap"
				metadata: name: "\(context.name)-\(i)"
				data: {for k in list.Range(0, input.keys, 1) {"k\(k)": "v"}}
			}
		}
	}
	after: {
		dependsOn: [for i, _ in input.gates {"gate-\(i)"}]
		object: {
			apiVersion: "v1"
			kind:       "ConfigMap"
			metadata: name: "\(context.name)-after"
			data: done: "yes"
		}
	}
}
"#;

/// Admitted by the static check (two comprehensions over a list read from the live object), but
/// 2000 × 2000 steps at run time: stopped by the evaluation limits (100 ms comes before 10⁶ units).
const SLOW: &str = "self.data.all(a, self.data.all(b, a != b || b == a))";
/// Three nested comprehensions over the 2000 keys: 8·10⁹ steps, hours of CPU without limits. Refused by
/// the static estimate (`readiness::check_cel`), both when the graph is checked and if it is evaluated.
const BOMB: &str = "self.data.all(a, self.data.all(b, self.data.all(c, a + b + c != '')))";

async fn apply(client: &kube::Client, namespace: &str, name: &str, input: Value) {
    let api: Api<Transform> = Api::namespaced(client.clone(), namespace);
    let manifest = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform",
        "metadata": {"name": name}, "spec": {"cueRef": {"type": "inline", "ref": GATED}, "input": input}});
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&manifest)).await.unwrap();
}

/// What the Transform or its graph says about gate `index`: the node's readiness message, or the
/// Transform's Ready message when the graph was refused.
async fn gate_report(client: &kube::Client, namespace: &str, name: &str, index: usize) -> Option<String> {
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), namespace);
    let node = format!("gate-{index}");
    let from_node = graphs
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|graph| graph.status?.nodes.into_iter().find(|status| status.id == node)?.readiness);
    let refused = transforms.get_opt(name).await.ok().flatten().and_then(|transform| {
        let ready = condition(&transform, "Ready")?;
        (ready.status == "False" && ready.message.contains("CelCostLimit")).then(|| ready.message.clone())
    });
    from_node.or(refused).filter(|message| message.contains("CelCostLimit"))
}

async fn expensive_gates_do_not_stall_other_tenants() {
    let (cluster, client) = cluster().await;
    let heavy = cluster.namespace("cel-heavy").await.unwrap();
    let light = cluster.namespace("cel-light").await.unwrap();
    let _heavy_operator = Operator::start(client.clone(), &heavy);
    let _light_operator = Operator::start(client.clone(), &light);

    // Two bombs and two slow gates: without limits they occupy both workers of this runtime for good.
    for bomb in ["bomb-a", "bomb-b"] {
        apply(&client, &heavy, bomb, json!({"gates": [BOMB], "keys": 2000})).await;
    }
    apply(&client, &heavy, "slow", json!({"gates": [SLOW, SLOW], "keys": 2000})).await;
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &heavy);
    eventually("the heavy graphs", || async {
        let graphs = [graphs.get_opt("bomb-a").await.ok()?, graphs.get_opt("bomb-b").await.ok()?];
        graphs.iter().all(Option::is_some).then_some(())
    })
    .await;

    apply(&client, &light, "web", json!({"gates": ["self.data.k0 == 'v'"], "keys": 3})).await;
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &light);
    eventually_within(Duration::from_secs(30), "the other tenant's Transform to be Ready", || async {
        let transform = transforms.get("web").await.ok()?;
        (condition(&transform, "Ready")?.status == "True").then_some(())
    })
    .await;

    for index in 0..2 {
        let message =
            eventually("the slow gate to report the limit", || gate_report(&client, &heavy, "slow", index)).await;
        assert!(message.contains("exceeded the evaluation"), "{message}");
    }
    for bomb in ["bomb-a", "bomb-b"] {
        let message = eventually("the bomb to be reported", || gate_report(&client, &heavy, bomb, 0)).await;
        assert!(message.contains("the limit is"), "the static limit is named: {message}");
    }
    cluster.delete_namespace(&heavy).await.unwrap();
    cluster.delete_namespace(&light).await.unwrap();
}

#[test]
fn expensive_cel_gates_do_not_stall_the_operator() {
    let (done, finished) = std::sync::mpsc::channel();
    let body = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(expensive_gates_do_not_stall_other_tenants());
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(600)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = body.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish in 600 s: a CEL gate wedged the operator's runtime")
        }
    }
}

/// An operator in `namespace` whose renders and compiles share `budget` bytes.
fn operator_with_budget(client: &kube::Client, namespace: &str, budget: usize) -> Operator {
    let options = pequod_operator::Options { namespace: Some(namespace.to_owned()), ..Default::default() };
    let sandbox = pequod_sandbox::SandboxOptions { max_total_memory: Some(budget), ..Default::default() };
    Operator::start_with_sandbox(client.clone(), options, sandbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiles_reserve_their_memory_from_the_render_budget() {
    let (cluster, client) = cluster().await;
    let small = cluster.namespace("budget-small").await.unwrap();
    let enough = cluster.namespace("budget-enough").await.unwrap();
    // 64 MiB holds one render (64 MiB) but not one compile (128 MiB); 192 MiB holds either, not both.
    let _small = operator_with_budget(&client, &small, 64 << 20);
    let _enough = operator_with_budget(&client, &enough, 192 << 20);
    let nodes = json!({"map": {"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}}}});
    for namespace in [&small, &enough] {
        common::apply(&client, namespace, &passthrough("web", nodes.clone())).await;
    }

    let transforms: Api<Transform> = Api::namespaced(client.clone(), &small);
    let refused = eventually("the compile refused for want of budget", || async {
        let transform = transforms.get("web").await.ok()?;
        let source = condition(&transform, "SourceReady")?;
        (source.reason == "RenderMemoryBudget").then(|| source.message.clone())
    })
    .await;
    assert!(refused.contains("128 MiB") && refused.contains("--max-render-memory"), "{refused}");
    common::ready(&client, &enough, "web").await;
    cluster.delete_namespace(&small).await.unwrap();
    cluster.delete_namespace(&enough).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_share_one_memory_budget_and_a_hog_meets_its_limit() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("budget-renders").await.unwrap();
    // 128 MiB: two renders of 64 MiB at once.
    let operator = operator_with_budget(&client, &namespace, 128 << 20);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);

    // A component that instantiates 8 extra memories of 16 MiB each: 128 MiB past its 64 MiB limit.
    let example = pequod_embedded::find("webservice-example").unwrap().component().unwrap();
    let memories: Vec<Vec<u8>> = (0..8).map(|_| extra::core_module(&[], &[(16 << 20) / (64 << 10)])).collect();
    let hog = extra::with_extra_instances(example, &memories);
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hog"},
        "binaryData": {"module.wasm": k8s_openapi::ByteString(hog)}});
    maps.patch("hog", &PatchParams::apply("e2e-test"), &Patch::Apply(&map)).await.unwrap();
    let transform = |name: &str, cue_ref: Value| {
        json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform", "metadata": {"name": name},
            "spec": {"cueRef": cue_ref, "input": {"image": "nginx:1.27"}}})
    };
    common::apply(&client, &namespace, &transform("hog", json!({"type": "configmap", "ref": "hog"}))).await;
    for index in 0..20 {
        let manifest = transform(&format!("web-{index}"), json!({"type": "embedded", "ref": "webservice-example"}));
        common::apply(&client, &namespace, &manifest).await;
    }

    let hogged = eventually("the hog stopped at its memory limit", || async {
        let rendered = condition(&transforms.get("hog").await.ok()?, "Rendered")?.clone();
        (rendered.reason == "MemoryLimitExceeded").then_some(rendered.message)
    })
    .await;
    assert!(hogged.contains("64 MiB") || hogged.contains("67108864"), "the limit is named: {hogged}");
    for index in 0..20 {
        eventually_within(Duration::from_secs(120), "every other render", || async {
            let transform = transforms.get(&format!("web-{index}")).await.ok()?;
            (condition(&transform, "Rendered")?.status == "True").then_some(())
        })
        .await;
    }
    let usage = operator.memory_usage();
    assert!(usage.peak_reserved_bytes <= 128 << 20, "{usage:?}");
    assert!(usage.peak_reserved_bytes >= 64 << 20, "renders reserved their limit: {usage:?}");
    cluster.delete_namespace(&namespace).await.unwrap();
}
