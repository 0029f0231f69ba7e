// Copies the production dependencies (every package-lock.json entry not marked dev, i.e. what
// `npm ci --omit=dev` would install) from the checkout's node_modules into OUT_DIR/node_modules,
// so the operator image gets its node_modules without network access.
//   node hack/chart/prod-deps.ts OUT_DIR
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const out = process.argv[2];
if (out === undefined) {
  console.error("usage: node hack/chart/prod-deps.ts OUT_DIR");
  process.exit(2);
}
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean; link?: boolean }>;
};
rmSync(join(out, "node_modules"), { recursive: true, force: true });
const copied: string[] = [];
for (const [path, pkg] of Object.entries(lock.packages)) {
  if (!path.startsWith("node_modules/") || pkg.dev || pkg.link) continue;
  const from = join(root, path);
  if (!existsSync(from)) {
    if (pkg.optional || pkg.devOptional) continue; // an optional dependency for another platform
    throw new Error(`${path} is in package-lock.json but not installed: run make deps`);
  }
  const to = join(out, path);
  mkdirSync(dirname(to), { recursive: true });
  // Nested node_modules are separate lockfile entries (copied on their own, dev ones skipped).
  cpSync(from, to, { recursive: true, filter: (src) => src === from || !src.slice(from.length).includes("/node_modules/") });
  if (!path.slice("node_modules/".length).includes("/node_modules/")) copied.push(path.slice("node_modules/".length));
}
console.log(copied.join(" "));
