// File-system commands of a session: the FTP side (permissions and quota from the users file,
// replies, transfers) of what the user's storage does (fs/storage.ts, the seam: fs/local.ts is the
// jail on the pod's volume, fs/s3.ts an S3 prefix). The storage resolves every path again at use
// (locally through open directory descriptors, so a symlink swapped in between is never followed
// out); this module only hands it virtual paths.
//
// STOR goes to an Upload that is committed into place only after the data connection ended
// cleanly: a cut transfer never leaves a truncated file under the final name. The users file's
// permissions and quota (docs/users-file.md) are applied here, from the current users file (a
// reload takes effect on the next command).

import { Readable, type Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PathError } from "../fs/jail.ts";
import { formatList, formatMlsd, formatNames, ftpTime, mlsxFacts, processIdentity, MLST_FACTS, type FactContext, type MlstFact } from "../fs/list.ts";
import { usageOf } from "../fs/quota.ts";
import { HEARTBEAT_MS } from "../fs/uploads.ts";
import { virtualPath, type FileStat, type UserStorage } from "../fs/storage.ts";
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
  if (err instanceof PathError) return new Reply(550, err.shown ?? "Permission denied");
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
    case "ENOTPLAIN":
      return new Reply(550, "Not a plain file");
    case "ENAMETOOLONG":
      return new Reply(550, "File name too long");
    case "ENOSPC":
    case "EDQUOT":
      return new Reply(452, "Insufficient storage space");
    case "ENOTSUP":
      return new Reply(504, (err as Error).message || "Not supported by this storage");
    case "EIO":
      return new Reply(451, "Requested action aborted: storage error");
    case "EFBIG":
      return new Reply(552, (err as Error).message || "File too large for this storage");
    default:
      return new Reply(550, "Requested action not taken");
  }
}

/** Runs a storage call, turning what it throws into the FTP reply. */
async function fs<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw fsReply(err);
  }
}

function storageOf(s: Session): UserStorage {
  if (!s.storage) throw new Reply(530, "Please login with USER and PASS");
  return s.storage;
}

