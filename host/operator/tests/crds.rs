//! The CRDs as a cluster admin installs them (`kubectl apply -f crds/pequod.yaml`) on the real API server:
//! no warnings (an unrecognized integer `format` used to print one per field), and conditions merged by type.

mod common;

use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crds_install_without_warnings() {
    let (cluster, _client) = common::cluster().await;
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds/pequod.yaml");
    let output = cluster
        .kubectl()
        .args(["apply", "--server-side", "--force-conflicts", "--dry-run=server"])
        .args(["--field-manager", "pequod-test-harness", "-f"])
        .arg(&crds)
        .output()
        .expect("kubectl runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("Warning"), "the API server warned:\n{stderr}");
    let text = std::fs::read_to_string(&crds).unwrap();
    assert_eq!(text.matches("x-kubernetes-list-type: map").count(), 3, "the conditions of all three resources");
}
