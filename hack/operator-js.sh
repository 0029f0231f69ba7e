#!/usr/bin/env bash
# Compiles the operator to plain JavaScript in OUT_DIR (OUT_DIR/operator/src/main.js), as the
# operator image ships it and `make bench-operator` runs it: Node then loads no TypeScript
# stripper at run time (−30 MB RSS at start, docs/benchmarks.md). Emit only (tsc --noCheck):
# `make check` type-checks the sources. The CRD generator (operator/src/api/crd-gen.ts) is not
# part of it; files reached only through `import type` (the FTP server's config schema) are
# emitted by tsc but never loaded, so they are dropped.
#   hack/operator-js.sh OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: hack/operator-js.sh OUT_DIR}
node_bin=$("$root/hack/node.sh")
rm -rf "$out"
"$node_bin/node" "$root/node_modules/typescript/bin/tsc" -p "$root/operator/tsconfig.build.json" --outDir "$out"
# Nothing the operator runs may import outside operator/src (the image holds only that).
if grep -rlE "from \"(\.\./)+server-image/" "$out/operator" >/dev/null; then
  echo "operator-js: emitted operator code imports server-image/ at run time; ship it or use import type" >&2
  exit 1
fi
rm -rf "$out/server-image"
[ -f "$out/operator/src/main.js" ] || { echo "operator-js: no main.js in $out" >&2; exit 1; }
