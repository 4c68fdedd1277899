//! `pequod module …`: publish renderer modules as signed OCI artifacts, and fetch and verify them.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a CLI subcommand prints its results")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use pequod_api::units::parse_duration;
use pequod_supply::{
    Credentials, DockerConfig, Login, ModuleArtifact, ModuleMetadata, PASSWORD_ENV, PublicKey, Reference, Registry,
    RegistryOptions, Resolver, SigningKey, SupplyError, TrustPolicy, parse_reference, repository_name,
};

const EXIT_CODES: &str = "\
Exit codes:
  0   done
  1   a file or key cannot be read or written, or the module cannot be packaged
  2   wrong command-line usage
  3   SourceUnavailable: the registry cannot be reached, refuses the credentials, lacks the reference, or
      serves something that is not a Pequod module (or is larger than allowed)
  30  DigestMismatch: the registry served content that does not match its digest
  31  SignatureMissing: the module has no signature
  32  SignatureInvalid: no signature verifies with the given keys for this digest and repository
  33  UntrustedSource: refused by the trust rules";

/// Arguments of `pequod module`.
#[derive(Args)]
pub struct ModuleArgs {
    #[command(subcommand)]
    command: ModuleCommand,
}

#[derive(Subcommand)]
enum ModuleCommand {
    /// Package a renderer component (and its CUE source) as an OCI artifact, push it, print its digest.
    #[command(after_help = EXIT_CODES)]
    Push(PushArgs),
    /// Pull a module by tag or digest, check every blob's digest, write the component.
    #[command(after_help = EXIT_CODES)]
    Pull(PullArgs),
    /// Write a cosign-compatible key pair; the private key is encrypted with $COSIGN_PASSWORD.
    Keygen(KeygenArgs),
    /// Sign a module (adding to its existing signatures), cosign-compatible.
    #[command(after_help = EXIT_CODES)]
    Sign(SignArgs),
    /// Verify a module's cosign signature against public keys.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Print a module's name, version, digest, graph version, signer and input JSON Schema.
    #[command(after_help = EXIT_CODES)]
    Info(InfoArgs),
}

#[derive(Args)]
struct InfoArgs {
    /// A renderer component file (`.wasm`), the name of a module embedded in this binary (`pequod
    /// modules`), or an OCI reference (by tag or digest).
    module: String,
    /// Require a signature by one of these public keys (PEM) and name its signer (OCI modules).
    #[arg(long = "key", value_name = "PUBLIC_KEY")]
    keys: Vec<PathBuf>,
    /// `text`, or `json` (one object, the input schema whole).
    #[arg(short, long, value_enum, default_value = "text")]
    output: InfoFormat,
    #[command(flatten)]
    registry: RegistryFlags,
}

/// How `pequod module info` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum InfoFormat {
    Text,
    Json,
}

/// How to reach the registry.
#[derive(Args)]
struct RegistryFlags {
    /// Talk plain HTTP to the reference's registry (only for a loopback or test registry).
    #[arg(long)]
    insecure: bool,
    /// Registry user name (with --password or --password-stdin); otherwise the docker config file's
    /// credentials are used.
    #[arg(long)]
    username: Option<String>,
    /// Registry password or token (visible to other users in the process list: prefer --password-stdin).
    #[arg(long, requires = "username", conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the registry password or token from standard input (one line).
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Docker config file with registry credentials (default: $DOCKER_CONFIG/config.json, else
    /// ~/.docker/config.json, when it exists).
    #[arg(long, value_name = "FILE", conflicts_with = "username")]
    docker_config: Option<PathBuf>,
    /// Time allowed for each registry request, e.g. 30s.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
}

#[derive(Args)]
struct PushArgs {
    /// The renderer component (`.wasm`).
    file: PathBuf,
    /// Where to push it, e.g. registry.example/team/web:1.0.0.
    reference: String,
    /// The module's CUE source directory, added as a layer for auditing.
    #[arg(long, value_name = "DIR")]
    source: Option<PathBuf>,
    /// The module name (default: the file name without `.wasm`).
    #[arg(long)]
    name: Option<String>,
    /// The module version (default: the reference's tag).
    #[arg(long = "module-version", value_name = "VERSION")]
    module_version: Option<String>,
    /// Where the source lives, e.g. a repository URL (org.opencontainers.image.source).
    #[arg(long, value_name = "URL")]
    source_url: Option<String>,
    /// The source revision, e.g. a commit SHA (org.opencontainers.image.revision).
    #[arg(long)]
    revision: Option<String>,
    /// Build time, RFC 3339 (org.opencontainers.image.created); left out by default so the digest is
    /// reproducible.
    #[arg(long)]
    created: Option<String>,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Args)]
