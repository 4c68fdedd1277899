//! How `pequod` fails: a report on stderr and an exit code per kind of failure.

use std::process::ExitCode;

use pequod_sandbox::{LoadError, RenderError};

/// Everything that can stop a `pequod` command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The Transform manifest is unusable.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The Transform names a module this command cannot resolve.
    #[error("{0}")]
    Source(String),
    /// The module could not be loaded into the sandbox.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The render ended without a graph.
    #[error("render of Transform {transform} with module {module} failed ({}):\n{error}", error.reason())]
    Render {
        /// `namespace/name` of the Transform.
        transform: String,
        /// The module's name and digest.
        module: String,
        /// How the render ended.
        error: RenderError,
    },
}

impl Failure {
    /// The process exit code: 1 for files and manifests, 2 for usage (set by clap), 3 for modules that
    /// cannot be loaded, and 10 and up for the ways a render can end, one code each.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Io(_) | Failure::Manifest { .. } => 1,
            Failure::Source(_) | Failure::Load(_) => 3,
            Failure::Render { error, .. } => render_exit_code(error),
        }
    }

    /// Prints the report and returns the exit code.
    pub fn report(&self) -> ExitCode {
        #[allow(clippy::print_stderr, reason = "the report of a failed command goes to stderr")]
        {
            eprintln!("error: {self}");
        }
        ExitCode::from(self.exit_code())
    }
}

/// The exit code of each way a render can end; documented in `pequod render --help` and the README.
pub fn render_exit_code(error: &RenderError) -> u8 {
    match error {
        RenderError::Rejected { .. } => 10,
        RenderError::Failed { .. } => 11,
        RenderError::FuelExhausted { .. } => 12,
        RenderError::MemoryLimitExceeded { .. } => 13,
        RenderError::Timeout { .. } => 14,
        RenderError::OutputTooLarge { .. } => 15,
        RenderError::TooManyNodes { .. } => 16,
        RenderError::Trap { .. } => 17,
        RenderError::MalformedGraph { .. } => 18,
        RenderError::InvalidGraph { .. } => 19,
        RenderError::Instantiation { .. } => 20,
        // Only with a process-wide memory budget, which `pequod render` (one render) does not set.
        RenderError::MemoryBudgetExhausted { .. } => 21,
        RenderError::MemoryLimitAboveBudget { .. } => 22,
    }
}
