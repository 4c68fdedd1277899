//! Panics halfway through a render: reported as a crash with the panic message.

use pequod_plugin_sdk::{ModuleInfo, RawRenderer, RenderError};

struct Panic;

impl RawRenderer for Panic {
    fn info() -> ModuleInfo {
        pequod_hostile_guests::info("panic")
    }

    fn render(input: String, _context: String) -> Result<String, RenderError> {
        let replicas: Vec<u32> = Vec::new();
        let index = input.len();
        panic!("renderer bug: no replica count at index {index} of {replicas:?}");
    }
}

pequod_plugin_sdk::export_raw_renderer!(Panic);
