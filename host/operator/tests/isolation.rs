//! Tenant isolation on a real kube-apiserver: what an untrusted app team may try through a Transform, its
//! module or a hand-written ResourceGraph ends with nothing applied, a failing condition that names the
//! refused object, and an Event. PlatformPolicy is cluster-scoped, so these tests have a test binary (and an
//! API server) of their own; each policy selects only its test's namespace.

mod common;

use std::time::Duration;

use common::{Operator, apply, cluster, condition, eventually, eventually_within, passthrough, reasons};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use pequod_api::{PlatformPolicy, ResourceGraph, Transform};
use pequod_operator::Options;
use pequod_test_harness::TestCluster;
use serde_json::{Value, json};

/// A module that copies a Secret's data, once observed, into a ConfigMap.
const OBSERVER: &str = r#"package observer

module: {name: "observer", version: "1.0.0"}
#Input: {}
input: #Input
context: {name: string, observed: {...}, ...}
graph: nodes: {
	secret: object: {apiVersion: "v1", kind: "Secret", metadata: name: "\(context.name)-secret", stringData: token: "s3cret"}
	copy: {
		dependsOn: ["secret"]
		object: {
			apiVersion: "v1"
			kind:       "ConfigMap"
			metadata: name: "\(context.name)-copy"
			data: token: context.observed.secret.data.token
		}
	}
}
"#;

fn config_map(name: &str, namespace: Option<&str>) -> Value {
    let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
    if let Some(namespace) = namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    object
}

fn role_binding(name: &str, cluster_role: &str, subject_namespace: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": subject_namespace}]})
}

/// A policy that applies to `namespace` only.
async fn set_policy(client: &kube::Client, name: &str, namespace: &str, targets: Value) {
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    let policy = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "PlatformPolicy",
        "metadata": {"name": name}, "spec": {"namespaces": [namespace], "targets": targets}});
    policies.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&policy)).await.unwrap();
}

