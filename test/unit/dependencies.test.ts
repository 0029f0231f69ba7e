// package.json's runtime dependencies are exactly what the shipped sources import: a package the
// operator or the server no longer imports belongs in devDependencies (docs/development.md).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { importedPackages, optionalPeers } from "../images/imports.ts";

const ROOT = resolve(import.meta.dirname, "../..");

test("every runtime dependency is imported by operator/src or server-image/src, and every import is one", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const runtime = Object.keys(pkg.dependencies).sort();
  // optional peers are imported lazily on a path that needs them (auth-provider kubeconfigs) and not shipped
  const optional = optionalPeers(join(ROOT, "package.json"));
  const used = [...importedPackages(["operator/src", "server-image/src"].map((d) => join(ROOT, d)))].filter((n) => !optional.has(n)).sort();
  assert.deepEqual(runtime, used, "package.json dependencies vs packages the shipped sources import");
});
