// The local implementation of the storage seam (fs/storage.ts): a home directory on the pod's
// volume, behind the jail (fs/jail.ts).
//
// Every method resolves its path to an open parent directory plus one name and then acts on that
// name through the descriptor (`loc.at`), so nothing is checked by path and later used by path:
// a symlink swapped in between is never followed out. Reads through a path (openRead, stat with
// follow, describe, enterDir, openInPlace) follow a symlink only when it leads to a place inside
// the home; acts on a name (createUpload's final rename, remove, mkdir, rmdir, rename) never
// follow the last component. Only regular files are read or written in place: FIFOs, devices and
// sockets are refused before any blocking open (O_NONBLOCK, then fstat).
//
// createUpload writes to a temp file (fs/uploads.ts) in the target directory, kept open through
// the directory's descriptor, and renames it into place on commit: a cut transfer never leaves a
// truncated file under the final name.

import { open, mkdir, rmdir, unlink, rename, link, lstat, readlink, readdir, type FileHandle } from "node:fs/promises";
import { constants, type Stats } from "node:fs";
import path from "node:path";
import { Jail, PathError, closeDir, fdPath, isReservedName, type DirRef, type Located } from "./jail.ts";
import { measure } from "./quota.ts";
import { STALE_UPLOAD_MS, tempUploadName } from "./uploads.ts";
import { byName, fsError, type Described, type Entry, type InPlaceFile, type OpenedFile, type Upload, type Usage, type UserStorage } from "./storage.ts";

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    if (code(err) === "ENOENT") return null;
    throw err;
  }
}

