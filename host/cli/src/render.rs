//! `pequod render`: resolve a Transform's module, render it in the sandbox, print the graph.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a CLI subcommand prints its results")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use kube::ResourceExt;
use pequod_api::{SourceType, Transform, parse_transform, render_context};
use pequod_cue_compile::{CompileLimits, Compiler, ModuleSource};
use pequod_embedded::EmbeddedKind;
use pequod_graph::{Phase, Violation};
use pequod_sandbox::{RenderError, Sandbox, SandboxLimits, SandboxOptions};

use crate::exit::Failure;
use crate::output;
use pequod_api::units::{parse_bytes, parse_duration};

const EXIT_CODES: &str = "\
Exit codes:
  0   the graph was rendered and printed
  1   the Transform file cannot be read or is not a valid Transform
  2   wrong command-line usage
  3   the module cannot be found or loaded (not a renderer component)
  10  Rejected: the module refused the input (violations are listed)
  11  RenderFailed: the module reported an internal failure
  12  FuelExhausted          13  MemoryLimitExceeded     14  Timeout
  15  OutputTooLarge         16  TooManyNodes            17  Trapped (the module crashed)
  18  MalformedGraph         19  InvalidGraph (cycle, unknown dependency, …)
  20  InstantiationFailed";

/// Arguments of `pequod render`.
#[derive(Args)]
#[command(after_help = EXIT_CODES)]
pub struct RenderArgs {
    /// The Transform manifest (YAML or JSON); `-` reads standard input.
    transform: PathBuf,
    /// Render with this renderer component instead of the Transform's `spec.cueRef`.
    #[arg(long, value_name = "FILE.wasm")]
    module: Option<PathBuf>,
    /// How to print the graph: `yaml` (the objects in apply order), `json` (the whole Graph artifact) or
    /// `dot` (the dependency DAG, for Graphviz).
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    output: Format,
    /// Fuel limit (about one unit per WebAssembly instruction).
    #[arg(long, default_value_t = SandboxLimits::DEFAULT_FUEL)]
    fuel: u64,
    /// Memory limit (all linear memories and tables together), e.g. 64Mi.
    #[arg(long, value_parser = parse_bytes, default_value = "64Mi")]
    memory: usize,
    /// Time limit, e.g. 1s or 1500ms.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    timeout: Duration,
    /// Largest graph accepted, e.g. 1Mi.
    #[arg(long, value_parser = parse_bytes, default_value = "1Mi")]
    max_output: usize,
    /// Most nodes accepted.
    #[arg(long, default_value_t = SandboxLimits::DEFAULT_MAX_NODES)]
    max_nodes: usize,
    /// Where compiled modules are cached (default: $PEQUOD_CACHE_DIR, else ~/.cache/pequod/components).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not cache compiled modules on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Do not print the summary line and warnings on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// Output formats of `pequod render`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// The objects as a multi-document YAML stream, in apply order.
    Yaml,
    /// The whole Graph artifact.
    Json,
    /// The dependency DAG in Graphviz dot.
    Dot,
}

/// Runs `pequod render`.
pub fn run(args: RenderArgs) -> Result<(), Failure> {
    let transform = read_transform(&args.transform)?;
    let cache_dir = if args.no_cache { None } else { args.cache_dir.clone().or_else(default_cache_dir) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::Io(error.to_string()))?;
    let (wasm, module_name) =
        runtime.block_on(resolve_module(&transform, args.module.as_ref(), cache_dir.as_deref()))?;
    let limits = SandboxLimits {
        fuel: args.fuel,
        memory_bytes: args.memory,
        timeout: args.timeout,
        max_output_bytes: args.max_output,
        max_nodes: args.max_nodes,
    };
    // One render: no process-wide memory budget beyond its own limit.
    let sandbox = Sandbox::new(SandboxOptions { cache_dir, max_total_memory: None, ..SandboxOptions::default() })?;
    let module = {
        let _step = crate::progress::Step::start(format!("loading {module_name} into the sandbox"));
        sandbox.load(&wasm)?
    };
    let context = render_context(&transform, Default::default(), Default::default());
    let rendered =
        runtime.block_on(sandbox.render(&module, &transform.spec.input, &context, &limits)).map_err(|error| {
            Failure::Render {
                transform: format!("{}/{}", context.namespace, transform.name_any()),
                module: format!("{module_name} ({})", module.digest()),
                error: point_into_spec_input(error),
            }
        })?;
    print!("{}", output::format(&rendered.graph, &rendered.plan, args.output));
    if !args.quiet {
        for warning in &rendered.graph.violations {
            eprintln!("{}", spec_input_path(warning.clone()));
        }
        for deferred in &rendered.graph.deferred {
            eprintln!("deferred {}: {}", deferred.id, deferred.reason);
        }
        let fuel = rendered.fuel_used.map(|fuel| format!(", {fuel} fuel")).unwrap_or_default();
        eprintln!(
            "rendered {} in {} with {} {} ({}) in {:.2} ms{fuel}",
            plural(rendered.graph.nodes.len(), "node"),
            plural(rendered.plan.waves.len(), "wave"),
            rendered.graph.metadata.module,
            rendered.graph.metadata.version,
            module.digest(),
            rendered.elapsed.as_secs_f64() * 1e3,
        );
    }
    Ok(())
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// Runs `pequod modules`.
pub fn list_modules() -> Result<(), Failure> {
    for module in pequod_embedded::MODULES {
        println!("{:<24} {}", module.name, module.description);
    }
    Ok(())
}

pub(crate) fn read_transform(path: &Path) -> Result<Transform, Failure> {
    let shown = path.display().to_string();
    let text = if shown == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|error| Failure::Io(format!("cannot read standard input: {error}")))?
    } else {
        std::fs::read_to_string(path).map_err(|error| Failure::Io(format!("cannot read {shown}: {error}")))?
    };
    parse_transform(&text).map_err(|error| Failure::Manifest { path: shown, message: error.to_string() })
}

