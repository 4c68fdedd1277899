//! Prometheus metrics of the operator, served on `/metrics` in the OpenMetrics text format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Which controller a reconcile belongs to.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ControllerKind {
    /// The Transform controller.
    Transform,
    /// The ResourceGraph controller.
    ResourceGraph,
}

/// The caches whose counters are exported, each as `pequod_<name>_total{result="hit|miss|eviction"}`,
/// `pequod_<name>_bytes` and `pequod_<name>_entries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheKind {
    /// Compiled components in the sandbox's memory.
    Component,
    /// Serialized compiled components on disk.
    ComponentDisk,
    /// Compiled CUE modules in memory.
    Cue,
    /// Compiled CUE modules on disk.
    CueDisk,
    /// Pulled OCI blobs on disk.
    Blob,
    /// Modules fetched from git, on disk.
    GitModule,
    /// Each Transform's last render.
    Render,
    /// Consecutive failures per object.
    Backoff,
    /// The last module verified per OCI reference.
    Verified,
}

impl CacheKind {
    const ALL: [CacheKind; 9] = [
        CacheKind::Component,
        CacheKind::ComponentDisk,
        CacheKind::Cue,
        CacheKind::CueDisk,
        CacheKind::Blob,
        CacheKind::GitModule,
        CacheKind::Render,
        CacheKind::Backoff,
        CacheKind::Verified,
    ];

    /// The metric name, without the prefix.
    fn name(self) -> &'static str {
        match self {
            CacheKind::Component => "component_cache",
            CacheKind::ComponentDisk => "component_disk_cache",
            CacheKind::Cue => "cue_module_cache",
            CacheKind::CueDisk => "cue_module_disk_cache",
            CacheKind::Blob => "blob_cache",
            CacheKind::GitModule => "git_module_cache",
            CacheKind::Render => "render_cache",
            CacheKind::Backoff => "backoff_cache",
            CacheKind::Verified => "verified_module_cache",
        }
    }

    /// What it holds, for the help text.
    fn holds(self) -> &'static str {
        match self {
            CacheKind::Component => "Compiled renderer components in memory (bytes: their code)",
            CacheKind::ComponentDisk => "Serialized compiled components on disk",
            CacheKind::Cue => "Compiled CUE modules in memory",
            CacheKind::CueDisk => "Compiled CUE modules on disk",
            CacheKind::Blob => "Pulled OCI module blobs on disk",
            CacheKind::GitModule => "Modules fetched from git, on disk",
            CacheKind::Render => "Each Transform's last render (hit: an unchanged Transform was not rendered again)",
            CacheKind::Backoff => "Consecutive failed reconciles per object, for the retry backoff",
            CacheKind::Verified => "The last module verified per OCI reference, used while its registry is unreachable",
        }
    }
}

/// One cache's metrics, brought up to its cumulative counters on each observation.
struct CacheMetrics {
    kind: CacheKind,
    results: Family<ResultLabels, Counter>,
    bytes: Gauge,
    entries: Gauge,
    seen: std::sync::Mutex<[u64; 3]>,
}

impl CacheMetrics {
    fn register(registry: &mut Registry, kind: CacheKind) -> Self {
        let (name, holds) = (kind.name(), kind.holds());
        let metrics = Self {
            kind,
            results: Family::default(),
            bytes: Gauge::default(),
            entries: Gauge::default(),
            seen: std::sync::Mutex::new([0; 3]),
        };
        let help = format!(
            "{holds}: lookups answered (hit) or not (miss), entries dropped to stay within the bounds (eviction)"
        );
        registry.register(name, help, metrics.results.clone());
        registry.register(format!("{name}_bytes"), format!("{holds}: bytes held"), metrics.bytes.clone());
        registry.register(format!("{name}_entries"), format!("{holds}: entries held"), metrics.entries.clone());
        metrics
    }

