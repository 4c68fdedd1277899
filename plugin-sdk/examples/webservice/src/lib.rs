//! An example renderer written with the Pequod plugin SDK: a web service.
//!
//! It renders a Deployment and a Service and, when `autoscaling` is given, a HorizontalPodAutoscaler that
//! waits for the Deployment to become available. Pequod embeds it as the module `webservice-example`; build
//! it on its own with
//!
//! ```text
//! cargo build -p pequod-example-webservice --target wasm32-wasip2 --profile guest
//! pequod render examples/webservice.yaml --module target/wasm32-wasip2/guest/pequod_example_webservice.wasm
//! ```

use std::collections::BTreeMap;

use pequod_plugin_sdk::{
    Graph, Map, Node, Phase, Readiness, RenderContext, RenderError, Renderer, Value, Violation, json,
};
use serde::Deserialize;

/// The module's input, read from the Transform's `spec.input`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// The container image, e.g. `ghcr.io/acme/shop:1.4.2`.
    pub image: String,
    /// The name of the objects; defaults to the Transform's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Pod replicas without autoscaling, 1 to 20.
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// The port the container listens on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The port the Service exposes.
    #[serde(default = "default_service_port")]
    pub service_port: u16,
    /// Environment variables of the container.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// CPU and memory, used as both requests and limits.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// Horizontal autoscaling; replaces `replicas` when given.
    #[serde(default)]
    pub autoscaling: Option<Autoscaling>,
}

/// Container resources.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU, e.g. `500m`.
    pub cpu: String,
    /// Memory, e.g. `256Mi`.
    pub memory: String,
}

/// Horizontal autoscaling on CPU utilisation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    /// The fewest replicas.
    #[serde(default = "default_min_replicas")]
    pub min_replicas: u32,
    /// The most replicas.
    pub max_replicas: u32,
    /// The target average CPU utilisation, in percent.
    #[serde(default = "default_cpu_target")]
    pub target_cpu_utilization: u32,
}

fn default_replicas() -> u32 {
    2
}
fn default_port() -> u16 {
    8080
}
fn default_service_port() -> u16 {
    80
}
fn default_min_replicas() -> u32 {
    2
}
fn default_cpu_target() -> u32 {
    80
}

/// The web service renderer.
pub struct WebService;

impl Renderer for WebService {
    const NAME: &'static str = "webservice-example";
    const VERSION: &'static str = "0.1.0";
    type Input = Input;

    fn input_schema() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "required": ["image"],
            "properties": {
                "image": {"type": "string", "minLength": 1},
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 20, "default": 2},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
                "servicePort": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 80},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "resources": {
                    "type": "object", "additionalProperties": false, "required": ["cpu", "memory"],
                    "properties": {"cpu": {"type": "string"}, "memory": {"type": "string"}}
                },
                "autoscaling": {
                    "type": "object", "additionalProperties": false, "required": ["maxReplicas"],
                    "properties": {
                        "minReplicas": {"type": "integer", "minimum": 1, "default": 2},
                        "maxReplicas": {"type": "integer", "minimum": 1, "maximum": 100},
                        "targetCpuUtilization": {"type": "integer", "minimum": 1, "maximum": 100, "default": 80}
                    }
                }
            }
        })
    }

    fn render(input: Input, context: &RenderContext) -> Result<Graph, RenderError> {
        check(&input)?;
        let name = input.name.clone().unwrap_or_else(|| context.name.clone());
        let mut labels = context.labels.clone();
        labels.insert("app.kubernetes.io/name".into(), name.clone());
        let selector = json!({"app.kubernetes.io/name": name});
        let mut graph = Graph::new(Self::NAME, Self::VERSION)
            .with_node(
                Node::new("deployment", deployment(&input, &name, &labels, &selector))
                    .ready_when(Readiness::DeploymentAvailable),
            )
            .with_node(Node::new("service", service(&input, &name, &labels, &selector)))
            .with_export("url", json!(format!("http://{name}.{}.svc:{}", context.namespace, input.service_port)));
        if let Some(autoscaling) = &input.autoscaling {
            graph = graph.with_node(Node::new("hpa", hpa(autoscaling, &name, &labels)).depends_on("deployment"));
        }
        if input.resources.is_none() {
            graph = graph.with_warning(
                Phase::Input,
                "resources",
                "no CPU or memory limits set; the pod may be evicted first",
            );
        }
        Ok(graph)
    }
}

