//! The API load of graphs waiting on readiness: 50 Transforms of the webservice module whose Deployments
//! never become available (nothing plays kubelet), on the real API server harness. After the graphs have
//! waited `PEQUOD_BENCH_SETTLE` seconds (default 60), the API server's own request counter
//! (`apiserver_request_total`) is read over one minute, once with readiness re-checks at a constant 2 s (the
//! old behaviour, `readiness_poll_max: 2s`) and once with the per-node backoff (default, up to 60 s).
//!
//! `cargo bench -p pequod-operator --bench readiness_polling` (`PEQUOD_BENCH_GRAPHS` changes the count).

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::Api;
use pequod_api::{ResourceGraph, Transform};
use pequod_operator::{Context, Options};
use pequod_sandbox::{Sandbox, SandboxOptions};
use pequod_test_harness::TestCluster;

/// Requests the API server has served so far, all verbs and resources.
async fn served(client: &Client) -> f64 {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    text.lines()
        .filter(|line| line.starts_with("apiserver_request_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Requests per minute while `count` graphs wait, with re-checks backing off up to `max`.
async fn measure(cluster: &TestCluster, count: usize, max: Duration, settle: Duration) -> (f64, f64) {
    let client = cluster.client();
    let namespace = cluster.namespace("bench-waiting").await.unwrap();
    let sandbox = Sandbox::new(SandboxOptions::default()).unwrap();
    let options = Options { namespace: Some(namespace.clone()), readiness_poll_max: max, ..Options::default() };
    let context = Context::with_options(client.clone(), sandbox, options);
    let operator = tokio::spawn(pequod_operator::run(Arc::clone(&context)));
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    common::apply_webservices(&transforms, count).await;
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), &namespace);
    let started = Instant::now();
    while graphs.list(&Default::default()).await.unwrap().items.iter().filter(|g| g.status.is_some()).count() < count {
        assert!(started.elapsed() < Duration::from_secs(300), "the graphs were not applied in 5 minutes");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(settle).await;
    let (before, reconciles_before) = (served(&client).await, reconciles(&context));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (after, reconciles_after) = (served(&client).await, reconciles(&context));
    operator.abort();
    cluster.delete_namespace(&namespace).await.unwrap();
    (after - before, reconciles_after - reconciles_before)
}

fn reconciles(context: &Context) -> f64 {
    let text = context.metrics.encode();
    text.lines()
        .filter(|line| line.starts_with("pequod_reconciles_total{controller=\"ResourceGraph\"}"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let count = env("PEQUOD_BENCH_GRAPHS", 50) as usize;
    let settle = Duration::from_secs(env("PEQUOD_BENCH_SETTLE", 60));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let cluster = TestCluster::shared().await;
        cluster.install_crds(&pequod_api::crds()).await.unwrap();
        let idle = served(&cluster.client()).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        let idle = served(&cluster.client()).await - idle;
        println!(
            "{count} graphs waiting on Deployments that never become available, measured over 1 minute after {} s",
            settle.as_secs()
        );
        println!("{:<34} {:>18} {:>22}", "readiness re-checks", "API requests/min", "graph reconciles/min");
        println!("{:<34} {:>18.0} {:>22}", "none (API server idle)", idle, "-");
        let (constant, constant_reconciles) = measure(cluster, count, Duration::from_secs(2), settle).await;
        println!("{:<34} {:>18.0} {:>22.0}", "every 2 s (before)", constant, constant_reconciles);
        let (backoff, backoff_reconciles) = measure(cluster, count, Duration::from_secs(60), settle).await;
        println!("{:<34} {:>18.0} {:>22.0}", "per-node backoff up to 60 s (now)", backoff, backoff_reconciles);
        println!(
            "ratio before/now: {:.1}x requests, {:.1}x reconciles",
            (constant - idle) / (backoff - idle).max(1.0),
            constant_reconciles / backoff_reconciles.max(1.0)
        );
    });
}
