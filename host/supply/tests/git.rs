//! Fetching CUE modules from git against a real git server: git's own `git http-backend` on loopback behind the
//! harness's HTTP server, with repositories made by the real `git` CLI.
//!
//! Without git the tests print a note and pass, unless `PEQUOD_REQUIRE_SUPPLY_TOOLS=1` (CI), which makes them
//! fail. `tests/harness/install-supply-tools.sh` installs it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pequod_supply::git::{GitCredentials, GitError, GitFetchOptions, GitModule, GitReference, fetch_module};
use pequod_test_harness::git::{TestGitServer, TestRepo, git_available};
use pequod_test_harness::registry::supply_tools_required;

const TOKEN: &str = "s3cret-token";

#[allow(clippy::print_stderr, reason = "tells why a test did nothing")]
fn server_with(login: Option<(&str, &str)>) -> Option<TestGitServer> {
    if !git_available() {
        if supply_tools_required() {
            panic!(
                "git http-backend is missing and PEQUOD_REQUIRE_SUPPLY_TOOLS=1; run tests/harness/install-supply-tools.sh"
            );
        }
        eprintln!("note: skipped: git (git http-backend) is missing; run tests/harness/install-supply-tools.sh");
        return None;
    }
    let server = match login {
        None => TestGitServer::start(),
        Some((username, password)) => TestGitServer::start_with_login(username, password),
    };
    Some(server.expect("the test git server starts"))
}

fn server() -> Option<TestGitServer> {
    server_with(None)
}

/// A repository with a CUE module at its root (`cue.mod/`) and two packages: `apps/web` and `apps/api`.
fn module_repo(server: &TestGitServer, name: &str) -> TestRepo {
    let repo = server.create_repo(name).unwrap();
    repo.write("cue.mod/module.cue", "module: \"example.com/platform\"\nlanguage: version: \"v0.12.0\"\n")
        .unwrap()
        .write("cue.mod/pkg/example.com/lib/lib.cue", "package lib\n\nreplicas: 2\n")
        .unwrap()
        .write("apps/web/web.cue", "package web\n\nname: \"web\"\n")
        .unwrap()
        .write("apps/web/values.cue", "package web\n\nport: 8080\n")
        .unwrap()
        .write("apps/web/README.md", "not CUE\n")
        .unwrap()
        .write("apps/web/nested/ignored.cue", "package nested\n")
        .unwrap()
        .write("apps/api/api.cue", "package api\n")
        .unwrap()
        .write("root.cue", "package root\n")
        .unwrap();
    repo.commit("first").unwrap();
    repo
}

fn options(cache: &tempfile::TempDir) -> GitFetchOptions {
    GitFetchOptions { timeout: Duration::from_secs(30), ..GitFetchOptions::new(cache.path()) }
}

fn reference(repo: &TestRepo, query: &str) -> GitReference {
    let text = if query.is_empty() { repo.url().to_owned() } else { format!("{}?{query}", repo.url()) };
    GitReference::parse(&text).unwrap()
}

async fn fetch(repo: &TestRepo, query: &str) -> Result<GitModule, GitError> {
    let cache = tempfile::tempdir().unwrap();
    fetch_module(&reference(repo, query), None, &options(&cache)).await
}

fn paths(module: &GitModule) -> Vec<&str> {
    module.files.iter().map(|(path, _)| path.as_str()).collect()
}

fn file<'m>(module: &'m GitModule, path: &str) -> &'m str {
    let (_, contents) =
        module.files.iter().find(|(name, _)| name == path).unwrap_or_else(|| panic!("{path} in {module:?}"));
    std::str::from_utf8(contents).unwrap()
}

#[tokio::test]
async fn fetches_a_package_below_the_module_root_by_branch() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "platform");
    let head = repo.rev_parse("HEAD").unwrap();

    let module = fetch(&repo, "ref=main&path=apps/web").await.unwrap();
    assert_eq!(module.commit, head);
    assert_eq!(module.module_root, "");
    assert_eq!(module.package_dir, "apps/web");
    assert_eq!(
        paths(&module),
        ["apps/web/values.cue", "apps/web/web.cue", "cue.mod/module.cue", "cue.mod/pkg/example.com/lib/lib.cue"]
    );
    assert_eq!(file(&module, "apps/web/web.cue"), "package web\n\nname: \"web\"\n");

    // The default branch, and the root as the package directory.
    let module = fetch(&repo, "").await.unwrap();
    assert_eq!(module.commit, head);
    assert_eq!(module.package_dir, "");
    assert_eq!(paths(&module), ["cue.mod/module.cue", "cue.mod/pkg/example.com/lib/lib.cue", "root.cue"]);
}

