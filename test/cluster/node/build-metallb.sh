#!/usr/bin/env bash
# Builds MetalLB's controller from its Go module (pinned in ./metallb/go.mod, a module of its
# own so its client libraries never meet the pinned k8s.io/kubernetes) into a cache outside
# the checkout, keyed by the pin. Prints the binary's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mod="$here/metallb"
version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "go.universe.tf/metallb") { print $(i+1); exit } }' "$mod/go.mod")
key=$(cat "$mod/go.mod" "$mod/go.sum" "$here/build-metallb.sh" | sha256sum | cut -c1-16)
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
bin="$cache/metallb-$version-$key/bin"
mkdir -p "$bin"
exec 9>"$bin/.lock"; flock 9   # one build at a time per cache entry
if [ ! -x "$bin/metallb-controller" ]; then
  echo "building metallb controller ($version) into $bin ..." >&2
  start=$(date +%s)
  cd "$mod"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/metallb-controller.tmp" go.universe.tf/metallb/controller
  mv "$bin/metallb-controller.tmp" "$bin/metallb-controller"
  echo "built metallb controller in $(( $(date +%s) - start ))s" >&2
fi
# The CRDs ship in the same module; the node applies them from the module cache.
crds="$(cd "$mod" && go list -m -f '{{.Dir}}' go.universe.tf/metallb)/config/crd/bases"
[ -d "$crds" ] || { echo "metallb CRDs not found at $crds" >&2; exit 1; }
echo "$bin/metallb-controller $crds"
