// Which npm packages the shipped sources import: the one scanner behind the images' pruned
// node_modules (prod-deps.ts) and the check that package.json's runtime dependencies are exactly
// those (test/unit/dependencies.test.ts).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";

/** .ts sources or .js emitted code under `dir`, tests excluded. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return (p.endsWith(".ts") || p.endsWith(".js")) && !p.endsWith(".test.ts") ? [p] : [];
  });
}

/** Bare package names imported by the files under `dirs` (`zod`, `@scope/pkg`), without builtins. */
export function importedPackages(dirs: string[]): Set<string> {
  const builtins = new Set(builtinModules);
  const names = new Set<string>();
  // `#name` imports are package.json "imports" (our own files, e.g. #server-config), not packages.
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"'./#][^"']*)["']/gm;
  for (const file of dirs.flatMap((d) => sourceFiles(d))) {
    for (const m of readFileSync(file, "utf8").matchAll(re)) {
      const spec = m[1] ?? "";
      if (spec.startsWith("node:") || builtins.has(spec)) continue;
      const parts = spec.split("/");
      names.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? spec));
    }
  }
  return names;
}

/**
 * Optional peer dependencies (package.json peerDependenciesMeta): imported lazily, only on a path
 * that needs them (auth-provider kubeconfigs), and not shipped in the images.
 */
export function optionalPeers(packageJson: string): Set<string> {
  const pkg = JSON.parse(readFileSync(packageJson, "utf8")) as { peerDependenciesMeta?: Record<string, { optional?: boolean }> };
  return new Set(Object.entries(pkg.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional === true).map(([n]) => n));
}