#[tokio::test]
async fn finds_the_nearest_cue_mod_and_works_without_one() {
    let Some(server) = server() else { return };
    let repo = server.create_repo("mono").unwrap();
    repo.write("cue.mod/module.cue", "module: \"example.com/outer\"\n")
        .unwrap()
        .write("teams/a/cue.mod/module.cue", "module: \"example.com/a\"\n")
        .unwrap()
        .write("teams/a/svc/svc.cue", "package svc\n")
        .unwrap()
        .write("loose/x.cue", "package x\n")
        .unwrap();
    repo.commit("layout").unwrap();

    let module = fetch(&repo, "path=teams/a/svc").await.unwrap();
    assert_eq!((module.module_root.as_str(), module.package_dir.as_str()), ("teams/a", "svc"));
    assert_eq!(paths(&module), ["cue.mod/module.cue", "svc/svc.cue"]);
    assert_eq!(file(&module, "cue.mod/module.cue"), "module: \"example.com/a\"\n");

    // The outer module is found from a directory without its own cue.mod.
    let module = fetch(&repo, "path=loose").await.unwrap();
    assert_eq!((module.module_root.as_str(), module.package_dir.as_str()), ("", "loose"));

    // No cue.mod anywhere: the package directory is the module root.
    let bare = server.create_repo("bare-package").unwrap();
    bare.write("pkg/p.cue", "package p\n").unwrap();
    bare.commit("only a package").unwrap();
    let module = fetch(&bare, "path=pkg").await.unwrap();
    assert_eq!((module.module_root.as_str(), module.package_dir.as_str()), ("pkg", ""));
    assert_eq!(paths(&module), ["p.cue"]);
}

#[tokio::test]
async fn fetches_by_lightweight_and_annotated_tag() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "tags");
    let tagged = repo.rev_parse("HEAD").unwrap();
    repo.tag("v1.0.0").unwrap();
    let tag_object = repo.annotated_tag("v1.1.0", "release 1.1").unwrap();
    assert_ne!(tag_object, tagged);
    repo.write("apps/web/web.cue", "package web\n\nname: \"web-2\"\n").unwrap();
    repo.commit("second").unwrap();

    for tag in ["v1.0.0", "v1.1.0", "refs/tags/v1.1.0"] {
        let module = fetch(&repo, &format!("ref={tag}&path=apps/web")).await.unwrap();
        assert_eq!(module.commit, tagged, "{tag}");
        assert_eq!(file(&module, "apps/web/web.cue"), "package web\n\nname: \"web\"\n", "{tag}");
    }
}

#[tokio::test]
async fn fetches_by_full_and_short_sha() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "shas");
    let first = repo.rev_parse("HEAD").unwrap();
    repo.write("apps/web/web.cue", "package web\n\nname: \"web-2\"\n").unwrap();
    let second = repo.commit("second").unwrap();
    repo.write("apps/web/web.cue", "package web\n\nname: \"web-3\"\n").unwrap();
    repo.commit("third").unwrap();

    // An older commit that no branch points to directly.
    let module = fetch(&repo, &format!("ref={first}&path=apps/web")).await.unwrap();
    assert_eq!(module.commit, first);
    assert_eq!(file(&module, "apps/web/web.cue"), "package web\n\nname: \"web\"\n");

    let module = fetch(&repo, &format!("ref={}&path=apps/web", &second[..8])).await.unwrap();
    assert_eq!(module.commit, second);
    assert_eq!(file(&module, "apps/web/web.cue"), "package web\n\nname: \"web-2\"\n");

    let error = fetch(&repo, "ref=0000000&path=apps/web").await.unwrap_err();
    assert_eq!(error.reason(), "RefNotFound", "{error}");
    let error = fetch(&repo, &format!("ref={}", "1".repeat(40))).await.unwrap_err();
    assert_eq!(error.reason(), "RefNotFound", "{error}");
}

