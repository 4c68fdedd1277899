//! The Pequod sandbox: runs renderer components under fuel, memory, time and output limits.
//!
//! One [`Sandbox`] holds one wasmtime `Engine` (component model, async, fuel metering, epoch interruption)
//! and a cache of compiled components keyed by the sha256 digest of their bytes, in memory and optionally
//! on disk. [`Sandbox::load`] compiles a component once and pre-links it; [`Sandbox::render`] runs it in a
//! fresh `Store` with the [`SandboxLimits`] of that render, and returns a validated [`Rendered`] graph or a
//! [`RenderError`] naming exactly how the render ended. The guest sees a WASI context with nothing to
//! reach — no files, network, environment, clock or randomness — so renders are deterministic.
//!
//! Memory is bounded twice: each render by its own limit, counted over all its linear memories and tables
//! together, and all renders of the process by one [`MemoryBudget`] (see [`SandboxOptions::max_total_memory`])
//! from which each render reserves its whole limit before it starts, waiting for its turn when others hold it.
//!
//! Architecture invariant: the sandbox knows the `pequod:renderer` WIT world and the Graph contract, and
//! nothing about CUE, Kubernetes clients or where modules come from.

mod bindings;
mod budget;
mod cache;
mod error;
mod guest;
mod limits;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pequod_graph::{Graph, Phase, Plan, RenderContext, Severity, Violation};
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store, Trap, UpdateDeadline};

use crate::bindings::{GuestRenderError, RendererPre};
pub use crate::budget::{MemoryBudget, MemoryBudgetError, MemoryBudgetUsage, MemoryPermit};
pub use crate::cache::{CacheOutcome, ComponentCacheStats, Digest};
pub use crate::error::{LoadError, RenderError};
use crate::guest::GuestState;
pub use crate::limits::SandboxLimits;
pub use pequod_cache::{Bounds, CacheStats};

/// How the engine is set up; fixed for the life of a [`Sandbox`].
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Where compiled components are kept across processes; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Whether fuel is metered. Metering costs some speed; without it only the time limit stops a loop.
    pub consume_fuel: bool,
    /// How often the epoch advances: the granularity of the time limit.
    pub epoch_tick: Duration,
    /// The most memory all renders of this sandbox may reserve together, in bytes; `None` for no bound.
    /// Each render reserves its whole memory limit before it starts and waits (at most its time limit) while
    /// others hold the budget; a render whose limit is larger than the budget fails at once.
    pub max_total_memory: Option<usize>,
    /// How many compiled components are kept in memory, and how many bytes of code they may hold together.
    pub memory_cache: Bounds,
    /// How many serialized components are kept in `cache_dir`, and how many bytes they may take.
    pub disk_cache: Bounds,
    /// The longest [`Sandbox::load_async`] waits for a component to compile (including its wait for a
    /// compile slot) before it gives up with [`LoadError::CompileTimeout`].
    pub compile_timeout: Duration,
}

impl SandboxOptions {
    /// 512 MiB: eight renders at the default memory limit at once, within the operator's 1 GiB pod limit.
    pub const DEFAULT_MAX_TOTAL_MEMORY: usize = 512 << 20;
    /// 64 components, 128 MiB of compiled code: the operator's working set of modules, within its pod's
    /// memory limit next to the render budget.
    pub const DEFAULT_MEMORY_CACHE: Bounds = Bounds::new(64, 128 << 20);
    /// 256 MiB of serialized components: a quarter of the operator's 1 GiB cache volume.
    pub const DEFAULT_DISK_CACHE: Bounds = Bounds::bytes(256 << 20);
    /// 60 s: a large component compiles in a few seconds.
    pub const DEFAULT_COMPILE_TIMEOUT: Duration = Duration::from_secs(60);
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            consume_fuel: true,
            epoch_tick: Duration::from_millis(5),
            max_total_memory: Some(Self::DEFAULT_MAX_TOTAL_MEMORY),
            memory_cache: Self::DEFAULT_MEMORY_CACHE,
            disk_cache: Self::DEFAULT_DISK_CACHE,
            compile_timeout: Self::DEFAULT_COMPILE_TIMEOUT,
        }
    }
}

/// A loaded renderer: compiled, linked, ready to instantiate.
#[derive(Clone)]
pub struct Module {
    digest: Digest,
    pre: RendererPre<GuestState>,
    cache_outcome: CacheOutcome,
}

impl Module {
    /// The sha256 digest of the component bytes.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Whether loading compiled the component or found it in a cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }
}

/// What a module says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleInfo {
    /// The module's name.
    pub name: String,
    /// The module's version.
    pub version: String,
    /// The JSON Schema of its input.
    pub input_schema: serde_json::Value,
    /// The version of the Graphs it returns.
    pub graph_version: String,
}

