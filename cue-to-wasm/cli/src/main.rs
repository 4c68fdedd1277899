//! `cue-to-wasm`: exports CUE packages like `cue export`, with Pequod's own evaluator.

mod args;
mod build;
mod limits;
mod load;

use std::io::Write;
use std::process::ExitCode;

use args::{Cli, Command, Export};
use clap::Parser as _;

/// Parses the command line (a usage error, `--help` or `--version` exits here, with status 2 for a usage
/// error), runs it and prints the result: status 0, or status 1 with the error on stderr.
fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(message.as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// Runs one command; returns stdout text, or the error text for stderr.
fn run(command: Command) -> Result<String, String> {
    match command {
        Command::Export(export) => {
            let sort_fields = args::debug_sortfields(std::env::var("CUE_DEBUG").ok().as_deref());
            watched(Export::of_export(export, sort_fields), false)
        }
        Command::Vet(inputs) => watched(Export::of_vet(inputs), true),
        Command::Build(build) => build::run(&build),
    }
}

/// Runs `export` (or `vet`, which prints nothing on success) within the command's limits.
fn watched(export: Export, vet: bool) -> Result<String, String> {
    let limits = export.limits;
    match limits::watch(limits, move || evaluate(&export)) {
        Ok(Ok(_)) if vet => Ok(String::new()),
        Ok(result) => result.map_err(|e| match e {
            Failure::Message(text) => text,
            Failure::Limit(exceeded) => format!("{exceeded}\n"),
        }),
        Err(exceeded) => Err(format!("{exceeded}\n")),
    }
}

/// How an evaluation failed.
enum Failure {
    /// The inputs' errors, as `cue` prints them.
    Message(String),
    /// A limit stopped it.
    Limit(limits::Exceeded),
}

/// Loads the inputs and exports them, once per `-e` expression (YAML documents separated by `---`).
fn evaluate(export: &Export) -> Result<String, Failure> {
    let files = load::load(&export.inputs, &export.placement).map_err(Failure::Message)?;
    let modules = load::Modules::for_inputs(&export.inputs);
    let limits = cue_eval::Limits { max_steps: Some(export.limits.max_steps) };
    let one = |options: &cue_eval::Options| {
        cue_eval::export_limited(&files, &modules, options, limits).map_err(|e| match e {
            cue_eval::ExportError::Program(text) => Failure::Message(text),
            cue_eval::ExportError::StepLimit(steps) => Failure::Limit(limits::Exceeded::Steps(steps)),
        })
    };
    if export.expressions.is_empty() {
        return one(&export.options);
    }
    let mut documents = Vec::new();
    for expression in &export.expressions {
        documents.push(one(&cue_eval::Options { expression: Some(expression.clone()), ..export.options.clone() })?);
    }
    let separator = if export.options.format == cue_eval::Format::Yaml { "---\n" } else { "" };
    Ok(documents.join(separator))
}