#[tokio::test]
async fn a_fetched_commit_comes_from_the_cache() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "cached");
    let head = repo.rev_parse("HEAD").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let by_sha = reference(&repo, &format!("ref={head}&path=apps/web"));

    let first = fetch_module(&by_sha, None, &options(&cache)).await.unwrap();
    let requests = server.requests();
    let again = fetch_module(&by_sha, None, &options(&cache)).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(server.requests(), requests, "a cached commit must not reach the server");
    // The limits hold for cached modules too.
    let strict = GitFetchOptions { max_files: 1, ..options(&cache) };
    let error = fetch_module(&by_sha, None, &strict).await.unwrap_err();
    assert_eq!(error.reason(), "ModuleTooLarge", "{error}");

    // A branch costs a ref listing, but the commit it points to is cached already.
    let by_branch = reference(&repo, "ref=main&path=apps/web");
    assert_eq!(fetch_module(&by_branch, None, &options(&cache)).await.unwrap(), first);
}

#[tokio::test]
async fn a_moved_branch_gives_the_new_commit() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "moving");
    let cache = tempfile::tempdir().unwrap();
    let by_branch = reference(&repo, "ref=main&path=apps/web");
    let before = fetch_module(&by_branch, None, &options(&cache)).await.unwrap();

    repo.write("apps/web/web.cue", "package web\n\nname: \"moved\"\n").unwrap();
    let moved = repo.commit("move main").unwrap();
    let after = fetch_module(&by_branch, None, &options(&cache)).await.unwrap();
    assert_ne!(before.commit, after.commit);
    assert_eq!(after.commit, moved);
    assert_eq!(file(&after, "apps/web/web.cue"), "package web\n\nname: \"moved\"\n");

    // Another branch is not affected.
    repo.branch("feature").unwrap();
    repo.write("apps/web/web.cue", "package web\n\nname: \"feature\"\n").unwrap();
    let feature = repo.commit("feature work").unwrap();
    let module = fetch(&repo, "ref=feature&path=apps/web").await.unwrap();
    assert_eq!(module.commit, feature);
    assert_eq!(fetch_module(&by_branch, None, &options(&cache)).await.unwrap().commit, moved);
}

#[tokio::test]
async fn missing_refs_and_paths_are_named() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "missing");
    repo.tag("v1.0.0").unwrap();

    let error = fetch(&repo, "ref=nope&path=apps/web").await.unwrap_err();
    assert!(matches!(error, GitError::RefNotFound { .. }), "{error}");
    assert_eq!(error.reason(), "RefNotFound");
    let message = error.to_string();
    assert!(message.contains("\"nope\"") && message.contains("main") && message.contains("v1.0.0"), "{message}");

    let error = fetch(&repo, "ref=main&path=apps/nope").await.unwrap_err();
    assert!(matches!(error, GitError::PathNotFound { .. }), "{error}");
    assert_eq!(error.reason(), "PathNotFound");
    let message = error.to_string();
    assert!(message.contains("apps/nope") && message.contains("web"), "{message}");

    let error = fetch(&repo, "path=root.cue").await.unwrap_err();
    assert_eq!(error.reason(), "PathNotFound", "{error}");

    let empty = server.create_repo("empty").unwrap();
    let error = fetch(&empty, "").await.unwrap_err();
    assert_eq!(error.reason(), "RefNotFound", "{error}");

    let error = fetch_module(
        &GitReference::parse(&server.url("no-such-repo")).unwrap(),
        None,
        &options(&tempfile::tempdir().unwrap()),
    )
    .await
    .unwrap_err();
    assert_eq!(error.reason(), "SourceUnavailable", "{error}");
    assert!(error.to_string().contains("not found (HTTP 404)"), "{error}");
}

