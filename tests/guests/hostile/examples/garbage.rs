//! Returns text that is not JSON: refused as a malformed graph.

use pequod_plugin_sdk::{ModuleInfo, RawRenderer, RenderError};

struct Garbage;

impl RawRenderer for Garbage {
    fn info() -> ModuleInfo {
        pequod_hostile_guests::info("garbage")
    }

    fn render(_input: String, _context: String) -> Result<String, RenderError> {
        Ok(r#"{"graphVersion": "pequod.io/graph/v1alpha1", "nodes": [{"id": "a", "object": {"#.to_owned())
    }
}

pequod_plugin_sdk::export_raw_renderer!(Garbage);
