//! A real Kubernetes control plane for Pequod's cluster tests.
//!
//! [`TestCluster::shared`] starts, once per test binary, a real etcd, kube-apiserver and
//! kube-controller-manager (garbage collection and namespace deletion are real) built from the Go module
//! proxy by `tests/harness/build-control-plane.sh` and cached under `~/.cache/pequod`. Every server runs
//! under `supervise.sh`, which stops it and removes its data when the test binary exits, however it
//! exits. With `PEQUOD_TEST_KUBECONFIG` set, the tests use that cluster instead.
//!
//! No kubelet or scheduler runs: tests play their part with helpers such as
//! [`mark_deployment_available`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

pub mod git;
pub mod helm;
pub mod registry;

/// Makes `ring` the process's TLS crypto provider. The workspace links rustls with two providers (kube asks for
/// `ring`, sigstore for `aws-lc-rs`), and rustls refuses to guess between them, so every process that makes
/// TLS clients says which one to use before the first client is built. Safe to call repeatedly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why the test cluster could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Building the control-plane binaries failed.
    #[error("building the control plane failed: {0}")]
    Build(String),
    /// A server did not start or become ready.
    #[error("{0}")]
    Start(String),
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The Kubernetes client failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// A cluster the tests talk to: ours, or the one `PEQUOD_TEST_KUBECONFIG` names.
pub struct TestCluster {
    kubeconfig: PathBuf,
    config: Config,
    /// The `kubectl` to use: ours when we built the control plane, else the one on `PATH`.
    kubectl: PathBuf,
    /// Keeps the scratch directory (kubeconfig, certificates, etcd data) of a cluster we started.
    _scratch: Option<PathBuf>,
}

static SHARED: OnceCell<TestCluster> = OnceCell::const_new();

/// The API server's listening port and the admin token of a cluster we start.
struct Endpoint {
    port: u16,
    token: String,
}

impl TestCluster {
    /// The cluster of this test binary, started on first use.
    pub async fn shared() -> &'static TestCluster {
        install_crypto_provider();
        SHARED
            .get_or_init(|| async {
                match Self::connect_or_start().await {
                    Ok(cluster) => cluster,
                    Err(error) => panic!("cannot provide a test cluster: {error}"),
                }
            })
            .await
    }

    async fn connect_or_start() -> Result<Self, HarnessError> {
        if let Some(path) = std::env::var_os("PEQUOD_TEST_KUBECONFIG") {
            let kubeconfig = PathBuf::from(path);
            let config = config_for(&kubeconfig).await?;
            return Ok(Self { kubeconfig, config, kubectl: PathBuf::from("kubectl"), _scratch: None });
        }
        let binaries = build_control_plane()?;
        let scratch = scratch_dir()?;
        let endpoint = start_servers(&binaries, &scratch)?;
        let kubeconfig = scratch.join("kubeconfig");
        write_kubeconfig(&kubeconfig, &endpoint)?;
        let config = config_for(&kubeconfig).await?;
        wait_ready(&Client::try_from(config.clone())?).await?;
        let kubectl = binaries.join("kubectl");
        Ok(Self { kubeconfig, config, kubectl, _scratch: Some(scratch) })
    }

    /// A new client with cluster-admin rights, bound to the calling Tokio runtime. Each test makes its own:
    /// a client's connection worker runs on the runtime that created it and ends with it, and every
    /// `#[tokio::test]` has a runtime of its own.
    pub fn client(&self) -> Client {
        install_crypto_provider();
        Client::try_from(self.config.clone()).expect("a client for the test cluster")
    }

    /// The client configuration of the admin user (e.g. to reach the server through a proxy).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The kubeconfig file of the admin user, for `kubectl` and for the operator binary.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The `kubectl` binary the tests use (ours, or the one on `PATH` for another cluster).
    pub fn kubectl_path(&self) -> &Path {
        &self.kubectl
    }

    /// A `kubectl` command for this cluster (the admin kubeconfig in `KUBECONFIG`).
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(&self.kubectl);
        command.env("KUBECONFIG", &self.kubeconfig);
        command
    }

    /// Installs (or updates) CRDs and waits until the API server serves them.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) -> Result<(), HarnessError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client());
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &PatchParams::apply("pequod-test-harness").force(), &Patch::Apply(crd)).await?;
        }
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let established = |crd: Option<&CustomResourceDefinition>| {
                crd.and_then(|crd| crd.status.as_ref())
                    .and_then(|status| status.conditions.as_ref())
                    .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"))
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while !established(api.get_opt(&name).await?.as_ref()) {
                if Instant::now() > deadline {
                    return Err(HarnessError::Start(format!("CRD {name} was not established within 30 s")));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Creates a namespace of its own for one test, named after the test (`prefix-<n>`).
    pub async fn namespace(&self, prefix: &str) -> Result<String, HarnessError> {
        let api: Api<Namespace> = Api::all(self.client());
        let mut namespace = Namespace::default();
        namespace.metadata.generate_name = Some(format!("{prefix}-"));
        let created = api.create(&PostParams::default(), &namespace).await?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    /// Deletes a test namespace (the namespace controller removes what is in it).
    pub async fn delete_namespace(&self, name: &str) -> Result<(), HarnessError> {
        let api: Api<Namespace> = Api::all(self.client());
        api.delete(name, &DeleteParams::background()).await?;
        Ok(())
    }
}

/// Plays the kubelet and the deployment controller: reports a Deployment as rolled out and available.
pub async fn mark_deployment_available(client: &Client, namespace: &str, name: &str) -> Result<(), HarnessError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deployment = api.get(name).await?;
    let replicas = deployment.spec.as_ref().and_then(|spec| spec.replicas).unwrap_or(1);
    let generation = deployment.metadata.generation.unwrap_or(1);
    let status = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability."},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": "ReplicaSet has successfully progressed."}
            ]
        }
    });
    api.patch_status(name, &PatchParams::apply("pequod-test-kubelet").force(), &Patch::Apply(&status)).await?;
    Ok(())
}

