//! Helpers shared by the operator's cluster tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use pequod_api::Transform;
use pequod_operator::{Context, Options};
use pequod_sandbox::{Sandbox, SandboxOptions};
use pequod_test_harness::TestCluster;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The shared cluster with our CRDs installed, and a client for it.
pub async fn cluster() -> (&'static TestCluster, Client) {
    init_logs();
    let cluster = TestCluster::shared().await;
    cluster.install_crds(&pequod_api::crds()).await.expect("CRDs install");
    (cluster, cluster.client())
}

/// An operator confined to `namespace` (tests in one binary run side by side), talking through `client`.
pub struct Operator {
    pub context: Arc<Context>,
    task: JoinHandle<()>,
}

impl Operator {
    pub fn start(client: Client, namespace: &str) -> Self {
        Self::start_with(client, Options { namespace: Some(namespace.to_owned()), ..Options::default() })
    }

    pub fn start_with(client: Client, options: Options) -> Self {
        Self::start_with_sandbox(client, options, SandboxOptions::default())
    }

    /// An operator whose sandbox has `sandbox` options (a small memory budget, say).
    pub fn start_with_sandbox(client: Client, options: Options, sandbox: SandboxOptions) -> Self {
        let sandbox = Sandbox::new(sandbox).expect("sandbox");
        let context = Context::with_options(client, sandbox, options);
        let task = tokio::spawn(pequod_operator::run(Arc::clone(&context)));
        Self { context, task }
    }

    /// An operator that reconciles only while it holds the leader Lease of `election`.
    pub fn start_leading(client: Client, options: Options, election: pequod_operator::LeaderElection) -> Self {
        let sandbox = Sandbox::new(SandboxOptions::default()).expect("sandbox");
        let context = Context::with_options(client, sandbox, options);
        let run_options = pequod_operator::RunOptions { metrics_address: None, leader_election: Some(election) };
        let task = tokio::spawn({
            let context = Arc::clone(&context);
            async move {
                let _ = pequod_operator::run_with(context, run_options).await;
            }
        });
        Self { context, task }
    }

    /// Stops the operator abruptly, as a crash or a rescheduled pod would.
    pub async fn kill(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// How much of the render memory budget is reserved now, at most so far, and in all.
    pub fn memory_usage(&self) -> pequod_sandbox::MemoryBudgetUsage {
        self.context.sandbox.memory_usage()
    }

    /// Whether the operator is still running (it did not panic or give up).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// The value of a counter sample, e.g. `pequod_applies_total{result="applied"}`.
    pub fn counter(&self, sample: &str) -> u64 {
        let text = self.context.metrics.encode();
        text.lines()
            .find_map(|line| line.strip_prefix(sample)?.trim().parse::<f64>().ok())
            .map_or(0, |value| value as u64)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn transform(name: &str, input: Value) -> Value {
    json!({
        "apiVersion": "platform.pequod.io/v1alpha1",
        "kind": "Transform",
        "metadata": {"name": name},
        "spec": {"cueRef": {"type": "embedded", "ref": "webservice-example"}, "input": input}
    })
}

pub async fn apply(client: &Client, namespace: &str, manifest: &Value) {
    let api: Api<Transform> = Api::namespaced(client.clone(), namespace);
    let name = manifest["metadata"]["name"].as_str().unwrap();
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(manifest)).await.unwrap();
}

pub async fn apply_transform(client: &Client, namespace: &str, name: &str, input: Value) {
    apply(client, namespace, &transform(name, input)).await;
}

/// Polls `check` until it returns `Some`, or fails the test after `limit` with `what`.
pub async fn eventually_within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `check` until it returns `Some`, or fails the test after a minute with `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(Duration::from_secs(60), what, check).await
}

pub fn condition<'a>(
    transform: &'a Transform,
    kind: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    transform.status.as_ref()?.conditions.iter().find(|condition| condition.type_ == kind)
}

/// Waits for the Transform's `Ready` condition to be True.
pub async fn ready(client: &Client, namespace: &str, name: &str) -> Transform {
    let transforms: Api<Transform> = Api::namespaced(client.clone(), namespace);
    eventually(&format!("Transform {name} to be Ready"), || async {
        let transform = transforms.get(name).await.ok()?;
        (condition(&transform, "Ready")?.status == "True").then_some(transform)
    })
    .await
}

/// A TCP proxy in front of the API server that can be switched off: an outage as the operator sees it
/// (connections reset, new ones refused) without stopping the server other tests use.
pub struct FlakyProxy {
    pub address: SocketAddr,
    down: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl FlakyProxy {
    pub async fn start(cluster: &TestCluster) -> Self {
        let url = &cluster.config().cluster_url;
        let upstream: SocketAddr =
            format!("{}:{}", url.host().unwrap(), url.port_u16().unwrap_or(443)).parse().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(generation);
        let (accept_down, accept_generation) = (Arc::clone(&down), Arc::clone(&generation));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if accept_down.load(Ordering::SeqCst) {
                    continue; // dropped: connection reset
                }
                let mut cut = accept_generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { address, down, generation }
    }

    /// Cuts every open connection and refuses new ones until [`FlakyProxy::up`].
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.send_modify(|generation| *generation += 1);
    }

    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// A client for the cluster that goes through this proxy.
    pub fn client(&self, cluster: &TestCluster) -> Client {
        let mut config = cluster.config().clone();
        config.cluster_url = format!("https://{}", self.address).parse().unwrap();
        config.read_timeout = Some(Duration::from_secs(5));
        config.connect_timeout = Some(Duration::from_secs(2));
        Client::try_from(config).unwrap()
    }
}

/// An inline module that renders whatever nodes its input holds: the most hostile module there is.
pub const PASSTHROUGH: &str = r#"package passthrough

module: {name: "passthrough", version: "1.0.0"}
#Input: {nodes: {...}}
input: #Input
context: {...}
graph: nodes: input.nodes
"#;

/// A Transform of the [`PASSTHROUGH`] module rendering `nodes`.
pub fn passthrough(name: &str, nodes: Value) -> Value {
    json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform", "metadata": {"name": name},
        "spec": {"cueRef": {"type": "inline", "ref": PASSTHROUGH}, "input": {"nodes": nodes}}})
}

/// The reasons of the Events recorded about the object named `name` in `namespace`.
pub async fn reasons(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), namespace);
    let list = events.list(&Default::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|event| event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|event| event.reason)
        .collect()
}

/// With `PEQUOD_TEST_LOG` set (e.g. `pequod_operator=debug`), the operator's logs go to the test's output.
fn init_logs() {
    if let Ok(filter) = std::env::var("PEQUOD_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}
