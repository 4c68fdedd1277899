//! CUE modules from git repositories.
//!
//! A Transform's `cueRef: {type: git, ref: "https://host/repo.git?ref=<branch|tag|sha>&path=<dir>"}` names a
//! directory of a git repository. [`GitReference::parse`] reads such a reference; [`fetch_module`] fetches the
//! commit it names with [gitoxide](https://docs.rs/gix) (pure Rust, smart HTTP(S) over rustls, shallow when the
//! commit is known) into a scratch repository under a cache directory and returns a [`GitModule`]: the resolved
//! commit and the module's files — the `.cue` files of the directory plus everything under the nearest
//! `cue.mod/` above it — with paths relative to the CUE module root.
//!
//! Nothing from the repository is ever executed: no hooks, no filters, no credential helpers, no user or system
//! git configuration; only blobs are read out of the object database, symbolic links and submodules are skipped.
//! Credentials ([`GitCredentials`], from a Kubernetes Secret) are only sent over HTTPS, or over plain HTTP to a
//! loopback address.
//!
//! Fetching a full commit SHA that was fetched before (with the same URL and path) answers from the cache
//! without touching the network; a branch or tag costs one `ls-refs` round trip, and the pack only when the
//! commit it points to is not cached yet. Cached modules take at most [`GitModuleCache::DEFAULT_BOUNDS`] (or
//! the bounds of the [`GitModuleCache`] the caller shares between fetches), the least recently used dropped
//! first.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use gix::ObjectId;
use gix::bstr::ByteSlice as _;
use gix::protocol::handshake::Ref;
use gix::protocol::transport::client::blocking_io::http;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};
use pequod_cache::{Bounds, CacheStats, DiskLru};
use sha2::{Digest as _, Sha256};

use crate::error::REASON_SOURCE_UNAVAILABLE;

/// The condition reason when the branch, tag or commit a git reference names does not exist.
pub const REASON_REF_NOT_FOUND: &str = "RefNotFound";
/// The condition reason when the commit has no directory at the reference's `path`.
pub const REASON_PATH_NOT_FOUND: &str = "PathNotFound";
/// The condition reason when a module has more files or bytes than allowed.
pub const REASON_MODULE_TOO_LARGE: &str = "ModuleTooLarge";

/// The user name sent with a token when the Secret names none (GitHub's convention; GitLab, Gitea and
/// Bitbucket accept any user name with a token as password).
pub const DEFAULT_TOKEN_USERNAME: &str = "x-access-token";

/// A git module reference: `https://host/repo.git?ref=<branch|tag|sha>&path=<dir>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GitReference {
    url: String,
    git_ref: Option<String>,
    path: String,
}

impl GitReference {
    /// Parses a reference. `ref` defaults to the repository's default branch (`HEAD`) and `path` to its root;
    /// `http://` is accepted (credentials are then only sent to loopback hosts). Anything else — other
    /// schemes, user names or passwords in the URL, fragments, unknown or repeated query parameters, `..`
    /// in the path — is refused with [`GitError::InvalidReference`].
    pub fn parse(reference: &str) -> Result<Self, GitError> {
        let invalid = |message: String| GitError::InvalidReference { reference: reference.to_owned(), message };
        let trimmed = reference.trim();
        let rest = if let Some(rest) = trimmed.strip_prefix("https://") {
            rest
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            rest
        } else {
            return Err(invalid("only https:// (and http:// for tests on loopback) git URLs are supported".into()));
        };
        if trimmed.contains('#') {
            return Err(invalid("a fragment (#…) is not allowed; use ?ref=… to choose a revision".into()));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("the reference contains whitespace or control characters".into()));
        }
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        let (authority, repo_path) = location.split_once('/').unwrap_or((location, ""));
        if authority.is_empty() {
            return Err(invalid("the URL has no host".into()));
        }
        if authority.contains('@') {
            return Err(invalid(
                "user names and passwords do not belong in the URL; put them in a Secret named by pullSecretRef".into(),
            ));
        }
        if repo_path.trim_matches('/').is_empty() {
            return Err(invalid("the URL names no repository (expected https://host/owner/repo.git)".into()));
        }
        let scheme_len = trimmed.len() - rest.len();
        let url = trimmed[..scheme_len + location.len()].trim_end_matches('/').to_owned();
        gix::Url::from_bytes(url.as_bytes().as_bstr())
            .map_err(|error| invalid(format!("not a valid git URL: {error}")))?;

        let mut git_ref = None;
        let mut path = None;
        for pair in query.unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| invalid(format!("{key}: invalid percent-encoding")))?;
            let slot = match key {
                "ref" => &mut git_ref,
                "path" => &mut path,
                other => {
                    return Err(invalid(format!("unknown parameter {other:?}; only `ref` and `path` are supported")));
                }
            };
            if slot.replace(value).is_some() {
                return Err(invalid(format!("parameter `{key}` is given more than once")));
            }
        }
        let git_ref = match git_ref {
            None => None,
            Some(value) if value.is_empty() || value == "HEAD" => None,
            Some(value) => Some(check_ref_name(&value).map_err(invalid)?),
        };
        let path = normalize_path(path.as_deref().unwrap_or_default()).map_err(invalid)?;
        Ok(Self { url, git_ref, path })
    }

    /// The repository URL, without the query (`https://host/repo.git`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The branch, tag or commit SHA asked for; `None` for the default branch (`HEAD`).
    pub fn git_ref(&self) -> Option<&str> {
        self.git_ref.as_deref()
    }

    /// The module directory relative to the repository root, without leading or trailing `/`; empty for the root.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL's `host[:port]`.
    pub fn authority(&self) -> &str {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or_default()
    }

    /// Whether the URL's host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    fn is_loopback(&self) -> bool {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or_default();
        let host = if let Some(bracketed) = authority.strip_prefix('[') {
            bracketed.split(']').next().unwrap_or_default()
        } else {
            authority.rsplit_once(':').map_or(authority, |(host, _)| host)
        };
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
    }

    fn is_https(&self) -> bool {
        self.url.starts_with("https://")
    }
}

impl FromStr for GitReference {
    type Err = GitError;

    fn from_str(reference: &str) -> Result<Self, GitError> {
        Self::parse(reference)
    }
}

impl fmt::Display for GitReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)?;
        let mut separator = '?';
        if let Some(git_ref) = &self.git_ref {
            write!(f, "{separator}ref={}", percent_encode(git_ref))?;
            separator = '&';
        }
        if !self.path.is_empty() {
            write!(f, "{separator}path={}", percent_encode(&self.path))?;
        }
        Ok(())
    }
}

impl fmt::Debug for GitReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GitReference({self})")
    }
}

/// Decodes `%XX` escapes (and nothing else: `+` stays `+`). `None` for a broken escape or invalid UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

