// STOR's temp files: `.pasv-upload-<pod>-<random>` in the target directory, renamed into place
// once the data connection ended cleanly. The name holds the pod (host name) and 64 random bits,
// so pods sharing one directory on a ReadWriteMany volume never collide, and its length does not
// depend on the client's file name (a 255-byte UTF-8 name still fits the file system's limit).
//
// A live upload touches its temp file every HEARTBEAT_MS, so one whose mtime is older than
// STALE_UPLOAD_MS belongs to an upload that died with its pod (crash, drain deadline) and is
// removed: by listings of that directory (fs/list.ts) and by a sweep of storage.root at start.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { readdir, lstat, unlink, open } from "node:fs/promises";
import { constants } from "node:fs";
import { UPLOAD_TEMP_MARK, isReservedName } from "./jail.ts";

export const HEARTBEAT_MS = 60_000;
export const STALE_UPLOAD_MS = 15 * 60_000;

const POD = hostname().replace(/[^A-Za-z0-9-]/g, "").slice(0, 40) || "pod";

export function tempUploadName(): string {
  return `${UPLOAD_TEMP_MARK}${POD}-${randomBytes(8).toString("hex")}`;
}

/**
 * Removes stale upload temp files below `root`, through descriptors (a directory swapped for a
 * link during the sweep is not followed), looking at most at `maxEntries` entries. Returns how
 * many were removed. Never throws.
 */
export async function sweepStaleUploads(root: string, now = Date.now(), maxEntries = 1_000_000): Promise<number> {
  let seen = 0;
  let removed = 0;
  const walk = async (dirPath: string): Promise<void> => {
    const fh = await open(dirPath, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch(() => null);
    if (!fh) return;
    const dir = `/proc/self/fd/${fh.fd}`;
    try {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (++seen > maxEntries) return;
        const p = `${dir}/${e.name}`;
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && isReservedName(e.name)) {
          const st = await lstat(p).catch(() => null);
          if (st?.isFile() && now - st.mtimeMs > STALE_UPLOAD_MS && (await unlink(p).then(() => true, () => false))) removed++;
        }
      }
    } finally {
      await fh.close().catch(() => {});
    }
  };
  await walk(root);
  return removed;
}
