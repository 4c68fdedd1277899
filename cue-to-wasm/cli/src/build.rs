//! `cue-to-wasm build <module-dir> [-o file.wasm]`: a CUE module compiled into a renderer component.
//!
//! Building a module:
//!
//! 1. gathers the module's `.cue` files (one package, sorted by name, named without their directory so the
//!    result does not depend on where the module lives) and the packages it imports from its CUE module
//!    (`cue.mod/module.cue`) or `cue.mod/{gen,pkg,usr}`, named relative to the module root
//!    ([`pequod_cue_runtime::Bundle::from_tree`]);
//! 2. loads the module natively with the same code the component runs, so every problem (syntax, missing
//!    `module` metadata or `#Input`) is reported here with `file:line:col`;
//! 3. pre-initialises the CUE runtime component with the bundle ([`pequod_cue_compile`]): the component
//!    written starts every render with the module already loaded. The same module always gives the same
//!    bytes and digest.

use std::path::{Path, PathBuf};

use pequod_cue_compile::{CompileLimits, ModuleSource};
use pequod_cue_runtime::{Bundle, Module, SourceTree, TreeError};
use sha2::{Digest as _, Sha256};

use crate::args::BuildArgs;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The module's files cannot be gathered.
    #[error("{0}")]
    Files(#[from] TreeError),
    /// The module does not load.
    #[error("{0}")]
    Module(#[from] pequod_cue_runtime::LoadError),
    /// Pre-initialising the runtime failed.
    #[error("pre-initialising the renderer failed: {0}")]
    Initialize(#[from] pequod_cue_compile::CompileError),
    /// The component cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
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
    let (tree, module_dir) = LocalTree::around(dir)?;
    let bundle = Bundle::from_tree(&tree, &module_dir)?;
    let (files, imported) = bundle.clone().into_sources();
    let module = Module::load_with_imports(files, imported)?;
    let wasm = pequod_cue_compile::compile_blocking(&ModuleSource::Bundle(bundle), &CompileLimits::default())?;
    Ok(Built { name: module.name().to_owned(), version: module.version().to_owned(), wasm })
}

/// The local file system under the root of the CUE module that holds a module directory (the nearest
/// ancestor with a `cue.mod` directory, or the module directory itself when there is none).
struct LocalTree {
    root: PathBuf,
}

impl LocalTree {
    /// The tree around `dir` and the path of `dir` within it.
    fn around(dir: &Path) -> Result<(LocalTree, String), TreeError> {
        let shown = dir.display().to_string();
        let absolute = dir.canonicalize().map_err(|e| TreeError::ReadDir { dir: shown, message: e.to_string() })?;
        let root = absolute.ancestors().find(|a| a.join("cue.mod").is_dir()).unwrap_or(&absolute).to_path_buf();
        let relative = absolute.strip_prefix(&root).unwrap_or(Path::new(""));
        let relative = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        Ok((LocalTree { root }, relative))
    }

    fn path(&self, relative: &str) -> PathBuf {
        relative.split('/').filter(|part| !part.is_empty()).fold(self.root.clone(), |path, part| path.join(part))
    }
}

impl SourceTree for LocalTree {
    fn file_names(&self, dir: &str) -> Result<Vec<String>, TreeError> {
        let path = self.path(dir);
        let entries = std::fs::read_dir(&path)
            .map_err(|e| TreeError::ReadDir { dir: path.display().to_string(), message: e.to_string() })?;
        Ok(entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }

    fn read(&self, relative: &str) -> Result<String, TreeError> {
        let path = self.path(relative);
        std::fs::read_to_string(&path)
            .map_err(|e| TreeError::ReadFile { path: path.display().to_string(), message: e.to_string() })
    }

    fn is_dir(&self, dir: &str) -> bool {
        self.path(dir).is_dir()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}