fn percent_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Checks a branch, tag or SHA against git's ref-name rules (`git check-ref-format`), roughly.
fn check_ref_name(name: &str) -> Result<String, String> {
    let bad = name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with('.')
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name.chars().any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
        || name.split('/').any(|component| component.starts_with('.'));
    if bad { Err(format!("{name:?} is not a valid branch, tag or commit SHA")) } else { Ok(name.to_owned()) }
}

/// Normalizes the module directory: no leading, trailing or doubled `/`, no `.` or `..` components.
fn normalize_path(path: &str) -> Result<String, String> {
    let mut components = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => continue,
            ".." => return Err(format!("path {path:?} must not contain `..`")),
            component if component.contains('\\') || component.chars().any(char::is_control) => {
                return Err(format!("path {path:?} contains a backslash or a control character"));
            }
            component => components.push(component),
        }
    }
    Ok(components.join("/"))
}

/// How to authenticate to a git server, as read from a Kubernetes Secret with
/// [`from_secret_data`](Self::from_secret_data). `Debug` never shows secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum GitCredentials {
    /// HTTP basic authentication with a user name and password.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// A personal or app access token, sent as the password of HTTP basic authentication with `username`
    /// ([`DEFAULT_TOKEN_USERNAME`] if the Secret names none): what GitHub, GitLab, Gitea and Bitbucket accept.
    Token {
        /// The user name to send with the token.
        username: String,
        /// The token.
        token: String,
    },
    /// A token sent as `Authorization: Bearer <token>` (e.g. Azure DevOps, or servers behind an OAuth proxy).
    Bearer {
        /// The token.
        token: String,
    },
}

impl GitCredentials {
    /// Reads credentials from a Secret's `data`: `token` (with an optional `username`) for a token sent as
    /// the basic-auth password, `bearerToken` for `Authorization: Bearer`, or `username` and `password`.
    /// Values must be non-empty UTF-8; surrounding whitespace (a trailing newline from `kubectl create secret
    /// --from-file`) is dropped.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, GitError> {
        let value = |key: &str| -> Result<Option<String>, GitError> {
            let Some(bytes) = data.get(key) else { return Ok(None) };
            let text = std::str::from_utf8(bytes)
                .map_err(|_| GitError::InvalidCredentials(format!("the Secret's `{key}` is not UTF-8 text")))?;
            let text = text.trim();
            if text.is_empty() {
                return Err(GitError::InvalidCredentials(format!("the Secret's `{key}` is empty")));
            }
            Ok(Some(text.to_owned()))
        };
        if let Some(token) = value("bearerToken")? {
            return Ok(Self::Bearer { token });
        }
        let username = value("username")?;
        if let Some(token) = value("token")? {
            return Ok(Self::Token { username: username.unwrap_or_else(|| DEFAULT_TOKEN_USERNAME.to_owned()), token });
        }
        match (username, value("password")?) {
            (Some(username), Some(password)) => Ok(Self::Basic { username, password }),
            (Some(_), None) => {
                Err(GitError::InvalidCredentials("the Secret has a `username` but no `password` (or `token`)".into()))
            }
            _ => Err(GitError::InvalidCredentials(
                "the Secret has none of the keys `token`, `bearerToken`, or `username` and `password`".into(),
            )),
        }
    }

    /// The value of the `Authorization` header.
    fn authorization(&self) -> String {
        let basic = |username: &str, password: &str| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
        };
        match self {
            Self::Basic { username, password } => basic(username, password),
            Self::Token { username, token } => basic(username, token),
            Self::Bearer { token } => format!("Bearer {token}"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "username/password",
            Self::Token { .. } => "token",
            Self::Bearer { .. } => "bearer token",
        }
    }
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "GitCredentials::Basic({username:?}, <redacted>)"),
            Self::Token { username, .. } => write!(f, "GitCredentials::Token({username:?}, <redacted>)"),
            Self::Bearer { .. } => f.write_str("GitCredentials::Bearer(<redacted>)"),
        }
    }
}

/// Where and within which bounds to fetch.
#[derive(Clone, Debug)]
pub struct GitFetchOptions {
    /// The cache directory: scratch repositories live (briefly) under `<cache_dir>/tmp`, fetched modules under
    /// `<cache_dir>/modules`. Created if missing.
    pub cache_dir: PathBuf,
    /// The longest a whole fetch may take ([`fetch_module`] gives up then; each HTTP request is bounded by it too).
    pub timeout: Duration,
    /// The longest establishing a connection may take.
    pub connect_timeout: Duration,
    /// The most files a module may have.
    pub max_files: usize,
    /// The most bytes a module's files may have together.
    pub max_total_bytes: u64,
    /// The most bytes a fetch may download (the packed objects: a shallow fetch brings the commit's whole tree,
    /// not only the module's directory).
    pub max_download_bytes: u64,
    /// How to name the credentials in messages, e.g. `Secret "team-a/git-token"`; `None` names the
    /// pullSecretRef generically.
    pub credentials_source: Option<String>,
    /// The cache of fetched modules, shared between fetches (its counters add up); `None` opens the one in
    /// `<cache_dir>/modules` for this fetch, within [`GitModuleCache::DEFAULT_BOUNDS`].
    pub module_cache: Option<Arc<GitModuleCache>>,
    /// Fetches that may run at once, shared between fetches: each holds a slot until its blocking work has
    /// really ended (after a timeout too), so scratch repositories take at most slots ×
    /// `max_download_bytes` of disk. `None`: no limit.
    pub slots: Option<Arc<tokio::sync::Semaphore>>,
}

impl GitFetchOptions {
    /// Defaults: 60 s per fetch, 10 s to connect, at most 1000 files and 8 MiB in the module, at most 128 MiB
    /// downloaded.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_files: 1000,
            max_total_bytes: 8 * 1024 * 1024,
            max_download_bytes: 128 * 1024 * 1024,
            credentials_source: None,
            module_cache: None,
            slots: None,
        }
    }
}

/// A module fetched from git.
#[derive(Clone, PartialEq, Eq)]
pub struct GitModule {
    /// The commit the reference resolved to (40 hex digits).
    pub commit: String,
    /// The CUE module root (the directory holding `cue.mod/`) relative to the repository root; empty for the
    /// root. Without a `cue.mod/` between the package directory and the repository root, the package
    /// directory itself.
    pub module_root: String,
    /// The reference's `path` relative to [`module_root`](Self::module_root): the directory of the package to
    /// evaluate; empty when it is the module root.
    pub package_dir: String,
    /// The files, sorted by path: the package directory's `.cue` files and everything under `cue.mod/`, each
    /// with its path relative to the module root (`/`-separated) and its contents.
    pub files: Vec<(String, Vec<u8>)>,
}

