//! The supply chain against a real registry (Debian's `docker-registry`) and the real `cosign`.
//!
//! Without those tools the tests print a note and pass, unless `PEQUOD_REQUIRE_SUPPLY_TOOLS=1` (CI), which
//! makes them fail. `tests/harness/install-supply-tools.sh` installs both.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pequod_supply::{
    Credentials, DockerConfig, Login, ModuleArtifact, ModuleMetadata, PublicKey, Reference, Registry, RegistryOptions,
    Resolver, SigningKey, SupplyError, TrustPolicy, WASM_LAYER_MEDIA_TYPE, generate_key_pair, parse_reference,
};
use pequod_test_harness::registry::{TestRegistry, cosign_binary, registry_binary, supply_tools_required};

const PASSWORD: &str = "correct horse";

fn component() -> &'static [u8] {
    pequod_embedded::find("webservice-example").unwrap().component().unwrap()
}

#[allow(clippy::print_stderr, reason = "tells why a test did nothing")]
fn skip(what: &str) {
    if supply_tools_required() {
        panic!("{what} is missing and PEQUOD_REQUIRE_SUPPLY_TOOLS=1; run tests/harness/install-supply-tools.sh");
    }
    eprintln!("note: skipped: {what} is missing; run tests/harness/install-supply-tools.sh");
}

fn registry() -> Option<TestRegistry> {
    if registry_binary().is_none() {
        skip("docker-registry");
        return None;
    }
    Some(TestRegistry::start().expect("the test registry starts"))
}

fn cosign() -> Option<PathBuf> {
    let found = cosign_binary();
    if found.is_none() {
        skip("cosign");
    }
    found
}

fn options(registry: &TestRegistry) -> RegistryOptions {
    RegistryOptions {
        plain_http: vec![registry.host()],
        request_timeout: Duration::from_secs(10),
        attempts: 2,
        backoff: Duration::from_millis(50),
        ..RegistryOptions::default()
    }
}

fn artifact(version: &str) -> ModuleArtifact {
    let metadata = ModuleMetadata {
        name: "web".into(),
        version: Some(version.into()),
        source: Some("https://git.example/platform/web".into()),
        revision: Some("0123456789abcdef".into()),
        created: None,
    };
    ModuleArtifact::build(component(), &metadata, None).expect("the example renderer packages")
}

fn reference(registry: &TestRegistry, path: &str) -> Reference {
    parse_reference(&format!("{}/{path}", registry.host())).unwrap()
}

fn keys() -> (SigningKey, String) {
    let (private, public) = generate_key_pair(PASSWORD.as_bytes()).unwrap();
    (SigningKey::from_encrypted_pem(&private, PASSWORD.as_bytes()).unwrap(), public)
}

fn signed_policy(public_keys: &[&str]) -> TrustPolicy {
    TrustPolicy {
        require_signatures: true,
        public_keys: public_keys.iter().map(|key| key.to_string()).collect(),
        allowed_registries: Vec::new(),
    }
}

#[tokio::test]
async fn push_and_pull_round_trip_with_a_stable_digest() {
    let Some(registry) = registry() else { return };
    let client = Registry::new(options(&registry));
    let tagged = reference(&registry, "team/web:1.0.0");
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("web.cue"), "package web\n").unwrap();
    let metadata = ModuleMetadata { name: "web".into(), version: Some("1.0.0".into()), ..ModuleMetadata::default() };

    let first = ModuleArtifact::build(component(), &metadata, Some(source.path())).unwrap();
    let pushed = client.push(&tagged, &first).await.unwrap();
    let second = ModuleArtifact::build(component(), &metadata, Some(source.path())).unwrap();
    let again = client.push(&reference(&registry, "team/web:latest"), &second).await.unwrap();
    assert_eq!(pushed, again, "the same module and metadata must give the same digest");
    assert_eq!(client.resolve(&tagged).await.unwrap(), pushed);

    let module = client.pull_module(&tagged, &pushed, true).await.unwrap();
    assert_eq!(module.wasm, component());
    assert_eq!(module.cue_source.as_deref(), Some(second.layers[1].data.as_slice()));
    assert_eq!(module.manifest.layers[0].media_type, WASM_LAYER_MEDIA_TYPE);
    let exports = &module.config.component.as_ref().unwrap().exports;
    assert!(exports.iter().any(|export| export == "render"), "{exports:?}");

    // The resolver with an empty policy gives the same bytes and no signer.
    let resolved = Resolver::new(options(&registry)).resolve(&tagged.whole(), &TrustPolicy::default()).await.unwrap();
    assert_eq!((resolved.digest.as_str(), resolved.signer.as_deref()), (pushed.as_str(), None));
    assert_eq!(resolved.annotations["io.pequod.module.version"], "1.0.0");
}