/// Runs `build-control-plane.sh` (a no-op when the binaries are cached) and returns their directory.
fn build_control_plane() -> Result<PathBuf, HarnessError> {
    let script = harness_dir().join("build-control-plane.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| HarnessError::Build(format!("cannot run {}: {error}", script.display())))?;
    if !output.status.success() {
        return Err(HarnessError::Build(format!("{} exited with {}", script.display(), output.status)));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// This crate's directory: where it was built, or, when that checkout is gone (another checkout shares the
/// target directory and cargo kept the build), the `tests/harness` above the running test's package.
fn harness_dir() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if built.join("supervise.sh").is_file() {
        return built;
    }
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let found = running.and_then(|dir| {
        dir.ancestors().map(|up| up.join("tests/harness")).find(|harness| harness.join("supervise.sh").is_file())
    });
    found.unwrap_or(built)
}

fn scratch_dir() -> Result<PathBuf, HarnessError> {
    let scratch = std::env::temp_dir().join(format!("pequod-cluster-{}", std::process::id()));
    std::fs::create_dir_all(scratch.join("certs"))
        .map_err(|error| HarnessError::Io(scratch.display().to_string(), error))?;
    Ok(scratch)
}

fn free_port() -> Result<u16, HarnessError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|error| HarnessError::Io("bind 127.0.0.1:0".into(), error))?;
    let port = listener.local_addr().map_err(|error| HarnessError::Io("local_addr".into(), error))?.port();
    Ok(port)
}