impl GitModule {
    /// The files' total size in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, contents)| contents.len() as u64).sum()
    }
}

impl fmt::Debug for GitModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitModule")
            .field("commit", &self.commit)
            .field("module_root", &self.module_root)
            .field("package_dir", &self.package_dir)
            .field("files", &self.files.iter().map(|(path, contents)| (path, contents.len())).collect::<Vec<_>>())
            .finish()
    }
}

/// Everything that can go wrong fetching a module from git. [`GitError::reason`] is the Transform condition
/// reason.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The reference cannot be parsed.
    #[error(
        "invalid git reference {reference:?}: {message} (expected e.g. \
         https://github.com/team/modules.git?ref=v1.2.0&path=web)"
    )]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        message: String,
    },
    /// The Secret's data cannot be used as git credentials.
    #[error("unusable git credentials: {0}; the pullSecretRef Secret needs `token`, or `username` and `password`")]
    InvalidCredentials(String),
    /// Credentials would travel in clear text.
    #[error("refusing to send the git credentials for {url} over plain http; use the repository's https:// URL")]
    InsecureCredentials {
        /// The repository URL.
        url: String,
    },
    /// The server could not be reached, failed, or timed out.
    #[error("git repository {url} is unavailable: {message}")]
    SourceUnavailable {
        /// The repository URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The server refused access: no credentials, or the wrong ones.
    #[error("git server refused access to {url}: {message}")]
    Unauthorized {
        /// The repository URL.
        url: String,
        /// What happened and what to do.
        message: String,
    },
    /// No branch, tag or commit of that name.
    #[error("{url} has no branch, tag or commit {git_ref:?}{hint}")]
    RefNotFound {
        /// The repository URL.
        url: String,
        /// The ref asked for.
        git_ref: String,
        /// What exists instead, or why it does not resolve.
        hint: String,
    },
    /// The commit has no directory at the path.
    #[error("{url} at commit {commit} has no directory {path:?}{hint}")]
    PathNotFound {
        /// The repository URL.
        url: String,
        /// The commit looked in.
        commit: String,
        /// The path asked for.
        path: String,
        /// What is there instead.
        hint: String,
    },
    /// The module is over the file-count or size limit.
    #[error("the module at {url} (path {path:?}) is too large: {message}; keep only the module's CUE files there")]
    ModuleTooLarge {
        /// The repository URL.
        url: String,
        /// The path asked for.
        path: String,
        /// Which limit was exceeded.
        message: String,
    },
    /// The local scratch repository or cache failed (disk full, permissions, a bug in the git library).
    #[error("fetching {url} failed locally: {message}")]
    Local {
        /// The repository URL.
        url: String,
        /// What happened.
        message: String,
    },
}

impl GitError {
    /// The condition reason the operator sets on the Transform for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            GitError::RefNotFound { .. } => REASON_REF_NOT_FOUND,
            GitError::PathNotFound { .. } => REASON_PATH_NOT_FOUND,
            GitError::ModuleTooLarge { .. } => REASON_MODULE_TOO_LARGE,
            GitError::InvalidReference { .. }
            | GitError::InvalidCredentials(_)
            | GitError::InsecureCredentials { .. }
            | GitError::SourceUnavailable { .. }
            | GitError::Unauthorized { .. }
            | GitError::Local { .. } => REASON_SOURCE_UNAVAILABLE,
        }
    }

    /// Whether trying again later may help (network trouble, timeouts, server errors).
    pub fn is_transient(&self) -> bool {
        matches!(self, GitError::SourceUnavailable { .. } | GitError::Local { .. })
    }
}

/// Fetches the module `reference` names, on a blocking thread, within `options.timeout`.
pub async fn fetch_module(
    reference: &GitReference,
    credentials: Option<&GitCredentials>,
    options: &GitFetchOptions,
) -> Result<GitModule, GitError> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let task = async {
        let slot = match &options.slots {
            Some(slots) => Some(Arc::clone(slots).acquire_owned().await.expect("the fetch slots are never closed")),
            None => None,
        };
        let (reference, credentials, options, interrupt) =
            (reference.clone(), credentials.cloned(), options.clone(), interrupt.clone());
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            fetch_module_blocking(&reference, credentials.as_ref(), &options, &interrupt)
        })
        .await
    };
    match tokio::time::timeout(options.timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join_error)) => {
            Err(GitError::Local { url: reference.url.clone(), message: format!("the fetch task failed: {join_error}") })
        }
        Err(_elapsed) => {
            // The blocking fetch notices this and stops at its next check; its result is dropped.
            interrupt.store(true, Ordering::SeqCst);
            Err(timed_out(reference, options))
        }
    }
}

fn timed_out(reference: &GitReference, options: &GitFetchOptions) -> GitError {
    GitError::SourceUnavailable {
        url: reference.url.clone(),
        message: format!(
            "the fetch did not finish within {} s; check that the server is reachable from the cluster and the \
             repository is not huge",
            options.timeout.as_secs_f32()
        ),
    }
}

/// Removes the scratch repositories under `<cache_dir>/tmp` last changed more than `older_than` ago: left
/// behind by a process that stopped mid-fetch (a fetch removes its own when it ends). With `older_than`
/// above the fetch timeout, no running fetch loses its scratch. Returns how many were removed.
pub fn remove_stale_scratch(cache_dir: &Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(cache_dir.join(SCRATCH_DIR)) else { return 0 };
    let stale = |entry: &std::fs::DirEntry| {
        let changed = entry.metadata().and_then(|m| m.modified()).ok();
        let age = changed.and_then(|at| at.elapsed().ok()).unwrap_or_default();
        entry.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX) && age > older_than
    };
    entries.filter_map(Result::ok).filter(stale).filter(|e| std::fs::remove_dir_all(e.path()).is_ok()).count()
}

/// Where scratch repositories live under the cache directory, and how their names start.
const SCRATCH_DIR: &str = "tmp";
const SCRATCH_PREFIX: &str = "fetch-";

