//! Differential test: runs the official `cue` and our `cue-to-wasm` side by side on
//! - the conformance corpus (`shared/cue-conformance/cases`, sampled; `PEQUOD_DIFF_CORPUS=all` for every case),
//! - every package of every CUE module under `modules/`,
//! - the Timoni-style fixture `cue-to-wasm/testdata/k8s-module` with generated `apps/v1`+`core/v1` schemas,
//! - the idioms of platform modules, `cue-to-wasm/testdata/idioms/<name>` (a module and its `args` line),
//! - a few hundred generated programs (`difftest/generator.rs`),
//!
//! and compares exit status, JSON values and error classes (the rules of `shared/cue-conformance/replay.py`);
//! for our own inputs (modules, fixtures, generated programs) the output must also be byte-identical, which
//! holds the official field order and number formatting.
//! Known divergences live in `divergences.txt` next to this file; the test fails on any divergence that is
//! not listed there. Every run prints the divergences by kind (`difftest/kinds.rs`: silent-accept, wrong value,
//! spurious reject, wrong error class, output differs) for the corpus sample and for our own inputs, and a
//! default run fails when a silent kind rises above its ceiling (`CORPUS_CEILINGS`, `OWN_CEILINGS`).
//!
//! The official binary is `$PEQUOD_CUE_BIN`, else the pinned version installed by
//! `cue-to-wasm/scripts/install-cue.sh`; without it the test is skipped with a note, unless
//! `PEQUOD_REQUIRE_CUE=1` (CI), which makes a missing binary or schema tree a failure.
//!
//! Knobs: `PEQUOD_UPDATE_DIVERGENCES=1` rewrites the list; `PEQUOD_STRICT_DIVERGENCES=1` also fails on listed
//! entries that now agree; `PEQUOD_DIFF_FILTER=text` checks only ids containing `text`; `PEQUOD_DIFF_CORPUS`
//! (`all`, `none`, or `N` for one case in N), `PEQUOD_DIFF_PROGRAMS` (count), `PEQUOD_DIFF_JOBS` (threads) and
//! `PEQUOD_DIFF_SHOW_INEXACT=1` (print the items whose values agree but whose bytes differ, e.g. field order).
//!
//! Regenerate the list (after the evaluator changed):
//! `PEQUOD_UPDATE_DIVERGENCES=1 cargo test -p cue-to-wasm --test differential -- --nocapture`

#![allow(clippy::print_stderr, reason = "the test's purpose is to print the comparison figures and divergences")]

mod difftest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use difftest::compare::{Verdict, clip, compare};
use difftest::divergences::{Known, Outcomes, reconcile, write_updated};
use difftest::generator;
use difftest::kinds::{Ceilings, Kind, Table};
use difftest::tools::{self, Invocation, Run};
use serde_json::Value;

/// The time one run of one tool may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Generated programs checked by default.
const DEFAULT_PROGRAMS: usize = 300;
/// By default one corpus case in this many is checked (the conformance test already runs all of them
/// against the recorded expectations).
const DEFAULT_CORPUS_SAMPLE: u64 = 4;
/// New divergences printed with their inputs and both outputs (the rest get one line each).
const DETAILED: usize = 12;
/// Mixed into every generated program's seed; changing it changes every `gen:` id's program.
const GENERATOR_SEED: u64 = 0x5045_5155_4f44;
/// The silent kinds may not rise above these counts in a default run (no filter, the default corpus sample and
/// program count): the corpus sample, and our own inputs (modules, fixtures, generated programs). Lower them as
/// they are fixed; the goal is zero.
const CORPUS_CEILINGS: Ceilings = Ceilings { silent_accept: 19, wrong_value: 4 };
/// See [`CORPUS_CEILINGS`].
const OWN_CEILINGS: Ceilings = Ceilings { silent_accept: 0, wrong_value: 0 };

/// How a checked item's input directory is produced.
enum Setup {
    /// A copy of this directory.
    Copy(PathBuf),
    /// The k8s fixture with the generated schema tree.
    K8sModule(PathBuf),
    /// One file `prog.cue` with this text.
    Program(String),
}

