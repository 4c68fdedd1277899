//! CUE modules compiled into renderer components.
//!
//! The CUE runtime component (`pequod-cue-runtime-component`: our evaluator and the module contract, built
//! for `wasm32-wasip2`) is compiled into this crate ([`RUNTIME`]). Compiling a module instantiates it with
//! the module's source in its environment, calls its `wizer-initialize` export (which parses the module
//! and works out its metadata and input schema) and snapshots the instance with `wasmtime-wizer`: the
//! component produced starts every render with the module already loaded.
//!
//! The same path serves every kind of module: `cue-to-wasm build` (a [`Bundle`] the build tool gathered
//! from a trusted local directory), and inline or git modules in the operator ([`Sources`]: a tree of
//! untrusted files whose imports are resolved and whose text is parsed only inside the component). The
//! pre-initialisation runs under a fuel and a memory limit, deterministically (frozen clocks, fixed random
//! bytes, no files, no network), so the same source always gives the same bytes and digest, and a hostile
//! module ends in [`CompileError::FuelExhausted`] or [`CompileError::MemoryLimitExceeded`].
//!
//! A [`Compiler`] instruments and compiles the runtime once and keeps the modules it compiled (in memory and,
//! when given a directory, on disk), each cache within its [`Bounds`]. Compiles run on tokio's blocking pool,
//! never on an async worker, and one that takes longer than [`CompileLimits::timeout`] ends in
//! [`CompileError::Timeout`]: the module's code is interrupted at its next loop or call.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

pub use pequod_cache::{Bounds, CacheStats};
use pequod_cache::{DiskLru, Lru};
use pequod_cue_runtime::{BUNDLE_VARIABLE, Bundle, SOURCES_VARIABLE, Sources};
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wizer::{ComponentContext, WasmtimeWizerComponent, Wizer};

/// The CUE runtime component, without a module.
pub const RUNTIME: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cue-runtime.wasm"));

/// The export the runtime initialises itself with.
const INIT_FUNC: &str = "wizer-initialize";

/// What a module is compiled from.
#[derive(Clone, Debug)]
pub enum ModuleSource {
    /// Files already gathered (and checked) by a trusted tool.
    Bundle(Bundle),
    /// A tree of files, gathered and parsed inside the sandbox.
    Sources(Sources),
}

impl ModuleSource {
    fn variable(&self) -> (&'static str, String) {
        match self {
            ModuleSource::Bundle(bundle) => (BUNDLE_VARIABLE, bundle.to_json()),
            ModuleSource::Sources(sources) => (SOURCES_VARIABLE, sources.to_json()),
        }
    }

    /// A digest of the source and the runtime (`sha256:<hex>`): the same digest, the same component.
    pub fn digest(&self) -> String {
        let (name, text) = self.variable();
        let mut hasher = Sha256::new();
        hasher.update(Sha256::digest(RUNTIME));
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }
}

/// Limits of one compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileLimits {
    /// Fuel (about one unit per WebAssembly instruction).
    pub fuel: u64,
    /// Linear memory, in bytes.
    pub memory: usize,
    /// Wall-clock time, from the call until the component is ready (preparing the runtime on first use
    /// included).
    pub timeout: Duration,
}

impl Default for CompileLimits {
    /// Generous for real modules (the webservice module with its policy takes a few million units and a
    /// few MiB), small enough to stop a hostile one in a second or two; a minute of wall-clock time, which
    /// covers preparing the runtime on first use.
    fn default() -> Self {
        CompileLimits { fuel: 2_000_000_000, memory: 512 << 20, timeout: Duration::from_secs(60) }
    }
}

