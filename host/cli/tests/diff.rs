//! `pequod diff` as a user runs it: the real binary against the harness's real kube-apiserver, next to an
//! operator that applied the Transform first. No change, a changed input (from a file and with `--set`), a
//! Secret whose value changes (masked), nodes that left the graph (pruned, orphaned), a new Transform (all
//! added), a field another manager took (the conflict), and a tenant whose RBAC refuses a node.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use pequod_api::{GraphPhase, ResourceGraph, Transform};
use pequod_operator::{Context, Options};
use pequod_sandbox::{Sandbox, SandboxOptions};
use pequod_test_harness::TestCluster;
use serde_json::{Value, json};

/// A module with a ConfigMap, a Secret and, on request, a second ConfigMap.
const MODULE: &str = r#"package difftest

module: {name: "difftest", version: "1.0.0"}

#Input: {
	color:    string
	password: string | *"s3cret"
	extra:    bool | *false
	secret:   bool | *true
}
input: #Input

context: {name: string, labels: {[string]: string}, ...}

graph: nodes: {
	config: object: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: {name: context.name, labels: context.labels}
		data: color: input.color
	}
	if input.secret {
		secret: object: {
			apiVersion: "v1"
			kind:       "Secret"
			metadata: {name: context.name, labels: context.labels}
			stringData: password: input.password
		}
	}
	if input.extra {
		extra: object: {
			apiVersion: "v1"
			kind:       "ConfigMap"
			metadata: {name: "\(context.name)-extra", labels: context.labels}
			data: note: "extra"
		}
	}
}
"#;

