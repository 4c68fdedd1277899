//! Locating the official `cue` binary and the generated Kubernetes schemas, and running a tool with a
//! clean environment and a time limit. Shared by the differential test and the benchmark.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The official tool's version the conformance corpus was recorded with. Keep in step with
/// `CUE_VERSION` in `cue-to-wasm/scripts/install-cue.sh`.
pub const PINNED_CUE_VERSION: &str = "v0.18.0-alpha.1";
/// The `k8s.io/api` version whose schemas `cue-to-wasm/scripts/gen-k8s-schemas.sh` generates. Keep in step
/// with `K8S_API_VERSION` there.
pub const K8S_API_VERSION: &str = "v0.36.3";

/// The Go packages the Timoni-style fixture imports from `cue.mod/gen`.
pub const K8S_PACKAGES: &[&str] = &["k8s.io/api/apps/v1", "k8s.io/api/core/v1"];

/// The directory the install scripts cache their outputs in (`$PEQUOD_CACHE`, else `$HOME/.cache/pequod`).
pub fn cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PEQUOD_CACHE") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/pequod"))
}

/// The official `cue`: `$PEQUOD_CUE_BIN`, else the pinned version in the cache. The error says where it looked
/// and how to install it.
pub fn official_cue() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("PEQUOD_CUE_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("PEQUOD_CUE_BIN is set to {}, which is not a file", bin.display()))
        };
    }
    let cached = cache_root().map(|root| root.join(format!("cue-{PINNED_CUE_VERSION}/bin/cue")));
    match cached {
        Some(bin) if bin.is_file() => Ok(bin),
        Some(bin) => Err(format!(
            "the official cue {PINNED_CUE_VERSION} is not installed at {} and PEQUOD_CUE_BIN is not set; \
             install it with `bash cue-to-wasm/scripts/install-cue.sh`",
            bin.display()
        )),
        None => Err("neither PEQUOD_CUE_BIN nor HOME is set, so the official cue cannot be found".into()),
    }
}

/// The `cue.mod/gen` tree with the generated `apps/v1` and `core/v1` schemas (`$PEQUOD_K8S_CUE_GEN`, else the
/// cache of `gen-k8s-schemas.sh`). The error says how to generate it.
pub fn k8s_gen_tree() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("PEQUOD_K8S_CUE_GEN") {
        Some(dir) => PathBuf::from(dir),
        None => cache_root()
            .ok_or("HOME is not set, so the generated Kubernetes schemas cannot be found")?
            .join(format!("cue-gen-k8s-api-{K8S_API_VERSION}-cue-{PINNED_CUE_VERSION}/cue.mod/gen")),
    };
    if K8S_PACKAGES.iter().all(|p| dir.join(p).is_dir()) {
        Ok(dir)
    } else {
        Err(format!(
            "the generated Kubernetes schemas are missing from {}; generate them with \
             `bash cue-to-wasm/scripts/gen-k8s-schemas.sh`",
            dir.display()
        ))
    }
}

/// The checked-in Timoni-style fixture module (without its generated `cue.mod/gen`).
pub fn k8s_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s-module")
}

/// Copies the fixture module to `dest` and adds the generated schemas as its `cue.mod/gen`.
pub fn prepare_k8s_module(dest: &Path, gen_tree: &Path) -> std::io::Result<()> {
    copy_dir(&k8s_fixture(), dest)?;
    copy_dir(gen_tree, &dest.join("cue.mod/gen"))
}

/// Copies a directory tree (symbolic links are recreated, not followed).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let file_type = entry.file_type()?;
        if file_type.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if file_type.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The clean environment both tools run with: `CUE_REGISTRY=none` and a scratch `HOME`, nothing else.
pub fn clean_env(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("CUE_CACHE_DIR", home.join("cache"))
        .env("CUE_REGISTRY", "none")
        .env("LANG", "C.UTF-8");
}

/// One way to run a tool.
pub struct Invocation<'a> {
    /// The arguments after the program name.
    pub args: &'a [String],
    /// The working directory.
    pub cwd: &'a Path,
    /// The scratch `HOME`.
    pub home: &'a Path,
    /// Environment additions.
    pub env: &'a [(String, String)],
    /// A file to feed on stdin (else stdin is empty).
    pub stdin: Option<&'a Path>,
    /// A directory for the captured output files.
    pub capture_dir: &'a Path,
    /// How long the process may run.
    pub timeout: Duration,
}

/// What one run of a tool did.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code (`None` when killed or timed out).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Whether the time limit ended it.
    pub timed_out: bool,
}

impl Run {
    /// Whether the tool succeeded.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `bin` as described; output goes through files so a chatty process can never block on a full pipe.
pub fn run(bin: &Path, inv: &Invocation<'_>) -> std::io::Result<Run> {
    std::fs::create_dir_all(inv.capture_dir)?;
    let out_path = inv.capture_dir.join("stdout");
    let err_path = inv.capture_dir.join("stderr");
    let mut cmd = Command::new(bin);
    cmd.args(inv.args).current_dir(inv.cwd);
    clean_env(&mut cmd, inv.home);
    for (k, v) in inv.env {
        cmd.env(k, v);
    }
    cmd.stdout(std::fs::File::create(&out_path)?).stderr(std::fs::File::create(&err_path)?);
    match inv.stdin {
        Some(file) => cmd.stdin(std::fs::File::open(file)?),
        None => cmd.stdin(Stdio::null()),
    };
    let mut child = cmd.spawn()?;
    let start = Instant::now();
    let (code, timed_out) = loop {
        if let Some(status) = child.try_wait()? {
            break (status.code(), false);
        }
        if start.elapsed() > inv.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    Ok(Run { code, stdout: std::fs::read(&out_path)?, stderr: std::fs::read(&err_path)?, timed_out })
}
