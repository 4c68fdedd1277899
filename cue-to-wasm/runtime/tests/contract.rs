//! The module contract, natively, on the fixture modules in `cue-to-wasm/testdata`.

use std::path::Path;

use pequod_cue_runtime::{Module, RenderFailure, SourceFile};
use pequod_graph::{Graph, Phase, RenderContext, Severity};
use serde_json::{Value, json};

fn load(dir: &str) -> Module {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cue"))
        .collect();
    names.sort();
    let files =
        names.iter().map(|n| SourceFile::new(n.clone(), std::fs::read_to_string(dir.join(n)).unwrap())).collect();
    Module::load(files).expect("the fixture loads")
}

fn context(observed: Value) -> String {
    let mut context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
    context.labels.insert("app.kubernetes.io/managed-by".into(), "pequod".into());
    let Value::Object(observed) = observed else { panic!("observed is an object") };
    context.observed = observed;
    serde_json::to_string(&context).unwrap()
}

fn render(module: &Module, input: Value, observed: Value) -> Result<Graph, RenderFailure> {
    module.render(&input.to_string(), &context(observed)).map(|text| serde_json::from_str(&text).expect("a graph"))
}

fn rejected(module: &Module, input: Value) -> Vec<(String, String, Phase)> {
    match render(module, input, json!({})) {
        Err(RenderFailure::Rejected(violations)) => {
            assert!(violations.iter().all(|v| v.severity == Severity::Error));
            violations.into_iter().map(|v| (v.path, v.message, v.phase)).collect()
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn info_comes_from_the_module() {
    let module = load("render-module");
    assert_eq!((module.name(), module.version()), ("shop", "0.3.1"));
    let schema: Value = serde_json::from_str(module.input_schema()).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["image"]));
    assert_eq!(schema["additionalProperties"], false);
    let p = &schema["properties"];
    assert_eq!(p["image"], json!({"type": "string"}));
    assert_eq!(p["replicas"], json!({"type": "integer", "default": 2, "minimum": 1, "maximum": 20}));
    assert_eq!(p["port"]["exclusiveMaximum"], 65536);
    assert_eq!(p["tier"], json!({"type": "string", "default": "internal", "enum": ["internal", "public"]}));
    assert_eq!(p["env"]["type"], "object");
    assert_eq!(p["ports"]["type"], "array");
    let port = &p["ports"]["items"];
    assert_eq!(port["required"], json!(["name", "port"]));
    assert_eq!(port["properties"]["name"], json!({"type": "string", "pattern": "^[a-z]+$"}));
    assert_eq!(port["properties"]["protocol"]["enum"], json!(["TCP", "UDP"]));
    assert_eq!(p["resources"]["properties"]["cpu"], json!({"type": "string", "default": "250m"}));
    assert!(schema["required"].as_array().unwrap().iter().all(|r| r != "resources"));
}

#[test]
fn good_input_renders_the_graph() {
    let module = load("render-module");
    let input = json!({"image": "ghcr.io/acme/shop:1.4.2", "replicas": 3, "env": {"LOG_LEVEL": "info"},
        "ports": [{"name": "metrics", "port": 9090}]});
    let graph = render(&module, input, json!({"deployment": {"status": {"readyReplicas": 3}}})).expect("renders");
    assert_eq!((graph.metadata.module.as_str(), graph.metadata.version.as_str()), ("shop", "0.3.1"));
    let ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["serviceaccount", "deployment", "service", "status"]);
    graph.validate().expect("a valid graph");
    let deployment = &graph.nodes[1];
    assert_eq!(deployment.depends_on, ["serviceaccount"]);
    assert_eq!(deployment.object["spec"]["replicas"], 3);
    let container = &deployment.object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["env"], json!([{"name": "LOG_LEVEL", "value": "info"}]));
    assert_eq!(container["resources"]["limits"], json!({"cpu": "250m", "memory": "128Mi"}));
    assert_eq!(deployment.object["metadata"]["labels"]["app.kubernetes.io/managed-by"], "pequod");
    let ports = &graph.nodes[2].object["spec"]["ports"];
    assert_eq!(ports[1], json!({"port": 9090, "name": "metrics", "protocol": "TCP"}));
    assert_eq!(graph.nodes[3].object["data"]["readyReplicas"], "3");
    assert_eq!(graph.exports.unwrap()["url"], "http://shop.team-a.svc");
    assert!(graph.violations.is_empty());
}

