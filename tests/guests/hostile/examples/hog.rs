//! Allocates without bound, touching every page: stopped by the memory limit.

use pequod_plugin_sdk::{ModuleInfo, RawRenderer, RenderError};

struct Hog;

impl RawRenderer for Hog {
    fn info() -> ModuleInfo {
        pequod_hostile_guests::info("hog")
    }

    fn render(_input: String, _context: String) -> Result<String, RenderError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0x55; 8 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

pequod_plugin_sdk::export_raw_renderer!(Hog);