/// Fetches the module `reference` names on the calling thread (which may block for up to about
/// `options.timeout` per HTTP request). Setting `interrupt` makes it stop early with
/// [`GitError::SourceUnavailable`]. Prefer [`fetch_module`] from async code.
pub fn fetch_module_blocking(
    reference: &GitReference,
    credentials: Option<&GitCredentials>,
    options: &GitFetchOptions,
    interrupt: &AtomicBool,
) -> Result<GitModule, GitError> {
    if credentials.is_some() && !reference.is_https() && !reference.is_loopback() {
        return Err(GitError::InsecureCredentials { url: reference.url.clone() });
    }
    let opened;
    let files = match &options.module_cache {
        Some(shared) => shared.as_ref(),
        None => {
            let directory = GitModuleCache::directory(&options.cache_dir);
            opened =
                GitModuleCache::open(&directory, GitModuleCache::DEFAULT_BOUNDS).map_err(|error| GitError::Local {
                    url: reference.url.clone(),
                    message: format!("cannot open the module cache {}: {error}", directory.display()),
                })?;
            &opened
        }
    };
    let cache = ModuleCache { files, options, who: credential_identity(credentials) };
    let wanted = Wanted::of(reference.git_ref());
    if let Wanted::Commit(id) = &wanted
        && let Some(module) = cache.load(reference, &id.to_string())
    {
        return Ok(module);
    }

    let local = |message: String| GitError::Local { url: reference.url.clone(), message };
    let scratch_parent = options.cache_dir.join(SCRATCH_DIR);
    std::fs::create_dir_all(&scratch_parent)
        .map_err(|error| local(format!("cannot create {}: {error}", scratch_parent.display())))?;
    let scratch = tempfile::Builder::new().prefix(SCRATCH_PREFIX).tempdir_in(&scratch_parent).map_err(|error| {
        local(format!("cannot create a scratch directory in {}: {error}", scratch_parent.display()))
    })?;
    let session = Session::new(reference, credentials, options, interrupt, scratch.path())?;

    let commit = match wanted {
        Wanted::Commit(id) => {
            session.fetch(&[id.to_string()], true)?;
            session.peel_to_commit(id)?
        }
        Wanted::Head | Wanted::Name(_) => {
            let remote_refs = session.list_refs(&wanted)?;
            match resolve(&wanted, &remote_refs) {
                Some(id) => {
                    if let Some(module) = cache.load(reference, &id.to_string()) {
                        return Ok(module);
                    }
                    session.fetch(&[id.to_string()], true)?;
                    session.peel_to_commit(id)?
                }
                None => match wanted.short_sha() {
                    Some(prefix) => {
                        // A commit is known to the server by its full SHA only: fetch all branches and tags
                        // with their history and look the abbreviation up locally.
                        session.fetch(&[ALL_BRANCHES.into(), ALL_TAGS.into()], false)?;
                        let id = session.lookup_short_sha(prefix, &wanted)?;
                        session.peel_to_commit(id)?
                    }
                    None => return Err(session.ref_not_found(&wanted, &remote_refs)),
                },
            }
        }
    };
    let module = session.extract(commit)?;
    if let Err(error) = cache.store(reference, &module) {
        tracing::warn!(url = %reference.url, %error, "cannot cache a fetched git module");
    }
    Ok(module)
}

/// The refspecs of all branches and all tags.
const ALL_BRANCHES: &str = "+refs/heads/*:refs/remotes/origin/*";
const ALL_TAGS: &str = "+refs/tags/*:refs/tags/*";

/// What the reference's `ref` asks for.
enum Wanted {
    /// The default branch.
    Head,
    /// A full commit SHA.
    Commit(ObjectId),
    /// A branch, a tag, a full ref name (`refs/…`), or an abbreviated commit SHA.
    Name(String),
}

impl Wanted {
    fn of(git_ref: Option<&str>) -> Self {
        match git_ref {
            None => Wanted::Head,
            Some(name) if name.len() == 40 && is_hex(name) => {
                ObjectId::from_hex(name.as_bytes()).map_or_else(|_| Wanted::Name(name.to_owned()), Wanted::Commit)
            }
            Some(name) => Wanted::Name(name.to_owned()),
        }
    }

    /// The abbreviated SHA this may be (4 to 39 hex digits).
    fn short_sha(&self) -> Option<&str> {
        match self {
            Wanted::Name(name) if (4..40).contains(&name.len()) && is_hex(name) => Some(name),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Wanted::Head => "HEAD".into(),
            Wanted::Commit(id) => id.to_string(),
            Wanted::Name(name) => name.clone(),
        }
    }
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// The full ref names that a short `name` may stand for, in order of preference (git's: branches before tags).
fn candidate_names(name: &str) -> Vec<String> {
    if name.starts_with("refs/") {
        vec![name.to_owned()]
    } else {
        vec![format!("refs/heads/{name}"), format!("refs/tags/{name}")]
    }
}

/// The commit (or the object an annotated tag peels to) the wanted ref points to on the remote.
fn resolve(wanted: &Wanted, remote_refs: &[Ref]) -> Option<ObjectId> {
    let find = |full_name: &str| {
        remote_refs.iter().find_map(|remote_ref| match remote_ref {
            Ref::Direct { full_ref_name, object }
            | Ref::Peeled { full_ref_name, object, .. }
            | Ref::Symbolic { full_ref_name, object, .. }
                if full_ref_name == full_name =>
            {
                Some(*object)
            }
            _ => None,
        })
    };
    match wanted {
        Wanted::Head => find("HEAD"),
        Wanted::Commit(id) => Some(*id),
        Wanted::Name(name) => candidate_names(name).iter().find_map(|full_name| find(full_name)),
    }
}

fn ref_name(remote_ref: &Ref) -> String {
    match remote_ref {
        Ref::Direct { full_ref_name, .. }
        | Ref::Peeled { full_ref_name, .. }
        | Ref::Symbolic { full_ref_name, .. }
        | Ref::Unborn { full_ref_name, .. } => full_ref_name.to_string(),
    }
}

/// One fetch: a scratch bare repository and how to reach the remote.
struct Session<'a> {
    reference: &'a GitReference,
    credentials: Option<&'a GitCredentials>,
    options: &'a GitFetchOptions,
    interrupt: &'a AtomicBool,
    repo: gix::Repository,
}

impl<'a> Session<'a> {
    fn new(
        reference: &'a GitReference,
        credentials: Option<&'a GitCredentials>,
        options: &'a GitFetchOptions,
        interrupt: &'a AtomicBool,
        dir: &Path,
    ) -> Result<Self, GitError> {
        // Isolated: no system, global or user configuration, no environment variables; so no credential helpers,
        // proxy settings, URL rewrites or hooks configured elsewhere apply.
        let open = gix::open::Options::isolated().config_overrides([
            "protocol.version=2",
            "protocol.allow=never",
            "protocol.https.allow=always",
            "protocol.http.allow=always",
            "gc.auto=0",
        ]);
        let repo = gix::ThreadSafeRepository::init_opts(
            dir,
            gix::create::Kind::Bare,
            gix::create::Options { destination_must_be_empty: Some(true), ..Default::default() },
            open,
        )
        .map_err(|error| GitError::Local {
            url: reference.url.clone(),
            message: format!("cannot create a scratch repository in {}: {error}", dir.display()),
        })?
        .to_thread_local();
        Ok(Self { reference, credentials, options, interrupt, repo })
    }

