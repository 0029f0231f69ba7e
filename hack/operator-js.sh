#!/usr/bin/env bash
# Compiles the operator to plain JavaScript in OUT_DIR (OUT_DIR/operator/src/main.js), as the
# operator image ships it and `make bench-operator` runs it: Node then loads no TypeScript
# stripper at run time (−30 MB RSS at start, docs/benchmarks.md). Emit only (tsc --noCheck):
# `make check` type-checks the sources. The CRD generator (operator/src/api/crd-gen.ts) is not
# part of it. The FTP server's config contract (`#server-config`, package.json "imports") is
# compiled with it; OUT_DIR/package.json maps `#server-config` to the emitted .js ("type": "module").
#   hack/operator-js.sh OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: hack/operator-js.sh OUT_DIR}
# NODE: a node binary to use (the Dockerfile's build stage passes its own); default the pinned one.
node=${NODE:-$("$root/hack/node.sh")/node}
rm -rf "$out"
"$node" "$root/node_modules/typescript/bin/tsc" -p "$root/operator/tsconfig.build.json" --outDir "$out"
"$node" -e '
  const [src, out] = process.argv.slice(1);
  const pkg = JSON.parse(require("node:fs").readFileSync(src, "utf8"));
  const imports = Object.fromEntries(Object.entries(pkg.imports ?? {}).map(([k, v]) => [k, String(v).replace(/\.ts$/, ".js")]));
  require("node:fs").writeFileSync(out, JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: "module", imports }, null, 2) + "\n");
' "$root/package.json" "$out/package.json"
for spec in $(grep -o '"#[^"]*": *"[^"]*"' "$out/package.json" | sed 's/.*: *"\(.*\)"/\1/'); do
  [ -f "$out/$spec" ] || { echo "operator-js: $spec (package.json imports) was not emitted" >&2; exit 1; }
done
[ -f "$out/operator/src/main.js" ] || { echo "operator-js: no main.js in $out" >&2; exit 1; }
