#!/usr/bin/env bash
# Saves images as one tarball for importing into a containerd that has no registry:
#   test/images/save-image.sh OUT.tar IMAGE [IMAGE...]
#   ctr --address <containerd.sock> -n k8s.io images import OUT.tar     # on the node
# Cached: skipped when OUT.tar was written from the same image IDs (recorded in OUT.tar.ids).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -ge 2 ] || die "usage: $0 OUT.tar IMAGE [IMAGE...]"
out=$1; shift
"$here/dockerd.sh" >/dev/null
ids=$(for i in "$@"; do printf '%s %s\n' "$i" "$("$DOCKER" image inspect --format '{{.Id}}' "$i")"; done)
if [ -s "$out" ] && [ -f "$out.ids" ] && [ "$(cat "$out.ids")" = "$ids" ]; then
  log "$out is up to date"
  exit 0
fi
mkdir -p "$(dirname "$out")"
"$DOCKER" save --output "$out.tmp" "$@"
mv "$out.tmp" "$out"
printf '%s\n' "$ids" > "$out.ids"
log "saved $* -> $out ($(du -h "$out" | cut -f1))"