/// A successful render.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The graph, validated, with `metadata.digest` and `metadata.renderHash` filled in.
    pub graph: Graph,
    /// Its dependency order and waves.
    pub plan: Plan,
    /// Fuel consumed, when fuel is metered.
    pub fuel_used: Option<u64>,
    /// Wall-clock time of the render, instantiation included (waiting for the memory budget not).
    pub elapsed: Duration,
    /// Linear memory and tables the render held at its end, in bytes: the most it held, as neither shrinks.
    pub memory_used_bytes: usize,
    /// What the module printed to stdout and stderr (at most 64 KiB), for debugging.
    pub guest_output: String,
}

/// The most violations kept from one rejection, and the longest message kept from a failure: a module
/// cannot flood a Transform's status.
const MAX_VIOLATIONS: usize = 100;
const MAX_MESSAGE_BYTES: usize = 4096;

/// How many components [`Sandbox::load_async`] compiles at once (each compile already uses every core).
const CONCURRENT_COMPILES: usize = 2;

/// The renderer sandbox. Cheap to share (`&Sandbox` from many tasks); one per process.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<GuestState>,
    cache: Arc<cache::ComponentCache>,
    consume_fuel: bool,
    budget: MemoryBudget,
    compiles: Arc<tokio::sync::Semaphore>,
    compile_timeout: Duration,
    ticker: Ticker,
}

