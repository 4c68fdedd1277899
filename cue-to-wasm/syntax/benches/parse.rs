//! Parse throughput: the conformance corpus (each file parsed on its own) and one generated ~1 MB file.
//!
//! Run with `CARGO_TARGET_DIR=/tmp/cue-target cargo bench -p cue-syntax`.

#![allow(clippy::print_stdout, reason = "a benchmark binary reports its figures on stdout")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let corpus_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cue-conformance/cases");
    let files = corpus_files(&corpus_dir);
    if files.is_empty() {
        println!("corpus not found at {}; skipping the corpus figure", corpus_dir.display());
    } else {
        let bytes: usize = files.iter().map(String::len).sum();
        let elapsed = best_of(5, || {
            for source in &files {
                std::hint::black_box(cue_syntax::parse(source));
            }
        });
        report(&format!("corpus ({} files)", files.len()), bytes, elapsed);
    }
    let generated = generate(1 << 20);
    let (_, errors) = cue_syntax::parse(&generated);
    assert!(errors.is_empty(), "the generated file should parse cleanly: {:?}", errors.first());
    let elapsed = best_of(10, || {
        std::hint::black_box(cue_syntax::parse(&generated));
    });
    report("generated file", generated.len(), elapsed);
}

fn report(what: &str, bytes: usize, elapsed: Duration) {
    let mb = bytes as f64 / 1e6;
    println!("{what}: {mb:.2} MB in {:.2} ms = {:.1} MB/s", elapsed.as_secs_f64() * 1e3, mb / elapsed.as_secs_f64());
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn corpus_files(dir: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    collect(dir, &mut paths);
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "cue") && path.components().any(|c| c.as_os_str() == "work") {
            out.push(path);
        }
    }
}

/// Generates a Kubernetes-flavoured CUE file of at least `size` bytes using most of the syntax.
fn generate(size: usize) -> String {
    let mut out = String::from("package bench\n\nimport \"strings\"\n\n");
    let mut i = 0;
    while out.len() < size {
        out.push_str(&format!(
            r#"#Service{i}: {{
	name!:     string & =~"^[a-z]+$" @go(Name)
	replicas?: int & >=1 & <=10 | *2
	port:      *8080 | int
	labels: [string]: string
	labels: "app.kubernetes.io/name": name
	image:    "registry.example/\(name):v\(port + {i})"
	resources: limits: {{cpu: "500m", memory: 512Mi}}
	let fq = strings.ToLower("\(name).svc")
	host: fq
	ports: [for k, v in labels if k != "x" {{name: k, value: v}}]
	if replicas > 3 {{ hpa: enabled: true }}
	extra: [...{{key: string, value: _|_ | null | 1.5e3}}]
	doc: """
		multi-line \(name)
		text
		"""
}}
svc{i}: #Service{i} & {{name: "web", replicas: 3}}
"#
        ));
        i += 1;
    }
    out
}