struct PullArgs {
    /// The module, by tag or digest.
    reference: String,
    /// Where to write the component.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Also write the CUE source archive (tar.gz) here, when the artifact has one.
    #[arg(long, value_name = "FILE")]
    source_output: Option<PathBuf>,
    /// Require a signature by one of these public keys (PEM) before writing anything.
    #[arg(long = "key", value_name = "PUBLIC_KEY")]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Args)]
struct KeygenArgs {
    /// Write <PREFIX>.key and <PREFIX>.pub.
    #[arg(long, default_value = "cosign")]
    output_key_prefix: String,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct SignArgs {
    /// The module, by tag or digest (a tag is resolved and the digest is signed).
    reference: String,
    /// The encrypted private key (`pequod module keygen` or `cosign generate-key-pair`); its password comes
    /// from $COSIGN_PASSWORD.
    #[arg(long, value_name = "PRIVATE_KEY")]
    key: PathBuf,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Args)]
struct VerifyArgs {
    /// The module, by tag or digest.
    reference: String,
    /// Trusted public keys (PEM); any one of them suffices.
    #[arg(long = "key", value_name = "PUBLIC_KEY", required = true)]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    registry: RegistryFlags,
}

/// What went wrong in a `pequod module` command.
enum ModuleFailure {
    /// A local file or key problem.
    Local(String),
    /// A supply-chain failure.
    Supply(SupplyError),
}

impl From<SupplyError> for ModuleFailure {
    fn from(error: SupplyError) -> Self {
        match error {
            SupplyError::Artifact(message) | SupplyError::Key(message) => ModuleFailure::Local(message),
            other => ModuleFailure::Supply(other),
        }
    }
}

impl ModuleFailure {
    fn exit_code(&self) -> u8 {
        match self {
            ModuleFailure::Local(_) => 1,
            ModuleFailure::Supply(error) => match error.reason() {
                pequod_supply::REASON_DIGEST_MISMATCH => 30,
                pequod_supply::REASON_SIGNATURE_MISSING => 31,
                pequod_supply::REASON_SIGNATURE_INVALID => 32,
                pequod_supply::REASON_UNTRUSTED_SOURCE => 33,
                _ => 3,
            },
        }
    }

