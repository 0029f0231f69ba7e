// Per-user quotas (users file `quota: {bytes, files}`): how much a home holds, measured by its
// storage (locally by walking it through descriptors — no link is followed, temp files are not
// counted — with object storage by listing its prefix), kept per home for the whole process so concurrent sessions of one user share one count, updated by this process's
// own STOR/DELE, and measured again when older than MEASURE_TTL_MS (other pods write to the same
// volume). Uploads in flight register their growth, so two concurrent uploads cannot each fill
// the remaining space.

import { readdir, lstat, open } from "node:fs/promises";
import { constants } from "node:fs";
import path from "node:path";
import { fdPath, isReservedName, type DirRef } from "./jail.ts";
import type { Usage } from "./storage.ts";

export const MEASURE_TTL_MS = 30_000;
/** A home with more entries than this is counted up to here (the walk must stay bounded). */
const MAX_ENTRIES = 1_000_000;

export type { Usage } from "./storage.ts";

export class HomeUsage {
  bytes = 0;
  files = 0;
  measuredAt = 0;
  private readonly inFlight = new Map<symbol, number>();
  private measuring: Promise<void> | null = null;

  /** Bytes stored plus bytes being uploaded right now by this process. */
  committedPlusInFlight(): number {
    let n = this.bytes;
    for (const v of this.inFlight.values()) n += v;
    return n;
  }

  setInFlight(id: symbol, growth: number): void {
    this.inFlight.set(id, Math.max(0, growth));
  }

  clearInFlight(id: symbol): void {
    this.inFlight.delete(id);
  }

  add(bytes: number, files: number): void {
    this.bytes = Math.max(0, this.bytes + bytes);
    this.files = Math.max(0, this.files + files);
  }

  async refresh(measureNow: () => Promise<Usage>, now = Date.now()): Promise<void> {
    if (now - this.measuredAt < MEASURE_TTL_MS) return;
    this.measuring ??= measureNow().then(
      (u) => {
        this.bytes = u.bytes;
        this.files = u.files;
        this.measuredAt = Date.now();
        this.measuring = null;
      },
      (err: unknown) => {
        this.measuring = null;
        throw err;
      },
    );
    await this.measuring;
  }
}

const byHome = new Map<string, HomeUsage>();

/** The shared usage record of a home (by its storage's usageKey). */
export function usageOf(home: string): HomeUsage {
  let u = byHome.get(home);
  if (!u) {
    u = new HomeUsage();
    byHome.set(home, u);
  }
  return u;
}

/** Sum of regular file sizes and count of regular files below `root`; links are not followed. */
export async function measure(root: DirRef): Promise<Usage> {
  const usage: Usage = { bytes: 0, files: 0 };
  let seen = 0;
  const walk = async (dir: DirRef): Promise<void> => {
    const names = await readdir(fdPath(dir));
    for (const name of names) {
      if (++seen > MAX_ENTRIES) return;
      if (isReservedName(name)) continue;
      const st = await lstat(fdPath(dir, name)).catch(() => null);
      if (!st) continue;
      if (st.isFile()) {
        usage.bytes += st.size;
        usage.files++;
      } else if (st.isDirectory()) {
        const fh = await open(fdPath(dir, name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch(() => null);
        if (!fh) continue;
        try {
          await walk({ fh, real: path.join(dir.real, name) });
        } finally {
          await fh.close().catch(() => {});
        }
      }
    }
  };
  await walk(root);
  return usage;
}
