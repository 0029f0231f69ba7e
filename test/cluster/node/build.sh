#!/usr/bin/env bash
# Builds the node's own small artifacts, cached outside the checkout, keyed by the sources:
# - pause.tar, echo.tar: images without Docker or a registry, each one static Go binary from
#   ./images packed as a single-layer image in `docker save` format (what containerd's
#   `ctr images import` and `docker load` both read);
# - pasv-cri: a tiny CRI client (./cri) used to tear pods down through containerd.
# Prints the cache directory.
#   image names: pasv.local/pause:1 (pod sandbox), pasv.local/echo:1 (smoke-test server)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/images"
key=$( (cd "$here" && find images cri -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | sort | xargs cat; cat "$here/build.sh") | sha256sum | cut -c1-16)
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
out="$cache/node-artifacts-$key"
mkdir -p "$out"; exec 9>"$out/.lock"; flock 9   # one build at a time per cache entry
if [ -f "$out/pause.tar" ] && [ -f "$out/echo.tar" ] && [ -x "$out/pasv-cri" ]; then echo "$out"; exit 0; fi
mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }

# pack NAME REF ENTRYPOINT_JSON : $work/NAME/rootfs -> $out/NAME.tar
pack() {
  local name=$1 ref=$2 entry=$3
  local d="$work/$name"
  mkdir -p "$d/img"
  # Deterministic layer: fixed owner and mtime, sorted names.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$d/rootfs" -cf "$d/layer.tar" .
  local diff; diff=$(sha "$d/layer.tar")
  mkdir -p "$d/img/$diff"; mv "$d/layer.tar" "$d/img/$diff/layer.tar"
  cat > "$d/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Entrypoint":$entry,"Env":["PATH=/"],"WorkingDir":"/","User":"65532:65532"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"test/cluster/node/build.sh"}]}
JSON
  local cfg; cfg=$(sha "$d/config.json")
  mv "$d/config.json" "$d/img/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cfg" "$ref" "$diff" > "$d/img/manifest.json"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$d/img" -cf "$out/$name.tar.tmp" .
  mv "$out/$name.tar.tmp" "$out/$name.tar"
}

for prog in pause echo; do
  mkdir -p "$work/$prog/rootfs"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/$prog/rootfs/$prog" "./$prog")
done
pack pause pasv.local/pause:1 '["/pause"]'
pack echo pasv.local/echo:1 '["/echo"]'
(cd "$here/cri" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/pasv-cri.tmp" . && mv "$out/pasv-cri.tmp" "$out/pasv-cri")
echo "$out"
