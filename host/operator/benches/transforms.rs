//! Transforms of the CUE `webservice` module over several namespaces, reconciled by one cluster-wide operator
//! on the real API server harness, with the benchmark playing kubelet (a watch marks every Deployment that is
//! not available as available). Three phases, each timed until the cluster says it is done:
//!
//! - **create**: apply every Transform, until all are Ready;
//! - **update**: change every Transform's input (replicas 2 → 3), until all are Ready at their new generation;
//! - **delete**: delete every Transform, until every ResourceGraph (and so every object) is gone.
//!
//! For each: time, Transforms per second, API requests per Transform (the API server's own request counter,
//! so the operator's and the benchmark's requests), CPU time and peak RSS of the process. Run with and without
//! the render cache.
//!
//! `cargo bench --profile dev -p pequod-operator --bench transforms`; `PEQUOD_BENCH_TRANSFORMS` sets the count
//! (default 200), `PEQUOD_BENCH_NAMESPACES` the namespaces (default one per 20 Transforms),
//! `PEQUOD_BENCH_CACHE=on|off` runs one render-cache setting only.
//!
//! The benchmark watches instead of listing: polling full lists of N objects every few hundred milliseconds
//! costs the API server O(N) per poll, O(N²) over a run, and made the earlier version of this benchmark (and
//! not the operator) the bottleneck at 1,000 Transforms.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use pequod_api::{ResourceGraph, Transform};
use pequod_operator::{Context, Options};
use pequod_sandbox::{Sandbox, SandboxOptions};
use pequod_test_harness::{TestCluster, mark_deployment_available};

/// How long one phase may take before the benchmark gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(1800);

struct Phase {
    name: &'static str,
    elapsed: Duration,
    /// Requests served during the phase, by verb and resource.
    requests: BTreeMap<String, f64>,
    cpu: Duration,
}

impl Phase {
    fn total_requests(&self) -> f64 {
        self.requests.values().sum()
    }

    /// The `n` kinds of request the phase made most of, with how many per Transform.
    fn top_requests(&self, n: usize, count: usize) -> String {
        let mut kinds: Vec<(&String, &f64)> = self.requests.iter().filter(|(_, value)| **value > 0.0).collect();
        kinds.sort_by(|a, b| b.1.total_cmp(a.1));
        let top: Vec<String> =
            kinds.iter().take(n).map(|(kind, value)| format!("{kind} {:.1}", *value / count as f64)).collect();
        top.join(", ")
    }
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

/// Requests the API server has served so far, by verb and resource (`PATCH deployments/status`).
async fn served(client: &Client) -> BTreeMap<String, f64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let mut served = BTreeMap::new();
    for line in text.lines().filter(|line| line.starts_with("apiserver_request_total{")) {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            line[start..].split('"').next()
        };
        let (Some(verb), Some(resource)) = (label("verb"), label("resource")) else { continue };
        let kind = match label("subresource").filter(|sub| !sub.is_empty()) {
            Some(sub) => format!("{verb} {resource}/{sub}"),
            None => format!("{verb} {resource}"),
        };
        let value = line.rsplit(' ').next().and_then(|value| value.parse::<f64>().ok()).unwrap_or(0.0);
        *served.entry(kind).or_insert(0.0) += value;
    }
    served
}

fn difference(after: BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after.into_iter().map(|(kind, value)| (kind.clone(), value - before.get(&kind).copied().unwrap_or(0.0))).collect()
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|value| value.parse().ok())
}

/// Plays kubelet for every namespace: each Deployment that is not available at its generation is marked so.
fn play_kubelet(client: Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let deployments: Api<Deployment> = Api::all(client.clone());
        let stream = watcher(deployments, watcher::Config::default()).applied_objects();
        stream
            .try_for_each_concurrent(8, |deployment| {
                let client = client.clone();
                async move {
                    if !available(&deployment) {
                        let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
                        let name = deployment.metadata.name.clone().unwrap_or_default();
                        let _ = mark_deployment_available(&client, &namespace, &name).await;
                    }
                    Ok(())
                }
            })
            .await
            .ok();
    })
}

fn available(deployment: &Deployment) -> bool {
    let wanted = deployment.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1);
    let status = deployment.status.as_ref();
    status.and_then(|status| status.observed_generation) == deployment.metadata.generation
        && status.and_then(|status| status.available_replicas) == Some(wanted)
}

/// A cache of every object of kind `K` in the cluster, kept by a watch (no list polling).
fn mirror<K>(client: Client) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(Api::<K>::all(client), watcher::Config::default()));
    let task = tokio::spawn(async move { stream.applied_objects().for_each(|_| async {}).await });
    (reader, task)
}

/// Whether the Transform is Ready at its current generation.
fn ready_now(transform: &Transform) -> bool {
    let generation = transform.metadata.generation;
    transform.status.as_ref().is_some_and(|status| {
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True" && c.observed_generation == generation)
    })
}