/** Opens a regular file without blocking on a FIFO or device, refusing anything else. */
async function openRegular(at: string, flags: number): Promise<{ fh: FileHandle; st: Stats }> {
  const fh = await open(at, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw st.isDirectory() ? fsError("EISDIR", "Is a directory") : fsError("ENOTPLAIN", "Not a plain file");
    return { fh, st };
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
}

/** Opens the directory entry `loc` names (not following it). */
async function openSubdir(loc: Located): Promise<DirRef> {
  const fh = await open(loc.at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  return { fh, real: path.join(loc.dir.real, loc.name) };
}

/**
 * Entries of an open directory inside the jail, sorted by name. A symlink is described by what it
 * names when that stays inside the home; a link that leads out, dangles or loops is left out, so a
 * listing never stats anything outside. Upload temp files are never listed; stale ones (their
 * upload died with its pod) are removed.
 */
export async function readEntries(jail: Jail, dir: DirRef, staleUploadMs: number): Promise<Entry[]> {
  const names = await readdir(fdPath(dir));
  const now = Date.now();
  const out = await Promise.all(
    names.map(async (name): Promise<Entry | null> => {
      try {
        const st = await lstat(fdPath(dir, name));
        if (isReservedName(name)) {
          if (st.isFile() && now - st.mtimeMs > staleUploadMs) await unlink(fdPath(dir, name)).catch(() => {});
          return null;
        }
        if (!st.isSymbolicLink()) return { name, stats: st };
        const target = await jail.statThroughLink(dir, name);
        return target ? { name, stats: target } : null;
      } catch {
        return null;
      }
    }),
  );
  return out.filter((e): e is Entry => e !== null).sort(byName);
}

export class LocalStorage implements UserStorage {
  readonly jail: Jail;

  constructor(jail: Jail) {
    this.jail = jail;
  }

  /** A home directory below `root` (created when missing). */
  static async open(root: string, home: string): Promise<LocalStorage> {
    const jail = new Jail(`${root}/${home}`);
    await jail.init();
    return new LocalStorage(jail);
  }

  get usageKey(): string {
    return this.jail.home;
  }

  /** With the last component taken as it is: the home itself is not a name. */
  private async locateName(p: string): Promise<Located> {
    const loc = await this.jail.locate(p, false);
    if (loc.name === ".") {
      await closeDir(loc.dir);
      throw new PathError("the home is not a name");
    }
    return loc;
  }

  private async withLocated<T>(p: string, follow: boolean, fn: (loc: Located) => Promise<T>): Promise<T> {
    const loc = await this.jail.locate(p, follow);
    try {
      return await fn(loc);
    } finally {
      await closeDir(loc.dir);
    }
  }

  async stat(p: string, follow: boolean): Promise<Stats | null> {
    return this.withLocated(p, follow, (loc) => lstatOrNull(loc.at));
  }

  async enterDir(p: string): Promise<void> {
    await closeDir(await this.jail.openDir(p));
  }

  async describe(p: string, withEntries = true): Promise<Described> {
    return this.withLocated(p, true, async (loc) => {
      const st = await lstat(loc.at);
      const parent = loc.name === "." ? null : await lstat(fdPath(loc.dir)).catch(() => null);
      const self: Entry = { name: loc.name, stats: st };
      if (!st.isDirectory() || !withEntries) return { self, parent, entries: null };
      const sub = await openSubdir(loc);
      try {
        return { self, parent, entries: await readEntries(this.jail, sub, STALE_UPLOAD_MS) };
      } finally {
        await closeDir(sub);
      }
    });
  }

  async openRead(p: string): Promise<OpenedFile> {
    const { fh, st } = await this.withLocated(p, true, async (loc) => {
      const st = await lstatOrNull(loc.at);
      if (!st) throw fsError("ENOENT", "No such file or directory");
      if (!st.isFile()) throw st.isDirectory() ? fsError("EISDIR", "Is a directory") : fsError("ENOTPLAIN", "Not a plain file");
      return openRegular(loc.at, constants.O_RDONLY);
    });
    return {
      size: st.size,
      fd: fh.fd,
      read: (buf, off, len, pos) => fh.read(buf, off, len, pos),
      close: () => fh.close(),
    };
  }

  async createUpload(p: string, opts: { overwrite: boolean }): Promise<Upload> {
    const loc = await this.locateName(p);
    const tmp = fdPath(loc.dir, tempUploadName());
    let fh: FileHandle;
    try {
      fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (err) {
      await closeDir(loc.dir);
      throw err;
    }
    let done = false;
    const finish = async (commit: boolean) => {
      if (done) return;
      done = true;
      try {
        await fh.close().catch((err: unknown) => {
          if (commit) throw err;
        });
        if (!commit) return;
        if (opts.overwrite) await rename(tmp, loc.at);
        else await link(tmp, loc.at); // no overwrite, atomically: link() fails when the name appeared meanwhile
      } finally {
        // After a rename there is nothing left to remove; after link() or a failure, the temp name goes.
        await unlink(tmp).catch(() => {});
        await closeDir(loc.dir);
      }
    };
    return {
      fd: fh.fd,
      write: (buf, off, len, pos) => fh.write(buf, off, len, pos),
      writev: (bufs, pos) => fh.writev(bufs, pos),
      written: async () => (await fh.stat()).size,
      heartbeat: async () => {
        const now = Date.now() / 1000;
        await fh.utimes(now, now).catch(() => {});
      },
      commit: () => finish(true),
      abort: () => finish(false),
    };
  }

  async openInPlace(p: string, opts: { append: boolean; create: boolean }): Promise<InPlaceFile> {
    const { fh, st } = await this.withLocated(p, true, async (loc) => {
      if (loc.name === ".") throw fsError("EISDIR", "Is a directory");
      const mode = constants.O_WRONLY | (opts.append ? constants.O_APPEND : 0);
      return openRegular(loc.at, opts.create ? mode | constants.O_CREAT | constants.O_EXCL : mode);
    });
    return {
      size: st.size,
      fd: fh.fd,
      write: (buf, off, len, pos) => fh.write(buf, off, len, pos),
      writev: (bufs, pos) => fh.writev(bufs, pos),
      written: async () => (await fh.stat()).size,
      truncate: (n) => fh.truncate(n),
      close: () => fh.close(),
    };
  }

  async remove(p: string): Promise<void> {
    const loc = await this.locateName(p);
    try {
      await unlink(loc.at);
    } finally {
      await closeDir(loc.dir);
    }
  }

  async mkdir(p: string): Promise<void> {
    const loc = await this.locateName(p);
    try {
      await mkdir(loc.at);
    } finally {
      await closeDir(loc.dir);
    }
  }

  async rmdir(p: string): Promise<void> {
    const loc = await this.locateName(p);
    try {
      await rmdir(loc.at);
    } finally {
      await closeDir(loc.dir);
    }
  }

  async rename(fromPath: string, toPath: string, opts: { overwrite: boolean }): Promise<void> {
    const from = await this.locateName(fromPath);
    let to: Located | null = null;
    try {
      to = await this.locateName(toPath);
      const st = await lstatOrNull(from.at);
      if (!st) throw fsError("ENOENT", "No such file or directory");
      if (st.isSymbolicLink()) {
        // A relative link means something else in its new directory: it must still point inside.
        try {
          this.jail.linkTarget(to.dir.real, await readlink(from.at));
        } catch (err) {
          if (err instanceof PathError) throw new PathError(err.message, "Permission denied: the link would point outside the home");
          throw err;
        }
      }
      if (!opts.overwrite && (await lstatOrNull(to.at))) throw fsError("EEXIST", "File exists");
      await rename(from.at, to.at);
    } finally {
      await closeDir(from.dir);
      await closeDir(to?.dir);
    }
  }

  async measureUsage(): Promise<Usage> {
    const root = await this.jail.openDir("/");
    try {
      return await measure(root);
    } finally {
      await closeDir(root);
    }
  }
}