fn secret(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs.iter().map(|(key, value)| (key.to_string(), value.as_bytes().to_vec())).collect()
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let Some(server) = server_with(Some(("x-access-token", TOKEN))) else { return };
    let repo = module_repo(&server, "private");
    let head = repo.rev_parse("HEAD").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let options = GitFetchOptions { credentials_source: Some("Secret \"team-a/git-token\"".into()), ..options(&cache) };
    let by_branch = reference(&repo, "ref=main&path=apps/web");

    for data in [
        secret(&[("token", TOKEN)]),
        secret(&[("username", "x-access-token"), ("password", TOKEN)]),
        secret(&[("bearerToken", TOKEN)]),
    ] {
        let credentials = GitCredentials::from_secret_data(&data).unwrap();
        let module = fetch_module(&by_branch, Some(&credentials), &options).await.unwrap();
        assert_eq!(module.commit, head, "{credentials:?}");
    }

    let error = fetch_module(&by_branch, None, &options).await.unwrap_err();
    assert!(matches!(error, GitError::Unauthorized { .. }), "{error}");
    assert_eq!(error.reason(), "SourceUnavailable");
    assert!(error.to_string().contains("pullSecretRef"), "{error}");

    let wrong = GitCredentials::from_secret_data(&secret(&[("token", "wrong")])).unwrap();
    let error = fetch_module(&by_branch, Some(&wrong), &options).await.unwrap_err();
    assert!(matches!(error, GitError::Unauthorized { .. }), "{error}");
    assert_eq!(error.reason(), "SourceUnavailable");
    let message = error.to_string();
    assert!(message.contains("team-a/git-token") && !message.contains("wrong"), "{message}");

    // Credentials never travel over plain http to a host that is not loopback.
    let remote = GitReference::parse("http://git.example.invalid/team/repo.git").unwrap();
    let right = GitCredentials::from_secret_data(&secret(&[("token", TOKEN)])).unwrap();
    let error = fetch_module(&remote, Some(&right), &options).await.unwrap_err();
    assert!(matches!(error, GitError::InsecureCredentials { .. }), "{error}");
}

/// A private module cached for one set of credentials is not served to a fetch with other credentials or
/// none, even when it names the exact commit: the server decides again.
#[tokio::test]
async fn the_cache_is_kept_per_credentials() {
    let Some(server) = server_with(Some(("x-access-token", TOKEN))) else { return };
    let repo = module_repo(&server, "private-cached");
    let head = repo.rev_parse("HEAD").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let by_sha = reference(&repo, &format!("ref={head}&path=apps/web"));
    let right = GitCredentials::from_secret_data(&secret(&[("token", TOKEN)])).unwrap();
    fetch_module(&by_sha, Some(&right), &options(&cache)).await.unwrap();
    let requests = server.requests();
    fetch_module(&by_sha, Some(&right), &options(&cache)).await.unwrap();
    assert_eq!(server.requests(), requests, "the same credentials are served from the cache");

    let error = fetch_module(&by_sha, None, &options(&cache)).await.unwrap_err();
    assert!(matches!(error, GitError::Unauthorized { .. }), "without credentials: {error}");
    let wrong = GitCredentials::from_secret_data(&secret(&[("token", "guess")])).unwrap();
    let error = fetch_module(&by_sha, Some(&wrong), &options(&cache)).await.unwrap_err();
    assert!(matches!(error, GitError::Unauthorized { .. }), "with other credentials: {error}");
}

/// What a loopback HTTP server saw: each request's head.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Serves every request on a loopback port with `response`, recording the request heads.
fn canned_server(response: String) -> (String, Seen) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen: Seen = Default::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 8192];
            let read = stream.read(&mut buffer).unwrap_or(0);
            record.lock().unwrap().push(String::from_utf8_lossy(&buffer[..read]).into_owned());
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (address, seen)
}

