//! CUE modules on a real kube-apiserver: the shipped modules (compiled on first use in the sandboxed CUE
//! runtime), inline and ConfigMap CUE source, and deferred nodes completed from observed state (the
//! `ack-iam-webservice` module waits for its ACK Role's ARN).

mod common;

use std::time::Duration;

use common::{Operator, cluster, condition, eventually, eventually_within};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use pequod_api::{PlatformPolicy, Transform};
use pequod_test_harness::mark_deployment_available;
use serde_json::{Value, json};

async fn apply(client: &kube::Client, namespace: &str, name: &str, cue_ref: Value, input: Value) {
    let api: Api<Transform> = Api::namespaced(client.clone(), namespace);
    let manifest = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform",
        "metadata": {"name": name}, "spec": {"cueRef": cue_ref, "input": input}});
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&manifest)).await.unwrap();
}

async fn ready(transforms: &Api<Transform>, name: &str) -> Transform {
    eventually(&format!("Transform {name} to be Ready"), || async {
        let transform = transforms.get(name).await.unwrap();
        (condition(&transform, "Ready")?.status == "True").then_some(transform)
    })
    .await
}

const HELLO: &str = r#"package hello

module: {name: "hello", version: "1.0.0"}
#Input: {message: string & != ""}
input: #Input
context: {name: string, ...}
graph: nodes: config: object: {
	apiVersion: "v1"
	kind:       "ConfigMap"
	metadata: name: context.name
	data: message:  input.message
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_inline_and_configmap_cue_modules() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("cue").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);

    // The shipped webservice module: every object applied in order, Ready once the Deployment is available.
    let input =
        json!({"image": "ghcr.io/acme/shop:1.4.2", "replicas": 2, "resources": {"cpu": "100m", "memory": "64Mi"}});
    apply(&client, &namespace, "shop", json!({"type": "embedded", "ref": "webservice"}), input).await;
    eventually("the webservice Deployment", || async { deployments.get_opt("shop").await.unwrap() }).await;
    mark_deployment_available(&client, &namespace, "shop").await.unwrap();
    let shop = ready(&transforms, "shop").await;
    let resolved = shop.status.as_ref().unwrap().resolved_cue_ref.clone().unwrap();
    assert!(resolved.digest.starts_with("sha256:"), "{resolved:?}");
    assert_eq!(resolved.module.as_deref(), Some("webservice 1.0.0"));
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    assert!(accounts.get_opt("shop").await.unwrap().is_some());

    // Inline CUE, compiled inside the sandbox.
    let inline = json!({"type": "inline", "ref": HELLO});
    apply(&client, &namespace, "hello", inline.clone(), json!({"message": "hi"})).await;
    ready(&transforms, "hello").await;
    let config = config_maps.get("hello").await.unwrap();
    assert_eq!(config.data.unwrap()["message"], "hi");
    // Its input schema holds: an empty message is rejected with a spec.input path.
    apply(&client, &namespace, "hello", inline, json!({"message": ""})).await;
    let rejected = eventually("the rejection", || async {
        let transform = transforms.get("hello").await.unwrap();
        (condition(&transform, "Rendered")?.reason == "Rejected").then_some(transform)
    })
    .await;
    assert_eq!(rejected.status.unwrap().violations[0].path, "message");

    // Broken inline source: SourceReady=False with the position of the error, nothing rendered.
    let broken = json!({"type": "inline", "ref": "package broken\nmodule: {name: \"b\", version: \"1.0.0\"\n"});
    apply(&client, &namespace, "broken", broken, json!({})).await;
    let transform = eventually("SourceReady=False", || async {
        let transform = transforms.get("broken").await.unwrap();
        (condition(&transform, "SourceReady")?.status == "False").then_some(transform)
    })
    .await;
    let source = condition(&transform, "SourceReady").unwrap();
    assert_eq!(source.reason, "InvalidModule");
    assert!(source.message.contains("module.cue:"), "{}", source.message);
    assert!(condition(&transform, "Rendered").is_none());

    // CUE files in a ConfigMap.
    let module = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hello-module"},
        "data": {"hello.cue": HELLO}});
    config_maps.patch("hello-module", &PatchParams::apply("e2e-test"), &Patch::Apply(&module)).await.unwrap();
    apply(
        &client,
        &namespace,
        "from-config",
        json!({"type": "configmap", "ref": "hello-module"}),
        json!({"message": "cm"}),
    )
    .await;
    ready(&transforms, "from-config").await;
    assert_eq!(config_maps.get("from-config").await.unwrap().data.unwrap()["message"], "cm");

    // A change of the module's ConfigMap is rendered within seconds, not at the next resync (300 s).
    let changed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hello-module"},
        "data": {"hello.cue": HELLO.replace("message:  input.message", "message:  \"v2: \\(input.message)\"")}});
    config_maps.patch("hello-module", &PatchParams::apply("e2e-test"), &Patch::Apply(&changed)).await.unwrap();
    eventually_within(Duration::from_secs(30), "the changed module rendered", || async {
        let data = config_maps.get("from-config").await.ok()?.data?;
        (data["message"] == "v2: cm").then_some(())
    })
    .await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// PlatformPolicy `moduleParameters` reach the shipped modules' output policy as `context.policy`, and a
