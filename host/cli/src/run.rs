//! `pequod run`: the operator.

use std::path::PathBuf;

use clap::Args;
use pequod_operator::Context;
use pequod_sandbox::{Sandbox, SandboxOptions};

use crate::exit::Failure;

/// Arguments of `pequod run`.
#[derive(Args)]
pub struct RunArgs {
    /// Where compiled modules are cached (default: $PEQUOD_CACHE_DIR, else ~/.cache/pequod/components).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs the controllers against the cluster of the current kubeconfig (or the in-cluster service account)
/// until interrupted.
pub fn run(args: RunArgs) -> Result<(), Failure> {
    let RunArgs { cache_dir } = args;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::Io(error.to_string()))?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .map_err(|error| Failure::Io(format!("cannot reach the cluster (check KUBECONFIG): {error}")))?;
        let cache_dir = cache_dir.or_else(crate::render::default_cache_dir);
        let sandbox = Sandbox::new(SandboxOptions { cache_dir, ..SandboxOptions::default() })?;
        tracing::info!("pequod operator started");
        pequod_operator::run(Context::new(client, sandbox)).await;
        Ok(())
    })
}
