//! The modules we ship (`modules/`), natively: every example input of `webservice` renders, or is refused,
//! as its README says.

use std::path::{Path, PathBuf};

use pequod_cue_runtime::{Module, RenderFailure, SourceFile};
use pequod_graph::{Graph, Phase, RenderContext};
use serde_json::{Value, json};

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules")
}

fn package(dir: &Path, prefix: &str) -> Vec<SourceFile> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cue"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| SourceFile::new(format!("{prefix}{n}"), std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect()
}

fn webservice() -> Module {
    let policy = package(&modules().join("policy"), "policy/");
    let files = package(&modules().join("webservice"), "");
    Module::load_with_imports(files, vec![("pequod.io/modules/policy".into(), policy)]).expect("webservice loads")
}

fn example(name: &str) -> Value {
    let path = modules().join("webservice/examples").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn render(module: &Module, input: &Value) -> Result<Graph, RenderFailure> {
    let mut context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
    context.labels.insert("app.kubernetes.io/managed-by".into(), "pequod".into());
    let context = serde_json::to_string(&context).unwrap();
    module.render(&input.to_string(), &context).map(|text| serde_json::from_str(&text).unwrap())
}

fn ids(graph: &Graph) -> Vec<&str> {
    graph.nodes.iter().map(|n| n.id.as_str()).collect()
}

fn rejected(module: &Module, input: &Value) -> Vec<(String, String, Phase)> {
    match render(module, input) {
        Err(RenderFailure::Rejected(violations)) => {
            violations.into_iter().map(|v| (v.path, v.message, v.phase)).collect()
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn info_and_schema() {
    let module = webservice();
    assert_eq!((module.name(), module.version()), ("webservice", "1.0.0"));
    let schema: Value = serde_json::from_str(module.input_schema()).unwrap();
    assert_eq!(schema["required"], json!(["image"]));
    assert_eq!(schema["properties"]["exposure"]["enum"], json!(["internal", "public"]));
    assert_eq!(schema["properties"]["autoscaling"]["required"], json!(["maxReplicas"]));
}

#[test]
fn basic() {
    let graph = render(&webservice(), &example("basic")).expect("renders");
    assert_eq!(ids(&graph), ["serviceaccount", "deployment", "service", "networkpolicy"]);
    graph.validate().expect("valid");
    let deployment = &graph.nodes[1];
    assert_eq!(deployment.depends_on, ["serviceaccount"]);
    assert_eq!(deployment.object["spec"]["replicas"], 3);
    let container = &deployment.object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["resources"]["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["env"], json!([{"name": "LOG_LEVEL", "value": "info"}]));
}

#[test]
fn autoscaled() {
    let graph = render(&webservice(), &example("autoscaled")).expect("renders");
    assert_eq!(ids(&graph), ["serviceaccount", "deployment", "service", "networkpolicy", "hpa"]);
    let plan = graph.validate().expect("valid");
    assert_eq!(plan.waves.len(), 3, "ServiceAccount → Deployment → HPA");
    assert!(graph.nodes[1].object["spec"].get("replicas").is_none(), "the HPA owns replicas");
    assert_eq!(graph.nodes[4].object["spec"]["maxReplicas"], 10);
}

#[test]
fn public() {
    let graph = render(&webservice(), &example("public")).expect("renders");
    assert_eq!(ids(&graph), ["serviceaccount", "deployment", "service", "networkpolicy", "pdb", "ingress"]);
    graph.validate().expect("valid");
    assert_eq!(graph.nodes[5].object["spec"]["tls"][0]["secretName"], "shop-tls");
    assert_eq!(graph.nodes[4].object["spec"]["minAvailable"], 2);
}

#[test]
fn invalid_inputs_are_rejected() {
    let module = webservice();
    let found = rejected(&module, &example("invalid-replicas"));
    assert_eq!(found, [("replicas".into(), "invalid value 50 (out of bound <=20)".into(), Phase::Input)]);
    let found = rejected(&module, &example("invalid-public-without-budget"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].2), ("disruptionBudget", Phase::Input));
    let found = rejected(&module, &example("invalid-registry"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "deployment.spec.template.spec.containers[0].image");
    assert_eq!(found[0].2, Phase::Output);
}
