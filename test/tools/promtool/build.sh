#!/usr/bin/env bash
# Builds promtool (Prometheus' rule checker and rule unit tester) from Prometheus' Go module
# (pinned in ./go.mod, a module of its own) into the same cache scheme as test/tools/helm/build.sh:
#   ${PASV_CACHE:-~/.cache/pasv-operator}/promtool-<version>-<key>/promtool
# where the key hashes go.mod, go.sum and this script. Prints the binary's path on stdout.
#
# Module versions v0.3MM.P are Prometheus v3.MM.P; `promtool --version` shows that. The build tag
# remove_all_sd leaves out every service-discovery plugin (cloud SDKs): checking and unit-testing
# rules needs none of them, and the build takes a fraction of the time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
modver=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/prometheus/prometheus") { print $(i+1); exit } }' "$here/go.mod")
minor=${modver#v0.}; patch=${minor#*.}; minor=${minor%%.*}
version="3.$((10#${minor:1})).$patch"   # v0.316.0 -> 3.16.0
key=$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
dir="$cache/promtool-$modver-$key"
mkdir -p "$dir"; exec 9>"$dir/.lock"; flock 9   # one build at a time per cache entry
if [ ! -x "$dir/promtool" ]; then
  cd "$here"
  v=github.com/prometheus/common/version
  ldflags="-s -w -X $v.Version=$version -X $v.Branch=HEAD -X $v.BuildUser=pasv-operator"
  echo "building promtool ($version) into $dir ..." >&2
  start=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -tags remove_all_sd -ldflags "$ldflags" -o "$dir/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool
  mv "$dir/promtool.tmp" "$dir/promtool"
  echo "built promtool in $(( $(date +%s) - start ))s" >&2
fi
echo "$dir/promtool"
