// A per-user root that no path, `..` or symlink can escape, whatever is on the volume.
//
// Virtual paths are POSIX paths from the user's root ("/" = home), normalised lexically so ".."
// stops at "/". They are never handed to the kernel as strings. Instead a path is resolved one
// directory at a time into an OPEN directory (a file descriptor), and every later operation names
// a single entry of that directory through `/proc/self/fd/<fd>/<name>` — the `openat(2)` of a
// runtime that has none: the kernel jumps to the directory the descriptor holds, looks up exactly
// one name, and (with O_NOFOLLOW, or for lstat/unlink/rename/mkdir/rmdir by nature) does not
// follow it when it is a symlink. So there is no check-then-use window: what was checked is the
// descriptor, and the descriptor is what is used.
//
// Symlinks are resolved by this module, not by the kernel: at each component a link is read,
// its target is resolved against the real path of the directory holding it, and it is followed
// only when that target is inside the home; then the walk restarts from the home's descriptor
// (at most MAX_LINKS links). A link that points out is refused before anything behind it is
// opened; a link swapped in after a check is seen by the next O_NOFOLLOW open and resolved again.
//
// Fast path: the directory is first opened by its full lexical path and the descriptor's real
// path (readlink of /proc/self/fd/<fd>) compared with the lexical one. Equal means no component
// was a link, so one open + one readlink replace the O(depth) walk; anything else (a link on the
// way, an error) discards that descriptor and takes the component walk, whose answer counts.
//
// Reserved names: upload temp files (UPLOAD_TEMP_MARK) are never addressable by a client.

import { open, lstat, readlink, realpath, mkdir, type FileHandle } from "node:fs/promises";
import { constants, type Stats } from "node:fs";
import path from "node:path";

export class PathError extends Error {
  /** What the client is told, when more than "Permission denied" helps. */
  readonly shown: string | undefined;
  constructor(message: string, shown?: string) {
    super(message);
    this.shown = shown;
  }
}

/** Marks a STOR temp file (`.pasv-upload-<pod>-<random>`): hidden from listings, refused as a path. */
export const UPLOAD_TEMP_MARK = ".pasv-upload-";

export function isReservedName(name: string): boolean {
  return name.includes(UPLOAD_TEMP_MARK);
}

/** Linux's own limit on links followed in one resolution (ELOOP). */
const MAX_LINKS = 40;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;
const DIR_NOFOLLOW = DIR_FLAGS | constants.O_NOFOLLOW;

/** An open directory inside the jail and its real path (the path it had when it was opened). */
export interface DirRef {
  readonly fh: FileHandle;
  readonly real: string;
}

/** One entry, named by its open parent directory: `at` is the path that names exactly that entry. */
export interface Located {
  readonly dir: DirRef;
  /** A single component, or "." for the directory itself (the home). */
  readonly name: string;
  readonly at: string;
  /** The entry's path relative to the home, as a virtual path ("/a/b"). */
  readonly virtual: string;
}

/**
 * The path naming entry `name` of the open directory (openat(2) semantics). "." names the
 * directory itself; note that `/proc/self/fd/N` alone would be the magic link, not the directory.
 */
export function fdPath(dir: DirRef, name = "."): string {
  return `/proc/self/fd/${dir.fh.fd}/${name}`;
}

/**
 * Closes an open directory. The close is not waited for (nothing uses the descriptor afterwards,
 * and the kernel reuses its number only once it is closed): one thread-pool round trip less per
 * resolved path.
 */