impl Sandbox {
    /// Builds the engine, the WASI linker and the caches, and starts the epoch ticker.
    pub fn new(options: SandboxOptions) -> Result<Self, LoadError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // Renderers are plain Rust/CUE guests: no GC proposal, whatever features the workspace unifies in.
        config.wasm_gc(false);
        // One linear memory per core module (the memory limit still counts all of a component's memories).
        config.wasm_multi_memory(false);
        config.epoch_interruption(true);
        config.consume_fuel(options.consume_fuel);
        let engine = Engine::new(&config).map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        let cache =
            cache::ComponentCache::new(&engine, options.cache_dir.as_deref(), options.memory_cache, options.disk_cache);
        let ticker = Ticker::start(engine.clone(), options.epoch_tick);
        let budget = MemoryBudget::new(options.max_total_memory);
        Ok(Self {
            engine,
            linker,
            cache: Arc::new(cache),
            consume_fuel: options.consume_fuel,
            budget,
            compiles: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_COMPILES)),
            compile_timeout: options.compile_timeout,
            ticker,
        })
    }

    /// The counters of the compiled-component caches (in memory and on disk).
    pub fn cache_stats(&self) -> ComponentCacheStats {
        self.cache.stats()
    }

    /// The memory budget all renders of this sandbox reserve from; clones share it.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Reserves `bytes` from the renders' memory budget for work outside a render (a CUE compilation, say),
    /// waiting while renders hold it; the reservation lasts until the permit is dropped. Put a time limit
    /// around the call if waiting must be bounded.
    pub async fn reserve_memory(&self, bytes: usize) -> Result<MemoryPermit, MemoryBudgetError> {
        self.budget.reserve(bytes).await
    }

    /// How much of the memory budget is reserved now, at most so far, and in all.
    pub fn memory_usage(&self) -> MemoryBudgetUsage {
        self.budget.usage()
    }

    /// Compiles (or fetches from the cache) and links a renderer component, on the calling thread: a compile
    /// takes seconds and is not bounded in time. From async code use [`Self::load_async`].
    pub fn load(&self, bytes: &[u8]) -> Result<Module, LoadError> {
        let digest = Digest::of(bytes);
        let (component, cache_outcome) =
            self.cache.get_or_compile(&self.engine, digest, bytes).map_err(|error| invalid(digest, &error))?;
        self.link(digest, &component, cache_outcome)
    }

    /// [`Self::load`] for async code: a component not in memory is read from disk or compiled on tokio's
    /// blocking pool (at most two at once), and a load that takes longer than
    /// [`SandboxOptions::compile_timeout`] ends in [`LoadError::CompileTimeout`]. A compile that timed out
    /// still finishes in the background and fills the cache, so a later load may find it.
    pub async fn load_async(&self, bytes: Arc<[u8]>) -> Result<Module, LoadError> {
        let digest = Digest::of(&bytes);
        if let Some(component) = self.cache.get(digest) {
            return self.link(digest, &component, CacheOutcome::Memory);
        }
        let limit = self.compile_timeout;
        let (engine, cache, compiles) = (self.engine.clone(), Arc::clone(&self.cache), Arc::clone(&self.compiles));
        let compile = async move {
            let permit = compiles.acquire_owned().await.expect("the compile semaphore is never closed");
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                cache.read_or_compile(&engine, digest, &bytes)
            })
            .await
        };
        let (component, outcome) = match tokio::time::timeout(limit, compile).await {
            Ok(Ok(compiled)) => compiled.map_err(|error| invalid(digest, &error))?,
            Ok(Err(join_error)) => {
                return Err(LoadError::InvalidComponent {
                    digest: digest.to_string(),
                    message: format!("the compile task failed: {join_error}"),
                });
            }
            Err(_elapsed) => return Err(LoadError::CompileTimeout { digest: digest.to_string(), limit }),
        };
        self.link(digest, &component, outcome)
    }

    fn link(&self, digest: Digest, component: &Component, cache_outcome: CacheOutcome) -> Result<Module, LoadError> {
        let pre = self
            .prepare(component)
            .map_err(|message| LoadError::Incompatible { digest: digest.to_string(), message })?;
        Ok(Module { digest, pre, cache_outcome })
    }

    fn prepare(&self, component: &Component) -> Result<RendererPre<GuestState>, String> {
        let instance_pre = self.linker.instantiate_pre(component).map_err(|error| format!("{error:#}"))?;
        RendererPre::new(instance_pre).map_err(|error| format!("{error:#}"))
    }

    /// Asks a module for its name, version and input schema, under `limits`.
    pub async fn info(&self, module: &Module, limits: &SandboxLimits) -> Result<ModuleInfo, RenderError> {
        let _permit = self.reserve_for(limits).await?;
        let mut store = self.store(limits);
        let call = async {
            let renderer = module.pre.instantiate_async(&mut store).await?;
            renderer.call_info(&mut store).await
        };
        let info = finish(tokio::time::timeout(limits.timeout, call).await, &store, limits)?;
        let input_schema = serde_json::from_str(&info.input_schema).map_err(|error| RenderError::Failed {
            message: format!("info() returned an input schema that is not JSON: {error}"),
        })?;
        Ok(ModuleInfo { name: info.name, version: info.version, input_schema, graph_version: info.graph_version })
    }

    /// Renders `input` under `context` with `module`, within `limits`, and validates the graph.
    pub async fn render(
        &self,
        module: &Module,
        input: &serde_json::Value,
        context: &RenderContext,
        limits: &SandboxLimits,
    ) -> Result<Rendered, RenderError> {
        let context = serde_json::to_string(context).expect("a RenderContext always serializes");
        self.render_json(module, &input.to_string(), &context, limits).await
    }

    /// [`Self::render`] with the input and context already as JSON text.
    pub async fn render_json(
        &self,
        module: &Module,
        input: &str,
        context: &str,
        limits: &SandboxLimits,
    ) -> Result<Rendered, RenderError> {
        let _permit = self.reserve_for(limits).await?;
        let started = Instant::now();
        let mut store = self.store(limits);
        let call = async {
            let renderer = module.pre.instantiate_async(&mut store).await?;
            renderer.call_render(&mut store, input, context).await
        };
        let returned = finish(tokio::time::timeout(limits.timeout, call).await, &store, limits)?;
        let fuel_used = self.consume_fuel.then(|| limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)));
        let guest_output = store.data().output();
        let memory_used_bytes = store.data().limiter.used_bytes();
        let text = returned.map_err(guest_error)?;
        let (graph, plan) = accept_graph(&text, module.digest, limits)?;
        Ok(Rendered { graph, plan, fuel_used, elapsed: started.elapsed(), memory_used_bytes, guest_output })
    }

    /// Reserves a render's whole memory limit from the budget, waiting at most the render's time limit.
    async fn reserve_for(&self, limits: &SandboxLimits) -> Result<MemoryPermit, RenderError> {
        let started = Instant::now();
        let limit_bytes = limits.memory_bytes;
        let budget_bytes = self.budget.total_bytes().unwrap_or(usize::MAX);
        match tokio::time::timeout(limits.timeout, self.budget.reserve(limit_bytes)).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(MemoryBudgetError::LargerThanBudget { .. })) => {
                Err(RenderError::MemoryLimitAboveBudget { limit_bytes, budget_bytes })
            }
            Err(_elapsed) => {
                Err(RenderError::MemoryBudgetExhausted { limit_bytes, budget_bytes, waited: started.elapsed() })
            }
        }
    }

    /// A fresh store for one call: WASI with nothing to reach, the memory limit, fuel and a deadline.
    fn store(&self, limits: &SandboxLimits) -> Store<GuestState> {
        let mut store = Store::new(&self.engine, GuestState::new(limits.memory_bytes));
        store.limiter(|state| &mut state.limiter);
        if self.consume_fuel {
            store.set_fuel(limits.fuel).expect("fuel is enabled on this engine");
        }
        let deadline = Instant::now() + limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineReached))
            } else {
                // Let other tasks run between ticks: a long render never starves the operator.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

fn invalid(digest: Digest, error: &wasmtime::Error) -> LoadError {
    LoadError::InvalidComponent { digest: digest.to_string(), message: format!("{error:#}") }
}

/// Marks a trap raised because the time limit passed.
#[derive(Debug, thiserror::Error)]
#[error("the render's time limit passed")]
struct DeadlineReached;

/// Turns the outcome of a guest call (or its time-out) into a value or the matching [`RenderError`].
fn finish<T>(
    outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    store: &Store<GuestState>,
    limits: &SandboxLimits,
) -> Result<T, RenderError> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(classify(&error, store, limits)),
        Err(_elapsed) => Err(RenderError::Timeout { limit: limits.timeout }),
    }
}

