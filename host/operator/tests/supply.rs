//! Modules from a real OCI registry (signed with the real `cosign` and with Pequod) and from a real git
//! server, on a real kube-apiserver. PlatformPolicy is cluster-scoped, so these tests have a test binary (and
//! an API server) of their own, and the trust-rule cases run one after another.
//!
//! Without `docker-registry`, `cosign` or `git` the tests print a note and pass, unless
//! `PEQUOD_REQUIRE_SUPPLY_TOOLS=1` (CI).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Operator, cluster, condition, eventually};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use pequod_api::{PlatformPolicy, ResourceGraph, Transform};
use pequod_cue_compile::{CompileLimits, ModuleSource};
use pequod_operator::Options;
use pequod_supply::{ModuleArtifact, ModuleMetadata, Registry, RegistryOptions, SigningKey, parse_reference};
use pequod_test_harness::git::{TestGitServer, git_available};
use pequod_test_harness::registry::{TestRegistry, cosign_binary, registry_binary, supply_tools_required};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

/// A module that renders one ConfigMap holding its input's message.
fn hello(version: &str) -> String {
    format!(
        r#"package hello

module: {{name: "hello", version: "{version}"}}
#Input: {{message: string}}
input: #Input
context: {{name: string, ...}}
graph: nodes: config: object: {{
	apiVersion: "v1"
	kind:       "ConfigMap"
	metadata: name: context.name
	data: {{message: input.message, version: module.version}}
}}
"#
    )
}

#[allow(clippy::print_stderr, reason = "tells why a test did nothing")]
fn tools_missing(what: &str) -> bool {
    if supply_tools_required() {
        panic!("{what} is missing and PEQUOD_REQUIRE_SUPPLY_TOOLS=1; run tests/harness/install-supply-tools.sh");
    }
    eprintln!("note: skipped: {what} is missing; run tests/harness/install-supply-tools.sh");
    true
}

/// Sets the policy `trust-<namespace>`, which applies to `namespace` only (so tests do not see each other's).
async fn set_policy(client: &kube::Client, namespace: &str, mut spec: Value) {
    spec["namespaces"] = json!([namespace]);
    let policies: Api<PlatformPolicy> = Api::all(client.clone());
    let name = format!("trust-{namespace}");
    let policy = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "PlatformPolicy",
        "metadata": {"name": name}, "spec": spec});
    policies.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&policy)).await.unwrap();
}

async fn apply(client: &kube::Client, namespace: &str, name: &str, cue_ref: Value) {
    let api: Api<Transform> = Api::namespaced(client.clone(), namespace);
    let manifest = json!({"apiVersion": "platform.pequod.io/v1alpha1", "kind": "Transform",
        "metadata": {"name": name}, "spec": {"cueRef": cue_ref, "input": {"message": name}}});
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(&manifest)).await.unwrap();
}

/// Waits for `name`'s condition `kind` to be False with `reason`; checks nothing was handed over.
async fn refused(client: &kube::Client, namespace: &str, name: &str, kind: &str, reason: &str) -> String {
    let transforms: Api<Transform> = Api::namespaced(client.clone(), namespace);
    let transform = eventually(&format!("{name}: {kind}=False {reason}"), || async {
        let transform = transforms.get(name).await.unwrap();
        let found = condition(&transform, kind)?;
        (found.status == "False" && found.reason == reason).then_some(transform)
    })
    .await;
    let graphs: Api<ResourceGraph> = Api::namespaced(client.clone(), namespace);
    assert!(graphs.get_opt(name).await.unwrap().is_none(), "{name}: a graph was written");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    assert!(config_maps.get_opt(name).await.unwrap().is_none(), "{name}: something was applied");
    assert_eq!(condition(&transform, "Ready").unwrap().status, "False");
    condition(&transform, kind).unwrap().message.clone()
}

