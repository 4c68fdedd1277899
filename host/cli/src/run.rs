//! `pequod run`: the operator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};
use pequod_api::units::{parse_bytes, parse_duration};
use pequod_operator::{CacheBounds, Context, LeaderElection, Options, RunOptions, Sharding};
use pequod_sandbox::{Sandbox, SandboxOptions};

use crate::exit::Failure;

/// How `pequod run` writes its log lines (on stderr).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (colours when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Arguments of `pequod run`.
#[derive(Args)]
pub struct RunArgs {
    /// Watch and reconcile only this namespace's Transforms and ResourceGraphs (default: every namespace).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// The kubeconfig file to use (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service
    /// account).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// How log lines are written: `text` or `json`. The level comes from $PEQUOD_LOG (default: info for
    /// Pequod, warn for libraries).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Where compiled modules are cached (default: $PEQUOD_CACHE_DIR, else ~/.cache/pequod/components).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Reconcile only the Transforms labelled `platform.pequod.io/shard=<NAME>` (one operator Deployment per
    /// shard; each elects its own leader on the Lease `<leader-election-id>-shard-<NAME>`).
    #[arg(long, value_name = "NAME", conflicts_with = "shards")]
    shard: Option<String>,
    /// This is the main operator of a sharded installation, with shards of these names: it reconciles the
    /// Transforms without the shard label and reports (metric `pequod_unassigned_transforms`, Event
    /// `NoShard`) those whose label names none of these shards.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    shards: Vec<String>,
    /// Address of the /healthz, /readyz and /metrics endpoints; `off` serves none.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    metrics_bind_address: String,
    /// Elect a leader through a Lease so that only one replica reconciles (use with several replicas).
    #[arg(long)]
    leader_elect: bool,
    /// Namespace of the leader Lease (default: $POD_NAMESPACE, else the service account's, else `default`).
    #[arg(long, value_name = "NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the leader Lease.
    #[arg(long, value_name = "NAME", default_value = "pequod-operator")]
    leader_election_id: String,
    /// How long a standby waits, on its own clock, after it last saw the Lease change before taking it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "15s")]
    leader_election_lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal (shorter than the lease duration).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    leader_election_renew_deadline: Duration,
    /// How often the leader renews the Lease and standbys look at it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    leader_election_retry_period: Duration,
    /// How many Transforms (and, separately, ResourceGraphs) are reconciled at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    concurrency: u16,
    /// The most memory all renders running at once may reserve together (each reserves its memory limit,
    /// 64Mi unless a PlatformPolicy lowers it; renders wait for their turn), e.g. 512Mi.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_bytes, default_value = "512Mi")]
    max_render_memory: usize,
    /// The longest wait between readiness re-checks of a node that has waited long: re-checks start every
    /// 2 s and back off to a quarter of the time waited, up to this (watch events wake graphs earlier).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    readiness_poll_max: Duration,
    /// Render every reconcile instead of reusing the last render of an unchanged Transform.
    #[arg(long)]
    no_render_cache: bool,
    /// A registry (`host:port`) reached over plain HTTP instead of HTTPS; repeat for several. Meant for
    /// loopback test registries only.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registries: Vec<String>,
    /// The ServiceAccount (of each Transform's namespace) impersonated for Transforms without
    /// spec.serviceAccountName, so the API server's RBAC decides what their graphs may do. Without it those
    /// Transforms act with the operator's own identity, within the built-in target rules.
    #[arg(long, value_name = "NAME")]
    default_service_account: Option<String>,
    /// The most compiled components kept on disk under --cache-dir, e.g. 256Mi.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_bytes, default_value = "256Mi")]
    component_disk_cache: usize,
    /// The most compiled CUE modules kept on disk under --cache-dir (`cue/`), e.g. 128Mi.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_bytes, default_value = "128Mi")]
    cue_disk_cache: usize,
    /// The most pulled OCI blobs kept on disk under --cache-dir (`blobs/`), e.g. 256Mi.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_bytes, default_value = "256Mi")]
    blob_cache: usize,
    /// The most modules fetched from git kept on disk under --cache-dir (`git/modules/`), e.g. 64Mi.
    #[arg(long, value_name = "QUANTITY", value_parser = parse_bytes, default_value = "64Mi")]
    git_module_cache: usize,
}

impl RunArgs {
    /// Which Transforms this operator reconciles.
    fn sharding(&self) -> Sharding {
        match (&self.shard, self.shards.is_empty()) {
            (Some(name), _) => Sharding::Shard(name.clone()),
            (None, false) => Sharding::Main(self.shards.clone()),
            (None, true) => Sharding::Off,
        }
    }

