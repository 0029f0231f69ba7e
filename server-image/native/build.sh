#!/usr/bin/env sh
# Builds the FTP server's Node-API module for file I/O (io.c -> build/io.node) against the headers
# of the `node` on PATH (the pinned Node under make; /usr/local in a node image). Node-API is
# ABI-stable, so the module loads in any later Node as well. Quick when it is up to date.
# Usage: server-image/native/build.sh [output.node]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build/io.node}
src=$here/io.c
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
node=$(command -v node) || { echo "native/build.sh: no node on PATH" >&2; exit 1; }
include=$(cd "$(dirname "$(readlink -f "$node")")/../include/node" 2>/dev/null && pwd) || {
  echo "native/build.sh: no Node headers next to $node (include/node)" >&2; exit 1; }
command -v cc >/dev/null || { echo "native/build.sh: no C compiler (apt: gcc libc6-dev)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cc -O2 -Wall -Wextra -Werror -fPIC -shared -I"$include" -o "$out.tmp" "$src"
mv "$out.tmp" "$out"
