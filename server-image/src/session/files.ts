// File-system commands of a session, all inside the user's jail (fs/jail.ts).
//
// Every command resolves its path to an open parent directory plus one name and then acts on that
// name through the descriptor (`loc.at`), so nothing is checked by path and later used by path:
// a symlink swapped in between is never followed out. Commands that read through a path (RETR,
// SIZE, MDTM, LIST, CWD, APPE, REST+STOR) follow a symlink only when it leads to a place inside
// the home; commands that act on the name itself (STOR's final rename, DELE, MKD, RMD, RNFR, RNTO)
// never follow the last component. Only regular files are read or written in place: FIFOs,
// devices and sockets are refused before any blocking open (O_NONBLOCK, then fstat).
//
// STOR writes to a temp file (fs/uploads.ts) in the target directory and renames it into place
// only after the data connection ended cleanly: a cut transfer never leaves a truncated file under
// the final name. The users file's permissions and quota (docs/users-file.md) are applied here,
// from the current users file (a reload takes effect on the next command).

import { open, mkdir, rmdir, unlink, rename, link, lstat, readlink, type FileHandle } from "node:fs/promises";
import { constants, type Stats } from "node:fs";
import { Readable, type Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import { PathError, closeDir, fdPath, type Jail, type Located, type DirRef } from "../fs/jail.ts";
import {
  formatList,
  formatMlsd,
  formatNames,
  ftpTime,
  mlsxFacts,
  processIdentity,
  readEntries,
  MLST_FACTS,
  type FactContext,
  type MlstFact,
  type Entry,
} from "../fs/list.ts";
import { usageOf } from "../fs/quota.ts";
import { HEARTBEAT_MS, STALE_UPLOAD_MS, tempUploadName } from "../fs/uploads.ts";
import { quotePath } from "../protocol/reply.ts";
import { Reply } from "./reply-error.ts";
import { sendFile } from "../data/send-file.ts";
import { receiveFile } from "../data/receive-file.ts";
import type { User } from "../auth/users.ts";
import type { Session } from "./session.ts";

export { UPLOAD_TEMP_MARK } from "../fs/jail.ts";

/** How often an upload checks its quota and touches its temp file. */
const WATCH_MS = 250;

function fsReply(err: unknown): Reply {
  if (err instanceof Reply) return err;
  if (err instanceof PathError) return new Reply(550, "Permission denied");
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return new Reply(550, "No such file or directory");
    case "EACCES":
    case "EPERM":
    case "ELOOP":
    case "ENXIO":
      return new Reply(550, "Permission denied");
    case "EEXIST":
      return new Reply(550, "File exists");
    case "ENOTEMPTY":
      return new Reply(550, "Directory not empty");
    case "ENOTDIR":
      return new Reply(550, "Not a directory");
    case "EISDIR":
      return new Reply(550, "Is a directory");
    case "ENAMETOOLONG":
      return new Reply(550, "File name too long");
    case "ENOSPC":
    case "EDQUOT":
      return new Reply(452, "Insufficient storage space");
    default:
      return new Reply(550, "Requested action not taken");
  }
}

function jailOf(s: Session): Jail {
  if (!s.jail) throw new Reply(530, "Please login with USER and PASS");
  return s.jail;
}

/** The user as the current users file has it (permissions and quota change with a reload). */
function currentUser(s: Session): User {
  const u = s.user;
  if (!u) throw new Reply(530, "Please login with USER and PASS");
  return s.ctx.users.get(u.name) ?? u;
}

type Need = "write" | "delete" | "rename";
function require_(s: Session, ...needs: Need[]): User {
  const u = currentUser(s);
  const p = u.permissions;
  if (!p.write) throw new Reply(550, "Permission denied: read-only account");
  for (const n of needs) {
    if (n === "delete" && !p.delete) throw new Reply(550, "Permission denied: this account may not delete or overwrite");
    if (n === "rename" && !p.rename) throw new Reply(550, "Permission denied: this account may not rename");
  }
  return u;
}

async function locate(s: Session, arg: string, follow: boolean): Promise<Located> {
  const jail = jailOf(s);
  try {
    return await jail.locate(jail.virtual(s.cwd, arg), follow);
  } catch (err) {
    throw fsReply(err);
  }
}

