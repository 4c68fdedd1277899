//! The operator as a user runs it: the real `pequod run` binary against the harness's real kube-apiserver,
//! driven with the real `kubectl` — `pequod crds | kubectl apply`, `kubectl apply -f examples/…`, and the
//! story told by `kubectl get` and `kubectl describe`, for a good and a failing input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pequod_test_harness::{TestCluster, mark_deployment_available};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn kubectl(cluster: &TestCluster, arguments: &[&str]) -> Output {
    cluster.kubectl().args(arguments).output().expect("kubectl runs")
}

fn kubectl_ok(cluster: &TestCluster, arguments: &[&str]) -> String {
    let output = kubectl(cluster, arguments);
    assert!(output.status.success(), "kubectl {arguments:?}: {}{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

/// Polls `kubectl` until `check` accepts its output (two minutes at most).
fn wait_for(cluster: &TestCluster, what: &str, arguments: &[&str], check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let output = kubectl(cluster, arguments);
        let stdout = text(&output.stdout);
        if output.status.success() && check(&stdout) {
            return stdout;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last output:\n{stdout}{}",
            text(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `pequod run`, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_with_pequod_run_tells_the_whole_story() {
    let cluster = TestCluster::shared().await;
    let client = cluster.client();
    let cache = tempfile::tempdir().unwrap();
    let pequod = env!("CARGO_BIN_EXE_pequod");

    // pequod crds | kubectl apply -f -
    let crds = Command::new(pequod).arg("crds").output().expect("pequod crds runs");
    assert!(crds.status.success());
    let mut apply =
        cluster.kubectl().args(["apply", "-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    apply.stdin.take().unwrap().write_all(&crds.stdout).unwrap();
    let applied = apply.wait_with_output().unwrap();
    assert!(applied.status.success(), "{}", text(&applied.stdout));
    wait_for(cluster, "the Transform CRD", &["get", "crd", "transforms.platform.pequod.io"], |_| true);

    let _operator = Running(
        Command::new(pequod)
            .args(["run", "--metrics-bind-address", "off"])
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("PEQUOD_CACHE_DIR", cache.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(cache.path().join("operator.log")).unwrap())
            .spawn()
            .expect("pequod run starts"),
    );
    kubectl_ok(cluster, &["create", "namespace", "team-a"]);

    // kubectl apply -f examples/webservice.yaml: rendered, applied in order, Ready once the Deployment is up.
    let example = repository().join("examples/webservice.yaml");
    kubectl_ok(cluster, &["apply", "-f", example.to_str().unwrap()]);
    wait_for(cluster, "the Deployment", &["get", "deployment", "shop", "-n", "team-a", "-o", "name"], |out| {
        out.contains("deployment.apps/shop")
    });
    mark_deployment_available(&client, "team-a", "shop").await.unwrap();
    let ready = r#"-o=jsonpath={.status.conditions[?(@.type=="Ready")].status}"#;
    wait_for(cluster, "Ready=True", &["get", "transform", "shop", "-n", "team-a", ready], |out| out == "True");

    let listed = kubectl_ok(cluster, &["get", "transforms,resourcegraphs", "-n", "team-a"]);
    let transform_row = listed.lines().find(|line| line.starts_with("transform.platform.pequod.io/shop")).unwrap();
    for column in ["webservice", "True", "4/4"] {
        assert!(transform_row.contains(column), "{column} missing from:\n{listed}");
    }
    assert!(listed.contains("resourcegraph.platform.pequod.io/shop"), "{listed}");
    let described = kubectl_ok(cluster, &["describe", "transform", "shop", "-n", "team-a"]);
    let needles = ["SourceReady", "PolicyPassed", "all 4 nodes are ready", "Module:            webservice 1.0.0"];
    for needle in needles.into_iter().chain(["Deployment shop created (node deployment)", "Normal  Ready"]) {
        assert!(described.contains(needle), "{needle} missing from:\n{described}");
    }
    let objects = kubectl_ok(cluster, &["get", "serviceaccount,service,networkpolicy", "-n", "team-a", "-o", "name"]);
    assert_eq!(objects.lines().filter(|line| line.ends_with("/shop")).count(), 3, "{objects}");

    // A failing input: the violations, with spec.input paths, are in `kubectl describe`; nothing else moves.
    let invalid = repository().join("examples/webservice-invalid.yaml");
    kubectl_ok(cluster, &["apply", "-f", invalid.to_str().unwrap()]);
    let rendered = r#"-o=jsonpath={.status.conditions[?(@.type=="Rendered")].reason}"#;
    wait_for(cluster, "the rejection", &["get", "transform", "broken", "-n", "team-a", rendered], |out| {
        out == "Rejected"
    });
    let described = kubectl_ok(cluster, &["describe", "transform", "broken", "-n", "team-a"]);
    for needle in ["Rejected", "replicas", "Violations:", "out of bound"] {
        assert!(described.contains(needle), "{needle} missing from:\n{described}");
    }
    let listed = kubectl_ok(cluster, &["get", "transform", "broken", "-n", "team-a"]);
    assert!(listed.contains("False"), "{listed}");
    let graphs = kubectl(cluster, &["get", "resourcegraph", "broken", "-n", "team-a"]);
    assert!(!graphs.status.success(), "a rejected input gets no ResourceGraph");
    // kstatus: the rejected Transform is Stalled (only a change helps), the Ready one neither.
    let stalled = r#"-o=jsonpath={.status.conditions[?(@.type=="Stalled")].reason}"#;
    assert_eq!(kubectl_ok(cluster, &["get", "transform", "broken", "-n", "team-a", stalled]), "Rejected");
    let shop =
        kubectl_ok(cluster, &["get", "transform", "shop", "-n", "team-a", "-o=jsonpath={.status.conditions[*].type}"]);
    assert!(!shop.contains("Stalled") && !shop.contains("Reconciling"), "{shop}");

    // PlatformPolicies report what they apply to, and whether they are valid, in `kubectl get`.
    let policies = "apiVersion: platform.pequod.io/v1alpha1\nkind: PlatformPolicy\nmetadata: {name: team-a}\n\
                    spec: {namespaces: [team-a]}\n---\napiVersion: platform.pequod.io/v1alpha1\n\
                    kind: PlatformPolicy\nmetadata: {name: broken}\nspec: {sandbox: {memory: lots}}\n";
    let mut apply =
        cluster.kubectl().args(["apply", "-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    apply.stdin.take().unwrap().write_all(policies.as_bytes()).unwrap();
    assert!(apply.wait().unwrap().success());
    let counts = "-o=jsonpath={.status.namespaceCount}/{.status.transforms}";
    wait_for(cluster, "the policy's status", &["get", "platformpolicy", "team-a", counts], |out| out == "1/2");
    let valid = r#"-o=jsonpath={.status.conditions[?(@.type=="Ready")].reason}"#;
    wait_for(cluster, "the broken policy's status", &["get", "platformpolicy", "broken", valid], |out| {
        out == "InvalidPolicy"
    });
    let listed = kubectl_ok(cluster, &["get", "platformpolicies"]);
    assert!(listed.contains("TRANSFORMS") && listed.contains("False"), "{listed}");

    // The operator's log tells the same story, one line per step, each naming its object.
    let log = std::fs::read_to_string(cache.path().join("operator.log")).unwrap();
    let about = |object: &str, reason: &str| {
        log.lines()
            .any(|line| line.contains(&format!("object={object}")) && line.contains(&format!("reason=\"{reason}\"")))
    };
    assert!(about("Transform/team-a/shop", "Ready"), "{log}");
    assert!(about("Transform/team-a/broken", "Rejected"), "{log}");
}