#[tokio::test]
async fn tampered_blobs_are_detected() {
    let Some(registry) = registry() else { return };
    let client = Registry::new(options(&registry));
    let tagged = reference(&registry, "team/web:tampered");
    let artifact = artifact("1.0.0");
    client.push(&tagged, &artifact).await.unwrap();

    // Flip one byte of the component as stored by the registry (same size, so only the digest tells).
    let layer = registry.blob_path(&artifact.layers[0].descriptor.digest);
    let mut bytes = std::fs::read(&layer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&layer, &bytes).unwrap();

    let error = Resolver::new(options(&registry)).resolve(&tagged.whole(), &TrustPolicy::default()).await.unwrap_err();
    assert_eq!(error.reason(), "DigestMismatch", "{error}");
    assert!(error.to_string().contains(&artifact.layers[0].descriptor.digest), "{error}");

    // A tampered manifest is caught too.
    let manifest = registry.blob_path(&artifact.digest);
    let text = std::fs::read_to_string(&manifest).unwrap().replace("\"1.0.0\"", "\"6.6.6\"");
    std::fs::write(&manifest, text).unwrap();
    let error = client.pull_module(&tagged, &artifact.digest, false).await.unwrap_err();
    assert_eq!(error.reason(), "DigestMismatch", "{error}");
    assert!(error.to_string().contains("manifest"), "{error}");
}

#[tokio::test]
async fn signatures_gate_the_module_and_follow_the_digest() {
    let Some(registry) = registry() else { return };
    let client = Registry::new(options(&registry));
    let resolver = Resolver::new(options(&registry));
    let tagged = reference(&registry, "team/web:stable");
    let (alice, alice_public) = keys();
    let (bob, bob_public) = keys();

    let v1 = artifact("1.0.0");
    let digest = client.push(&tagged, &v1).await.unwrap();

    // Unsigned under requireSignatures.
    let error = resolver.resolve(&tagged.whole(), &signed_policy(&[&alice_public])).await.unwrap_err();
    assert_eq!(error.reason(), "SignatureMissing", "{error}");
    // Unsigned but signatures optional: accepted, no signer.
    let optional = TrustPolicy { require_signatures: false, ..signed_policy(&[&alice_public]) };
    assert_eq!(resolver.resolve(&tagged.whole(), &optional).await.unwrap().signer, None);

    let outcome = pequod_supply::sign(&client, &tagged, &digest, &alice).await.unwrap();
    assert_eq!((outcome.signatures, outcome.added), (1, true));
    let verified = resolver.resolve(&tagged.whole(), &signed_policy(&[&alice_public])).await.unwrap();
    assert_eq!(verified.digest, digest);
    assert_eq!(verified.signer.as_deref(), Some(alice.public_key().id.as_str()));

    // Wrong key.
    let error = resolver.resolve(&tagged.whole(), &signed_policy(&[&bob_public])).await.unwrap_err();
    assert_eq!(error.reason(), "SignatureInvalid", "{error}");
    assert!(error.to_string().contains("not by a trusted key"), "{error}");

    // Signing again adds; the same key twice adds nothing.
    let outcome = pequod_supply::sign(&client, &tagged, &digest, &bob).await.unwrap();
    assert_eq!((outcome.signatures, outcome.added), (2, true));
    let outcome = pequod_supply::sign(&client, &tagged, &digest, &alice).await.unwrap();
    assert_eq!((outcome.signatures, outcome.added), (2, false));
    for public in [&alice_public, &bob_public] {
        resolver.resolve(&tagged.whole(), &signed_policy(&[public])).await.unwrap();
    }

    // The tag moves to unsigned content: the new digest has no signature.
    let v2 = artifact("2.0.0");
    let moved = client.push(&tagged, &v2).await.unwrap();
    assert_ne!(moved, digest);
    let error = resolver.resolve(&tagged.whole(), &signed_policy(&[&alice_public])).await.unwrap_err();
    assert!(matches!(&error, SupplyError::SignatureMissing { digest, .. } if *digest == moved), "{error}");
    // The verified digest itself still resolves.
    let pinned = format!("{}@{digest}", pequod_supply::repository_name(&tagged));
    resolver.resolve(&pinned, &signed_policy(&[&alice_public])).await.unwrap();
}

