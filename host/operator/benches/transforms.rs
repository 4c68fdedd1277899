//! 200 Transforms of the webservice module reconciled to Ready on the real API server harness, with the
//! benchmark playing kubelet (every Deployment that appears is marked available). Prints total time,
//! reconciles per second, CPU time and peak memory of the process, with and without the render cache.
//!
//! `cargo bench -p pequod-operator --bench transforms` (set `PEQUOD_BENCH_TRANSFORMS` to change the count).

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::Api;
use pequod_api::Transform;
use pequod_operator::{Context, Options};
use pequod_sandbox::{Sandbox, SandboxOptions};
use pequod_test_harness::{TestCluster, mark_deployment_available};

struct Outcome {
    elapsed: Duration,
    reconciles: f64,
    renders: u64,
    cpu: Duration,
}

fn cpu_time() -> Duration {
    // utime + stime of this process, from /proc (clock ticks of 10 ms on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn run(cluster: &TestCluster, client: Client, count: usize, render_cache: bool) -> Outcome {
    let namespace = cluster.namespace(if render_cache { "bench-cache" } else { "bench-nocache" }).await.unwrap();
    let sandbox = Sandbox::new(SandboxOptions::default()).unwrap();
    let options = Options { namespace: Some(namespace.clone()), render_cache, ..Options::default() };
    let context = Context::with_options(client.clone(), sandbox, options);
    let operator = tokio::spawn(pequod_operator::run(Arc::clone(&context)));
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let cpu_before = cpu_time();
    let started = Instant::now();
    common::apply_webservices(&transforms, count).await;
    let mut marked = HashSet::new();
    loop {
        for deployment in deployments.list(&Default::default()).await.unwrap() {
            let name = deployment.metadata.name.unwrap();
            if marked.insert(name.clone()) {
                mark_deployment_available(&client, &namespace, &name).await.unwrap();
            }
        }
        let ready = transforms
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|t| {
                t.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready == count {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(900), "only {ready}/{count} Ready after 15 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let text = context.metrics.encode();
    let reconciles = sample(&text, "pequod_reconciles_total");
    let renders = context.metrics.renders_done();
    operator.abort();
    cluster.delete_namespace(&namespace).await.unwrap();
    Outcome { elapsed, reconciles, renders, cpu }
}

fn main() {
    let count: usize = std::env::var("PEQUOD_BENCH_TRANSFORMS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let cluster = TestCluster::shared().await;
        cluster.install_crds(&pequod_api::crds()).await.unwrap();
        println!(
            "{count} Transforms of the CUE webservice module (4 objects each) to Ready on a real kube-apiserver (benchmark plays kubelet)"
        );
        println!(
            "{:<16} {:>9} {:>12} {:>13} {:>9} {:>10} {:>12}",
            "render cache", "total s", "Ready/s", "reconciles/s", "renders", "CPU s", "peak RSS MiB"
        );
        for render_cache in [true, false] {
            let outcome = run(cluster, cluster.client(), count, render_cache).await;
            let seconds = outcome.elapsed.as_secs_f64();
            println!(
                "{:<16} {:>9.1} {:>12.1} {:>13.1} {:>9} {:>10.1} {:>12.0}",
                if render_cache { "on" } else { "off" },
                seconds,
                count as f64 / seconds,
                outcome.reconciles / seconds,
                outcome.renders,
                outcome.cpu.as_secs_f64(),
                peak_rss_mib()
            );
        }
        println!("(CPU and peak RSS are of the whole benchmark process: operator, sandbox and the kubelet stand-in;");
        println!(" the API server and etcd run in their own processes and are not counted)");
    });
}
