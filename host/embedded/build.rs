//! Builds the embedded renderers for wasm32-wasip2.

fn main() {
    pequod_guest_build::build(&pequod_guest_build::GuestCrate {
        package: "pequod-example-webservice",
        directory: "plugin-sdk/examples/webservice",
        examples: false,
        artifacts: &[("pequod_example_webservice.wasm", "webservice-example.wasm")],
    });
}