/// One thing both tools run.
struct Item {
    id: String,
    setup: Setup,
    args: Vec<String>,
    /// The working directory, relative to the input root.
    cwd: String,
    env: Vec<(String, String)>,
    /// A file for stdin, relative to the input root.
    stdin: Option<String>,
    /// Compare stdout as JSON values.
    json: bool,
    /// The official tool's recorded behaviour (corpus cases): exit code, stdout, stderr.
    recorded: Option<Run>,
    /// The official tool must succeed on it (our own fixtures): otherwise the fixture is broken.
    official_must_succeed: bool,
}

struct Checked {
    id: String,
    verdict: Verdict,
    /// When the live official tool disagrees with the corpus recording: the description.
    drift: Option<String>,
    /// What to print when the item diverges unexpectedly.
    detail: String,
    official_failed_on_fixture: Option<String>,
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn differential_against_official_cue() {
    let require = env_flag("PEQUOD_REQUIRE_CUE");
    let official = match tools::official_cue() {
        Ok(bin) => bin,
        Err(why) if require => panic!("{why} (PEQUOD_REQUIRE_CUE=1 makes this a failure)"),
        Err(why) => {
            eprintln!("note: differential test skipped: {why}");
            return;
        }
    };
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_cue-to-wasm"));
    let list_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/divergences.txt");
    let known = Known::load(&list_path).unwrap_or_else(|e| panic!("{e}"));

    let mut items = corpus_items();
    items.extend(module_items());
    match tools::k8s_gen_tree() {
        Ok(gen_tree) => items.extend(fixture_items(Some(&gen_tree))),
        Err(why) if require => panic!("{why} (PEQUOD_REQUIRE_CUE=1 makes this a failure)"),
        Err(why) => {
            eprintln!("note: the k8s-module fixture is not checked: {why}");
            items.extend(fixture_items(None));
        }
    }
    items.extend(generated_items());
    if let Ok(filter) = std::env::var("PEQUOD_DIFF_FILTER") {
        items.retain(|item| item.id.contains(&filter));
    }

    let start = Instant::now();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let checked = run_all(items, &official, &ours, scratch.path());
    eprintln!(
        "official: {}\nchecked {} items in {:.1} s",
        official.display(),
        checked.len(),
        start.elapsed().as_secs_f64()
    );

    let broken: Vec<&String> = checked.iter().filter_map(|c| c.official_failed_on_fixture.as_ref()).collect();
    assert!(broken.is_empty(), "the official cue rejects our own fixtures (fix them): {broken:#?}");

    summarize(&checked);
    let over = silent_over_ceilings(&checked);
    if env_flag("PEQUOD_DIFF_SHOW_INEXACT") {
        for c in checked.iter().filter(|c| c.verdict == Verdict::Agree { exact: false }) {
            eprintln!("--- {} (same value, different bytes)\n{}", c.id, c.detail);
        }
    }
    let outcomes: Outcomes = checked
        .iter()
        .map(|c| {
            let divergence = match &c.verdict {
                Verdict::Agree { .. } => None,
                Verdict::Diverge(_, d) => Some(d.clone()),
            };
            (c.id.clone(), divergence)
        })
        .collect();
    let mut reconciled = reconcile(&known, &outcomes);
    // Our own inputs first: the corpus has its own test (conformance.rs) and is printed last.
    reconciled.new.sort_by_key(|(id, _)| (id.starts_with("corpus:"), id.clone()));
    eprintln!(
        "divergences: {} listed and still diverging, {} new, {} listed but now agreeing",
        reconciled.still,
        reconciled.new.len(),
        reconciled.fixed.len()
    );
    if env_flag("PEQUOD_UPDATE_DIVERGENCES") {
        let total = write_updated(&list_path, &known, &outcomes).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("rewrote {} ({total} entries)", list_path.display());
        return;
    }
    if !reconciled.fixed.is_empty() {
        eprintln!("listed divergences that now agree (remove them from divergences.txt):");
        for id in &reconciled.fixed {
            eprintln!("  {id}");
        }
    }
    if !reconciled.new.is_empty() {
        let details: BTreeMap<&str, &str> = checked.iter().map(|c| (c.id.as_str(), c.detail.as_str())).collect();
        eprintln!(
            "new divergences (not in divergences.txt), with the inputs and both outputs of the first {DETAILED}:"
        );
        for (n, (id, description)) in reconciled.new.iter().enumerate() {
            eprintln!("---- {id}: {description}");
            if n < DETAILED {
                eprintln!("{}", details.get(id.as_str()).copied().unwrap_or_default());
            }
        }
    }
    assert!(
        reconciled.new.is_empty(),
        "{} divergences from the official cue are not in {} (fix them, or list them with a reason)",
        reconciled.new.len(),
        list_path.display()
    );
    assert!(over.is_empty(), "silent divergences went up (inputs, kind, count, ceiling): {over:?}");
    assert!(
        !env_flag("PEQUOD_STRICT_DIVERGENCES") || reconciled.fixed.is_empty(),
        "{} listed divergences now agree; remove them from {}",
        reconciled.fixed.len(),
        list_path.display()
    );
}

fn summarize(checked: &[Checked]) {
    let mut kinds: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for c in checked {
        let kind = c.id.split(':').next().unwrap_or("?");
        let entry = kinds.entry(kind).or_default();
        entry.0 += 1;
        match c.verdict {
            Verdict::Agree { exact } => {
                entry.1 += 1;
                entry.2 += usize::from(exact);
            }
            Verdict::Diverge(..) => {}
        }
    }
    eprintln!("{:<8} {:>6} {:>6} {:>12} {:>8}", "kind", "items", "agree", "byte-exact", "diverge");
    for (kind, (n, agree, exact)) in &kinds {
        eprintln!("{kind:<8} {n:>6} {agree:>6} {exact:>12} {:>8}", n - agree);
    }
    let drift: Vec<(&String, &String)> = checked.iter().filter_map(|c| c.drift.as_ref().map(|d| (&c.id, d))).collect();
    let recorded = checked.iter().filter(|c| c.id.starts_with("corpus:")).count();
    if recorded > 0 {
        eprintln!(
            "official cue vs the corpus recordings: {} of {recorded} agree (a disagreement means version drift \
             or a nondeterministic case)",
            recorded - drift.len()
        );
        for (id, d) in drift.iter().take(5) {
            eprintln!("  {id}: {d}");
        }
    }
}

/// Prints the table for the corpus sample and for our own inputs, and returns the silent kinds above
/// their ceilings (checked only in a default run, whose item set the ceilings were recorded on).
fn silent_over_ceilings(checked: &[Checked]) -> Vec<(&'static str, Kind, usize, usize)> {
    let default_run = ["PEQUOD_DIFF_FILTER", "PEQUOD_DIFF_CORPUS", "PEQUOD_DIFF_PROGRAMS"]
        .iter()
        .all(|name| std::env::var_os(name).is_none());
    let mut over = Vec::new();
    for (inputs, corpus, ceilings) in
        [("corpus sample", true, CORPUS_CEILINGS), ("our inputs (modules, fixtures, generated)", false, OWN_CEILINGS)]
    {
        let mut table = Table::default();
        for c in checked.iter().filter(|c| c.id.starts_with("corpus:") == corpus) {
            table.add(match &c.verdict {
                Verdict::Agree { .. } => None,
                Verdict::Diverge(kind, _) => Some(*kind),
            });
        }
        eprintln!("{}", table.render(&format!("divergences, {inputs}:")));
        for c in checked.iter().filter(|c| c.id.starts_with("corpus:") == corpus) {
            if let Verdict::Diverge(kind, what) = &c.verdict
                && kind.is_silent()
            {
                eprintln!("  {kind}: {}  {}", c.id, clip(what, 120));
            }
        }
        if default_run {
            over.extend(table.over_ceilings(&ceilings).into_iter().map(|(k, n, max)| (inputs, k, n, max)));
        }
    }
    if !default_run {
        eprintln!("note: the ceilings of the silent kinds are checked only in a default run");
    }
    over
}

fn run_all(items: Vec<Item>, official: &Path, ours: &Path, scratch: &Path) -> Vec<Checked> {
    let workers = env_number("PEQUOD_DIFF_JOBS").map_or(2, |n| usize::try_from(n.max(1)).unwrap_or(2));
    let queue = Mutex::new(items.into_iter().enumerate());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some((n, item)) = next else { break };
                    let checked = check(&item, official, ours, &scratch.join(n.to_string()));
                    results.lock().expect("results").push(checked);
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.id.cmp(&b.id));
    results
}

