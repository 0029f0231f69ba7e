// A per-user root that no path, `..` or symlink can escape.
//
// Virtual paths are POSIX paths from the user's root ("/" = home). resolve() normalises them
// lexically (so ".." stops at "/"), maps them under the home directory, and then realpath-checks
// the deepest existing ancestor: if a symlink anywhere on the way points outside the home, the
// path is refused. Paths with NUL bytes are refused outright.

import { realpath, mkdir, lstat } from "node:fs/promises";
import path from "node:path";

export class PathError extends Error {}

export class Jail {
  readonly root: string;
  private realRoot: string | null = null;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    this.realRoot = await realpath(this.root);
  }

  /** Lexical: the virtual absolute path for `arg` relative to the virtual `cwd`. */
  virtual(cwd: string, arg: string): string {
    if (arg.includes("\0")) throw new PathError("invalid path");
    return path.posix.resolve("/", cwd, arg || ".");
  }

  /**
   * The real path for a virtual path, after the symlink check. With `mustExist` false the last
   * component may be missing (STOR, MKD, RNTO), but its parent must exist inside the jail.
   */
  async resolve(virtualPath: string): Promise<string> {
    const realRoot = this.realRoot ?? (await realpath(this.root));
    const rel = virtualPath.replace(/^\/+/, "");
    const candidate = path.join(realRoot, ...rel.split("/").filter(Boolean));
    // Walk up to the deepest existing ancestor and realpath it.
    let probe = candidate;
    let suffix = "";
    for (;;) {
      try {
        const real = await realpath(probe);
        if (!inside(realRoot, real)) throw new PathError("path outside home");
        return suffix ? path.join(real, suffix) : real;
      } catch (err) {
        if (err instanceof PathError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
        if (probe === realRoot) throw new PathError("home missing");
        // A dangling symlink would be followed by an in-place write (APPE): refuse it.
        const st = await lstat(probe).catch(() => null);
        if (st?.isSymbolicLink()) throw new PathError("dangling symlink");
        suffix = suffix ? path.join(path.basename(probe), suffix) : path.basename(probe);
        probe = path.dirname(probe);
      }
    }
  }

  /** The virtual path for a real path inside the jail (for messages). */
  toVirtual(real: string): string {
    const rel = path.relative(this.realRoot ?? this.root, real);
    return "/" + rel.split(path.sep).join("/");
  }
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}
