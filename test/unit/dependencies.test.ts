// package.json's runtime dependencies are exactly what the shipped sources import: a package the
// operator or the server no longer imports belongs in devDependencies (docs/development.md).
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : [];
  });
}

function imported(dirs: string[]): Set<string> {
  const builtins = new Set(builtinModules);
  const names = new Set<string>();
  // `#name` imports are package.json "imports" (our own files, e.g. #server-config), not packages.
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"'./#][^"']*)["']/gm;
  for (const file of dirs.flatMap((d) => sources(join(ROOT, d)))) {
    for (const m of readFileSync(file, "utf8").matchAll(re)) {
      const spec = m[1] ?? "";
      if (spec.startsWith("node:") || builtins.has(spec)) continue;
      const parts = spec.split("/");
      names.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? spec));
    }
  }
  return names;
}

test("every runtime dependency is imported by operator/src or server-image/src, and every import is one", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
  const runtime = Object.keys(pkg.dependencies).sort();
  // optional peers are imported lazily on a path that needs them (auth-provider kubeconfigs) and not shipped
  const optional = new Set(Object.entries(pkg.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([n]) => n));
  const used = [...imported(["operator/src", "server-image/src"])].filter((n) => !optional.has(n)).sort();
  assert.deepEqual(runtime, used, "package.json dependencies vs packages the shipped sources import");
});
