//! Loops forever: stopped by fuel, or by the time limit when fuel is not metered.

use pequod_plugin_sdk::{ModuleInfo, RawRenderer, RenderError};

struct Spin;

impl RawRenderer for Spin {
    fn info() -> ModuleInfo {
        pequod_hostile_guests::info("spin")
    }

    fn render(input: String, _context: String) -> Result<String, RenderError> {
        let mut counter = input.len() as u64;
        loop {
            counter = std::hint::black_box(counter.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

pequod_plugin_sdk::export_raw_renderer!(Spin);
