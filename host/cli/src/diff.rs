//! `pequod diff`: what the operator would change for a Transform, shown as unified diffs of server-side dry
//! runs. The render, the policies, the identity and the apply decisions are the operator's own
//! ([`pequod_operator::preview`]); this module reads the Transform, applies the overrides and prints.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a CLI subcommand prints its results")]

mod clean;
mod input;
mod report;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kube::api::Api;
use pequod_api::Transform;
use pequod_operator::preview::PreviewError;
use pequod_operator::{Context, Options};
use pequod_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

use self::input::{Assignment, Source};
use self::report::Verdict;

const EXIT_CODES: &str = "\
Exit codes (the kubectl diff convention: 0 and 1 are answers, above 1 something went wrong):
  0   nothing would change
  1   something would change (created, updated, pruned or orphaned)
  2   wrong command-line usage
  3   the module cannot be found or loaded
  4   the Transform, --input-file or an override is unusable
  5   the cluster cannot be reached or refused a request the preview needs (PlatformPolicies, the
      Transform, its ResourceGraph, impersonation), a PlatformPolicy is invalid, or the target rules
      refuse the graph
  6   a node would fail: its dry run was refused (RBAC, admission), it conflicts with another field
      manager and its policy does not force, or pruning cannot be previewed; the other nodes are shown
  10-22  the render failed, as for `pequod render`
  30-33  DigestMismatch, SignatureMissing, SignatureInvalid, UntrustedSource, as for `pequod module`";

/// Arguments of `pequod diff`.
#[derive(Args)]
#[command(after_help = EXIT_CODES)]
pub struct DiffArgs {
    /// The Transform: a manifest file (YAML or JSON), `-` for standard input, or `tf/NAME` for one in the
    /// cluster.
    transform: String,
    /// The Transform's namespace (default: the manifest's, else the kubeconfig context's).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Replace spec.input with this file's content (YAML or JSON).
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,
    /// Set one value under spec.input (after --input-file), e.g. `--set replicas=3`; repeat for several.
    /// Integers, true, false, null and JSON strings, lists and objects are typed; anything else is a string.
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = input::parse_assignment)]
    sets: Vec<Assignment>,
    /// Preview with this module instead of spec.cueRef.ref (the same cueRef.type), e.g. the next version's
    /// OCI reference.
    #[arg(long, value_name = "REF")]
    module: Option<String>,
    /// The kubeconfig file to use (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// The operator's --default-service-account: impersonated for Transforms without
    /// spec.serviceAccountName, as the operator does. Without either, the dry runs use your own credentials.
    #[arg(long, value_name = "NAME")]
    default_service_account: Option<String>,
    /// A registry (`host:port`) reached over plain HTTP, as for `pequod run`; repeat for several.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registries: Vec<String>,
    /// Where compiled modules are cached (default: $PEQUOD_CACHE_DIR, else ~/.cache/pequod/components).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// Why `pequod diff` could not answer.
#[derive(Debug, thiserror::Error)]
enum DiffFailure {
    /// The Transform, the input file or an override is unusable.
    #[error("{0}")]
    Input(String),
    /// The cluster cannot be reached, or has no such Transform.
    #[error("{0}")]
    Cluster(String),
    /// The operator's steps stopped before the dry runs.
    #[error(transparent)]
    Preview(#[from] PreviewError),
}

impl DiffFailure {
    fn exit_code(&self) -> u8 {
        match self {
            DiffFailure::Input(_) => 4,
            DiffFailure::Cluster(_) => 5,
            DiffFailure::Preview(error) => preview_exit_code(error),
        }
    }

    fn report(&self) -> ExitCode {
        eprintln!("error: {self}");
        ExitCode::from(self.exit_code())
    }
}

/// The exit code of a preview that stopped: the codes of `pequod render` and `pequod module` where they apply.
fn preview_exit_code(error: &PreviewError) -> u8 {
    match error {
        PreviewError::Source { reason, .. } => match *reason {
            pequod_supply::REASON_DIGEST_MISMATCH => 30,
            pequod_supply::REASON_SIGNATURE_MISSING => 31,
            pequod_supply::REASON_SIGNATURE_INVALID => 32,
            pequod_supply::REASON_UNTRUSTED_SOURCE => 33,
            _ => 3,
        },
        PreviewError::Load(_) => 3,
        PreviewError::Render(error) => crate::exit::render_exit_code(error),
        PreviewError::Cluster(_) | PreviewError::Policy(_) | PreviewError::Targets(_) => 5,
    }
}

/// Runs `pequod diff`.
pub fn run(args: DiffArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return DiffFailure::Input(format!("cannot start the async runtime: {error}")).report(),
    };
    match runtime.block_on(diff(args)) {
        Ok(verdict) => ExitCode::from(verdict.exit_code()),
        Err(failure) => failure.report(),
    }
}

