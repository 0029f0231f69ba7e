#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the S3 gateway the object-storage tests run against) from its Go
# module (pinned in ./go.mod, a module of its own) into the same cache scheme as
# test/tools/helm/build.sh:
#   ${PASV_CACHE:-~/.cache/pasv-operator}/seaweedfs-<version>-<key>/weed
# where the key hashes go.mod, go.sum and this script. Prints the binary's path on stdout.
# About 6.5 minutes on 2 cores the first time, then cached. With PASV_NO_BUILD=1 it only prints
# the path of a binary already built and fails otherwise (what tests use: they never build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1 == "require" && $2 == "github.com/seaweedfs/seaweedfs" { print $3; exit }' "$here/go.mod")
key=$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
dir="$cache/seaweedfs-$version-$key"
if [ "${PASV_NO_BUILD:-}" = 1 ]; then
  [ -x "$dir/weed" ] || { echo "weed is not built: run 'make seaweedfs' (test/tools/seaweedfs/build.sh)" >&2; exit 3; }
  echo "$dir/weed"; exit 0
fi
mkdir -p "$dir"; exec 9>"$dir/.lock"; flock 9   # one build at a time per cache entry
if [ ! -x "$dir/weed" ]; then
  cd "$here"
  echo "building weed ($version) into $dir ..." >&2
  start=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/weed.tmp" github.com/seaweedfs/seaweedfs/weed
  mv "$dir/weed.tmp" "$dir/weed"
  echo "built weed in $(( $(date +%s) - start ))s" >&2
fi
echo "$dir/weed"
