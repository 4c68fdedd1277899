#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests run against — kube-apiserver, kube-controller-manager,
# kubectl and etcd of pinned versions — from the Go module proxy, into
#   ${PEQUOD_CACHE:-$HOME/.cache/pequod}/k8s-<version>/bin
# and prints that directory. Does nothing when the binaries are already there. Needs Go.
set -euo pipefail

K8S_VERSION="${PEQUOD_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${PEQUOD_ETCD_VERSION:-v3.6.8}"
cache="${PEQUOD_CACHE:-${HOME}/.cache/pequod}"
out="${cache}/k8s-${K8S_VERSION}/bin"
binaries=(kube-apiserver kube-controller-manager kubectl etcd)

missing=0
for binary in "${binaries[@]}"; do
  [ -x "${out}/${binary}" ] || missing=1
done
if [ "${missing}" = 0 ]; then
  echo "${out}"
  exit 0
fi

command -v go >/dev/null || { echo "building the control plane needs Go (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "${out}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0

# kube-apiserver, kube-controller-manager and kubectl: k8s.io/kubernetes refers to its staging modules as
# v0.0.0, so a module that requires it must replace each with the published v0.<minor>.<patch>.
minor_patch="${K8S_VERSION#v1.}"
mkdir -p "${work}/k8s"
cd "${work}/k8s"
go mod init pequod.test/control-plane >/dev/null 2>&1
go mod edit -require "k8s.io/kubernetes@${K8S_VERSION}"
gomod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
for module in $(awk '$2 == "v0.0.0" && $1 ~ /^k8s\.io\// {print $1}' "${gomod}"); do
  go mod edit -replace "${module}=${module}@v0.${minor_patch}"
done
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
go mod tidy -e >/dev/null 2>&1 || true
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor_patch%%.*}"
go build -trimpath -ldflags "${ldflags}" -o "${out}/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl

# etcd: its server module has the whole server behind etcdmain.Main.
mkdir -p "${work}/etcd"
cd "${work}/etcd"
go mod init pequod.test/etcd >/dev/null 2>&1
cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1
go mod tidy >/dev/null 2>&1
go build -trimpath -ldflags "-s -w" -o "${out}/etcd" .

echo "${out}"
