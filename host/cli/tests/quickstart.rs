//! `docs/getting-started.md`, run: every command of its `sh` blocks, in order, against the harness's real
//! API server, as a cluster admin would type them — but for the `kind`, `docker` and `git` lines, which make
//! the cluster and the image. The chart's Deployment has no kubelet to run it, so once `helm install` has run
//! the test starts the real `pequod run` outside the cluster with the Deployment's own arguments and the
//! chart's ServiceAccount's identity (a token for it), and plays the kubelet for every Deployment. So the page
//! cannot rot: a command that fails, or a wait that does not end, fails this test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use pequod_test_harness::helm::helm_or_skip;
use pequod_test_harness::{TestCluster, mark_deployment_available};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The commands of the page's ```sh blocks, continuation lines joined, comments and blank lines left out.
fn commands(page: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in page.lines() {
        if line.starts_with("```") {
            in_block = line.trim() == "```sh";
            continue;
        }
        let line = line.trim();
        if !in_block || line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

/// Whether a command makes the cluster or the image, which the test has no means to do (no container engine).
fn needs_kind_or_docker(command: &str) -> bool {
    matches!(command.split_whitespace().next(), Some("kind" | "docker" | "git"))
}

#[test]
fn the_page_is_read_as_its_commands() {
    let page =
        "text\n```sh\nkind create cluster\nkubectl apply \\\n  -f x.yaml   # apply\n\n```\n```yaml\nkind: X\n```\n";
    let found = commands(page);
    assert_eq!(found, ["kind create cluster", "kubectl apply -f x.yaml   # apply"]);
    assert!(needs_kind_or_docker(&found[0]) && !needs_kind_or_docker(&found[1]));
}

/// `pequod run`, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn kubectl_ok(cluster: &TestCluster, arguments: &[&str]) -> String {
    let output = cluster.kubectl().args(arguments).output().expect("kubectl runs");
    assert!(output.status.success(), "kubectl {arguments:?}: {}", text(&output.stderr));
    text(&output.stdout)
}

/// A kubeconfig for the chart's ServiceAccount `pequod-system/pequod`, from a token the API server issues.
fn operator_kubeconfig(cluster: &TestCluster, directory: &Path) -> PathBuf {
    let token = kubectl_ok(cluster, &["create", "token", "pequod", "-n", "pequod-system", "--duration=1h"]);
    let server = kubectl_ok(cluster, &["config", "view", "--minify", "-o=jsonpath={.clusters[0].cluster.server}"]);
    let path = directory.join("operator.kubeconfig");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    \
         insecure-skip-tls-verify: true\nusers:\n- name: pequod\n  user:\n    token: {token}\ncontexts:\n- name: \
         pequod\n  context:\n    cluster: c\n    user: pequod\ncurrent-context: other\n",
        token = token.trim()
    );
    std::fs::write(&path, kubeconfig).unwrap();
    path
}

/// The arguments of the chart's operator container, for a process on this machine: the cache in `directory`
/// and the metrics on a free loopback port instead of the pod's.
async fn chart_arguments(cluster: &TestCluster, directory: &Path) -> (Vec<String>, String) {
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "pequod-system");
    let deployment = deployments.get("pequod").await.expect("helm install created the Deployment");
    let container = deployment.spec.unwrap().template.spec.unwrap().containers.remove(0);
    let log_level = container.env.unwrap_or_default().into_iter().find(|var| var.name == "PEQUOD_LOG");
    let arguments = container
        .args
        .unwrap_or_default()
        .into_iter()
        .map(|argument| match argument.split_once('=') {
            Some(("--cache-dir", _)) => format!("--cache-dir={}", directory.join("cache").display()),
            Some(("--metrics-bind-address", _)) => format!("--metrics-bind-address=127.0.0.1:{}", free_port()),
            _ => argument,
        })
        .collect();
    (arguments, log_level.and_then(|var| var.value).unwrap_or_default())
}

