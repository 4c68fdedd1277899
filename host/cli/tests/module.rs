//! `pequod module` as a platform engineer runs it, against a real registry on loopback: a CUE module compiled
//! the way `cue-to-wasm build` compiles it, keygen, push (twice: same digest), verify before and after signing
//! (also with the real `cosign verify --key`), pull. Skipped with a note when `docker-registry` or `cosign` is
//! not installed, unless `PEQUOD_REQUIRE_SUPPLY_TOOLS=1` (CI) makes that a failure.

use std::path::Path;
use std::process::{Command, Output};

use pequod_cue_compile::{CompileLimits, ModuleSource};
use pequod_test_harness::registry::{TestRegistry, cosign_binary, registry_binary, supply_tools_required};

fn pequod(directory: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pequod"))
        .args(arguments)
        .current_dir(directory)
        .env("COSIGN_PASSWORD", "test-password")
        .env("HOME", directory)
        .output()
        .expect("pequod runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn push_sign_verify_pull_round_trip() {
    if registry_binary().is_none() {
        assert!(!supply_tools_required(), "docker-registry is required (PEQUOD_REQUIRE_SUPPLY_TOOLS=1)");
        #[expect(clippy::print_stderr, reason = "say why the test did nothing")]
        {
            eprintln!("note: skipped: docker-registry is not installed (tests/harness/install-supply-tools.sh)");
        }
        return;
    }
    let registry = TestRegistry::start().expect("registry starts");
    let scratch = tempfile::tempdir().unwrap();
    let directory = scratch.path();
    // The shipped webservice module, compiled by the same code as `cue-to-wasm build`.
    let sources = pequod_embedded::find("webservice").unwrap().sources().unwrap();
    let bundle = sources.bundle().unwrap();
    let wasm = pequod_cue_compile::compile_blocking(&ModuleSource::Bundle(bundle), &CompileLimits::default()).unwrap();
    std::fs::write(directory.join("web.wasm"), &wasm).unwrap();
    let reference = format!("{}/platform/web:1.0.0", registry.host());

    let keygen = pequod(directory, &["module", "keygen", "--output-key-prefix", "signing"]);
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    assert!(directory.join("signing.key").exists() && directory.join("signing.pub").exists());

    let push = || pequod(directory, &["module", "push", "web.wasm", &reference, "--insecure"]);
    let first = push();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let digest = text(&first.stdout).trim().to_owned();
    assert!(digest.starts_with("sha256:"), "push prints the digest: {digest:?}");
    let second = push();
    assert_eq!(text(&second.stdout).trim(), digest, "pushing the same module again gives the same digest");

    let unsigned = pequod(directory, &["module", "verify", &reference, "--key", "signing.pub", "--insecure"]);
    assert_eq!(unsigned.status.code(), Some(31), "SignatureMissing: {}", text(&unsigned.stderr));

    let sign = pequod(directory, &["module", "sign", &reference, "--key", "signing.key", "--insecure"]);
    assert!(sign.status.success(), "{}", text(&sign.stderr));
    let verify = pequod(directory, &["module", "verify", &reference, "--key", "signing.pub", "--insecure"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    // The real cosign accepts Pequod's signature (offline: no transparency log).
    match cosign_binary() {
        Some(cosign) => {
            let pinned = format!("{}/platform/web@{digest}", registry.host());
            let output = Command::new(cosign)
                .args([
                    "verify",
                    "--key",
                    "signing.pub",
                    "--insecure-ignore-tlog=true",
                    "--allow-http-registry",
                    &pinned,
                ])
                .current_dir(directory)
                .env("HOME", directory)
                .output()
                .expect("cosign runs");
            assert!(output.status.success(), "cosign verify: {}{}", text(&output.stdout), text(&output.stderr));
            assert!(text(&output.stdout).contains(&digest), "{}", text(&output.stdout));
        }
        None => assert!(!supply_tools_required(), "cosign is required (PEQUOD_REQUIRE_SUPPLY_TOOLS=1)"),
    }

    let pull =
        pequod(directory, &["module", "pull", &reference, "-o", "pulled.wasm", "--key", "signing.pub", "--insecure"]);
    assert!(pull.status.success(), "{}", text(&pull.stderr));
    assert_eq!(std::fs::read(directory.join("pulled.wasm")).unwrap(), wasm);

    // `module info` on the pushed module, verified: name, version, signer and input schema.
    let info = pequod(directory, &["module", "info", &reference, "--key", "signing.pub", "--insecure", "-o", "json"]);
    assert!(info.status.success(), "{}", text(&info.stderr));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!((info["name"].as_str(), info["version"].as_str()), (Some("webservice"), Some("1.0.0")), "{info}");
    assert!(info["signer"].as_str().is_some_and(|signer| !signer.is_empty()), "{info}");
    assert!(info["source"].as_str().unwrap().contains(&digest), "{info}");
    assert_eq!(info["inputSchema"]["properties"]["image"]["type"], "string", "{info}");
    // And on a local file, in text.
    let local = pequod(directory, &["module", "info", "pulled.wasm"]);
    let shown = text(&local.stdout);
    assert!(local.status.success() && shown.contains("name:          webservice"), "{shown}{}", text(&local.stderr));
    assert!(shown.contains("signer:        not verified"), "{shown}");
}

#[test]
fn a_registry_login_can_come_from_standard_input() {
    if registry_binary().is_none() {
        assert!(!supply_tools_required(), "docker-registry is required (PEQUOD_REQUIRE_SUPPLY_TOOLS=1)");
        return;
    }
    let registry = TestRegistry::start_with_login("ci", "s3cret").expect("registry starts");
    let scratch = tempfile::tempdir().unwrap();
    let wasm = pequod_embedded::find("webservice-example").unwrap().component().unwrap();
    std::fs::write(scratch.path().join("m.wasm"), wasm).unwrap();
    let reference = format!("{}/platform/login:1.0.0", registry.host());
    let push = |password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pequod"))
            .args(["module", "push", "m.wasm", &reference, "--insecure", "--username", "ci", "--password-stdin"])
            .current_dir(scratch.path())
            .env("HOME", scratch.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let refused = push("wrong");
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    let pushed = push("s3cret");
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    let alone =
        pequod(scratch.path(), &["module", "pull", &reference, "-o", "x.wasm", "--insecure", "--username", "ci"]);
    assert!(text(&alone.stderr).contains("--password-stdin"), "{}", text(&alone.stderr));

    // A docker credential helper named for the registry in the user's docker config gives the login.
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-pequodtest");
    std::fs::write(&helper, HELPER).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = serde_json::json!({"credHelpers": {registry.host(): "pequodtest"}});
    std::fs::write(scratch.path().join("config.json"), config.to_string()).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let pulled = Command::new(env!("CARGO_BIN_EXE_pequod"))
        .args(["module", "pull", &reference, "-o", "x.wasm", "--insecure", "--docker-config", "config.json"])
        .current_dir(scratch.path())
        .env("HOME", scratch.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(pulled.status.success(), "{}", text(&pulled.stderr));
}

/// A docker credential helper, as `docker-credential-ecr-login` and the others answer `get`.
const HELPER: &str = r#"#!/bin/sh
read server
printf '{"ServerURL":"%s","Username":"ci","Secret":"s3cret"}' "$server"
"#;
