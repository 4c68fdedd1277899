//! `cue-to-wasm`: exports CUE packages like `cue export`, with Pequod's own evaluator.

mod args;
mod build;
mod limits;
mod load;

use std::io::Write;
use std::process::ExitCode;

use args::{Command, Export};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
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

/// Runs one command line; returns stdout text, or the error text for stderr.
fn run(argv: &[String]) -> Result<String, String> {
    match args::parse(argv)? {
        Command::Export(export) => watched(export, false),
        Command::Vet(export) => {
            watched(Export { options: cue_eval::Options::default(), expressions: Vec::new(), ..export }, true)
        }
        Command::Build(build) => build::run(&build),
        Command::Help => Ok(args::USAGE.to_string()),
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
