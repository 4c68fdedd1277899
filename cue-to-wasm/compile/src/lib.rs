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
//! when given a directory, on disk).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use pequod_cue_runtime::{BUNDLE_VARIABLE, Bundle, SOURCES_VARIABLE, Sources};
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap};
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
}

impl Default for CompileLimits {
    /// Generous for real modules (the webservice module with its policy takes a few million units and a
    /// few MiB), small enough to stop a hostile one in a second or two.
    fn default() -> Self {
        CompileLimits { fuel: 2_000_000_000, memory: 512 << 20 }
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
    /// The module does not load: syntax errors, missing metadata or `#Input`, unresolved imports.
    #[error("{message}")]
    Invalid {
        /// What the runtime reported (with `file:line:col` where it applies).
        message: String,
    },
}

/// Compiles modules with one instrumented, compiled runtime (prepared on first use); keeps what it compiled.
#[derive(Default)]
pub struct Compiler {
    prepared: OnceLock<Result<Prepared, String>>,
    memory: Mutex<Recent>,
    directory: Option<PathBuf>,
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
        f.debug_struct("Compiler").field("directory", &self.directory).finish_non_exhaustive()
    }
}

/// How many compiled modules are kept in memory.
const KEPT_IN_MEMORY: usize = 64;

/// Compiled modules by source digest, the oldest dropped first.
#[derive(Default)]
struct Recent {
    modules: HashMap<String, Arc<[u8]>>,
    order: VecDeque<String>,
}

impl Recent {
    fn insert(&mut self, key: String, wasm: Arc<[u8]>) {
        if self.modules.insert(key.clone(), wasm).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > KEPT_IN_MEMORY {
            if let Some(oldest) = self.order.pop_front() {
                self.modules.remove(&oldest);
            }
        }
    }
}

/// The first bytes of a compiled module kept on disk: the magic, then the sha256 of the body.
const DISK_MAGIC: &[u8; 8] = b"PQCUEMD1";

impl Compiler {
    /// A compiler; the runtime is instrumented and compiled (a second or two) when first needed.
    pub fn new() -> Self {
        Compiler::default()
    }

    /// Keeps compiled modules in `directory` too (created when missing), so they survive restarts.
    pub fn with_cache_dir(mut self, directory: impl Into<PathBuf>) -> Self {
        self.directory = Some(directory.into());
        self
    }

    /// The component of `source`, compiled under `limits` or taken from the caches.
    pub async fn compile(&self, source: &ModuleSource, limits: &CompileLimits) -> Result<Arc<[u8]>, CompileError> {
        let key = source.digest();
        if let Some(wasm) = self.memory.lock().unwrap_or_else(|e| e.into_inner()).modules.get(&key) {
            return Ok(wasm.clone());
        }
        let on_disk = self.directory.as_ref().map(|d| d.join(format!("{}.wasm", key.trim_start_matches("sha256:"))));
        if let Some(path) = &on_disk
            && let Some(wasm) = read_verified(path)
        {
            let wasm: Arc<[u8]> = wasm.into();
            self.memory.lock().unwrap_or_else(|e| e.into_inner()).insert(key, wasm.clone());
            return Ok(wasm);
        }
        let wasm: Arc<[u8]> = self.preinitialize(source, limits).await?.into();
        if let Some(path) = &on_disk {
            // A cache that cannot be written only costs a recompilation next time.
            let _ = write_verified(path, &wasm);
        }
        self.memory.lock().unwrap_or_else(|e| e.into_inner()).insert(key, wasm.clone());
        Ok(wasm)
    }

    fn prepared(&self) -> Result<&Prepared, CompileError> {
        self.prepared.get_or_init(Prepared::new).as_ref().map_err(|message| CompileError::Runtime(message.clone()))
    }

    /// Runs the runtime's initialisation with `source` in its environment and snapshots the instance.
    async fn preinitialize(&self, source: &ModuleSource, limits: &CompileLimits) -> Result<Vec<u8>, CompileError> {
        let Prepared { engine, component, context, linker, wizer } = self.prepared()?;
        let (variable, value) = source.variable();
        let state = InitState::new(variable, &value, limits.memory);
        let output = state.output.clone();
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_fuel(limits.fuel).map_err(|e| CompileError::Runtime(format!("{e:#}")))?;
        let classify = |error: wasmtime::Error, store: &Store<InitState>| {
            if store.data().limiter.exceeded {
                CompileError::MemoryLimitExceeded { bytes: limits.memory }
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
        .build()
        .map_err(|e| CompileError::Runtime(format!("cannot start an executor: {e}")))?;
    let compiler = Compiler::new();
    runtime.block_on(compiler.compile(source, limits)).map(|wasm| wasm.to_vec())
}

fn read_verified(path: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(DISK_MAGIC.as_slice())?;
    let (digest, body) = body.split_at_checked(32)?;
    if Sha256::digest(body).as_slice() != digest {
        let _ = std::fs::remove_file(path);
        return None;
    }
    Some(body.to_vec())
}

fn write_verified(path: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut bytes = Vec::with_capacity(DISK_MAGIC.len() + 32 + body.len());
    bytes.extend_from_slice(DISK_MAGIC);
    bytes.extend_from_slice(&Sha256::digest(body));
    bytes.extend_from_slice(body);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
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
    use super::*;

    #[test]
    fn panic_messages_lose_rust_noise() {
        let printed = "\nthread '<unnamed>' panicked at cue-to-wasm/runtime/component/src/lib.rs:30:9:\nthe module does \
                       not parse:\n    a.cue:1:2: expected\nnote: run with `RUST_BACKTRACE=1` environment variable\n";
        assert_eq!(runtime_message(printed).unwrap(), "the module does not parse:\n    a.cue:1:2: expected");
        assert_eq!(runtime_message("nothing"), None);
    }
}
