//! Reports an internal failure: the module's own `failed` error, passed through.

use pequod_plugin_sdk::{ModuleInfo, RawRenderer, RenderError};

struct Broken;

impl RawRenderer for Broken {
    fn info() -> ModuleInfo {
        pequod_hostile_guests::info("broken")
    }

    fn render(_input: String, _context: String) -> Result<String, RenderError> {
        Err(RenderError::Failed("templates/deployment.cue:12:3: reference \"image\" not found".to_owned()))
    }
}

pequod_plugin_sdk::export_raw_renderer!(Broken);
