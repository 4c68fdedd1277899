//! A real OCI registry for supply-chain tests: Debian's `docker-registry` (the CNCF distribution registry)
//! on a free loopback port with a scratch storage directory, optionally behind htpasswd basic auth; and the
//! real `cosign` CLI. `tests/harness/install-supply-tools.sh` installs both.
//!
//! Each [`TestRegistry`] runs under `supervise.sh`, so it stops and its storage is removed when it is
//! dropped or when the test binary exits, however it exits.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// Where Debian installs the registry.
const DEFAULT_REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// The cosign version `install-supply-tools.sh` builds.
pub const COSIGN_VERSION: &str = "v2.6.5";

/// The registry binary: `$PEQUOD_DOCKER_REGISTRY_BIN`, else Debian's, if it exists.
pub fn registry_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PEQUOD_DOCKER_REGISTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRY_BIN));
    path.is_file().then_some(path)
}

/// The cosign binary: `$PEQUOD_COSIGN_BIN`, else the one `install-supply-tools.sh` caches under
/// `${PEQUOD_CACHE:-~/.cache/pequod}/cosign-<version>/bin`, if it exists.
pub fn cosign_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PEQUOD_COSIGN_BIN") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let cache = std::env::var_os("PEQUOD_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/pequod")))?;
    Some(cache.join(format!("cosign-{COSIGN_VERSION}/bin/cosign"))).filter(|path| path.is_file())
}

/// Whether missing supply-chain tools must fail the tests (`PEQUOD_REQUIRE_SUPPLY_TOOLS=1`, set by CI)
/// instead of skipping them.
pub fn supply_tools_required() -> bool {
    std::env::var("PEQUOD_REQUIRE_SUPPLY_TOOLS").is_ok_and(|value| value == "1")
}

/// A running registry on loopback.
pub struct TestRegistry {
    supervisor: Child,
    port: u16,
    scratch: PathBuf,
    login: Option<(String, String)>,
}

impl TestRegistry {
    /// Starts a registry without authentication.
    pub fn start() -> Result<Self, HarnessError> {
        crate::install_crypto_provider();
        Self::launch(None)
    }

    /// Starts a registry that requires HTTP basic auth with this user name and password (bcrypt htpasswd).
    pub fn start_with_login(username: &str, password: &str) -> Result<Self, HarnessError> {
        Self::launch(Some((username.to_owned(), password.to_owned())))
    }

    fn launch(login: Option<(String, String)>) -> Result<Self, HarnessError> {
        let binary = registry_binary().ok_or_else(|| {
            HarnessError::Start(format!(
                "{DEFAULT_REGISTRY_BIN} is missing; run tests/harness/install-supply-tools.sh (or set \
                 PEQUOD_DOCKER_REGISTRY_BIN)"
            ))
        })?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "pequod-registry-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |error| HarnessError::Io(path, error)
        };
        std::fs::create_dir_all(scratch.join("storage")).map_err(io(&scratch))?;
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| HarnessError::Io("bind".into(), error))?;
            listener.local_addr().map_err(|error| HarnessError::Io("local_addr".into(), error))?.port()
        };
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: \
             pequod-test\n",
            storage = scratch.join("storage").display()
        );
        if let Some((username, password)) = &login {
            let htpasswd = scratch.join("htpasswd");
            let output = Command::new("htpasswd").args(["-Bbn", username, password]).output().map_err(|error| {
                HarnessError::Start(format!(
                    "cannot run htpasswd ({error}); install apache2-utils (tests/harness/install-supply-tools.sh)"
                ))
            })?;
            if !output.status.success() {
                return Err(HarnessError::Start(format!(
                    "htpasswd failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                )));
            }
            std::fs::write(&htpasswd, &output.stdout).map_err(io(&htpasswd))?;
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: pequod-test\n    path: {}\n", htpasswd.display()));
        }
        let config_path = scratch.join("config.yml");
        std::fs::write(&config_path, config).map_err(io(&config_path))?;
        let log_path = scratch.join("registry.log");
        let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
        let supervisor = Command::new("bash")
            .arg(crate::harness_dir().join("supervise.sh"))
            .arg(std::process::id().to_string())
            .arg(&scratch)
            .arg(&binary)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io(&log_path))?)
            .stderr(log)
            .spawn()
            .map_err(|error| HarnessError::Start(format!("cannot start {}: {error}", binary.display())))?;
        let mut registry = Self { supervisor, port, scratch, login };
        registry.wait_ready(&log_path)?;
        Ok(registry)
    }

    fn wait_ready(&mut self, log_path: &Path) -> Result<(), HarnessError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if matches!(self.get_status("/v2/"), Some(200 | 401)) {
                return Ok(());
            }
            let exited = matches!(self.supervisor.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                return Err(HarnessError::Start(format!(
                    "the registry on port {} did not become ready: {log}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTTP status of a GET of `path`, or `None` when the registry does not answer.
    fn get_status(&self, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
        let mut head = [0u8; 32];
        let read = stream.read(&mut head).ok()?;
        let line = std::str::from_utf8(&head[..read]).ok()?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// `127.0.0.1:<port>`: the registry part of references to it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The user name and password it requires, if any.
    pub fn login(&self) -> Option<(&str, &str)> {
        self.login.as_ref().map(|(username, password)| (username.as_str(), password.as_str()))
    }

    /// The storage directory (the registry's filesystem driver root).
    pub fn storage_dir(&self) -> PathBuf {
        self.scratch.join("storage")
    }

    /// The file holding the blob with `digest` (`sha256:<hex>`), to tamper with it.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage_dir().join("docker/registry/v2/blobs/sha256").join(&hex[..2.min(hex.len())]).join(hex).join("data")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        // TERM lets the supervisor stop the registry and remove the scratch directory.
        let _ = Command::new("kill").arg("-TERM").arg(self.supervisor.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.supervisor.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.supervisor.kill();
        let _ = self.supervisor.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