/// policy change applies within seconds (the operator watches PlatformPolicies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_policy_parameters_narrow_the_shipped_modules() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("guardrails").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    let set_policy = |registries: Value| {
        let policy = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "PlatformPolicy",
            "metadata": {"name": format!("{namespace}-images")},
            "spec": {"namespaces": [namespace.clone()], "moduleParameters": {"allowedRegistries": registries}}});
        let (policies, name) = (policies.clone(), format!("{namespace}-images"));
        async move { policies.patch(&name, &PatchParams::apply("e2e-test"), &Patch::Apply(&policy)).await.unwrap() }
    };
    set_policy(json!(["quay.io/acme/"])).await;
    let input = json!({"image": "ghcr.io/stefanprodan/podinfo:6.7.1", "port": 9898,
        "resources": {"cpu": "100m", "memory": "64Mi"}});
    apply(&client, &namespace, "shop", json!({"type": "embedded", "ref": "webservice"}), input).await;
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let refused = eventually("the image refused by the policy's registries", || async {
        let transform = transforms.get("shop").await.ok()?;
        let violation = transform.status?.violations.into_iter().next()?;
        Some(violation)
    })
    .await;
    assert_eq!(refused.path, "deployment.spec.template.spec.containers[0].image");
    assert!(refused.message.contains("quay\\\\.io/acme/"), "{}", refused.message);

    set_policy(json!(["ghcr.io/stefanprodan/"])).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    eventually_within(Duration::from_secs(30), "the Deployment once the policy allows the image", || async {
        deployments.get_opt("shop").await.ok().flatten()
    })
    .await;
    policies.delete(&format!("{namespace}-images"), &Default::default()).await.unwrap();
    cluster.delete_namespace(&namespace).await.unwrap();
}

fn ack_role_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "roles.iam.services.k8s.aws"},
        "spec": {
            "group": "iam.services.k8s.aws",
            "names": {"kind": "Role", "listKind": "RoleList", "plural": "roles", "singular": "role"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_nodes_wait_for_observed_state() {
    let (cluster, client) = cluster().await;
    cluster.install_crds(&[ack_role_crd()]).await.unwrap();
    let namespace = cluster.namespace("deferred").await.unwrap();
    let _operator = Operator::start(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("iam.services.k8s.aws", "v1alpha1", "Role"));
    let roles: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);

    let input: Value =
        serde_json::from_str(include_str!("../../../modules/ack-iam-webservice/examples/basic.json")).unwrap();
    apply(&client, &namespace, "reports", json!({"type": "embedded", "ref": "ack-iam-webservice"}), input).await;

    // The Role is applied; the ServiceAccount (which needs the Role's ARN) and the Deployment are deferred.
    let role = eventually("the ACK Role", || async { roles.get_opt("reports").await.unwrap() }).await;
    let transform = eventually("the deferred nodes in status", || async {
        let transform = transforms.get("reports").await.unwrap();
        let status = transform.status.clone()?;
        status.deferred.iter().any(|d| d.id == "serviceaccount").then_some(transform)
    })
    .await;
    assert_eq!(condition(&transform, "Ready").unwrap().status, "False");
    assert_eq!(transform.status.unwrap().nodes.unwrap().total, 3);
    assert!(accounts.get_opt("reports").await.unwrap().is_none());
    let trust = role.data["spec"]["assumeRolePolicyDocument"].as_str().unwrap_or_default().to_owned();
    assert!(trust.contains("sts:AssumeRoleWithWebIdentity"), "{}", role.data);

    // The ACK controller (played by the test) syncs the Role and reports its ARN.
    let arn = "arn:aws:iam::123456789012:role/reports";
    let status = json!({"apiVersion": "iam.services.k8s.aws/v1alpha1", "kind": "Role", "status": {
        "ackResourceMetadata": {"arn": arn, "ownerAccountID": "123456789012", "region": "eu-west-1"},
        "conditions": [{"type": "ACK.ResourceSynced", "status": "True"}]}});
    roles.patch_status("reports", &PatchParams::apply("ack-iam-controller"), &Patch::Apply(&status)).await.unwrap();

    // The operator renders again with the Role observed: the ServiceAccount carries the ARN.
    let account = eventually("the ServiceAccount", || async { accounts.get_opt("reports").await.unwrap() }).await;
    assert_eq!(account.metadata.annotations.unwrap()["eks.amazonaws.com/role-arn"], arn);
    eventually("the Deployment", || async { deployments.get_opt("reports").await.unwrap() }).await;
    mark_deployment_available(&client, &namespace, "reports").await.unwrap();
    let transform = ready(&transforms, "reports").await;
    assert_eq!(transform.status.unwrap().nodes.unwrap().summary, "3/3");

    // The Role turns not-ready again (ACK re-syncing): the nodes that read it are deferred again, and keep
    // their objects (same uid) instead of being pruned.
    let account_uid = accounts.get("reports").await.unwrap().metadata.uid;
    let deployment_uid = deployments.get("reports").await.unwrap().metadata.uid;
    let resync = json!({"apiVersion": "iam.services.k8s.aws/v1alpha1", "kind": "Role", "status": {
        "conditions": [{"type": "ACK.ResourceSynced", "status": "False", "reason": "Throttled"}]}});
    roles.patch_status("reports", &PatchParams::apply("ack-iam-controller"), &Patch::Apply(&resync)).await.unwrap();
    eventually("Ready=False again", || async {
        let transform = transforms.get("reports").await.unwrap();
        (condition(&transform, "Ready")?.status == "False").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(accounts.get("reports").await.unwrap().metadata.uid, account_uid, "the ServiceAccount was kept");
    assert_eq!(deployments.get("reports").await.unwrap().metadata.uid, deployment_uid, "the Deployment was kept");
    cluster.delete_namespace(&namespace).await.unwrap();
}
