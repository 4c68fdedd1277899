//! The modules we ship (`modules/`), natively: every example input of `webservice`, `database` and
//! `ack-iam-webservice` renders, or is refused, as its README says.
//!
//! An example is `modules/<module>/examples/<name>.json` (the Transform's `spec.input`); an optional
//! `<name>.context.json` next to it holds context fields (`capabilities`, `observed`) that replace the
//! defaults of the render context (`shop` in `team-a`).

use std::path::{Path, PathBuf};

use pequod_cue_runtime::{Module, RenderFailure, SourceFile};
use pequod_graph::{Graph, Phase, Readiness, RenderContext};
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

/// Loads `modules/<name>` with the shared policy package.
fn load(name: &str) -> Module {
    let policy = package(&modules().join("policy"), "policy/");
    let files = package(&modules().join(name), "");
    Module::load_with_imports(files, vec![("pequod.io/modules/policy".into(), policy)])
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

fn webservice() -> Module {
    load("webservice")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn example_of(module: &str, name: &str) -> Value {
    read_json(&modules().join(module).join("examples").join(format!("{name}.json")))
}

fn example(name: &str) -> Value {
    example_of("webservice", name)
}

/// The render context of the tests: the Transform `shop` in `team-a`, nothing observed.
fn base_context() -> Value {
    let mut context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
    context.labels.insert("app.kubernetes.io/managed-by".into(), "pequod".into());
    serde_json::to_value(&context).unwrap()
}

/// The render context of an example: `shop` in `team-a`, with the example's `<name>.context.json`
/// fields, if any.
fn context_of(module: &str, name: &str) -> Value {
    let mut context = base_context();
    let extra = modules().join(module).join("examples").join(format!("{name}.context.json"));
    if extra.is_file() {
        let Value::Object(fields) = read_json(&extra) else { panic!("{} is not an object", extra.display()) };
        for (k, v) in fields {
            context[k] = v;
        }
    }
    context
}

fn render_with(module: &Module, input: &Value, context: &Value) -> Result<Graph, RenderFailure> {
    module.render(&input.to_string(), &context.to_string()).map(|text| serde_json::from_str(&text).unwrap())
}

fn render(module: &Module, input: &Value) -> Result<Graph, RenderFailure> {
    render_with(module, input, &base_context())
}

/// Renders the example `name` of `module` with its context.
fn render_example(module: &Module, name: &str) -> Result<Graph, RenderFailure> {
    render_with(module, &example_of(module.name(), name), &context_of(module.name(), name))
}

fn ids(graph: &Graph) -> Vec<&str> {
    graph.nodes.iter().map(|n| n.id.as_str()).collect()
}

fn violations(result: Result<Graph, RenderFailure>) -> Vec<(String, String, Phase)> {
    match result {
        Err(RenderFailure::Rejected(violations)) => {
            violations.into_iter().map(|v| (v.path, v.message, v.phase)).collect()
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn rejected(module: &Module, input: &Value) -> Vec<(String, String, Phase)> {
    violations(render(module, input))
}

fn rejected_example(module: &Module, name: &str) -> Vec<(String, String, Phase)> {
    violations(render_example(module, name))
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

/// The PlatformPolicies' parameters (`context.policy`) narrow the output policy.
#[test]
fn platform_policy_parameters_reach_the_output_policy() {
    let module = webservice();
    let graph = render_example(&module, "policy").expect("renders");
    let template = &graph.nodes.iter().find(|n| n.id == "deployment").unwrap().object["spec"]["template"];
    assert_eq!(template["metadata"]["labels"]["cost-center"], "cc-42");
    let found = rejected_example(&module, "invalid-policy-registry");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].2), ("deployment.spec.template.spec.containers[0].image", Phase::Output));
    assert!(found[0].1.contains("quay\\\\.io/acme/"), "the message names the allowed registries: {}", found[0].1);
    let found = rejected_example(&module, "invalid-policy-replicas");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1.as_str()),
        ("deployment.spec.replicas", "invalid value 1 (out of bound >=2)")
    );
    // Without parameters, the defaults: well-known public registries, and only those.
    let resources = json!({"cpu": "1", "memory": "1Gi"});
    let found = rejected(&module, &json!({"image": "registry.example.com/shop:1", "resources": resources}));
    assert_eq!(found[0].0, "deployment.spec.template.spec.containers[0].image", "{found:?}");
    let public = json!({"image": "docker.io/nginxinc/nginx-unprivileged:1.27-alpine", "resources": resources});
    render(&module, &public).expect("a real public image renders under the defaults");
}

// ---------------------------------------------------------------------------------------------------------
// database

#[test]
fn database_info_and_schema() {
    let module = load("database");
    assert_eq!((module.name(), module.version()), ("database", "1.0.0"));
    let schema: Value = serde_json::from_str(module.input_schema()).unwrap();
    let p = &schema["properties"];
    assert_eq!(p["version"]["enum"], json!(["14", "15", "16", "17"]));
    assert_eq!(p["version"]["default"], "17");
    assert_eq!(
        (&p["replicas"]["minimum"], &p["replicas"]["maximum"], &p["replicas"]["default"]),
        (&json!(1), &json!(5), &json!(1))
    );
    assert_eq!(p["storage"]["properties"]["size"]["default"], "10Gi");
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn database_basic() {
    let graph = render_example(&load("database"), "basic").expect("renders");
    assert_eq!(ids(&graph), ["service", "statefulset"]);
    let plan = graph.validate().expect("valid");
    assert_eq!(plan.waves.len(), 2, "Service → StatefulSet");
    assert!(graph.violations.is_empty(), "{:?}", graph.violations);

    let service = &graph.nodes[0];
    assert_eq!(service.object["spec"]["clusterIP"], "None", "headless");
    let statefulset = &graph.nodes[1];
    assert_eq!(statefulset.depends_on, ["service"]);
    assert_eq!(statefulset.ready_when, [Readiness::StatefulSetReady]);
    let spec = &statefulset.object["spec"];
    assert_eq!(spec["serviceName"], "shop");
    assert_eq!(spec["replicas"], 1);
    let claim = &spec["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "data");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert!(claim["spec"].get("storageClassName").is_none(), "the cluster's default class");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "docker.io/library/postgres:16");
    assert_eq!(container["resources"]["limits"], json!({"cpu": "1", "memory": "2Gi"}));
    assert_eq!(container["securityContext"]["privileged"], false);
    assert_eq!(
        container["env"][1],
        json!({"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "shop-credentials", "key": "password"}}})
    );
    assert_eq!(container["env"][2], json!({"name": "POSTGRES_DB", "value": "app"}));
    let exports = graph.exports.expect("exports");
    assert_eq!(exports["host"], "shop.team-a.svc");
    assert_eq!(exports["port"], 5432);
    assert_eq!(exports["secretName"], "shop-credentials");
}

#[test]
fn database_defaults_and_custom() {
    let module = load("database");
    let graph = render_example(&module, "defaults").expect("renders");
    let spec = &graph.nodes[1].object["spec"];
    assert_eq!(spec["template"]["spec"]["containers"][0]["image"], "docker.io/library/postgres:17");
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["resources"]["requests"],
        json!({"cpu": "500m", "memory": "1Gi"})
    );
    assert_eq!(spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"], "10Gi");

    let graph = render_example(&module, "custom").expect("renders");
    graph.validate().expect("valid");
    let spec = &graph.nodes[1].object["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["volumeClaimTemplates"][0]["spec"]["storageClassName"], "gp3");
    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/acme/postgres:17.2");
    assert_eq!(container["env"][0]["valueFrom"]["secretKeyRef"], json!({"name": "orders-db", "key": "user"}));
    assert_eq!(container["env"][2]["value"], "orders");
    assert_eq!(graph.exports.expect("exports")["secretName"], "orders-db");
}

#[test]
fn database_invalid_inputs_are_rejected() {
    let module = load("database");
    let found = rejected_example(&module, "invalid-replicas");
    assert_eq!(found, [("replicas".into(), "invalid value 6 (out of bound <=5)".into(), Phase::Input)]);
    let found = rejected_example(&module, "invalid-storage");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].2), ("storage.size", Phase::Input));
    assert!(found[0].1.contains("ten gigabytes"), "{found:?}");
    let found = rejected_example(&module, "invalid-version");
    assert!(!found.is_empty());
    assert!(found.iter().all(|(path, _, phase)| path == "version" && *phase == Phase::Input), "{found:?}");
    let found = rejected_example(&module, "invalid-registry");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "statefulset.spec.template.spec.containers[0].image");
    assert_eq!(found[0].2, Phase::Output);
    let found = rejected(&module, &json!({"replicas": 2, "storage": {"sise": "1Gi"}}));
    assert_eq!(found[0].0, "storage.sise");
    assert!(found[0].1.contains("not allowed"), "{found:?}");
}

// ---------------------------------------------------------------------------------------------------------
// ack-iam-webservice

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/team-a-shop";

#[test]
fn ack_iam_webservice_info_and_schema() {
    let module = load("ack-iam-webservice");
    assert_eq!((module.name(), module.version()), ("ack-iam-webservice", "1.0.0"));
    let schema: Value = serde_json::from_str(module.input_schema()).unwrap();
    assert_eq!(schema["required"], json!(["image", "iam"]));
    assert_eq!(schema["properties"]["iam"]["required"], json!(["accountId", "oidcProvider"]));
    assert_eq!(schema["properties"]["iam"]["properties"]["partition"]["default"], "aws");
}

#[test]
fn ack_iam_webservice_defers_the_service_account_until_the_role_has_an_arn() {
    let graph = render_example(&load("ack-iam-webservice"), "basic").expect("renders");
    assert_eq!(ids(&graph), ["role"]);
    graph.validate().expect("valid");
    let role = &graph.nodes[0];
    assert_eq!(role.object["apiVersion"], "iam.services.k8s.aws/v1alpha1");
    assert_eq!(role.object["kind"], "Role");
    assert_eq!(
        role.ready_when,
        [Readiness::ConditionMatch {
            condition_type: "ACK.ResourceSynced".into(),
            status: pequod_graph::ConditionStatus::True,
            reason: None
        }]
    );
    let spec = &role.object["spec"];
    assert_eq!(spec["name"], "team-a-shop");
    assert_eq!(spec["policies"], json!(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]));
    let trust: Value = serde_json::from_str(spec["assumeRolePolicyDocument"].as_str().unwrap()).unwrap();
    let oidc = "oidc.eks.eu-west-1.amazonaws.com/id/5C3F2D1E0A9B8C7D6E5F4A3B2C1D0E9F";
    let statement = &trust["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(statement["Principal"]["Federated"], format!("arn:aws:iam::123456789012:oidc-provider/{oidc}"));
    assert_eq!(statement["Condition"]["StringEquals"][format!("{oidc}:sub")], "system:serviceaccount:team-a:shop");
    assert_eq!(statement["Condition"]["StringEquals"][format!("{oidc}:aud")], "sts.amazonaws.com");

    assert!(graph.violations.is_empty(), "{:?}", graph.violations);
    let deferred: Vec<&str> = graph.deferred.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(deferred, ["serviceaccount", "deployment"]);
    let sa = &graph.deferred[0].reason;
    assert!(sa.contains("eks.amazonaws.com/role-arn"), "{sa}");
    assert!(sa.contains("graph.cue:"), "{sa}");
    let deployment = &graph.deferred[1].reason;
    assert!(deployment.starts_with("depends on deferred node serviceaccount"), "{deployment}");
}

#[test]
fn ack_iam_webservice_completes_once_the_arn_is_observed() {
    let module = load("ack-iam-webservice");
    let graph = render_example(&module, "observed").expect("renders");
    assert_eq!(ids(&graph), ["role", "serviceaccount", "deployment"]);
    assert!(graph.violations.is_empty(), "{:?}", graph.violations);
    let plan = graph.validate().expect("valid");
    assert_eq!(plan.waves.len(), 3, "Role → ServiceAccount → Deployment");
    let sa = &graph.nodes[1];
    assert_eq!(sa.depends_on, ["role"]);
    assert_eq!(sa.object["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], ROLE_ARN);
    let deployment = &graph.nodes[2];
    assert_eq!(deployment.depends_on, ["serviceaccount"]);
    assert_eq!(deployment.ready_when, [Readiness::DeploymentAvailable]);
    let pod = &deployment.object["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "shop");
    assert_eq!(pod["containers"][0]["env"], json!([{"name": "AWS_REGION", "value": "eu-west-1"}]));
    // The role node is the same before and after.
    let before = render_example(&module, "basic").expect("renders");
    assert_eq!(before.nodes[0], graph.nodes[0]);

    // An observed Role that ACK has not synced yet (no ARN) still defers.
    let mut context = context_of("ack-iam-webservice", "observed");
    context["observed"]["role"]["status"] = json!({"conditions": [{"type": "ACK.ResourceSynced", "status": "False"}]});
    let graph = render_with(&module, &example_of("ack-iam-webservice", "observed"), &context).expect("renders");
    assert_eq!(ids(&graph), ["role"]);
    assert_eq!(graph.deferred.len(), 2);

    // Something that is not an ARN is refused.
    context["observed"]["role"]["status"] = json!({"ackResourceMetadata": {"arn": "team-a-shop"}});
    let found = violations(render_with(&module, &example_of("ack-iam-webservice", "observed"), &context));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0.as_str(), found[0].2),
        (r#"serviceaccount.metadata.annotations["eks.amazonaws.com/role-arn"]"#, Phase::Output)
    );
}

#[test]
fn ack_iam_webservice_needs_the_ack_iam_crds() {
    let module = load("ack-iam-webservice");
    let found = rejected_example(&module, "invalid-no-ack-crds");
    assert_eq!(found.len(), 1, "{found:?}");
    let (path, message, phase) = &found[0];
    assert_eq!((path.as_str(), *phase), ("role.apiVersion", Phase::Output));
    assert!(message.contains("install the ACK IAM controller"), "{message}");
    // The group/version form of the capability counts too.
    let mut context = context_of("ack-iam-webservice", "basic");
    context["capabilities"] = json!({"apiGroups": ["iam.services.k8s.aws/v1alpha1"]});
    let graph = render_with(&module, &example_of("ack-iam-webservice", "basic"), &context).expect("renders");
    assert_eq!(ids(&graph), ["role"]);
}

#[test]
fn ack_iam_webservice_invalid_inputs_are_rejected() {
    let module = load("ack-iam-webservice");
    let found = rejected_example(&module, "invalid-account");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].2), ("iam.accountId", Phase::Input));
    assert!(found[0].1.contains("1234"), "{found:?}");
    let found = rejected_example(&module, "invalid-missing-iam");
    let paths: Vec<&str> = found.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(paths, ["iam.accountId", "iam.oidcProvider"], "{found:?}");
    assert!(found.iter().all(|(_, _, phase)| *phase == Phase::Input));
    // The registry policy holds even while the ServiceAccount waits for the Role.
    let found = rejected_example(&module, "invalid-registry");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].2), ("deployment.spec.template.spec.containers[0].image", Phase::Output));
}

/// Every example of every module: `invalid-*` ones are rejected with error violations, the others render a
/// valid graph with no violations (some nodes may be deferred).
#[test]
fn every_example_renders_or_is_refused_by_its_name() {
    for module in ["webservice", "database", "ack-iam-webservice"] {
        let loaded = load(module);
        let mut names: Vec<String> = std::fs::read_dir(modules().join(module).join("examples"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && !n.ends_with(".context.json"))
            .map(|n| n.trim_end_matches(".json").to_owned())
            .collect();
        names.sort();
        assert!(names.len() >= 4, "{module} has too few examples: {names:?}");
        for name in names {
            let result = render_example(&loaded, &name);
            if name.starts_with("invalid-") {
                let found = violations(result);
                assert!(!found.is_empty(), "{module}/{name}");
            } else {
                let graph = result.unwrap_or_else(|e| panic!("{module}/{name} does not render: {e:?}"));
                graph.validate().unwrap_or_else(|e| panic!("{module}/{name}: {e:?}"));
                assert!(!graph.nodes.is_empty(), "{module}/{name}");
                assert!(graph.violations.is_empty(), "{module}/{name}: {:?}", graph.violations);
            }
        }
    }
}
