//! Returns a graph whose nodes depend on each other in a circle: refused as an invalid graph.

use pequod_plugin_sdk::{Graph, Node, RenderContext, RenderError, Renderer, Value, json};

struct Cycle;

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
}

impl Renderer for Cycle {
    const NAME: &'static str = "cycle";
    const VERSION: &'static str = "0.0.0";
    type Input = Value;

    fn input_schema() -> Value {
        json!({})
    }

    fn render(_input: Value, _context: &RenderContext) -> Result<Graph, RenderError> {
        Ok(Graph::new(Self::NAME, Self::VERSION)
            .with_node(Node::new("first", config_map("first")).depends_on("third"))
            .with_node(Node::new("second", config_map("second")).depends_on("first"))
            .with_node(Node::new("third", config_map("third")).depends_on("second")))
    }
}

pequod_plugin_sdk::export_renderer!(Cycle);
