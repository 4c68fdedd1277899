//! `pequod run`'s connection, scope and log flags on the harness's real API server: `--kubeconfig` and
//! `--context` pick the cluster and identity, `--namespace` limits the operator to one namespace, and
//! `--log-format json` writes one JSON object per line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pequod_test_harness::{TestCluster, mark_deployment_available};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `pequod run`, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `examples/webservice.yaml`, placed in `namespace`.
fn apply_example(cluster: &TestCluster, namespace: &str) {
    let example = std::fs::read_to_string(repository().join("examples/webservice.yaml")).unwrap();
    let manifest = example.replace("namespace: team-a", &format!("namespace: {namespace}"));
    let mut apply =
        cluster.kubectl().args(["apply", "-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    apply.stdin.take().unwrap().write_all(manifest.as_bytes()).unwrap();
    let applied = apply.wait_with_output().unwrap();
    assert!(applied.status.success(), "kubectl apply in {namespace} failed");
}

/// The Transform's Ready condition status, empty while it has none.
fn ready(cluster: &TestCluster, namespace: &str) -> String {
    let jsonpath = r#"-o=jsonpath={.status.conditions[?(@.type=="Ready")].status}"#;
    let output = cluster.kubectl().args(["get", "transform", "shop", "-n", namespace, jsonpath]).output().unwrap();
    text(&output.stdout)
}

/// A copy of the admin kubeconfig whose current context names no cluster, so only `--context` can work.
fn kubeconfig_with_other_current_context(cluster: &TestCluster, directory: &Path) -> PathBuf {
    let admin = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    assert!(admin.contains("current-context: pequod-test"), "{admin}");
    let path = directory.join("kubeconfig");
    std::fs::write(&path, admin.replace("current-context: pequod-test", "current-context: elsewhere")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_watches_one_namespace_with_the_kubeconfig_and_context_given_and_logs_json() {
    let cluster = TestCluster::shared().await;
    cluster.install_crds(&pequod_api::crds()).await.unwrap();
    let watched = cluster.namespace("watched").await.unwrap();
    let ignored = cluster.namespace("ignored").await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_with_other_current_context(cluster, scratch.path());
    let log_path = scratch.path().join("operator.log");
    let _operator = Running(
        Command::new(env!("CARGO_BIN_EXE_pequod"))
            .args(["run", "--metrics-bind-address", "off", "--log-format", "json", "--namespace", &watched])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--context", "pequod-test", "--cache-dir"])
            .arg(scratch.path().join("cache"))
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("pequod run starts"),
    );
    apply_example(cluster, &ignored);
    apply_example(cluster, &watched);

    // The watched namespace's Transform becomes Ready.
    let client = cluster.client();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready(cluster, &watched) != "True" {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(Instant::now() < deadline, "the watched Transform did not become Ready; operator log:\n{log}");
        let _ = mark_deployment_available(&client, &watched, "shop").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The other one, applied first, was never touched: no status, no ResourceGraph.
    assert_eq!(ready(cluster, &ignored), "", "a Transform outside --namespace was reconciled");
    let graphs = cluster.kubectl().args(["get", "resourcegraphs", "-n", &ignored, "-o", "name"]).output().unwrap();
    assert_eq!(text(&graphs.stdout).trim(), "", "a ResourceGraph appeared outside --namespace");

    // Every log line is a JSON object; the first says which namespace is watched.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}")))
        .collect();
    let started = lines.iter().find(|line| line["message"] == "pequod operator started, watching one namespace");
    assert_eq!(started.map(|line| line["namespace"].clone()), Some(serde_json::json!(watched)), "{log}");
    assert!(lines.iter().all(|line| line["level"].is_string() && line["timestamp"].is_string()), "{log}");
    assert!(
        lines.iter().any(|line| line["object"] == format!("Transform/{watched}/shop") && line["reason"] == "Ready"),
        "{log}"
    );
}

#[test]
fn run_explains_a_kubeconfig_or_context_it_cannot_use() {
    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("missing.kubeconfig");
    let run = |arguments: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pequod"))
            .args(["run", "--metrics-bind-address", "off"])
            .args(arguments)
            .output()
            .expect("pequod runs")
    };
    let output = run(&["--kubeconfig", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cannot read the kubeconfig") && stderr.contains("missing.kubeconfig"), "{stderr}");

    let kubeconfig = scratch.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: here\n  context:\n    cluster: c\n    user: u\n\
         current-context: here\n",
    )
    .unwrap();
    let output = run(&["--kubeconfig", kubeconfig.to_str().unwrap(), "--context", "nowhere"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--context") && stderr.contains("nowhere"), "{stderr}");

    let output = run(&["--log-format", "yaml"]);
    assert_eq!(output.status.code(), Some(2), "clap refuses an unknown log format");

    // Shard names are label values, listed once; a shard is not also the main operator.
    for (arguments, expected) in
        [(&["--shard", "Blue Team"][..], "not a label value"), (&["--shards", "blue,blue"][..], "listed twice")]
    {
        let output = run(arguments);
        assert_eq!(output.status.code(), Some(1), "{arguments:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("--shard") && stderr.contains(expected), "{arguments:?}: {stderr}");
    }
    let output = run(&["--shard", "blue", "--shards", "blue,green"]);
    assert_eq!(output.status.code(), Some(2), "clap refuses --shard with --shards");
}