/// Names the reason a guest call ended with an error.
fn classify(error: &wasmtime::Error, store: &Store<GuestState>, limits: &SandboxLimits) -> RenderError {
    let guest_output = store.data().output();
    if store.data().limiter.exceeded {
        return RenderError::MemoryLimitExceeded { limit_bytes: limits.memory_bytes, guest_output };
    }
    if error.downcast_ref::<DeadlineReached>().is_some() {
        return RenderError::Timeout { limit: limits.timeout };
    }
    tracing::debug!(error = format!("{error:?}"), "guest call ended with an error");
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RenderError::FuelExhausted { limit: limits.fuel },
        Some(Trap::Interrupt) => RenderError::Timeout { limit: limits.timeout },
        Some(trap) => RenderError::Trap { message: trap.to_string(), guest_output },
        None => RenderError::Instantiation { message: format!("{error:#}") },
    }
}

/// Converts the guest's own error into ours, bounding what a module can put into a Transform's status.
fn guest_error(error: GuestRenderError) -> RenderError {
    match error {
        GuestRenderError::Failed(message) => RenderError::Failed { message: truncate(message) },
        GuestRenderError::Rejected(violations) => {
            let total = violations.len();
            let mut violations: Vec<Violation> = violations.into_iter().take(MAX_VIOLATIONS).map(violation).collect();
            if total > MAX_VIOLATIONS {
                let message = format!("{} more violations not shown", total - MAX_VIOLATIONS);
                violations.push(Violation::error(Phase::Render, "", message));
            }
            if !violations.iter().any(|violation| violation.severity == Severity::Error) {
                let message = "the module rejected the input without an error-severity violation";
                violations.push(Violation::error(Phase::Render, "", message));
            }
            RenderError::Rejected { violations }
        }
    }
}

fn violation(from: bindings::Violation) -> Violation {
    Violation {
        path: truncate(from.path),
        message: truncate(from.message),
        severity: match from.severity {
            bindings::Severity::Error => Severity::Error,
            bindings::Severity::Warning => Severity::Warning,
            bindings::Severity::Info => Severity::Info,
        },
        phase: match from.phase {
            bindings::Phase::Input => Phase::Input,
            bindings::Phase::Render => Phase::Render,
            bindings::Phase::Output => Phase::Output,
        },
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …(truncated)");
    }
    text
}

/// Checks a returned graph against the limits and the Graph rules, and fills in its provenance.
fn accept_graph(text: &str, digest: Digest, limits: &SandboxLimits) -> Result<(Graph, Plan), RenderError> {
    if text.len() > limits.max_output_bytes {
        return Err(RenderError::OutputTooLarge { size: text.len(), limit: limits.max_output_bytes });
    }
    let mut graph = serde_json::from_str::<Graph>(text)
        .map_err(|error| RenderError::MalformedGraph { message: error.to_string() })?
        .upgrade();
    if graph.nodes.len() > limits.max_nodes {
        return Err(RenderError::TooManyNodes { count: graph.nodes.len(), limit: limits.max_nodes });
    }
    let plan = graph.validate().map_err(|source| RenderError::InvalidGraph { source })?;
    let errors: Vec<Violation> = graph.violations.iter().filter(|v| v.severity == Severity::Error).cloned().collect();
    if !errors.is_empty() {
        return Err(RenderError::Rejected { violations: errors });
    }
    let nodes = serde_json::to_vec(&graph.nodes).expect("graph nodes always serialize");
    graph.metadata.digest = Some(digest.to_string());
    graph.metadata.render_hash = Some(format!("sha256:{}", hex::encode(Sha256::digest(nodes))));
    Ok((graph, plan))
}

/// Advances the engine's epoch every tick on a thread of its own, until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("pequod-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .expect("the epoch ticker thread starts");
        Self { stop, thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The ticker holds an Engine; stop it first so the engine is released with the sandbox.
        self.ticker.stop.store(true, Ordering::Relaxed);
    }
}
