//! `pequod` as a user runs it: the real binary, the shipped examples, and the hostile guests.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pequod_graph::Graph;
use pequod_test_guests::Guest;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> PathBuf {
    repository().join("examples").join(name)
}

/// The cache of compiled modules shared by this binary's tests (compiling a CUE module takes seconds).
static CACHE: std::sync::LazyLock<tempfile::TempDir> = std::sync::LazyLock::new(|| tempfile::tempdir().unwrap());

/// Runs `pequod` with `arguments`, caching compiled modules in a directory of this test binary's own.
fn pequod(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pequod"))
        .args(arguments)
        .env("PEQUOD_CACHE_DIR", CACHE.path())
        .output()
        .expect("pequod runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn render(transform: &Path, extra: &[&str]) -> Output {
    let mut arguments = vec!["render", transform.to_str().unwrap()];
    arguments.extend_from_slice(extra);
    pequod(&arguments)
}

#[test]
fn every_example_renders_or_is_rejected_as_its_name_says() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repository().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "yaml") {
            continue;
        }
        seen += 1;
        let output = render(&path, &[]);
        let expected = if path.to_string_lossy().contains("invalid") { 10 } else { 0 };
        assert_eq!(output.status.code(), Some(expected), "{}: {}", path.display(), stderr(&output));
    }
    assert!(seen >= 3, "examples/ should hold the shipped Transforms");
}

#[test]
fn yaml_lists_objects_in_apply_order() {
    let output = render(&example("webservice-autoscaled.yaml"), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let kinds: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("kind: ")).collect();
    assert_eq!(kinds, ["ServiceAccount", "NetworkPolicy", "Deployment", "Service", "HorizontalPodAutoscaler"]);
    assert!(text.contains("# node hpa (wave 2), depends on deployment\n"), "{text}");
    assert!(stderr(&output).contains("rendered 5 nodes in 3 waves with webservice 1.0.0"), "{}", stderr(&output));
}

