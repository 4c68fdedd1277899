//! The real `helm` (v3) for the chart tests, built from the Go module proxy by `deploy/tools/install-tools.sh`
//! and cached under `${PEQUOD_CACHE:-~/.cache/pequod}/helm-<version>/bin`.

use std::path::PathBuf;

/// The repository's root.
fn repository() -> PathBuf {
    crate::harness_dir().join("../..")
}

/// The helm version `deploy/tools/install-tools.sh` builds (its `HELM_VERSION` default), read from the
/// script so the two cannot disagree.
pub fn helm_version() -> Option<String> {
    let script = std::fs::read_to_string(repository().join("deploy/tools/install-tools.sh")).ok()?;
    pinned_version(&script, "HELM_VERSION")
}

/// The default of `NAME="${PEQUOD_…:-<default>}"` in a shell script.
fn pinned_version(script: &str, name: &str) -> Option<String> {
    let line = script.lines().find(|line| line.starts_with(&format!("{name}=")))?;
    let default = line.split(":-").nth(1)?;
    Some(default.trim_end_matches(['"', '}']).to_owned())
}

/// The helm binary: `$PEQUOD_HELM_BIN`, else the one `install-tools.sh` caches, if it exists.
pub fn helm_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PEQUOD_HELM_BIN") {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let cache = std::env::var_os("PEQUOD_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/pequod")))?;
    Some(cache.join(format!("helm-{}/bin/helm", helm_version()?))).filter(|path| path.is_file())
}

/// Whether a missing helm must fail the tests (`PEQUOD_REQUIRE_HELM=1`, set by CI) instead of skipping them.
pub fn helm_required() -> bool {
    std::env::var("PEQUOD_REQUIRE_HELM").is_ok_and(|value| value == "1")
}

/// The helm binary, or `None` after printing why the calling test is skipped. Panics when helm is missing
/// and `PEQUOD_REQUIRE_HELM=1`.
pub fn helm_or_skip(test: &str) -> Option<PathBuf> {
    let helm = helm_binary();
    if helm.is_none() {
        assert!(
            !helm_required(),
            "helm is missing and PEQUOD_REQUIRE_HELM=1: run deploy/tools/install-tools.sh (or set PEQUOD_HELM_BIN)"
        );
        #[allow(clippy::print_stderr, reason = "tells why the test did nothing")]
        {
            eprintln!("skipping {test}: helm is missing (run deploy/tools/install-tools.sh, or set PEQUOD_HELM_BIN)");
        }
    }
    helm
}

/// The chart's directory, `deploy/chart`.
pub fn chart_dir() -> PathBuf {
    repository().join("deploy/chart")
}

/// Lines of `stderr` that are API server warnings (`Warning: …`, or client-go's `warnings.go` lines).
pub fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|line| line.contains("Warning:") || line.contains("warnings.go")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_read_from_the_script() {
        let script = "#!/bin/sh\nHELM_VERSION=\"${PEQUOD_HELM_VERSION:-v3.21.4}\"\nCRANE_VERSION=x\n";
        assert_eq!(pinned_version(script, "HELM_VERSION").as_deref(), Some("v3.21.4"));
        assert_eq!(pinned_version(script, "COSIGN_VERSION"), None);
        assert!(helm_version().is_some_and(|version| version.starts_with("v3.")), "{:?}", helm_version());
    }

    #[test]
    fn warnings_are_found_in_either_form() {
        let stderr = "W1203 10:00:00.000 1 warnings.go:70] unrecognized format \"uint32\"\nrelease installed\n\
                      Warning: spec.foo: deprecated\n";
        assert_eq!(warnings(stderr).len(), 2);
        assert!(warnings("NAME: pequod\nSTATUS: deployed\n").is_empty());
    }
}