    fn report(&self) -> ExitCode {
        match self {
            ModuleFailure::Local(message) => eprintln!("error: {message}"),
            ModuleFailure::Supply(error) => eprintln!("error: {error} ({})", error.reason()),
        }
        ExitCode::from(self.exit_code())
    }
}

/// Runs a `pequod module` command.
pub fn run(args: ModuleArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return ModuleFailure::Local(format!("cannot start the async runtime: {error}")).report(),
    };
    let outcome = runtime.block_on(async {
        match args.command {
            ModuleCommand::Push(args) => push(args).await,
            ModuleCommand::Pull(args) => pull(args).await,
            ModuleCommand::Keygen(args) => keygen(args),
            ModuleCommand::Sign(args) => sign(args).await,
            ModuleCommand::Verify(args) => verify(args).await,
            ModuleCommand::Info(args) => info(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ModuleFailure> {
    std::fs::read(path).map_err(|error| ModuleFailure::Local(format!("cannot read {}: {error}", path.display())))
}

fn write(path: &Path, data: &[u8]) -> Result<(), ModuleFailure> {
    std::fs::write(path, data)
        .map_err(|error| ModuleFailure::Local(format!("cannot write {}: {error}", path.display())))
}

/// The password of `--password`, or the first line of standard input with `--password-stdin`.
fn password_flag(flags: &RegistryFlags) -> Result<Option<String>, ModuleFailure> {
    if !flags.password_stdin {
        return Ok(flags.password.clone());
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|error| ModuleFailure::Local(format!("cannot read the password from standard input: {error}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(ModuleFailure::Local("--password-stdin: standard input holds no password".into()));
    }
    Ok(Some(password))
}

fn registry_options(flags: &RegistryFlags, reference: &Reference) -> Result<RegistryOptions, ModuleFailure> {
    let credentials = match (&flags.username, password_flag(flags)?, &flags.docker_config) {
        (Some(username), Some(password), _) => Credentials::Login(Login { username: username.clone(), password }),
        (Some(_), None, _) => {
            return Err(ModuleFailure::Local("--username needs --password or --password-stdin".into()));
        }
        (_, _, Some(path)) => Credentials::DockerConfig(DockerConfig::from_file(path)?),
        _ => match DockerConfig::default_path().filter(|path| path.is_file()) {
            Some(path) => Credentials::DockerConfig(DockerConfig::from_file(&path)?),
            None => Credentials::Anonymous,
        },
    };
    let plain_http = if flags.insecure { vec![reference.registry().to_owned()] } else { Vec::new() };
    Ok(RegistryOptions { credentials, plain_http, request_timeout: flags.timeout, ..RegistryOptions::default() })
}

async fn push(args: PushArgs) -> Result<(), ModuleFailure> {
    let reference = parse_reference(&args.reference)?;
    let wasm = read(&args.file)?;
    let name = args.name.clone().unwrap_or_else(|| {
        args.file.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_else(|| "module".into())
    });
    let metadata = ModuleMetadata {
        name,
        version: args.module_version.clone().or_else(|| reference.tag().map(str::to_owned)),
        source: args.source_url.clone(),
        revision: args.revision.clone(),
        created: args.created.clone(),
    };
    let artifact = ModuleArtifact::build(&wasm, &metadata, args.source.as_deref())?;
    let registry = Registry::new(registry_options(&args.registry, &reference)?);
    let digest =
        crate::progress::step(format!("pushing {}", reference.whole()), registry.push(&reference, &artifact)).await?;
    eprintln!("pushed {} ({} bytes of component)", reference.whole(), wasm.len());
    println!("{digest}");
    Ok(())
}

/// A module fetched from a registry: its digest, component, CUE source (when asked for) and signer (when
/// verified).
struct Fetched {
    digest: String,
    wasm: Vec<u8>,
    source: Option<Vec<u8>>,
    signer: Option<String>,
}

/// Fetches `reference`, verifying it against `keys` when some are given.
async fn fetch(
    reference: &str,
    flags: &RegistryFlags,
    keys: &[PathBuf],
    with_source: bool,
) -> Result<Fetched, ModuleFailure> {
    let parsed = parse_reference(reference)?;
    let options = registry_options(flags, &parsed)?;
    let public_keys = read_keys(keys)?;
    let _step = crate::progress::Step::start(format!("pulling {reference}"));
    if public_keys.is_empty() {
        let registry = Registry::new(options);
        let digest = registry.resolve(&parsed).await?;
        let module = registry.pull_module(&parsed, &digest, with_source).await?;
        return Ok(Fetched { digest, wasm: module.wasm, source: module.cue_source, signer: None });
    }
    let policy = TrustPolicy { require_signatures: true, public_keys, allowed_registries: Vec::new() };
    let resolver = Resolver::new(options);
    let module = resolver.resolve(reference, &policy).await?;
    // Pull the source of the verified digest only.
    let source = match with_source {
        true => resolver.registry().pull_module(&parsed, &module.digest, true).await?.cue_source,
        false => None,
    };
    Ok(Fetched { digest: module.digest, wasm: module.wasm, source, signer: module.signer })
}

async fn pull(args: PullArgs) -> Result<(), ModuleFailure> {
    let reference = parse_reference(&args.reference)?;
    let Fetched { digest, wasm, source, signer } =
        fetch(&args.reference, &args.registry, &args.keys, args.source_output.is_some()).await?;
    write(&args.output, &wasm)?;
    if let Some(path) = &args.source_output {
        match source {
            Some(source) => write(path, &source)?,
            None => eprintln!("warning: {} has no CUE source layer; {} not written", args.reference, path.display()),
        }
    }
    match signer {
        Some(signer) => eprintln!("pulled {}@{digest}, signed by {signer}", repository_name(&reference)),
        None => eprintln!("pulled {}@{digest}", repository_name(&reference)),
    }
    println!("{digest}");
    Ok(())
}

fn read_keys(paths: &[PathBuf]) -> Result<Vec<String>, ModuleFailure> {
    paths
        .iter()
        .map(|path| {
            String::from_utf8(read(path)?)
                .map_err(|_| ModuleFailure::Local(format!("{} is not a PEM public key", path.display())))
        })
        .collect()
}

fn password() -> Result<String, ModuleFailure> {
    std::env::var(PASSWORD_ENV).map_err(|_| {
        ModuleFailure::Local(format!(
            "set ${PASSWORD_ENV} to the private key's password (an empty value means no password), as for cosign"
        ))
    })
}

fn keygen(args: KeygenArgs) -> Result<(), ModuleFailure> {
    let password = password()?;
    let private_path = PathBuf::from(format!("{}.key", args.output_key_prefix));
    let public_path = PathBuf::from(format!("{}.pub", args.output_key_prefix));
    for path in [&private_path, &public_path] {
        if path.exists() && !args.force {
            return Err(ModuleFailure::Local(format!("{} exists; pass --force to overwrite it", path.display())));
        }
    }
    let (private, public) = pequod_supply::generate_key_pair(password.as_bytes())?;
    write(&private_path, private.as_bytes())?;
    restrict_permissions(&private_path)?;
    write(&public_path, public.as_bytes())?;
    eprintln!("Private key written to {}", private_path.display());
    eprintln!("Public key written to {}", public_path.display());
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<(), ModuleFailure> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|error| ModuleFailure::Local(format!("cannot restrict {}: {error}", path.display())))
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path) -> Result<(), ModuleFailure> {
    Ok(())
}

async fn sign(args: SignArgs) -> Result<(), ModuleFailure> {
    let reference = parse_reference(&args.reference)?;
    let pem = String::from_utf8(read(&args.key)?)
        .map_err(|_| ModuleFailure::Local(format!("{} is not a PEM private key", args.key.display())))?;
    let key = SigningKey::from_encrypted_pem(&pem, password()?.as_bytes())?;
    let registry = Registry::new(registry_options(&args.registry, &reference)?);
    let digest = registry.resolve(&reference).await?;
    let outcome = pequod_supply::sign(&registry, &reference, &digest, &key).await?;
    let name = repository_name(&reference);
    if outcome.added {
        eprintln!(
            "signed {name}@{digest} with {} ({} signatures in {})",
            key.public_key().id,
            outcome.signatures,
            outcome.signature_reference
        );
    } else {
        eprintln!("{name}@{digest} was already signed with {}; nothing pushed", key.public_key().id);
    }
    println!("{digest}");
    Ok(())
}

async fn verify(args: VerifyArgs) -> Result<(), ModuleFailure> {
    let reference = parse_reference(&args.reference)?;
    let mut keys = Vec::new();
    for (path, pem) in args.keys.iter().zip(read_keys(&args.keys)?) {
        keys.push(
            PublicKey::from_pem(&pem).map_err(|error| ModuleFailure::Local(format!("{}: {error}", path.display())))?,
        );
    }
    let registry = Registry::new(registry_options(&args.registry, &reference)?);
    let digest = registry.resolve(&reference).await?;
    let verified = pequod_supply::verify(&registry, &reference, &digest, &keys).await?;
    eprintln!(
        "verified {}@{digest}: signed by {} for {}",
        repository_name(&reference),
        verified.key_id,
        verified.docker_reference
    );
    println!("{digest}");
    Ok(())
}

/// The component `module` names (a file, an embedded module, or an OCI reference), with the signer when
/// verified and what it was, for the report.
async fn component_for_info(args: &InfoArgs) -> Result<(Vec<u8>, Option<String>, String), ModuleFailure> {
    if Path::new(&args.module).is_file() {
        return Ok((read(Path::new(&args.module))?, None, "file".into()));
    }
    if let Some(module) = pequod_embedded::find(&args.module) {
        let wasm = match (module.component(), module.sources()) {
            (Some(wasm), _) => wasm.to_vec(),
            (None, Some(sources)) => compile(pequod_cue_compile::ModuleSource::Sources(sources), module.name).await?,
            (None, None) => unreachable!("an embedded module is a component or CUE source"),
        };
        return Ok((wasm, None, "embedded".into()));
    }
    let fetched = fetch(&args.module, &args.registry, &args.keys, false).await?;
    Ok((fetched.wasm, fetched.signer, format!("oci ({})", fetched.digest)))
}

/// Compiles an embedded CUE module, with the same cache as `pequod render`.
async fn compile(source: pequod_cue_compile::ModuleSource, name: &str) -> Result<Vec<u8>, ModuleFailure> {
    use pequod_cue_compile::{CompileLimits, Compiler};
    let mut compiler = Compiler::new();
    if let Some(directory) = crate::render::default_cache_dir() {
        compiler = compiler.with_cache_dir(directory.join("cue"));
    }
    let limits = CompileLimits::default();
    let wasm = crate::progress::step(format!("compiling {name} from CUE"), compiler.compile(&source, &limits)).await;
    wasm.map(|wasm| wasm.to_vec()).map_err(|error| ModuleFailure::Local(format!("{name} does not compile: {error}")))
}

async fn info(args: InfoArgs) -> Result<(), ModuleFailure> {
    let (wasm, signer, origin) = component_for_info(&args).await?;
    let options = pequod_sandbox::SandboxOptions {
        cache_dir: crate::render::default_cache_dir(),
        max_total_memory: None,
        ..Default::default()
    };
    let local = |error: &dyn std::fmt::Display| ModuleFailure::Local(format!("{}: {error}", args.module));
    let sandbox = pequod_sandbox::Sandbox::new(options).map_err(|e| local(&e))?;
    let module = {
        let _step = crate::progress::Step::start(format!("loading {} into the sandbox", args.module));
        sandbox.load(&wasm).map_err(|e| local(&e))?
    };
    let found = sandbox.info(&module, &pequod_sandbox::SandboxLimits::default()).await.map_err(|e| local(&e))?;
    let report = serde_json::json!({
        "name": found.name, "version": found.version, "digest": module.digest().to_string(),
        "graphVersion": found.graph_version, "source": origin, "signer": signer, "inputSchema": found.input_schema,
    });
    let text = match args.output {
        InfoFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        InfoFormat::Text => info_text(&report),
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(())
}

/// The text report: one `field: value` line each, then the input schema as indented JSON.
fn info_text(report: &serde_json::Value) -> String {
    let field = |key: &str| report[key].as_str().unwrap_or("").to_owned();
    let signer =
        report["signer"].as_str().map_or_else(|| "not verified (pass --key for OCI modules)".into(), str::to_owned);
    let schema = serde_json::to_string_pretty(&report["inputSchema"]).unwrap_or_default();
    let indented: String = schema.lines().map(|line| format!("  {line}\n")).collect();
    format!(
        "name:          {}\nversion:       {}\ndigest:        {}\ngraph version: {}\nsource:        {}\nsigner:        {signer}\ninput schema:\n{indented}",
        field("name"),
        field("version"),
        field("digest"),
        field("graphVersion"),
        field("source")
    )
}
