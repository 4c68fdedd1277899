//! Memory on the real sandbox: one render's limit counts all its linear memories and tables together, a
//! module with several memories in one core module does not load, and renders running at once share one
//! process-wide budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pequod_graph::RenderContext;
use pequod_sandbox::{LoadError, MemoryBudgetUsage, RenderError, Rendered, Sandbox, SandboxLimits, SandboxOptions};
use pequod_test_guests::extra::{core_module, with_extra_instances};
use serde_json::json;

const MIB: usize = 1 << 20;
/// A WebAssembly page.
const PAGE: usize = 64 << 10;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

fn context() -> RenderContext {
    RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() }
}

fn webservice() -> &'static [u8] {
    pequod_embedded::find("webservice-example").expect("embedded example").component().unwrap()
}

fn limits(memory_bytes: usize) -> SandboxLimits {
    // A generous time limit: these tests are about memory, on a busy machine.
    SandboxLimits { memory_bytes, timeout: Duration::from_secs(20), ..SandboxLimits::default() }
}

fn sandbox(max_total_memory: Option<usize>) -> Sandbox {
    Sandbox::new(SandboxOptions { max_total_memory, ..SandboxOptions::default() }).expect("sandbox starts")
}

fn render(sandbox: &Sandbox, wasm: &[u8], limits: SandboxLimits) -> Result<Rendered, RenderError> {
    let module = sandbox.load(wasm).expect("component loads");
    runtime().block_on(sandbox.render(&module, &json!({"image": "nginx:1.27"}), &context(), &limits))
}

// --- Components with extra memories and tables -------------------------------------------------------

/// The example with `count` extra core instances, each holding a memory of `bytes`.
fn example_with_memories(count: usize, bytes: usize) -> Vec<u8> {
    let modules: Vec<Vec<u8>> = (0..count).map(|_| core_module(&[], &[bytes / PAGE])).collect();
    with_extra_instances(webservice(), &modules)
}

/// The example with `count` extra core instances, each holding a table of `elements`.
fn example_with_tables(count: usize, elements: usize) -> Vec<u8> {
    let modules: Vec<Vec<u8>> = (0..count).map(|_| core_module(&[elements], &[])).collect();
    with_extra_instances(webservice(), &modules)
}

fn expect_memory_limit(result: Result<Rendered, RenderError>, limit: usize) {
    let error = result.expect_err("the render must hit its memory limit");
    assert!(
        matches!(error, RenderError::MemoryLimitExceeded { limit_bytes, .. } if limit_bytes == limit),
        "expected MemoryLimitExceeded, got {error:?}"
    );
    assert_eq!(error.reason(), "MemoryLimitExceeded");
}

// --- One render: all memories and tables against one limit -------------------------------------------

#[test]
fn memories_of_all_instances_count_against_one_limit() {
    let sandbox = sandbox(None);
    // One extra memory of 24 MiB fits beside the example's own.
    let one = render(&sandbox, &example_with_memories(1, 24 * MIB), limits(64 * MIB)).expect("renders");
    assert!(one.memory_used_bytes > 24 * MIB && one.memory_used_bytes <= 64 * MIB, "{}", one.memory_used_bytes);
    // Three, each well below the limit, together are above it.
    expect_memory_limit(render(&sandbox, &example_with_memories(3, 24 * MIB), limits(64 * MIB)), 64 * MIB);
    // The same sandbox goes on rendering.
    render(&sandbox, webservice(), limits(64 * MIB)).expect("renders after a refused one");
}

#[test]
fn tables_count_against_the_memory_limit() {
    let sandbox = sandbox(None);
    // 2^18 elements are 4 MiB at 16 bytes each: one such table fits 16 MiB beside the example's memory.
    let one = render(&sandbox, &example_with_tables(1, 1 << 18), limits(16 * MIB)).expect("renders");
    assert!(one.memory_used_bytes > 4 * MIB && one.memory_used_bytes <= 16 * MIB, "{}", one.memory_used_bytes);
    expect_memory_limit(render(&sandbox, &example_with_tables(4, 1 << 18), limits(16 * MIB)), 16 * MIB);
}

#[test]
fn a_core_module_with_several_memories_does_not_load() {
    let sandbox = sandbox(None);
    let component = with_extra_instances(webservice(), &[core_module(&[], &[1, 1])]);
    let error = sandbox.load(&component).err().expect("multi-memory is off");
    let LoadError::InvalidComponent { message, .. } = &error else {
        panic!("expected InvalidComponent, got {error:?}")
    };
    assert!(message.contains("multiple memories"), "{message}");
}

