#!/usr/bin/env bash
# Builds the deploy tools of pinned versions from the Go module proxy, when missing:
#   - `helm` (v3), for the chart in deploy/chart and its tests;
#   - `crane` (go-containerregistry), which assembles and pushes the image without a Docker daemon.
# Each lands in ${PEQUOD_CACHE:-$HOME/.cache/pequod}/<tool>-<version>/bin. Idempotent: builds only what is
# missing. Needs Go. Prints `helm=<path>` and `crane=<path>` lines, or the one tool asked for:
#   install-tools.sh [helm|crane]
set -euo pipefail

HELM_VERSION="${PEQUOD_HELM_VERSION:-v3.21.4}"
CRANE_VERSION="${PEQUOD_CRANE_VERSION:-v0.22.1}"
cache="${PEQUOD_CACHE:-${HOME}/.cache/pequod}"

# helm reports its version, and the Kubernetes version `helm template` and `helm lint` assume without a
# cluster, from variables its release builds set (v1.36: the client-go it is built with).
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for package in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X ${package}.k8sVersionMajor=1 -X ${package}.k8sVersionMinor=36"
done

# install TOOL VERSION PACKAGE [LDFLAGS]: builds PACKAGE@VERSION into the cache unless it is there; prints the
# binary.
install() {
  local tool="$1" version="$2" package="$3" ldflags="${4:-}"
  local dir="${cache}/${tool}-${version}/bin"
  if [ ! -x "${dir}/${tool}" ]; then
    command -v go >/dev/null || { echo "building ${tool} needs Go (https://go.dev/dl)" >&2; exit 1; }
    mkdir -p "${dir}"
    # Build into a scratch directory and move the binary in place, so an interrupted build leaves nothing.
    local scratch
    scratch="$(mktemp -d)"
    GOBIN="${scratch}" CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath" \
      go install -ldflags "-s -w ${ldflags}" "${package}@${version}" >&2
    mv "${scratch}/${tool}" "${dir}/${tool}"
    rm -rf "${scratch}"
  fi
  echo "${dir}/${tool}"
}

case "${1:-all}" in
  helm) install helm "${HELM_VERSION}" helm.sh/helm/v3/cmd/helm "${helm_ldflags}" ;;
  crane) install crane "${CRANE_VERSION}" github.com/google/go-containerregistry/cmd/crane ;;
  all)
    echo "helm=$(install helm "${HELM_VERSION}" helm.sh/helm/v3/cmd/helm "${helm_ldflags}")"
    echo "crane=$(install crane "${CRANE_VERSION}" github.com/google/go-containerregistry/cmd/crane)"
    ;;
  *) echo "usage: $0 [helm|crane]" >&2; exit 2 ;;
esac