#[test]
fn input_errors_are_rejected_with_spec_input_paths() {
    let module = load("render-module");
    let violations = rejected(&module, json!({"image": "ghcr.io/acme/shop:1", "replicas": 50}));
    assert_eq!(violations, [("replicas".into(), "invalid value 50 (out of bound <=20)".into(), Phase::Input)]);
    let violations = rejected(&module, json!({"image": "ghcr.io/acme/shop:1", "ports": [{"name": "Web", "port": 80}]}));
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].0, "ports[0].name");
    assert_eq!(violations[0].1, r#"invalid value "Web" (out of bound =~"^[a-z]+$")"#);
    let violations = rejected(&module, json!({"image": "ghcr.io/acme/shop:1", "replcas": 2}));
    assert_eq!(violations[0].0, "replcas");
    assert!(violations[0].1.contains("not allowed"), "{violations:?}");
    let violations = rejected(&module, json!({"replicas": 2}));
    assert_eq!(violations[0].0, "image");
}

#[test]
fn output_policy_failures_are_rejected_in_phase_output() {
    let module = load("render-module");
    let violations = rejected(&module, json!({"image": "docker.io/library/nginx:1.27"}));
    assert_eq!(violations.len(), 1, "{violations:?}");
    let (path, message, phase) = &violations[0];
    assert_eq!(phase, &Phase::Output);
    assert_eq!(path, "deployment.spec.template.spec.containers[0].image");
    assert!(message.contains("docker.io/library/nginx:1.27"), "{message}");
}

#[test]
fn nodes_waiting_for_observed_state_are_deferred() {
    let module = load("render-module");
    let graph = render(&module, json!({"image": "ghcr.io/acme/shop:1"}), json!({})).expect("renders");
    let ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["serviceaccount", "deployment", "service"]);
    graph.validate().expect("a valid graph");
    assert!(graph.violations.is_empty(), "{:?}", graph.violations);
    assert_eq!(graph.deferred.len(), 1);
    let deferred = &graph.deferred[0];
    assert_eq!(deferred.id, "status");
    assert!(deferred.reason.contains("graph.cue:"), "{}", deferred.reason);
}

#[test]
fn module_errors_fail_with_positions() {
    let module = load("render-module-broken");
    match render(&module, json!({"name": "x"}), json!({})) {
        Err(RenderFailure::Failed(message)) => {
            assert!(message.contains("module.cue:12:"), "{message}");
            assert!(message.contains("missing"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn unresolved_references_fail_the_load_with_positions() {
    let source = "module: {name: \"a\", version: \"1.0.0\"}\n#Input: {}\ninput: #Input\nx: {y: missing}\n";
    let error = Module::load(vec![SourceFile::new("m.cue", source)]).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("m.cue:4:8") && text.contains("x.y: reference \"missing\" not found"), "{text}");
}

#[test]
fn load_reports_what_is_missing() {
    let error = Module::load(vec![SourceFile::new("m.cue", "#Input: {}\n")]).unwrap_err();
    assert!(error.to_string().contains("module: {name:"), "{error}");
    let error =
        Module::load(vec![SourceFile::new("m.cue", "module: {name: \"a\", version: \"1.0.0\"}\n")]).unwrap_err();
    assert!(error.to_string().contains("#Input"), "{error}");
    let error = Module::load(vec![SourceFile::new("m.cue", "a: {\n")]).unwrap_err();
    assert!(error.to_string().contains("m.cue:2:1"), "{error}");
}
