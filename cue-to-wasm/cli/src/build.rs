//! `cue-to-wasm build <module-dir> [-o file.wasm]`: a CUE module compiled into a renderer component.
//!
//! The CUE runtime component (`pequod-cue-runtime-component`, our evaluator built for `wasm32-wasip2`) is
//! compiled into this binary. Building a module:
//!
//! 1. reads the module's `.cue` files (one package, sorted by name, named without their directory so the
//!    result does not depend on where the module lives) and the packages it imports from its CUE module
//!    (`cue.mod/module.cue`) or `cue.mod/{gen,pkg,usr}`, named relative to the module root;
//! 2. loads the module natively with the same code the component runs, so every problem (syntax, missing
//!    `module` metadata or `#Input`) is reported here with `file:line:col`;
//! 3. instantiates the runtime component with the module's source bundle in its environment, calls its
//!    `wizer-initialize` export (which parses the module and works out its metadata and input schema),
//!    and snapshots the instance with `wasmtime-wizer`: the component written starts every render with the
//!    module already loaded. (It still exports `wizer-initialize`: wasmtime-wizer 48 writes an invalid
//!    component when asked to drop it; a second call traps, and the host never makes one.)
//!
//! The pre-initialisation runs deterministically (frozen clocks, fixed random bytes, no files), so the same
//! module always gives the same bytes and digest.

use std::path::{Path, PathBuf};

use pequod_cue_runtime::{BUNDLE_VARIABLE, Bundle, Module, SourceFile};
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The CUE runtime component, without a module.
pub const RUNTIME: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cue-runtime.wasm"));

/// The arguments of `build`.
pub struct BuildArgs {
    /// The module directory.
    pub dir: String,
    /// Where to write the component; `<module name>.wasm` when not given.
    pub output: Option<String>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The module directory cannot be read.
    #[error("cannot read the module directory {dir}: {source}")]
    ReadDir {
        /// The directory.
        dir: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A module file cannot be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory holds no CUE files.
    #[error("{dir} holds no .cue files; a module is a directory with one CUE package")]
    NoFiles {
        /// The directory.
        dir: String,
    },
    /// The directory holds files of several packages.
    #[error("{dir} holds files of packages {first} and {second}; a module is one package")]
    Packages {
        /// The directory.
        dir: String,
        /// One package.
        first: String,
        /// Another.
        second: String,
    },
    /// The module does not load.
    #[error("{0}")]
    Module(#[from] pequod_cue_runtime::LoadError),
    /// Pre-initialising the runtime failed.
    #[error("pre-initialising the renderer failed: {message}{}", guest_output(.output))]
    Initialize {
        /// What failed.
        message: String,
        /// What the runtime printed (a panic message, say).
        output: String,
    },
    /// The component cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn guest_output(output: &str) -> String {
    if output.is_empty() { String::new() } else { format!("\nthe runtime printed:\n{output}") }
}

/// A built renderer.
pub struct Built {
    /// The module's name.
    pub name: String,
    /// The module's version.
    pub version: String,
    /// The component bytes.
    pub wasm: Vec<u8>,
}

/// Runs `build` and returns the line to print.
pub fn run(args: &BuildArgs) -> Result<String, String> {
    let built = build_dir(Path::new(&args.dir)).map_err(|e| format!("error: {e}\n"))?;
    let output = args.output.clone().map_or_else(|| PathBuf::from(format!("{}.wasm", built.name)), PathBuf::from);
    write_atomically(&output, &built.wasm)
        .map_err(|source| format!("error: {}\n", BuildError::Write { path: output.display().to_string(), source }))?;
    let digest = hex::encode(Sha256::digest(&built.wasm));
    Ok(format!(
        "built {} {} -> {} ({} bytes, sha256:{digest})\n",
        built.name,
        built.version,
        output.display(),
        built.wasm.len()
    ))
}

/// Builds the module in `dir` into a renderer component.
pub fn build_dir(dir: &Path) -> Result<Built, BuildError> {
    let files = read_package(dir, None, "")?;
    let imported = imported_packages(dir, &files)?;
    let module = Module::load_with_imports(files.clone(), imported.clone())?;
    let bundle = Bundle::new(&files, &imported).to_json();
    let wasm = preinitialize(&bundle)?;
    Ok(Built { name: module.name().to_owned(), version: module.version().to_owned(), wasm })
}

/// The packages the module imports (other than the standard library), transitively, in the order first
/// met: packages of the enclosing CUE module (`cue.mod/module.cue` declares its path) and of its
/// `cue.mod/{gen,pkg,usr}` trees. Their files are named relative to the module root, so the build does
/// not depend on where the module lives. Imports found nowhere are left for the evaluator to report.
fn imported_packages(dir: &Path, files: &[SourceFile]) -> Result<Vec<(String, Vec<SourceFile>)>, BuildError> {
    let Some(root) =
        dir.canonicalize().ok().and_then(|d| d.ancestors().find(|a| a.join("cue.mod").is_dir()).map(Path::to_path_buf))
    else {
        return Ok(Vec::new());
    };
    let module_path = module_path(&root.join("cue.mod").join("module.cue"));
    let mut found: Vec<(String, Vec<SourceFile>)> = Vec::new();
    let mut queue: Vec<String> = files.iter().flat_map(|f| imports_of(&f.text)).collect();
    let mut seen: Vec<String> = Vec::new();
    while let Some(import) = queue.pop() {
        if cue_eval::is_std_import(&import) || seen.contains(&import) {
            continue;
        }
        seen.push(import.clone());
        let (path, qualifier) = import.split_once(':').map_or((import.as_str(), None), |(p, q)| (p, Some(q)));
        let last = path.rsplit('/').next().unwrap_or(path).split('@').next().unwrap_or(path);
        let mut candidates = Vec::new();
        if let Some(module) = &module_path
            && let Some(rest) = path.strip_prefix(&format!("{module}/"))
        {
            candidates.push(PathBuf::from(rest));
        }
        for tree in ["gen", "pkg", "usr"] {
            candidates.push(Path::new("cue.mod").join(tree).join(path));
        }
        for relative in candidates {
            let at = root.join(&relative);
            if !at.is_dir() {
                continue;
            }
            let prefix = relative.to_string_lossy().replace('\\', "/");
            let package = read_package(&at, Some(qualifier.unwrap_or(last)), &prefix)?;
            queue.extend(package.iter().flat_map(|f| imports_of(&f.text)));
            found.push((import.clone(), package));
            break;
        }
    }
    Ok(found)
}

/// Reads `module: "path@v0"` from `cue.mod/module.cue`, without the major version.
fn module_path(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let (parsed, _) = cue_syntax::parse(&text);
    parsed.decls.iter().find_map(|d| match d {
        cue_syntax::ast::Decl::Field(f) => match (&f.label.kind, &f.value.kind) {
            (cue_syntax::ast::LabelKind::Ident(id), cue_syntax::ast::ExprKind::String(s)) if &*id.name == "module" => {
                Some(s.as_str().split('@').next().unwrap_or_default().to_owned())
            }
            _ => None,
        },
        _ => None,
    })
}

fn imports_of(text: &str) -> Vec<String> {
    let (file, _) = cue_syntax::parse(text);
    file.imports.iter().flat_map(|i| &i.specs).map(|s| s.path.as_str().to_string()).collect()
}

/// Reads the `.cue` files of a directory (not its subdirectories), sorted by name, keeping one package
/// (`only`, or the one package found); files are named `prefix/name`.
fn read_package(dir: &Path, only: Option<&str>, prefix: &str) -> Result<Vec<SourceFile>, BuildError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|source| BuildError::ReadDir { dir: shown.clone(), source })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cue") && !n.starts_with('.') && !n.starts_with('_'))
        .collect();
    names.sort();
    let mut files = Vec::new();
    let mut package: Option<String> = None;
    for name in names {
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path)
            .map_err(|source| BuildError::ReadFile { path: path.display().to_string(), source })?;
        let this = cue_syntax::parse(&text).0.package.map(|p| p.name.name.to_string());
        if let Some(only) = only
            && this.as_deref() != Some(only)
        {
            continue;
        }
        match (&package, this) {
            (Some(first), Some(second)) if *first != second => {
                return Err(BuildError::Packages { dir: shown, first: first.clone(), second });
            }
            (None, Some(name)) => package = Some(name),
            _ => {}
        }
        let name = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        files.push(SourceFile::new(name, text));
    }
    if files.is_empty() {
        return Err(BuildError::NoFiles { dir: shown });
    }
    Ok(files)
}

