#!/usr/bin/env bash
# Builds the kstatus tool (./main.go on sigs.k8s.io/cli-utils' kstatus package, pinned in
# ./go.mod, a module of its own) into the same cache scheme as test/tools/helm/build.sh:
#   ${PASV_CACHE:-~/.cache/pasv-operator}/kstatus-<cli-utils version>-<key>/kstatus
# where the key hashes go.mod, go.sum, main.go and this script. Prints the binary's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "sigs.k8s.io/cli-utils") { print $(i+1); exit } }' "$here/go.mod")
key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$here/build.sh" | sha256sum | cut -c1-16)
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
dir="$cache/kstatus-$version-$key"
mkdir -p "$dir"; exec 9>"$dir/.lock"; flock 9   # one build at a time per cache entry
if [ ! -x "$dir/kstatus" ]; then
  cd "$here"
  echo "building kstatus (cli-utils $version) into $dir ..." >&2
  start=$(date +%s)
  CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags "-s -w" -o "$dir/kstatus.tmp" .
  mv "$dir/kstatus.tmp" "$dir/kstatus"
  echo "built kstatus in $(( $(date +%s) - start ))s" >&2
fi
echo "$dir/kstatus"