/// Runs both tools on one item (each in its own copy of the inputs) and compares.
fn check(item: &Item, official: &Path, ours: &Path, dir: &Path) -> Checked {
    let theirs = run_tool(item, official, &dir.join("official"));
    let mine = run_tool(item, ours, &dir.join("ours"));
    let _ = std::fs::remove_dir_all(dir);
    let mut verdict = compare(&theirs, &mine, item.json);
    // Our own inputs must print the very same bytes (field order, number formatting); the corpus, whose
    // byte-exact share is reported, is held to equal values like `shared/cue-conformance/replay.py`.
    if !item.id.starts_with("corpus:") && verdict == (Verdict::Agree { exact: false }) {
        verdict =
            Verdict::Diverge(Kind::OutputDiffers, "same value, different bytes (field order or formatting)".into());
    }
    let drift = item.recorded.as_ref().and_then(|recorded| match compare(recorded, &theirs, item.json) {
        Verdict::Agree { .. } => None,
        Verdict::Diverge(_, d) => Some(d),
    });
    let official_failed_on_fixture = (item.official_must_succeed && !theirs.ok())
        .then(|| format!("{}: {}", item.id, String::from_utf8_lossy(&theirs.stderr)));
    let mut detail = String::new();
    if let Setup::Program(text) = &item.setup {
        detail.push_str(&format!("program:\n{text}"));
    }
    if let Setup::Copy(dir) = &item.setup {
        detail.push_str(&format!("inputs: {}\n", dir.display()));
    }
    detail.push_str(&format!("args: {}\n", item.args.join(" ")));
    for (who, run) in [("official", &theirs), ("ours", &mine)] {
        detail.push_str(&format!(
            "{who}: exit {:?}\n  stdout: {}\n  stderr: {}\n",
            run.code,
            clip(String::from_utf8_lossy(&run.stdout).trim(), 1500).replace('\n', "\n  "),
            clip(String::from_utf8_lossy(&run.stderr).trim(), 800).replace('\n', "\n  ")
        ));
    }
    Checked { id: item.id.clone(), verdict, drift, detail, official_failed_on_fixture }
}