async fn ready(client: &kube::Client, namespace: &str, name: &str) -> Transform {
    let transforms: Api<Transform> = Api::namespaced(client.clone(), namespace);
    eventually(&format!("Transform {name} to be Ready"), || async {
        let transform = transforms.get(name).await.unwrap();
        (condition(&transform, "Ready")?.status == "True").then_some(transform)
    })
    .await
}

/// The git server's `host:port`.
fn server_host(server: &TestGitServer) -> String {
    server.base_url().trim_start_matches("http://").trim_end_matches('/').to_owned()
}

fn run_cosign(cosign: &Path, dir: &Path, arguments: &[&str]) {
    let output = Command::new(cosign)
        .args(arguments)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", dir)
        .env("TUF_ROOT", dir.join("tuf"))
        .output()
        .expect("cosign runs");
    assert!(
        output.status.success(),
        "cosign {arguments:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Compiles `source` like `cue-to-wasm build` and packages it.
async fn artifact(source: &str, version: &str) -> ModuleArtifact {
    let sources = pequod_embedded::package_sources([("hello.cue".to_owned(), source.to_owned())]);
    let wasm = pequod_cue_compile::Compiler::new()
        .compile(&ModuleSource::Sources(sources), &CompileLimits::default())
        .await
        .expect("the module compiles");
    let metadata = ModuleMetadata { name: "hello".into(), version: Some(version.into()), ..ModuleMetadata::default() };
    ModuleArtifact::build(&wasm, &metadata, None).expect("the module packages")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_modules_under_trust_rules() {
    if registry_binary().is_none() && tools_missing("docker-registry") {
        return;
    }
    let Some(cosign) = cosign_binary().or_else(|| tools_missing("cosign").then_some(None).flatten()) else {
        return;
    };
    let registry = TestRegistry::start().expect("the registry starts");
    let host = registry.host();
    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("oci").await.unwrap();
    let options =
        Options { namespace: Some(namespace.clone()), insecure_registries: vec![host.clone()], ..Options::default() };
    let operator_cache = tempfile::tempdir().unwrap();
    let options = Options { cache_dir: Some(operator_cache.path().to_owned()), ..options };
    let operator = Operator::start_with(client.clone(), options);
    let registry_client = Registry::new(RegistryOptions { plain_http: vec![host.clone()], ..Default::default() });
    let keys = tempfile::tempdir().unwrap();
    run_cosign(&cosign, keys.path(), &["generate-key-pair"]);
    let trusted = std::fs::read_to_string(keys.path().join("cosign.pub")).unwrap();
    let (other_private, _) = pequod_supply::generate_key_pair(PASSWORD.as_bytes()).unwrap();
    let other = SigningKey::from_encrypted_pem(&other_private, PASSWORD.as_bytes()).unwrap();
    set_policy(
        &client,
        &namespace,
        json!({"trust": {"requireSignatures": true, "publicKeys": [trusted],
        "allowedRegistries": [format!("{host}/platform")]}}),
    )
    .await;

    // Signed with `cosign sign --key`: accepted, Ready, digest and signer in status.
    let signed = parse_reference(&format!("{host}/platform/hello:1.0.0")).unwrap();
    let digest = registry_client.push(&signed, &artifact(&hello("1.0.0"), "1.0.0").await).await.unwrap();
    let pinned = format!("{}@{digest}", pequod_supply::repository_name(&signed));
    run_cosign(
        &cosign,
        keys.path(),
        &["sign", "--key", "cosign.key", "--tlog-upload=false", "--allow-http-registry", "--yes", &pinned],
    );
    apply(&client, &namespace, "signed", json!({"type": "oci", "ref": signed.whole()})).await;
    let transform = ready(&client, &namespace, "signed").await;
    let resolved = transform.status.as_ref().unwrap().resolved_cue_ref.clone().unwrap();
    assert_eq!(resolved.digest, digest);
    let signer = resolved.signer.expect("the signer is recorded");
    assert_eq!(signer, pequod_supply::PublicKey::from_pem(&trusted).unwrap().id);
    assert_eq!(condition(&transform, "Verified").unwrap().reason, "Signed");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    assert_eq!(config_maps.get("signed").await.unwrap().data.unwrap()["version"], "1.0.0");
    assert!(operator.counter("pequod_source_resolutions_total{result=\"ok\"}") >= 1);
    let metrics = operator.context.metrics.encode();
    assert!(operator.counter("pequod_blob_cache_total{result=\"miss\"}") >= 2, "{metrics}");

    // Unsigned content under requireSignatures.
    let unsigned = parse_reference(&format!("{host}/platform/hello:unsigned")).unwrap();
    registry_client.push(&unsigned, &artifact(&hello("1.0.1"), "1.0.1").await).await.unwrap();
    apply(&client, &namespace, "unsigned", json!({"type": "oci", "ref": unsigned.whole()})).await;
    refused(&client, &namespace, "unsigned", "Verified", "SignatureMissing").await;

    // Signed, but by a key the policy does not trust.
    let wrong = parse_reference(&format!("{host}/platform/hello:wrong-key")).unwrap();
    let wrong_digest = registry_client.push(&wrong, &artifact(&hello("1.0.2"), "1.0.2").await).await.unwrap();
    pequod_supply::sign(&registry_client, &wrong, &wrong_digest, &other).await.unwrap();
    apply(&client, &namespace, "wrong-key", json!({"type": "oci", "ref": wrong.whole()})).await;
    refused(&client, &namespace, "wrong-key", "Verified", "SignatureInvalid").await;

    // A repository outside the allowed registries: refused before any request.
    apply(&client, &namespace, "untrusted", json!({"type": "oci", "ref": format!("{host}/elsewhere/hello:1.0.0")}))
        .await;
    let message = refused(&client, &namespace, "untrusted", "Verified", "UntrustedSource").await;
    assert!(message.contains("platform"), "{message}");

    // A tampered layer of a signed module.
    let tampered = parse_reference(&format!("{host}/platform/tampered:1.0.0")).unwrap();
    let module = artifact(&hello("1.0.3"), "1.0.3").await;
    let layer = module.layers[0].descriptor.digest.clone();
    let tampered_digest = registry_client.push(&tampered, &module).await.unwrap();
    let key_pem = std::fs::read_to_string(keys.path().join("cosign.key")).unwrap();
    let trusted_key = SigningKey::from_encrypted_pem(&key_pem, PASSWORD.as_bytes()).unwrap();
    pequod_supply::sign(&registry_client, &tampered, &tampered_digest, &trusted_key).await.unwrap();
    let blob = registry.blob_path(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    apply(&client, &namespace, "tampered", json!({"type": "oci", "ref": tampered.whole()})).await;
    refused(&client, &namespace, "tampered", "Verified", "DigestMismatch").await;

    // A registry that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Loopback: refused unless a policy lists the host (the registry above is named by --insecure-registry).
    apply(
        &client,
        &namespace,
        "loopback",
        json!({"type": "oci", "ref": format!("127.0.0.1:{closed}/platform/hello:1.0.0")}),
    )
    .await;
    let message = refused(&client, &namespace, "loopback", "Verified", "UntrustedSource").await;
    assert!(message.contains("loopback") && message.contains("trust.allowedHosts"), "{message}");
    let allowed = json!({"trust": {"requireSignatures": false, "allowedHosts": [format!("127.0.0.1:{closed}")]}});
    set_policy(&client, &namespace, allowed).await;
    apply(
        &client,
        &namespace,
        "down",
        json!({"type": "oci", "ref": format!("127.0.0.1:{closed}/platform/hello:1.0.0")}),
    )
    .await;
    let message = refused(&client, &namespace, "down", "SourceReady", "SourceUnavailable").await;
    assert!(message.contains(&closed.to_string()), "{message}");
    cluster.delete_namespace(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_modules_resolve_to_a_commit() {
    if !git_available() && tools_missing("git with git-http-backend") {
        return;
    }
    let server = TestGitServer::start_with_login("platform", "s3cret").expect("the git server starts");
    let repo = server.create_repo("modules").unwrap();
    repo.write("cue.mod/module.cue", "module: \"example.com/modules@v0\"\nlanguage: version: \"v0.12.0\"\n").unwrap();
    repo.write("apps/hello/hello.cue", hello("2.0.0")).unwrap();
    let first = repo.commit("hello 2.0.0").unwrap();

    let (cluster, client) = cluster().await;
    let namespace = cluster.namespace("git").await.unwrap();
    set_policy(&client, &namespace, json!({"trust": {"allowedHosts": [server_host(&server)]}})).await;
    let operator = Operator::start(client.clone(), &namespace);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git-login",
        "annotations": {"platform.pequod.io/host": server_host(&server)}},
        "stringData": {"username": "platform", "password": "s3cret"}});
    secrets.patch("git-login", &PatchParams::apply("e2e-test"), &Patch::Apply(&secret)).await.unwrap();

    let reference = format!("{}?ref=main&path=apps/hello", repo.url());
    apply(
        &client,
        &namespace,
        "from-git",
        json!({"type": "git", "ref": reference, "pullSecretRef": {"name": "git-login"}}),
    )
    .await;
    let transform = ready(&client, &namespace, "from-git").await;
    assert_eq!(transform.status.unwrap().resolved_cue_ref.unwrap().digest, first);
    // Resolving the branch again to the same commit changes nothing: the Transform does not wake itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (reconciles, requests) =
        (operator.counter("pequod_reconciles_total{controller=\"Transform\"}"), server.requests());
    tokio::time::sleep(Duration::from_secs(8)).await;
    let more = operator.counter("pequod_reconciles_total{controller=\"Transform\"}") - reconciles;
    assert!(more <= 1, "{more} reconciles of an idle Transform in 8 s ({} git requests)", server.requests() - requests);

    // Without the credentials the server refuses, and the condition says so.
    apply(&client, &namespace, "no-login", json!({"type": "git", "ref": reference})).await;
    refused(&client, &namespace, "no-login", "SourceReady", "SourceUnavailable").await;
    // A ref that does not exist.
    apply(
        &client,
        &namespace,
        "no-ref",
        json!({"type": "git", "ref": format!("{}?ref=nope&path=apps/hello", repo.url()),
            "pullSecretRef": {"name": "git-login"}}),
    )
    .await;
    refused(&client, &namespace, "no-ref", "SourceReady", "RefNotFound").await;

    // A new commit on the branch is picked up on the next reconcile (a change to the Transform here).
    repo.write("apps/hello/hello.cue", hello("2.1.0")).unwrap();
    let second = repo.commit("hello 2.1.0").unwrap();
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &namespace);
    let patch = json!({"metadata": {"annotations": {"example.com/poke": "1"}}});
    transforms.patch("from-git", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    common::eventually_within(Duration::from_secs(60), "the new commit", || async {
        let transform = transforms.get("from-git").await.unwrap();
        let digest = transform.status?.resolved_cue_ref?.digest;
        let config = config_maps.get_opt("from-git").await.unwrap()?;
        (digest == second && config.data?.get("version")? == "2.1.0").then_some(())
    })
    .await;
    cluster.delete_namespace(&namespace).await.unwrap();
}

/// Tenant isolation for sources (issue 12): credentials go only to the host their Secret is bound to, a
/// private module cached for one tenant is not served to another naming the same commit, loopback hosts
/// need a policy, and `requireSignatures` covers unsigned source types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_sources_under_isolation() {
    if !git_available() && tools_missing("git with git-http-backend") {
        return;
    }
    let server = TestGitServer::start_with_login("platform", "s3cret").expect("the git server starts");
    let repo = server.create_repo("private").unwrap();
    repo.write("cue.mod/module.cue", "module: \"example.com/modules@v0\"\nlanguage: version: \"v0.12.0\"\n").unwrap();
    repo.write("apps/hello/hello.cue", hello("3.0.0")).unwrap();
    let commit = repo.commit("hello 3.0.0").unwrap();
    let reference = format!("{}?ref={commit}&path=apps/hello", repo.url());
    let host = server_host(&server);

    let (cluster, client) = cluster().await;
    let owner = cluster.namespace("git-owner").await.unwrap();
    let other = cluster.namespace("git-other").await.unwrap();
    let shared_cache = tempfile::tempdir().unwrap();
    let start = |namespace: &str| {
        let options = Options {
            namespace: Some(namespace.to_owned()),
            cache_dir: Some(shared_cache.path().to_owned()),
            ..Options::default()
        };
        Operator::start_with(client.clone(), options)
    };
    let (_owner_operator, _other_operator) = (start(&owner), start(&other));
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &owner);
    let login = |name: &str, bound: Option<&str>| {
        let annotations = bound.map(|host| json!({"platform.pequod.io/host": host})).unwrap_or(json!({}));
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "annotations": annotations},
            "stringData": {"username": "platform", "password": "s3cret"}})
    };
    for (name, bound) in [("elsewhere", Some("git.example.com")), ("unbound", None), ("bound", Some(host.as_str()))] {
        secrets.patch(name, &PatchParams::apply("e2e-test"), &Patch::Apply(&login(name, bound))).await.unwrap();
    }
    let from = |secret: &str| json!({"type": "git", "ref": reference, "pullSecretRef": {"name": secret}});

    // No policy lists the loopback server: refused before any request.
    let before = server.requests();
    apply(&client, &owner, "no-policy", from("bound")).await;
    let message = refused(&client, &owner, "no-policy", "Verified", "UntrustedSource").await;
    assert!(message.contains("loopback") && message.contains("trust.allowedHosts"), "{message}");
    assert_eq!(server.requests(), before, "no request reached the git server");
    // Once a policy lists it, the refused Transform is fetched at once (the operator watches policies).
    for namespace in [&owner, &other] {
        set_policy(&client, namespace, json!({"trust": {"allowedHosts": [host]}})).await;
    }
    ready(&client, &owner, "no-policy").await;
    let before = server.requests();

    // Credentials bound to another host, or to none, are not sent.
    apply(&client, &owner, "foreign", from("elsewhere")).await;
    let message = refused(&client, &owner, "foreign", "Verified", "UntrustedSource").await;
    assert!(message.contains("bound to host git.example.com"), "{message}");
    apply(&client, &owner, "unbound", from("unbound")).await;
    let message = refused(&client, &owner, "unbound", "Verified", "UntrustedSource").await;
    assert!(message.contains("platform.pequod.io/host"), "{message}");
    assert_eq!(server.requests(), before, "no request reached the git server");

    // The owner, with bound credentials, gets the module; another tenant naming the same commit without
    // credentials is refused by the server, although the module is in the shared cache.
    apply(&client, &owner, "mine", from("bound")).await;
    let transform = ready(&client, &owner, "mine").await;
    assert_eq!(transform.status.unwrap().resolved_cue_ref.unwrap().digest, commit);
    apply(&client, &other, "theirs", json!({"type": "git", "ref": reference})).await;
    let message = refused(&client, &other, "theirs", "SourceReady", "SourceUnavailable").await;
    assert!(message.contains("pullSecretRef"), "{message}");

    // Under requireSignatures, unsigned source types are refused unless the policy lists them.
    let key = pequod_supply::generate_key_pair(PASSWORD.as_bytes()).unwrap().1;
    let signed_only = json!({"trust": {"requireSignatures": true, "publicKeys": [key], "allowedHosts": [host]}});
    set_policy(&client, &other, signed_only).await;
    let inline = json!({"type": "inline", "ref": hello("4.0.0")});
    apply(&client, &other, "inline", inline.clone()).await;
    let message = refused(&client, &other, "inline", "Verified", "UntrustedSource").await;
    assert!(message.contains("trust.allowUnsigned"), "{message}");
    let unsigned_inline =
        json!({"trust": {"requireSignatures": true, "publicKeys": [key], "allowUnsigned": ["inline"]}});
    set_policy(&client, &other, unsigned_inline).await;
    let transforms: Api<Transform> = Api::namespaced(client.clone(), &other);
    let poke = json!({"metadata": {"annotations": {"example.com/poke": "1"}}});
    transforms.patch("inline", &PatchParams::default(), &Patch::Merge(&poke)).await.unwrap();
    ready(&client, &other, "inline").await;
    cluster.delete_namespace(&owner).await.unwrap();
    cluster.delete_namespace(&other).await.unwrap();
}