    fn check_interrupt(&self) -> Result<(), GitError> {
        if self.interrupt.load(Ordering::SeqCst) { Err(timed_out(self.reference, self.options)) } else { Ok(()) }
    }

    /// The HTTP transport options: our own timeouts and `Authorization` header, nothing from git configuration.
    fn transport_options(&self) -> http::Options {
        let (timeout, connect_timeout) = (self.options.timeout, self.options.connect_timeout);
        let authorization = self.credentials.map(GitCredentials::authorization);
        let backend = http::reqwest::Options {
            // The reqwest backend has its own connect timeout (20 s) and ignores `http::Options::connect_timeout`.
            configure_client: Some(Box::new(move |builder| {
                Ok(builder.timeout(timeout).connect_timeout(connect_timeout))
            })),
            configure_request: Some(Box::new(move |request| {
                if let Some(value) = &authorization
                    && let Ok(mut value) = ::http::HeaderValue::from_str(value)
                {
                    value.set_sensitive(true);
                    request.headers_mut().insert(::http::header::AUTHORIZATION, value);
                }
                Ok(())
            })),
        };
        // Never follow a redirect: the `Authorization` header would go wherever the server points.
        let follow_redirects = http::options::FollowRedirects::None;
        http::Options { backend: Some(Arc::new(Mutex::new(backend))), follow_redirects, ..Default::default() }
    }

    /// Connects with fetch refspecs `specs` and runs `work` on the connection; maps failures to [`GitError`]s.
    fn with_connection<T>(
        &self,
        specs: &[String],
        work: impl FnOnce(
            gix::remote::Connection<
                '_,
                '_,
                '_,
                Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
            >,
        ) -> gix::Result<T>,
    ) -> Result<T, GitError> {
        self.check_interrupt()?;
        let remote = self
            .repo
            .remote_at(self.reference.url.as_str())
            .and_then(|remote| {
                remote.with_refspecs(specs.iter().map(|spec| spec.as_bytes().as_bstr()), Direction::Fetch)
            })
            .map_err(|error| GitError::Local { url: self.reference.url.clone(), message: describe(&error) })?
            .with_fetch_tags(Tags::None);
        let auth_requested = Arc::new(AtomicBool::new(false));
        let result = remote.connect(Direction::Fetch).and_then(|connection| {
            let auth_requested = auth_requested.clone();
            let connection = connection
                .with_transport_options(Box::new(self.transport_options()))
                // Never ask credential helpers or a terminal: the header is already on every request, so a
                // request for credentials means the server refused them (or their absence).
                .with_credentials(move |_action| {
                    auth_requested.store(true, Ordering::SeqCst);
                    Ok(None)
                });
            work(connection)
        });
        result.map_err(|error| self.classify(&error, auth_requested.load(Ordering::SeqCst)))
    }

    /// Lists the refs the wanted name may stand for (all branches and tags, so a miss can say what exists).
    fn list_refs(&self, wanted: &Wanted) -> Result<Vec<Ref>, GitError> {
        let specs: Vec<String> = match wanted {
            Wanted::Head => vec!["HEAD".into()],
            _ => vec!["HEAD".into(), ALL_BRANCHES.into(), ALL_TAGS.into()],
        };
        self.with_connection(&specs, |connection| {
            let (ref_map, _handshake) =
                connection.ref_map(gix::progress::Discard, gix::remote::ref_map::Options::default())?;
            Ok(ref_map.remote_refs)
        })
    }

