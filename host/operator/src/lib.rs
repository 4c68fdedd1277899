//! Pequod's controllers.
//!
//! The **Transform controller** resolves a Transform's module, renders it in the sandbox with the limits of
//! the cluster's PlatformPolicies, checks the graph against the target rules and writes it into a
//! ResourceGraph owned by the Transform. The **ResourceGraph controller** executes that graph: it applies
//! the nodes wave by wave with Server-Side Apply, waits for each node's readiness gates before applying its
//! dependents, keeps an inventory of what it applied, prunes what left the graph and, through a finalizer,
//! deletes the objects in reverse dependency order when the graph goes away.
//!
//! Reconcilers are small: `reconcile(Arc<K>, Arc<Context>) -> Result<Action, Error>`, with an error policy
//! that requeues transient errors with a delay; permanent problems are written as conditions instead.

mod discovery;
mod drift;
mod error;
mod events;
mod executor;
mod identity;
mod leader;
mod metrics;
mod origin;
mod policy;
mod policy_status;
pub mod preview;
mod prune;
mod readiness;
mod server;
mod shard;
mod source;
mod step;
mod transform;
mod triggers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use futures::channel::mpsc;
use kube::Client;
use kube::api::Api;
use kube::runtime::Controller;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Config as WatcherConfig;
use pequod_api::{ResourceGraph, Transform};
use pequod_cache::{Bounds, Lru};
use pequod_sandbox::Sandbox;

pub use crate::error::Error;
pub use crate::leader::{LeaderElection, LeadershipLost, lead};
pub use crate::metrics::Metrics;
pub use crate::shard::{NO_SHARD_REASON, SHARD_LABEL, Sharding};

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct Options {
    /// Reuse a Transform's last render while its module, input and context are unchanged.
    pub render_cache: bool,
    /// How many objects of each controller are reconciled at once.
    pub concurrency: u16,
    /// How many nodes of one wave are applied at once.
    pub apply_concurrency: usize,
    /// Watch only this namespace (`None`: the whole cluster).
    pub namespace: Option<String>,
    /// Registries (`host:port`) reached over plain HTTP (loopback test registries).
    pub insecure_registries: Vec<String>,
    /// Where compiled CUE modules, pulled blobs and git checkouts are kept across restarts (`None`: memory
    /// only).
    pub cache_dir: Option<std::path::PathBuf>,
    /// The configuration the operator's client was made from, to impersonate Transforms' ServiceAccounts
    /// with (`None`: a Transform that names a ServiceAccount is refused).
    pub kube_config: Option<kube::Config>,
    /// The ServiceAccount (of each Transform's namespace) impersonated for Transforms that name none
    /// (`None`: those act with the operator's own identity, within the built-in target rules).
    pub default_service_account: Option<String>,
    /// The longest wait between readiness re-checks of a node that has waited long (they start at 2 s and
    /// back off; watch events on the object wake the graph earlier).
    pub readiness_poll_max: std::time::Duration,
    /// How much each of the operator's caches may hold.
    pub caches: CacheBounds,
    /// Which Transforms this operator reconciles when several operator Deployments split them.
    pub sharding: Sharding,
}

/// The bounds of the operator's caches (the sandbox's compiled components are bounded by its own options).
/// The defaults fit `deploy/operator.yaml`: the disk caches take at most 448 MiB of its 960 MiB cache volume
/// (with the sandbox's 256 MiB of components, 704 MiB, leaving 256 MiB for git fetches' scratch), and
/// the memory caches at most 128 MiB of its 1 GiB memory limit next to the 512 MiB render budget (with the
/// sandbox's 128 MiB of compiled components, 256 MiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheBounds {
    /// Each Transform's last render, in memory (bytes: the graph's JSON and the module's output).
    pub renders: Bounds,
    /// Consecutive failures per object, in memory, for the retry backoff.
    pub failures: Bounds,
    /// The last module verified per OCI reference, in memory, used while its registry is unreachable.
    pub verified: Bounds,
    /// Compiled CUE modules in memory.
    pub cue_memory: Bounds,
    /// Compiled CUE modules on disk (`<cache dir>/cue`).
    pub cue_disk: Bounds,
    /// Pulled OCI blobs on disk (`<cache dir>/blobs`).
    pub blobs: Bounds,
    /// Modules fetched from git, on disk (`<cache dir>/git/modules`).
    pub git_modules: Bounds,
}

