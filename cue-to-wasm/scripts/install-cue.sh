#!/usr/bin/env bash
# Installs the official `cue` command, pinned at the version the conformance corpus was recorded with
# (shared/cue-conformance/README.md), from the Go module proxy into
#   ${PEQUOD_CACHE:-$HOME/.cache/pequod}/cue-<version>/bin/cue
# and prints that path. Does nothing but print the path when the binary is already there. Needs Go.
#
# The differential test and the benchmark of cue-to-wasm look for the binary at exactly this path (or at
# $PEQUOD_CUE_BIN), so keep CUE_VERSION in step with PINNED_CUE_VERSION in cli/tests/support/official.rs.
set -euo pipefail

CUE_VERSION="${PEQUOD_CUE_VERSION:-v0.18.0-alpha.1}"
cache="${PEQUOD_CACHE:-${HOME}/.cache/pequod}"
bin_dir="${cache}/cue-${CUE_VERSION}/bin"

if [ -x "${bin_dir}/cue" ]; then
  echo "${bin_dir}/cue"
  exit 0
fi

command -v go >/dev/null || { echo "installing the official cue needs Go (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "${bin_dir}"
# Build into a temporary directory first so an interrupted build never leaves a half-written binary behind.
staging="$(mktemp -d)"
trap 'rm -rf "${staging}"' EXIT
export GOFLAGS="-buildvcs=false"
export CGO_ENABLED=0
GOBIN="${staging}" go install -trimpath "cuelang.org/go/cmd/cue@${CUE_VERSION}" >&2
mv "${staging}/cue" "${bin_dir}/cue"
"${bin_dir}/cue" version >&2
echo "${bin_dir}/cue"