fn transform(name: &str, namespace: &str, input: Value, account: Option<&str>) -> Value {
    let mut spec = json!({"cueRef": {"type": "inline", "ref": MODULE}, "input": input});
    if let Some(account) = account {
        spec["serviceAccountName"] = json!(account);
    }
    json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform",
           "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

/// What one `pequod diff` run printed and how it exited.
struct Diff {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `pequod diff ARGS` with the harness's kubeconfig, off the async workers.
async fn pequod_diff(cluster: &TestCluster, cache: &Path, args: &[&str]) -> Diff {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pequod"));
    command.arg("diff").args(args).env("KUBECONFIG", cluster.kubeconfig()).env("PEQUOD_CACHE_DIR", cache);
    let output = tokio::task::spawn_blocking(move || command.output().expect("pequod diff runs")).await.unwrap();
    Diff {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Writes a Transform manifest (JSON is YAML) into `directory`.
fn manifest(directory: &Path, file: &str, transform: &Value) -> PathBuf {
    let path = directory.join(file);
    std::fs::write(&path, serde_json::to_string_pretty(transform).unwrap()).unwrap();
    path
}

/// Waits until the Transform's graph is Ready with `objects` objects in its inventory.
async fn wait_ready(client: &kube::Client, namespace: &str, name: &str, objects: usize) {
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = graphs.get_opt(name).await.unwrap().and_then(|graph| graph.status);
        if status.as_ref().is_some_and(|s| s.phase == GraphPhase::Ready && s.inventory.len() == objects) {
            return;
        }
        assert!(Instant::now() < deadline, "the graph {namespace}/{name} did not become ready: {status:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The lines of the diff of one object, after its `+++` header, up to the next object.
fn body_of<'a>(stdout: &'a str, header: &str) -> Vec<&'a str> {
    let start = stdout.find(header).unwrap_or_else(|| panic!("{header} missing from:\n{stdout}"));
    let lines = stdout[start..].lines().skip_while(|line| !line.starts_with("+++")).skip(1);
    lines.take_while(|line| line.starts_with(['+', '-', ' ', '@'])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_what_the_operator_would_change() {
    let cluster = TestCluster::shared().await;
    cluster.install_crds(&pequod_api::crds()).await.unwrap();
    let client = cluster.client();
    let namespace = cluster.namespace("diff").await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let cache = scratch.path().join("cache");
    let sandbox = Sandbox::new(SandboxOptions::default()).unwrap();
    let options = Options { namespace: Some(namespace.clone()), ..Options::default() };
    let context = Context::with_options(client.clone(), sandbox, options);
    let operator = tokio::spawn(pequod_operator::run(Arc::clone(&context)));

    let applied = transform("shop", &namespace, json!({"color": "blue", "extra": true}), None);
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    transforms.patch("shop", &PatchParams::apply("test"), &Patch::Apply(&applied)).await.unwrap();
    wait_ready(&client, &namespace, "shop", 3).await;
    let diff = |args: Vec<String>| {
        let cache = cache.clone();
        async move { pequod_diff(cluster, &cache, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let file = |name: &str, input: Value| {
        let path = manifest(scratch.path(), &format!("{name}.json"), &transform(name, &namespace, input, None));
        path.display().to_string()
    };
    let live = "tf/shop".to_owned();
    let ns = ["-n".to_owned(), namespace.clone()];

    // What the operator applied, from the file or from the cluster: nothing to show, exit 0.
    let same = diff(vec![file("shop", json!({"color": "blue", "extra": true}))]).await;
    assert_eq!((same.code, same.stdout.as_str()), (0, ""), "{same:?}");
    assert!(same.stderr.contains("0 to create, 0 to update, 0 to prune, 0 to orphan, 3 unchanged"), "{same:?}");
    let same = diff(vec![live.clone(), ns[0].clone(), ns[1].clone()]).await;
    assert_eq!((same.code, same.stdout.as_str()), (0, ""), "{same:?}");

    // A changed input: exit 1, the diff names the field.
    let changed = diff(vec![file("shop", json!({"color": "green", "extra": true}))]).await;
    assert_eq!(changed.code, 1, "{changed:?}");
    let header = format!("update ConfigMap {namespace}/shop (node config)");
    let body = body_of(&changed.stdout, &header);
    assert!(body.contains(&"-  color: blue") && body.contains(&"+  color: green"), "{changed:?}");
    assert!(!changed.stdout.contains("resourceVersion") && !changed.stdout.contains("managedFields"), "{changed:?}");
    let set = diff(vec![live.clone(), ns[0].clone(), ns[1].clone(), "--set".into(), "color=green".into()]).await;
    assert_eq!(set.code, 1, "{set:?}");
    assert!(set.stdout.contains("+  color: green"), "{set:?}");

    // A Secret value that changes: the key is shown changed, never a value.
    let secret = diff(vec![file("shop", json!({"color": "blue", "extra": true, "password": "hunter2"}))]).await;
    assert_eq!(secret.code, 1, "{secret:?}");
    let body = body_of(&secret.stdout, &format!("update Secret {namespace}/shop (node secret)"));
    assert!(body.iter().any(|line| line.starts_with("-  password: ") && line.contains("*** (before)")), "{secret:?}");
    assert!(body.iter().any(|line| line.starts_with("+  password: ") && line.contains("*** (after)")), "{secret:?}");
    for value in ["hunter2", "aHVudGVyMg==", "s3cret", "czNjcmV0"] {
        assert!(!secret.stdout.contains(value), "{value} leaked: {secret:?}");
    }

    // Nodes that left the graph: the ConfigMap would be pruned, the Secret (kept by default) orphaned.
    let gone = diff(vec![file("shop", json!({"color": "blue", "extra": false, "secret": false}))]).await;
    assert_eq!(gone.code, 1, "{gone:?}");
    assert!(
        gone.stdout.contains(&format!("would be pruned ConfigMap {namespace}/shop-extra (node extra)\n")),
        "{gone:?}"
    );
    let orphaned =
        format!("would be orphaned Secret {namespace}/shop (node secret): PersistentVolumeClaims and Secrets");
    assert!(gone.stdout.contains(&orphaned), "{gone:?}");
    assert!(gone.stderr.contains("1 to prune, 1 to orphan"), "{gone:?}");

    // A new Transform: every object would be created, all lines added.
    let fresh = diff(vec![file("fresh", json!({"color": "blue"}))]).await;
    assert_eq!(fresh.code, 1, "{fresh:?}");
    for (kind, node) in [("ConfigMap", "config"), ("Secret", "secret")] {
        let header = format!("create {kind} {namespace}/fresh (node {node})");
        let body = body_of(&fresh.stdout, &header);
        assert!(body.len() > 3 && body.iter().all(|line| line.starts_with(['+', '@'])), "{fresh:?}");
    }
    assert!(fresh.stdout.contains("--- /dev/null\n+++ dry-run/ConfigMap/"), "{fresh:?}");
    assert!(fresh.stdout.contains("+  color: blue") && fresh.stdout.contains("platform.pequod.io/resource-graph"));
    let objects: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert!(objects.get_opt("fresh").await.unwrap().is_none(), "a dry run creates nothing");

    // Another field manager takes a field: the conflict names it, the forced result follows, exit 6 (the
    // operator, which does not force, would fail to apply).
    let taken =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop"}, "data": {"color": "purple"}});
    objects.patch("shop", &PatchParams::apply("someone-else").force(), &Patch::Apply(&taken)).await.unwrap();
    let conflict = diff(vec![live.clone(), ns[0].clone(), ns[1].clone()]).await;
    assert_eq!(conflict.code, 6, "{conflict:?}");
    let line = conflict.stdout.lines().find(|line| line.starts_with("conflict ConfigMap")).expect("a conflict line");
    assert!(line.contains("someone-else") && line.contains(".data.color") && line.contains("would fail"), "{line}");
    let body = body_of(&conflict.stdout, &format!("update ConfigMap {namespace}/shop (node config)"));
    assert!(body.contains(&"-  color: purple") && body.contains(&"+  color: blue"), "{conflict:?}");

    operator.abort();
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_runs_as_the_tenant_and_reports_what_rbac_refuses() {
    let cluster = TestCluster::shared().await;
    cluster.install_crds(&pequod_api::crds()).await.unwrap();
    let client = cluster.client();
    let namespace = cluster.namespace("diff-rbac").await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    // The tenant may read and write ConfigMaps, nothing else.
    let post = PostParams::default();
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "tenant"}})).unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), &namespace).create(&post, &account).await.unwrap();
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "configmaps"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "patch"]}]}))
    .unwrap();
    Api::<Role>::namespaced(client.clone(), &namespace).create(&post, &role).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "tenant"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), &namespace).create(&post, &binding).await.unwrap();

    let tenant = transform("web", &namespace, json!({"color": "blue"}), Some("tenant"));
    let path = manifest(scratch.path(), "web.json", &tenant);
    let cache = scratch.path().join("cache");
    let refused = pequod_diff(cluster, &cache, &[path.to_str().unwrap()]).await;
    assert_eq!(refused.code, 6, "{refused:?}");
    assert!(refused.stdout.contains(&format!("create ConfigMap {namespace}/web (node config)")), "{refused:?}");
    let error = format!("error Secret {namespace}/web (node secret): ");
    let line = refused.stdout.lines().find(|line| line.starts_with(&error)).expect("the Secret's error");
    let user = format!("system:serviceaccount:{namespace}:tenant");
    assert!(line.contains("forbidden") && line.contains(&user), "{line}");
    assert!(refused.stderr.contains(&format!("dry runs as {user}")), "{refused:?}");

    // Usage and input errors are above 1 too, never mistaken for "changes".
    let missing = pequod_diff(cluster, &cache, &["tf/nothing", "-n", &namespace]).await;
    assert_eq!(missing.code, 5, "{missing:?}");
    assert!(missing.stderr.contains("there is no Transform"), "{missing:?}");
    let unreadable = pequod_diff(cluster, &cache, &[scratch.path().join("absent.yaml").to_str().unwrap()]).await;
    assert_eq!(unreadable.code, 4, "{unreadable:?}");
    cluster.delete_namespace(&namespace).await.unwrap();
}