/// Waits until `done` holds, checking the local caches (no API calls) every 100 ms.
async fn wait(what: &str, started: Instant, mut done: impl FnMut() -> (bool, String)) {
    loop {
        let (finished, progress) = done();
        if finished {
            return;
        }
        assert!(started.elapsed() < PHASE_LIMIT, "{what}: gave up after {PHASE_LIMIT:?} ({progress})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Transforms' (namespace, name), spread round-robin over `namespaces`.
fn names(namespaces: &[String], count: usize) -> Vec<(String, String)> {
    (0..count).map(|index| (namespaces[index % namespaces.len()].clone(), format!("svc-{index}"))).collect()
}

async fn apply_all(client: &Client, transforms: &[(String, String)], replicas: u32) {
    futures::stream::iter(transforms)
        .for_each_concurrent(8, |(namespace, name)| async move {
            let api: Api<Transform> = Api::namespaced(client.clone(), namespace);
            let manifest = common::webservice(name, replicas);
            api.patch(name, &PatchParams::apply("bench"), &Patch::Apply(&manifest)).await.unwrap();
        })
        .await;
}

async fn delete_all(client: &Client, transforms: &[(String, String)]) {
    futures::stream::iter(transforms)
        .for_each_concurrent(8, |(namespace, name)| async move {
            let api: Api<Transform> = Api::namespaced(client.clone(), namespace);
            api.delete(name, &DeleteParams::default()).await.unwrap();
        })
        .await;
}

/// Runs `step`, then waits for `done`, and measures the phase.
async fn phase<F, D>(client: &Client, name: &'static str, step: F, done: D) -> Phase
where
    F: Future<Output = ()>,
    D: FnMut() -> (bool, String),
{
    let (requests_before, cpu_before, started) = (served(client).await, cpu_time(), Instant::now());
    step.await;
    wait(name, started, done).await;
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    Phase { name, elapsed, requests: difference(served(client).await, &requests_before), cpu }
}

async fn run(cluster: &TestCluster, count: usize, namespace_count: usize, render_cache: bool) -> Vec<Phase> {
    let client = cluster.client();
    let mut namespaces = Vec::new();
    for _ in 0..namespace_count {
        namespaces.push(cluster.namespace(if render_cache { "bench-cache" } else { "bench-nocache" }).await.unwrap());
    }
    let sandbox = Sandbox::new(SandboxOptions::default()).unwrap();
    let context = Context::with_options(client.clone(), sandbox, Options { render_cache, ..Options::default() });
    let operator = tokio::spawn(pequod_operator::run(Arc::clone(&context)));
    let kubelet = play_kubelet(client.clone());
    let (transform_cache, transform_task) = mirror::<Transform>(client.clone());
    let (graph_cache, graph_task) = mirror::<ResourceGraph>(client.clone());
    let transforms = names(&namespaces, count);
    let ready = |cache: &Store<Transform>| {
        let state = cache.state();
        let ready = state.iter().filter(|transform| ready_now(transform)).count();
        (ready == count, format!("{ready}/{count} Ready"))
    };

    let mut phases = Vec::new();
    phases.push(phase(&client, "create", apply_all(&client, &transforms, 2), || ready(&transform_cache)).await);
    phases.push(phase(&client, "update", apply_all(&client, &transforms, 3), || ready(&transform_cache)).await);
    let gone = || {
        let left = graph_cache.state().len();
        (left == 0 && transform_cache.state().is_empty(), format!("{left} ResourceGraphs left"))
    };
    phases.push(phase(&client, "delete", delete_all(&client, &transforms), gone).await);

    for task in [operator, kubelet, transform_task, graph_task] {
        task.abort();
    }
    for namespace in &namespaces {
        cluster.delete_namespace(namespace).await.unwrap();
    }
    phases
}

fn main() {
    let count = env_number("PEQUOD_BENCH_TRANSFORMS").unwrap_or(200);
    let namespaces = env_number("PEQUOD_BENCH_NAMESPACES").unwrap_or((count / 20).max(1));
    let settings: Vec<bool> = match std::env::var("PEQUOD_BENCH_CACHE").as_deref() {
        Ok("on") => vec![true],
        Ok("off") => vec![false],
        _ => vec![true, false],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let cluster = TestCluster::shared().await;
        cluster.install_crds(&pequod_api::crds()).await.unwrap();
        println!(
            "{count} Transforms of the CUE webservice module (4 objects each) in {namespaces} namespaces, one \
             cluster-wide operator, real kube-apiserver (benchmark plays kubelet)"
        );
        println!(
            "{:<7} {:<7} {:>9} {:>13} {:>14} {:>8} {:>13}",
            "cache", "phase", "total s", "Transforms/s", "requests/Tf", "CPU s", "peak RSS MiB"
        );
        let mut breakdown = Vec::new();
        for render_cache in settings {
            for phase in run(cluster, count, namespaces, render_cache).await {
                let seconds = phase.elapsed.as_secs_f64();
                println!(
                    "{:<7} {:<7} {:>9.1} {:>13.1} {:>14.1} {:>8.1} {:>13.0}",
                    if render_cache { "on" } else { "off" },
                    phase.name,
                    seconds,
                    count as f64 / seconds,
                    phase.total_requests() / count as f64,
                    phase.cpu.as_secs_f64(),
                    peak_rss_mib()
                );
                breakdown.push(format!(
                    "  cache {}, {}: {}",
                    if render_cache { "on" } else { "off" },
                    phase.name,
                    phase.top_requests(6, count)
                ));
            }
        }
        println!("API requests per Transform, the most frequent kinds:");
        for line in breakdown {
            println!("{line}");
        }
        println!("(CPU and peak RSS are of the whole benchmark process: operator, sandbox, the kubelet stand-in and");
        println!(" the watches; the API server and etcd run in their own processes and are not counted)");
    });
}
