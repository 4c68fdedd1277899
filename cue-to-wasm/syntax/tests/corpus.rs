//! Parses every `.cue` file of the conformance corpus and checks the clean-parse rate.
//!
//! Files the official tool rejects at parse time must produce a syntax error; every other file must
//! parse cleanly, except the few listed in `KNOWN_DIFFERENCES` with the reason.

#![allow(clippy::print_stdout, reason = "the corpus test prints its figures and failures")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files (relative to the cases folder) where we knowingly differ from the official tool, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "script__issue3144__L4/work/invalid.cue",
    "deliberately invalid (`foo :: \"bar\"`, removed syntax); the case only exports valid.cue",
)];

/// Cases where the official tool reports a parse error that we deliberately do not, and why.
const KNOWN_MISSED: &[(&str, &str)] = &[
    ("script__load_module_context__L24", LIST_COMMAS),
    ("script__load_module_context__L27", LIST_COMMAS),
    ("script__load_module_context__L29", LIST_COMMAS),
    ("script__load_module_context__L35", LIST_COMMAS),
];

const LIST_COMMAS: &str = "the module declares a language version before v0.17, which required explicit commas \
    between list elements on separate lines; we implement the current rule";

/// The number of files that parse cleanly today; the test fails if it drops.
const MIN_CLEAN: usize = 8518;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cue-conformance/cases")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "cue") {
            out.push(path);
        }
    }
}

/// Returns true if the case's expected stderr shows a parse error from the official tool.
fn expects_parse_error(case_dir: &Path) -> bool {
    let stderr = std::fs::read_to_string(case_dir.join("expected.stderr")).unwrap_or_default();
    stderr.lines().any(|line| {
        let line = line.trim_start_matches("import failed: ");
        line.starts_with("expected ")
            || line.starts_with("missing ',' ")
            || line.starts_with("illegal ")
            || line.starts_with("string literal not terminated")
            || line.starts_with("unexpected ")
            || line.contains("escape sequence")
    })
}

#[test]
fn corpus_parses() {
    let cases = cases_dir();
    let Ok(entries) = std::fs::read_dir(&cases) else {
        println!("corpus not found at {}; skipping", cases.display());
        return;
    };
    let mut case_dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    case_dirs.sort();
    let (mut clean, mut with_errors) = (0, 0);
    let mut by_prefix: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unexpected = 0;
    let mut missed_parse_errors = Vec::new();
    for case_dir in &case_dirs {
        let mut files = Vec::new();
        collect(&case_dir.join("work"), &mut files);
        files.sort();
        let case_name = case_dir.file_name().unwrap_or_default().to_string_lossy().to_string();
        let expect_error = expects_parse_error(case_dir);
        let mut case_has_error = false;
        for file in files {
            let Ok(source) = std::fs::read_to_string(&file) else { continue };
            let (_, errors) = cue_syntax::parse(&source);
            if errors.is_empty() {
                clean += 1;
                continue;
            }
            with_errors += 1;
            case_has_error = true;
            let relative = file.strip_prefix(&cases).unwrap_or(&file).to_string_lossy().to_string();
            let verdict = if expect_error {
                "expected: the official tool reports a parse error"
            } else if let Some((_, reason)) = KNOWN_DIFFERENCES.iter().find(|(known, _)| *known == relative) {
                reason
            } else {
                unexpected += 1;
                "UNEXPECTED"
            };
            let index = cue_syntax::LineIndex::new(&source);
            let prefix = case_name.split("__").take(2).collect::<Vec<_>>().join("__");
            let first = errors[0].display_with(&index);
            by_prefix.entry(prefix).or_default().push(format!("{relative}:{first} [{verdict}]"));
        }
        if expect_error && !case_has_error && !KNOWN_MISSED.iter().any(|(known, _)| *known == case_name) {
            missed_parse_errors.push(case_name);
        }
    }
    println!("{clean} parsed cleanly, {with_errors} with errors");
    for (prefix, failures) in &by_prefix {
        println!("{prefix}:");
        for failure in failures {
            println!("    {failure}");
        }
    }
    for (case, reason) in KNOWN_MISSED {
        println!("no parse error for {case}, where the official tool reports one: {reason}");
    }
    if !missed_parse_errors.is_empty() {
        println!("cases where the official tool reports a parse error and we do not: {missed_parse_errors:?}");
    }
    assert_eq!(unexpected, 0, "files with unexpected syntax errors");
    assert!(missed_parse_errors.is_empty(), "parse errors we failed to report");
    assert!(clean >= MIN_CLEAN, "the clean-parse count dropped below {MIN_CLEAN}");
}