impl Default for CacheBounds {
    fn default() -> Self {
        Self {
            renders: Bounds::new(10_000, 32 << 20),
            failures: Bounds::new(10_000, u64::MAX),
            verified: Bounds::new(256, 32 << 20),
            cue_memory: Bounds::new(64, 64 << 20),
            cue_disk: Bounds::bytes(128 << 20),
            blobs: Bounds::bytes(256 << 20),
            git_modules: pequod_supply::GitModuleCache::DEFAULT_BOUNDS,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            render_cache: true,
            concurrency: 8,
            apply_concurrency: 8,
            namespace: None,
            insecure_registries: Vec::new(),
            cache_dir: None,
            kube_config: None,
            default_service_account: None,
            readiness_poll_max: std::time::Duration::from_secs(60),
            caches: CacheBounds::default(),
            sharding: Sharding::Off,
        }
    }
}

/// What the reconcilers share.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The renderer sandbox.
    pub sandbox: Sandbox,
    /// The operator's metrics.
    pub metrics: Metrics,
    /// Settings.
    pub options: Options,
    /// Kinds resolved through discovery.
    discovery: discovery::Discovery,
    /// Clients impersonating Transforms' ServiceAccounts.
    identities: identity::Identities,
    /// Kubernetes Events about Transforms.
    recorder: Recorder,
    /// Watches of managed kinds, waking graphs whose objects drifted.
    drift: drift::DriftWatches,
    drift_triggers: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<ResourceGraph>>>>,
    /// The last render of each Transform, keyed by namespace/name, with the hash of what produced it.
    renders: Mutex<Lru<String, (String, Arc<pequod_sandbox::Rendered>)>>,
    /// Consecutive failed reconciles per object, for exponential backoff.
    failures: Mutex<Lru<String, u32>>,
    /// Set once the API server answered and our CRDs are served.
    api_ready: AtomicBool,
    /// Compiles CUE modules (embedded, inline, ConfigMap, git) in the sandboxed runtime, and keeps them.
    compiler: pequod_cue_compile::Compiler,
    /// Pulled OCI blobs by digest, when a cache directory is set.
    blob_cache: Option<Arc<pequod_supply::BlobCache>>,
    /// Modules fetched from git, shared by all fetches.
    git_cache: Option<Arc<pequod_supply::GitModuleCache>>,
    /// Git fetches that may run at once, which bounds their scratch repositories on disk.
    git_slots: Arc<tokio::sync::Semaphore>,
    /// The last module verified for each OCI reference and trust rules, used while the registry is down.
    verified: Mutex<Lru<String, source::Resolved>>,
    /// The API groups the cluster serves, with when they were read.
    api_groups: Mutex<Option<(Instant, Vec<String>)>>,
    /// The ResourceGraphs as the Transform controller's watch of them last saw them, once [`run`] started it.
    graphs: std::sync::OnceLock<kube::runtime::reflector::Store<ResourceGraph>>,
}

impl Context {
    /// A context over `client` rendering in `sandbox`, with default options.
    pub fn new(client: Client, sandbox: Sandbox) -> Arc<Self> {
        Self::with_options(client, sandbox, Options::default())
    }

