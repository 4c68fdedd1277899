//! Render latency of the embedded example renderer: cold (compile), warm (from the disk cache) and hot (a
//! loaded module, a new Store per render), plus the cost of fuel metering. Prints median and p99 of each
//! and the ratios between them.
//!
//! Run with `cargo bench -p pequod-sandbox --bench render` (add `-- --quick` for fewer iterations).

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![allow(missing_docs, reason = "a benchmark binary")]

use std::time::{Duration, Instant};

use pequod_graph::RenderContext;
use pequod_sandbox::{CacheOutcome, Sandbox, SandboxLimits, SandboxOptions};
use serde_json::json;

struct Figures {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Figures {
    fn percentile(&self, fraction: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
        sorted[rank]
    }

    fn median(&self) -> Duration {
        self.percentile(0.5)
    }

    fn print(&self) {
        println!(
            "{:<34} {:>6} runs   median {:>10.3} ms   p99 {:>10.3} ms",
            self.name,
            self.samples.len(),
            ms(self.median()),
            ms(self.percentile(0.99))
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn measure(name: &'static str, runs: usize, mut run: impl FnMut() -> Duration) -> Figures {
    let figures = Figures { name, samples: (0..runs).map(|_| run()).collect() };
    figures.print();
    figures
}

fn main() {
    let quick = std::env::args().any(|argument| argument == "--quick");
    let scale = if quick { 10 } else { 1 };
    let wasm = pequod_embedded::find("webservice-example").expect("embedded example").component().unwrap();
    let input = json!({"image": "ghcr.io/acme/shop:1.4.2", "replicas": 3, "autoscaling": {"maxReplicas": 5}});
    let context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
    let limits = SandboxLimits::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let render_once = |sandbox: &Sandbox, expected: CacheOutcome| {
        let started = Instant::now();
        let module = sandbox.load(wasm).expect("loads");
        assert_eq!(module.cache_outcome(), expected);
        runtime.block_on(sandbox.render(&module, &input, &context, &limits)).expect("renders");
        started.elapsed()
    };

    println!("webservice-example renderer, {} bytes; input with autoscaling (3 nodes)", wasm.len());
    let cold = measure("cold: compile + render", 20 / scale.min(4), || {
        let sandbox = Sandbox::new(SandboxOptions::default()).unwrap();
        render_once(&sandbox, CacheOutcome::Compiled)
    });

    let cache = tempfile::tempdir().unwrap();
    let options = SandboxOptions { cache_dir: Some(cache.path().to_owned()), ..SandboxOptions::default() };
    render_once(&Sandbox::new(options.clone()).unwrap(), CacheOutcome::Compiled);
    let warm = measure("warm: disk cache + render", 50 / scale, || {
        let sandbox = Sandbox::new(options.clone()).unwrap();
        render_once(&sandbox, CacheOutcome::Disk)
    });

    let hot_with_fuel = hot(&runtime, "hot: new Store + render (fuel on)", true, 5000 / scale);
    let hot_without_fuel = hot(&runtime, "hot: new Store + render (fuel off)", false, 5000 / scale);

    println!();
    println!("cold / hot median:        {:>8.1}x", ratio(cold.median(), hot_with_fuel.median()));
    println!("warm / hot median:        {:>8.1}x", ratio(warm.median(), hot_with_fuel.median()));
    println!("fuel on / fuel off median:{:>8.3}x", ratio(hot_with_fuel.median(), hot_without_fuel.median()));
    let sandbox = Sandbox::new(SandboxOptions::default()).unwrap();
    let module = sandbox.load(wasm).unwrap();
    let rendered = runtime.block_on(sandbox.render(&module, &input, &context, &limits)).unwrap();
    println!("fuel used by one render:  {:>10}", rendered.fuel_used.unwrap_or_default());
}

fn hot(runtime: &tokio::runtime::Runtime, name: &'static str, consume_fuel: bool, runs: usize) -> Figures {
    let wasm = pequod_embedded::find("webservice-example").unwrap().component().unwrap();
    let sandbox = Sandbox::new(SandboxOptions { consume_fuel, ..SandboxOptions::default() }).unwrap();
    let module = sandbox.load(wasm).unwrap();
    let input = json!({"image": "ghcr.io/acme/shop:1.4.2", "replicas": 3, "autoscaling": {"maxReplicas": 5}});
    let context = RenderContext { name: "shop".into(), namespace: "team-a".into(), ..RenderContext::default() };
    let limits = SandboxLimits::default();
    for _ in 0..50 {
        runtime.block_on(sandbox.render(&module, &input, &context, &limits)).unwrap();
    }
    measure(name, runs, || {
        let started = Instant::now();
        runtime.block_on(sandbox.render(&module, &input, &context, &limits)).unwrap();
        started.elapsed()
    })
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