/// Checks what serde cannot, reporting every problem at once.
fn check(input: &Input) -> Result<(), RenderError> {
    let mut violations = Vec::new();
    if input.image.trim().is_empty() {
        violations.push(Violation::error(Phase::Input, "image", "must not be empty"));
    }
    if !(1..=20).contains(&input.replicas) {
        let message = format!("invalid value {} (out of bound 1..=20)", input.replicas);
        violations.push(Violation::error(Phase::Input, "replicas", message));
    }
    if let Some(name) = &input.name
        && !is_dns_label(name)
    {
        violations.push(Violation::error(Phase::Input, "name", format!("{name:?} is not a DNS label")));
    }
    if let Some(autoscaling) = &input.autoscaling
        && autoscaling.min_replicas > autoscaling.max_replicas
    {
        let message =
            format!("minReplicas {} is above maxReplicas {}", autoscaling.min_replicas, autoscaling.max_replicas);
        violations.push(Violation::error(Phase::Input, "autoscaling.minReplicas", message));
    }
    if violations.is_empty() { Ok(()) } else { Err(RenderError::Rejected(violations)) }
}

fn is_dns_label(name: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (1..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
}

fn deployment(input: &Input, name: &str, labels: &BTreeMap<String, String>, selector: &Value) -> Value {
    let env: Vec<Value> = input.env.iter().map(|(key, value)| json!({"name": key, "value": value})).collect();
    let mut container = json!({
        "name": "app",
        "image": input.image,
        "ports": [{"name": "http", "containerPort": input.port, "protocol": "TCP"}],
    });
    if !env.is_empty() {
        container["env"] = json!(env);
    }
    if let Some(resources) = &input.resources {
        let amounts = json!({"cpu": resources.cpu, "memory": resources.memory});
        container["resources"] = json!({"requests": amounts, "limits": amounts});
    }
    // With autoscaling the HPA owns the replica count, so the Deployment must not set it.
    let mut spec = Map::new();
    if input.autoscaling.is_none() {
        spec.insert("replicas".into(), json!(input.replicas));
    }
    spec.insert("selector".into(), json!({"matchLabels": selector}));
    spec.insert("template".into(), json!({"metadata": {"labels": labels}, "spec": {"containers": [container]}}));
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels}, "spec": spec})
}

fn service(input: &Input, name: &str, labels: &BTreeMap<String, String>, selector: &Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": input.service_port, "targetPort": "http", "protocol": "TCP"}],
        },
    })
}

fn hpa(autoscaling: &Autoscaling, name: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [{
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": autoscaling.target_cpu_utilization}},
            }],
        },
    })
}

pequod_plugin_sdk::export_renderer!(WebService);

#[cfg(test)]
mod tests {
    use super::*;

    fn render(input: Value) -> Result<Graph, RenderError> {
        let context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
        let input = pequod_plugin_sdk::__private::parse_input::<Input>(&input.to_string())?;
        WebService::render(input, &context)
    }

    #[test]
    fn renders_deployment_and_service_and_hpa_when_asked() {
        let graph = render(json!({"image": "nginx:1.27"})).unwrap();
        let ids: Vec<&str> = graph.nodes.iter().map(|node| node.id.as_str()).collect();
        assert_eq!(ids, ["deployment", "service"]);
        assert_eq!(graph.nodes[0].object["spec"]["replicas"], 2);
        assert!(graph.validate().is_ok());

        let graph = render(json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 5}})).unwrap();
        let hpa = graph.node("hpa").unwrap();
        assert_eq!(hpa.depends_on, ["deployment"]);
        assert_eq!(hpa.object["spec"]["maxReplicas"], 5);
        assert!(graph.nodes[0].object["spec"].get("replicas").is_none());
        assert_eq!(graph.validate().unwrap().waves.len(), 2);
    }

    #[test]
    fn rejects_bad_input_with_every_violation() {
        let error = render(json!({"image": " ", "replicas": 50, "autoscaling": {"minReplicas": 9, "maxReplicas": 3}}))
            .unwrap_err();
        let RenderError::Rejected(violations) = error else { panic!("expected rejection") };
        let paths: Vec<&str> = violations.iter().map(|violation| violation.path.as_str()).collect();
        assert_eq!(paths, ["image", "replicas", "autoscaling.minReplicas"]);
        assert_eq!(violations[1].message, "invalid value 50 (out of bound 1..=20)");
    }
}