    /// A context with explicit options.
    pub fn with_options(client: Client, sandbox: Sandbox, options: Options) -> Arc<Self> {
        let discovery = discovery::Discovery::new(client.clone());
        let identities =
            identity::Identities::new(options.kube_config.clone(), options.default_service_account.clone());
        let reporter = Reporter {
            controller: "pequod".into(),
            instance: std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok()),
        };
        let recorder = Recorder::new(client.clone(), reporter);
        let (drift, triggers) = drift::DriftWatches::new(client.clone(), options.namespace.clone());
        let bounds = options.caches;
        let mut compiler = pequod_cue_compile::Compiler::new().with_memory_bounds(bounds.cue_memory);
        let mut blob_cache = None;
        if let Some(directory) = &options.cache_dir {
            compiler = compiler.with_cache_dir_bounded(directory.join("cue"), bounds.cue_disk);
            match pequod_supply::BlobCache::open(&directory.join("blobs"), bounds.blobs.max_bytes) {
                Ok(cache) => blob_cache = Some(Arc::new(cache)),
                Err(error) => tracing::warn!(%error, "module blobs will not be cached on disk"),
            }
        }
        let git_cache = source::open_git_cache(&options);
        Arc::new(Self {
            client,
            sandbox,
            metrics: Metrics::new(),
            options,
            discovery,
            identities,
            recorder,
            drift,
            drift_triggers: Mutex::new(Some(triggers)),
            renders: Mutex::new(Lru::new(bounds.renders)),
            failures: Mutex::new(Lru::new(bounds.failures)),
            api_ready: AtomicBool::new(false),
            compiler,
            blob_cache,
            git_cache,
            git_slots: Arc::new(tokio::sync::Semaphore::new(source::GIT_FETCH_SLOTS)),
            verified: Mutex::new(Lru::new(bounds.verified)),
            api_groups: Mutex::new(None),
            graphs: std::sync::OnceLock::new(),
        })
    }

    /// Whether the operator can do its job: `Err` says why not.
    pub fn readiness(&self) -> Result<(), String> {
        if self.api_ready.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("the API server has not answered yet, or the Pequod CRDs are not installed \
                 (install them with `pequod crds | kubectl apply -f -`)"
                .into())
        }
    }

    /// How long to wait before retrying an object whose reconcile failed: 5 s, doubling with each
    /// consecutive failure, at most 5 minutes (an API server that is down is not hammered).
    pub(crate) fn backoff(&self, key: String) -> std::time::Duration {
        let mut failures = self.failures.lock().expect("backoff lock");
        let count = failures.peek(&key).copied().unwrap_or(0).saturating_add(1);
        let size = key.len() as u64;
        failures.insert(key, count, size);
        backoff_delay(count)
    }

    /// Forgets an object's failures after a successful reconcile.
    fn recovered(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(&key.to_owned());
    }

    /// Forgets what is kept about a Transform that is going away: its last render and its failures.
    pub(crate) fn forget_transform(&self, namespace: &str, name: &str) {
        self.renders.lock().expect("render cache lock").remove(&format!("{namespace}/{name}"));
        self.recovered(&format!("{}/{namespace}/{name}", <Transform as kube::Resource>::kind(&())));
        self.observe_caches();
    }

    /// Brings the cache metrics up to the caches' own counters.
    pub(crate) fn observe_caches(&self) {
        use metrics::CacheKind;
        let metrics = &self.metrics;
        let sandbox = self.sandbox.cache_stats();
        metrics.cache(CacheKind::Component, &sandbox.memory);
        if let Some(disk) = &sandbox.disk {
            metrics.cache(CacheKind::ComponentDisk, disk);
        }
        let cue = self.compiler.cache_stats();
        metrics.cache(CacheKind::Cue, &cue.memory);
        if let Some(disk) = &cue.disk {
            metrics.cache(CacheKind::CueDisk, disk);
        }
        if let Some(blobs) = &self.blob_cache {
            metrics.cache(CacheKind::Blob, &blobs.stats());
        }
        if let Some(git) = &self.git_cache {
            metrics.cache(CacheKind::GitModule, &git.stats());
        }
        metrics.cache(CacheKind::Render, &self.renders.lock().expect("render cache lock").stats());
        metrics.cache(CacheKind::Backoff, &self.failures.lock().expect("backoff lock").stats());
        metrics.cache(CacheKind::Verified, &self.verified.lock().expect("verified lock").stats());
    }

    /// What the cluster offers, for the render context: `{"apiGroups": [...]}` (read at most once a minute).
    pub(crate) async fn capabilities(&self) -> serde_json::Map<String, serde_json::Value> {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(60);
        let cached = self.api_groups.lock().expect("capabilities lock").clone();
        let groups = match cached {
            Some((read, groups)) if read.elapsed() < FRESH => groups,
            _ => match self.client.list_api_groups().await {
                Ok(list) => {
                    let mut groups: Vec<String> = list.groups.into_iter().map(|group| group.name).collect();
                    groups.sort();
                    *self.api_groups.lock().expect("capabilities lock") = Some((Instant::now(), groups.clone()));
                    groups
                }
                Err(error) => {
                    tracing::debug!(%error, "cannot list API groups");
                    cached.map(|(_, groups)| groups).unwrap_or_default()
                }
            },
        };
        let mut capabilities = serde_json::Map::new();
        if !groups.is_empty() {
            capabilities.insert("apiGroups".into(), serde_json::json!(groups));
        }
        capabilities
    }

    /// The ResourceGraph `namespace/name` as the graph watch last saw it (`None` before [`run`] or when it
    /// saw none).
    pub(crate) fn watched_graph(&self, namespace: &str, name: &str) -> Option<Arc<ResourceGraph>> {
        self.graphs.get()?.get(&ObjectRef::new(name).within(namespace))
    }

    /// Checks that the API server serves our CRDs, and records the answer for `/readyz`.
    pub async fn check_api(&self) -> Result<(), Error> {
        let transforms: Api<Transform> = match &self.options.namespace {
            Some(namespace) => Api::namespaced(self.client.clone(), namespace),
            None => Api::all(self.client.clone()),
        };
        let result = transforms.list_metadata(&kube::api::ListParams::default().limit(1)).await;
        self.api_ready.store(result.is_ok(), Ordering::Relaxed);
        result.map(|_| ()).map_err(Error::from)
    }
}

