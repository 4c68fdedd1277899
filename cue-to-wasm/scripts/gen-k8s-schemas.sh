#!/usr/bin/env bash
# Generates the CUE schemas of the Kubernetes `apps/v1` and `core/v1` APIs (and the apimachinery packages
# they import) with the official tool's `cue get go`, from a pinned k8s.io/api fetched through the Go module
# proxy, into
#   ${PEQUOD_CACHE:-$HOME/.cache/pequod}/cue-gen-k8s-api-<k8s.io/api version>-cue-<cue version>/cue.mod/gen
# and prints that `cue.mod/gen` directory. Does nothing but print the path when the tree is already there.
#
# The tree is generated rather than committed: it is several megabytes of generated text, and generating it
# takes well under a minute once Go's module cache is warm. The differential test and the benchmark of
# cue-to-wasm copy it into a temporary copy of cue-to-wasm/testdata/k8s-module. Needs Go; installs the official
# cue with install-cue.sh (or uses $PEQUOD_CUE_BIN).
set -euo pipefail

K8S_API_VERSION="${PEQUOD_K8S_API_VERSION:-v0.36.3}"
CUE_VERSION="${PEQUOD_CUE_VERSION:-v0.18.0-alpha.1}"
cache="${PEQUOD_CACHE:-${HOME}/.cache/pequod}"
root="${cache}/cue-gen-k8s-api-${K8S_API_VERSION}-cue-${CUE_VERSION}"
gen="${root}/cue.mod/gen"
packages=(k8s.io/api/apps/v1 k8s.io/api/core/v1)

complete=1
for package in "${packages[@]}"; do
  [ -d "${gen}/${package}" ] || complete=0
done
if [ "${complete}" = 1 ]; then
  echo "${gen}"
  exit 0
fi

command -v go >/dev/null || { echo "generating the Kubernetes schemas needs Go (https://go.dev/dl)" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cue="${PEQUOD_CUE_BIN:-$(PEQUOD_CUE_VERSION="${CUE_VERSION}" bash "${here}/install-cue.sh")}"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cd "${work}"
export GOFLAGS="-buildvcs=false -mod=mod"
export CUE_REGISTRY=none
go mod init pequod.test/k8s-schemas >/dev/null 2>&1
# `cue get go` loads the Go packages with `go list`, so the scratch module must require them.
go get "k8s.io/api@${K8S_API_VERSION}" >&2
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/api/core/v1"
)
GO
go mod tidy >&2
"${cue}" mod init pequod.test/k8s-schemas >&2
"${cue}" get go "${packages[@]}" >&2

# Publish atomically: a concurrent or interrupted run never leaves a partial tree at the cached path.
mkdir -p "${cache}"
staging="$(mktemp -d "${cache}/.cue-gen-XXXXXX")"
mkdir -p "${staging}/cue.mod"
cp -R cue.mod/gen "${staging}/cue.mod/gen"
rm -rf "${root}"
mv "${staging}" "${root}"
echo "${gen}"