/// Waits for `PolicyPassed=False` and returns the violation messages.
async fn refused(transforms: &Api<Transform>, name: &str) -> Vec<String> {
    let mut last = None;
    for _ in 0..240 {
        let transform = transforms.get(name).await.ok();
        if transform.as_ref().and_then(|t| condition(t, "PolicyPassed")).is_some_and(|c| c.status == "False") {
            last = transform;
            break;
        }
        if transform.is_some() {
            last = transform;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let transform = last.unwrap_or_else(|| panic!("{name}: no Transform"));
    let passed = condition(&transform, "PolicyPassed").map(|c| c.status.clone());
    assert_eq!(passed.as_deref(), Some("False"), "{name}: PolicyPassed=False, got {:?}", transform.status);
    assert_eq!(condition(&transform, "Ready").unwrap().status, "False");
    transform.status.unwrap().violations.into_iter().map(|v| format!("{}: {}", v.path, v.message)).collect()
}

/// An operator for `namespace` that can impersonate ServiceAccounts.
fn operator(cluster: &TestCluster, client: &kube::Client, namespace: &str, default_account: Option<&str>) -> Operator {
    let options = Options {
        namespace: Some(namespace.to_owned()),
        kube_config: Some(cluster.config().clone()),
        default_service_account: default_account.map(str::to_owned),
        ..Options::default()
    };
    Operator::start_with(client.clone(), options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_graphs_may_not_escape_their_namespace() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("tenant").await.unwrap();
    let victim = cluster.namespace("victim").await.unwrap();
    let _operator = operator(cluster, &client, &namespace, None);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let victim_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &victim);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &namespace);

    // A ResourceGraph node whose inner graph writes into another tenant's namespace.
    let inner = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "ResourceGraph",
        "metadata": {"name": "inner"}, "spec": {"graph": {"graphVersion": "pequod.io/graph/v1alpha1",
        "metadata": {"module": "evil", "version": "1.0.0"},
        "nodes": [{"id": "planted", "object": config_map("planted", Some(&victim))}]}}});
    let attempts = [
        ("nested", json!({"inner": {"object": inner}}), "inner.kind", "allowedKinds"),
        (
            "binding",
            json!({"admin": {"object": role_binding("take-over", "cluster-admin", &namespace)}}),
            "admin.kind",
            "allowedKinds",
        ),
        ("child", json!({"child": {"object": passthrough("grandchild", json!({}))}}), "child.kind", "allowedKinds"),
        (
            "elsewhere",
            json!({"planted": {"object": config_map("planted", Some(&victim))}}),
            "planted.metadata.namespace",
            "allowedNamespaces",
        ),
        (
            "cluster",
            json!({"ns": {"object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "evil-ns"}}}}),
            "ns.kind",
            "allowedKinds",
        ),
    ];
    for (name, nodes, path, field) in &attempts {
        apply(&client, &namespace, &passthrough(name, nodes.clone())).await;
        let violations = refused(&transforms, name).await;
        let violation =
            violations.iter().find(|v| v.starts_with(path)).unwrap_or_else(|| panic!("{name}: {violations:?}"));
        assert!(violation.contains(field), "{name}: the policy field that would allow it is named: {violation}");
        assert!(graphs.get_opt(name).await.unwrap().is_none(), "{name}: nothing was handed over");
    }
    eventually("a TargetDenied event", || async {
        reasons(&client, &namespace, "binding").await.iter().any(|r| r == "TargetDenied").then_some(())
    })
    .await;
    assert!(victim_maps.get_opt("planted").await.unwrap().is_none());
    assert!(bindings.get_opt("take-over").await.unwrap().is_none());
    assert!(graphs.get_opt("inner").await.unwrap().is_none());
    assert!(transforms.get_opt("grandchild").await.unwrap().is_none());

    // A policy for another namespace allows nothing here; one for this namespace allows what it names.
    set_policy(&client, "elsewhere-only", &victim, json!({"allowedNamespaces": [victim.clone()]})).await;
    set_policy(&client, "tenant-config", &namespace, json!({"allowedKinds": [{"group": "", "kind": "ConfigMap"}]}))
        .await;
    apply(
        &client,
        &namespace,
        &passthrough("elsewhere", json!({"planted": {"object": config_map("planted", Some(&victim))}})),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(victim_maps.get_opt("planted").await.unwrap().is_none());
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    for name in ["elsewhere-only", "tenant-config"] {
        policies.delete(name, &DeleteParams::default()).await.unwrap();
    }
    cluster.delete_namespace(&namespace).await.unwrap();
    cluster.delete_namespace(&victim).await.unwrap();
}

/// A graph with one ConfigMap, as a tenant would write it by hand.
fn forged_graph(name: &str, owner: Option<&Transform>) -> Value {
    let mut graph = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "ResourceGraph",
        "metadata": {"name": name}, "spec": {"graph": {"graphVersion": "pequod.io/graph/v1alpha1",
        "metadata": {"module": "forged", "version": "1.0.0"},
        "nodes": [{"id": "planted", "object": config_map(&format!("{name}-planted"), None)}]}}});
    if let Some(owner) = owner {
        graph["metadata"]["ownerReferences"] = json!([{"apiVersion": "platform.pequod.io/v1alpha1",
            "kind": "Transform", "name": owner.metadata.name, "uid": owner.metadata.uid, "controller": true}]);
    }
    graph
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_resource_graphs_are_not_executed() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("forged").await.unwrap();
    let _operator = operator(cluster, &client, &namespace, None);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);

    // A real Transform, Ready: its graph is verified and executed.
    apply(&client, &namespace, &passthrough("real", json!({"config": {"object": config_map("real", None)}}))).await;
    let real = common::ready(&client, &namespace, "real").await;
    assert!(maps.get_opt("real").await.unwrap().is_some());

    // Hand-written, no owner; and one that claims the real Transform as its controller.
    for (name, owner) in [("orphan", None), ("claims-real", Some(&real))] {
        let graph: ResourceGraph = serde_json::from_value(forged_graph(name, owner)).unwrap();
        graphs.create(&PostParams::default(), &graph).await.unwrap();
        let refused = eventually(&format!("{name}: UnverifiedGraph"), || async {
            let graph = graphs.get(name).await.ok()?;
            let ready = graph.status?.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            (ready.reason == "UnverifiedGraph").then_some(ready)
        })
        .await;
        assert!(refused.message.contains("Pequod") || refused.message.contains("not the one"), "{}", refused.message);
        assert!(maps.get_opt(&format!("{name}-planted")).await.unwrap().is_none(), "{name}: nothing applied");
        // The Event is about the Transform the graph claims, when it claims one.
        let regarding = owner.and_then(|owner| owner.metadata.name.as_deref()).unwrap_or(name);
        eventually(&format!("{name}: an UnverifiedGraph event"), || async {
            reasons(&client, &namespace, regarding).await.iter().any(|r| r == "UnverifiedGraph").then_some(())
        })
        .await;
    }

    // The real graph edited by someone else: the extra node is never applied; the Transform restores its graph.
    let mut edited = graphs.get("real").await.unwrap();
    let mut extra = edited.spec.graph.nodes[0].clone();
    extra.id = "extra".into();
    extra.object["metadata"]["name"] = json!("real-extra");
    edited.spec.graph.nodes.push(extra);
    let patch = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "ResourceGraph",
        "metadata": {"name": "real"}, "spec": edited.spec});
    graphs.patch("real", &PatchParams::apply("intruder").force(), &Patch::Apply(&patch)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(maps.get_opt("real-extra").await.unwrap().is_none(), "the edited graph was not executed");
    let transform = transforms.get("real").await.unwrap();
    assert!(transform.status.unwrap().graph_hash.is_some());
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_and_observation_are_explicit() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("explicit").await.unwrap();
    let _operator = operator(cluster, &client, &namespace, None);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);

    // AdoptOnly without spec.adopt: refused, the existing object untouched.
    let existing: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "existing"}, "data": {"owner": "them"}})).unwrap();
    maps.create(&PostParams::default(), &existing).await.unwrap();
    let mut takeover = config_map("existing", None);
    takeover["data"] = json!({"owner": "tenant"});
    let nodes = json!({"grab": {"object": takeover, "applyPolicy": {"mode": "AdoptOnly"}}});
    apply(&client, &namespace, &passthrough("grab", nodes)).await;
    let error = eventually("the AdoptOnly refusal", || async {
        let graph = graphs.get_opt("grab").await.unwrap()?;
        graph.status?.nodes.into_iter().find(|n| n.id == "grab")?.last_error
    })
    .await;
    assert!(error.contains("spec.adopt"), "{error}");
    assert_eq!(maps.get("existing").await.unwrap().data.unwrap()["owner"], "them");

    // Secret data is not observed without a policy: the node that copies it stays deferred.
    let observer = |name: &str| {
        json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform", "metadata": {"name": name},
            "spec": {"cueRef": {"type": "inline", "ref": OBSERVER}, "input": {}}})
    };
    apply(&client, &namespace, &observer("peek")).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    eventually("the Secret", || async { secrets.get_opt("peek-secret").await.unwrap() }).await;
    eventually("Ready=False Deferred", || async {
        let transform = transforms.get("peek").await.ok()?;
        (condition(&transform, "Ready")?.reason == "Deferred").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(maps.get_opt("peek-copy").await.unwrap().is_none(), "the Secret's data was not handed to the module");

    // With a policy for this namespace, it is.
    set_policy(&client, "observe-secrets", &namespace, json!({"observeSecretData": true})).await;
    apply(&client, &namespace, &observer("allowed")).await;
    let copy = eventually("the copied data", || async { maps.get_opt("allowed-copy").await.unwrap() }).await;
    assert!(copy.data.unwrap().contains_key("token"));
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    policies.delete("observe-secrets", &DeleteParams::default()).await.unwrap();
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_allowance_takes_effect_on_graphs_already_applied() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("revoke").await.unwrap();
    let _operator = operator(cluster, &client, &namespace, None);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &namespace);

    let rbac = json!({"group": "rbac.authorization.k8s.io", "kind": "RoleBinding"});
    set_policy(&client, "allow-bindings", &namespace, json!({"allowedKinds": [rbac]})).await;
    apply(
        &client,
        &namespace,
        &passthrough("viewers", json!({"view": {"object": role_binding("viewers", "view", &namespace)}})),
    )
    .await;
    common::ready(&client, &namespace, "viewers").await;
    assert!(bindings.get_opt("viewers").await.unwrap().is_some());

    // Revoked: the drift watch wakes the graph when the binding is deleted, and it is not re-created.
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    policies.delete("allow-bindings", &DeleteParams::default()).await.unwrap();
    bindings.delete("viewers", &DeleteParams::default()).await.unwrap();
    let error = eventually("the refusal on the node", || async {
        let graph = graphs.get("viewers").await.ok()?;
        graph.status?.nodes.into_iter().find(|n| n.id == "view")?.last_error.filter(|e| e.contains("target rules"))
    })
    .await;
    assert!(error.contains("allowedKinds"), "{error}");
    // A reconcile that began before the revocation may have applied it once more; from now on, none does.
    let _ = bindings.delete("viewers", &DeleteParams::default()).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(bindings.get_opt("viewers").await.unwrap().is_none(), "a denied object is not re-created");
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// A Role in `namespace` letting `account` manage ConfigMaps and RoleBindings (but not grant what it lacks).
async fn deployer(client: &kube::Client, namespace: &str, account: &str) {
    let roles: Api<Role> = Api::namespaced(client.clone(), namespace);
    let role: Role = serde_json::from_value(json!({"metadata": {"name": account}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
         "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]}))
    .unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({"metadata": {"name": account},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), namespace).create(&PostParams::default(), &binding).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_made_with_the_transforms_service_account() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("identity").await.unwrap();
    let _operator = operator(cluster, &client, &namespace, None);
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &namespace);
    let rbac = json!({"group": "rbac.authorization.k8s.io", "kind": "RoleBinding"});
    set_policy(&client, "identity-bindings", &namespace, json!({"allowedKinds": [rbac]})).await;
    deployer(&client, &namespace, "deployer").await;

    // Under the deployer's identity the API server refuses to grant cluster-admin (escalation check).
    let mut escalate =
        passthrough("escalate", json!({"admin": {"object": role_binding("escalate", "cluster-admin", &namespace)}}));
    escalate["spec"]["serviceAccountName"] = json!("deployer");
    apply(&client, &namespace, &escalate).await;
    let error = eventually("the API server's refusal", || async {
        let graph = graphs.get_opt("escalate").await.unwrap()?;
        graph.status?.nodes.into_iter().find(|n| n.id == "admin")?.last_error
    })
    .await;
    assert!(error.contains("forbidden") || error.contains("Forbidden"), "{error}");
    assert!(bindings.get_opt("escalate").await.unwrap().is_none());

    // What the deployer may do, it does: a ConfigMap under its identity.
    let mut allowed = passthrough("allowed", json!({"config": {"object": config_map("allowed", None)}}));
    allowed["spec"]["serviceAccountName"] = json!("deployer");
    apply(&client, &namespace, &allowed).await;
    common::ready(&client, &namespace, "allowed").await;

    // Without an identity the operator acts as itself (cluster-admin here): the same graph succeeds, which is
    // why the shipped install sets a default ServiceAccount.
    apply(
        &client,
        &namespace,
        &passthrough(
            "as-operator",
            json!({"admin": {"object": role_binding("as-operator", "cluster-admin", &namespace)}}),
        ),
    )
    .await;
    eventually_within(Duration::from_secs(60), "the binding made with the operator's identity", || async {
        bindings.get_opt("as-operator").await.unwrap()
    })
    .await;
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    policies.delete("identity-bindings", &DeleteParams::default()).await.unwrap();
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_the_shipped_role_deploys_the_webservice_module_under_impersonation() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("onboarded").await.unwrap();
    let _operator = operator(cluster, &client, &namespace, Some("pequod-tenant"));
    // Onboarding, as docs/security.md says: the ServiceAccount and a RoleBinding to the shipped ClusterRole.
    let role: k8s_openapi::api::rbac::v1::ClusterRole =
        serde_yaml::from_str(include_str!("../../../deploy/tenant-role.yaml")).unwrap();
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    roles.patch("pequod-tenant", &PatchParams::apply("e2e-test").force(), &Patch::Apply(&role)).await.unwrap();
    let output =
        cluster.kubectl().args(["-n", &namespace, "create", "serviceaccount", "pequod-tenant"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = cluster
        .kubectl()
        .args(["-n", &namespace, "create", "rolebinding", "pequod-tenant", "--clusterrole=pequod-tenant"])
        .arg(format!("--serviceaccount={namespace}:pequod-tenant"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let manifest = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform", "metadata": {"name": "web"},
        "spec": {"cueRef": {"type": "embedded", "ref": "webservice"}, "input": {"image": "ghcr.io/acme/web:1.0.0"}}});
    apply(&client, &namespace, &manifest).await;
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let graph = eventually_within(Duration::from_secs(120), "the graph", || async {
        let graph = graphs.get_opt("web").await.unwrap();
        let rendered = transforms.get("web").await.ok().and_then(|t| condition(&t, "Rendered").cloned());
        assert!(rendered.as_ref().is_none_or(|c| c.status == "True"), "{rendered:?}");
        graph
    })
    .await;
    assert_eq!(graph.spec.service_account_name.as_deref(), Some("pequod-tenant"));
    eventually("the Deployment", || async {
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), &namespace);
        deployments.get_opt("web").await.unwrap()
    })
    .await;
    pequod_test_harness::mark_deployment_available(&client, &namespace, "web").await.unwrap();
    common::ready(&client, &namespace, "web").await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// A client acting as ServiceAccount `account` of `namespace`.
fn acting_as(cluster: &TestCluster, namespace: &str, account: &str) -> kube::Client {
    let mut config = cluster.config().clone();
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{account}"));
    kube::Client::try_from(config).unwrap()
}

/// The shipped ValidatingAdmissionPolicy (`deploy/admission-policy.yaml`): even with RBAC that lets it
/// write ResourceGraphs and Transform status, a tenant cannot; the operator's ServiceAccount can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_writes_resource_graphs_and_transform_status() {
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("admission").await.unwrap();
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/admission-policy.yaml");
    let output = cluster.kubectl().args(["apply", "-f", policy]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The operator's ServiceAccount, and a tenant account with the same (too generous) RBAC.
    let _ = cluster.kubectl().args(["create", "namespace", "pequod-system"]).output().unwrap();
    for (account_namespace, account) in [("pequod-system", "pequod"), (namespace.as_str(), "tenant")] {
        let _ = cluster.kubectl().args(["-n", account_namespace, "create", "serviceaccount", account]).output();
    }
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "pequod-graph-writer"}, "rules": [{"apiGroups": ["platform.pequod.io"],
        "resources": ["resourcegraphs", "resourcegraphs/status", "transforms", "transforms/status"], "verbs": ["*"]}]});
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    roles.patch("pequod-graph-writer", &PatchParams::apply("e2e-test").force(), &Patch::Apply(&role)).await.unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &namespace);
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "graph-writers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pequod-graph-writer"},
        "subjects": [{"kind": "ServiceAccount", "name": "pequod", "namespace": "pequod-system"},
            {"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}]});
    bindings.patch("graph-writers", &PatchParams::apply("e2e-test").force(), &Patch::Apply(&binding)).await.unwrap();
    let tenant = acting_as(cluster, &namespace, "tenant");
    let operator = acting_as(cluster, "pequod-system", "pequod");

    // A tenant's own ResourceGraph is refused by the admission policy (it takes effect within seconds).
    let tenant_graphs: Api<ResourceGraph> = Api::namespaced(tenant.clone(), &namespace);
    let graph: ResourceGraph = serde_json::from_value(forged_graph("forged", None)).unwrap();
    let message = eventually("the admission policy to refuse the tenant", || async {
        match tenant_graphs.create(&PostParams::default(), &graph).await {
            Err(kube::Error::Api(status)) if status.message.contains("only the Pequod operator") => {
                Some(status.message)
            }
            Err(kube::Error::Api(status)) if status.code == 403 && status.message.contains("forbidden") => None,
            Ok(_) => {
                tenant_graphs.delete("forged", &DeleteParams::default()).await.unwrap();
                None
            }
            Err(error) => panic!("unexpected: {error}"),
        }
    })
    .await;
    assert!(message.contains(&format!("system:serviceaccount:{namespace}:tenant")), "{message}");

    // The operator's ServiceAccount may, and the tenant may delete what the operator wrote.
    let operator_graphs: Api<ResourceGraph> = Api::namespaced(operator, &namespace);
    operator_graphs.create(&PostParams::default(), &graph).await.expect("the operator writes ResourceGraphs");
    tenant_graphs.delete("forged", &DeleteParams::default()).await.expect("deleting stays allowed");

    // Transform status: the tenant may write the Transform, not its status.
    let transform = passthrough("status", json!({}));
    apply(&client, &namespace, &transform).await;
    let tenant_transforms: Api<Transform> = Api::namespaced(tenant, &namespace);
    let status = json!({"status": {"graphHash": "forged"}});
    let error = tenant_transforms
        .patch_status("status", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect_err("the tenant may not write Transform status");
    assert!(error.to_string().contains("only the Pequod operator writes transforms"), "{error}");
    let output = cluster.kubectl().args(["delete", "-f", policy]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    cluster.delete_namespace(&namespace).await.unwrap();
}