#[tokio::test]
async fn a_signature_copied_to_another_repository_is_refused() {
    let Some(registry) = registry() else { return };
    let client = Registry::new(options(&registry));
    let (alice, alice_public) = keys();
    let original = reference(&registry, "team/web:1");
    let copy = reference(&registry, "evil/web:1");
    let artifact = artifact("1.0.0");
    let digest = client.push(&original, &artifact).await.unwrap();
    client.push(&copy, &artifact).await.unwrap();
    pequod_supply::sign(&client, &original, &digest, &alice).await.unwrap();
    // Copy the signature manifest (and its blobs) to the other repository, as an attacker could.
    let signature_tag = pequod_supply::signature_tag(&digest);
    let copy_sig = Reference::with_tag(copy.registry().into(), copy.repository().into(), signature_tag.clone());
    let original_sig = Reference::with_tag(original.registry().into(), original.repository().into(), signature_tag);
    copy_manifest(&original_sig, &copy_sig).await;

    let error = pequod_supply::verify(&client, &copy, &digest, &[PublicKey::from_pem(&alice_public).unwrap()])
        .await
        .unwrap_err();
    assert_eq!(error.reason(), "SignatureInvalid", "{error}");
    assert!(error.to_string().contains("is for repository"), "{error}");
}

/// Copies a manifest and its blobs between repositories with the registry's own HTTP API.
async fn copy_manifest(from: &Reference, to: &Reference) {
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let auth = oci_client::secrets::RegistryAuth::Anonymous;
    let (manifest, _) = client.pull_image_manifest(from, &auth).await.unwrap();
    client.auth(to, &auth, oci_client::RegistryOperation::Push).await.unwrap();
    for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
        let mut data = Vec::new();
        client.pull_blob(from, descriptor, &mut data).await.unwrap();
        client.push_blob(to, data, &descriptor.digest).await.unwrap();
    }
    client.push_manifest(to, &oci_client::manifest::OciManifest::Image(manifest)).await.unwrap();
}

#[tokio::test]
async fn untrusted_sources_are_refused_before_any_request() {
    let policy = TrustPolicy { allowed_registries: vec!["registry.example/platform".into()], ..TrustPolicy::default() };
    // Nothing listens there: the refusal must come from the policy, not from the network.
    let error = Resolver::new(RegistryOptions::default()).resolve("127.0.0.1:9/team/web:1", &policy).await.unwrap_err();
    assert_eq!(error.reason(), "UntrustedSource", "{error}");
}