/// Runs the runtime's `wizer-initialize` with the bundle in its environment and snapshots the instance.
fn preinitialize(bundle: &str) -> Result<Vec<u8>, BuildError> {
    let failed = |message: String, output: String| BuildError::Initialize { message, output };
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).map_err(|e| failed(format!("{e:#}"), String::new()))?;
    let mut linker = Linker::<InitState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| failed(format!("{e:#}"), String::new()))?;
    let state = InitState::new(bundle);
    let output = state.output.clone();
    let mut store = Store::new(&engine, state);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| failed(format!("cannot start an executor: {e}"), String::new()))?;
    // Removing the init export makes wasmtime-wizer 48 write an invalid component (the component-level
    // alias of the core export outlives it), so the export stays; calling it again traps harmlessly
    // ("already initialised") and the host never does.
    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.keep_init_func(true);
    let result =
        runtime.block_on(wizer.run_component(&mut store, RUNTIME, async |store, component| {
            linker.instantiate_async(store, component).await
        }));
    let printed = || String::from_utf8_lossy(&output.contents()).trim().to_owned();
    match result {
        Ok((wasm, _)) => Ok(wasm),
        Err(e) => Err(failed(format!("{e:#}"), printed())),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// The store data while the runtime is pre-initialised: the bundle in the environment and nothing else
/// to reach (no files, network, clock or randomness), so the snapshot is the same on every machine.
struct InitState {
    wasi: WasiCtx,
    table: ResourceTable,
    output: MemoryOutputPipe,
}

impl InitState {
    fn new(bundle: &str) -> Self {
        let output = MemoryOutputPipe::new(64 << 10);
        let wasi = WasiCtxBuilder::new()
            .env(BUNDLE_VARIABLE, bundle)
            .stdout(output.clone())
            .stderr(output.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM_BYTES.to_vec()))
            .insecure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM_BYTES.to_vec()))
            .insecure_random_seed(0)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self { wasi, table: ResourceTable::new(), output }
    }
}

impl WasiView for InitState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The bytes every request for randomness gets during pre-initialisation.
const FIXED_RANDOM_BYTES: [u8; 8] = *b"cue2wasm";

/// A clock that always reads zero.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
