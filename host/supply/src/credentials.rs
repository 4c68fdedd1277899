//! Registry credentials: explicit user and password, or a docker `config.json` (the format of a Kubernetes
//! `.dockerconfigjson` pull secret too).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The `auths` of a docker `config.json` or a `.dockerconfigjson` Secret. Credential helpers (`credsStore`,
/// `credHelpers`) are not run; use explicit credentials for registries that need them.
#[derive(Clone, Debug, Default)]
pub struct DockerConfig {
    logins: BTreeMap<String, Login>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
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
        Ok(Self { logins })
    }

    /// Reads a docker config file.
    pub fn from_file(path: &Path) -> Result<Self, SupplyError> {
        let json = std::fs::read(path)
            .map_err(|error| SupplyError::Key(format!("cannot read docker config {}: {error}", path.display())))?;
        Self::from_json(&json)
    }

    /// The default docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
    }

    /// The login for `registry` (`host[:port]`), if the file has one.
    pub fn login_for(&self, registry: &str) -> Option<Login> {
        self.logins.get(&normalize_registry(registry)).cloned()
    }
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
    fn bad_auth_is_an_error() {
        let error = DockerConfig::from_json(br#"{"auths": {"r.example": {"auth": "%%%"}}}"#).unwrap_err();
        assert!(error.to_string().contains("r.example"), "{error}");
    }
}