async fn diff(args: DiffArgs) -> Result<Verdict, DiffFailure> {
    let unreachable = |error: String| {
        DiffFailure::Cluster(format!("cannot reach the cluster (check --kubeconfig, --context or KUBECONFIG): {error}"))
    };
    let config =
        crate::run::kube_config(args.kubeconfig.as_ref(), args.context.as_deref()).await.map_err(unreachable)?;
    let client = kube::Client::try_from(config.clone()).map_err(|error| unreachable(error.to_string()))?;
    let mut transform = load(&args, &client, &config.default_namespace).await?;
    override_input(&mut transform, &args)?;
    let context = operator_context(&args, client, config)?;
    let preview = pequod_operator::preview::preview(&context, &transform).await?;
    print!("{}", report::report(&preview, std::io::stdout().is_terminal()));
    let changes = report::changes(&preview);
    eprintln!("{}; dry runs as {}", report::summary(&changes), preview.identity);
    if transform.spec.suspend {
        eprintln!("note: spec.suspend is true: the operator applies nothing until it is false");
    }
    Ok(Verdict::of(&changes))
}

/// The Transform to preview, from its file or from the cluster, with its namespace set.
async fn load(args: &DiffArgs, client: &kube::Client, default_namespace: &str) -> Result<Transform, DiffFailure> {
    match input::parse_source(&args.transform) {
        Source::File(path) => {
            let mut transform =
                crate::render::read_transform(&path).map_err(|failure| DiffFailure::Input(failure.to_string()))?;
            let manifest = transform.metadata.namespace.as_deref();
            let namespace =
                input::namespace(manifest, args.namespace.as_deref(), default_namespace).map_err(DiffFailure::Input)?;
            transform.metadata.namespace = Some(namespace);
            Ok(transform)
        }
        Source::Live(name) => {
            let namespace = args.namespace.as_deref().unwrap_or(default_namespace);
            let transforms: Api<Transform> = Api::namespaced(client.clone(), namespace);
            let found = transforms
                .get_opt(&name)
                .await
                .map_err(|error| DiffFailure::Cluster(format!("cannot read Transform {namespace}/{name}: {error}")))?;
            found.ok_or_else(|| {
                DiffFailure::Cluster(format!(
                    "there is no Transform {namespace}/{name} (see `kubectl get transforms -n {namespace}`)"
                ))
            })
        }
    }
}

/// Applies --input-file, then every --set, then --module.
fn override_input(transform: &mut Transform, args: &DiffArgs) -> Result<(), DiffFailure> {
    if let Some(path) = &args.input_file {
        transform.spec.input = read_input(path)?;
    }
    for assignment in &args.sets {
        input::assign(&mut transform.spec.input, assignment).map_err(DiffFailure::Input)?;
    }
    if let Some(module) = &args.module {
        transform.spec.cue_ref.reference = module.clone();
    }
    Ok(())
}

fn read_input(path: &std::path::Path) -> Result<Value, DiffFailure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|error| DiffFailure::Input(format!("cannot read --input-file {shown}: {error}")))?;
    serde_yaml::from_str(&text)
        .map_err(|error| DiffFailure::Input(format!("--input-file {shown} is not YAML or JSON: {error}")))
}

/// The operator's context as `pequod run` makes it, from the command's flags.
fn operator_context(
    args: &DiffArgs,
    client: kube::Client,
    config: kube::Config,
) -> Result<std::sync::Arc<Context>, DiffFailure> {
    let cache_dir = args.cache_dir.clone().or_else(crate::render::default_cache_dir);
    let options = Options {
        render_cache: false,
        kube_config: Some(config),
        default_service_account: args.default_service_account.clone(),
        insecure_registries: args.insecure_registries.clone(),
        cache_dir: cache_dir.clone(),
        ..Options::default()
    };
    // One preview: no process-wide memory budget beyond each render's own limit.
    let sandbox = Sandbox::new(SandboxOptions { cache_dir, max_total_memory: None, ..SandboxOptions::default() })
        .map_err(|error| DiffFailure::Input(format!("cannot start the sandbox: {error}")))?;
    Ok(Context::with_options(client, sandbox, options))
}