/// A private OCI module pulled by one tenant (its blobs now in the operator's shared blob cache) is not
/// served to another tenant that names the same digest without credentials: the registry is asked with
/// each tenant's own credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_private_oci_modules_stay_private() {
    if registry_binary().is_none() && tools_missing("docker-registry") {
        return;
    }
    let registry = TestRegistry::start_with_login("platform", "s3cret").expect("the registry starts");
    let host = registry.host();
    let login = pequod_supply::Login { username: "platform".into(), password: "s3cret".into() };
    let credentials = pequod_supply::Credentials::Login(login);
    let pusher = Registry::new(RegistryOptions { plain_http: vec![host.clone()], credentials, ..Default::default() });
    let private = parse_reference(&format!("{host}/platform/private:1.0.0")).unwrap();
    let digest = pusher.push(&private, &artifact(&hello("5.0.0"), "5.0.0").await).await.unwrap();
    let pinned = format!("{}@{digest}", pequod_supply::repository_name(&private));

    let (cluster, client) = cluster().await;
    let owner = cluster.namespace("oci-owner").await.unwrap();
    let other = cluster.namespace("oci-other").await.unwrap();
    let shared_cache = tempfile::tempdir().unwrap();
    let start = |namespace: &str| {
        let options = Options {
            namespace: Some(namespace.to_owned()),
            cache_dir: Some(shared_cache.path().to_owned()),
            insecure_registries: vec![host.clone()],
            ..Options::default()
        };
        Operator::start_with(client.clone(), options)
    };
    let owner_operator = start(&owner);
    let config = json!({"auths": {host.clone(): {"username": "platform", "password": "s3cret"}}}).to_string();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "regcred"}, "stringData": {".dockerconfigjson": config}});
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &owner);
    secrets.patch("regcred", &PatchParams::apply("e2e-test"), &Patch::Apply(&secret)).await.unwrap();

    apply(&client, &owner, "mine", json!({"type": "oci", "ref": pinned, "pullSecretRef": {"name": "regcred"}})).await;
    ready(&client, &owner, "mine").await;
    assert!(owner_operator.counter("pequod_blob_cache_total{result=\"miss\"}") >= 2, "the blobs were cached");
    // The other tenant's operator opens the cache the owner's filled (one operator in production).
    let other_operator = start(&other);
    apply(&client, &other, "theirs", json!({"type": "oci", "ref": pinned})).await;
    let message = refused(&client, &other, "theirs", "SourceReady", "SourceUnavailable").await;
    assert!(message.to_lowercase().contains("unauthorized") || message.contains("401"), "{message}");
    let hits = other_operator.counter("pequod_blob_cache_total{result=\"hit\"}");
    assert_eq!(hits, 0, "no cached blob was served to the other tenant");
    cluster.delete_namespace(&owner).await.unwrap();
    cluster.delete_namespace(&other).await.unwrap();
}
