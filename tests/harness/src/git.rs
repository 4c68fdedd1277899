//! A real git server for tests of fetching modules from git: bare repositories served over smart HTTP on a
//! free loopback port by git's own `git http-backend` (a CGI program shipped with Debian's `git` package),
//! behind a small HTTP server that can require basic (or bearer) authentication.
//!
//! [`TestGitServer`] runs its HTTP server on a thread of its own with its own Tokio runtime, so it serves
//! blocking and async tests alike; it stops and its repositories are removed when it is dropped.
//! [`TestRepo`] makes commits, branches and tags with the `git` CLI, with a fixed author, committer and date
//! so that the same operations give the same commits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;

use crate::HarnessError;

/// The largest request body the server accepts (a fetch negotiation is a few KiB).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// The directory of git's helper programs (`git --exec-path`), if git is installed.
pub fn git_exec_path() -> Option<PathBuf> {
    let output = Command::new("git").arg("--exec-path").stderr(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// `git http-backend`, if git and its HTTP backend are installed.
pub fn http_backend_binary() -> Option<PathBuf> {
    git_exec_path().map(|dir| dir.join("git-http-backend")).filter(|path| path.is_file())
}

/// Whether the git server can run here: `git` and `git http-backend` are installed.
pub fn git_available() -> bool {
    http_backend_binary().is_some()
}

/// The login a [`TestGitServer`] requires.
#[derive(Clone)]
struct Login {
    username: String,
    password: String,
}

struct ServerState {
    backend: PathBuf,
    project_root: PathBuf,
    login: Option<Login>,
    requests: AtomicUsize,
}

/// A git smart-HTTP server on `127.0.0.1`.
pub struct TestGitServer {
    addr: SocketAddr,
    scratch: tempfile::TempDir,
    state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestGitServer {
    /// Starts a server that serves its repositories to anyone.
    pub fn start() -> Result<Self, HarnessError> {
        Self::launch(None)
    }

    /// Starts a server that answers 401 (with `WWW-Authenticate: Basic`) unless the request carries
    /// `Authorization: Basic` with this user name and password, or `Authorization: Bearer <password>`.
    pub fn start_with_login(username: &str, password: &str) -> Result<Self, HarnessError> {
        Self::launch(Some(Login { username: username.to_owned(), password: password.to_owned() }))
    }

    fn launch(login: Option<Login>) -> Result<Self, HarnessError> {
        let backend = http_backend_binary().ok_or_else(|| {
            HarnessError::Start(
                "git http-backend is missing; install git (tests/harness/install-supply-tools.sh)".into(),
            )
        })?;
        let scratch = tempfile::Builder::new()
            .prefix("pequod-git-server-")
            .tempdir()
            .map_err(|error| HarnessError::Io("a scratch directory".into(), error))?;
        let project_root = scratch.path().join("repos");
        std::fs::create_dir_all(&project_root)
            .map_err(|error| HarnessError::Io(project_root.display().to_string(), error))?;
        let state = Arc::new(ServerState { backend, project_root, login, requests: AtomicUsize::new(0) });

        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|error| HarnessError::Io("bind 127.0.0.1:0".into(), error))?;
        let addr = listener.local_addr().map_err(|error| HarnessError::Io("local_addr".into(), error))?;
        listener.set_nonblocking(true).map_err(|error| HarnessError::Io("set_nonblocking".into(), error))?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = axum::Router::new().fallback(handle).with_state(state.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| HarnessError::Start(format!("cannot build a Tokio runtime: {error}")))?;
        let thread = std::thread::Builder::new()
            .name("pequod-git-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(_) => return,
                    };
                    let _ = axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
            .map_err(|error| HarnessError::Start(format!("cannot start the git server thread: {error}")))?;
        Ok(Self { addr, scratch, state, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of repository `name` (`http://127.0.0.1:<port>/<name>.git`).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.base_url())
    }

    /// How many HTTP requests the server has answered (including refused ones).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Creates an empty repository `name` (served at [`url`](Self::url)) and a work tree to change it with.
    pub fn create_repo(&self, name: &str) -> Result<TestRepo, HarnessError> {
        let bare = self.state.project_root.join(format!("{name}.git"));
        let work = self.scratch.path().join("work").join(name);
        let home = self.scratch.path().join("home");
        for dir in [&work, &home] {
            std::fs::create_dir_all(dir).map_err(|error| HarnessError::Io(dir.display().to_string(), error))?;
        }
        let repo = TestRepo { url: self.url(name), bare, work, home };
        repo.git_in(
            self.scratch.path(),
            &["init", "--quiet", "--bare", "--initial-branch=main", &path_arg(&repo.bare)],
        )?;
        repo.git(&["init", "--quiet", "--initial-branch=main"])?;
        repo.git(&["remote", "add", "origin", &path_arg(&repo.bare)])?;
        Ok(repo)
    }

    /// Stops the server (the port then refuses connections); the repositories stay until it is dropped.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestGitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// Answers one request: checks the login, then hands the request to `git http-backend`.
async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(login) = &state.login
        && !authorized(request.headers(), login)
    {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"pequod-test\""))
            .body(Body::from("authentication required\n"))
            .unwrap_or_default();
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(error) => return plain(StatusCode::BAD_REQUEST, format!("cannot read the request body: {error}")),
    };
    let header =
        |name: header::HeaderName| parts.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let cgi = CgiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        content_type: header(header::CONTENT_TYPE),
        content_encoding: header(header::CONTENT_ENCODING),
        git_protocol: header(header::HeaderName::from_static("git-protocol")),
        body: body.to_vec(),
    };
    let state = state.clone();
    match tokio::task::spawn_blocking(move || run_backend(&state, cgi)).await {
        Ok(Ok(response)) => response,
        Ok(Err(message)) => plain(StatusCode::INTERNAL_SERVER_ERROR, message),
        Err(error) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("the backend task failed: {error}")),
    }
}

