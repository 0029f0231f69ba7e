// Directory listings: LIST (ls -l style, what every client parses), NLST (names), and the
// machine-readable MLSD/MLST facts of RFC 3659.

import { readdir, stat, lstat } from "node:fs/promises";
import type { Stats } from "node:fs";
import path from "node:path";

export interface Entry {
  name: string;
  stats: Stats;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Entries of a directory; symlinks are described by their target (dangling ones are skipped). */
export async function readEntries(dir: string): Promise<Entry[]> {
  const names = await readdir(dir);
  const out = await Promise.all(
    names.map(async (name) => {
      try {
        return { name, stats: await stat(path.join(dir, name)) };
      } catch {
        return null;
      }
    }),
  );
  return out.filter((e): e is Entry => e !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function statEntry(p: string): Promise<Entry> {
  const st = await stat(p).catch(async () => lstat(p));
  return { name: path.basename(p), stats: st };
}

function perms(st: Stats): string {
  const m = st.mode;
  const t = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "-";
  const rwx = (bits: number) => `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${bits & 1 ? "x" : "-"}`;
  return t + rwx((m >> 6) & 7) + rwx((m >> 3) & 7) + rwx(m & 7);
}

function lsDate(d: Date, now: number): string {
  const mon = MONTHS[d.getUTCMonth()]!;
  const day = String(d.getUTCDate()).padStart(2, " ");
  const sixMonths = 182 * 24 * 3600 * 1000;
  if (Math.abs(now - d.getTime()) < sixMonths) {
    const hh = String(d.getUTCHours()).padStart(2, "0");
    const mm = String(d.getUTCMinutes()).padStart(2, "0");
    return `${mon} ${day} ${hh}:${mm}`;
  }
  return `${mon} ${day}  ${d.getUTCFullYear()}`;
}

export function formatList(entries: readonly Entry[]): string {
  const now = Date.now();
  let out = "";
  for (const e of entries) {
    const st = e.stats;
    out += `${perms(st)} 1 ftp ftp ${String(st.size).padStart(12, " ")} ${lsDate(st.mtime, now)} ${e.name}\r\n`;
  }
  return out;
}

export function formatNames(entries: readonly Entry[]): string {
  return entries.map((e) => `${e.name}\r\n`).join("");
}

/** YYYYMMDDHHMMSS in UTC (MDTM, MLSx modify fact). */
export function ftpTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export function mlsxFacts(e: Entry, type?: string): string {
  const st = e.stats;
  const t = type ?? (st.isDirectory() ? "dir" : "file");
  const perm = st.isDirectory() ? "elcdmfp" : "radfw";
  return `type=${t};size=${st.size};modify=${ftpTime(st.mtime)};perm=${perm}; ${e.name}`;
}

export function formatMlsd(entries: readonly Entry[], self: Entry): string {
  let out = `${mlsxFacts({ name: ".", stats: self.stats }, "cdir")}\r\n`;
  for (const e of entries) out += `${mlsxFacts(e)}\r\n`;
  return out;
}