/// A server that redirects elsewhere never gets the credentials forwarded: the fetch stops at the redirect.
#[tokio::test]
async fn credentials_never_follow_a_redirect() {
    let (elsewhere, reached) = canned_server("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into());
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nLocation: http://{elsewhere}/stolen.git/info/refs?service=git-upload-pack\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let (origin, asked) = canned_server(redirect);
    let reference = GitReference::parse(&format!("http://{origin}/team/modules.git?ref=main")).unwrap();
    let credentials = GitCredentials::from_secret_data(&secret(&[("token", TOKEN)])).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let error = fetch_module(&reference, Some(&credentials), &options(&cache)).await.unwrap_err();
    assert!(!asked.lock().unwrap().is_empty(), "the origin was asked: {error}");
    let leaked = reached.lock().unwrap().clone();
    assert!(leaked.is_empty(), "nothing may follow the redirect, yet the other server saw {leaked:?}");
}

#[tokio::test]
async fn an_unreachable_server_fails_quickly() {
    let Some(mut server) = server() else { return };
    let repo = module_repo(&server, "gone");
    server.stop();
    let started = Instant::now();
    let error = fetch(&repo, "ref=main").await.unwrap_err();
    assert!(matches!(error, GitError::SourceUnavailable { .. }), "{error}");
    assert_eq!(error.reason(), "SourceUnavailable");
    assert!(error.to_string().contains("cannot connect"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/silent.git", listener.local_addr().unwrap());
    let cache = tempfile::tempdir().unwrap();
    let options = GitFetchOptions { timeout: Duration::from_secs(2), ..GitFetchOptions::new(cache.path()) };
    let started = Instant::now();
    let error = fetch_module(&GitReference::parse(&url).unwrap(), None, &options).await.unwrap_err();
    assert_eq!(error.reason(), "SourceUnavailable", "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    drop(listener);
}

#[tokio::test]
async fn oversized_modules_are_refused() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "big");
    repo.write("apps/web/big.cue", format!("package web\n\ndata: \"{}\"\n", "x".repeat(64 * 1024))).unwrap();
    repo.commit("big file").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let by_branch = reference(&repo, "ref=main&path=apps/web");

    let small = GitFetchOptions { max_total_bytes: 16 * 1024, ..options(&cache) };
    let error = fetch_module(&by_branch, None, &small).await.unwrap_err();
    assert!(matches!(error, GitError::ModuleTooLarge { .. }), "{error}");
    assert_eq!(error.reason(), "ModuleTooLarge");

    let few = GitFetchOptions { max_files: 3, ..options(&cache) };
    let error = fetch_module(&by_branch, None, &few).await.unwrap_err();
    assert_eq!(error.reason(), "ModuleTooLarge", "{error}");
    assert!(error.to_string().contains("more than 3 files"), "{error}");

    // Within the limits it is fine.
    assert_eq!(fetch_module(&by_branch, None, &options(&cache)).await.unwrap().files.len(), 5);

    // A shallow fetch brings the whole commit: a large file outside the module counts against the download limit.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..512 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    repo.write("assets/noise.bin", noise).unwrap();
    repo.commit("incompressible asset").unwrap();
    let capped = GitFetchOptions { max_download_bytes: 128 * 1024, ..options(&cache) };
    let error = fetch_module(&by_branch, None, &capped).await.unwrap_err();
    assert_eq!(error.reason(), "ModuleTooLarge", "{error}");
    assert!(error.to_string().contains("download"), "{error}");
    assert_eq!(fetch_module(&by_branch, None, &options(&cache)).await.unwrap().files.len(), 5);
}

#[tokio::test]
async fn fetches_wait_for_a_slot_and_hold_it_until_their_work_ends() {
    let Some(server) = server() else { return };
    let repo = module_repo(&server, "slots");
    let cache = tempfile::tempdir().unwrap();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let options = GitFetchOptions { slots: Some(slots.clone()), timeout: Duration::from_secs(2), ..options(&cache) };
    let held = slots.clone().acquire_owned().await.unwrap();
    let error = fetch_module(&reference(&repo, "ref=main"), None, &options).await.unwrap_err();
    assert_eq!(error.reason(), "SourceUnavailable", "no slot, no fetch: {error}");
    assert!(!cache.path().join("tmp").exists(), "nothing was fetched without a slot");
    drop(held);
    fetch_module(&reference(&repo, "ref=main"), None, &options).await.unwrap();
    assert_eq!(slots.available_permits(), 1, "the slot is given back");
}

#[test]
fn stale_scratch_repositories_are_removed_and_nothing_else() {
    let cache = tempfile::tempdir().unwrap();
    let scratch = cache.path().join("tmp");
    for name in ["fetch-old", "fetch-older", "unrelated"] {
        std::fs::create_dir_all(scratch.join(name).join("objects")).unwrap();
    }
    assert_eq!(pequod_supply::remove_stale_scratch(cache.path(), Duration::from_secs(600)), 0, "all are recent");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(pequod_supply::remove_stale_scratch(cache.path(), Duration::from_millis(10)), 2);
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["unrelated"]);
    assert_eq!(pequod_supply::remove_stale_scratch(&cache.path().join("none"), Duration::ZERO), 0);
}
