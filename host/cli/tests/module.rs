//! `pequod module` as a platform engineer runs it, against a real registry on loopback: keygen, push (twice:
//! same digest), verify before and after signing, pull. Skipped with a note when `docker-registry` is not
//! installed, unless `PEQUOD_REQUIRE_SUPPLY_TOOLS=1` (CI) makes that a failure.

use std::path::Path;
use std::process::{Command, Output};

use pequod_test_harness::registry::{TestRegistry, registry_binary, supply_tools_required};

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
    let module = pequod_embedded::find("webservice-example").unwrap();
    std::fs::write(directory.join("web.wasm"), module.component().unwrap()).unwrap();
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

    let pull =
        pequod(directory, &["module", "pull", &reference, "-o", "pulled.wasm", "--key", "signing.pub", "--insecure"]);
    assert!(pull.status.success(), "{}", text(&pull.stderr));
    assert_eq!(std::fs::read(directory.join("pulled.wasm")).unwrap(), module.component().unwrap());
}
