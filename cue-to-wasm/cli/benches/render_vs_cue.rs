//! Benchmark: the `webservice` module rendered by its `cue-to-wasm build` renderer in Pequod's sandbox against
//! the official `cue export` of the same module, input and context, in one run, as ratios:
//!
//! - **build**: `cue-to-wasm build modules/webservice` (whole process: gather, check natively, pre-initialise);
//! - **cold**: a sandbox with an empty cache loads the renderer (compiles it to native code) and renders once;
//! - **warm**: a new sandbox over a populated cache directory loads it (no compilation) and renders once;
//! - **hot**: renders with the loaded module (what the operator does for every reconcile that renders);
//! - **official**: `cue export ./webservice -e graph.nodes`, a fresh process each time, over a copy of
//!   `modules/` with the input and context written into the package (the only way to give them to it).
//!
//! It also prints the renderer's size and the least linear memory a render fits in (found by bisecting the
//! sandbox's memory limit). `cargo bench -p cue-to-wasm --bench render_vs_cue` (`PEQUOD_BENCH_RUNS`, default
//! 15, sets the runs of the per-process measurements; hot renders run 20 times as many). The official tool
//! is `$PEQUOD_CUE_BIN` or the pinned version in the cache (`cue-to-wasm/scripts/install-cue.sh`).

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

#[path = "../tests/difftest/tools.rs"]
#[allow(dead_code, reason = "shared with the differential test, which uses the rest")]
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pequod_graph::RenderContext;
use pequod_sandbox::{Sandbox, SandboxLimits, SandboxOptions};
use serde_json::Value;

const DEFAULT_RUNS: usize = 15;

