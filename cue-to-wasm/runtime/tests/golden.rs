//! Golden test: the modules we ship render the same objects with our evaluator as with the official `cue`.
//!
//! For every module under `modules/` (except the `policy` package) and each of its example inputs
//! (`examples/<name>.json`, with the context fields of `examples/<name>.context.json` if present), the
//! module is rendered natively with [`pequod_cue_runtime::Module`] and exported by the official tool from a
//! scratch copy of `modules/` in which a generated file of the module's package sets `input` and `context`.
//! Then:
//!
//! - a valid example (`invalid-` is not its name's prefix) must render, and every node of our graph must
//!   equal the official tool's `graph.nodes.<id>` (object, `dependsOn`, `readyWhen`, `applyPolicy`) as JSON
//!   values, with the same node ids and the same `graph.exports`. When our render defers nodes (they wait for
//!   `context.observed`), the official full export fails as well; then each rendered node is exported on
//!   its own (`-e 'graph.nodes["id"]'`) and each node deferred for want of observed state must fail there.
//! - an invalid example must be refused by us (`rejected`) and fail the official export, and every path we
//!   report must appear in the official error (`input.<path>` or `graph.nodes.<id>.object.<path>`).
//!
//! The official binary is `$PEQUOD_CUE_BIN`, else the pinned version `install-cue.sh` puts in the cache
//! (`$PEQUOD_CACHE`, else `$HOME/.cache/pequod`). Without it the test is skipped with a notice, unless
//! `PEQUOD_REQUIRE_CUE=1` (CI), which makes that a failure. Differences in field order (which the JSON
//! comparison ignores) are printed as notes.

#![allow(clippy::print_stderr, reason = "the test prints what it skipped and the field-order notes")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pequod_cue_runtime::{Module, RenderFailure, SourceFile};
use pequod_graph::{Graph, Node, Phase, RenderContext, Severity};
use serde_json::Value;

#[path = "../../cli/tests/difftest/tools.rs"]
#[allow(dead_code, reason = "shared with the differential test, which uses the rest")]
mod tools;

use tools::official_cue;

/// How long one run of the official tool may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The generated file that sets `input` and `context` in the scratch copy.
const OVERLAY: &str = "zz_pequod_golden.cue";

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules")
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The `.cue` files of a directory, sorted by name.
fn cue_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cue"))
        .collect();
    names.sort();
    names
}

fn sources(dir: &Path, prefix: &str) -> Vec<SourceFile> {
    cue_files(dir)
        .iter()
        .map(|n| SourceFile::new(format!("{prefix}{n}"), std::fs::read_to_string(dir.join(n)).unwrap()))
        .collect()
}

/// The package directories of `modules/` (those with `.cue` files), sorted.
fn package_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(modules())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "cue.mod" && !n.starts_with(['.', '_']))
        .filter(|n| !cue_files(&modules().join(n)).is_empty())
        .collect();
    dirs.sort();
    dirs
}

/// The CUE module's path without its major version (`pequod.io/modules`).
fn module_path() -> String {
    let text = std::fs::read_to_string(modules().join("cue.mod/module.cue")).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("module:")).expect("cue.mod declares `module:`");
    let quoted = line.split('"').nth(1).expect("the module path is a string");
    quoted.split('@').next().unwrap_or(quoted).to_owned()
}

/// The package name of a directory's first `.cue` file.
fn package_name(dir: &Path) -> String {
    let first = cue_files(dir).into_iter().next().expect("a .cue file");
    let text = std::fs::read_to_string(dir.join(first)).unwrap();
    let line = text.lines().find(|l| l.starts_with("package ")).expect("a package clause");
    line["package ".len()..].trim().to_owned()
}

