//! Pathological inputs end in a clear error within bounded work: the process neither crashes (stack
//! overflow, abort) nor runs away. Each case runs the real binary under a generous wall-clock bound that only
//! proves termination.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cue-to-wasm export` on `source`; returns exit code, stderr and how long it took.
fn export(source: &str) -> (Option<i32>, String, Duration) {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("in.cue");
    std::fs::File::create(&file).unwrap().write_all(source.as_bytes()).unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cue-to-wasm"))
        .args(["export", "in.cue"])
        .current_dir(directory.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = started + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status.code(), stderr, started.elapsed());
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("no answer within 60 s for:\n{}", &source[..source.len().min(200)]);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_clear_error(name: &str, source: &str, expected: &[&str]) {
    let (code, stderr, elapsed) = export(source);
    assert_eq!(code, Some(1), "{name}: a clean error exit, not a crash (stderr: {stderr})");
    assert!(expected.iter().any(|e| stderr.contains(e)), "{name}: expected one of {expected:?} in:\n{stderr}");
    #[expect(clippy::print_stderr, reason = "a figure for the test log")]
    {
        eprintln!("{name}: error in {:.2} s", elapsed.as_secs_f64());
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let depth = 100_000;
    let source = format!("a: {}1{}\n", "{b: ".repeat(depth), "}".repeat(depth));
    assert_clear_error("deep struct nesting", &source, &["too deep", "nesting", "depth"]);
    let source = format!("a: {}1{}\n", "[".repeat(depth), "]".repeat(depth));
    assert_clear_error("deep list nesting", &source, &["too deep", "nesting", "depth"]);
    let source = format!("a: {}1{}\n", "(".repeat(depth), ")".repeat(depth));
    assert_clear_error("deep parentheses", &source, &["too deep", "nesting", "depth"]);
}

#[test]
fn self_reference_and_recursion_are_cycle_errors() {
    assert_clear_error("growing self-reference", "#T: {next: #T}\nx: #T\n", &["cycle", "too deep"]);
    assert_clear_error("self-embedding", "a: {b: a}\n", &["cycle", "too deep"]);
    assert_clear_error("list self-append", "l: l + [1]\n", &["cycle", "incomplete"]);
}

#[test]
fn exponential_disjunctions_end_within_the_budget() {
    // 2^40 combinations if expanded naively; all branches conflict with the final constraint.
    let mut source = String::from("x: ");
    for i in 0..40 {
        source.push_str(&format!("({{a{i}: 1}} | {{a{i}: 2}}) & "));
    }
    source.push_str("{a0: 3}\n");
    assert_clear_error("exponential disjunction", &source, &["conflict", "empty disjunction", "budget", "too many"]);
}
