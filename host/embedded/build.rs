//! Builds the Rust SDK example renderer for wasm32-wasip2 and lists the CUE files of `modules/`, which the
//! crate embeds as text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    pequod_guest_build::build(&pequod_guest_build::GuestCrate {
        package: "pequod-example-webservice",
        directory: "plugin-sdk/examples/webservice",
        examples: false,
        artifacts: &[("pequod_example_webservice.wasm", "webservice-example.wasm")],
    });

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut table = String::from(
        "/// Every `.cue` file under `modules/`, by path relative to it.\npub const CUE_FILES: &[(&str, &str)] = &[\n",
    );
    for (relative, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(table, "    ({relative:?}, include_str!({:?})),", path.display().to_string()).unwrap();
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("cue_files.rs"), table).expect("OUT_DIR is writable");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else if name.ends_with(".cue") {
            let relative = path.strip_prefix(root).expect("under the root");
            let relative = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            files.push((relative, path));
        }
    }
}
