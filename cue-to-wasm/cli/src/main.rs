//! `cue-to-wasm`: exports CUE packages like `cue export`, with Pequod's own evaluator.

mod args;
mod build;
mod load;

use std::io::Write;
use std::process::ExitCode;

use args::Command;

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
        Command::Export(export) => {
            let files = load::load(&export.inputs, &export.paths)?;
            cue_eval::export_with(&files, &load::Modules::for_inputs(&export.inputs), &export.options)
        }
        Command::Vet(inputs, paths) => {
            let files = load::load(&inputs, &paths)?;
            let options = cue_eval::Options::default();
            cue_eval::export_with(&files, &load::Modules::for_inputs(&inputs), &options).map(|_| String::new())
        }
        Command::Build(build) => build::run(&build),
        Command::Help => Ok(args::USAGE.to_string()),
    }
}
