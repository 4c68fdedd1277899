//! Registry credentials: explicit user and password, or a docker `config.json` (the format of a Kubernetes
//! `.dockerconfigjson` pull secret too).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use serde::Deserialize;

use crate::SupplyError;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// How to authenticate to registries.
#[derive(Clone, Debug, Default)]
pub enum Credentials {
    /// No credentials.
    #[default]
    Anonymous,
    /// The same login for every registry.
    Login(Login),
    /// Per-registry logins from a docker config file.
    DockerConfig(DockerConfig),
}

impl Credentials {
    /// The login for `registry` (`host[:port]`), if any.
    pub fn login_for(&self, registry: &str) -> Option<Login> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Login(login) => Some(login.clone()),
            Credentials::DockerConfig(config) => config.login_for(registry),
        }
    }
}

/// The `auths` of a docker `config.json` or a `.dockerconfigjson` Secret, and its credential helpers
/// (`credHelpers` per registry, `credsStore` for the rest: the `docker-credential-<name>` programs that ECR,
/// GCR and ACR logins use). Helpers run only for a config read from the user's own file
/// ([`DockerConfig::from_file`]); never for one that came from a cluster (a pull Secret is data, and running
/// programs it names would let its author run commands on the operator).
#[derive(Clone, Debug, Default)]
pub struct DockerConfig {
    logins: BTreeMap<String, Login>,
    helpers: BTreeMap<String, String>,
    store: Option<String>,
    run_helpers: bool,
    asked: Arc<Mutex<BTreeMap<String, Option<Login>>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

/// What a credential helper's `get` prints.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

#[derive(Deserialize)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl DockerConfig {
    /// Parses the JSON of a docker config file.
    pub fn from_json(json: &[u8]) -> Result<Self, SupplyError> {
        let raw: RawConfig = serde_json::from_slice(json)
            .map_err(|error| SupplyError::Key(format!("docker config: not valid JSON with `auths`: {error}")))?;
        let mut logins = BTreeMap::new();
        for (server, auth) in raw.auths {
            let login = match (&auth.auth, &auth.username, &auth.password) {
                (Some(encoded), _, _) if !encoded.is_empty() => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(encoded.trim())
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .ok_or_else(|| {
                            SupplyError::Key(format!(
                                "docker config: the `auth` of {server} is not base64 of user:password"
                            ))
                        })?;
                    let (username, password) = decoded.split_once(':').ok_or_else(|| {
                        SupplyError::Key(format!("docker config: the `auth` of {server} is not user:password"))
                    })?;
                    Login { username: username.to_owned(), password: password.to_owned() }
                }
                (_, Some(username), Some(password)) => Login { username: username.clone(), password: password.clone() },
                // Entries without a password (e.g. an OAuth `identitytoken`) give no basic-auth login.
                _ => continue,
            };
            logins.insert(normalize_registry(&server), login);
        }
        let helpers =
            raw.cred_helpers.into_iter().map(|(server, helper)| (normalize_registry(&server), helper)).collect();
        Ok(Self { logins, helpers, store: raw.creds_store, ..Self::default() })
    }

    /// Reads the user's docker config file; its credential helpers may run.
    pub fn from_file(path: &Path) -> Result<Self, SupplyError> {
        let json = std::fs::read(path)
            .map_err(|error| SupplyError::Key(format!("cannot read docker config {}: {error}", path.display())))?;
        Ok(Self { run_helpers: true, ..Self::from_json(&json)? })
    }

    /// The default docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
    }

    /// The login for `registry` (`host[:port]`): from `auths`, else from its credential helper (asked once).
    pub fn login_for(&self, registry: &str) -> Option<Login> {
        let registry = normalize_registry(registry);
        if let Some(login) = self.logins.get(&registry) {
            return Some(login.clone());
        }
        let helper = self.helpers.get(&registry).or(self.store.as_ref()).filter(|_| self.run_helpers)?;
        let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
        asked.entry(registry.clone()).or_insert_with(|| ask_helper(helper, &registry)).clone()
    }
}

/// Runs `docker-credential-<helper> get` for `registry`, as docker does; `None` (logged) when it fails or
/// has no login for it.
fn ask_helper(helper: &str, registry: &str) -> Option<Login> {
    if helper.is_empty() || !helper.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        tracing::warn!(helper, "not a credential helper name; ignored");
        return None;
    }
    let server = if registry == "docker.io" { "https://index.docker.io/v1/" } else { registry };
    let program = format!("docker-credential-{helper}");
    let answer = run_helper(&program, server).map_err(|error| tracing::warn!(program, registry, %error, "no login"));
    let answer: HelperAnswer = serde_json::from_slice(&answer.ok()?)
        .map_err(|error| tracing::warn!(program, %error, "the credential helper's answer is not JSON"))
        .ok()?;
    Some(Login { username: answer.username, password: answer.secret })
}

/// The standard output of `<program> get` given `server` on standard input.
fn run_helper(program: &str, server: &str) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run it: {error}"))?;
    child.stdin.take().map(|mut stdin| stdin.write_all(server.as_bytes())).transpose().map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    Ok(output.stdout)
}

/// `https://index.docker.io/v1/`, `docker.io` and `registry-1.docker.io` are the same registry; other keys
/// may carry a scheme and a path.
fn normalize_registry(server: &str) -> String {
    let host = server.trim_start_matches("https://").trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auth_and_username_password_forms() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
            "127.0.0.1:5000": {"username": "ci", "password": "secret"},
            "helper.example": {}
        }}"#;
        let config = DockerConfig::from_json(json).unwrap();
        let hub = config.login_for("registry-1.docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("user", "pa:ss"));
        assert_eq!(config.login_for("127.0.0.1:5000").unwrap().password, "secret");
        assert!(config.login_for("helper.example").is_none());
        assert!(config.login_for("other.example").is_none());
        assert!(!format!("{hub:?}").contains("pa:ss"));
    }

    #[test]
    fn helpers_named_by_cluster_data_never_run() {
        let json = br#"{"credsStore": "desktop", "credHelpers": {"ghcr.io": "gcloud"}}"#;
        let config = DockerConfig::from_json(json).unwrap();
        assert_eq!(config.login_for("ghcr.io"), None);
        assert_eq!(config.login_for("quay.io"), None);
        assert!(config.asked.lock().unwrap().is_empty(), "no helper was asked");
        let named =
            DockerConfig { run_helpers: true, ..DockerConfig::from_json(br#"{"credsStore": "../x"}"#).unwrap() };
        assert_eq!(named.login_for("quay.io"), None, "a helper name that is a path is ignored");
    }

    #[test]
    fn bad_auth_is_an_error() {
        let error = DockerConfig::from_json(br#"{"auths": {"r.example": {"auth": "%%%"}}}"#).unwrap_err();
        assert!(error.to_string().contains("r.example"), "{error}");
    }
}