fn authorized(headers: &HeaderMap, login: &Login) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return token.trim() == login.password;
    }
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    decoded == format!("{}:{}", login.username, login.password).as_bytes()
}

fn plain(status: StatusCode, message: String) -> Response {
    Response::builder().status(status).body(Body::from(message)).unwrap_or_default()
}

struct CgiRequest {
    method: String,
    path: String,
    query: String,
    content_type: Option<String>,
    content_encoding: Option<String>,
    git_protocol: Option<String>,
    body: Vec<u8>,
}

/// Runs `git http-backend` for one request (RFC 3875 CGI) and turns its output into a response.
fn run_backend(state: &ServerState, request: CgiRequest) -> Result<Response, String> {
    let mut command = Command::new(&state.backend);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &state.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", &state.project_root)
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", request.body.len().to_string());
    if let Some(login) = &state.login {
        command.env("REMOTE_USER", &login.username);
    }
    if let Some(value) = &request.content_type {
        command.env("CONTENT_TYPE", value);
    }
    if let Some(value) = &request.content_encoding {
        command.env("HTTP_CONTENT_ENCODING", value);
    }
    if let Some(value) = &request.git_protocol {
        command.env("GIT_PROTOCOL", value);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {}: {error}", state.backend.display()))?;
    let mut stdin = child.stdin.take();
    let body = request.body;
    // Write the body on another thread: the backend may answer before it has read all of it.
    let writer = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            use std::io::Write as _;
            let _ = stdin.write_all(&body);
        }
        drop(stdin);
    });
    let output = child.wait_with_output().map_err(|error| format!("git http-backend failed: {error}"))?;
    let _ = writer.join();
    parse_cgi_output(&output.stdout).ok_or_else(|| {
        format!("git http-backend gave no CGI answer ({}): {}", output.status, String::from_utf8_lossy(&output.stderr))
    })
}

/// Splits CGI output into its header lines (`Status:` among them) and body.
fn parse_cgi_output(output: &[u8]) -> Option<Response> {
    let (head_len, separator_len) = output
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|position| (position, 4))
        .or_else(|| output.windows(2).position(|window| window == b"\n\n").map(|position| (position, 2)))?;
    let head = std::str::from_utf8(&output[..head_len]).ok()?;
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse::<u16>().ok()?;
            status = StatusCode::from_u16(code).ok()?;
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response.status(status).body(Body::from(output[head_len + separator_len..].to_vec())).ok()
}

