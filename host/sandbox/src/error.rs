//! Every way loading or running a renderer can end other than with a Graph.

use std::time::Duration;

use pequod_graph::{InvalidGraph, Violation};

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error("module {digest} is not a valid WebAssembly component: {message}")]
    InvalidComponent {
        /// The module's digest.
        digest: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// The component imports something the sandbox does not provide, or does not export the
    /// `pequod:renderer` world.
    #[error(
        "module {digest} does not fit the sandbox: {message}. A renderer must export the pequod:renderer@0.1.0 \
         world and may import only WASI 0.2 interfaces"
    )]
    Incompatible {
        /// The module's digest.
        digest: String,
        /// What does not fit.
        message: String,
    },
    /// Compiling the component took longer than the sandbox's compile time limit.
    #[error(
        "module {digest} did not compile within {} s (the sandbox's compile time limit) and was given up; it is \
         retried later. A module this large or complex may need a higher limit",
        limit.as_secs_f32()
    )]
    CompileTimeout {
        /// The module's digest.
        digest: String,
        /// The compile time limit.
        limit: Duration,
    },
    /// Building the engine failed (an invalid configuration); a bug, not a user error.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// Why a render produced no Graph. Each variant is one condition reason on a Transform ([`Self::reason`]).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The module refused the input: fix the Transform.
    #[error("the module rejected the input:\n{}", list(violations))]
    Rejected {
        /// The violations, at least one of severity error.
        violations: Vec<Violation>,
    },
    /// The module reported an internal failure: fix the module.
    #[error("the module failed: {message}")]
    Failed {
        /// The module's message.
        message: String,
    },
    /// The render used up its fuel.
    #[error(
        "the render used up its fuel ({limit} units) and was stopped; the module may loop forever, or the \
         PlatformPolicy's sandbox fuel limit is too low for it"
    )]
    FuelExhausted {
        /// The fuel limit.
        limit: u64,
    },
    /// The render tried to use more memory than allowed.
    #[error(
        "the render tried to use more than {} MiB of memory and was stopped; raise the PlatformPolicy's sandbox \
         memory limit if the module really needs it{}", limit_bytes >> 20, guest_said(guest_output)
    )]
    MemoryLimitExceeded {
        /// The memory limit in bytes.
        limit_bytes: usize,
        /// What the module printed before it stopped.
        guest_output: String,
    },
    /// The render waited for its share of the process's render memory budget for as long as its time limit
    /// and got none: other renders held the budget. Transient: a later attempt may run.
    #[error(
        "the render waited {} ms for {} MiB of the render memory budget ({} MiB, shared by all renders) while          other renders held it, and gave up; it is retried later. If this persists, raise the budget (`pequod          run --max-render-memory`) or lower the PlatformPolicy's sandbox memory limit",
        waited.as_millis(), limit_bytes.div_ceil(1 << 20), budget_bytes >> 20
    )]
    MemoryBudgetExhausted {
        /// The render's memory limit, which it reserves whole.
        limit_bytes: usize,
        /// The whole budget.
        budget_bytes: usize,
        /// How long the render waited.
        waited: Duration,
    },
    /// The render's memory limit is larger than the whole render memory budget: it could never run.
    #[error(
        "the render's memory limit ({} MiB) is larger than the whole render memory budget ({} MiB), so it can          never run; lower the PlatformPolicy's sandbox memory limit or raise the budget (`pequod run          --max-render-memory`)",
        limit_bytes.div_ceil(1 << 20), budget_bytes >> 20
    )]
    MemoryLimitAboveBudget {
        /// The render's memory limit.
        limit_bytes: usize,
        /// The whole budget.
        budget_bytes: usize,
    },
    /// The render took longer than allowed.
    #[error("the render did not finish within {} ms and was stopped", limit.as_millis())]
    Timeout {
        /// The time limit.
        limit: Duration,
    },
    /// The Graph is larger than allowed.
    #[error("the rendered graph is {size} bytes; the limit is {limit} bytes")]
    OutputTooLarge {
        /// The size of the output.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The Graph has more nodes than allowed.
    #[error("the rendered graph has {count} nodes; the limit is {limit}")]
    TooManyNodes {
        /// The number of nodes.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The module crashed (a panic, an `unreachable`, an out-of-bounds access…).
    #[error("the module crashed: {message}{}", guest_said(guest_output))]
    Trap {
        /// wasmtime's description of the trap.
        message: String,
        /// What the module printed before it crashed (a Rust panic message, for example).
        guest_output: String,
    },
    /// The module returned text that is not a Graph.
    #[error("the module returned a malformed graph: {message}")]
    MalformedGraph {
        /// Where parsing failed.
        message: String,
    },
    /// The module returned a Graph that breaks the Graph rules (a cycle, an unknown dependency, …).
    #[error("the module returned an invalid graph:\n{}", list(&source.problems))]
    InvalidGraph {
        /// Every problem found.
        #[source]
        source: InvalidGraph,
    },
    /// The module could not be instantiated (a start function trapped, resources ran out, …).
    #[error("the module could not be started: {message}")]
    Instantiation {
        /// What went wrong.
        message: String,
    },
}

impl RenderError {
    /// The PascalCase reason for a Transform condition and a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "Rejected",
            Self::Failed { .. } => "RenderFailed",
            Self::FuelExhausted { .. } => "FuelExhausted",
            Self::MemoryLimitExceeded { .. } => "MemoryLimitExceeded",
            Self::MemoryBudgetExhausted { .. } => "MemoryBudgetExhausted",
            Self::MemoryLimitAboveBudget { .. } => "MemoryLimitAboveBudget",
            Self::Timeout { .. } => "Timeout",
            Self::OutputTooLarge { .. } => "OutputTooLarge",
            Self::TooManyNodes { .. } => "TooManyNodes",
            Self::Trap { .. } => "Trapped",
            Self::MalformedGraph { .. } => "MalformedGraph",
            Self::InvalidGraph { .. } => "InvalidGraph",
            Self::Instantiation { .. } => "InstantiationFailed",
        }
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|item| format!("  - {item}")).collect::<Vec<_>>().join("\n")
}

fn guest_said(output: &str) -> String {
    if output.is_empty() { String::new() } else { format!("\nthe module printed:\n{output}") }
}
