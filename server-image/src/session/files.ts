// File-system commands of a session, all inside the user's jail (fs/jail.ts).
//
// Commands that read through a path (RETR, SIZE, MDTM, LIST, CWD, APPE) resolve it fully, so a
// symlink is followed only when its target stays inside the home. Commands that act on the name
// itself (STOR's final rename, DELE, MKD, RMD, RNFR, RNTO) resolve the parent directory and act
// on parent/name, which never follows the last component.
//
// STOR writes to a temp file in the target directory and renames it into place only after the
// data connection ended cleanly: a cut transfer never leaves a truncated file under the final name.

import { open, mkdir, rmdir, unlink, rename, stat, lstat } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { Readable, type Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import { PathError } from "../fs/jail.ts";
import { formatList, formatMlsd, formatNames, ftpTime, mlsxFacts, readEntries, statEntry } from "../fs/list.ts";
import { quotePath } from "../protocol/reply.ts";
import { Reply } from "./reply-error.ts";
import { sendFile } from "../data/send-file.ts";
import { receiveFile } from "../data/receive-file.ts";
import type { Session } from "./session.ts";

export const UPLOAD_TEMP_MARK = ".pasv-upload-";

function fsReply(err: unknown): Reply {
  if (err instanceof Reply) return err;
  if (err instanceof PathError) return new Reply(550, "Permission denied");
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return new Reply(550, "No such file or directory");
    case "EACCES":
    case "EPERM":
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

function jailOf(s: Session) {
  if (!s.jail) throw new Reply(530, "Please login with USER and PASS");
  return s.jail;
}

/** Full resolution (follows symlinks inside the jail). */
async function resolveFull(s: Session, arg: string): Promise<{ virtual: string; real: string }> {
  const jail = jailOf(s);
  try {
    const v = jail.virtual(s.cwd, arg);
    return { virtual: v, real: await jail.resolve(v) };
  } catch (err) {
    throw fsReply(err);
  }
}

/** Parent resolution: the real parent directory + the final name, not followed. */
async function resolveName(s: Session, arg: string): Promise<{ virtual: string; real: string; name: string }> {
  const jail = jailOf(s);
  try {
    const v = jail.virtual(s.cwd, arg);
    const name = path.posix.basename(v);
    if (v === "/" || !name) throw new Reply(550, "Permission denied");
    const parent = await jail.resolve(path.posix.dirname(v));
    return { virtual: v, real: path.join(parent, name), name };
  } catch (err) {
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

export const fileCommands = {
  pwd(s: Session): void {
    s.reply(257, `${quotePath(s.cwd)} is the current directory`);
  },

  async cwd(s: Session, arg: string): Promise<void> {
    const { virtual, real } = await resolveFull(s, arg || "/");
    const st = await stat(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    if (!st.isDirectory()) throw new Reply(550, "Not a directory");
    s.cwd = virtual;
    s.reply(250, "Directory successfully changed");
  },

  async list(s: Session, arg: string, kind: "list" | "nlst" | "mlsd"): Promise<void> {
    const target = kind === "mlsd" ? arg.trim() : listTarget(arg);
    const { real } = await resolveFull(s, target || ".");
    let text: string;
    try {
      const self = await statEntry(real);
      if (self.stats.isDirectory()) {
        const entries = await readEntries(real);
        text = kind === "list" ? formatList(entries) : kind === "nlst" ? formatNames(entries) : formatMlsd(entries, self);
      } else {
        if (kind === "mlsd") throw new Reply(501, "MLSD needs a directory");
        text = kind === "list" ? formatList([self]) : formatNames([{ name: target, stats: self.stats }]);
      }
    } catch (err) {
      throw fsReply(err);
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
    const { virtual, real } = await resolveFull(s, arg.trim() || ".");
    const e = await statEntry(real).catch((err: unknown) => {
      throw fsReply(err);
    });
    s.reply(250, [`Listing ${virtual}`, ` ${mlsxFacts({ name: virtual, stats: e.stats })}`, "End"].join("\n"));
  },

  async statPath(s: Session, arg: string): Promise<void> {
    const { real } = await resolveFull(s, listTarget(arg) || ".");
    try {
      const self = await statEntry(real);
      const entries = self.stats.isDirectory() ? await readEntries(real) : [self];
      const lines = formatList(entries).split("\r\n").filter(Boolean).map((l) => ` ${l}`);
      s.reply(213, ["Status follows:", ...lines, "End of status"].join("\n"));
    } catch (err) {
      throw fsReply(err);
    }
  },

  async retr(s: Session, arg: string): Promise<void> {
    if (!arg) throw new Reply(501, "RETR needs a file name");
    const { real } = await resolveFull(s, arg);
    const start = s.restOffset;
    const fh = await open(real, "r").catch((e: unknown) => {
      throw fsReply(e);
    });
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Reply(550, "Not a plain file");
      if (start > st.size) throw new Reply(554, "Restart offset beyond end of file");
      await s.transferWith(
        "download",
        async (data) => {
          return sendFile(fh, start, data, st.size);
        },
        `Opening BINARY mode data connection for ${path.basename(real)} (${st.size} bytes)`,
      );
    } finally {
      await fh.close().catch(() => {});
    }
  },

  async stor(s: Session, arg: string, append: boolean): Promise<void> {
    if (!arg) throw new Reply(501, `${append ? "APPE" : "STOR"} needs a file name`);
    const offset = s.restOffset;
    if (append || offset > 0) return storInPlace(s, arg, append, offset);
    const { real, name } = await resolveName(s, arg);
    const existing = await stat(real).catch(() => null);
    if (existing?.isDirectory()) throw new Reply(550, "Is a directory");
    const tmp = path.join(path.dirname(real), `.${name.slice(0, 100)}${UPLOAD_TEMP_MARK}${randomBytes(6).toString("hex")}`);
    const fh = await open(tmp, "wx", 0o644).catch((e: unknown) => {
      throw fsReply(e);
    });
    let committed = false;
    try {
      await s.transferWith(
        "upload",
        async (data) => {
          let n: number;
          try {
            n = await receiveFile(data, fh, null);
          } catch (err) {
            // Remove the partial temp file before the 426 goes out.
            await fh.close().catch(() => {});
            await unlink(tmp).catch(() => {});
            throw err;
          }
          await fh.close();
          await rename(tmp, real);
          committed = true;
          return n;
        },
        `Ok to send data for ${name}`,
      );
    } finally {
      await fh.close().catch(() => {});
      if (!committed) await unlink(tmp).catch(() => {});
    }
  },

  async size(s: Session, arg: string): Promise<void> {
    const { real } = await resolveFull(s, arg);
    const st = await stat(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    if (!st.isFile()) throw new Reply(550, "Not a plain file");
    s.reply(213, String(st.size));
  },

  async mdtm(s: Session, arg: string): Promise<void> {
    const { real } = await resolveFull(s, arg);
    const st = await stat(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    s.reply(213, ftpTime(st.mtime));
  },

  async dele(s: Session, arg: string): Promise<void> {
    const { real } = await resolveName(s, arg);
    const st = await lstat(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    if (st.isDirectory()) throw new Reply(550, "Is a directory, use RMD");
    await unlink(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    s.reply(250, "File deleted");
  },

  async mkd(s: Session, arg: string): Promise<void> {
    const { virtual, real } = await resolveName(s, arg);
    await mkdir(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    s.reply(257, `${quotePath(virtual)} created`);
  },

  async rmd(s: Session, arg: string): Promise<void> {
    const { real } = await resolveName(s, arg);
    await rmdir(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    s.reply(250, "Directory removed");
  },

  async rnfr(s: Session, arg: string): Promise<void> {
    const { real } = await resolveName(s, arg);
    await lstat(real).catch((e: unknown) => {
      throw fsReply(e);
    });
    s.renameFrom = real;
    s.reply(350, "Ready for RNTO");
  },

  async rnto(s: Session, arg: string): Promise<void> {
    const from = s.renameFrom;
    if (!from) throw new Reply(503, "RNFR first");
    const { real } = await resolveName(s, arg);
    await rename(from, real).catch((e: unknown) => {
      throw fsReply(e);
    });
    s.reply(250, "Rename successful");
  },
};

/** APPE, and STOR after REST: these continue a partial file, so they write in place. */
async function storInPlace(s: Session, arg: string, append: boolean, offset: number): Promise<void> {
  const { real } = await resolveFull(s, arg);
  const existing = await stat(real).catch(() => null);
  if (existing?.isDirectory()) throw new Reply(550, "Is a directory");
  const flags = append ? "a" : existing ? "r+" : "w";
  const fh = await open(real, flags, 0o644).catch((e: unknown) => {
    throw fsReply(e);
  });
  try {
    await s.transferWith(
      "upload",
      async (data: Duplex) => {
        const n = await receiveFile(data, fh, append ? null : offset);
        if (!append) await fh.truncate(offset + n);
        return n;
      },
      `Ok to send data for ${path.basename(real)}`,
    );
  } finally {
    await fh.close().catch(() => {});
  }
}