/// Starts `pequod run` as the chart's Deployment would, with `--kubeconfig` and `--context` naming the
/// operator's identity.
async fn start_operator(cluster: &TestCluster, directory: &Path) -> Running {
    let kubeconfig = operator_kubeconfig(cluster, directory);
    let (arguments, log_level) = chart_arguments(cluster, directory).await;
    assert!(arguments.iter().any(|argument| argument == "--leader-elect"), "{arguments:?}");
    let log = std::fs::File::create(directory.join("operator.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pequod"))
        .args(&arguments)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", "pequod"])
        .env_remove("KUBECONFIG")
        .env("PEQUOD_LOG", log_level)
        .env("POD_NAME", "pequod-quickstart")
        .env("POD_NAMESPACE", "pequod-system")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("pequod run starts");
    Running(child)
}

/// Plays the kubelet and the deployment controller: every Deployment of these namespaces is reported rolled
/// out and available soon after it is created or changed.
fn play_kubelet(cluster: &'static TestCluster, namespaces: &'static [&'static str]) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = cluster.client();
        loop {
            for namespace in namespaces {
                let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
                let Ok(list) = api.list(&ListParams::default()).await else { continue };
                for deployment in list.items.iter().filter(|deployment| !available(deployment)) {
                    let name = deployment.metadata.name.as_deref().unwrap_or_default();
                    let _ = mark_deployment_available(&client, namespace, name).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

fn available(deployment: &Deployment) -> bool {
    let wanted = deployment.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1);
    let status = deployment.status.as_ref();
    status.and_then(|status| status.observed_generation) == deployment.metadata.generation
        && status.and_then(|status| status.available_replicas) == Some(wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getting_started_reaches_ready_changes_and_deletes() {
    let Some(helm) = helm_or_skip("getting_started_reaches_ready_changes_and_deletes") else { return };
    let cluster = TestCluster::shared().await;
    let scratch = tempfile::tempdir().unwrap();
    let page = std::fs::read_to_string(repository().join("docs/getting-started.md")).unwrap();
    let commands = commands(&page);
    for step in [
        "helm install pequod deploy/chart",
        "kubectl create namespace team-a",
        "kubectl -n team-a create rolebinding pequod-tenant",
        "kubectl apply -f examples/webservice.yaml",
        "kubectl -n team-a wait transform/shop --for=condition=Ready",
        "kubectl -n team-a patch transform shop",
        "kubectl delete -f examples/webservice.yaml",
        "helm uninstall pequod",
    ] {
        assert!(commands.iter().any(|command| command.starts_with(step)), "the page lost the step {step:?}");
    }

    // `helm` and `kubectl` on PATH are the pinned helm and the control plane's kubectl.
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(&helm, bin.join("helm")).unwrap();
    std::os::unix::fs::symlink(std::fs::canonicalize(cluster.kubectl_path()).unwrap(), bin.join("kubectl")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let kubelet = play_kubelet(cluster, &["pequod-system", "team-a"]);
    let mut operator = None;
    let mut transcript = String::new();
    for command in commands.iter().filter(|command| !needs_kind_or_docker(command)) {
        let output = Command::new("bash")
            .args(["-euo", "pipefail", "-c", command])
            .current_dir(repository())
            .env("PATH", &path)
            .env("KUBECONFIG", cluster.kubeconfig())
            .output()
            .expect("bash runs");
        transcript.push_str(&format!("$ {command}\n{}{}", text(&output.stdout), text(&output.stderr)));
        if !output.status.success() {
            let log = std::fs::read_to_string(scratch.path().join("operator.log")).unwrap_or_default();
            panic!("docs/getting-started.md: `{command}` failed.\n{transcript}\noperator log:\n{log}");
        }
        if command.starts_with("helm install") {
            operator = Some(start_operator(cluster, scratch.path()).await);
        }
    }
    kubelet.abort();
    drop(operator);

    // What the page promised happened, and the operator said so in its log.
    assert!(transcript.contains("transform.platform.pequod.io/shop condition met"), "{transcript}");
    assert!(transcript.contains("deployment.apps/shop condition met"), "{transcript}");
    let log = std::fs::read_to_string(scratch.path().join("operator.log")).unwrap();
    assert!(log.contains("object=Transform/team-a/shop") && log.contains("reason=\"Ready\""), "{log}");
    assert!(log.contains("became the leader"), "the operator ran with leader election: {log}");
    let graphs = kubectl_ok(cluster, &["get", "resourcegraphs", "-n", "team-a", "-o", "name"]);
    assert!(graphs.trim().is_empty(), "a ResourceGraph outlived its Transform: {graphs}");
}
