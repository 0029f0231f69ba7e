// Directory listings: LIST (ls -l style, what every client parses), NLST (names), and the
// machine-readable MLSD/MLST facts of RFC 3659.
//
// The entries come from the storage backend (fs/storage.ts: the local jail reads them through
// open directories, fs/local.ts; object storage from ListObjectsV2, fs/s3.ts); this module only
// formats them.

import type { Entry, FileStat } from "./storage.ts";

export type { Entry } from "./storage.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function perms(st: FileStat): string {
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

/** What the user's permissions in the users file allow (docs/users-file.md). */
export interface UserPermissions {
  write: boolean;
  delete: boolean;
  rename: boolean;
}

export interface Identity {
  uid: number;
  gid: number;
  groups: readonly number[];
}

export function processIdentity(): Identity {
  return {
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    groups: process.getgroups?.() ?? [],
  };
}

/** Whether this process may read (4), write (2) or search/execute (1) per the file's mode bits. */
export function modeAllows(st: FileStat, bit: 1 | 2 | 4, id: Identity): boolean {
  if (id.uid === 0) return bit !== 1 || st.isDirectory() || (st.mode & 0o111) !== 0;
  const shift = st.uid === id.uid ? 6 : st.gid === id.gid || id.groups.includes(st.gid) ? 3 : 0;
  return ((st.mode >> shift) & bit) !== 0;
}

/**
 * The RFC 3659 `perm` fact: what this user can do with the entry, from the users-file permissions
 * and the real mode bits of the entry and of its parent directory (delete/rename/create are the
 * parent's business).
 */
export function permFact(st: FileStat, parent: FileStat | null, p: UserPermissions, id: Identity): string {
  const parentWritable = parent !== null && p.write && modeAllows(parent, 2, id) && modeAllows(parent, 1, id);
  let out = "";
  // Letter order as the server always gave it (radfw / elcdmfp); RFC 3659 does not fix one.
  if (st.isDirectory()) {
    const w = p.write && modeAllows(st, 2, id) && modeAllows(st, 1, id);
    if (modeAllows(st, 1, id)) out += "e";
    if (modeAllows(st, 4, id) && modeAllows(st, 1, id)) out += "l";
    if (w) out += "c";
    if (parentWritable && p.delete) out += "d";
    if (w) out += "m";
    if (parentWritable && p.rename) out += "f";
    if (w && p.delete) out += "p";
  } else {
    const w = p.write && modeAllows(st, 2, id);
    if (modeAllows(st, 4, id) && st.isFile()) out += "r";
    if (w) out += "a";
    if (parentWritable && p.delete) out += "d";
    if (parentWritable && p.rename) out += "f";
    if (w && p.delete) out += "w";
  }
  return out;
}

/** MLSx facts this server knows, in FEAT order. */
export const MLST_FACTS = ["type", "size", "modify", "perm"] as const;
export type MlstFact = (typeof MLST_FACTS)[number];

export interface FactContext {
  /** Facts selected with OPTS MLST (all by default). */
  facts: ReadonlySet<MlstFact>;
  perms: UserPermissions;
  id: Identity;
  /** Stats of the directory holding the entries (for `perm`), when known. */
  parent: FileStat | null;
}

export function mlsxFacts(e: Entry, ctx: FactContext, type?: string): string {
  const st = e.stats;
  let out = "";
  if (ctx.facts.has("type")) out += `type=${type ?? (st.isDirectory() ? "dir" : "file")};`;
  if (ctx.facts.has("size")) out += `size=${st.size};`;
  if (ctx.facts.has("modify")) out += `modify=${ftpTime(st.mtime)};`;
  if (ctx.facts.has("perm")) out += `perm=${permFact(st, ctx.parent, ctx.perms, ctx.id)};`;
  return `${out} ${e.name}`;
}

export function formatMlsd(entries: readonly Entry[], self: Entry, selfParent: FileStat | null, ctx: FactContext): string {
  let out = `${mlsxFacts({ name: ".", stats: self.stats }, { ...ctx, parent: selfParent }, "cdir")}\r\n`;
  for (const e of entries) out += `${mlsxFacts(e, { ...ctx, parent: self.stats })}\r\n`;
  return out;
}