/** For commands that act on the name: the home itself is not a name. */
async function locateName(s: Session, arg: string): Promise<Located> {
  const loc = await locate(s, arg, false);
  if (loc.name === ".") {
    await closeDir(loc.dir);
    throw new Reply(550, "Permission denied");
  }
  return loc;
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw fsReply(err);
  }
}

/** Opens the directory entry `loc` names (not following it). */
async function openSubdir(loc: Located): Promise<DirRef> {
  const fh = await open(loc.at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  return { fh, real: path.join(loc.dir.real, loc.name) };
}

/** Opens a regular file without blocking on a FIFO or device, refusing anything else. */
async function openRegular(at: string, flags: number): Promise<{ fh: FileHandle; st: Stats }> {
  const fh = await open(at, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY).catch((e: unknown) => {
    throw fsReply(e);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Reply(550, st.isDirectory() ? "Is a directory" : "Not a plain file");
    return { fh, st };
  } catch (err) {
    await fh.close().catch(() => {});
    throw fsReply(err);
  }
}

/** LIST/NLST arguments: leading `-la`-style options are ignored. */
function listTarget(arg: string): string {
  let a = arg.trim();
  while (a.startsWith("-")) {
    const sp = a.indexOf(" ");
    a = sp < 0 ? "" : a.slice(sp + 1).trimStart();
  }
  return a;
}

// OPTS MLST selection per session (kept here so the session object needs no field for it).
const mlstSelection = new WeakMap<Session, ReadonlySet<MlstFact>>();
const ALL_FACTS: ReadonlySet<MlstFact> = new Set(MLST_FACTS);

function factContext(s: Session, parent: Stats | null): FactContext {
  return { facts: mlstSelection.get(s) ?? ALL_FACTS, perms: currentUser(s).permissions, id: processIdentity(), parent };
}

/** Reads what `loc` names (following done by the caller): a directory's entries or the entry itself. */
async function describe(s: Session, loc: Located): Promise<{ self: Entry; parent: Stats | null; entries: Entry[] | null }> {
  const jail = jailOf(s);
  const st = await lstat(loc.at);
  const parent = loc.name === "." ? null : await lstat(fdPath(loc.dir)).catch(() => null);
  const self: Entry = { name: loc.name, stats: st };
  if (!st.isDirectory()) return { self, parent, entries: null };
  const sub = await openSubdir(loc);
  try {
    return { self, parent, entries: await readEntries(jail, sub, STALE_UPLOAD_MS) };
  } finally {
    await closeDir(sub);
  }
}

/** Quota state for an upload into the user's home, or null when the user has no quota. */
async function quotaFor(s: Session, u: User): Promise<{ usage: ReturnType<typeof usageOf>; bytes?: number; files?: number } | null> {
  if (!u.quota) return null;
  const jail = jailOf(s);
  const usage = usageOf(jail.home);
  const root = await jail.openDir("/");
  try {
    await usage.refresh(root);
  } finally {
    await closeDir(root);
  }
  return { usage, ...u.quota };
}

const QUOTA_FULL = "Exceeded storage allocation (quota)";

/**
 * Runs `receive` while watching the file's growth against the quota (the data connection is cut
 * when it would pass it) and touching the temp file (the heartbeat that keeps it from looking stale).
 */
async function watchedReceive(
  fh: FileHandle,
  data: Duplex,
  quota: Awaited<ReturnType<typeof quotaFor>>,
  baseSize: number,
  touch: boolean,
  receive: () => Promise<number>,
): Promise<number> {
  const id = Symbol("upload");
  let over = false;
  let lastTouch = Date.now();
  const check = async () => {
    const now = Date.now();
    if (touch && now - lastTouch >= HEARTBEAT_MS) {
      lastTouch = now;
      await fh.utimes(now / 1000, now / 1000).catch(() => {});
    }
    if (!quota || quota.bytes === undefined) return;
    const st = await fh.stat().catch(() => null);
    if (!st) return;
    quota.usage.setInFlight(id, st.size - baseSize);
    if (quota.usage.committedPlusInFlight() > quota.bytes) {
      over = true;
      data.destroy();
    }
  };
  const timer = setInterval(() => void check(), WATCH_MS);
  try {
    const n = await receive();
    await check();
    if (over) throw new Reply(552, QUOTA_FULL);
    return n;
  } catch (err) {
    if (over) throw new Reply(552, QUOTA_FULL);
    throw err;
  } finally {
    clearInterval(timer);
    quota?.usage.clearInFlight(id);
  }
}

export const fileCommands = {
  pwd(s: Session): void {
    s.reply(257, `${quotePath(s.cwd)} is the current directory`);
  },

  async cwd(s: Session, arg: string): Promise<void> {
    const jail = jailOf(s);
    let dir: DirRef;
    try {
      const v = jail.virtual(s.cwd, arg || "/");
      dir = await jail.openDir(v);
      s.cwd = v;
    } catch (err) {
      throw fsReply(err);
    }
    await closeDir(dir);
    s.reply(250, "Directory successfully changed");
  },

  async list(s: Session, arg: string, kind: "list" | "nlst" | "mlsd"): Promise<void> {
    const target = kind === "mlsd" ? arg.trim() : listTarget(arg);
    const loc = await locate(s, target || ".", true);
    let text: string;
    try {
      const { self, parent, entries } = await describe(s, loc);
      if (entries) {
        text =
          kind === "list" ? formatList(entries) : kind === "nlst" ? formatNames(entries) : formatMlsd(entries, self, parent, factContext(s, parent));
      } else {
        if (kind === "mlsd") throw new Reply(501, "MLSD needs a directory");
        text = kind === "list" ? formatList([{ name: loc.name, stats: self.stats }]) : formatNames([{ name: target, stats: self.stats }]);
      }
    } catch (err) {
      throw fsReply(err);
    } finally {
      await closeDir(loc.dir);
    }
    const buf = Buffer.from(text, "utf8");
    await s.transferWith(
      "list",
      async (data) => {
        await pipeline(Readable.from([buf]), data);
        return buf.length;
      },
      "Here comes the directory listing",
    );
  },

  async mlst(s: Session, arg: string): Promise<void> {
    const loc = await locate(s, arg.trim() || ".", true);
    try {
      const st = await lstat(loc.at);
      const parent = loc.name === "." ? null : await lstat(fdPath(loc.dir)).catch(() => null);
      const shown = jailOf(s).virtual(s.cwd, arg.trim() || ".");
      s.reply(250, [`Listing ${shown}`, ` ${mlsxFacts({ name: shown, stats: st }, factContext(s, parent))}`, "End"].join("\n"));
    } catch (err) {
      throw fsReply(err);
    } finally {
      await closeDir(loc.dir);
    }
  },

  /** OPTS MLST fact;fact;... (RFC 3659 7.9): selects the facts MLST/MLSD show; unknown ones are ignored. */
  optsMlst(s: Session, arg: string): void {
    const wanted = new Set(
      arg
        .trim()
        .split(";")
        .map((f) => f.trim().toLowerCase())
        .filter(Boolean),
    );
    const facts = new Set(MLST_FACTS.filter((f) => wanted.has(f)));
    mlstSelection.set(s, facts);
    s.reply(200, `MLST OPTS ${[...facts].map((f) => `${f};`).join("")}`);
  },

  async statPath(s: Session, arg: string): Promise<void> {
    const loc = await locate(s, listTarget(arg) || ".", true);
    try {
      const { self, entries } = await describe(s, loc);
      const lines = formatList(entries ?? [self])
        .split("\r\n")
        .filter(Boolean)
        .map((l) => ` ${l}`);
      s.reply(213, ["Status follows:", ...lines, "End of status"].join("\n"));
    } catch (err) {
      throw fsReply(err);
    } finally {
      await closeDir(loc.dir);
    }
  },

  async retr(s: Session, arg: string): Promise<void> {
    if (!arg) throw new Reply(501, "RETR needs a file name");
    const start = s.restOffset;
    const loc = await locate(s, arg, true);
    let opened: { fh: FileHandle; st: Stats };
    try {
      const st = await lstatOrNull(loc.at);
      if (!st) throw new Reply(550, "No such file or directory");
      if (!st.isFile()) throw new Reply(550, st.isDirectory() ? "Is a directory" : "Not a plain file");
      opened = await openRegular(loc.at, constants.O_RDONLY);
    } finally {
      await closeDir(loc.dir);
    }
    const { fh, st } = opened;
    try {
      if (start > st.size) throw new Reply(554, "Restart offset beyond end of file");
      await s.transferWith(
        "download",
        async (data) => sendFile(fh, start, data, st.size),
        `Opening BINARY mode data connection for ${loc.name} (${st.size} bytes)`,
      );
    } finally {
      await fh.close().catch(() => {});
    }
  },

  async stor(s: Session, arg: string, append: boolean): Promise<void> {
    if (!arg) throw new Reply(501, `${append ? "APPE" : "STOR"} needs a file name`);
    const u = require_(s);
    const offset = s.restOffset;
    if (append || offset > 0) return storInPlace(s, u, arg, append, offset);
    const loc = await locateName(s, arg);
    const { dir, name } = loc;
    let fh: FileHandle | null = null;
    let tmp = "";
    let committed = false;
    try {
      const existing = await lstatOrNull(loc.at);
      if (existing?.isDirectory()) throw new Reply(550, "Is a directory");
      if (existing && !u.permissions.delete) throw new Reply(550, "Permission denied: this account may not overwrite");
      const replaced = existing?.isFile() ? existing.size : 0;
      const quota = await quotaFor(s, u);
      if (quota) {
        if (quota.files !== undefined && !existing?.isFile() && quota.usage.files + 1 > quota.files) throw new Reply(552, `${QUOTA_FULL}: file count`);
        if (quota.bytes !== undefined && quota.usage.committedPlusInFlight() - replaced >= quota.bytes) {
          throw new Reply(552, QUOTA_FULL);
        }
      }
      tmp = fdPath(dir, tempUploadName());
      fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644).catch((e: unknown) => {
        throw fsReply(e);
      });
      const file = fh;
      await s.transferWith(
        "upload",
        async (data) => {
          let n: number;
          try {
            // The replaced file's bytes count as freed.
            n = await watchedReceive(file, data, quota, replaced, true, () => receiveFile(data, file, null));
          } catch (err) {
            // Remove the partial temp file before the 426 goes out.
            await file.close().catch(() => {});
            await unlink(tmp).catch(() => {});
            throw err;
          }
          await file.close();
          if (u.permissions.delete) {
            await rename(tmp, loc.at);
          } else {
            // No overwrite, atomically: link() fails when the name appeared meanwhile.
            await link(tmp, loc.at).catch((e: unknown) => {
              throw fsReply(e);
            });
            await unlink(tmp).catch(() => {});
          }
          committed = true;
          quota?.usage.add(n - replaced, existing?.isFile() ? 0 : 1);
          return n;
        },
        `Ok to send data for ${name}`,
      );
    } finally {
      await fh?.close().catch(() => {});
      if (!committed && tmp) await unlink(tmp).catch(() => {});
      await closeDir(dir);
    }
  },

  async size(s: Session, arg: string): Promise<void> {
    const loc = await locate(s, arg, true);
    try {
      const st = await lstatOrNull(loc.at);
      if (!st) throw new Reply(550, "No such file or directory");
      if (!st.isFile()) throw new Reply(550, "Not a plain file");
      s.reply(213, String(st.size));
    } finally {
      await closeDir(loc.dir);
    }
  },

  async mdtm(s: Session, arg: string): Promise<void> {
    const loc = await locate(s, arg, true);
    try {
      const st = await lstatOrNull(loc.at);
      if (!st) throw new Reply(550, "No such file or directory");
      s.reply(213, ftpTime(st.mtime));
    } finally {
      await closeDir(loc.dir);
    }
  },

  async dele(s: Session, arg: string): Promise<void> {
    const u = require_(s, "delete");
    const loc = await locateName(s, arg);
    try {
      const st = await lstatOrNull(loc.at);
      if (!st) throw new Reply(550, "No such file or directory");
      if (st.isDirectory()) throw new Reply(550, "Is a directory, use RMD");
      await unlink(loc.at).catch((e: unknown) => {
        throw fsReply(e);
      });
      if (u.quota && st.isFile()) usageOf(jailOf(s).home).add(-st.size, -1);
    } finally {
      await closeDir(loc.dir);
    }
    s.reply(250, "File deleted");
  },

  async mkd(s: Session, arg: string): Promise<void> {
    require_(s);
    const loc = await locateName(s, arg);
    try {
      await mkdir(loc.at).catch((e: unknown) => {
        throw fsReply(e);
      });
    } finally {
      await closeDir(loc.dir);
    }
    s.reply(257, `${quotePath(loc.virtual)} created`);
  },

  async rmd(s: Session, arg: string): Promise<void> {
    require_(s, "delete");
    const loc = await locateName(s, arg);
    try {
      const st = await lstatOrNull(loc.at);
      if (!st) throw new Reply(550, "No such file or directory");
      if (!st.isDirectory()) throw new Reply(550, "Not a directory");
      await rmdir(loc.at).catch((e: unknown) => {
        throw fsReply(e);
      });
    } finally {
      await closeDir(loc.dir);
    }
    s.reply(250, "Directory removed");
  },

  async rnfr(s: Session, arg: string): Promise<void> {
    require_(s, "rename");
    const loc = await locateName(s, arg);
    try {
      if (!(await lstatOrNull(loc.at))) throw new Reply(550, "No such file or directory");
    } finally {
      await closeDir(loc.dir);
    }
    // The virtual path: RNTO resolves it again, so a swap in between is seen.
    s.renameFrom = loc.virtual;
    s.reply(350, "Ready for RNTO");
  },

  async rnto(s: Session, arg: string): Promise<void> {
    const u = require_(s, "rename");
    const fromVirtual = s.renameFrom;
    if (!fromVirtual) throw new Reply(503, "RNFR first");
    const jail = jailOf(s);
    const from = await locateName(s, fromVirtual);
    let to: Located | null = null;
    try {
      to = await locateName(s, arg);
      const st = await lstatOrNull(from.at);
      if (!st) throw new Reply(550, "No such file or directory");
      if (st.isSymbolicLink()) {
        // A relative link means something else in its new directory: it must still point inside.
        try {
          jail.linkTarget(to.dir.real, await readlink(from.at));
        } catch (err) {
          if (err instanceof PathError) throw new Reply(550, "Permission denied: the link would point outside the home");
          throw err;
        }
      }
      if (!u.permissions.delete && (await lstatOrNull(to.at))) throw new Reply(550, "Permission denied: this account may not overwrite");
      await rename(from.at, to.at).catch((e: unknown) => {
        throw fsReply(e);
      });
    } finally {
      await closeDir(from.dir);
      await closeDir(to?.dir);
    }
    s.reply(250, "Rename successful");
  },
};

/** APPE, and STOR after REST: these continue a partial file, so they write in place. */
async function storInPlace(s: Session, u: User, arg: string, append: boolean, offset: number): Promise<void> {
  const loc = await locate(s, arg, true);
  if (loc.name === ".") {
    await closeDir(loc.dir);
    throw new Reply(550, "Is a directory");
  }
  let opened: { fh: FileHandle; st: Stats };
  let created = false;
  try {
    const existing = await lstatOrNull(loc.at);
    if (existing?.isDirectory()) throw new Reply(550, "Is a directory");
    if (existing && !existing.isFile()) throw new Reply(550, "Not a plain file");
    if (!existing && offset > 0) throw new Reply(554, "Restart offset beyond end of file");
    const quota = await quotaFor(s, u);
    if (!existing && quota?.files !== undefined && quota.usage.files + 1 > quota.files) throw new Reply(552, `${QUOTA_FULL}: file count`);
    const mode = constants.O_WRONLY | (append ? constants.O_APPEND : 0);
    if (existing) opened = await openRegular(loc.at, mode);
    else {
      opened = await openRegular(loc.at, mode | constants.O_CREAT | constants.O_EXCL);
      created = true;
    }
  } finally {
    await closeDir(loc.dir);
  }
  const { fh, st } = opened;
  try {
    if (!append && offset > st.size) throw new Reply(554, "Restart offset beyond end of file");
    if (!append && offset < st.size && !u.permissions.delete) throw new Reply(550, "Permission denied: this account may not overwrite");
    const quota = await quotaFor(s, u);
    if (quota?.bytes !== undefined && quota.usage.committedPlusInFlight() >= quota.bytes) throw new Reply(552, QUOTA_FULL);
    if (created) quota?.usage.add(0, 1);
    await s.transferWith(
      "upload",
      async (data: Duplex) => {
        const base = append ? st.size : offset;
        let n: number;
        try {
          n = await watchedReceive(fh, data, quota, st.size, false, () => receiveFile(data, fh, append ? null : offset));
        } catch (err) {
          // Over quota: what this upload added is taken back, the file is as it was.
          if (err instanceof Reply && err.code === 552) await fh.truncate(st.size).catch(() => {});
          throw err;
        }
        if (!append) await fh.truncate(offset + n);
        quota?.usage.add(base + n - st.size, 0);
        return n;
      },
      `Ok to send data for ${loc.name}`,
    );
  } finally {
    await fh.close().catch(() => {});
  }
}