#[tokio::test]
async fn an_unreachable_registry_fails_quickly() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let options = RegistryOptions {
        plain_http: vec![format!("127.0.0.1:{port}")],
        attempts: 3,
        backoff: Duration::from_millis(50),
        ..RegistryOptions::default()
    };
    let started = Instant::now();
    let error = Resolver::new(options)
        .resolve(&format!("127.0.0.1:{port}/team/web:1"), &TrustPolicy::default())
        .await
        .unwrap_err();
    assert_eq!(error.reason(), "SourceUnavailable", "{error}");
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_registry_that_never_answers_times_out() {
    // Accepts connections (the kernel completes them) but never reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let options = RegistryOptions {
        plain_http: vec![host.clone()],
        request_timeout: Duration::from_millis(500),
        attempts: 2,
        backoff: Duration::from_millis(50),
        ..RegistryOptions::default()
    };
    let started = Instant::now();
    let error =
        Resolver::new(options).resolve(&format!("{host}/team/web:1"), &TrustPolicy::default()).await.unwrap_err();
    assert_eq!(error.reason(), "SourceUnavailable", "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    drop(listener);
}

#[tokio::test]
async fn oversized_layers_are_refused() {
    let Some(registry) = registry() else { return };
    let tagged = reference(&registry, "team/web:big");
    Registry::new(options(&registry)).push(&tagged, &artifact("1.0.0")).await.unwrap();
    let small = RegistryOptions { max_layer_size: 1024, ..options(&registry) };
    let error = Resolver::new(small).resolve(&tagged.whole(), &TrustPolicy::default()).await.unwrap_err();
    assert!(matches!(error, SupplyError::TooLarge { limit: 1024, .. }), "{error}");
    assert_eq!(error.reason(), "SourceUnavailable");
}

