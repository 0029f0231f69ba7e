#!/usr/bin/env bash
# Compiles the FTP server to plain JavaScript in OUT_DIR (OUT_DIR/server-image/src/main.js), as the
# FTP-server image ships it: Node then loads no TypeScript stripper at run time (idle RSS about
# 115 → 85 MB per pod). Emit only (tsc --noCheck): `make check` type-checks the sources.
# OUT_DIR/package.json: "type": "module" and the package.json "imports" mapped to the emitted .js.
# (hack/operator-js.sh does the same for the operator.)
#   hack/server-js.sh OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: hack/server-js.sh OUT_DIR}
# NODE: a node binary to use (the Dockerfile's build stage passes its own); default the pinned one.
node=${NODE:-$("$root/hack/node.sh")/node}
rm -rf "$out"
"$node" "$root/node_modules/typescript/bin/tsc" -p "$root/server-image/tsconfig.build.json" --outDir "$out"
"$node" -e '
  const [src, out] = process.argv.slice(1);
  const pkg = JSON.parse(require("node:fs").readFileSync(src, "utf8"));
  const imports = Object.fromEntries(Object.entries(pkg.imports ?? {}).map(([k, v]) => [k, String(v).replace(/\.ts$/, ".js")]));
  require("node:fs").writeFileSync(out, JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: "module", imports }, null, 2) + "\n");
' "$root/package.json" "$out/package.json"
[ -f "$out/server-image/src/main.js" ] || { echo "server-js: no main.js in $out" >&2; exit 1; }
# tsc rewrites import specifiers only: a file named by a string (a Worker's URL) must not say .ts.
quoted_ts=$'["\'`]\\.{1,2}/[^"\'`]*\\.ts["\'`]'
if grep -rnE "$quoted_ts" "$out/server-image" >&2; then
  echo "server-js: the emitted code names .ts files (above); the image has none" >&2
  exit 1
fi
