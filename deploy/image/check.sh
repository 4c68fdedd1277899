#!/usr/bin/env bash
# CI's check of the operator image: builds it (deploy/image/build.sh), pushes it to a loopback registry (Debian's
# `docker-registry`, which tests/harness/install-supply-tools.sh installs), pulls it back with crane, and
#   - checks the image holds exactly the binary and the CA bundle, runs as 65532:65532, starts pequod;
#   - runs `pequod --version` from the extracted filesystem, chrooted into it as user 65532 (nothing from the
#     host: a static binary);
#   - assembles it again from the same binary and checks the digest is the same (reproducible).
# Prints the image's size (compressed layer) and the binary's size. Needs root for chroot.
#   deploy/image/check.sh [--binary FILE]     # FILE: an already built static pequod (skips the cargo build)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
crane="${PEQUOD_CRANE_BIN:-$(bash "${repo}/deploy/tools/install-tools.sh" crane)}"
registry_bin="${PEQUOD_DOCKER_REGISTRY_BIN:-/usr/bin/docker-registry}"
[ -x "${registry_bin}" ] || { echo "${registry_bin} is missing: run tests/harness/install-supply-tools.sh" >&2; exit 1; }

fail() { echo "image check failed: $*" >&2; exit 1; }
build_arguments=()
[ "${1:-}" != --binary ] || build_arguments=(--binary "$2")

work="$(mktemp -d)"
registry_pid=""
cleanup() {
  [ -z "${registry_pid}" ] || kill "${registry_pid}" 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT

# The loopback registry, as the supply tests start it.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"${work}/registry.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: ${work}/storage}}
http: {addr: "127.0.0.1:${port}", secret: pequod-ci}
YAML
"${registry_bin}" serve "${work}/registry.yml" >"${work}/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  "${crane}" catalog "127.0.0.1:${port}" >/dev/null 2>&1 && break
  kill -0 "${registry_pid}" 2>/dev/null || fail "the registry did not start: $(cat "${work}/registry.log")"
  sleep 0.1
done
ref="127.0.0.1:${port}/pequod:ci"

start=$(date +%s)
digest="$(bash "${repo}/deploy/image/build.sh" --push "${ref}" "${build_arguments[@]}")"
echo "image built and pushed in $(( $(date +%s) - start )) s: ${ref}@${digest}"

# Pull it back and look inside.
[ "$("${crane}" digest "${ref}")" = "${digest}" ] || fail "the registry holds another digest than the one built"
mkdir "${work}/rootfs"
"${crane}" export "${ref}" - | tar -x -C "${work}/rootfs"
files="$(cd "${work}/rootfs" && find . -type f | sort | tr '\n' ' ')"
[ "${files}" = "./etc/ssl/certs/ca-certificates.crt ./usr/local/bin/pequod " ] || fail "unexpected files: ${files}"
config="$("${crane}" config "${ref}")"
for expected in '"User":"65532:65532"' '"Entrypoint":["/usr/local/bin/pequod"]' '"architecture":"amd64"'; do
  grep -qF "${expected}" <<<"${config}" || fail "the config lacks ${expected}: ${config}"
done
times="$(grep -o '"created":"[^"]*"' <<<"${config}" | sort -u)"
[ "${times}" = '"created":"0001-01-01T00:00:00Z"' ] || fail "creation times are not fixed at zero: ${times}"

version="$(chroot --userspec=65532:65532 "${work}/rootfs" /usr/local/bin/pequod --version)"
expected="pequod $(sed -n 's/^version = "\(.*\)"/\1/p' "${repo}/Cargo.toml" | head -1)"
[ "${version}" = "${expected}" ] || fail "pequod --version in the image says ${version:-nothing}, not ${expected}"
echo "pequod --version from the image (chroot, user 65532): ${version}"

# Reproducible: the same binary assembles to the same digest.
again="$(bash "${repo}/deploy/image/build.sh" --binary "${work}/rootfs/usr/local/bin/pequod")"
[ "${again}" = "${digest}" ] || fail "assembling the same binary again gave ${again}, not ${digest}"

layer_bytes="$("${crane}" manifest "${ref}" | python3 -c 'import json, sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')"
binary_bytes="$(stat -c %s "${work}/rootfs/usr/local/bin/pequod")"
echo "image: ${digest}, compressed layer $(( layer_bytes / 1024 / 1024 )) MiB (${layer_bytes} bytes); binary $(( binary_bytes / 1024 / 1024 )) MiB (${binary_bytes} bytes)"