/// Starts etcd, kube-apiserver and kube-controller-manager under the supervisor.
fn start_servers(binaries: &Path, scratch: &Path) -> Result<Endpoint, HarnessError> {
    let (etcd_port, peer_port, api_port) = (free_port()?, free_port()?, free_port()?);
    let token = admin_token();
    let write = |name: &str, text: &str| {
        let path = scratch.join(name);
        std::fs::write(&path, text).map_err(|error| HarnessError::Io(path.display().to_string(), error)).map(|()| path)
    };
    let tokens = write("tokens.csv", &format!("{token},pequod-admin,pequod-admin-uid,\"system:masters\"\n"))?;
    let service_account_key = scratch.join("service-account.key");
    run_openssl(&["genrsa", "-out", &service_account_key.display().to_string(), "2048"])?;

    let etcd_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    supervise(
        scratch,
        "etcd",
        binaries.join("etcd"),
        &[
            format!("--data-dir={}", scratch.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=error".into(),
        ],
    )?;
    let key = service_account_key.display().to_string();
    supervise(
        scratch,
        "kube-apiserver",
        binaries.join("kube-apiserver"),
        &[
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={api_port}"),
            format!("--cert-dir={}", scratch.join("certs").display()),
            format!("--token-auth-file={}", tokens.display()),
            "--authorization-mode=RBAC".into(),
            "--service-account-issuer=https://pequod.test".into(),
            format!("--service-account-key-file={key}"),
            format!("--service-account-signing-key-file={key}"),
            "--service-cluster-ip-range=10.96.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--v=0".into(),
        ],
    )?;
    let endpoint = Endpoint { port: api_port, token };
    let controller_kubeconfig = scratch.join("controller-manager.kubeconfig");
    write_kubeconfig(&controller_kubeconfig, &endpoint)?;
    supervise(
        scratch,
        "kube-controller-manager",
        binaries.join("kube-controller-manager"),
        &[
            format!("--kubeconfig={}", controller_kubeconfig.display()),
            "--controllers=garbage-collector-controller,namespace-controller".into(),
            "--leader-elect=false".into(),
            "--secure-port=0".into(),
            "--v=0".into(),
        ],
    )?;
    Ok(endpoint)
}

/// A token nobody else knows: a hash of the process id and the time.
fn admin_token() -> String {
    let seed = format!("{}:{:?}", std::process::id(), std::time::SystemTime::now());
    hex::encode(Sha256::digest(seed.as_bytes()))
}

fn run_openssl(arguments: &[&str]) -> Result<(), HarnessError> {
    let status = Command::new("openssl")
        .args(arguments)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|error| HarnessError::Start(format!("cannot run openssl (install it): {error}")))?;
    if status.success() { Ok(()) } else { Err(HarnessError::Start(format!("openssl {arguments:?} failed"))) }
}

/// Starts `binary` under `supervise.sh`, logging to `<scratch>/<name>.log`. The supervisor of etcd also
/// removes the scratch directory when the test binary exits.
fn supervise(scratch: &Path, name: &str, binary: PathBuf, arguments: &[String]) -> Result<(), HarnessError> {
    let log_path = scratch.join(format!("{name}.log"));
    let log =
        std::fs::File::create(&log_path).map_err(|error| HarnessError::Io(log_path.display().to_string(), error))?;
    let cleanup = if name == "etcd" { scratch.display().to_string() } else { String::new() };
    Command::new("bash")
        .arg(harness_dir().join("supervise.sh"))
        .arg(std::process::id().to_string())
        .arg(cleanup)
        .arg(&binary)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|error| HarnessError::Io(log_path.display().to_string(), error))?)
        .stderr(log)
        .spawn()
        .map_err(|error| HarnessError::Start(format!("cannot start {}: {error}", binary.display())))?;
    Ok(())
}

fn write_kubeconfig(path: &Path, endpoint: &Endpoint) -> Result<(), HarnessError> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: pequod-test\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
         insecure-skip-tls-verify: true\nusers:\n- name: pequod-admin\n  user:\n    token: {token}\ncontexts:\n- name: \
         pequod-test\n  context:\n    cluster: pequod-test\n    user: pequod-admin\n    namespace: default\n\
         current-context: pequod-test\n",
        port = endpoint.port,
        token = endpoint.token
    );
    std::fs::write(path, text).map_err(|error| HarnessError::Io(path.display().to_string(), error))
}

async fn config_for(kubeconfig: &Path) -> Result<Config, HarnessError> {
    let text = Kubeconfig::read_from(kubeconfig).map_err(|error| HarnessError::Start(format!("{error}")))?;
    Config::from_custom_kubeconfig(text, &KubeConfigOptions::default())
        .await
        .map_err(|error| HarnessError::Start(format!("{error}")))
}

/// Waits until the API server answers `/readyz` and the default namespace exists.
async fn wait_ready(client: &Client) -> Result<(), HarnessError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    loop {
        let request = http::Request::get("/readyz").body(Vec::new()).expect("a valid request");
        let ready = client.request_text(request).await.is_ok_and(|body| body.trim() == "ok");
        if ready && namespaces.get_opt("default").await.ok().flatten().is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(HarnessError::Start(
                "the API server was not ready within 120 s; see kube-apiserver.log in the scratch directory".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
