//! Builds the CUE renderer runtime component for wasm32-wasip2; this crate ships it inside itself.

fn main() {
    pequod_guest_build::build(&pequod_guest_build::GuestCrate {
        package: "pequod-cue-runtime-component",
        directory: "cue-to-wasm/runtime",
        examples: false,
        artifacts: &[("pequod_cue_runtime_component.wasm", "cue-runtime.wasm")],
    });
    // The runtime embeds the evaluator: rebuild it when the evaluator changes.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for watched in ["cue-to-wasm/syntax/src", "cue-to-wasm/eval/src", "wit/graph/src"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
}
