#!/usr/bin/env bash
# Compiles the operator or the FTP server to plain JavaScript in OUT_DIR
# (OUT_DIR/operator/src/main.js or OUT_DIR/server-image/src/main.js), as the images ship them and
# `make bench-operator` runs the operator: Node then loads no TypeScript stripper at run time
# (operator −30 MB RSS at start, docs/benchmarks.md; FTP server idle RSS about 115 → 85 MB per pod).
# Emit only (tsc --noCheck): `make check` type-checks the sources. What each compiles is its
# tsconfig.build.json (the operator's leaves out the CRD generator, operator/src/api/crd-gen.ts).
# OUT_DIR/package.json: "type": "module" and the package.json "imports" (`#server-config`, the
# operator↔server config contract) mapped to the emitted .js.
#   hack/compile-js.sh operator|server OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: hack/compile-js.sh operator|server OUT_DIR"
case "${1:-}" in
  operator) src=operator ;;
  server) src=server-image ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
out=${2:?$usage}
# NODE: a node binary to use (the Dockerfiles' build stages pass their own); default the pinned one.
node=${NODE:-$("$root/hack/node.sh")/node}
rm -rf "$out"
"$node" "$root/node_modules/typescript/bin/tsc" -p "$root/$src/tsconfig.build.json" --outDir "$out"
"$node" -e '
  const [pkgPath, out] = process.argv.slice(1);
  const pkg = JSON.parse(require("node:fs").readFileSync(pkgPath, "utf8"));
  const imports = Object.fromEntries(Object.entries(pkg.imports ?? {}).map(([k, v]) => [k, String(v).replace(/\.ts$/, ".js")]));
  require("node:fs").writeFileSync(out, JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: "module", imports }, null, 2) + "\n");
' "$root/package.json" "$out/package.json"
for spec in $(grep -o '"#[^"]*": *"[^"]*"' "$out/package.json" | sed 's/.*: *"\(.*\)"/\1/'); do
  [ -f "$out/$spec" ] || { echo "compile-js: $spec (package.json imports) was not emitted" >&2; exit 1; }
done
[ -f "$out/$src/src/main.js" ] || { echo "compile-js: no $src/src/main.js in $out" >&2; exit 1; }
# tsc rewrites import specifiers only: a file named by a string (a Worker's URL) must not say .ts.
quoted_ts=$'["\'`]\\.{1,2}/[^"\'`]*\\.ts["\'`]'
if grep -rnE "$quoted_ts" "$out/$src" >&2; then
  echo "compile-js: the emitted code names .ts files (above); the image has none" >&2
  exit 1
fi
