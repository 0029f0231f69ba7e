#!/usr/bin/env bash
# Builds Helm's CLI from its Go module (pinned in ./go.mod, a module of its own so Helm's
# Kubernetes client libraries never meet the pinned k8s.io/kubernetes in test/cluster/tools)
# into the same cache scheme as test/cluster/build.sh:
#   ${PASV_CACHE:-~/.cache/pasv-operator}/helm-<version>-<key>/helm
# where the key hashes go.mod, go.sum and this script. Prints the binary's path on stdout.
#
# The ldflags are the ones Helm's own Makefile sets: the version (so `helm version` shows
# the pin), a clean tree state, and the Kubernetes minor of its client libraries as the
# default capabilities of `helm template` / `helm lint` (otherwise v1.20).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "helm.sh/helm/v3") { print $(i+1); exit } }' "$here/go.mod")
key=$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
dir="$cache/helm-$version-$key"
mkdir -p "$dir"; exec 9>"$dir/.lock"; flock 9   # one build at a time per cache entry
if [ ! -x "$dir/helm" ]; then
  cd "$here"
  k8s=$(go list -m -f '{{.Version}}' k8s.io/client-go)   # v0.35.1 -> Kubernetes 1.35
  k8s_minor=${k8s#v0.}; k8s_minor=${k8s_minor%%.*}
  v=helm.sh/helm/v3
  ldflags="-s -w -X $v/internal/version.version=$version -X $v/internal/version.gitTreeState=clean"
  ldflags+=" -X $v/pkg/lint/rules.k8sVersionMajor=1 -X $v/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
  ldflags+=" -X $v/pkg/chartutil.k8sVersionMajor=1 -X $v/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  echo "building helm ($version) into $dir ..." >&2
  start=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/helm.tmp" helm.sh/helm/v3/cmd/helm
  mv "$dir/helm.tmp" "$dir/helm"
  echo "built helm in $(( $(date +%s) - start ))s" >&2
fi
echo "$dir/helm"
