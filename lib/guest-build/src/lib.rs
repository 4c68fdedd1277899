//! Compiles renderer guest crates of this workspace for `wasm32-wasip2` from a build script.
//!
//! Crates that embed renderers (`pequod-embedded`) or test against them (`pequod-test-guests`) call
//! [`build`] from their `build.rs`. It runs a nested `cargo build --target wasm32-wasip2 --profile guest`
//! in a target directory of its own (`target/guests`), so it never waits on the lock of the outer build,
//! and copies the components into `OUT_DIR`.

#![allow(clippy::print_stdout, reason = "a build script talks to cargo on stdout")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The WebAssembly target renderers are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// What to build: one package of the workspace, its library or its examples.
pub struct GuestCrate<'a> {
    /// The package name, e.g. `pequod-example-webservice`.
    pub package: &'a str,
    /// The package's directory relative to the workspace root, watched for changes.
    pub directory: &'a str,
    /// Build the package's examples (each one a component) instead of its library.
    pub examples: bool,
    /// The artifacts to copy into `OUT_DIR`: `(file name the build produces, name to give the copy)`.
    pub artifacts: &'a [(&'a str, &'a str)],
}

/// Builds `guest` and returns the paths of its artifacts in `OUT_DIR`. Panics with cargo's output when the
/// build fails, which is how a build script reports an error.
pub fn build(guest: &GuestCrate<'_>) -> Vec<PathBuf> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = workspace_root(&manifest_dir);
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("guests");
    for watched in [guest.directory, "plugin-sdk/src", "plugin-sdk/Cargo.toml", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    ensure_target_installed();
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(&root).args(["build", "--package", guest.package, "--target", TARGET, "--profile", "guest"]);
    command.arg("--target-dir").arg(&target_dir);
    if guest.examples {
        command.arg("--examples");
    }
    scrub_environment(&mut command);
    let output =
        command.output().unwrap_or_else(|error| panic!("cannot run cargo to build {}: {error}", guest.package));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains(TARGET) && stderr.contains("target may not be installed") {
            format!("\nhint: install the target with `rustup target add {TARGET}`")
        } else {
            String::new()
        };
        panic!("building the renderer {} for {TARGET} failed:\n{stderr}{hint}", guest.package);
    }

    let built = target_dir.join(TARGET).join("guest").join(if guest.examples { "examples" } else { "" });
    guest
        .artifacts
        .iter()
        .map(|(file, copy)| {
            let from = built.join(file);
            let to = out_dir.join(copy);
            std::fs::copy(&from, &to)
                .unwrap_or_else(|error| panic!("cannot copy {} to {}: {error}", from.display(), to.display()));
            to
        })
        .collect()
}

/// Installs the wasm target with rustup when the toolchain lacks it, so that a fresh checkout builds with
/// one command. `rust-toolchain.toml` lists the target too, but not every rustup installs listed targets
/// into a toolchain that is already present.
fn ensure_target_installed() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(&rustc).args(["--print", "target-libdir", "--target", TARGET]).output();
    let installed = libdir.is_ok_and(|output| {
        output.status.success() && Path::new(String::from_utf8_lossy(&output.stdout).trim()).exists()
    });
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup, which renderers are built for");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status();
    if !status.is_ok_and(|status| status.success()) {
        panic!("the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it and build again");
    }
}

/// The nearest ancestor of `start` whose `Cargo.toml` declares `[workspace]`.
fn workspace_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|dir| std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|text| text.contains("[workspace]")))
        .unwrap_or_else(|| panic!("no workspace root above {}", start.display()))
        .to_owned()
}

/// Removes what the outer cargo set for this build script, so the nested build is an ordinary one: its
/// own target, profile and flags, no clippy wrapper, no coverage instrumentation.
fn scrub_environment(command: &mut Command) {
    const KEEP: [&str; 4] = ["CARGO_HOME", "CARGO_NET_", "CARGO_HTTP_", "CARGO_REGISTRIES_"];
    const REMOVE: [&str; 14] = [
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ];
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let cargo_var = name.starts_with("CARGO_") && !KEEP.iter().any(|keep| name.starts_with(keep));
        if cargo_var || REMOVE.contains(&name) {
            command.env_remove(name);
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; call this from a build script"))
}