export function closeDir(dir: DirRef | null | undefined): Promise<void> {
  if (dir) void dir.fh.close().catch(() => {});
  return Promise.resolve();
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

export class Jail {
  readonly root: string;
  private realRoot: string | null = null;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    this.realRoot = await realpath(this.root);
    // The descriptor-relative paths need Linux's /proc: refuse to run without it rather than
    // fall back to path strings.
    const d = await this.openRoot();
    await closeDir(d);
  }

  get home(): string {
    if (this.realRoot === null) throw new PathError("jail not initialised");
    return this.realRoot;
  }

  /** Lexical: the virtual absolute path for `arg` relative to the virtual `cwd`. */
  virtual(cwd: string, arg: string): string {
    if (arg.includes("\0")) throw new PathError("invalid path");
    return path.posix.resolve("/", cwd, arg || ".");
  }

  /** True when the real path `p` is the home or below it. */
  contains(p: string): boolean {
    const root = this.home;
    return p === root || p.startsWith(root + path.sep);
  }

  /** The virtual path of a real path inside the home. */
  toVirtual(real: string): string {
    const rel = path.relative(this.home, real);
    return rel === "" ? "/" : "/" + rel.split(path.sep).join("/");
  }

  /** The directory at `virtualPath` (links inside the home followed), opened. Caller closes. */
  async openDir(virtualPath: string): Promise<DirRef> {
    return this.walkDir(components(virtualPath));
  }

  /**
   * The entry at `virtualPath` as parent directory + name. With `follow`, a symlink in the last
   * place is resolved (inside the home only) until the entry is not a link — it may not exist.
   * Without, the last component is taken as it is (DELE, RNFR, STOR's final name act on a link
   * itself). Caller closes `dir`.
   */
  async locate(virtualPath: string, follow: boolean): Promise<Located> {
    let comps = components(virtualPath);
    for (let links = 0; ; ) {
      if (comps.length === 0) {
        const dir = await this.openRoot();
        return { dir, name: ".", at: fdPath(dir), virtual: "/" };
      }
      const name = comps[comps.length - 1]!;
      const dir = await this.walkDir(comps.slice(0, -1));
      const at = fdPath(dir, name);
      const loc = { dir, name, at, virtual: "/" + comps.join("/") };
      if (!follow) return loc;
      let st: Stats | null;
      try {
        st = await lstat(at);
      } catch (err) {
        if (code(err) === "ENOENT") return loc;
        await closeDir(dir);
        throw err;
      }
      if (!st.isSymbolicLink()) return loc;
      try {
        if (++links > MAX_LINKS) throw new PathError("too many levels of symbolic links");
        comps = this.linkTarget(dir.real, await readlink(at));
      } finally {
        await closeDir(dir);
      }
    }
  }

  /**
   * Stats of what the link `name` in `dir` finally names, or null when it leads outside the home,
   * dangles or loops. Used by listings, which must not stat anything outside.
   */
  async statThroughLink(dir: DirRef, name: string): Promise<Stats | null> {
    let loc: Located | null = null;
    try {
      const target = await readlink(fdPath(dir, name));
      const comps = this.linkTarget(dir.real, target);
      loc = await this.locate("/" + comps.join("/"), true);
      return await lstat(loc.at);
    } catch {
      return null;
    } finally {
      await closeDir(loc?.dir);
    }
  }

  /** Components (relative to the home) of a link target read in directory `dirReal`; refuses targets outside. */
  linkTarget(dirReal: string, target: string): string[] {
    const abs = path.resolve(dirReal, target);
    if (!this.contains(abs)) throw new PathError("symbolic link leads outside the home");
    const rel = path.relative(this.home, abs);
    const comps = rel === "" ? [] : rel.split(path.sep);
    for (const c of comps) if (isReservedName(c)) throw new PathError("reserved name");
    return comps;
  }

  private async openRoot(): Promise<DirRef> {
    const root = this.home;
    const fh = await open(root, DIR_NOFOLLOW);
    try {
      const real = await readlink(`/proc/self/fd/${fh.fd}`);
      if (real !== root) throw new PathError("home moved");
    } catch (err) {
      await fh.close().catch(() => {});
      if (err instanceof PathError) throw err;
      throw new Error(`cannot verify the home through /proc/self/fd (Linux /proc is required): ${(err as Error).message}`);
    }
    return { fh, real: root };
  }

  private async walkDir(comps: readonly string[]): Promise<DirRef> {
    if (comps.length === 0) return this.openRoot();
    const fast = await this.fastDir(comps);
    if (fast) return fast;
    let queue = [...comps];
    let cur = await this.openRoot();
    let links = 0;
    try {
      while (queue.length > 0) {
        const c = queue.shift()!;
        const at = fdPath(cur, c);
        let next: FileHandle;
        try {
          next = await open(at, DIR_NOFOLLOW);
        } catch (err) {
          const e = code(err);
          if (e !== "ENOTDIR" && e !== "ELOOP") throw err;
          const st = await lstat(at);
          if (!st.isSymbolicLink()) throw err;
          if (++links > MAX_LINKS) throw new PathError("too many levels of symbolic links");
          const target = this.linkTarget(cur.real, await readlink(at));
          queue = [...target, ...queue];
          await closeDir(cur);
          cur = await this.openRoot();
          continue;
        }
        await closeDir(cur);
        cur = { fh: next, real: path.join(cur.real, c) };
      }
      return cur;
    } catch (err) {
      await closeDir(cur);
      throw err;
    }
  }

  /** One open by the lexical path; kept only when no component on the way was a link. */
  private async fastDir(comps: readonly string[]): Promise<DirRef | null> {
    const expected = path.join(this.home, ...comps);
    let fh: FileHandle;
    try {
      fh = await open(expected, DIR_FLAGS);
    } catch {
      return null;
    }
    try {
      if ((await readlink(`/proc/self/fd/${fh.fd}`)) === expected) return { fh, real: expected };
    } catch {
      // fall through to the component walk
    }
    await fh.close().catch(() => {});
    return null;
  }
}

/** The components of a normalised virtual path; reserved names are refused. */
function components(virtualPath: string): string[] {
  if (virtualPath.includes("\0")) throw new PathError("invalid path");
  const comps = path.posix
    .normalize("/" + virtualPath)
    .split("/")
    .filter((c) => c !== "" && c !== ".");
  if (comps.includes("..")) throw new PathError("invalid path"); // cannot happen after normalize from "/"
  for (const c of comps) if (isReservedName(c)) throw new PathError("reserved name");
  return comps;
}
