//! Our YAML against the official `cue` tool's, byte for byte, on a fixture set of tricky strings (each as a
//! mapping value, a mapping key and a sequence item; the multi-line ones also as whole documents) and on
//! the shapes of collections.
//!
//! Needs the official binary in `PEQUOD_CUE_BIN`; skipped with a note without it, failed when
//! `PEQUOD_REQUIRE_CUE=1`.

#![allow(clippy::print_stderr, reason = "the skip note and the mismatches are the test's report")]

use std::path::{Path, PathBuf};
use std::process::Command;

use pequod_yaml::Node;
use serde_json::{Value, json};

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

/// `cue export --out yaml` of `value` (written as JSON, which is CUE).
fn official_yaml(cue: &Path, value: &Value) -> String {
    let directory = tempfile::tempdir().expect("temp dir");
    let file = directory.path().join("in.cue");
    std::fs::write(&file, ascii(&serde_json::to_string_pretty(value).expect("json"))).expect("write input");
    let output = Command::new(cue)
        .args(["export", "--out", "yaml", "in.cue"])
        .current_dir(directory.path())
        .env("CUE_REGISTRY", "none")
        .output()
        .expect("run the official cue");
    assert!(output.status.success(), "official cue failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// JSON text with every non-ASCII character escaped (CUE refuses a raw byte order mark).
fn ascii(json: &str) -> String {
    json.chars()
        .map(|c| match c as u32 {
            0..0x7f => c.to_string(),
            u @ 0x7f..0x10000 => format!("\\u{u:04x}"),
            u => format!("\\U{u:08x}"),
        })
        .collect()
}

fn fixtures() -> Vec<String> {
    let text = include_str!("fixtures/strings.json");
    serde_json::from_str(text).expect("fixtures/strings.json is a list of strings")
}

/// The lines where two outputs differ, for the failure message.
fn differences(ours: &str, theirs: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    let mut report = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or("<none>"), b.get(i).copied().unwrap_or("<none>"));
        if x != y {
            report.push_str(&format!("line {}: ours {x:?}\n        official {y:?}\n", i + 1));
        }
    }
    report
}

fn compare(cue: &Path, what: &str, value: &Value) -> bool {
    let theirs = official_yaml(cue, value);
    let ours = pequod_yaml::to_string(&Node::from(value));
    if ours == theirs {
        return true;
    }
    eprintln!("{what} differs:\n{}", differences(&ours, &theirs));
    false
}

#[test]
fn fixture_strings_match_the_official_cue() {
    let Some(cue) = official_cue() else { return };
    let strings = fixtures();
    let values: serde_json::Map<String, Value> =
        strings.iter().enumerate().map(|(i, s)| (format!("v{i}"), Value::String(s.clone()))).collect();
    let keys: serde_json::Map<String, Value> = strings.iter().enumerate().map(|(i, s)| (s.clone(), json!(i))).collect();
    let items: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
    let nested: Vec<Value> = strings.iter().map(|s| json!({"k": [s], "m": {"x": s}})).collect();
    let document = json!({"values": values, "keys": keys, "items": items, "nested": nested});
    let mut ok = compare(&cue, "the fixture document", &document);
    for s in strings.iter().filter(|s| s.contains('\n')) {
        ok &= compare(&cue, &format!("the document {s:?}"), &json!(s));
    }
    assert!(ok, "our YAML differs from the official cue's (see above)");
}

#[test]
fn collection_shapes_match_the_official_cue() {
    let Some(cue) = official_cue() else { return };
    let shapes = [
        json!({}),
        json!([]),
        json!([1, 2]),
        json!([[1, []], [{}], {"a": null, "b": [true, false]}, [[["x"]]], {"a": {"b": {"c": []}}}]),
        json!({"a": {"b": {"c": {"d": [1, {"e": [{"f": "g\nh\n"}]}]}}}, "empty": {"m": {}, "l": []}}),
        json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.27", "args": ["--port=8080", "-v"], "ports": [{"containerPort": 80}],
             "command": ["sh", "-c", "set -e\nexec nginx\n"], "env": [{"name": "JSON", "value": "{\"a\":[1]}"}]}
        ]}}}}),
    ];
    let mut ok = true;
    for shape in &shapes {
        ok &= compare(&cue, &shape.to_string(), shape);
    }
    assert!(ok, "our YAML differs from the official cue's (see above)");
}
