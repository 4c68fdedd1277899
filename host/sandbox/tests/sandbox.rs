//! The sandbox against real components: the SDK example, and hostile guests that must each be stopped or
//! refused with their own error while the same sandbox keeps serving good renders.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use pequod_graph::{Phase, RenderContext};
use pequod_sandbox::{CacheOutcome, LoadError, RenderError, Rendered, Sandbox, SandboxLimits, SandboxOptions};
use pequod_test_guests::Guest;
use serde_json::{Value, json};

static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| Sandbox::new(SandboxOptions::default()).expect("sandbox starts"));

/// A generous bound that proves a hostile render was stopped; the figures themselves are benchmarked.
const STOPPED_WITHIN: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn context() -> RenderContext {
    RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() }
}

fn webservice() -> &'static [u8] {
    pequod_embedded::find("webservice-example").expect("embedded example").component().unwrap()
}

fn render_with(sandbox: &Sandbox, wasm: &[u8], input: Value, limits: SandboxLimits) -> Result<Rendered, RenderError> {
    let module = sandbox.load(wasm).expect("component loads");
    runtime().block_on(sandbox.render(&module, &input, &context(), &limits))
}

/// Renders a hostile guest, expects it to fail within the bound, and checks that the same sandbox then
/// renders the example web service.
fn check_hostile(sandbox: &Sandbox, guest: Guest, limits: SandboxLimits) -> RenderError {
    let started = Instant::now();
    let error = render_with(sandbox, &guest.bytes(), json!({}), limits).expect_err("a hostile guest must not render");
    let elapsed = started.elapsed();
    assert!(elapsed < STOPPED_WITHIN, "{} took {elapsed:?} to stop", guest.name);
    let after = render_with(sandbox, webservice(), json!({"image": "nginx:1.27"}), SandboxLimits::default());
    assert!(after.is_ok(), "the sandbox stopped serving after {}: {after:?}", guest.name);
    error
}

#[test]
fn example_renders_a_valid_deterministic_graph() {
    let first = render_with(
        &SANDBOX,
        webservice(),
        json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 4}}),
        SandboxLimits::default(),
    )
    .expect("renders");
    let ids: Vec<&str> = first.graph.nodes.iter().map(|node| node.id.as_str()).collect();
    assert_eq!(ids, ["deployment", "service", "hpa"]);
    assert_eq!(first.plan.waves, vec![vec![0, 1], vec![2]]);
    assert_eq!(first.graph.metadata.module, "webservice-example");
    assert_eq!(
        first.graph.metadata.digest.as_deref(),
        Some(pequod_sandbox::Digest::of(webservice()).to_string().as_str())
    );
    assert!(first.fuel_used.is_some_and(|fuel| fuel > 0));
    let second = render_with(
        &SANDBOX,
        webservice(),
        json!({"image": "nginx:1.27", "autoscaling": {"maxReplicas": 4}}),
        SandboxLimits::default(),
    )
    .expect("renders");
    assert_eq!(serde_json::to_string(&first.graph).unwrap(), serde_json::to_string(&second.graph).unwrap());
    assert_eq!(first.fuel_used, second.fuel_used, "the same render uses the same fuel");
    let other =
        render_with(&SANDBOX, webservice(), json!({"image": "nginx:1.28"}), SandboxLimits::default()).expect("renders");
    assert_ne!(first.graph.metadata.render_hash, other.graph.metadata.render_hash);
}

#[test]
fn info_reports_name_and_schema() {
    let module = SANDBOX.load(webservice()).unwrap();
    let info = runtime().block_on(SANDBOX.info(&module, &SandboxLimits::default())).unwrap();
    assert_eq!((info.name.as_str(), info.version.as_str()), ("webservice-example", "0.1.0"));
    assert_eq!(info.input_schema["required"], json!(["image"]));
    assert_eq!(info.graph_version, pequod_graph::GRAPH_VERSION);
}

#[test]
fn rejected_input_names_spec_input_paths() {
    let error =
        render_with(&SANDBOX, webservice(), json!({"image": "nginx", "replicas": 50}), SandboxLimits::default())
            .unwrap_err();
    let RenderError::Rejected { violations } = &error else { panic!("expected Rejected, got {error:?}") };
    assert_eq!(violations[0].path, "replicas");
    assert_eq!(violations[0].phase, Phase::Input);
    assert_eq!(error.reason(), "Rejected");
    let missing = render_with(&SANDBOX, webservice(), json!({"replicas": 2}), SandboxLimits::default()).unwrap_err();
    assert!(missing.to_string().contains("missing field `image`"), "{missing}");
}

