//! Pathological inputs end in a clear error within bounded work: the process neither crashes (stack
//! overflow, abort) nor runs away. Each case runs the real binary under a generous wall-clock bound that only
//! proves termination.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One run at a time: the cases are heavy, and run side by side on two cores they would slow each other
/// towards the deadline.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `cue-to-wasm <args> in.cue` with `source` as `in.cue`; returns exit code, stderr and how long it took.
fn run(args: &[&str], source: &str) -> (Option<i32>, String, Duration) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("in.cue");
    std::fs::File::create(&file).unwrap().write_all(source.as_bytes()).unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cue-to-wasm"))
        .args(args)
        .arg("in.cue")
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
    assert_stopped(name, &["export"], source, expected);
}

fn assert_stopped(name: &str, args: &[&str], source: &str, expected: &[&str]) {
    let (code, stderr, elapsed) = run(args, source);
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

/// A comprehension over three nested ranges of a thousand: 10^9 elements.
const BILLION_ELEMENTS: &str = "import \"list\"\nx: [for i in list.Range(0, 1000, 1) for j in list.Range(0, 1000, 1) \
                                for k in list.Range(0, 1000, 1) {i}]\n";

/// `a40` is `"x"` doubled 40 times: a string of 2^40 bytes.
fn doubled_string() -> String {
    let mut source = String::from("a0: \"x\"\n");
    for i in 1..=40 {
        source.push_str(&format!("a{i}: a{}+a{}\n", i - 1, i - 1));
    }
    source
}

#[test]
fn a_billion_element_comprehension_stops_at_the_step_limit() {
    let step_limit = "step limit of 3000000 steps exceeded; raise it with --max-steps";
    assert_stopped("10^9 elements (export)", &["export"], BILLION_ELEMENTS, &[step_limit]);
    let one_range = "import \"list\"\nx: [for i in list.Range(0, 1000000000, 1) {i}]\n";
    assert_stopped("one range of 10^9", &["export"], one_range, &["range too long", step_limit]);
    let lower = "step limit of 100000 steps exceeded; raise it with --max-steps";
    assert_stopped("10^9 elements, vet --max-steps", &["vet", "--max-steps", "100000"], BILLION_ELEMENTS, &[lower]);
}

#[test]
fn a_string_doubled_forty_times_stops_at_the_memory_limit() {
    let source = doubled_string();
    let default = "memory limit of 2Gi exceeded; raise it with --max-memory";
    assert_stopped("string doubled 40 times", &["export"], &source, &[default]);
    let lower = "memory limit of 256Mi exceeded; raise it with --max-memory";
    assert_stopped("string doubled 40 times, --max-memory", &["vet", "--max-memory=256Mi"], &source, &[lower]);
}

#[test]
fn the_timeout_stops_what_the_other_limits_let_through() {
    let args = ["export", "--max-steps", "1000000000000", "--timeout", "1s"];
    let expected = "time limit of 1s exceeded; raise it with --timeout";
    assert_stopped("10^9 elements, only a timeout", &args, BILLION_ELEMENTS, &[expected]);
}

#[test]
fn limits_leave_ordinary_inputs_alone() {
    let (code, stderr, _) =
        run(&["export", "--max-steps", "1000", "--max-memory", "1Gi", "--timeout", "10s"], "a: 1\n");
    assert_eq!(code, Some(0), "{stderr}");
    for (flag, value) in [("--max-steps", "0"), ("--max-memory", "lots"), ("--timeout", "30")] {
        let (code, stderr, _) = run(&["export", flag, value], "a: 1\n");
        assert_eq!(code, Some(2), "{flag} {value}: a usage error");
        assert!(stderr.contains(&format!("{value:?}")), "{flag} {value}: {stderr}");
    }
}
