#!/usr/bin/env bash
# Installs the real parts the supply-chain tests run against, when missing:
#   - Debian's `docker-registry` (the CNCF distribution registry) and `htpasswd` (apache2-utils);
#   - Debian's `git`, whose `git http-backend` serves the git-module tests' repositories;
#   - the `cosign` CLI of a pinned version, built from the Go module proxy into
#     ${PEQUOD_CACHE:-$HOME/.cache/pequod}/cosign-<version>/bin.
# Idempotent: does nothing when everything is there. Prints the cosign binary's path last.
set -euo pipefail

COSIGN_VERSION="${PEQUOD_COSIGN_VERSION:-v2.6.5}"
cache="${PEQUOD_CACHE:-${HOME}/.cache/pequod}"
cosign_dir="${cache}/cosign-${COSIGN_VERSION}/bin"

packages=()
[ -x /usr/bin/docker-registry ] || packages+=(docker-registry)
command -v htpasswd >/dev/null || packages+=(apache2-utils)
[ -x "$(git --exec-path 2>/dev/null)/git-http-backend" ] || packages+=(git)
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then as_root=(); else as_root=(sudo); fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
fi
# The Debian package starts a registry service on :5000 where an init system runs; the tests start their own.

if [ ! -x "${cosign_dir}/cosign" ]; then
  command -v go >/dev/null || { echo "building cosign needs Go (https://go.dev/dl)" >&2; exit 1; }
  mkdir -p "${cosign_dir}"
  GOBIN="${cosign_dir}" CGO_ENABLED=0 GOFLAGS="-buildvcs=false" \
    go install "github.com/sigstore/cosign/v2/cmd/cosign@${COSIGN_VERSION}" >&2
fi
echo "${cosign_dir}/cosign"