#[test]
fn too_many_nodes_is_refused() {
    let limits = SandboxLimits { max_nodes: 1, ..SandboxLimits::default() };
    let error = render_with(&SANDBOX, webservice(), json!({"image": "nginx"}), limits).unwrap_err();
    assert!(matches!(error, RenderError::TooManyNodes { count: 2, limit: 1 }), "{error:?}");
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let error = check_hostile(&SANDBOX, pequod_test_guests::SPIN, SandboxLimits::default());
    assert!(matches!(error, RenderError::FuelExhausted { limit: SandboxLimits::DEFAULT_FUEL }), "{error:?}");
    assert_eq!(error.reason(), "FuelExhausted");
}

#[test]
fn infinite_loop_with_ample_fuel_times_out() {
    let limits = SandboxLimits { fuel: u64::MAX / 2, timeout: Duration::from_millis(300), ..SandboxLimits::default() };
    let error = check_hostile(&SANDBOX, pequod_test_guests::SPIN, limits);
    assert!(matches!(error, RenderError::Timeout { .. }), "{error:?}");
}

#[test]
fn infinite_loop_without_fuel_metering_times_out() {
    let unmetered = Sandbox::new(SandboxOptions { consume_fuel: false, ..SandboxOptions::default() }).unwrap();
    let limits = SandboxLimits { timeout: Duration::from_millis(300), ..SandboxLimits::default() };
    let error = check_hostile(&unmetered, pequod_test_guests::SPIN, limits);
    assert!(matches!(error, RenderError::Timeout { .. }), "{error:?}");
}

#[test]
fn sleeping_in_a_host_call_times_out() {
    let limits = SandboxLimits { timeout: Duration::from_millis(300), ..SandboxLimits::default() };
    let error = check_hostile(&SANDBOX, pequod_test_guests::SLEEP, limits);
    assert!(matches!(error, RenderError::Timeout { .. }), "{error:?}");
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    let error = check_hostile(&SANDBOX, pequod_test_guests::HOG, SandboxLimits::default());
    let RenderError::MemoryLimitExceeded { limit_bytes, guest_output } = &error else {
        panic!("expected MemoryLimitExceeded, got {error:?}")
    };
    assert_eq!(*limit_bytes, SandboxLimits::DEFAULT_MEMORY_BYTES);
    assert!(guest_output.contains("memory allocation"), "{guest_output}");
}

#[test]
fn huge_output_is_refused() {
    // Room for the 100 MB the guest builds, so that the output limit is what stops it.
    let limits = SandboxLimits { memory_bytes: 256 << 20, ..SandboxLimits::default() };
    let error = check_hostile(&SANDBOX, pequod_test_guests::FLOOD, limits);
    assert!(
        matches!(
            error,
            RenderError::OutputTooLarge { size: 100_000_000, limit: SandboxLimits::DEFAULT_MAX_OUTPUT_BYTES }
        ),
        "{error:?}"
    );
}

#[test]
fn cyclic_graph_is_refused_with_the_cycle() {
    let error = check_hostile(&SANDBOX, pequod_test_guests::CYCLE, SandboxLimits::default());
    assert!(matches!(error, RenderError::InvalidGraph { .. }), "{error:?}");
    assert!(error.to_string().contains("first -> third -> second -> first"), "{error}");
}

#[test]
fn panic_is_a_trap_with_the_panic_message() {
    let error = check_hostile(&SANDBOX, pequod_test_guests::PANIC, SandboxLimits::default());
    let RenderError::Trap { guest_output, .. } = &error else { panic!("expected Trap, got {error:?}") };
    assert!(guest_output.contains("renderer bug: no replica count at index 2"), "{guest_output}");
    assert_eq!(error.reason(), "Trapped");
}

#[test]
fn malformed_json_is_refused() {
    let error = check_hostile(&SANDBOX, pequod_test_guests::GARBAGE, SandboxLimits::default());
    assert!(matches!(error, RenderError::MalformedGraph { .. }), "{error:?}");
    assert!(error.to_string().contains("EOF while parsing"), "{error}");
}