    /// How log lines are to be written.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// The operator's cache bounds: the defaults with the disk sizes given on the command line.
    fn cache_bounds(&self) -> CacheBounds {
        let mut caches = CacheBounds::default();
        caches.cue_disk.max_bytes = bytes(self.cue_disk_cache);
        caches.blobs.max_bytes = bytes(self.blob_cache);
        caches.git_modules.max_bytes = bytes(self.git_module_cache);
        caches
    }

    /// The sandbox's options: the cache directory, the render budget and the component disk cache's size.
    fn sandbox_options(&self, cache_dir: Option<PathBuf>) -> SandboxOptions {
        let defaults = SandboxOptions::default();
        let disk_cache = pequod_sandbox::Bounds { max_bytes: bytes(self.component_disk_cache), ..defaults.disk_cache };
        SandboxOptions { cache_dir, max_total_memory: Some(self.max_render_memory), disk_cache, ..defaults }
    }
}

fn bytes(size: usize) -> u64 {
    u64::try_from(size).unwrap_or(u64::MAX)
}

/// The client configuration: the kubeconfig file and context given, else the usual inference (`$KUBECONFIG`,
/// `~/.kube/config`, the in-cluster service account).
pub(crate) async fn kube_config(path: Option<&PathBuf>, context: Option<&str>) -> Result<kube::Config, String> {
    let options = KubeConfigOptions { context: context.map(str::to_owned), ..KubeConfigOptions::default() };
    match (path, context) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|error| format!("cannot read the kubeconfig {}: {error}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|error| error.to_string())
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options).await.map_err(|error| error.to_string()),
        (None, None) => kube::Config::infer().await.map_err(|error| error.to_string()),
    }
}

/// Runs the controllers against the cluster of the current kubeconfig (or the in-cluster service account)
/// until interrupted.
pub fn run(args: RunArgs) -> Result<(), Failure> {
    let metrics_address = match args.metrics_bind_address.as_str() {
        "off" | "0" => None,
        address => Some(address.parse::<SocketAddr>().map_err(|error| {
            Failure::Io(format!("--metrics-bind-address {address:?} is not an address like 0.0.0.0:8080: {error}"))
        })?),
    };
    let sharding = args.sharding();
    sharding.validate().map_err(|error| Failure::Io(format!("--shard/--shards: {error}")))?;
    let leader_election = args.leader_elect.then(|| {
        let namespace = args.leader_election_namespace.clone().unwrap_or_else(default_namespace);
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("pequod-{}", std::process::id()));
        LeaderElection {
            lease_duration: args.leader_election_lease_duration,
            renew_deadline: args.leader_election_renew_deadline,
            retry_period: args.leader_election_retry_period,
            ..LeaderElection::new(namespace, sharding.lease_name(&args.leader_election_id), identity)
        }
    });
    if let Some(election) = &leader_election {
        election.validate().map_err(Failure::Io)?;
    }
    let cache_dir = args.cache_dir.clone().or_else(crate::render::default_cache_dir);
    let options = Options {
        render_cache: !args.no_render_cache,
        concurrency: args.concurrency.max(1),
        insecure_registries: args.insecure_registries.clone(),
        cache_dir: cache_dir.clone(),
        default_service_account: args.default_service_account.clone(),
        readiness_poll_max: args.readiness_poll_max,
        namespace: args.namespace.clone(),
        caches: args.cache_bounds(),
        sharding,
        ..Options::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::Io(error.to_string()))?;
    runtime.block_on(async {
        let unreachable = |error: String| {
            Failure::Io(format!("cannot reach the cluster (check --kubeconfig, --context or KUBECONFIG): {error}"))
        };
        let config = kube_config(args.kubeconfig.as_ref(), args.context.as_deref()).await.map_err(unreachable)?;
        let client = kube::Client::try_from(config.clone()).map_err(|error| unreachable(error.to_string()))?;
        let options = Options { kube_config: Some(config), ..options };
        let sandbox = Sandbox::new(args.sandbox_options(cache_dir))?;
        match &args.namespace {
            Some(namespace) => {
                tracing::info!(namespace = namespace.as_str(), "pequod operator started, watching one namespace")
            }
            None => tracing::info!("pequod operator started, watching every namespace"),
        }
        let context = Context::with_options(client, sandbox, options);
        pequod_operator::run_with(context, RunOptions { metrics_address, leader_election })
            .await
            .map_err(|error| Failure::Io(error.to_string()))
    })
}

/// The namespace the operator runs in, for its Lease.
fn default_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok())
        .map(|namespace| namespace.trim().to_owned())
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}
