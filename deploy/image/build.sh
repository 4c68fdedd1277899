#!/usr/bin/env bash
# Builds the operator's OCI image without a Docker daemon: a static `pequod` (x86_64-unknown-linux-musl,
# cargo profile `image`), Debian's CA bundle and a numeric non-root user (65532), nothing else.
#
#   deploy/image/build.sh [--push REF] [--output FILE.tar] [--oci-layout DIR] [--binary FILE]
#
# The image is assembled with `crane` (deploy/tools/install-tools.sh builds it) in a scratch in-memory registry
# (`crane registry serve` on loopback), then copied to REF (any registry; loopback ones over plain HTTP), saved
# as a tarball (`kind load image-archive FILE.tar`, `docker load -i FILE.tar`) and/or as an OCI layout. It
# prints the image digest (sha256:…) on stdout. The layer is reproducible: files sorted, owned by 0:0,
# modification times 0, fixed modes; the config's creation times are the zero time (0001-01-01). The same
# binary and CA bundle give the same digest. --binary takes an already built static binary instead of building one.
#
# Installs what is missing (as root, with apt): musl-tools (musl-gcc, for the C parts of ring, aws-lc and zstd)
# and ca-certificates; and the rustup target. Cargo's target directory is $CARGO_TARGET_DIR, else target/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target=x86_64-unknown-linux-musl
profile=image
user=65532
bundle=/etc/ssl/certs/ca-certificates.crt

push="" output="" layout="" binary=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --push) push="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --oci-layout) layout="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    *) echo "usage: $0 [--push REF] [--output FILE.tar] [--oci-layout DIR] [--binary FILE]" >&2; exit 2 ;;
  esac
done

log() { printf '[image] %s\n' "$*" >&2; }

install_packages() {
  local packages=()
  command -v musl-gcc >/dev/null || packages+=(musl-tools)
  command -v file >/dev/null || packages+=(file)
  [ -s "${bundle}" ] || packages+=(ca-certificates)
  [ "${#packages[@]}" = 0 ] && return
  [ "$(id -u)" = 0 ] || { echo "install ${packages[*]} (apt-get install ${packages[*]}) or run as root" >&2; exit 1; }
  log "installing ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
}

build_binary() {
  rustup target list --installed | grep -qx "${target}" || rustup target add "${target}" >&2
  log "cargo build --profile ${profile} --target ${target}"
  (cd "${repo}" && cargo build --locked -p pequod --bin pequod --profile "${profile}" --target "${target}" >&2)
  binary="${CARGO_TARGET_DIR:-${repo}/target}/${target}/${profile}/pequod"
}

# layer DIR FILE: the image's only layer, as a reproducible tarball.
layer() {
  local root="$1/rootfs"
  mkdir -p "${root}/usr/local/bin" "${root}/etc/ssl/certs"
  install -m 0755 "${binary}" "${root}/usr/local/bin/pequod"
  install -m 0644 "${bundle}" "${root}/etc/ssl/certs/ca-certificates.crt"
  find "${root}" -type d -exec chmod 0755 {} +
  tar --create --file "$2" --directory "${root}" --format=gnu --sort=name --mtime=@0 \
    --owner=0 --group=0 --numeric-owner usr etc
}

# scratch_registry LOG: starts `crane registry serve` on a free loopback port; sets registry and registry_pid.
scratch_registry() {
  "${crane}" registry serve --address 127.0.0.1:0 2>"$1" &
  registry_pid=$!
  for _ in $(seq 100); do
    registry="127.0.0.1:$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$1")"
    [ "${registry}" != "127.0.0.1:" ] && return
    kill -0 "${registry_pid}" 2>/dev/null || break
    sleep 0.1
  done
  echo "crane registry serve did not start: $(cat "$1")" >&2
  exit 1
}

# retag FILE TAG: names the image of a `docker save` tarball TAG (crane names it after the scratch registry).
retag() {
  python3 - "$1" "$2" <<'PY'
import io, json, sys, tarfile
path, tag = sys.argv[1], sys.argv[2]
with tarfile.open(path) as source:
    members = [(m, source.extractfile(m).read() if m.isfile() else None) for m in source.getmembers()]
with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as target:
    for member, data in members:
        if member.name == "manifest.json":
            manifest = json.loads(data)
            for image in manifest:
                image["RepoTags"] = [tag]
            data = json.dumps(manifest).encode()
            member.size = len(data)
        target.addfile(member, io.BytesIO(data) if data is not None else None)
PY
}

install_packages
[ -n "${binary}" ] || build_binary
file "${binary}" | grep -Eq "statically linked|static-pie linked" || { echo "${binary} is not a static binary" >&2; exit 1; }
version="$("${binary}" --version | awk '{print $2}')"
crane="${PEQUOD_CRANE_BIN:-$(bash "${repo}/deploy/tools/install-tools.sh" crane)}"

work="$(mktemp -d)"
registry_pid=""
cleanup() {
  [ -z "${registry_pid}" ] || kill "${registry_pid}" 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT
layer "${work}" "${work}/layer.tar"
scratch_registry "${work}/registry.log"
scratch="${registry}/pequod:${version}"
"${crane}" append --oci-empty-base --new_layer "${work}/layer.tar" --new_tag "${scratch}" >/dev/null 2>&1
ca_version="$(dpkg-query -W -f='${Version}' ca-certificates 2>/dev/null || echo unknown)"
"${crane}" mutate "${scratch}" --tag "${scratch}" --set-platform linux/amd64 \
  --entrypoint /usr/local/bin/pequod --user "${user}:${user}" --workdir / \
  --env "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
  --label "org.opencontainers.image.title=pequod" \
  --label "org.opencontainers.image.version=${version}" \
  --label "io.pequod.ca-certificates=${ca_version}" >/dev/null 2>&1
digest="$("${crane}" digest "${scratch}")"
log "assembled pequod ${version}: ${digest}"

if [ -n "${push}" ]; then
  "${crane}" copy "${scratch}" "${push}" >&2
  log "pushed ${push}"
fi
if [ -n "${output}" ]; then
  "${crane}" pull --format tarball "${scratch}" "${output}"
  retag "${output}" "pequod:${version}"
  log "saved ${output} (pequod:${version})"
fi
if [ -n "${layout}" ]; then
  "${crane}" pull --format oci "${scratch}" "${layout}"
  log "saved the OCI layout ${layout}"
fi
echo "${digest}"
