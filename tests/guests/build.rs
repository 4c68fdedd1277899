//! Builds the hostile renderers for wasm32-wasip2.

fn main() {
    let names = ["spin", "hog", "flood", "cycle", "panic", "garbage", "sleep", "broken"];
    let artifacts: Vec<(String, String)> =
        names.iter().map(|name| (format!("{name}.wasm"), format!("{name}.wasm"))).collect();
    let artifacts: Vec<(&str, &str)> = artifacts.iter().map(|(from, to)| (from.as_str(), to.as_str())).collect();
    pequod_guest_build::build(&pequod_guest_build::GuestCrate {
        package: "pequod-hostile-guests",
        directory: "tests/guests/hostile",
        examples: true,
        artifacts: &artifacts,
    });
}
