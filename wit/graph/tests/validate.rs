//! Validation and ordering of whole graphs, through one `check` helper per question.

use pequod_graph::{Deferred, Graph, GraphProblem, Node, Readiness};
use serde_json::{Value, json};

fn object(kind: &str, name: &str) -> Value {
    let api_version = match kind {
        "Deployment" | "StatefulSet" => "apps/v1",
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        _ => "v1",
    };
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
}

/// A graph of `(id, kind, dependencies)` nodes, each object named after its id.
fn graph(nodes: &[(&str, &str, &[&str])]) -> Graph {
    nodes.iter().fold(Graph::new("test", "0.0.0"), |graph, (id, kind, deps)| {
        let node = deps.iter().fold(Node::new(*id, object(kind, id)), |node, dep| node.depends_on(*dep));
        graph.with_node(node)
    })
}

fn problems(graph: &Graph) -> Vec<String> {
    graph.validate().expect_err("graph should be invalid").problems.iter().map(ToString::to_string).collect()
}

fn waves(graph: &Graph) -> Vec<Vec<&str>> {
    let plan = graph.validate().expect("graph should be valid");
    plan.waves.iter().map(|wave| wave.iter().map(|&i| graph.nodes[i].id.as_str()).collect()).collect()
}

#[test]
fn waves_group_independent_nodes_in_declaration_order() {
    let g = graph(&[
        ("hpa", "HorizontalPodAutoscaler", &["deployment"]),
        ("service", "Service", &[]),
        ("deployment", "Deployment", &["account", "config"]),
        ("account", "ServiceAccount", &[]),
        ("config", "ConfigMap", &[]),
    ]);
    assert_eq!(waves(&g), vec![vec!["service", "account", "config"], vec!["deployment"], vec!["hpa"]]);
    let plan = g.validate().unwrap();
    let ids: Vec<&str> = plan.order.iter().map(|&i| g.nodes[i].id.as_str()).collect();
    assert_eq!(ids, ["service", "account", "config", "deployment", "hpa"]);
}

#[test]
fn empty_graph_is_valid() {
    assert_eq!(waves(&graph(&[])), Vec::<Vec<&str>>::new());
}

#[test]
fn cycle_is_spelled_out_from_its_earliest_node() {
    let g = graph(&[
        ("free", "ConfigMap", &[]),
        ("a", "ConfigMap", &["c"]),
        ("b", "ConfigMap", &["a"]),
        ("c", "ConfigMap", &["b", "free"]),
    ]);
    assert_eq!(problems(&g), ["dependency cycle (each node depends on the next): a -> c -> b -> a"]);
}

#[test]
fn two_node_cycle() {
    let g = graph(&[("x", "ConfigMap", &["y"]), ("y", "ConfigMap", &["x"])]);
    assert_eq!(
        g.validate().unwrap_err().problems,
        vec![GraphProblem::Cycle { cycle: vec!["x".into(), "y".into(), "x".into()] }]
    );
}

#[test]
fn dependency_problems_are_all_reported() {
    let g = graph(&[("a", "ConfigMap", &["a", "ghost"]), ("b", "ConfigMap", &["a", "a"])]);
    assert_eq!(
        problems(&g),
        [
            "node \"a\" depends on itself",
            "node \"a\" depends on \"ghost\", which is not a node of this graph",
            "node \"b\" lists dependency \"a\" more than once",
        ]
    );
}

#[test]
fn ids_must_be_unique_dns_labels() {
    let g = graph(&[("Web", "ConfigMap", &[]), ("db", "ConfigMap", &[]), ("db", "Secret", &[])]);
    let found = problems(&g);
    assert!(found[0].contains("node id \"Web\" is not a DNS label"), "{found:?}");
    assert_eq!(found[1], "node id \"db\" is used by more than one node");
}

#[test]
fn duplicate_objects_are_named() {
    let mut g = graph(&[("one", "Deployment", &[]), ("two", "Deployment", &[])]);
    g.nodes[1].object["metadata"]["name"] = json!("one");
    assert_eq!(problems(&g), ["nodes \"one\" and \"two\" both hold Deployment.apps one"]);
    // The same name in another namespace is another object.
    g.nodes[1].object["metadata"]["namespace"] = json!("other");
    assert!(g.validate().is_ok());
}