/// Why a module could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The runtime could not be prepared (a bug, not the module's fault).
    #[error("cannot prepare the CUE runtime: {0}")]
    Runtime(String),
    /// Loading the module used up its fuel.
    #[error("loading the module used up its fuel ({fuel} units); the module is too large or loops")]
    FuelExhausted {
        /// The limit.
        fuel: u64,
    },
    /// Loading the module needed more memory than allowed.
    #[error("loading the module needed more than {bytes} bytes of memory")]
    MemoryLimitExceeded {
        /// The limit.
        bytes: usize,
    },
    /// The compile took longer than its wall-clock limit.
    #[error(
        "compiling the module did not finish within {} s (the compile time limit) and was stopped; the module \
         is too large, or the operator too busy",
        limit.as_secs_f32()
    )]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// The module does not load: syntax errors, missing metadata or `#Input`, unresolved imports.
    #[error("{message}")]
    Invalid {
        /// What the runtime reported (with `file:line:col` where it applies).
        message: String,
    },
}

/// Compiles modules with one instrumented, compiled runtime (prepared on first use); keeps what it compiled.
/// Clones share the runtime and the caches.
#[derive(Clone)]
pub struct Compiler {
    prepared: Arc<OnceLock<Result<Prepared, String>>>,
    memory: Arc<Mutex<Lru<String, Arc<[u8]>>>>,
    disk: Option<Arc<DiskLru>>,
}

impl Default for Compiler {
    fn default() -> Self {
        Compiler {
            prepared: Arc::default(),
            memory: Arc::new(Mutex::new(Lru::new(Compiler::DEFAULT_MEMORY_CACHE))),
            disk: None,
        }
    }
}

/// The runtime, instrumented and compiled once.
struct Prepared {
    engine: Engine,
    component: Component,
    context: ComponentContext<'static>,
    linker: Linker<InitState>,
    wizer: Wizer,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler").field("stats", &self.cache_stats()).finish_non_exhaustive()
    }
}

/// The counters of a [`Compiler`]'s caches of compiled modules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompilerCacheStats {
    /// Modules in memory.
    pub memory: CacheStats,
    /// Modules on disk, when the compiler has a cache directory.
    pub disk: Option<CacheStats>,
}

/// The first bytes of a compiled module kept on disk: the magic, then the sha256 of the body.
const DISK_MAGIC: &[u8; 8] = b"PQCUEMD1";

/// Tells the async side's timeout to the module running on a blocking thread.
#[derive(Debug, thiserror::Error)]
#[error("the compile time limit passed")]
struct Interrupted;

impl Compiler {
    /// 64 modules, 64 MiB in memory.
    pub const DEFAULT_MEMORY_CACHE: Bounds = Bounds::new(64, 64 << 20);
    /// 128 MiB of modules on disk.
    pub const DEFAULT_DISK_CACHE: Bounds = Bounds::bytes(128 << 20);

    /// A compiler; the runtime is instrumented and compiled (a second or two) when first needed.
    pub fn new() -> Self {
        Compiler::default()
    }

    /// Keeps at most `bounds` of compiled modules in memory (dropping what it holds now).
    pub fn with_memory_bounds(mut self, bounds: Bounds) -> Self {
        self.memory = Arc::new(Mutex::new(Lru::new(bounds)));
        self
    }

    /// Keeps compiled modules in `directory` too (created when missing), so they survive restarts, within
    /// [`Self::DEFAULT_DISK_CACHE`].
    pub fn with_cache_dir(self, directory: impl AsRef<Path>) -> Self {
        self.with_cache_dir_bounded(directory, Self::DEFAULT_DISK_CACHE)
    }

    /// Keeps at most `bounds` of compiled modules in `directory` too. A directory that cannot be opened is
    /// logged and not used: the cache only saves recompiling.
    pub fn with_cache_dir_bounded(mut self, directory: impl AsRef<Path>, bounds: Bounds) -> Self {
        let directory = directory.as_ref();
        match DiskLru::open(directory, bounds, is_entry_name) {
            Ok(disk) => self.disk = Some(Arc::new(disk)),
            Err(error) => {
                tracing::warn!(directory = %directory.display(), %error, "compiled CUE modules will not be kept on disk");
            }
        }
        self
    }

    /// The counters of the caches.
    pub fn cache_stats(&self) -> CompilerCacheStats {
        CompilerCacheStats { memory: self.memory().stats(), disk: self.disk.as_deref().map(DiskLru::stats) }
    }

