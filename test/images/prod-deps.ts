// Copies the production packages that an image's sources actually import (and their dependency
// closure, resolved like Node does through package-lock.json) from the checkout's node_modules
// into OUT, so each image gets a pruned node_modules without network access. Used for the FTP
// server image and the operator image.
//   node test/images/prod-deps.ts OUT_NODE_MODULES SRC_DIR...   (SRC_DIR relative to the repo root, or absolute;
//   its .ts sources or .js emitted code, e.g. the compiled operator of hack/compile-js.sh)
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { importedPackages, optionalPeers } from "./imports.ts";

interface LockPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  dev?: boolean;
}
interface Lockfile {
  packages: Record<string, LockPackage>;
}

const root = resolve(import.meta.dirname, "../..");
const [out, ...srcDirs] = process.argv.slice(2);
if (out === undefined || srcDirs.length === 0) {
  console.error("usage: node test/images/prod-deps.ts OUT_NODE_MODULES SRC_DIR...");
  process.exit(2);
}

const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as Lockfile;

/** Node's lookup: from the requiring package's location upwards to the top-level node_modules. */
function resolveIn(fromPath: string, name: string): string | undefined {
  let base = fromPath;
  for (;;) {
    const candidate = base === "" ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (lock.packages[candidate] !== undefined) return candidate;
    if (base === "") return undefined;
    const i = base.lastIndexOf("/node_modules/");
    base = i < 0 ? "" : base.slice(0, i);
  }
}

const NOT_RUNTIME = /(\.d\.[cm]?ts|\.[cm]?ts|\.map|\/(?!licen[cs]e)[^/]*\.md)$/i;

const keep = new Set<string>();
const queue: string[] = [];
// Optional peers are left out: the code loads them lazily on a path that needs them and explains
// their absence (@kubernetes/client-node, for auth-provider kubeconfigs only: ~85 MB less).
const notShipped = optionalPeers(join(root, "package.json"));
for (const name of importedPackages(srcDirs.map((d) => resolve(root, d)))) {
  if (notShipped.has(name)) continue;
  const p = resolveIn("", name);
  if (p === undefined) throw new Error(`the sources import ${name}, which package-lock.json does not have`);
  queue.push(p);
}
while (queue.length > 0) {
  const p = queue.pop() as string;
  if (keep.has(p)) continue;
  keep.add(p);
  const meta = lock.packages[p] ?? {};
  const deps = { ...meta.dependencies, ...meta.optionalDependencies, ...meta.peerDependencies };
  for (const dep of Object.keys(deps)) {
    const r = resolveIn(p, dep);
    if (r !== undefined) queue.push(r);
    else if (meta.dependencies?.[dep] !== undefined) throw new Error(`${p} needs ${dep}, not in package-lock.json`);
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const sorted = [...keep].sort();
for (const p of sorted) {
  const from = join(root, p);
  if (!existsSync(from)) {
    if (lock.packages[p]?.dev === true) continue;
    // Optional dependencies for other platforms are absent on purpose.
    if (lock.packages[p] !== undefined && Object.hasOwn(lock.packages[p], "optional")) continue;
    throw new Error(`${p} is in the lockfile but not installed; run make deps`);
  }
  const to = join(out, posix.relative("node_modules", p));
  mkdirSync(dirname(to), { recursive: true });
  // Nested node_modules are copied on their own when they are in the closure. Type declarations,
  // source maps, TypeScript sources (Node never strips types under node_modules) and docs are
  // never loaded at run time: left out.
  cpSync(from, to, { recursive: true, filter: (src) => !src.slice(from.length).includes("/node_modules") && !NOT_RUNTIME.test(src) });
}
console.log(sorted.map((p) => p.replace(/^node_modules\//, "")).join(" "));