    fn observe(&self, stats: &pequod_cache::CacheStats) {
        let mut seen = self.seen.lock().expect("metrics lock");
        let now = [stats.hits, stats.misses, stats.evictions];
        for ((result, now), before) in ["hit", "miss", "eviction"].into_iter().zip(now).zip(seen.iter_mut()) {
            if now > *before {
                self.results.get_or_create(&ResultLabels { result: result.into() }).inc_by(now - *before);
                *before = now;
            }
        }
        self.bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        self.entries.set(i64::try_from(stats.entries).unwrap_or(i64::MAX));
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: ControllerKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: ControllerKind,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GraphLabels {
    namespace: String,
    graph: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeStateLabels {
    namespace: String,
    graph: String,
    state: String,
}

/// The operator's metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram>,
    renders: Family<ResultLabels, Counter>,
    render_duration: Histogram,
    fuel_used: Histogram,
    module_cache: Family<ResultLabels, Counter>,
    applies: Family<ResultLabels, Counter>,
    managed_objects: Family<GraphLabels, Gauge>,
    node_states: Family<NodeStateLabels, Gauge>,
    sources: Family<ResultLabels, Counter>,
    unassigned: Gauge,
    caches: Vec<CacheMetrics>,
    renders_done: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics registered under the `pequod` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pequod");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let renders = Family::<ResultLabels, Counter>::default();
        let render_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        let fuel_used = Histogram::new(exponential_buckets(1e4, 4.0, 12));
        let module_cache = Family::<ResultLabels, Counter>::default();
        let applies = Family::<ResultLabels, Counter>::default();
        let managed_objects = Family::<GraphLabels, Gauge>::default();
        let node_states = Family::<NodeStateLabels, Gauge>::default();
        registry.register("reconciles", "Reconciles started, by controller", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error (retried), by controller and error kind",
            reconcile_errors.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "How long reconciles take, by controller",
            prometheus_client::registry::Unit::Seconds,
            reconcile_duration.clone(),
        );
        registry.register("renders", "Module renders in the sandbox, by result", renders.clone());
        registry.register_with_unit(
            "render_duration",
            "Time spent rendering in the sandbox",
            prometheus_client::registry::Unit::Seconds,
            render_duration.clone(),
        );
        registry.register("render_fuel_used", "Fuel (WebAssembly work units) used per render", fuel_used.clone());
        registry.register(
            "module_cache",
            "Compiled-module cache lookups by where the module came from (memory, disk, compiled)",
            module_cache.clone(),
        );
        registry.register(
            "applies",
            "Server-Side Apply calls by result (applied, unchanged, conflict, error)",
            applies.clone(),
        );
        registry.register("managed_objects", "Objects in a ResourceGraph's inventory", managed_objects.clone());
        registry.register("graph_nodes", "Nodes of a ResourceGraph by state", node_states.clone());
        let sources = Family::<ResultLabels, Counter>::default();
        registry.register(
            "source_resolutions",
            "Module source resolutions by result (ok, or the condition reason)",
            sources.clone(),
        );
        let unassigned = Gauge::default();
        registry.register(
            "unassigned_transforms",
            "Transforms whose shard label names no shard, so no operator reconciles them (main operator only)",
            unassigned.clone(),
        );
        let caches = CacheKind::ALL.into_iter().map(|kind| CacheMetrics::register(&mut registry, kind)).collect();
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            renders,
            render_duration,
            fuel_used,
            module_cache,
            applies,
            managed_objects,
            node_states,
            sources,
            unassigned,
            caches,
            renders_done: AtomicU64::new(0),
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// Sets how many Transforms no shard reconciles.
    pub(crate) fn unassigned_transforms(&self, count: usize) {
        self.unassigned.set(count as i64);
    }

    /// Counts a reconcile that took `elapsed` and whether it failed with `error` (a short label).
    pub(crate) fn reconciled(&self, controller: ControllerKind, elapsed: Duration, error: Option<&str>) {
        let labels = ControllerLabels { controller };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            self.reconcile_errors.get_or_create(&ErrorLabels { controller, error: error.to_owned() }).inc();
        }
    }

    /// Counts a render with its result (`ok` or the sandbox's reason) and cost.
    pub(crate) fn rendered(&self, result: &str, elapsed: Duration, fuel: Option<u64>) {
        self.renders.get_or_create(&ResultLabels { result: result.to_owned() }).inc();
        self.render_duration.observe(elapsed.as_secs_f64());
        if let Some(fuel) = fuel {
            self.fuel_used.observe(fuel as f64);
        }
        self.renders_done.fetch_add(1, Ordering::Relaxed);
    }

    /// How many renders ran in this process (for tests and benchmarks).
    pub fn renders_done(&self) -> u64 {
        self.renders_done.load(Ordering::Relaxed)
    }

    /// Counts where a loaded module came from.
    pub(crate) fn module_loaded(&self, outcome: pequod_sandbox::CacheOutcome) {
        let result = match outcome {
            pequod_sandbox::CacheOutcome::Memory => "memory",
            pequod_sandbox::CacheOutcome::Disk => "disk",
            pequod_sandbox::CacheOutcome::Compiled => "compiled",
        };
        self.module_cache.get_or_create(&ResultLabels { result: result.into() }).inc();
    }

    /// Counts a source resolution by result.
    pub(crate) fn source_resolved(&self, result: &str) {
        self.sources.get_or_create(&ResultLabels { result: result.to_owned() }).inc();
    }

    /// Brings a cache's metrics up to its own (cumulative) counters.
    pub(crate) fn cache(&self, kind: CacheKind, stats: &pequod_cache::CacheStats) {
        if let Some(metrics) = self.caches.iter().find(|metrics| metrics.kind == kind) {
            metrics.observe(stats);
        }
    }

    /// Counts an apply by result.
    pub(crate) fn applied(&self, result: &str) {
        self.applies.get_or_create(&ResultLabels { result: result.to_owned() }).inc();
    }

    /// Records a graph's inventory size and node states; `None` forgets the graph (it was deleted).
    pub(crate) fn graph_state(&self, namespace: &str, graph: &str, state: Option<(usize, &[(&str, usize)])>) {
        let labels = GraphLabels { namespace: namespace.to_owned(), graph: graph.to_owned() };
        const STATES: [&str; 5] = ["Pending", "Applied", "Ready", "Error", "Deferred"];
        match state {
            Some((managed, counts)) => {
                self.managed_objects.get_or_create(&labels).set(managed as i64);
                for state in STATES {
                    let count = counts.iter().find(|(name, _)| *name == state).map_or(0, |(_, count)| *count);
                    let labels = NodeStateLabels {
                        namespace: namespace.to_owned(),
                        graph: graph.to_owned(),
                        state: state.to_owned(),
                    };
                    self.node_states.get_or_create(&labels).set(count as i64);
                }
            }
            None => {
                self.managed_objects.remove(&labels);
                for state in STATES {
                    let labels = NodeStateLabels {
                        namespace: namespace.to_owned(),
                        graph: graph.to_owned(),
                        state: state.to_owned(),
                    };
                    self.node_states.remove(&labels);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_was_counted() {
        let metrics = Metrics::new();
        metrics.reconciled(ControllerKind::Transform, Duration::from_millis(3), Some("kube"));
        metrics.rendered("ok", Duration::from_micros(300), Some(123_456));
        metrics.applied("conflict");
        metrics.graph_state("team-a", "shop", Some((3, &[("Ready", 2), ("Pending", 1)])));
        let text = metrics.encode();
        assert!(text.contains("pequod_reconciles_total{controller=\"Transform\"} 1"), "{text}");
        assert!(text.contains("pequod_reconcile_errors_total{controller=\"Transform\",error=\"kube\"} 1"), "{text}");
        assert!(text.contains("pequod_renders_total{result=\"ok\"} 1"), "{text}");
        assert!(text.contains("pequod_applies_total{result=\"conflict\"} 1"), "{text}");
        assert!(text.contains("pequod_managed_objects{namespace=\"team-a\",graph=\"shop\"} 3"), "{text}");
        assert!(text.contains("pequod_graph_nodes{namespace=\"team-a\",graph=\"shop\",state=\"Pending\"} 1"), "{text}");
        metrics.graph_state("team-a", "shop", None);
        assert!(!metrics.encode().contains("graph=\"shop\""));
        assert_eq!(metrics.renders_done(), 1);
    }

    #[test]
    fn cache_counters_are_exported_once_each() {
        let metrics = Metrics::new();
        let stats = |hits, evictions| pequod_cache::CacheStats { hits, misses: 1, evictions, entries: 2, bytes: 300 };
        metrics.cache(CacheKind::Component, &stats(3, 1));
        metrics.cache(CacheKind::Component, &stats(5, 1));
        let text = metrics.encode();
        assert!(text.contains("pequod_component_cache_total{result=\"hit\"} 5"), "{text}");
        assert!(text.contains("pequod_component_cache_total{result=\"miss\"} 1"), "{text}");
        assert!(text.contains("pequod_component_cache_total{result=\"eviction\"} 1"), "{text}");
        assert!(text.contains("pequod_component_cache_bytes 300"), "{text}");
        assert!(text.contains("pequod_component_cache_entries 2"), "{text}");
        for kind in CacheKind::ALL {
            assert!(text.contains(&format!("# TYPE pequod_{}_bytes gauge", kind.name())), "{text}");
        }
    }
}
