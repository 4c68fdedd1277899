//! Returns 100 MB of output: refused as too large.

use pequod_plugin_sdk::{ModuleInfo, RawRenderer, RenderError};

struct Flood;

impl RawRenderer for Flood {
    fn info() -> ModuleInfo {
        pequod_hostile_guests::info("flood")
    }

    fn render(_input: String, _context: String) -> Result<String, RenderError> {
        Ok("x".repeat(100_000_000))
    }
}

pequod_plugin_sdk::export_raw_renderer!(Flood);
