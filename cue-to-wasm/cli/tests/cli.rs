//! The command line itself (clap): `--version`, per-command `--help`, usage errors (status 2, naming the
//! flag) and an export through the built binary.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cue-to-wasm")).args(args).current_dir(dir).output().expect("cue-to-wasm runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["--version"], Path::new("."));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("cue-to-wasm {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn each_command_help_names_its_flags() {
    let table: &[(&str, &[&str])] = &[
        ("export", &["--out", "--expression", "--path", "--with-context", "--max-steps", "--max-memory", "--timeout"]),
        ("vet", &["--path", "--with-context", "--max-steps", "--max-memory", "--timeout"]),
        ("build", &["--output", "MODULE_DIR"]),
    ];
    for (command, flags) in table {
        let out = run(&[command, "--help"], Path::new("."));
        assert_eq!(out.status.code(), Some(0), "{command} --help: {}", text(&out.stderr));
        let help = text(&out.stdout);
        for flag in *flags {
            assert!(help.contains(flag), "{command} --help does not name {flag}:\n{help}");
        }
    }
    let top = text(&run(&["--help"], Path::new(".")).stdout);
    for command in ["export", "vet", "build"] {
        assert!(top.contains(command), "--help does not name {command}:\n{top}");
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let table: &[(&[&str], &str)] = &[
        (&["export", "--frobnicate", "x.cue"], "--frobnicate"),
        (&["export", "--out", "toml"], "toml"),
        (&["export", "--max-memory", "lots"], "invalid size \"lots\""),
        (&["vet", "--timeout", "30"], "invalid duration \"30\""),
        (&["build"], "MODULE_DIR"),
        (&["eval"], "eval"),
    ];
    for (args, needle) in table {
        let out = run(args, Path::new("."));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: stderr does not name {needle}:\n{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: printed {}", text(&out.stdout));
    }
}

#[test]
fn export_and_vet_still_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("in.cue"), "a: 1\nb: {c: \"x\"}\n").expect("write in.cue");
    let out = run(&["export", "--out", "json", "-e", "b", "in.cue", "-e", "a"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\n    \"c\": \"x\"\n}\n1\n");
    let yaml = run(&["export", "--out=yaml", "in.cue"], dir.path());
    assert_eq!(text(&yaml.stdout), "a: 1\nb:\n  c: x\n");
    let vet = run(&["vet", "in.cue"], dir.path());
    assert_eq!((vet.status.code(), vet.stdout.is_empty()), (Some(0), true), "{}", text(&vet.stderr));
}

#[test]
fn evaluation_errors_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("in.cue"), "a: 1\na: 2\n").expect("write in.cue");
    for command in ["export", "vet"] {
        let out = run(&[command, "in.cue"], dir.path());
        assert_eq!(out.status.code(), Some(1), "{command}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("conflicting values"), "{command}: {}", text(&out.stderr));
    }
}