fn run_tool(item: &Item, bin: &Path, dir: &Path) -> Run {
    let root = dir.join("root");
    let home = dir.join("home");
    let prepared = std::fs::create_dir_all(&home).and_then(|()| match &item.setup {
        Setup::Copy(from) => tools::copy_dir(from, &root),
        Setup::K8sModule(gen_tree) => tools::prepare_k8s_module(&root, gen_tree),
        Setup::Program(text) => {
            std::fs::create_dir_all(&root).and_then(|()| std::fs::write(root.join("prog.cue"), text))
        }
    });
    if let Err(e) = prepared {
        panic!("cannot prepare the inputs of {} in {}: {e}", item.id, dir.display());
    }
    let stdin = item.stdin.as_ref().map(|s| root.join(s));
    let invocation = Invocation {
        args: &item.args,
        cwd: &root.join(&item.cwd),
        home: &home,
        env: &item.env,
        stdin: stdin.as_deref(),
        capture_dir: &dir.join("capture"),
        timeout: TIMEOUT,
    };
    let mut run = tools::run(bin, &invocation).unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    // Spell the temporary input directory the way the corpus recordings do.
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let work = root.join("work").to_string_lossy().into_owned();
    let root = root.to_string_lossy().into_owned();
    let normalize =
        |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&work, "$WORK").replace(&root, "$ROOT").into_bytes();
    run.stdout = normalize(&run.stdout);
    run.stderr = normalize(&run.stderr);
    run
}