#[tokio::test]
async fn htpasswd_registries_need_credentials() {
    if registry_binary().is_none() {
        return skip("docker-registry");
    }
    let registry = TestRegistry::start_with_login("ci", "s3cret").expect("the registry starts");
    let tagged = reference(&registry, "team/web:1");
    let artifact = artifact("1.0.0");

    let error = Registry::new(options(&registry)).push(&tagged, &artifact).await.unwrap_err();
    assert!(matches!(error, SupplyError::Unauthorized { .. }), "{error}");
    let wrong = Credentials::Login(Login { username: "ci".into(), password: "nope".into() });
    let error = Registry::new(RegistryOptions { credentials: wrong, ..options(&registry) })
        .push(&tagged, &artifact)
        .await
        .unwrap_err();
    assert!(matches!(error, SupplyError::Unauthorized { .. }), "{error}");

    let login = Credentials::Login(Login { username: "ci".into(), password: "s3cret".into() });
    let digest = Registry::new(RegistryOptions { credentials: login, ..options(&registry) })
        .push(&tagged, &artifact)
        .await
        .unwrap();

    let anonymous = Resolver::new(options(&registry)).resolve(&tagged.whole(), &TrustPolicy::default()).await;
    assert!(matches!(anonymous, Err(SupplyError::Unauthorized { .. })), "{anonymous:?}");
    // A `.dockerconfigjson`, as in a pull secret.
    let config = format!(r#"{{"auths": {{"{}": {{"username": "ci", "password": "s3cret"}}}}}}"#, registry.host());
    let credentials = Credentials::DockerConfig(DockerConfig::from_json(config.as_bytes()).unwrap());
    let module = Resolver::new(RegistryOptions { credentials, ..options(&registry) })
        .resolve(&tagged.whole(), &TrustPolicy::default())
        .await
        .unwrap();
    assert_eq!(module.digest, digest);
}

/// Runs cosign offline (no transparency log, HTTP registry) with the key password in the environment.
fn run_cosign(cosign: &Path, dir: &Path, arguments: &[&str]) -> std::process::Output {
    Command::new(cosign)
        .args(arguments)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", dir)
        .env("TUF_ROOT", dir.join("tuf"))
        .env("COSIGN_EXPERIMENTAL", "0")
        .output()
        .expect("cosign runs")
}

fn assert_success(output: &std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn cosign_signatures_verify_in_pequod() {
    let Some(cosign) = cosign() else { return };
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    assert_success(&run_cosign(&cosign, dir.path(), &["generate-key-pair"]), "cosign generate-key-pair");
    let client = Registry::new(options(&registry));
    let tagged = reference(&registry, "team/web:1.0.0");
    let digest = client.push(&tagged, &artifact("1.0.0")).await.unwrap();
    let pinned = format!("{}@{digest}", pequod_supply::repository_name(&tagged));
    let output = run_cosign(
        &cosign,
        dir.path(),
        &["sign", "--key", "cosign.key", "--tlog-upload=false", "--allow-http-registry", "--yes", &pinned],
    );
    assert_success(&output, "cosign sign");

    let public = std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap();
    let module = Resolver::new(options(&registry)).resolve(&tagged.whole(), &signed_policy(&[&public])).await.unwrap();
    assert_eq!(module.digest, digest);
    assert_eq!(module.signer, Some(PublicKey::from_pem(&public).unwrap().id));

    // Cosign's encrypted private key also signs in Pequod, adding to cosign's signature.
    let private = std::fs::read_to_string(dir.path().join("cosign.key")).unwrap();
    let key = SigningKey::from_encrypted_pem(&private, PASSWORD.as_bytes()).unwrap();
    let outcome = pequod_supply::sign(&client, &tagged, &digest, &key).await.unwrap();
    assert_eq!((outcome.signatures, outcome.added), (1, false), "cosign's signature by this key is recognised");
}

#[tokio::test]
async fn pequod_signatures_verify_with_cosign() {
    let Some(cosign) = cosign() else { return };
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = generate_key_pair(PASSWORD.as_bytes()).unwrap();
    std::fs::write(dir.path().join("pequod.key"), &private).unwrap();
    std::fs::write(dir.path().join("pequod.pub"), &public).unwrap();
    let key = SigningKey::from_encrypted_pem(&private, PASSWORD.as_bytes()).unwrap();

    let client = Registry::new(options(&registry));
    let tagged = reference(&registry, "team/web:2.0.0");
    let digest = client.push(&tagged, &artifact("2.0.0")).await.unwrap();
    pequod_supply::sign(&client, &tagged, &digest, &key).await.unwrap();
    let pinned = format!("{}@{digest}", pequod_supply::repository_name(&tagged));
    let verify = |key: &str| {
        run_cosign(
            &cosign,
            dir.path(),
            &["verify", "--key", key, "--insecure-ignore-tlog=true", "--allow-http-registry", &pinned],
        )
    };
    let output = verify("pequod.pub");
    assert_success(&output, "cosign verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&digest), "{stdout}");

    // Cosign refuses it with another key, so the check above is not vacuous.
    let (_, other) = generate_key_pair(PASSWORD.as_bytes()).unwrap();
    std::fs::write(dir.path().join("other.pub"), other).unwrap();
    assert!(!verify("other.pub").status.success());

    // Our key also signs with cosign (keygen is cosign-compatible), adding a second signature.
    let output = run_cosign(
        &cosign,
        dir.path(),
        &["sign", "--key", "pequod.key", "--tlog-upload=false", "--allow-http-registry", "--yes", &pinned],
    );
    assert_success(&output, "cosign sign with a pequod key");
    pequod_supply::verify(&client, &tagged, &digest, &[PublicKey::from_pem(&public).unwrap()]).await.unwrap();
}

#[tokio::test]
async fn pulled_blobs_are_served_from_the_cache() {
    let Some(registry) = registry() else { return };
    let tagged = reference(&registry, "team/web:cached");
    let artifact = artifact("1.0.0");
    Registry::new(options(&registry)).push(&tagged, &artifact).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = std::sync::Arc::new(pequod_supply::BlobCache::open(dir.path(), 64 * 1024 * 1024).unwrap());
    let resolver = Resolver::with_cache(options(&registry), cache.clone());

    let first = resolver.resolve(&tagged.whole(), &TrustPolicy::default()).await.unwrap();
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 3, 3), "manifest, config and component");
    // Even with the registry's copy of the component altered, the verified cached copy is used.
    let layer = registry.blob_path(&artifact.layers[0].descriptor.digest);
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&layer, &bytes).unwrap();
    let second = resolver.resolve(&tagged.whole(), &TrustPolicy::default()).await.unwrap();
    assert_eq!(second.wasm, first.wasm);
    assert_eq!(cache.stats().hits, 3);
}