/// How `pequod run` runs the operator.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Where `/healthz`, `/readyz` and `/metrics` are served (`None`: not served).
    pub metrics_address: Option<SocketAddr>,
    /// Leader election (`None`: this replica always reconciles).
    pub leader_election: Option<LeaderElection>,
}

/// Serves the endpoints, waits for leadership when asked, and runs the controllers until the process is
/// asked to stop (`Ok`) or leadership is lost (`Err`).
pub async fn run_with(context: Arc<Context>, options: RunOptions) -> Result<(), Error> {
    if let Some(address) = options.metrics_address {
        let bound = server::serve(address, Arc::clone(&context))
            .await
            .map_err(|error| Error::Invalid(format!("cannot serve metrics on {address}: {error}")))?;
        tracing::info!(%bound, "serving /healthz, /readyz and /metrics");
    }
    if let Err(error) = context.check_api().await {
        tracing::warn!(%error, "the API server does not serve the Pequod CRDs yet; install them with `pequod crds | kubectl apply -f -`");
    }
    let Some(election) = options.leader_election else {
        run(context).await;
        return Ok(());
    };
    lead(context.client.clone(), election, run(Arc::clone(&context)))
        .await
        .map_err(|lost| Error::Invalid(format!("{lost}; exiting so that a restart rejoins the election")))
}

/// Watches the PlatformPolicies and returns the stream of Transforms to reconcile because one changed or
/// was deleted (reconciles read the policies from the API server, so they see the change).
fn watch_policy_changes(
    context: &Arc<Context>,
    transforms: kube::runtime::reflector::Store<Transform>,
) -> impl futures::Stream<Item = ObjectRef<Transform>> + Send + use<> {
    use kube::runtime::{WatchStreamExt as _, watcher};
    let policy_api = Api::<pequod_api::PlatformPolicy>::all(context.client.clone());
    let mut changed = triggers::on_policy_change(transforms);
    let woken = watcher(policy_api, WatcherConfig::default()).default_backoff().map(move |event| match event {
        Ok(watcher::Event::Apply(policy) | watcher::Event::InitApply(policy)) => changed(policy, false),
        Ok(watcher::Event::Delete(policy)) => changed(policy, true),
        _ => Vec::new(),
    });
    woken.flat_map(futures::stream::iter)
}