    /// Fetches `specs` (object ids or refspecs), only the tip commits when `shallow`.
    fn fetch(&self, specs: &[String], shallow: bool) -> Result<(), GitError> {
        let limit = self.options.max_download_bytes;
        let objects = self.repo.path().join("objects");
        let (stop, done, oversized) = (AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false));
        let result = std::thread::scope(|scope| {
            // Watches the download: stops it when the caller interrupts or the pack grows past the limit.
            let (interrupt, stop, done, oversized, objects) = (self.interrupt, &stop, &done, &oversized, &objects);
            scope.spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if interrupt.load(Ordering::SeqCst) {
                        stop.store(true, Ordering::SeqCst);
                    }
                    if directory_size(objects) > limit {
                        oversized.store(true, Ordering::SeqCst);
                        stop.store(true, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let result = self.with_connection(specs, |connection| {
                let mut prepare =
                    connection.prepare_fetch(gix::progress::Discard, gix::remote::ref_map::Options::default())?;
                if shallow {
                    prepare = prepare.with_shallow(Shallow::DepthAtRemote(NonZeroU32::MIN));
                }
                prepare.receive(gix::progress::Discard, stop)?;
                Ok(())
            });
            done.store(true, Ordering::SeqCst);
            result
        });
        if oversized.load(Ordering::SeqCst) || directory_size(&objects) > limit {
            return Err(GitError::ModuleTooLarge {
                url: self.reference.url.clone(),
                path: self.reference.path().to_owned(),
                message: format!(
                    "the commit's download (all of its files, not only the module's) is more than {limit} bytes; \
                     move the module to a smaller repository or raise the limit"
                ),
            });
        }
        result?;
        self.check_interrupt()
    }

    fn lookup_short_sha(&self, prefix: &str, wanted: &Wanted) -> Result<ObjectId, GitError> {
        let not_found =
            |hint: String| GitError::RefNotFound { url: self.reference.url.clone(), git_ref: wanted.describe(), hint };
        let prefix = gix::hash::Prefix::from_hex(prefix)
            .map_err(|error| not_found(format!(": not a valid abbreviated SHA ({error})")))?;
        let mut candidates = HashSet::new();
        self.repo
            .objects
            .lookup_prefix(prefix, Some(&mut candidates))
            .map_err(|error| GitError::Local { url: self.reference.url.clone(), message: describe(&error) })?;
        let commits: Vec<ObjectId> = candidates
            .into_iter()
            .filter(|id| {
                self.repo
                    .find_header(*id)
                    .is_ok_and(|header| matches!(header.kind(), gix::object::Kind::Commit | gix::object::Kind::Tag))
            })
            .collect();
        match commits.as_slice() {
            [id] => Ok(*id),
            [] => Err(not_found(
                ": no branch or tag has a commit starting with it; use a branch, a tag or the full 40-digit SHA".into(),
            )),
            _ => Err(not_found(format!(
                ": the abbreviated SHA is ambiguous ({} commits start with it); use more digits or the full SHA",
                commits.len()
            ))),
        }
    }

    fn peel_to_commit(&self, id: ObjectId) -> Result<ObjectId, GitError> {
        let object = self.repo.find_object(id).map_err(|error| GitError::SourceUnavailable {
            url: self.reference.url.clone(),
            message: format!("the server did not send object {id}: {}", describe(&error)),
        })?;
        object.peel_to_commit().map(|commit| commit.id).map_err(|_| GitError::RefNotFound {
            url: self.reference.url.clone(),
            git_ref: self.reference.git_ref().unwrap_or("HEAD").to_owned(),
            hint: format!(": it resolves to {id}, which is not a commit"),
        })
    }

    fn ref_not_found(&self, wanted: &Wanted, remote_refs: &[Ref]) -> GitError {
        let url = self.reference.url.clone();
        let git_ref = wanted.describe();
        if let Wanted::Head = wanted {
            let hint = if remote_refs.iter().any(|r| matches!(r, Ref::Unborn { .. })) {
                ": the repository is empty; push a commit first".to_owned()
            } else {
                ": the server does not advertise a default branch; name a branch or tag with ?ref=".to_owned()
            };
            return GitError::RefNotFound { url, git_ref, hint };
        }
        let mut names: Vec<String> = remote_refs
            .iter()
            .map(ref_name)
            .filter_map(|name| {
                name.strip_prefix("refs/heads/").or_else(|| name.strip_prefix("refs/tags/")).map(str::to_owned)
            })
            .collect();
        names.sort();
        names.dedup();
        let hint = if names.is_empty() {
            "; the repository has no branches or tags".to_owned()
        } else {
            const SHOWN: usize = 10;
            let more = if names.len() > SHOWN { format!(" and {} more", names.len() - SHOWN) } else { String::new() };
            names.truncate(SHOWN);
            format!("; it has: {}{more}", names.join(", "))
        };
        GitError::RefNotFound { url, git_ref, hint }
    }

    /// Turns a gitoxide failure into a [`GitError`] the user can act on.
    fn classify(&self, error: &gix::Error, auth_requested: bool) -> GitError {
        let url = self.reference.url.clone();
        let text = describe(error);
        if self.interrupt.load(Ordering::SeqCst) {
            return timed_out(self.reference, self.options);
        }
        let lower = text.to_ascii_lowercase();
        let forbidden = lower.contains("status 403");
        if auth_requested || forbidden {
            let source = self.options.credentials_source.as_deref();
            let message = match (self.credentials, source) {
                (None, _) => "the repository requires credentials (HTTP 401) and none were given; set the \
                              Transform's cueRef.pullSecretRef to a Secret with a `token` (or `username` and \
                              `password`) that can read the repository"
                    .to_owned(),
                (Some(credentials), source) => format!(
                    "the {} from {} {} (HTTP {}); check that the token or password in it is current and can read \
                     the repository",
                    credentials.kind(),
                    source.unwrap_or("the cueRef.pullSecretRef Secret"),
                    if forbidden { "lacks access" } else { "was rejected" },
                    if forbidden { 403 } else { 401 },
                ),
            };
            return GitError::Unauthorized { url, message };
        }
        if lower.contains("not our ref") || lower.contains("upload-pack: not") {
            return GitError::RefNotFound {
                url,
                git_ref: self.reference.git_ref().unwrap_or("HEAD").to_owned(),
                hint: ": the server does not have that commit".to_owned(),
            };
        }
        let message = if lower.contains("status 404") {
            format!("repository not found (HTTP 404); check the URL ({text})")
        } else if lower.contains("timed out") || lower.contains("timeout") {
            format!("the server did not answer in time; check that the cluster can reach it ({text})")
        } else if lower.contains("connect") || lower.contains("dns error") {
            format!("cannot connect to the server; check the URL and that the cluster can reach the host ({text})")
        } else {
            text
        };
        GitError::SourceUnavailable { url, message }
    }

    /// Reads the module's files out of `commit`.
    fn extract(&self, commit: ObjectId) -> Result<GitModule, GitError> {
        let url = &self.reference.url;
        let local = |message: String| GitError::Local { url: url.clone(), message };
        let path = self.reference.path();
        let path_not_found = |hint: String| GitError::PathNotFound {
            url: url.clone(),
            commit: commit.to_string(),
            path: path.to_owned(),
            hint,
        };
        let root = self
            .repo
            .find_commit(commit)
            .and_then(|commit| commit.tree_id().map(gix::Id::detach))
            .map_err(|error| local(format!("cannot read commit {commit}: {}", describe(&error))))?;

        // The trees from the root down to the package directory.
        let mut chain = vec![(String::new(), root)];
        for component in path.split('/').filter(|component| !component.is_empty()) {
            let (parent_path, parent) = chain.last().cloned().unwrap_or((String::new(), root));
            let entries = self.tree_entries(parent)?;
            let entry = entries.iter().find(|entry| entry.name == component);
            let joined = join(&parent_path, component);
            match entry {
                Some(entry) if entry.mode.is_tree() => chain.push((joined, entry.id)),
                Some(_) => return Err(path_not_found(format!(": {joined:?} is a file, not a directory"))),
                None => {
                    let mut dirs: Vec<&str> =
                        entries.iter().filter(|entry| entry.mode.is_tree()).map(|entry| entry.name.as_str()).collect();
                    dirs.truncate(10);
                    let place = if parent_path.is_empty() {
                        "the repository root".to_owned()
                    } else {
                        format!("{parent_path:?}")
                    };
                    let hint = if dirs.is_empty() {
                        format!(": {place} has no subdirectories")
                    } else {
                        format!(": {place} has {}", dirs.join(", "))
                    };
                    return Err(path_not_found(hint));
                }
            }
        }

        // The CUE module root: the nearest directory at or above the package with a `cue.mod` directory.
        let mut cue_mod = None;
        for (dir_path, tree) in chain.iter().rev() {
            let entries = self.tree_entries(*tree)?;
            if let Some(entry) = entries.iter().find(|entry| entry.name == "cue.mod" && entry.mode.is_tree()) {
                cue_mod = Some((dir_path.clone(), entry.id));
                break;
            }
        }
        let module_root = cue_mod.as_ref().map_or_else(|| path.to_owned(), |(dir, _)| dir.clone());
        let package_dir = relative_to(path, &module_root);

        let mut collector = Collector { session: self, files: Vec::new(), bytes: 0 };
        let package_tree = chain.last().map(|(_, tree)| *tree).unwrap_or(root);
        for entry in self.tree_entries(package_tree)? {
            if entry.mode.is_blob() && entry.name.ends_with(".cue") {
                collector.add(join(&package_dir, &entry.name), entry.id)?;
            }
        }
        if let Some((_, tree)) = cue_mod {
            collector.walk("cue.mod".into(), tree)?;
        }
        let mut files = collector.files;
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files.dedup_by(|a, b| a.0 == b.0);
        Ok(GitModule { commit: commit.to_string(), module_root, package_dir, files })
    }

    fn tree_entries(&self, tree: ObjectId) -> Result<Vec<TreeEntry>, GitError> {
        let local = |error: gix::Error| GitError::Local {
            url: self.reference.url.clone(),
            message: format!("cannot read tree {tree}: {}", describe(&error)),
        };
        let tree = self.repo.find_tree(tree).map_err(local)?;
        let decoded = tree.decode().map_err(local)?;
        Ok(decoded
            .entries
            .iter()
            .filter_map(|entry| {
                let name = std::str::from_utf8(entry.filename).ok()?;
                Some(TreeEntry { name: name.to_owned(), mode: entry.mode, id: entry.oid.to_owned() })
            })
            .collect())
    }
}

struct TreeEntry {
    name: String,
    mode: gix::objs::tree::EntryMode,
    id: ObjectId,
}

/// Gathers files within the limits.
struct Collector<'s, 'a> {
    session: &'s Session<'a>,
    files: Vec<(String, Vec<u8>)>,
    bytes: u64,
}

impl Collector<'_, '_> {
    fn too_large(&self, message: String) -> GitError {
        GitError::ModuleTooLarge {
            url: self.session.reference.url.clone(),
            path: self.session.reference.path().to_owned(),
            message,
        }
    }