// --- Many renders: one budget ------------------------------------------------------------------------

#[test]
fn concurrent_renders_stay_within_the_budget() {
    const RENDERS: usize = 20;
    let total = 3 * 32 * MIB;
    let sandbox = Arc::new(sandbox(Some(total)));
    let module = sandbox.load(webservice()).expect("component loads");
    let results = runtime().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..RENDERS {
            let (sandbox, module) = (Arc::clone(&sandbox), module.clone());
            tasks.spawn(async move {
                let input = json!({"image": format!("nginx:1.{index}")});
                sandbox.render(&module, &input, &context(), &limits(32 * MIB)).await
            });
        }
        tasks.join_all().await
    });
    assert_eq!(results.len(), RENDERS);
    for result in results {
        let rendered = result.expect("every render finishes");
        assert!(rendered.memory_used_bytes > 0 && rendered.memory_used_bytes <= 32 * MIB);
    }
    let usage = sandbox.memory_usage();
    assert!(usage.peak_reserved_bytes <= total, "{usage:?}");
    assert!(usage.peak_reserved_bytes >= 32 * MIB, "{usage:?}");
    assert_eq!(usage.reserved_bytes, 0, "every render gave its reservation back");
}

#[test]
fn renders_wait_for_the_budget_and_run_when_it_frees() {
    let sandbox = Arc::new(sandbox(Some(64 * MIB)));
    let module = sandbox.load(webservice()).expect("component loads");
    runtime().block_on(async {
        // Someone else (a CUE compilation, say) holds most of the budget.
        let held = sandbox.reserve_memory(48 * MIB).await.expect("reserves");
        let waiting = {
            let (sandbox, module) = (Arc::clone(&sandbox), module.clone());
            tokio::spawn(async move {
                sandbox.render(&module, &json!({"image": "nginx"}), &context(), &limits(32 * MIB)).await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the render must wait while the budget is held");
        assert_eq!(sandbox.memory_usage().reserved_bytes, 48 * MIB);
        drop(held);
        waiting.await.expect("task").expect("the render runs once the budget frees");
    });
    assert_eq!(
        sandbox.memory_usage(),
        MemoryBudgetUsage { reserved_bytes: 0, peak_reserved_bytes: 48 * MIB, total_bytes: Some(64 * MIB) }
    );
}

#[test]
fn a_render_that_waits_past_its_time_limit_gives_up() {
    let sandbox = sandbox(Some(64 * MIB));
    let module = sandbox.load(webservice()).expect("component loads");
    let limits = SandboxLimits { timeout: Duration::from_millis(200), ..limits(32 * MIB) };
    let error = runtime().block_on(async {
        let _held = sandbox.reserve_memory(48 * MIB).await.expect("reserves");
        sandbox.render(&module, &json!({"image": "nginx"}), &context(), &limits).await.unwrap_err()
    });
    let RenderError::MemoryBudgetExhausted { limit_bytes, budget_bytes, waited } = &error else {
        panic!("expected MemoryBudgetExhausted, got {error:?}")
    };
    assert_eq!((*limit_bytes, *budget_bytes), (32 * MIB, 64 * MIB));
    assert!(*waited >= Duration::from_millis(200), "{waited:?}");
    assert_eq!(error.reason(), "MemoryBudgetExhausted");
    assert_eq!(sandbox.memory_usage().reserved_bytes, 0);
}

#[test]
fn a_render_whose_limit_exceeds_the_budget_fails_at_once() {
    let sandbox = sandbox(Some(32 * MIB));
    let started = Instant::now();
    let error = render(&sandbox, webservice(), limits(64 * MIB)).unwrap_err();
    assert!(
        matches!(error, RenderError::MemoryLimitAboveBudget { limit_bytes, budget_bytes }
            if limit_bytes == 64 * MIB && budget_bytes == 32 * MIB),
        "expected MemoryLimitAboveBudget, got {error:?}"
    );
    assert_eq!(error.reason(), "MemoryLimitAboveBudget");
    assert!(error.to_string().contains("larger than the whole render memory budget (32 MiB)"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "it must not wait for the budget");
    let module = sandbox.load(webservice()).unwrap();
    let info = runtime().block_on(sandbox.info(&module, &limits(64 * MIB))).unwrap_err();
    assert_eq!(info.reason(), "MemoryLimitAboveBudget");
    render(&sandbox, webservice(), limits(32 * MIB)).expect("a render within the budget runs");
}
