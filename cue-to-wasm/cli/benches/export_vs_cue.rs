//! Benchmark: whole-process wall time and peak resident memory of `cue-to-wasm export` against the official
//! `cue export`, on the same inputs in the same run, as ratios:
//! - a small module without imports (`cue-to-wasm/testdata/small-module`),
//! - the Timoni-style module importing the generated `apps/v1` and `core/v1` schemas
//!   (`cue-to-wasm/testdata/k8s-module` plus `cue-to-wasm/scripts/gen-k8s-schemas.sh`),
//! - a generated configuration of about 100 KB (services with a schema, defaults, comprehensions).
//!
//! `cargo bench -p cue-to-wasm --bench export_vs_cue` (`PEQUOD_BENCH_RUNS`, default 15, sets the runs per tool
//! and input). Each run is a fresh process with a clean environment; the runs of the two tools alternate so
//! both see the same machine load. Peak memory is the child's `ru_maxrss`, read by a small wrapper process
//! (this binary re-executed) whose only child is the measured tool. Outputs are compared as JSON once per
//! input, and an input where our tool fails or differs is marked as such rather than given a ratio.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

#[path = "../tests/difftest/tools.rs"]
#[allow(dead_code, reason = "shared with the differential test, which uses the rest")]
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first argument that turns this binary into the measuring wrapper.
const MEASURE: &str = "__measure-one-run";
/// Runs per tool and input unless `PEQUOD_BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 15;
/// Services in the generated configuration (about 100 KB of CUE).
const LARGE_SERVICES: usize = 600;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(MEASURE) {
        measure_one(&args[2..]);
        return;
    }
    if let Err(e) = run() {
        println!("export_vs_cue: {e}");
        std::process::exit(1);
    }
}

/// One measured run: wall time, peak RSS and exit code.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    max_rss_kib: u64,
    code: i32,
}

/// The wrapper: `MEASURE stdout-file stderr-file program args…`. Runs the program (inheriting the clean
/// environment and working directory) and prints `nanoseconds max-rss-KiB exit-code`.
fn measure_one(args: &[String]) {
    let [stdout, stderr, program, rest @ ..] = args else {
        println!("usage: {MEASURE} STDOUT STDERR PROGRAM [ARGS…]");
        std::process::exit(2);
    };
    let files = std::fs::File::create(stdout).and_then(|o| std::fs::File::create(stderr).map(|e| (o, e)));
    let (out, err) = files.unwrap_or_else(|e| panic!("cannot create the capture files: {e}"));
    let start = Instant::now();
    let status = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let wall = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .unwrap_or_else(|e| panic!("getrusage: {e}"));
    println!("{} {} {}", wall.as_nanos(), usage.max_rss(), status.code().unwrap_or(-1));
}

/// Runs `program args…` in `cwd` through the wrapper.
fn measure(program: &Path, args: &[&str], cwd: &Path, home: &Path) -> Result<(Sample, Vec<u8>, Vec<u8>), String> {
    let wrapper = std::env::current_exe().map_err(|e| format!("cannot find this benchmark's binary: {e}"))?;
    let out_path = home.join("stdout");
    let err_path = home.join("stderr");
    let mut cmd = Command::new(wrapper);
    cmd.arg(MEASURE).arg(&out_path).arg(&err_path).arg(program).args(args).current_dir(cwd);
    tools::clean_env(&mut cmd, home);
    let output = cmd.output().map_err(|e| format!("cannot run the measuring wrapper: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<u64> = text.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let [nanos, rss, code] = fields[..] else {
        return Err(format!("the measuring wrapper printed {text:?} ({})", String::from_utf8_lossy(&output.stderr)));
    };
    let sample =
        Sample { wall: Duration::from_nanos(nanos), max_rss_kib: rss, code: i32::try_from(code).unwrap_or(-1) };
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    Ok((sample, read(&out_path), read(&err_path)))
}

/// One benchmark input: a directory exported with `export --out json .`.
struct Input {
    name: String,
    dir: PathBuf,
    bytes: u64,
}

fn cue_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            total += cue_bytes(&path);
        } else if path.extension().is_some_and(|e| e == "cue") {
            total += entry.metadata().map_or(0, |m| m.len());
        }
    }
    total
}

