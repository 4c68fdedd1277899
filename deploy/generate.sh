#!/usr/bin/env bash
# Writes the plain manifests in deploy/ from the Helm chart in deploy/chart, with the chart's default values
# (release `pequod` in namespace `pequod-system`, and the namespace itself: createNamespace=true):
#   operator.yaml          everything but the two files below
#   tenant-role.yaml       templates/tenant-role.yaml
#   admission-policy.yaml  templates/admission-policy.yaml
#   baseline-policy.yaml   templates/platformpolicy.yaml (the baseline PlatformPolicy)
# and copies crds/pequod.yaml into the chart's crds/. Run it after changing the chart or the CRDs:
#   bash deploy/generate.sh            # rewrites deploy/*.yaml and deploy/chart/crds/pequod.yaml
#   bash deploy/generate.sh DIR        # writes the four manifests into DIR instead (what the tests compare)
# Uses $PEQUOD_HELM_BIN, else the helm that deploy/tools/install-tools.sh builds (and caches).
set -euo pipefail
deploy="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-${deploy}}"
helm="${PEQUOD_HELM_BIN:-$(bash "${deploy}/tools/install-tools.sh" helm)}"

if [ "$#" = 0 ]; then
  cp "${deploy}/../crds/pequod.yaml" "${deploy}/chart/crds/pequod.yaml"
fi
mkdir -p "${out}"
rendered="$(mktemp)"
trap 'rm -f "${rendered}"' EXIT
"${helm}" template pequod "${deploy}/chart" --namespace pequod-system --set createNamespace=true >"${rendered}"

generated='# Generated from deploy/chart by deploy/generate.sh (helm template, default values): edit the chart.'
printf '%s\n%s\n' '# Pequod operator: namespace, service account, RBAC, a hardened Deployment with leader election, and its
# metrics Service, PodDisruptionBudget and NetworkPolicy. Install the CRDs first: `kubectl apply -f crds/pequod.yaml`.' \
  "${generated}" >"${out}/operator.yaml"
printf '%s\n' "${generated}" >"${out}/tenant-role.yaml"
printf '%s\n' "${generated}" >"${out}/admission-policy.yaml"
printf '%s\n%s\n' "${generated}" "# Apply it after the CRDs; add your platform team's cosign public key to trust.publicKeys." \
  >"${out}/baseline-policy.yaml"
# Each document starts with `---` and `# Source: pequod/templates/<file>`; the file decides where it goes.
awk -v out="${out}" '
  /^---$/ { held = $0; next }
  /^# Source: / {
    file = $3; sub(/^.*\/templates\//, "", file)
    if (file == "tenant-role.yaml" || file == "admission-policy.yaml") target = out "/" file
    else if (file == "platformpolicy.yaml") target = out "/baseline-policy.yaml"
    else target = out "/operator.yaml"
  }
  held != "" { print held >> target; held = "" }
  { print >> target }
' "${rendered}"
