//! Gives the component a stack deep enough for the evaluator's recursion.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        // 16 MiB; the evaluator bounds its nesting (cue_eval::eval::MAX_DEPTH) well within it.
        println!("cargo:rustc-link-arg=-zstack-size=16777216");
    }
}