#[test]
fn json_is_the_graph_artifact() {
    let output = render(&example("webservice.yaml"), &["-o", "json", "--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let graph: Graph = serde_json::from_slice(&output.stdout).expect("stdout is a Graph");
    assert!(graph.validate().is_ok());
    assert!(graph.metadata.digest.as_deref().is_some_and(|digest| digest.starts_with("sha256:")));
    let deployment = graph.nodes.iter().find(|node| node.id == "deployment").expect("a deployment node");
    assert_eq!(deployment.object["spec"]["replicas"], 3);
    assert!(stderr(&output).is_empty(), "--quiet prints nothing on stderr");
}

#[test]
fn dot_draws_the_dependency_edges() {
    let output = render(&example("webservice-autoscaled.yaml"), &["-o", "dot"]);
    let text = stdout(&output);
    assert!(text.starts_with("digraph \"webservice\" {"), "{text}");
    assert!(text.contains("  \"deployment\" -> \"hpa\";\n"), "{text}");
}

#[test]
fn rejected_input_lists_spec_input_paths() {
    let output = render(&example("webservice-invalid.yaml"), &[]);
    assert_eq!(output.status.code(), Some(10));
    let report = stderr(&output);
    assert!(report.contains("failed (Rejected)"), "{report}");
    assert!(report.contains("error (input) at spec.input.replicas: invalid value 50 (out of bound <=20)"), "{report}");
    assert!(report.contains("at spec.input.autoscaling.maxReplicas"), "{report}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn each_hostile_guest_fails_with_its_own_exit_code() {
    let cases: [(Guest, i32, &str); 8] = [
        (pequod_test_guests::SPIN, 12, "failed (FuelExhausted)"),
        (pequod_test_guests::HOG, 13, "failed (MemoryLimitExceeded)"),
        (pequod_test_guests::SLEEP, 14, "failed (Timeout)"),
        (pequod_test_guests::FLOOD, 15, "the rendered graph is 100000000 bytes"),
        (pequod_test_guests::PANIC, 17, "renderer bug: no replica count"),
        (pequod_test_guests::GARBAGE, 18, "failed (MalformedGraph)"),
        (pequod_test_guests::CYCLE, 19, "first -> third -> second -> first"),
        (pequod_test_guests::BROKEN, 11, "failed (RenderFailed)"),
    ];
    for (guest, code, message) in cases {
        let started = Instant::now();
        // Room for the 100 MB FLOOD builds, so that the output limit is what stops it; and time, on a busy
        // machine, for every guest but the one that sleeps.
        let timeout = if code == 14 { "1s" } else { "10s" };
        let args = ["--module", guest.path, "--memory", "256Mi", "--timeout", timeout];
        let output = render(&example("webservice.yaml"), &args);
        let elapsed = started.elapsed();
        assert_eq!(output.status.code(), Some(code), "{}: {}", guest.name, stderr(&output));
        assert!(stderr(&output).contains(message), "{}: {}", guest.name, stderr(&output));
        assert!(stdout(&output).is_empty(), "{} printed a graph", guest.name);
        assert!(elapsed < Duration::from_secs(20), "{} took {elapsed:?}", guest.name);
    }
}

#[test]
fn limits_are_flags() {
    let output = render(&example("webservice.yaml"), &["--max-nodes", "1"]);
    assert_eq!(output.status.code(), Some(16), "{}", stderr(&output));
    let output = render(&example("webservice.yaml"), &["--fuel", "1000"]);
    assert_eq!(output.status.code(), Some(12), "{}", stderr(&output));
    let output = render(&example("webservice.yaml"), &["--memory", "lots"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn unknown_embedded_module_lists_the_known_ones() {
    let transform =
        std::fs::read_to_string(example("webservice.yaml")).unwrap().replace("ref: webservice", "ref: nope");
    let output = render_stdin(&transform);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains(
            "no embedded module named \"nope\"; this binary embeds: webservice, database, ack-iam-webservice, \
             webservice-example"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unresolvable_sources_say_what_to_do() {
    let transform = std::fs::read_to_string(example("webservice.yaml"))
        .unwrap()
        .replace("type: embedded", "type: oci")
        .replace("ref: webservice", "ref: registry.example/modules/web:1.0");
    let output = render_stdin(&transform);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("pass it with --module <file.wasm>"), "{}", stderr(&output));
}

#[test]
fn bad_manifests_and_modules_are_reported() {
    let output = pequod(&["render", "no/such/file.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read no/such/file.yaml"));

    let output = render_stdin("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("expected apiVersion platform.pequod.io/v1alpha1 and kind Transform"));

    let not_wasm = example("webservice.yaml");
    let output = render(&example("webservice.yaml"), &["--module", not_wasm.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("is not a valid WebAssembly component"), "{}", stderr(&output));
}

#[test]
fn modules_lists_the_embedded_modules() {
    let output = pequod(&["modules"]);
    assert!(output.status.success());
    let listed = stdout(&output);
    let names: Vec<&str> = listed.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert_eq!(names, ["webservice", "database", "ack-iam-webservice", "webservice-example"]);
}

fn render_stdin(transform: &str) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pequod"))
        .args(["render", "-"])
        .env("PEQUOD_CACHE_DIR", cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(transform.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn completion_scripts_complete_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = pequod(&["completion", shell]);
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        for command in ["render", "module", "run", "completion"] {
            assert!(script.contains(command), "{shell}: the script does not know {command}");
        }
    }
    // The bash script, sourced by a real bash, completes `pequod mod` to the two commands starting so.
    let script = stdout(&pequod(&["completion", "bash"]));
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{script}\nCOMP_WORDS=(pequod mod); COMP_CWORD=1; _pequod pequod mod pequod; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let mut completions: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    completions.sort();
    assert_eq!(completions, ["module", "modules"]);
    let unknown = pequod(&["completion", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("bash"), "the error lists the shells: {}", stderr(&unknown));
}

#[test]
fn compiling_a_module_shows_progress_on_a_terminal_only() {
    // A cache of its own, so the module is compiled (seconds) rather than found.
    let cache = tempfile::tempdir().unwrap();
    let transform = example("webservice.yaml");
    let piped = Command::new(env!("CARGO_BIN_EXE_pequod"))
        .args(["render", transform.to_str().unwrap()])
        .env("PEQUOD_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(stderr(&piped).starts_with("rendered "), "piped stderr has no progress line: {:?}", stderr(&piped));

    // On a terminal (`script` gives the command one), the step is named while it runs.
    let cache = tempfile::tempdir().unwrap();
    let command = format!("{} render {} >/dev/null", env!("CARGO_BIN_EXE_pequod"), transform.display());
    let terminal = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("PEQUOD_CACHE_DIR", cache.path())
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    assert!(terminal.status.success(), "{}", stdout(&terminal));
    let screen = stdout(&terminal);
    assert!(screen.contains("compiling webservice from CUE"), "no progress line on the terminal: {screen:?}");
    assert!(screen.contains("rendered "), "{screen:?}");
}
