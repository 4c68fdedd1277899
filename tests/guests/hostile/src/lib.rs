//! Renderer components that misbehave on purpose. Each example under `examples/` is one component that the
//! sandbox tests run to check that it is stopped or refused with the right error, and that the host keeps
//! serving renders afterwards.

use pequod_plugin_sdk::ModuleInfo;

/// The `info()` every hostile guest returns.
pub fn info(name: &str) -> ModuleInfo {
    ModuleInfo { name: name.to_owned(), version: "0.0.0".to_owned(), input_schema: "{}".to_owned() }
}