    fn add(&mut self, path: String, blob: ObjectId) -> Result<(), GitError> {
        let options = self.session.options;
        if self.files.len() >= options.max_files {
            return Err(self.too_large(format!("more than {} files", options.max_files)));
        }
        let repo = &self.session.repo;
        let local = |error: gix::Error| GitError::Local {
            url: self.session.reference.url.clone(),
            message: format!("cannot read {path}: {}", describe(&error)),
        };
        let size = repo.find_header(blob).map_err(local)?.size();
        if self.bytes + size > options.max_total_bytes {
            return Err(
                self.too_large(format!("more than {} bytes (at {path}, {size} bytes)", options.max_total_bytes))
            );
        }
        let contents = repo.find_blob(blob).map_err(local)?.take_data();
        self.bytes += contents.len() as u64;
        self.files.push((path, contents));
        Ok(())
    }

    /// Adds every blob under `tree` (symbolic links and submodules are skipped).
    fn walk(&mut self, prefix: String, tree: ObjectId) -> Result<(), GitError> {
        for entry in self.session.tree_entries(tree)? {
            let path = join(&prefix, &entry.name);
            if entry.mode.is_tree() {
                self.walk(path, entry.id)?;
            } else if entry.mode.is_blob() {
                self.add(path, entry.id)?;
            }
        }
        Ok(())
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// `path` relative to its ancestor directory `base` (both `/`-separated, relative to the repository root).
fn relative_to(path: &str, base: &str) -> String {
    if base.is_empty() {
        return path.to_owned();
    }
    path.strip_prefix(base).map(|rest| rest.trim_start_matches('/').to_owned()).unwrap_or_default()
}

/// The bytes of the files under `dir`, recursively (0 if it cannot be read).
fn directory_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => directory_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |metadata| metadata.len()),
            _ => 0,
        })
        .sum()
}

/// A gitoxide error with its causes, on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = error.source();
    }
    parts.join(": ")
}

/// Modules fetched before, by credentials, URL, commit and path: `<cache_dir>/modules/<sha256>.json`, at most
/// so many bytes of them, the least recently used deleted first.
#[derive(Debug)]
pub struct GitModuleCache {
    files: DiskLru,
}

impl GitModuleCache {
    /// 64 MiB: eight modules of the largest size a fetch accepts (`max_total_bytes`, 8 MiB, stored as
    /// base64), many more of the usual few KiB.
    pub const DEFAULT_BOUNDS: Bounds = Bounds::bytes(64 << 20);

    /// Where fetches with `cache_dir` keep modules.
    pub fn directory(cache_dir: &Path) -> PathBuf {
        cache_dir.join("modules")
    }

    /// Opens (creating it if needed) the cache in `directory`, keeping the modules already there within
    /// `bounds`.
    pub fn open(directory: &Path, bounds: Bounds) -> std::io::Result<Self> {
        Ok(Self { files: DiskLru::open(directory, bounds, is_entry_name)? })
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        self.files.stats()
    }
}

/// Whether `name` is a cached module's file (anything else is left over from an interrupted write).
fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(".json").is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// The module cache as one fetch sees it.
struct ModuleCache<'o> {
    files: &'o GitModuleCache,
    /// The limits: an entry over them (cached under larger limits) is dropped, so the fetch reports it.
    options: &'o GitFetchOptions,
    /// Whose fetch filled an entry ([`credential_identity`]): a module fetched with one set of credentials is
    /// never served to a fetch with other credentials or none, so a private module cached for one tenant is not
    /// handed to another that names the same commit.
    who: String,
}