    fn memory(&self) -> MutexGuard<'_, Lru<String, Arc<[u8]>>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, key: String, wasm: &Arc<[u8]>) {
        self.memory().insert(key, Arc::clone(wasm), wasm.len() as u64);
    }

    /// The component of `source` if a cache holds it (memory, then disk on a blocking thread); `None` means
    /// [`Self::compile`] would compile it now. Lets a caller reserve resources for real compiles only.
    pub async fn cached(&self, source: &ModuleSource) -> Option<Arc<[u8]>> {
        let key = source.digest();
        if let Some(wasm) = self.memory().get(&key) {
            return Some(wasm.clone());
        }
        let compiler = self.clone();
        tokio::task::spawn_blocking(move || compiler.read_disk(key)).await.ok().flatten()
    }

    /// The module kept on disk under `key`, remembered in memory too.
    fn read_disk(&self, key: String) -> Option<Arc<[u8]>> {
        let wasm: Arc<[u8]> = self.disk.as_ref()?.read(&entry_name(&key), verified_body)?.into();
        self.remember(key, &wasm);
        Some(wasm)
    }

    /// The component of `source`, compiled under `limits` on a blocking thread, or taken from the caches.
    pub async fn compile(&self, source: &ModuleSource, limits: &CompileLimits) -> Result<Arc<[u8]>, CompileError> {
        let key = source.digest();
        if let Some(wasm) = self.memory().get(&key) {
            return Ok(wasm.clone());
        }
        let interrupt = Arc::new(AtomicBool::new(false));
        let work = {
            let (compiler, source, limits, interrupt, key) =
                (self.clone(), source.clone(), *limits, Arc::clone(&interrupt), key.clone());
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || compiler.read_or_compile(&handle, key, &source, &limits, &interrupt))
        };
        match tokio::time::timeout(limits.timeout, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(CompileError::Runtime(format!("the compile task failed: {join_error}"))),
            Err(_elapsed) => {
                self.interrupt(&interrupt);
                Err(CompileError::Timeout { limit: limits.timeout })
            }
        }
    }

    /// Stops the compile that watches `interrupt` at its next epoch check.
    fn interrupt(&self, interrupt: &AtomicBool) {
        interrupt.store(true, Ordering::SeqCst);
        if let Some(Ok(prepared)) = self.prepared.get() {
            // Every running compile checks its flag; only the one interrupted stops.
            prepared.engine.increment_epoch();
        }
    }

    /// On a blocking thread: the module from disk, or compiled now; kept in memory (and on disk).
    fn read_or_compile(
        &self,
        handle: &tokio::runtime::Handle,
        key: String,
        source: &ModuleSource,
        limits: &CompileLimits,
        interrupt: &Arc<AtomicBool>,
    ) -> Result<Arc<[u8]>, CompileError> {
        if let Some(wasm) = self.read_disk(key.clone()) {
            return Ok(wasm);
        }
        let file = entry_name(&key);
        let wasm: Arc<[u8]> = handle.block_on(self.preinitialize(source, limits, interrupt))?.into();
        if let Some(disk) = &self.disk
            && let Err(error) = disk.write(&file, &with_header(&wasm))
        {
            // A cache that cannot be written only costs a recompilation next time.
            tracing::warn!(%error, "cannot keep a compiled CUE module on disk");
        }
        self.remember(key, &wasm);
        Ok(wasm)
    }

    fn prepared(&self) -> Result<&Prepared, CompileError> {
        self.prepared.get_or_init(Prepared::new).as_ref().map_err(|message| CompileError::Runtime(message.clone()))
    }

    /// Runs the runtime's initialisation with `source` in its environment and snapshots the instance; stops
    /// with [`CompileError::Timeout`] once `interrupt` is set and the epoch advances.
    async fn preinitialize(
        &self,
        source: &ModuleSource,
        limits: &CompileLimits,
        interrupt: &Arc<AtomicBool>,
    ) -> Result<Vec<u8>, CompileError> {
        let Prepared { engine, component, context, linker, wizer } = self.prepared()?;
        let (variable, value) = source.variable();
        let state = InitState::new(variable, &value, limits.memory);
        let output = state.output.clone();
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_fuel(limits.fuel).map_err(|e| CompileError::Runtime(format!("{e:#}")))?;
        // The epoch advances only when a compile times out; this one then stops if it is the one.
        let flag = Arc::clone(interrupt);
        store.epoch_deadline_callback(move |_| {
            if flag.load(Ordering::SeqCst) {
                Err(wasmtime::Error::new(Interrupted))
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store.set_epoch_deadline(1);
        // Checked after the deadline is set: an interrupt from now on advances the epoch past it.
        if interrupt.load(Ordering::SeqCst) {
            return Err(CompileError::Timeout { limit: limits.timeout });
        }
        let classify = |error: wasmtime::Error, store: &Store<InitState>| {
            if store.data().limiter.exceeded {
                CompileError::MemoryLimitExceeded { bytes: limits.memory }
            } else if error.downcast_ref::<Interrupted>().is_some() {
                CompileError::Timeout { limit: limits.timeout }
            } else if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
                CompileError::FuelExhausted { fuel: limits.fuel }
            } else {
                let printed = String::from_utf8_lossy(&output.contents()).into_owned();
                CompileError::Invalid { message: runtime_message(&printed).unwrap_or_else(|| format!("{error:#}")) }
            }
        };
        let instance = match linker.instantiate_async(&mut store, component).await {
            Ok(instance) => instance,
            Err(error) => return Err(classify(error, &store)),
        };
        let init = instance
            .get_typed_func::<(), ()>(&mut store, INIT_FUNC)
            .map_err(|e| CompileError::Runtime(format!("the runtime has no {INIT_FUNC} export: {e:#}")))?;
        if let Err(error) = init.call_async(&mut store, ()).await {
            return Err(classify(error, &store));
        }
        // Reading the state out is the host's work, not the module's: no fuel limit on it.
        store.set_fuel(u64::MAX).map_err(|e| CompileError::Runtime(format!("{e:#}")))?;
        wizer
            .snapshot_component(context, &mut WasmtimeWizerComponent { store: &mut store, instance })
            .await
            .map_err(|e| CompileError::Runtime(format!("snapshotting the module failed: {e:#}")))
    }
}

impl Prepared {
    fn new() -> Result<Prepared, String> {
        let failed = |e: wasmtime::Error| format!("{e:#}");
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(failed)?;
        let mut wizer = Wizer::new();
        // Removing the init export makes wasmtime-wizer 48 write an invalid component (the component-level
        // alias of the core export outlives it), so the export stays; calling it again traps harmlessly
        // ("already initialised") and the host never does.
        wizer.keep_init_func(true);
        let (context, instrumented) = wizer.instrument_component(RUNTIME).map_err(failed)?;
        let component = Component::new(&engine, &instrumented).map_err(failed)?;
        let mut linker = Linker::<InitState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(failed)?;
        Ok(Prepared { engine, component, context, linker, wizer })
    }
}

/// The runtime's panic message (`panicked at …:\n<message>`), without Rust's location and hints.
fn runtime_message(printed: &str) -> Option<String> {
    let (_, after) = printed.split_once("panicked at ")?;
    let (_, message) = after.split_once(":\n")?;
    let message = message.split("\nnote: run with `RUST_BACKTRACE").next().unwrap_or(message);
    Some(message.trim().to_owned())
}

/// Compiles `source` once with a fresh [`Compiler`], blocking: for command-line tools.
pub fn compile_blocking(source: &ModuleSource, limits: &CompileLimits) -> Result<Vec<u8>, CompileError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| CompileError::Runtime(format!("cannot start an executor: {e}")))?;
    let compiler = Compiler::new();
    runtime.block_on(compiler.compile(source, limits)).map(|wasm| wasm.to_vec())
}