fn main() {
    if let Err(e) = run() {
        println!("render_vs_cue: {e}");
        std::process::exit(1);
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn run() -> Result<(), String> {
    let runs = std::env::var("PEQUOD_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_RUNS).max(3);
    let cue = tools::official_cue()?;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let modules = repository().join("modules");
    let input: Value = serde_json::from_str(
        &std::fs::read_to_string(modules.join("webservice/examples/basic.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let mut context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
    context.labels.insert("app.kubernetes.io/managed-by".into(), "pequod".into());

    // Build.
    let wasm_path = scratch.path().join("webservice.wasm");
    let mut builds = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_cue-to-wasm"))
            .args(["build", modules.join("webservice").to_str().unwrap(), "-o", wasm_path.to_str().unwrap()])
            .output()
            .map_err(|e| format!("cannot run cue-to-wasm: {e}"))?;
        builds.push(started.elapsed());
        if !output.status.success() {
            return Err(format!("cue-to-wasm build failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
    }
    let wasm = std::fs::read(&wasm_path).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let limits = SandboxLimits::default();

    // Cold: empty cache, compile, render.
    let mut colds = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let sandbox = Sandbox::new(SandboxOptions::default()).map_err(|e| e.to_string())?;
        let module = sandbox.load(&wasm).map_err(|e| e.to_string())?;
        runtime.block_on(sandbox.render(&module, &input, &context, &limits)).map_err(|e| e.to_string())?;
        colds.push(started.elapsed());
    }
    // Warm: a populated cache directory, a new sandbox.
    let cache = scratch.path().join("cache");
    {
        let sandbox = Sandbox::new(SandboxOptions { cache_dir: Some(cache.clone()), ..SandboxOptions::default() })
            .map_err(|e| e.to_string())?;
        sandbox.load(&wasm).map_err(|e| e.to_string())?;
    }
    let mut warms = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let sandbox = Sandbox::new(SandboxOptions { cache_dir: Some(cache.clone()), ..SandboxOptions::default() })
            .map_err(|e| e.to_string())?;
        let module = sandbox.load(&wasm).map_err(|e| e.to_string())?;
        runtime.block_on(sandbox.render(&module, &input, &context, &limits)).map_err(|e| e.to_string())?;
        warms.push(started.elapsed());
    }
    // Hot.
    let sandbox = Sandbox::new(SandboxOptions::default()).map_err(|e| e.to_string())?;
    let module = sandbox.load(&wasm).map_err(|e| e.to_string())?;
    let mut hots = Vec::new();
    let mut nodes = 0;
    let mut fuel = 0;
    for _ in 0..runs * 20 {
        let started = Instant::now();
        let rendered =
            runtime.block_on(sandbox.render(&module, &input, &context, &limits)).map_err(|e| e.to_string())?;
        hots.push(started.elapsed());
        nodes = rendered.graph.nodes.len();
        fuel = rendered.fuel_used.unwrap_or_default();
    }
    let ours: Vec<Value> = runtime
        .block_on(sandbox.render(&module, &input, &context, &limits))
        .map_err(|e| e.to_string())?
        .graph
        .nodes
        .iter()
        .map(|n| n.object.clone())
        .collect();

    // The least memory a render fits in, to 64 KiB.
    let (mut low, mut high) = (64usize << 10, limits.memory_bytes);
    while high - low > 64 << 10 {
        let middle = (low + high) / 2;
        let limits = SandboxLimits { memory_bytes: middle, ..limits };
        match runtime.block_on(sandbox.render(&module, &input, &context, &limits)) {
            Ok(_) => high = middle,
            Err(_) => low = middle,
        }
    }

    // The official tool.
    let root = scratch.path().join("modules");
    tools::copy_dir(&modules, &root).map_err(|e| e.to_string())?;
    let overlay = format!(
        "package webservice\n\ninput: {}\ncontext: {}\n",
        serde_json::to_string(&input).unwrap(),
        serde_json::to_string(&context).unwrap()
    );
    std::fs::write(root.join("webservice/zz_bench_input.cue"), overlay).map_err(|e| e.to_string())?;
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let mut officials = Vec::new();
    let mut official_nodes = Value::Null;
    for _ in 0..runs {
        let mut command = Command::new(&cue);
        command.args(["export", "./webservice", "-e", "graph.nodes", "--out", "json"]).current_dir(&root);
        tools::clean_env(&mut command, &home);
        command.stdin(Stdio::null());
        let started = Instant::now();
        let output = command.output().map_err(|e| format!("cannot run {}: {e}", cue.display()))?;
        officials.push(started.elapsed());
        if !output.status.success() {
            return Err(format!("cue export failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        official_nodes = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    }
    let theirs: Vec<Value> = official_nodes
        .as_object()
        .map(|nodes| nodes.values().map(|node| node["object"].clone()).collect())
        .unwrap_or_default();
    let same = ours == theirs;

    let official = median(&mut officials);
    let ratio = |d: Duration| official.as_secs_f64() / d.as_secs_f64();
    let hot = median(&mut hots);
    let hot_p99 = percentile(&mut hots, 0.99);
    let (warm, cold, build) = (median(&mut warms), median(&mut colds), median(&mut builds));
    println!("webservice module, basic example ({nodes} nodes), {runs} runs (hot: {}):", runs * 20);
    println!("  renderer: {} bytes ({:.2} MB)", wasm.len(), wasm.len() as f64 / 1e6);
    println!("  memory per render: fits in {} KiB of linear memory", high >> 10);
    println!("  fuel per render: {fuel}");
    println!("  same objects as the official tool: {same}");
    println!("  {:<34} {:>12}", "official `cue export` (process)", ms(official));
    println!("  {:<34} {:>12}  {:>8.1}x faster", "sandbox hot render (median)", ms(hot), ratio(hot));
    println!("  {:<34} {:>12}  {:>8.1}x faster", "sandbox hot render (p99)", ms(hot_p99), ratio(hot_p99));
    println!("  {:<34} {:>12}  {:>8.1}x faster", "sandbox warm (cache dir) + render", ms(warm), ratio(warm));
    println!("  {:<34} {:>12}  {:>8.2}x", "sandbox cold (compile) + render", ms(cold), ratio(cold));
    println!("  {:<34} {:>12}  {:>8.2}x", "cue-to-wasm build (process)", ms(build), ratio(build));
    if !same {
        return Err("our objects differ from the official tool's".into());
    }
    Ok(())
}