/// Runs both controllers until the process is asked to stop.
pub async fn run(context: Arc<Context>) {
    let (transforms, graphs): (Api<Transform>, Api<ResourceGraph>) = match &context.options.namespace {
        Some(namespace) => {
            (Api::namespaced(context.client.clone(), namespace), Api::namespaced(context.client.clone(), namespace))
        }
        None => (Api::all(context.client.clone()), Api::all(context.client.clone())),
    };
    let config = ControllerConfig::default().concurrency(context.options.concurrency);
    let watch = shard::watcher_config(&context.options.sharding);
    let checker = Arc::clone(&context);
    tokio::spawn(async move {
        // Keep /readyz truthful while the CRDs get installed or the API server comes back.
        loop {
            let _ = checker.check_api().await;
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        }
    });
    let (graph_store, graph_writer) = kube::runtime::reflector::store();
    let _ = context.graphs.set(graph_store);
    let owned_graphs = kube::runtime::reflector(graph_writer, kube::runtime::watcher(graphs.clone(), watch.clone()));
    let owned_graphs =
        kube::runtime::WatchStreamExt::touched_objects(kube::runtime::WatchStreamExt::default_backoff(owned_graphs));
    let transform_controller = Controller::new(transforms, watch.clone()).owns_stream(owned_graphs);
    let store = transform_controller.store();
    let modules =
        triggers::module_config_maps(context.client.clone(), context.options.namespace.as_deref(), store.clone());
    let policy_changes = watch_policy_changes(&context, store);
    let transform_controller = transform_controller
        .reconcile_on(policy_changes)
        .reconcile_on(modules)
        .with_config(config.clone())
        .shutdown_on_signal()
        .run(
            timed(transform::reconcile, metrics::ControllerKind::Transform),
            transform::error_policy,
            Arc::clone(&context),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "transform reconcile ended with an error");
            }
        });
    let policy_context = Arc::clone(&context);
    let triggers = context.drift_triggers.lock().expect("drift lock").take();
    let mut graph_controller = Controller::new(graphs, watch).with_config(config);
    if let Some(triggers) = triggers {
        graph_controller = graph_controller.reconcile_on(triggers);
    }
    let graph_controller = graph_controller
        .shutdown_on_signal()
        .run(timed(executor::reconcile, metrics::ControllerKind::ResourceGraph), executor::error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "resource graph reconcile ended with an error");
            }
        });
    let unassigned = shard::report_unassigned(Arc::clone(&policy_context));
    let policies = async move {
        // A namespace-scoped operator, or a shard, sees too little to report on cluster-wide policies.
        if policy_context.options.namespace.is_some() || !policy_context.options.sharding.reports_cluster_state() {
            return;
        }
        Controller::new(
            Api::<pequod_api::PlatformPolicy>::all(policy_context.client.clone()),
            WatcherConfig::default(),
        )
        .shutdown_on_signal()
        .run(policy_status::reconcile, policy_status::error_policy, policy_context)
        .for_each(|_| async {})
        .await;
    };
    futures::join!(transform_controller, graph_controller, policies, unassigned);
}

/// What a reconciler returns, boxed so that the timing wrapper has one type.
type Reconciled = std::pin::Pin<Box<dyn Future<Output = Result<kube::runtime::controller::Action, Error>> + Send>>;

/// Wraps a reconciler to count it and time it.
fn timed<K, F, Fut>(reconcile: F, controller: metrics::ControllerKind) -> impl Fn(Arc<K>, Arc<Context>) -> Reconciled
where
    K: kube::Resource<DynamicType = ()> + Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<kube::runtime::controller::Action, Error>> + Send + 'static,
{
    move |object, context| {
        let reconcile = reconcile.clone();
        Box::pin(async move {
            let started = Instant::now();
            let key = backoff_key(&*object);
            let result = reconcile(object, Arc::clone(&context)).await;
            if result.is_ok() {
                context.recovered(&key);
            }
            let error = result.as_ref().err().map(Error::label);
            context.metrics.reconciled(controller, started.elapsed(), error);
            result
        })
    }
}

/// The delay after `failures` consecutive failures: 5 s, 10 s, 20 s, … capped at 5 minutes.
fn backoff_delay(failures: u32) -> std::time::Duration {
    let seconds = 5u64 << failures.saturating_sub(1).min(6);
    std::time::Duration::from_secs(seconds.min(300))
}

/// The key of an object in the backoff table: kind, namespace, name.
pub(crate) fn backoff_key<K: kube::Resource<DynamicType = ()>>(object: &K) -> String {
    let meta = object.meta();
    format!(
        "{}/{}/{}",
        K::kind(&()),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// Writes `status` into the status subresource of `object` with Server-Side Apply, as field manager
/// [`pequod_api::FIELD_MANAGER`]; an unchanged status is a no-op on the server.
pub(crate) async fn write_status<K>(
    client: &Client,
    object: &K,
    namespace: &str,
    status: &impl serde::Serialize,
) -> Result<(), Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    use kube::ResourceExt as _;
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    let params = kube::api::PatchParams::apply(pequod_api::FIELD_MANAGER).force();
    api.patch_status(&object.name_any(), &params, &kube::api::Patch::Apply(&patch)).await?;
    Ok(())
}

/// The current time as a Kubernetes timestamp.
pub(crate) fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let delays: Vec<u64> = (1..=9).map(|n| super::backoff_delay(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
