//! Printing a rendered graph as YAML objects, the Graph artifact in JSON, or a dot DAG.

use std::fmt::Write as _;

use pequod_graph::{Graph, Plan};

use crate::render::Format;

/// The graph in `format`.
pub fn format(graph: &Graph, plan: &Plan, format: Format) -> String {
    match format {
        Format::Yaml => yaml(graph, plan),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(graph).expect("a graph always serializes");
            text.push('\n');
            text
        }
        Format::Dot => dot(graph, plan),
    }
}

/// The objects as a YAML stream in apply order, each headed by a comment with its node id, wave,
/// dependencies and readiness gates; the stream can be fed to `kubectl apply -f -` as it is. The objects are
/// written by `pequod-yaml`, the writer `cue-to-wasm export --out yaml` uses, in the official `cue` style.
fn yaml(graph: &Graph, plan: &Plan) -> String {
    let mut text = String::new();
    for (wave, members) in plan.waves.iter().enumerate() {
        for &index in members {
            let node = &graph.nodes[index];
            let _ = write!(text, "---\n# node {} (wave {wave})", node.id);
            if !node.depends_on.is_empty() {
                let _ = write!(text, ", depends on {}", node.depends_on.join(", "));
            }
            if !node.ready_when.is_empty() {
                let gates: Vec<String> = node.ready_when.iter().map(ToString::to_string).collect();
                let _ = write!(text, ", ready when {}", gates.join(" and "));
            }
            text.push('\n');
            text.push_str(&pequod_yaml::to_string(&pequod_yaml::Node::from(&node.object)));
        }
    }
    text
}

/// The DAG in Graphviz dot: one box per node (id, kind and name), edges from a dependency to its dependents,
/// nodes of one wave on one rank.
fn dot(graph: &Graph, plan: &Plan) -> String {
    let mut text = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        quote(&graph.metadata.module)
    );
    for (wave, members) in plan.waves.iter().enumerate() {
        let _ = writeln!(text, "  subgraph wave_{wave} {{\n    rank=same;");
        for &index in members {
            let node = &graph.nodes[index];
            let kind = node.object["kind"].as_str().unwrap_or_default();
            let name = node.object["metadata"]["name"].as_str().unwrap_or_default();
            let _ =
                writeln!(text, "    {} [label={}];", quote(&node.id), quote(&format!("{}\n{kind}/{name}", node.id)));
        }
        text.push_str("  }\n");
    }
    for node in &graph.nodes {
        for dependency in &node.depends_on {
            let _ = writeln!(text, "  {} -> {};", quote(dependency), quote(&node.id));
        }
    }
    text.push_str("}\n");
    text
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

#[cfg(test)]
mod tests {
    use pequod_graph::{Graph, Node};
    use serde_json::json;

    use super::format;
    use crate::render::Format;

    #[test]
    fn yaml_objects_are_written_in_the_official_cue_style() {
        let object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web", "labels": {}},
            "data": {"args": "--verbose", "policy.json": "{\"a\":1}", "script": "set -e\nmake\n", "port": "80"},
        });
        let graph = Graph::new("m", "1.0.0").with_node(Node::new("config", object));
        let plan = graph.validate().expect("a valid graph");
        let want = "---\n# node config (wave 0)\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  labels: {}\n\
                    data:\n  args: --verbose\n  policy.json: '{\"a\":1}'\n  script: |\n    set -e\n    make\n  port: \"80\"\n";
        assert_eq!(format(&graph, &plan, Format::Yaml), want);
    }
}