/// A digest of the credentials a fetch uses (`anonymous` without any): part of every cache key.
fn credential_identity(credentials: Option<&GitCredentials>) -> String {
    match credentials {
        Some(credentials) => {
            let digest = Sha256::digest(format!("pequod-git-credentials\n{}", credentials.authorization()));
            hex::encode(digest)
        }
        None => "anonymous".to_owned(),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedModule {
    #[serde(default)]
    who: String,
    url: String,
    path: String,
    commit: String,
    module_root: String,
    package_dir: String,
    /// Path and base64 contents.
    files: Vec<(String, String)>,
}

impl ModuleCache<'_> {
    fn entry(&self, reference: &GitReference, commit: &str) -> String {
        let key = Sha256::digest(format!("{}\n{}\n{}\n{}", self.who, reference.url, commit, reference.path).as_bytes());
        format!("{}.json", hex::encode(key))
    }

    /// The module cached for `reference` at `commit`, when it is within this fetch's limits (an entry over
    /// them, cached under larger limits, is kept but not used: the fetch then reports the module too large).
    fn load(&self, reference: &GitReference, commit: &str) -> Option<GitModule> {
        let module =
            self.files.files.read(&self.entry(reference, commit), |bytes| self.decode(&bytes, reference, commit))?;
        let within_limits =
            module.files.len() <= self.options.max_files && module.total_bytes() <= self.options.max_total_bytes;
        within_limits.then_some(module)
    }

    fn decode(&self, bytes: &[u8], reference: &GitReference, commit: &str) -> Option<GitModule> {
        let cached: CachedModule = serde_json::from_slice(bytes).ok()?;
        let same = cached.who == self.who && cached.url == reference.url && cached.path == reference.path;
        if !same || cached.commit != commit {
            return None;
        }
        let files = cached
            .files
            .into_iter()
            .map(|(path, contents)| Some((path, base64::engine::general_purpose::STANDARD.decode(contents).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(GitModule {
            commit: cached.commit,
            module_root: cached.module_root,
            package_dir: cached.package_dir,
            files,
        })
    }

    fn store(&self, reference: &GitReference, module: &GitModule) -> std::io::Result<()> {
        let cached = CachedModule {
            who: self.who.clone(),
            url: reference.url.clone(),
            path: reference.path.clone(),
            commit: module.commit.clone(),
            module_root: module.module_root.clone(),
            package_dir: module.package_dir.clone(),
            files: module
                .files
                .iter()
                .map(|(path, contents)| (path.clone(), base64::engine::general_purpose::STANDARD.encode(contents)))
                .collect(),
        };
        let json = serde_json::to_vec(&cached).map_err(std::io::Error::other)?;
        self.files.files.write(&self.entry(reference, &module.commit), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let reference = GitReference::parse("https://github.com/team/modules.git?ref=v1.2.0&path=apps/web/").unwrap();
        assert_eq!(reference.url(), "https://github.com/team/modules.git");
        assert_eq!(reference.git_ref(), Some("v1.2.0"));
        assert_eq!(reference.path(), "apps/web");
        assert_eq!(reference.to_string(), "https://github.com/team/modules.git?ref=v1.2.0&path=apps/web");

        let reference = GitReference::parse("https://example.com/repo.git").unwrap();
        assert_eq!(reference.git_ref(), None);
        assert_eq!(reference.path(), "");
        let reference = GitReference::parse("http://127.0.0.1:8080/repo.git?path=a%2Fb&ref=HEAD").unwrap();
        assert_eq!(reference.git_ref(), None);
        assert_eq!(reference.path(), "a/b");
        assert!(reference.is_loopback());
        assert!(!GitReference::parse("http://example.com/repo.git").unwrap().is_loopback());
        assert!(GitReference::parse("http://[::1]:80/repo.git").unwrap().is_loopback());
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "git@github.com:team/modules.git",
            "ssh://github.com/team/modules.git",
            "file:///etc/repo.git",
            "https://user:pw@github.com/team/modules.git",
            "https://github.com/team/modules.git?branch=main",
            "https://github.com/team/modules.git?ref=a&ref=b",
            "https://github.com/team/modules.git?path=../etc",
            "https://github.com/team/modules.git?ref=-upload-pack",
            "https://github.com/team/modules.git?ref=a..b",
            "https://github.com/team/modules.git#main",
            "https://github.com",
            "https:///repo.git",
        ] {
            let error = GitReference::parse(bad).expect_err(bad);
            assert_eq!(error.reason(), REASON_SOURCE_UNAVAILABLE, "{bad}");
            assert!(matches!(error, GitError::InvalidReference { .. }), "{bad}: {error}");
        }
    }

    #[test]
    fn reads_credentials_from_secret_data() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            pairs.iter().map(|(key, value)| (key.to_string(), value.as_bytes().to_vec())).collect()
        };
        assert_eq!(
            GitCredentials::from_secret_data(&data(&[("token", "t0k\n")])).unwrap(),
            GitCredentials::Token { username: DEFAULT_TOKEN_USERNAME.into(), token: "t0k".into() }
        );
        assert_eq!(
            GitCredentials::from_secret_data(&data(&[("token", "t"), ("username", "oauth2")])).unwrap(),
            GitCredentials::Token { username: "oauth2".into(), token: "t".into() }
        );
        assert_eq!(
            GitCredentials::from_secret_data(&data(&[("username", "u"), ("password", "p")])).unwrap(),
            GitCredentials::Basic { username: "u".into(), password: "p".into() }
        );
        assert_eq!(
            GitCredentials::from_secret_data(&data(&[("bearerToken", "b")])).unwrap(),
            GitCredentials::Bearer { token: "b".into() }
        );
        for bad in [data(&[]), data(&[("username", "u")]), data(&[("token", " ")]), data(&[("password", "p")])] {
            assert!(matches!(GitCredentials::from_secret_data(&bad), Err(GitError::InvalidCredentials(_))));
        }
        let debug = format!("{:?}", GitCredentials::Basic { username: "u".into(), password: "hunter2".into() });
        assert!(!debug.contains("hunter2"));
    }

    #[test]
    fn cached_modules_over_the_bound_are_deleted_least_recently_used_first() {
        let directory = tempfile::tempdir().unwrap();
        let options = GitFetchOptions::new(directory.path());
        let module = |commit: &str| GitModule {
            commit: commit.into(),
            module_root: String::new(),
            package_dir: "web".into(),
            files: vec![("web/web.cue".into(), vec![b'x'; 1000])],
        };
        let reference = GitReference::parse("https://git.example.com/team/modules.git?path=web").unwrap();
        let [a, b, c] = ["a", "b", "c"].map(|fill| fill.repeat(40));
        let entry_size = {
            let unbounded = GitModuleCache::open(&directory.path().join("measure"), Bounds::bytes(u64::MAX)).unwrap();
            let view = ModuleCache { files: &unbounded, options: &options, who: credential_identity(None) };
            view.store(&reference, &module(&a)).unwrap();
            unbounded.stats().bytes
        };
        let files = GitModuleCache::open(&directory.path().join("modules"), Bounds::bytes(2 * entry_size)).unwrap();
        let cache = ModuleCache { files: &files, options: &options, who: credential_identity(None) };
        cache.store(&reference, &module(&a)).unwrap();
        cache.store(&reference, &module(&b)).unwrap();
        assert_eq!(cache.load(&reference, &a), Some(module(&a))); // a is now more recent than b
        cache.store(&reference, &module(&c)).unwrap(); // three entries over a bound of two: b goes
        assert_eq!(cache.load(&reference, &b), None);
        assert_eq!(cache.load(&reference, &c), Some(module(&c)));
        let stats = files.stats();
        assert_eq!((stats.hits, stats.misses, stats.evictions, stats.entries), (2, 1, 1, 2));
        assert_eq!(stats.bytes, 2 * entry_size);
    }

    #[test]
    fn the_fetch_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let reference = GitReference::parse("https://example.com/repo.git").unwrap();
        let options = GitFetchOptions::new("/nonexistent");
        assert_send(&fetch_module(&reference, None, &options));
    }

    #[test]
    fn classifies_wanted_refs() {
        assert!(matches!(Wanted::of(None), Wanted::Head));
        assert!(matches!(Wanted::of(Some(&"a".repeat(40))), Wanted::Commit(_)));
        assert_eq!(Wanted::of(Some("abc1234")).short_sha(), Some("abc1234"));
        assert_eq!(Wanted::of(Some("main")).short_sha(), None);
        assert_eq!(Wanted::of(Some("abc")).short_sha(), None);
        assert_eq!(relative_to("apps/web", ""), "apps/web");
        assert_eq!(relative_to("apps/web", "apps"), "web");
        assert_eq!(relative_to("apps", "apps"), "");
    }
}