/** The virtual path `arg` names from the session's directory. */
function vpath(s: Session, arg: string): string {
  try {
    return virtualPath(s.cwd, arg);
  } catch (err) {
    throw fsReply(err);
  }
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

/** For commands that act on a name: the home itself is not one. */
function namePath(s: Session, arg: string): string {
  const v = vpath(s, arg);
  if (v === "/") throw new Reply(550, "Permission denied");
  return v;
}

function lastName(v: string): string {
  return v === "/" ? "." : v.slice(v.lastIndexOf("/") + 1);
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

function factContext(s: Session, parent: FileStat | null): FactContext {
  return { facts: mlstSelection.get(s) ?? ALL_FACTS, perms: currentUser(s).permissions, id: processIdentity(), parent };
}

/** Quota state for an upload into the user's home, or null when the user has no quota. */
async function quotaFor(s: Session, u: User): Promise<{ usage: ReturnType<typeof usageOf>; bytes?: number; files?: number } | null> {
  if (!u.quota) return null;
  const storage = storageOf(s);
  const usage = usageOf(storage.usageKey);
  await fs(usage.refresh(() => storage.measureUsage()));
  return { usage, ...u.quota };
}

const QUOTA_FULL = "Exceeded storage allocation (quota)";

/**
 * Runs `receive` while watching the file's growth against the quota (the data connection is cut
 * when it would pass it) and giving the upload its heartbeat (what keeps a temp file from looking stale).
 */
async function watchedReceive(
  file: { written(): Promise<number>; heartbeat?: () => Promise<void> },
  data: Duplex,
  quota: Awaited<ReturnType<typeof quotaFor>>,
  baseSize: number,
  receive: () => Promise<number>,
): Promise<number> {
  const id = Symbol("upload");
  let over = false;
  let lastBeat = Date.now();
  const check = async () => {
    const now = Date.now();
    if (file.heartbeat && now - lastBeat >= HEARTBEAT_MS) {
      lastBeat = now;
      await file.heartbeat().catch(() => {});
    }
    if (!quota || quota.bytes === undefined) return;
    const size = await file.written().catch(() => null);
    if (size === null) return;
    quota.usage.setInFlight(id, size - baseSize);
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
    const storage = storageOf(s);
    const v = vpath(s, arg || "/");
    await fs(storage.enterDir(v));
    s.cwd = v;
    s.reply(250, "Directory successfully changed");
  },

  async list(s: Session, arg: string, kind: "list" | "nlst" | "mlsd"): Promise<void> {
    const target = kind === "mlsd" ? arg.trim() : listTarget(arg);
    const storage = storageOf(s);
    const v = vpath(s, target || ".");
    const { self, parent, entries } = await fs(storage.describe(v));
    let text: string;
    if (entries) {
      text = kind === "list" ? formatList(entries) : kind === "nlst" ? formatNames(entries) : formatMlsd(entries, self, parent, factContext(s, parent));
    } else {
      if (kind === "mlsd") throw new Reply(501, "MLSD needs a directory");
      text = kind === "list" ? formatList([self]) : formatNames([{ name: target, stats: self.stats }]);
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
    const storage = storageOf(s);
    const shown = vpath(s, arg.trim() || ".");
    const { self, parent } = await fs(storage.describe(shown, false));
    s.reply(250, [`Listing ${shown}`, ` ${mlsxFacts({ name: shown, stats: self.stats }, factContext(s, parent))}`, "End"].join("\n"));
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
    const storage = storageOf(s);
    const { self, entries } = await fs(storage.describe(vpath(s, listTarget(arg) || ".")));
    const lines = formatList(entries ?? [self])
      .split("\r\n")
      .filter(Boolean)
      .map((l) => ` ${l}`);
    s.reply(213, ["Status follows:", ...lines, "End of status"].join("\n"));
  },

  async retr(s: Session, arg: string): Promise<void> {
    if (!arg) throw new Reply(501, "RETR needs a file name");
    const start = s.restOffset;
    const storage = storageOf(s);
    const v = vpath(s, arg);
    const file = await fs(storage.openRead(v));
    try {
      if (start > file.size) throw new Reply(554, "Restart offset beyond end of file");
      await s.transferWith(
        "download",
        async (data) => sendFile(file, start, data, file.size),
        `Opening BINARY mode data connection for ${lastName(v)} (${file.size} bytes)`,
      );
    } finally {
      await file.close().catch(() => {});
    }
  },

  async stor(s: Session, arg: string, append: boolean): Promise<void> {
    if (!arg) throw new Reply(501, `${append ? "APPE" : "STOR"} needs a file name`);
    const u = require_(s);
    const offset = s.restOffset;
    if (append || offset > 0) return storInPlace(s, u, arg, append, offset);
    const storage = storageOf(s);
    const v = namePath(s, arg);
    const name = lastName(v);
    const existing = await fs(storage.stat(v, false));
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
    const upload = await fs(storage.createUpload(v, { overwrite: u.permissions.delete }));
    let settled = false;
    try {
      await s.transferWith(
        "upload",
        async (data) => {
          let n: number;
          try {
            // The replaced file's bytes count as freed.
            n = await watchedReceive(upload, data, quota, replaced, () => receiveFile(data, upload, 0)); // a new temp file: from 0
          } catch (err) {
            // Nothing under the final name, and the partial data gone, before the 426 goes out.
            settled = true;
            await upload.abort().catch(() => {});
            throw err;
          }
          settled = true;
          await fs(upload.commit());
          quota?.usage.add(n - replaced, existing?.isFile() ? 0 : 1);
          return n;
        },
        `Ok to send data for ${name}`,
      );
    } finally {
      if (!settled) await upload.abort().catch(() => {});
    }
  },

  async size(s: Session, arg: string): Promise<void> {
    const st = await fs(storageOf(s).stat(vpath(s, arg), true));
    if (!st) throw new Reply(550, "No such file or directory");
    if (!st.isFile()) throw new Reply(550, "Not a plain file");
    s.reply(213, String(st.size));
  },

  async mdtm(s: Session, arg: string): Promise<void> {
    const st = await fs(storageOf(s).stat(vpath(s, arg), true));
    if (!st) throw new Reply(550, "No such file or directory");
    s.reply(213, ftpTime(st.mtime));
  },

  async dele(s: Session, arg: string): Promise<void> {
    const u = require_(s, "delete");
    const storage = storageOf(s);
    const v = namePath(s, arg);
    const st = await fs(storage.stat(v, false));
    if (!st) throw new Reply(550, "No such file or directory");
    if (st.isDirectory()) throw new Reply(550, "Is a directory, use RMD");
    await fs(storage.remove(v));
    if (u.quota && st.isFile()) usageOf(storage.usageKey).add(-st.size, -1);
    s.reply(250, "File deleted");
  },

  async mkd(s: Session, arg: string): Promise<void> {
    require_(s);
    const v = namePath(s, arg);
    await fs(storageOf(s).mkdir(v));
    s.reply(257, `${quotePath(v)} created`);
  },

  async rmd(s: Session, arg: string): Promise<void> {
    require_(s, "delete");
    const storage = storageOf(s);
    const v = namePath(s, arg);
    const st = await fs(storage.stat(v, false));
    if (!st) throw new Reply(550, "No such file or directory");
    if (!st.isDirectory()) throw new Reply(550, "Not a directory");
    await fs(storage.rmdir(v));
    s.reply(250, "Directory removed");
  },

  async rnfr(s: Session, arg: string): Promise<void> {
    require_(s, "rename");
    const v = namePath(s, arg);
    if (!(await fs(storageOf(s).stat(v, false)))) throw new Reply(550, "No such file or directory");
    // The virtual path: RNTO resolves it again, so a swap in between is seen.
    s.renameFrom = v;
    s.reply(350, "Ready for RNTO");
  },

  async rnto(s: Session, arg: string): Promise<void> {
    const u = require_(s, "rename");
    const fromVirtual = s.renameFrom;
    if (!fromVirtual) throw new Reply(503, "RNFR first");
    const storage = storageOf(s);
    const from = namePath(s, fromVirtual);
    const to = namePath(s, arg);
    try {
      await storage.rename(from, to, { overwrite: u.permissions.delete });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST" && !u.permissions.delete) {
        throw new Reply(550, "Permission denied: this account may not overwrite");
      }
      throw fsReply(err);
    }
    s.reply(250, "Rename successful");
  },
};

/** APPE, and STOR after REST: these continue a partial file, so they write in place. */
async function storInPlace(s: Session, u: User, arg: string, append: boolean, offset: number): Promise<void> {
  const storage = storageOf(s);
  const v = vpath(s, arg);
  if (v === "/") throw new Reply(550, "Is a directory");
  const existing = await fs(storage.stat(v, true));
  if (existing?.isDirectory()) throw new Reply(550, "Is a directory");
  if (existing && !existing.isFile()) throw new Reply(550, "Not a plain file");
  if (!existing && offset > 0) throw new Reply(554, "Restart offset beyond end of file");
  const quota0 = await quotaFor(s, u);
  if (!existing && quota0?.files !== undefined && quota0.usage.files + 1 > quota0.files) throw new Reply(552, `${QUOTA_FULL}: file count`);
  const file = await fs(storage.openInPlace(v, { append, create: !existing }));
  const created = !existing;
  try {
    if (!append && offset > file.size) throw new Reply(554, "Restart offset beyond end of file");
    if (!append && offset < file.size && !u.permissions.delete) throw new Reply(550, "Permission denied: this account may not overwrite");
    const quota = await quotaFor(s, u);
    if (quota?.bytes !== undefined && quota.usage.committedPlusInFlight() >= quota.bytes) throw new Reply(552, QUOTA_FULL);
    if (created) quota?.usage.add(0, 1);
    await s.transferWith(
      "upload",
      async (data: Duplex) => {
        const base = append ? file.size : offset;
        let n: number;
        try {
          n = await watchedReceive(file, data, quota, file.size, () => receiveFile(data, file, append ? null : offset));
        } catch (err) {
          // Over quota: what this upload added is taken back, the file is as it was.
          if (err instanceof Reply && err.code === 552) await file.truncate(file.size).catch(() => {});
          throw err;
        }
        if (!append) await file.truncate(offset + n);
        quota?.usage.add(base + n - file.size, 0);
        return n;
      },
      `Ok to send data for ${lastName(v)}`,
    );
  } finally {
    await file.close().catch(() => {});
  }
}