/// Loads `modules/<dir>` with every other package of `modules/` importable.
fn load(dir: &str) -> Module {
    let base = module_path();
    let imports = package_dirs()
        .into_iter()
        .filter(|d| d != dir)
        .map(|d| (format!("{base}/{d}"), sources(&modules().join(&d), &format!("{d}/"))))
        .collect();
    Module::load_with_imports(sources(&modules().join(dir), ""), imports)
        .unwrap_or_else(|e| panic!("module {dir} does not load: {e}"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example names of a module (`examples/<name>.json` without the `.context.json` files), sorted.
fn examples(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(modules().join(dir).join("examples"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.ends_with(".context.json"))
        .map(|n| n.trim_end_matches(".json").to_owned())
        .collect();
    names.sort();
    names
}

/// `shop` in `team-a`, with the example's context fields.
fn context_of(dir: &str, example: &str) -> Value {
    let mut context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
    context.labels.insert("app.kubernetes.io/managed-by".into(), "pequod".into());
    let mut context = serde_json::to_value(&context).unwrap();
    let extra = modules().join(dir).join("examples").join(format!("{example}.context.json"));
    if extra.is_file() {
        let Value::Object(fields) = read_json(&extra) else { panic!("{} is not an object", extra.display()) };
        for (k, v) in fields {
            context[k] = v;
        }
    }
    context
}

/// What one run of the official tool did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// The official tool on a scratch copy of `modules/` with `input` and `context` set in `dir`'s package.
struct Official {
    bin: PathBuf,
    root: PathBuf,
    home: PathBuf,
    target: String,
}

impl Official {
    fn prepare(bin: &Path, scratch: &Path, dir: &str, input: &Value, context: &Value) -> Official {
        let root = scratch.join("modules");
        let home = scratch.join("home");
        let _ = std::fs::remove_dir_all(scratch);
        std::fs::create_dir_all(root.join("cue.mod")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::copy(modules().join("cue.mod/module.cue"), root.join("cue.mod/module.cue")).unwrap();
        for package in package_dirs() {
            std::fs::create_dir_all(root.join(&package)).unwrap();
            for file in cue_files(&modules().join(&package)) {
                std::fs::copy(modules().join(&package).join(&file), root.join(&package).join(&file)).unwrap();
            }
        }
        // JSON is CUE; serde_json writes no `\/` escapes, so the texts read back as the same values.
        let overlay = format!(
            "package {}\n\ninput: {}\ncontext: {}\n",
            package_name(&modules().join(dir)),
            serde_json::to_string(input).unwrap(),
            serde_json::to_string(context).unwrap()
        );
        std::fs::write(root.join(dir).join(OVERLAY), overlay).unwrap();
        Official { bin: bin.to_path_buf(), root, home, target: format!("./{dir}") }
    }

    /// `cue export <dir> --out json [-e expr]`, with a clean environment and no registry.
    fn export(&self, expr: Option<&str>) -> Run {
        let mut args = vec!["export".to_owned(), self.target.clone(), "--out".into(), "json".into()];
        if let Some(expr) = expr {
            args.extend(["-e".to_owned(), expr.to_owned()]);
        }
        let out = self.home.join("stdout");
        let err = self.home.join("stderr");
        let mut child = Command::new(&self.bin)
            .args(&args)
            .current_dir(&self.root)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("CUE_CACHE_DIR", self.home.join("cache"))
            .env("CUE_REGISTRY", "none")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stderr = std::fs::read_to_string(&err).unwrap_or_default();
        if status.is_none() {
            stderr.push_str(&format!("\n(killed after {TIMEOUT:?})"));
        }
        Run {
            ok: status.is_some_and(|s| s.success()),
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr,
        }
    }
}

/// An official node (`{object, dependsOn?, …}`) as a graph node with id `id`.
fn official_node(id: &str, value: &Value) -> Result<Node, String> {
    let mut value = value.clone();
    let Value::Object(map) = &mut value else { return Err(format!("graph.nodes.{id} is not a struct")) };
    map.insert("id".into(), Value::String(id.to_owned()));
    serde_json::from_value(value).map_err(|e| format!("the official graph.nodes.{id} is not a node: {e}"))
}

/// Compares one of our nodes with the official one; notes field-order differences.
fn compare_node(case: &str, ours: &Node, official: &Value, problems: &mut Vec<String>, notes: &mut Vec<String>) {
    match official_node(&ours.id, official) {
        Err(e) => problems.push(format!("{case}: {e}")),
        Ok(theirs) if &theirs != ours => problems.push(format!(
            "{case}: node {} differs\n  ours:     {}\n  official: {}",
            ours.id,
            serde_json::to_string(ours).unwrap(),
            serde_json::to_string(&theirs).unwrap()
        )),
        Ok(theirs) => {
            let (a, b) = (serde_json::to_string(&ours.object).unwrap(), serde_json::to_string(&theirs.object).unwrap());
            if a != b {
                let mut at = Vec::new();
                order_differences(&ours.object, &theirs.object, "object", &mut at);
                for at in at {
                    notes.push(format!("{case}: node {}: same values, different field order at {at}", ours.id));
                }
            }
        }
    }
}

/// Every place (a path and both key orders) where two equal values order their fields differently.
fn order_differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let (kx, ky): (Vec<&String>, Vec<&String>) = (x.keys().collect(), y.keys().collect());
            if kx != ky {
                out.push(format!("{at}: ours {kx:?}, official {ky:?}"));
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    order_differences(v, w, &format!("{at}.{k}"), out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                order_differences(v, w, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Where the official tool reports one of our violations: `input.<path>` or `graph.nodes.<id>.object.<path>`.
fn official_path(phase: Phase, path: &str) -> String {
    let dotted = {
        let mut out = String::new();
        let mut rest = path;
        while let Some(open) = rest.find('[') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find(']').map_or(rest.len(), |c| open + c);
            out.push('.');
            out.push_str(&rest[open + 1..close]);
            rest = rest.get(close + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        out
    };
    match phase {
        Phase::Input => format!("input.{dotted}"),
        _ => match dotted.split_once('.') {
            Some((id, rest)) => format!("graph.nodes.{id}.object.{rest}"),
            None => format!("graph.nodes.{dotted}.object"),
        },
    }
}

fn check_valid(
    case: &str,
    ours: Result<Graph, RenderFailure>,
    official: &Official,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let graph = match ours {
        Ok(graph) => graph,
        Err(e) => return problems.push(format!("{case}: a valid example, but our render failed: {e:?}")),
    };
    let deferred: Vec<&str> = graph.deferred.iter().map(|d| d.id.as_str()).collect();
    let run = official.export(None);
    if run.ok {
        if !deferred.is_empty() {
            problems.push(format!("{case}: we deferred {deferred:?}, but the official export succeeded"));
        }
        let root: Value = serde_json::from_str(&run.stdout).expect("the official tool prints JSON");
        let Some(Value::Object(nodes)) = root.pointer("/graph/nodes") else {
            return problems.push(format!("{case}: the official export has no graph.nodes"));
        };
        let mut theirs: Vec<&str> = nodes.keys().map(String::as_str).collect();
        let mut ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        if theirs != ids {
            notes.push(format!("{case}: node order differs: ours {ids:?}, official {theirs:?}"));
        }
        theirs.sort_unstable();
        ids.sort_unstable();
        if theirs != ids {
            return problems.push(format!("{case}: node ids differ: ours {ids:?}, official {theirs:?}"));
        }
        for node in &graph.nodes {
            compare_node(case, node, &nodes[&node.id], problems, notes);
        }
        let exports = root.pointer("/graph/exports").and_then(Value::as_object);
        if graph.exports.as_ref() != exports {
            problems.push(format!("{case}: graph.exports differ: ours {:?}, official {exports:?}", graph.exports));
        }
        return;
    }
    if deferred.is_empty() {
        return problems.push(format!("{case}: we rendered it, but the official export failed:\n{}", run.stderr));
    }
    // Some nodes wait for observed state: the official tool must agree node by node.
    let input = official.export(Some("input"));
    if !input.ok {
        problems.push(format!("{case}: the official tool refuses the input:\n{}", input.stderr));
    }
    for node in &graph.nodes {
        let run = official.export(Some(&format!("graph.nodes[{:?}]", node.id)));
        if !run.ok {
            problems.push(format!("{case}: we rendered node {}, the official tool failed:\n{}", node.id, run.stderr));
            continue;
        }
        let value: Value = serde_json::from_str(&run.stdout).expect("the official tool prints JSON");
        compare_node(case, node, &value, problems, notes);
    }
    assert!(graph.violations.is_empty(), "{case}: {:?}", graph.violations);
    for deferred in &graph.deferred {
        if deferred.reason.contains("depends on deferred node") {
            continue;
        }
        let run = official.export(Some(&format!("graph.nodes[{:?}]", deferred.id)));
        if run.ok {
            problems.push(format!("{case}: we deferred node {}, but the official tool exports it", deferred.id));
        }
    }
}

fn check_invalid(case: &str, ours: Result<Graph, RenderFailure>, official: &Official, problems: &mut Vec<String>) {
    let violations = match ours {
        Err(RenderFailure::Rejected(violations)) => violations,
        other => return problems.push(format!("{case}: an invalid example, but we did not reject it: {other:?}")),
    };
    let run = official.export(None);
    if run.ok {
        return problems.push(format!("{case}: we rejected it ({violations:?}), but the official export succeeded"));
    }
    for v in &violations {
        let path = official_path(v.phase, &v.path);
        if v.severity != Severity::Error || !run.stderr.contains(&format!("{path}:")) {
            problems.push(format!(
                "{case}: our violation {v:?} (official path {path}) is not among the official errors:\n{}",
                run.stderr
            ));
        }
    }
}

#[test]
fn modules_render_like_the_official_cue() {
    let bin = match official_cue() {
        Ok(bin) => bin,
        Err(why) if env_flag("PEQUOD_REQUIRE_CUE") => panic!("{why} (PEQUOD_REQUIRE_CUE=1 makes this a failure)"),
        Err(why) => {
            eprintln!("note: golden test skipped: {why}");
            return;
        }
    };
    let scratch = std::env::temp_dir().join(format!("pequod-golden-{}", std::process::id()));
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut checked = 0;
    for dir in package_dirs().into_iter().filter(|d| d != "policy") {
        let module = load(&dir);
        let names = examples(&dir);
        assert!(!names.is_empty(), "module {dir} has no examples/*.json");
        for name in names {
            let case = format!("{dir}/{name}");
            let input = read_json(&modules().join(&dir).join("examples").join(format!("{name}.json")));
            let context = context_of(&dir, &name);
            let ours = module
                .render(&input.to_string(), &context.to_string())
                .map(|text| serde_json::from_str::<Graph>(&text).expect("a graph"));
            let official = Official::prepare(&bin, &scratch.join(&case), &dir, &input, &context);
            if name.starts_with("invalid-") {
                check_invalid(&case, ours, &official, &mut problems);
            } else {
                check_valid(&case, ours, &official, &mut problems, &mut notes);
            }
            checked += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    for note in &notes {
        eprintln!("note: {note}");
    }
    eprintln!("golden: {checked} examples checked against {}", bin.display());
    assert!(checked > 0, "no module examples found under {}", modules().display());
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn violation_paths_map_to_official_paths() {
    assert_eq!(official_path(Phase::Input, "replicas"), "input.replicas");
    assert_eq!(official_path(Phase::Input, "ports[0].name"), "input.ports.0.name");
    assert_eq!(
        official_path(Phase::Output, "deployment.spec.template.spec.containers[0].image"),
        "graph.nodes.deployment.object.spec.template.spec.containers.0.image"
    );
    assert_eq!(
        official_path(Phase::Output, r#"serviceaccount.metadata.annotations["eks.amazonaws.com/role-arn"]"#),
        r#"graph.nodes.serviceaccount.object.metadata.annotations."eks.amazonaws.com/role-arn""#
    );
}

#[test]
fn node_comparison_reports_values_and_notes_order() {
    let ours =
        official_node("web", &serde_json::json!({"object": {"a": 1, "b": {"c": "x"}}, "dependsOn": ["sa"]})).unwrap();
    let (mut problems, mut notes) = (Vec::new(), Vec::new());
    compare_node(
        "case",
        &ours,
        &serde_json::json!({"dependsOn": ["sa"], "object": {"b": {"c": "x"}, "a": 1}}),
        &mut problems,
        &mut notes,
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        notes,
        [r#"case: node web: same values, different field order at object: ours ["a", "b"], official ["b", "a"]"#]
    );
    compare_node(
        "case",
        &ours,
        &serde_json::json!({"object": {"a": 1, "b": {"c": "y"}}, "dependsOn": ["sa"]}),
        &mut problems,
        &mut notes,
    );
    compare_node("case", &ours, &serde_json::json!({"object": {"a": 1, "b": {"c": "x"}}}), &mut problems, &mut notes);
    compare_node(
        "case",
        &ours,
        &serde_json::json!({"object": {}, "readyWhen": [{"type": "Nope"}]}),
        &mut problems,
        &mut notes,
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("node web differs"), "{problems:?}");
    assert!(problems[2].contains("is not a node"), "{problems:?}");
}
