//! Sleeps for an hour in a host call, where no fuel is used and no epoch check runs: stopped by the
//! host's time-out around the whole call.

use pequod_plugin_sdk::{ModuleInfo, RawRenderer, RenderError};

struct Sleep;

impl RawRenderer for Sleep {
    fn info() -> ModuleInfo {
        pequod_hostile_guests::info("sleep")
    }

    fn render(_input: String, _context: String) -> Result<String, RenderError> {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Err(RenderError::Failed("woke up".to_owned()))
    }
}

pequod_plugin_sdk::export_raw_renderer!(Sleep);
