//! `pequod`: the command-line entry point.

mod diff;
mod exit;
mod module;
mod output;
mod progress;
mod render;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Render CUE platform modules in a WebAssembly sandbox and apply the graph to Kubernetes.
#[derive(Parser)]
#[command(name = "pequod", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a Transform offline and print its graph.
    Render(render::RenderArgs),
    /// List the modules shipped inside this binary.
    Modules,
    /// Show what the operator would change for a Transform (server-side dry runs, unified diffs).
    Diff(diff::DiffArgs),
    /// Run the operator against the current cluster until interrupted.
    Run(run::RunArgs),
    /// Publish, fetch, sign and verify modules in OCI registries.
    Module(module::ModuleArgs),
    /// Print the CustomResourceDefinitions of Pequod's resources (YAML), e.g. for `kubectl apply -f -`.
    Crds,
    /// Print a shell completion script, e.g. `source <(pequod completion bash)`, or
    /// `pequod completion zsh > "${fpath[1]}/_pequod"`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Starts the log on stderr. The operator logs what it does (one line per event, naming the object); the other
/// commands only warnings. `PEQUOD_LOG` overrides either (e.g. `PEQUOD_LOG=debug`); `pequod run --log-format
/// json` writes one JSON object per line.
fn init_logging(command: &Command) {
    let (default_filter, format) = match command {
        Command::Run(args) => ("warn,pequod=info,pequod_operator=info", args.log_format()),
        _ => ("warn", run::LogFormat::Text),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PEQUOD_LOG").unwrap_or_else(|_| default_filter.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        run::LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        run::LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
}

fn main() -> ExitCode {
    // kube links rustls with `ring`, sigstore with `aws-lc-rs`: choose one for the process before any TLS client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = Cli::parse().command;
    init_logging(&command);
    let outcome = match command {
        Command::Render(args) => render::run(args),
        Command::Modules => render::list_modules(),
        Command::Run(args) => run::run(args),
        Command::Module(args) => return module::run(args),
        Command::Diff(args) => return diff::run(args),
        Command::Crds => {
            #[allow(clippy::print_stdout, reason = "the command's output")]
            {
                print!("{}", pequod_api::crds_yaml());
            }
            Ok(())
        }
        Command::Completion { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "pequod",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
