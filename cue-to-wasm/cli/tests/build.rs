//! `cue-to-wasm build` end to end: the real binary builds fixture modules into components, and the real
//! sandbox (`pequod-sandbox`, the host's) loads and renders them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use pequod_graph::{Phase, RenderContext};
use pequod_sandbox::{RenderError, Rendered, Sandbox, SandboxLimits, SandboxOptions};
use serde_json::{Value, json};

static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| Sandbox::new(SandboxOptions::default()).expect("sandbox starts"));

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(name)
}

/// Runs `cue-to-wasm build <dir> -o <out>`; returns (success, stdout, stderr).
fn build(dir: &Path, out: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cue-to-wasm"))
        .arg("build")
        .arg(dir)
        .arg("-o")
        .arg(out)
        .output()
        .expect("cue-to-wasm runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// Builds a fixture module and returns the component bytes.
fn built(name: &str) -> Vec<u8> {
    built_from(&testdata(name))
}

fn built_from(dir: &Path) -> Vec<u8> {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("module.wasm");
    let (ok, stdout, stderr) = build(dir, &out);
    assert!(ok, "build failed: {stderr}");
    assert!(stdout.starts_with("built "), "{stdout}");
    std::fs::read(out).unwrap()
}

static SHOP: LazyLock<Vec<u8>> = LazyLock::new(|| built("render-module"));

fn context() -> RenderContext {
    RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() }
}

fn render(wasm: &[u8], input: Value) -> Result<Rendered, RenderError> {
    let module = SANDBOX.load(wasm).expect("the component loads in the sandbox");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(SANDBOX.render(&module, &input, &context(), &SandboxLimits::default()))
}

fn violations(wasm: &[u8], input: Value) -> Vec<(String, String, Phase)> {
    match render(wasm, input) {
        Err(RenderError::Rejected { violations }) => {
            violations.into_iter().map(|v| (v.path, v.message, v.phase)).collect()
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn info_reports_the_module_and_its_input_schema() {
    let module = SANDBOX.load(&SHOP).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let info = runtime.block_on(SANDBOX.info(&module, &SandboxLimits::default())).expect("info");
    assert_eq!((info.name.as_str(), info.version.as_str()), ("shop", "0.3.1"));
    assert_eq!(info.graph_version, pequod_graph::GRAPH_VERSION);
    assert_eq!(info.input_schema["required"], json!(["image"]));
    assert_eq!(info.input_schema["properties"]["replicas"]["maximum"], 20);
}

#[test]
fn good_input_renders_in_the_sandbox() {
    let rendered = render(&SHOP, json!({"image": "ghcr.io/acme/shop:1.4.2", "replicas": 3})).expect("renders");
    let ids: Vec<&str> = rendered.graph.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["serviceaccount", "deployment", "service"]);
    assert_eq!(rendered.graph.nodes[1].object["spec"]["replicas"], 3);
    assert_eq!(rendered.plan.waves, vec![vec![0], vec![1], vec![2]]);
    // The status node reads context.observed, which is empty on a first render: deferred, not failed.
    let deferred = &rendered.graph.deferred[0];
    assert_eq!(deferred.id, "status");
    assert!(rendered.graph.violations.is_empty(), "{:?}", rendered.graph.violations);
}

#[test]
fn bad_input_is_rejected_with_spec_input_paths() {
    let found = violations(&SHOP, json!({"image": "ghcr.io/acme/shop:1.4.2", "replicas": 50}));
    assert_eq!(found, [("replicas".to_owned(), "invalid value 50 (out of bound <=20)".to_owned(), Phase::Input)]);
}

#[test]
fn output_policy_violations_are_rejected() {
    let found = violations(&SHOP, json!({"image": "docker.io/library/nginx:1.27"}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "deployment.spec.template.spec.containers[0].image");
    assert_eq!(found[0].2, Phase::Output);
}

#[test]
fn module_errors_fail_with_file_line_col() {
    let broken = built("render-module-broken");
    match render(&broken, json!({"name": "x"})) {
        Err(RenderError::Failed { message }) => assert!(message.contains("module.cue:12:"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn builds_are_reproducible_and_small() {
    // The same module in another directory gives the same bytes.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("elsewhere");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(testdata("render-module")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let out = scratch.path().join("again.wasm");
    let (ok, stdout, stderr) = build(&copy, &out);
    assert!(ok, "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), *SHOP, "two builds of the same module differ");
    assert!(stdout.contains(&format!("{} bytes", SHOP.len())), "{stdout}");
    assert!(SHOP.len() < 5 << 20, "the renderer is {} bytes, over 5 MiB", SHOP.len());
    // A different module gives different bytes.
    std::fs::write(copy.join("extra.cue"), "package shop\n\ngraph: exports: team: \"a\"\n").unwrap();
    let (ok, _, stderr) = build(&copy, &out);
    assert!(ok, "{stderr}");
    assert_ne!(std::fs::read(&out).unwrap(), *SHOP);
}

#[test]
fn unloadable_modules_are_reported_at_build_time() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("x.wasm");
    std::fs::write(scratch.path().join("m.cue"), "package m\n\nmodule: {name: \"m\", version: \"1.0.0\"}\n#Input: {\n")
        .unwrap();
    let (ok, _, stderr) = build(scratch.path(), &out);
    assert!(!ok);
    assert!(stderr.contains("m.cue:5:1"), "{stderr}");
    std::fs::write(scratch.path().join("m.cue"), "package m\n\n#Input: {}\n").unwrap();
    let (ok, _, stderr) = build(scratch.path(), &out);
    assert!(!ok);
    assert!(stderr.contains("module: {name:"), "{stderr}");
    assert!(!out.exists());
    let (ok, _, stderr) = build(&scratch.path().join("missing"), &out);
    assert!(!ok);
    assert!(stderr.contains("cannot read the module directory"), "{stderr}");
}

#[test]
fn the_shipped_webservice_module_builds_and_renders() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules");
    let wasm = built_from(&modules.join("webservice"));
    assert!(wasm.len() < 5 << 20, "the renderer is {} bytes, over 5 MiB", wasm.len());
    let example = |name: &str| -> Value {
        let path = modules.join("webservice/examples").join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let rendered = render(&wasm, example("autoscaled")).expect("renders");
    let ids: Vec<&str> = rendered.graph.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["serviceaccount", "deployment", "service", "networkpolicy", "hpa"]);
    assert_eq!(rendered.graph.metadata.module, "webservice");
    let found = violations(&wasm, example("invalid-registry"));
    assert_eq!(found[0].2, Phase::Output, "{found:?}");
    let found = violations(&wasm, example("invalid-replicas"));
    assert_eq!(found, [("replicas".to_owned(), "invalid value 50 (out of bound <=20)".to_owned(), Phase::Input)]);
}