#[test]
fn objects_need_api_version_kind_and_name() {
    let mut g = graph(&[("a", "ConfigMap", &[]), ("b", "ConfigMap", &[]), ("c", "ConfigMap", &[])]);
    g.nodes[0].object.as_object_mut().unwrap().remove("apiVersion");
    g.nodes[1].object["kind"] = json!(7);
    g.nodes[2].object["metadata"].as_object_mut().unwrap().remove("name");
    assert_eq!(
        problems(&g),
        [
            "node \"a\": the object's apiVersion is missing or not a non-empty string",
            "node \"b\": the object's kind is missing or not a non-empty string",
            "node \"c\": the object's metadata.name is missing or not a non-empty string",
        ]
    );
}

#[test]
fn readiness_predicates_are_checked() {
    let mut g = graph(&[("svc", "Service", &[])]);
    g.nodes[0].ready_when =
        vec![Readiness::Exists, Readiness::DeploymentAvailable, Readiness::Cel { expr: "size(self".into() }];
    let found = problems(&g);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("node \"svc\", readyWhen[1]: DeploymentAvailable applies only to Deployment"),
        "{found:?}"
    );
    assert!(found[1].starts_with("node \"svc\", readyWhen[2]: Cel expr has an unclosed '('"), "{found:?}");
}

#[test]
fn version_is_checked() {
    let mut g = graph(&[]);
    g.graph_version = "pequod.io/graph/v9".into();
    assert_eq!(
        problems(&g),
        ["graphVersion \"pequod.io/graph/v9\" is not supported; this host reads \"pequod.io/graph/v1alpha2\""]
    );
}

#[test]
fn json_round_trip_is_camel_case_and_strict() {
    let text = r#"{
      "graphVersion": "pequod.io/graph/v1alpha2",
      "metadata": {"module": "web", "version": "1.0.0"},
      "nodes": [{
        "id": "deployment",
        "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
        "dependsOn": [],
        "readyWhen": [{"type": "DeploymentAvailable"}],
        "applyPolicy": {"mode": "CreateOnly", "conflictPolicy": "Force", "deletionPolicy": "Orphan"}
      }],
      "violations": [{"path": "replicas", "message": "high", "severity": "warning", "phase": "input"}]
    }"#;
    let g: Graph = serde_json::from_str(text).unwrap();
    assert!(g.validate().is_ok());
    let back = serde_json::to_value(&g).unwrap();
    assert_eq!(back["nodes"][0]["applyPolicy"]["deletionPolicy"], "Orphan");
    assert_eq!(back["violations"][0]["severity"], "warning");
    let unknown = text.replace("\"dependsOn\"", "\"depends_on\"");
    let error = serde_json::from_str::<Graph>(&unknown).unwrap_err().to_string();
    assert!(error.contains("unknown field `depends_on`"), "{error}");
}

fn deferred(id: &str) -> Deferred {
    Deferred { id: id.into(), reason: "reads context.observed.role".into() }
}

#[test]
fn deferred_ids_share_the_node_ids_rules() {
    let mut g = graph(&[("web", "ConfigMap", &[]), ("sa", "ServiceAccount", &["role"])]);
    g.deferred = vec![deferred("role"), deferred("web"), deferred("Bad")];
    assert_eq!(
        problems(&g),
        [
            "node id \"web\" is used by more than one node",
            "node id \"Bad\" is not a DNS label (1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit)",
            "node \"sa\" depends on \"role\", which the render deferred; defer \"sa\" with it",
        ]
    );
    let g = graph(&[("web", "ConfigMap", &[])]).with_deferred("role", "reads context.observed.role");
    assert_eq!(waves(&g), [["web"]]);
}

#[test]
fn a_v1alpha1_graph_is_upgraded_with_its_deferred_violations_moved() {
    let text = r#"{
      "graphVersion": "pequod.io/graph/v1alpha1",
      "nodes": [{"id": "role", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r"}}}],
      "violations": [
        {"path": "sa", "message": "deferred: reads context.observed.role", "severity": "info", "phase": "render"},
        {"path": "replicas", "message": "deferred: a warning that only looks alike", "severity": "warning", "phase": "input"}
      ]
    }"#;
    let old: Graph = serde_json::from_str(text).unwrap();
    assert!(old.validate().is_err(), "the old version is read only through upgrade");
    let g = old.upgrade();
    assert_eq!(g.graph_version, pequod_graph::GRAPH_VERSION);
    assert_eq!(g.deferred, [Deferred { id: "sa".into(), reason: "reads context.observed.role".into() }]);
    assert_eq!(g.violations.len(), 1, "only the info violation was a deferred node");
    assert!(g.validate().is_ok());
    let current = serde_json::to_value(&g).unwrap();
    assert_eq!(current["deferred"][0]["id"], "sa");
    assert_eq!(g.clone().upgrade(), g, "upgrading a current graph changes nothing");
}