/// A repository served by a [`TestGitServer`] and the work tree its commits are made in. Every change is
/// mirrored to the served (bare) repository at once, branches and tags included.
pub struct TestRepo {
    url: String,
    bare: PathBuf,
    work: PathBuf,
    home: PathBuf,
}

/// The author and committer of every test commit, with a fixed date so commits are reproducible.
const IDENTITY: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Pequod Test"),
    ("GIT_AUTHOR_EMAIL", "test@pequod.invalid"),
    ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
    ("GIT_COMMITTER_NAME", "Pequod Test"),
    ("GIT_COMMITTER_EMAIL", "test@pequod.invalid"),
    ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
];

impl TestRepo {
    /// The URL the server serves this repository at.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The work tree.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// The served bare repository.
    pub fn bare_dir(&self) -> &Path {
        &self.bare
    }

    /// Writes a file of the work tree (creating its directories); commit it with [`commit`](Self::commit).
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> Result<&Self, HarnessError> {
        let file = self.work.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|error| HarnessError::Io(parent.display().to_string(), error))?;
        }
        std::fs::write(&file, contents).map_err(|error| HarnessError::Io(file.display().to_string(), error))?;
        Ok(self)
    }

    /// Removes a file or directory of the work tree.
    pub fn remove(&self, path: &str) -> Result<&Self, HarnessError> {
        let target = self.work.join(path);
        let result = if target.is_dir() { std::fs::remove_dir_all(&target) } else { std::fs::remove_file(&target) };
        result.map_err(|error| HarnessError::Io(target.display().to_string(), error))?;
        Ok(self)
    }

    /// Commits everything in the work tree on the current branch and publishes it; returns the commit's SHA.
    pub fn commit(&self, message: &str) -> Result<String, HarnessError> {
        self.git(&["add", "--all"])?;
        self.git(&["commit", "--quiet", "--allow-empty", "--no-verify", "-m", message])?;
        self.publish()?;
        self.rev_parse("HEAD")
    }

    /// Creates a lightweight tag at the current commit and publishes it.
    pub fn tag(&self, name: &str) -> Result<&Self, HarnessError> {
        self.git(&["tag", name])?;
        self.publish()?;
        Ok(self)
    }

    /// Creates an annotated tag at the current commit and publishes it; returns the tag object's SHA.
    pub fn annotated_tag(&self, name: &str, message: &str) -> Result<String, HarnessError> {
        self.git(&["tag", "--annotate", name, "-m", message])?;
        self.publish()?;
        self.rev_parse(&format!("refs/tags/{name}"))
    }

    /// Creates branch `name` at the current commit and switches to it (later commits go there).
    pub fn branch(&self, name: &str) -> Result<&Self, HarnessError> {
        self.git(&["switch", "--quiet", "--create", name])?;
        self.publish()?;
        Ok(self)
    }

    /// Switches to an existing branch.
    pub fn switch(&self, name: &str) -> Result<&Self, HarnessError> {
        self.git(&["switch", "--quiet", name])?;
        Ok(self)
    }

    /// The SHA `revision` resolves to in the work repository.
    pub fn rev_parse(&self, revision: &str) -> Result<String, HarnessError> {
        self.git(&["rev-parse", "--verify", revision]).map(|output| output.trim().to_owned())
    }

    /// Makes the served repository a copy of the work repository's branches and tags.
    fn publish(&self) -> Result<(), HarnessError> {
        self.git(&["push", "--quiet", "--force", "--mirror", "origin"]).map(drop)
    }

    /// Runs `git` in the work tree with a fixed identity and no user or system configuration; returns stdout.
    pub fn git(&self, arguments: &[&str]) -> Result<String, HarnessError> {
        self.git_in(&self.work, arguments)
    }

    fn git_in(&self, dir: &Path, arguments: &[&str]) -> Result<String, HarnessError> {
        let output = Command::new("git")
            .args(arguments)
            .current_dir(dir)
            .envs(IDENTITY)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| HarnessError::Start(format!("cannot run git (install it): {error}")))?;
        if !output.status.success() {
            return Err(HarnessError::Start(format!(
                "git {} failed: {}",
                arguments.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}