/// The file of the module whose source digest is `key` (`sha256:<hex>`).
fn entry_name(key: &str) -> String {
    format!("{}.wasm", key.trim_start_matches("sha256:"))
}

/// Whether `name` is a module's file (anything else is left over from an interrupted write).
fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(".wasm").is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// The module in a file written by [`with_header`], when its body still has the recorded hash.
fn verified_body(file: Vec<u8>) -> Option<Vec<u8>> {
    let body = file.strip_prefix(DISK_MAGIC.as_slice())?;
    let (digest, body) = body.split_at_checked(32)?;
    (Sha256::digest(body).as_slice() == digest).then(|| body.to_vec())
}

/// The file that keeps `body`: the magic, the body's sha256, the body.
fn with_header(body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(DISK_MAGIC.len() + 32 + body.len());
    bytes.extend_from_slice(DISK_MAGIC);
    bytes.extend_from_slice(&Sha256::digest(body));
    bytes.extend_from_slice(body);
    bytes
}

/// The store data while the runtime is pre-initialised: the source in the environment and nothing else
/// to reach (no files, network, clock or randomness), so the snapshot is the same on every machine.
struct InitState {
    wasi: WasiCtx,
    table: ResourceTable,
    output: MemoryOutputPipe,
    limiter: MemoryLimiter,
}