/// The component bytes and a name for reports: `--module`, or what `spec.cueRef` names. CUE modules
/// (embedded or inline) are compiled here, in the sandboxed runtime, and kept under `<cache>/cue`.
async fn resolve_module(
    transform: &Transform,
    module: Option<&PathBuf>,
    cache_dir: Option<&Path>,
) -> Result<(Vec<u8>, String), Failure> {
    if let Some(path) = module {
        let bytes = std::fs::read(path)
            .map_err(|error| Failure::Io(format!("cannot read module {}: {error}", path.display())))?;
        return Ok((bytes, path.display().to_string()));
    }
    let cue_ref = &transform.spec.cue_ref;
    let (sources, name) = match cue_ref.source {
        SourceType::Embedded => match pequod_embedded::find(&cue_ref.reference) {
            Some(module) => match &module.kind {
                EmbeddedKind::Component(wasm) => return Ok((wasm.to_vec(), module.name.to_owned())),
                EmbeddedKind::Cue { .. } => (module.sources(), module.name.to_owned()),
            },
            None => {
                return Err(Failure::Source(format!(
                    "spec.cueRef.ref: no embedded module named {:?}; this binary embeds: {}",
                    cue_ref.reference,
                    pequod_embedded::names().join(", ")
                )));
            }
        },
        SourceType::Inline => (Some(pequod_embedded::inline_sources(&cue_ref.reference)), "inline module".to_owned()),
        other => {
            return Err(Failure::Source(format!(
                "spec.cueRef.type {other}: `pequod render` resolves only embedded and inline modules offline; \
                 build the module and pass it with --module <file.wasm>"
            )));
        }
    };
    let sources = sources.expect("CUE modules have sources");
    let mut compiler = Compiler::new();
    if let Some(directory) = cache_dir {
        compiler = compiler.with_cache_dir(directory.join("cue"));
    }
    let (source, limits) = (ModuleSource::Sources(sources), CompileLimits::default());
    let wasm = crate::progress::step(format!("compiling {name} from CUE"), compiler.compile(&source, &limits))
        .await
        .map_err(|error| Failure::Source(format!("the {name} does not compile: {error}")))?;
    Ok((wasm.to_vec(), name))
}

/// The default directory of compiled modules: `$PEQUOD_CACHE_DIR`, else `~/.cache/pequod/components`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(directory) = std::env::var_os("PEQUOD_CACHE_DIR") {
        return Some(PathBuf::from(directory));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("pequod").join("components"))
}

/// Input violations carry paths relative to `spec.input`; in a report about a Transform file, say so.
fn point_into_spec_input(error: RenderError) -> RenderError {
    match error {
        RenderError::Rejected { violations } => {
            RenderError::Rejected { violations: violations.into_iter().map(spec_input_path).collect() }
        }
        other => other,
    }
}

fn spec_input_path(mut violation: Violation) -> Violation {
    if violation.phase == Phase::Input {
        violation.path = match violation.path.as_str() {
            "" => "spec.input".to_owned(),
            path if path.starts_with('[') => format!("spec.input{path}"),
            path => format!("spec.input.{path}"),
        };
    }
    violation
}