fn corpus_items() -> Vec<Item> {
    let sample = match std::env::var("PEQUOD_DIFF_CORPUS").as_deref() {
        Ok("all") => 1,
        Ok("none") | Ok("0") => return Vec::new(),
        Ok(n) => n.trim().parse().unwrap_or(DEFAULT_CORPUS_SAMPLE),
        Err(_) => DEFAULT_CORPUS_SAMPLE,
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cue-conformance/cases");
    let Ok(entries) = std::fs::read_dir(&corpus) else {
        eprintln!("note: conformance corpus not found at {}; its cases are not checked", corpus.display());
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.into_iter()
        .filter(|d| fnv1a(d.file_name().unwrap_or_default().as_encoded_bytes()).is_multiple_of(sample))
        .filter_map(|d| corpus_item(&d))
        .collect()
}

fn corpus_item(dir: &Path) -> Option<Item> {
    let case: Value = serde_json::from_slice(&std::fs::read(dir.join("case.json")).ok()?).ok()?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|a| a.as_str().map(String::from)).collect()
    };
    let read = |name: &str| std::fs::read(dir.join(name)).ok();
    let recorded = Run {
        code: case["exit_code"].as_i64().and_then(|c| i32::try_from(c).ok()),
        stdout: read("expected.json").or_else(|| read("expected.stdout")).unwrap_or_default(),
        stderr: read("expected.stderr").unwrap_or_default(),
        timed_out: false,
    };
    Some(Item {
        id: format!("corpus:{}", case["name"].as_str()?),
        setup: Setup::Copy(dir.to_path_buf()),
        args: strings(&case["args"]),
        cwd: case["cwd"].as_str().unwrap_or("work").to_string(),
        env: case["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
        stdin: case["stdin"].as_str().map(String::from),
        json: case["stdout_json"].as_bool().unwrap_or(false),
        recorded: Some(recorded),
        official_must_succeed: false,
    })
}

/// A stable hash for sampling (the same cases on every machine and run).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Every package directory of every CUE module (a directory with `cue.mod/module.cue`) under `modules/`.
fn module_items() -> Vec<Item> {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules");
    let mut roots = Vec::new();
    find_module_roots(&modules, 4, &mut roots);
    roots.sort();
    if roots.is_empty() {
        eprintln!("note: no CUE module (a directory with cue.mod/module.cue) under {} yet", modules.display());
    }
    let mut items = Vec::new();
    for root in roots {
        let name = root.strip_prefix(&modules).unwrap_or(&root).to_string_lossy().into_owned();
        let mut packages = Vec::new();
        find_package_dirs(&root, &root, &mut packages);
        packages.sort();
        for package in packages {
            let target = if package.is_empty() { ".".to_string() } else { format!("./{package}") };
            items.push(Item {
                id: format!("module:{name}/{}", if package.is_empty() { "." } else { &package }),
                setup: Setup::Copy(root.clone()),
                args: vec!["export".into(), "--out".into(), "json".into(), target],
                cwd: ".".into(),
                env: Vec::new(),
                stdin: None,
                json: true,
                recorded: None,
                official_must_succeed: false,
            });
        }
    }
    items
}

fn find_module_roots(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if dir.join("cue.mod/module.cue").is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    if depth == 0 {
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with(['.', '_']);
        if path.is_dir() && !hidden {
            find_module_roots(&path, depth - 1, out);
        }
    }
}

/// Directories of a module that hold `.cue` files (relative to the module root; "" is the root).
fn find_package_dirs(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok).collect();
    if entries.iter().any(|e| e.file_name().to_string_lossy().ends_with(".cue") && e.path().is_file()) {
        out.push(dir.strip_prefix(root).unwrap_or(dir).to_string_lossy().into_owned());
    }
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && name != "cue.mod" && !name.starts_with(['.', '_']) {
            find_package_dirs(root, &entry.path(), out);
        }
    }
}