impl InitState {
    fn new(variable: &str, value: &str, memory: usize) -> Self {
        let output = MemoryOutputPipe::new(64 << 10);
        let wasi = pequod_wasi_deterministic::deterministic(&output, &FIXED_RANDOM_BYTES).env(variable, value).build();
        Self { wasi, table: ResourceTable::new(), output, limiter: MemoryLimiter { max: memory, exceeded: false } }
    }
}

impl WasiView for InitState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Refuses linear memory beyond `max` and remembers that it did.
struct MemoryLimiter {
    max: usize,
    exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max;
        self.exceeded |= !allowed;
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The bytes every request for randomness gets during pre-initialisation.
const FIXED_RANDOM_BYTES: [u8; 8] = *b"cue2wasm";

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;
    use std::time::Instant;

    use super::*;

    /// One compiler for the tests: its clones share the runtime, prepared once.
    static COMPILER: LazyLock<Compiler> = LazyLock::new(Compiler::new);

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
    }

    /// A small inline module, a different one for each `name`.
    fn module(name: &str) -> ModuleSource {
        let text = format!(
            "package m\nmodule: {{name: \"{name}\", version: \"1.0.0\"}}\n#Input: {{}}\ninput: #Input\n\
             context: {{...}}\ngraph: nodes: {{}}\n"
        );
        ModuleSource::Sources(pequod_embedded::inline_sources(&text))
    }

    fn timeout_of(error: &CompileError) -> Option<Duration> {
        match error {
            CompileError::Timeout { limit } => Some(*limit),
            _ => None,
        }
    }

    #[test]
    fn a_compile_over_its_time_limit_ends_in_a_timeout_promptly() {
        let limits = CompileLimits { timeout: Duration::from_millis(1), ..CompileLimits::default() };
        let runtime = runtime();
        // Cold (the runtime is prepared in the background) and warm (the module itself is interrupted).
        for name in ["cold", "warm"] {
            let started = Instant::now();
            let error = runtime.block_on(COMPILER.compile(&module(name), &limits)).expect_err("times out");
            assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
            assert_eq!(timeout_of(&error), Some(Duration::from_millis(1)), "{error:?}");
            assert!(error.to_string().contains("within 0.001 s"), "{error}");
            runtime.block_on(COMPILER.compile(&module("prepare"), &CompileLimits::default())).expect("compiles");
        }
        // Neither the timeout nor the interrupt it sent breaks later compiles.
        let wasm = runtime.block_on(COMPILER.compile(&module("warm"), &CompileLimits::default())).expect("compiles");
        assert!(wasm.starts_with(b"\0asm"));
    }

    #[test]
    fn an_interrupted_compile_stops_its_module() {
        // A module whose metadata takes a long time to work out, with fuel enough to run for minutes.
        // (Nested ranges: one `list.Range` of 10⁸ items is refused as too long, not slow.)
        let text = "package m\nimport \"list\"\nr: list.Range(0, 1000, 1)\nmodule: {name: \"slow\", version: \
                    \"\\(len([for i in r for j in r for k in r {k}]))\"}\n#Input: {}\ninput: #Input\ncontext: {...}\n\
                    graph: nodes: {}\n";
        let source = ModuleSource::Sources(pequod_embedded::inline_sources(text));
        let limits = CompileLimits { fuel: u64::MAX / 2, ..CompileLimits::default() };
        let runtime = runtime();
        runtime.block_on(COMPILER.compile(&module("prepare"), &CompileLimits::default())).expect("compiles");
        let interrupt = Arc::new(AtomicBool::new(false));
        let stopper = {
            let (compiler, interrupt) = (COMPILER.clone(), Arc::clone(&interrupt));
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                compiler.interrupt(&interrupt);
            })
        };
        let started = Instant::now();
        let result = COMPILER.read_or_compile(runtime.handle(), source.digest(), &source, &limits, &interrupt);
        stopper.join().unwrap();
        assert!(matches!(result, Err(CompileError::Timeout { .. })), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }

    #[test]
    fn compiled_modules_over_the_bounds_are_dropped_least_recently_used_first() {
        let directory = tempfile::tempdir().unwrap();
        let compiler = COMPILER
            .clone()
            .with_memory_bounds(Bounds::new(2, u64::MAX))
            .with_cache_dir_bounded(directory.path(), Bounds::new(1, u64::MAX));
        let runtime = runtime();
        let compile = |name| runtime.block_on(compiler.compile(&module(name), &CompileLimits::default())).unwrap();
        compile("a");
        compile("b");
        compile("a"); // a is now more recent than b
        compile("c"); // b leaves memory; only c stays on disk
        let stats = compiler.cache_stats();
        assert_eq!(
            (stats.memory.hits, stats.memory.misses, stats.memory.evictions, stats.memory.entries),
            (1, 3, 1, 2)
        );
        let disk = stats.disk.unwrap();
        assert_eq!((disk.evictions, disk.entries), (2, 1));
        let files = std::fs::read_dir(directory.path()).unwrap().count();
        assert_eq!(files, 1);
        compile("b"); // compiled again: a miss in memory and on disk
        assert_eq!(compiler.cache_stats().memory.misses, 4);
        assert_eq!(compiler.cache_stats().disk.unwrap().misses, 4);
    }

    #[test]
    fn cached_finds_modules_in_memory_or_on_disk_and_never_compiles() {
        let directory = tempfile::tempdir().unwrap();
        let fresh = || COMPILER.clone().with_memory_bounds(Bounds::new(8, u64::MAX)).with_cache_dir(directory.path());
        let (compiler, runtime) = (fresh(), runtime());
        assert!(runtime.block_on(compiler.cached(&module("kept"))).is_none(), "nothing is compiled yet");
        assert_eq!(compiler.cache_stats().disk.unwrap().entries, 0, "cached() compiled nothing");
        let wasm = runtime.block_on(compiler.compile(&module("kept"), &CompileLimits::default())).unwrap();
        assert_eq!(runtime.block_on(compiler.cached(&module("kept"))).as_deref(), Some(&*wasm), "from memory");
        let restarted = fresh();
        assert_eq!(runtime.block_on(restarted.cached(&module("kept"))).as_deref(), Some(&*wasm), "from disk");
        assert_eq!(restarted.cache_stats().memory.entries, 1, "and remembered in memory");
    }

    #[test]
    fn panic_messages_lose_rust_noise() {
        let printed = "\nthread '<unnamed>' panicked at cue-to-wasm/runtime/component/src/lib.rs:30:9:\nthe module does \
                       not parse:\n    a.cue:1:2: expected\nnote: run with `RUST_BACKTRACE=1` environment variable\n";
        assert_eq!(runtime_message(printed).unwrap(), "the module does not parse:\n    a.cue:1:2: expected");
        assert_eq!(runtime_message("nothing"), None);
    }
}