#[test]
fn module_failure_is_passed_through() {
    let error = check_hostile(&SANDBOX, pequod_test_guests::BROKEN, SandboxLimits::default());
    assert_eq!(error.to_string(), "the module failed: templates/deployment.cue:12:3: reference \"image\" not found");
    assert_eq!(error.reason(), "RenderFailed");
}

#[test]
fn non_components_are_refused_on_load() {
    let error = SANDBOX.load(b"this is not wasm").err().expect("refused");
    assert!(matches!(error, LoadError::InvalidComponent { .. }), "{error:?}");
    let core_module = b"\0asm\x01\0\0\0";
    let error = SANDBOX.load(core_module).err().expect("refused");
    assert!(matches!(error, LoadError::InvalidComponent { .. }), "{error:?}");
}

#[test]
fn disk_cache_is_reused_and_corrupt_entries_are_replaced() {
    let directory = tempfile::tempdir().unwrap();
    let options = SandboxOptions { cache_dir: Some(directory.path().to_owned()), ..SandboxOptions::default() };
    let first = Sandbox::new(options.clone()).unwrap();
    assert_eq!(first.load(webservice()).unwrap().cache_outcome(), CacheOutcome::Compiled);
    assert_eq!(first.load(webservice()).unwrap().cache_outcome(), CacheOutcome::Memory);
    drop(first);

    let second = Sandbox::new(options.clone()).unwrap();
    assert_eq!(second.load(webservice()).unwrap().cache_outcome(), CacheOutcome::Disk);
    drop(second);

    let entries: Vec<_> =
        walk(directory.path()).into_iter().filter(|path| path.extension().is_some_and(|ext| ext == "cwasm")).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entries[0], &bytes).unwrap();

    let third = Sandbox::new(options).unwrap();
    let module = third.load(webservice()).unwrap();
    assert_eq!(module.cache_outcome(), CacheOutcome::Compiled, "a tampered entry must not be trusted");
    let rendered =
        runtime().block_on(third.render(&module, &json!({"image": "nginx"}), &context(), &SandboxLimits::default()));
    assert!(rendered.is_ok());
    assert_ne!(std::fs::read(&entries[0]).unwrap(), bytes, "the tampered entry is replaced");
}

#[test]
fn a_compile_over_its_time_limit_ends_in_compile_timeout_promptly() {
    let limit = Duration::from_millis(1);
    let sandbox = Sandbox::new(SandboxOptions { compile_timeout: limit, ..SandboxOptions::default() }).unwrap();
    let runtime = runtime();
    let started = Instant::now();
    let error = runtime.block_on(sandbox.load_async(webservice().into())).err().expect("the compile times out");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(matches!(&error, LoadError::CompileTimeout { limit: named, .. } if *named == limit), "{error:?}");
    assert!(error.to_string().contains("did not compile within 0.001 s"), "{error}");
}

#[test]
fn async_loads_compile_once_and_then_come_from_memory() {
    let sandbox = Sandbox::new(SandboxOptions::default()).unwrap();
    let runtime = runtime();
    let first = runtime.block_on(sandbox.load_async(webservice().into())).unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Compiled);
    let again = runtime.block_on(sandbox.load_async(webservice().into())).unwrap();
    assert_eq!(again.cache_outcome(), CacheOutcome::Memory);
    let memory = sandbox.cache_stats().memory;
    assert_eq!((memory.hits, memory.misses, memory.entries), (1, 1, 1));
    assert!(memory.bytes > 0 && memory.bytes < SandboxOptions::DEFAULT_MEMORY_CACHE.max_bytes, "{memory:?}");
}

#[test]
fn concurrent_renders_share_one_module() {
    let module = SANDBOX.load(webservice()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let results = runtime.block_on(async {
        let renders = (0..16).map(|index| {
            let input = json!({"image": format!("nginx:1.{index}")});
            let module = module.clone();
            async move { SANDBOX.render(&module, &input, &context(), &SandboxLimits::default()).await }
        });
        futures_join_all(renders).await
    });
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 16);
}

async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut outputs = Vec::new();
    for future in futures {
        outputs.push(future.await);
    }
    outputs
}

fn walk(directory: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { found.extend(walk(&path)) } else { found.push(path) }
    }
    found
}