fn run() -> Result<(), String> {
    let official = match tools::official_cue() {
        Ok(bin) => bin,
        Err(why) => {
            println!("export_vs_cue: skipped: {why}");
            return Ok(());
        }
    };
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_cue-to-wasm"));
    let runs = std::env::var("PEQUOD_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_RUNS).max(1);
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot create a scratch directory: {e}"))?;
    let root = scratch.path();
    let fail = |what: &str, e: std::io::Error| format!("cannot prepare {what}: {e}");

    let mut inputs = Vec::new();
    let small = root.join("small-module");
    tools::copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/small-module"), &small)
        .map_err(|e| fail("the small module", e))?;
    inputs.push(Input { name: "small module".into(), bytes: cue_bytes(&small), dir: small });
    match tools::k8s_gen_tree() {
        Ok(gen_tree) => {
            let k8s = root.join("k8s-module");
            tools::prepare_k8s_module(&k8s, &gen_tree).map_err(|e| fail("the k8s module", e))?;
            inputs.push(Input { name: "k8s module (apps/v1+core/v1)".into(), bytes: cue_bytes(&k8s), dir: k8s });
        }
        Err(why) => println!("note: the k8s module is left out: {why}"),
    }
    let large = root.join("large-config");
    write_large_config(&large).map_err(|e| fail("the generated configuration", e))?;
    inputs.push(Input { name: "generated config".into(), bytes: cue_bytes(&large), dir: large });

    println!("official: {}\nours:     {}\nruns per tool and input: {runs}\n", official.display(), ours.display());
    println!(
        "| input | CUE source | cue median | cue min | ours median | ours min | time ratio (cue/ours, median) | \
         cue peak RSS | ours peak RSS | RSS ratio | outputs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for input in &inputs {
        let row = bench_input(input, &official, &ours, runs, root)?;
        println!("{row}");
    }
    Ok(())
}

fn bench_input(input: &Input, official: &Path, ours: &Path, runs: usize, root: &Path) -> Result<String, String> {
    let args = ["export", "--out", "json", "."];
    let home = root.join("home");
    std::fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    // One warm-up run each (page cache), whose outputs are compared.
    let (theirs, their_out, their_err) = measure(official, &args, &input.dir, &home)?;
    let (mine, my_out, my_err) = measure(ours, &args, &input.dir, &home)?;
    if theirs.code != 0 {
        return Err(format!(
            "the official cue fails on {} (the input is broken): {}",
            input.name,
            String::from_utf8_lossy(&their_err)
        ));
    }
    let verdict = if mine.code != 0 {
        let first = String::from_utf8_lossy(&my_err).lines().next().unwrap_or_default().to_string();
        format!("ours fails: {}", first.replace('|', "\\|"))
    } else if json_equal(&their_out, &my_out) {
        "same JSON".to_string()
    } else {
        "ours differs".to_string()
    };
    let (mut cue_samples, mut our_samples) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        cue_samples.push(measure(official, &args, &input.dir, &home)?.0);
        our_samples.push(measure(ours, &args, &input.dir, &home)?.0);
    }
    let (cue_med, cue_min) = wall_stats(&cue_samples);
    let (our_med, our_min) = wall_stats(&our_samples);
    let (cue_rss, our_rss) = (median_rss(&cue_samples), median_rss(&our_samples));
    let comparable = mine.code == 0;
    let ratio = |a: f64, b: f64| if comparable && b > 0.0 { format!("{:.1}×", a / b) } else { "—".to_string() };
    Ok(format!(
        "| {} | {:.1} KB | {} | {} | {} | {} | {} | {:.1} MB | {:.1} MB | {} | {verdict} |",
        input.name,
        input.bytes as f64 / 1000.0,
        ms(cue_med),
        ms(cue_min),
        ms(our_med),
        ms(our_min),
        ratio(cue_med.as_secs_f64(), our_med.as_secs_f64()),
        cue_rss as f64 / 1024.0,
        our_rss as f64 / 1024.0,
        ratio(cue_rss as f64, our_rss as f64),
    ))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn wall_stats(samples: &[Sample]) -> (Duration, Duration) {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    (walls[walls.len() / 2], walls[0])
}

fn median_rss(samples: &[Sample]) -> u64 {
    let mut rss: Vec<u64> = samples.iter().map(|s| s.max_rss_kib).collect();
    rss.sort_unstable();
    rss[rss.len() / 2]
}

fn json_equal(a: &[u8], b: &[u8]) -> bool {
    match (serde_json::from_slice::<serde_json::Value>(a), serde_json::from_slice::<serde_json::Value>(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Writes a module of about 100 KB of CUE: a service schema with defaults and bounds, a few hundred services
/// with varied settings, and comprehensions rendering a Deployment and a Service for each.
fn write_large_config(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("cue.mod"))?;
    std::fs::write(dir.join("cue.mod/module.cue"), "module: \"pequod.test/large\"\nlanguage: version: \"v0.18.0\"\n")?;
    let mut text = String::from(
        r#"package large

#Service: {
	name!:    string & =~"^[a-z][a-z0-9-]*$"
	owner:    *"platform" | string
	layer:    *"backend" | "frontend" | "batch"
	replicas: *2 | int & >=1 & <=50
	port:     *8080 | int & >1024 & <=65535
	expose:   *false | bool
	env: [string]: string
	resources: {
		cpu:    *"100m" | string
		memory: *"128Mi" | string
	}
	labels: {
		app:  name
		team: owner
		tier: layer
	}
}

services: [Name=string]: #Service & {name: Name}

deployments: [for n, s in services {
	apiVersion: "apps/v1"
	kind:       "Deployment"
	metadata: {name: n, labels: s.labels}
	spec: {
		replicas: s.replicas
		selector: matchLabels: app: n
		template: {
			metadata: labels: s.labels
			spec: containers: [{
				name:  n
				image: "registry.example/\(s.owner)/\(n):1.\(s.replicas)"
				ports: [{containerPort: s.port, name: "http"}]
				env: [for k, v in s.env {name: k, value: v}]
				resources: requests: s.resources
			}]
		}
	}
}]

exposed: [for n, s in services if s.expose {
	apiVersion: "v1"
	kind:       "Service"
	metadata: {name: n, labels: s.labels}
	spec: {
		selector: app: n
		ports: [{port: 80, targetPort: "http"}]
	}
}]

services: {
"#,
    );
    let teams = ["payments", "search", "identity", "catalog", "platform"];
    let tiers = ["backend", "frontend", "batch"];
    for i in 0..LARGE_SERVICES {
        let team = teams[i % teams.len()];
        let tier = tiers[(i / 3) % tiers.len()];
        text.push_str(&format!(
            "\t\"{team}-svc-{i:04}\": {{\n\t\towner: \"{team}\"\n\t\tlayer: \"{tier}\"\n\t\treplicas: {}\n\t\tport: {}\n\t\t\
             expose: {}\n\t\tenv: {{\n\t\t\tLOG_LEVEL: \"{}\"\n\t\t\tSHARD: \"{}\"\n\t\t}}\n",
            1 + i % 7,
            8000 + i,
            i % 2 == 0,
            ["info", "debug", "warn"][i % 3],
            i % 16,
        ));
        if i % 4 == 0 {
            text.push_str("\t\tresources: {cpu: \"250m\", memory: \"256Mi\"}\n");
        }
        text.push_str("\t}\n");
    }
    text.push_str("}\n");
    std::fs::write(dir.join("config.cue"), text)
}