/// Our own fixtures under `cue-to-wasm/testdata`; the k8s module only when its generated schemas exist.
fn fixture_items(gen_tree: Option<&Path>) -> Vec<Item> {
    let export = |id: &str, setup: Setup, extra: &[&str]| Item {
        id: format!("fixture:{id}"),
        setup,
        args: ["export", "--out", "json"].iter().chain(extra).map(|s| (*s).to_string()).collect(),
        cwd: ".".into(),
        env: Vec::new(),
        stdin: None,
        json: true,
        recorded: None,
        official_must_succeed: true,
    };
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/small-module");
    let mut items = vec![export("small-module", Setup::Copy(small), &["."])];
    if let Some(gen_tree) = gen_tree {
        let k8s = || Setup::K8sModule(gen_tree.to_path_buf());
        items.push(export("k8s-module", k8s(), &["."]));
        items.push(export("k8s-module/-e-service-spec", k8s(), &["-e", "items[1].spec", "."]));
        let containers = ["-e", "items[0].spec.template.spec.containers", "."];
        items.push(export("k8s-module/-e-deployment-containers", k8s(), &containers));
    }
    items.extend(idiom_items());
    items
}

/// The idioms of platform modules (`cue-to-wasm/testdata/idioms/<name>`: a module and an `args` file with the
/// command line), each a minimal case of a divergence once found on module code. The official tool may fail on
/// them (a misspelt key, a violated policy): what counts is that both tools agree.
fn idiom_items() -> Vec<Item> {
    let idioms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/idioms");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&idioms)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", idioms.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let args = std::fs::read_to_string(dir.join("args"))
                .unwrap_or_else(|e| panic!("{}: no args file: {e}", dir.display()));
            Item {
                id: format!("fixture:idioms/{}", dir.file_name().unwrap_or_default().to_string_lossy()),
                setup: Setup::Copy(dir.clone()),
                args: args.split_whitespace().map(String::from).collect(),
                cwd: ".".into(),
                env: Vec::new(),
                stdin: None,
                json: true,
                recorded: None,
                official_must_succeed: false,
            }
        })
        .collect()
}

fn generated_items() -> Vec<Item> {
    let count = env_number("PEQUOD_DIFF_PROGRAMS").unwrap_or(DEFAULT_PROGRAMS as u64);
    (0..count)
        .map(|n| Item {
            id: format!("gen:{n:04}"),
            setup: Setup::Program(generator::program(GENERATOR_SEED ^ n)),
            args: ["export", "--out", "json", "prog.cue"].iter().map(|s| (*s).to_string()).collect(),
            cwd: ".".into(),
            env: Vec::new(),
            stdin: None,
            json: true,
            recorded: None,
            official_must_succeed: false,
        })
        .collect()
}

#[test]
fn generator_is_deterministic_and_varied() {
    let programs: Vec<String> = (0..50).map(|n| generator::program(GENERATOR_SEED ^ n)).collect();
    assert_eq!(programs[7], generator::program(GENERATOR_SEED ^ 7), "same seed, same program");
    let distinct: std::collections::BTreeSet<&String> = programs.iter().collect();
    assert!(distinct.len() > 45, "only {} distinct programs of 50", distinct.len());
    let all = programs.concat();
    for feature in ["#D", "| ", "*", "for ", "if ", "\\(", "len(", "?:", "...", "_h", "let ", "[string]:", ">="] {
        assert!(all.contains(feature), "no generated program uses {feature:?}");
    }
    // Programs parse with our parser (the generator emits valid syntax).
    for (n, text) in programs.iter().enumerate() {
        let (_, errors) = cue_syntax::parse(text);
        assert!(errors.is_empty(), "program {n} does not parse: {errors:?}\n{text}");
    }
}

#[test]
fn module_discovery_finds_modules_and_their_packages() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut roots = Vec::new();
    find_module_roots(&testdata, 4, &mut roots);
    let names: Vec<String> =
        roots.iter().map(|r| r.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    for wanted in ["k8s-module", "small-module"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} not found among {names:?}");
    }
    assert!(roots.iter().all(|r| r.join("cue.mod/module.cue").is_file()), "a non-module was found: {names:?}");
    let k8s = testdata.join("k8s-module");
    let mut packages = Vec::new();
    find_package_dirs(&k8s, &k8s, &mut packages);
    packages.sort();
    assert_eq!(packages, ["", "templates"], "the module root and its templates package, not cue.mod");
}
