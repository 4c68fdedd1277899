//! `cue-to-wasm export --out yaml` against the official `cue`, byte for byte, on CUE fixtures: strings that
//! need each scalar style, numbers, empty and nested collections, `yaml.Marshal`, and several `-e`
//! expressions (one document each). The writer itself is tested string by string in `lib/yaml-out`.
//!
//! Needs the official binary in `PEQUOD_CUE_BIN`; skipped with a note without it, failed when
//! `PEQUOD_REQUIRE_CUE=1`.

#![allow(clippy::print_stderr, reason = "the skip note and the mismatches are the test's report")]

use std::path::{Path, PathBuf};
use std::process::Command;

const STRINGS: &str = r##"
args: ["--port=8080", "-v", "- item", "-", "a- b", "? q", "?q", ":c", "a: b", "foo:", "a#b", "C:\\dir"]
json: "{\"a\":[1,2]}"
words: ["yes", "No", "on", "y", "n", "t", "true", "null", "~", "---", "..."]
numbers: ["123", "1.5", "1e3", "0x1F", "0o17", "017", "1_000", "12:30", "2021-01-01", "1.5 ", "1e3 ", ".inf"]
spaces: ["", " ", " lead", "trail ", "in side"]
escapes: ["tab\there", "bell\u0007", "nel\u0085", "ls\u2028", "été", "😀"]
script: "set -e\nexec nginx\n"
strip: "line1\nline2"
keep: "line1\nline2\n\n"
lead: "\nleading newline"
bad: "  indented\nsecond"
trailing: "a \nb"
nested: [{k: "a\nb\n", l: ["a\nb"]}, ["x\ny"]]
keys: {"a b": 1, "-x": 2, "1": 3, "true": 4, "a: b": 5, "": 6, "y": 8, "x\ny": 9}
"##;

const SHAPES: &str = r##"
i: 1
neg: -3
big: 123456789012345678901234567890
f: 1.5
f2: 1.0
e: 1e30
e2: 1.5e-30
b: true
n: null
em: {}
el: []
ll: [[1, 2], [], [{}], {a: 1, b: [1]}, [[3]]]
lm: [{a: {b: 1}, c: [1, 2]}, {}]
"##;

const MARSHAL: &str = r##"
import "encoding/yaml"

a: yaml.Marshal({x: "a\nb", y: ["a\nb"], z: {}, w: "--foo", j: "{\"a\":1}"})
b: yaml.MarshalStream([{x: 1}, "s", [1], {}])
c: yaml.Marshal("a\nb")
"##;

fn official_cue() -> Option<PathBuf> {
    match std::env::var_os("PEQUOD_CUE_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("PEQUOD_REQUIRE_CUE").as_deref() == Ok("1") => {
            panic!("PEQUOD_REQUIRE_CUE=1 but PEQUOD_CUE_BIN is not set")
        }
        None => {
            eprintln!("note: PEQUOD_CUE_BIN is not set; the comparison with the official cue is skipped");
            None
        }
    }
}

fn stdout(program: &Path, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("CUE_REGISTRY", "none")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(output.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Runs both tools on `source` with `args` (before `in.cue`); reports a mismatch with both outputs.
fn same_output(cue: &Path, source: &str, args: &[&str]) -> bool {
    let directory = tempfile::tempdir().expect("temp dir");
    std::fs::write(directory.path().join("in.cue"), source).expect("write in.cue");
    let args: Vec<&str> = args.iter().copied().chain(["in.cue"]).collect();
    let ours = stdout(Path::new(env!("CARGO_BIN_EXE_cue-to-wasm")), &args, directory.path());
    let theirs = stdout(cue, &args, directory.path());
    if ours != theirs {
        eprintln!("{args:?} on:\n{source}\nours:\n{ours}\nofficial:\n{theirs}");
    }
    ours == theirs
}

#[test]
fn export_out_yaml_matches_the_official_cue() {
    let Some(cue) = official_cue() else { return };
    let cases: &[(&str, &[&str])] = &[
        (STRINGS, &["export", "--out", "yaml"]),
        (SHAPES, &["export", "--out", "yaml"]),
        (MARSHAL, &["export", "--out", "yaml"]),
        (MARSHAL, &["export", "--out", "json"]),
        (SHAPES, &["export", "--out", "yaml", "-e", "i", "-e", "lm", "-e", "em"]),
        (STRINGS, &["export", "--out", "yaml", "-e", "script"]),
    ];
    let mut ok = true;
    for (source, args) in cases {
        ok &= same_output(&cue, source, args);
    }
    assert!(ok, "cue-to-wasm's YAML differs from the official cue's (see above)");
}
