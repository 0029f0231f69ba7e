// The file-system seam: everything the FTP file commands (session/files.ts) ask of the place a
// user's files live, as one small interface with two implementations:
//
// - LocalStorage (fs/local.ts): a directory on the pod's volume, behind the jail of fs/jail.ts —
//   every call resolves its virtual path again through open directory descriptors, so the jail's
//   guarantees (no path, `..` or symlink leads out of the home; no check-then-use window) hold
//   for every method;
// - S3Storage (fs/s3.ts): a key prefix in an S3 bucket, shared by every replica.
//
// Paths are virtual POSIX paths from the user's root ("/" = home), already normalised by
// `virtual()`. The FTP side (permissions, quota, replies, transfers) stays in session/files.ts;
// a backend reports what went wrong with a Node-style error `code` (ENOENT, EEXIST, ENOTEMPTY,
// EISDIR, ENOTDIR, ENOTSUP, ...) or a PathError, which files.ts turns into FTP replies.

import path from "node:path";
import { PathError } from "./jail.ts";

/**
 * What listings, the MLSx perm fact and the commands read of an entry. node:fs Stats has all of it;
 * object storage synthesises it (mode 0644/0755, owned by this process).
 */
export interface FileStat {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  readonly size: number;
  readonly mtime: Date;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface Entry {
  name: string;
  stats: FileStat;
}

/** Random-access reads: the part of a FileHandle RETR's loop (data/send-file.ts) uses. */
export interface ReadTarget {
  /** The open file's descriptor, when the storage has one (local disk): RETR sends from it with sendfile. */
  readonly fd?: number;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** Positioned writes: the part of a FileHandle STOR's loop (data/receive-file.ts) uses. */
export interface WriteTarget {
  /** The open file's descriptor, when the storage has one (local disk): STOR writes through the native module. */
  readonly fd?: number;
  write(buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  writev(buffers: Buffer[], position?: number): Promise<{ bytesWritten: number }>;
}

/** A regular file opened for RETR. */
export interface OpenedFile extends ReadTarget {
  /** Its size when it was opened. */
  readonly size: number;
  close(): Promise<void>;
}

/**
 * A new file being written aside (STOR): nothing appears under the final name until commit();
 * abort() (or a failed commit) leaves no trace. Exactly one of commit/abort is called.
 */
export interface Upload extends WriteTarget {
  /** Bytes stored so far (the quota watch). */
  written(): Promise<number>;
  /** Called about once a minute while data flows (the local temp file's liveness mark). */
  heartbeat(): Promise<void>;
  /** Puts the data under the final name; with overwrite false, fails with EEXIST when the name exists. */
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** An existing or new regular file written in place (APPE, REST+STOR). */
export interface InPlaceFile extends WriteTarget {
  /** Its size when it was opened. */
  readonly size: number;
  written(): Promise<number>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface Described {
  self: Entry;
  /** The stats of the directory holding `self` (for the perm fact); null for the home. */
  parent: FileStat | null;
  /** The entries, sorted by name, when `self` is a directory (and they were asked for). */
  entries: Entry[] | null;
}

export interface Usage {
  bytes: number;
  files: number;
}

export interface UserStorage {
  /** Identifies the home across sessions of this process (shared quota accounting). */
  readonly usageKey: string;
  /** The entry at `path`, or null when there is none. `follow`: a symlink in the last place is followed (inside the home only). */
  stat(path: string, follow: boolean): Promise<FileStat | null>;
  /** Resolves when `path` is a directory the user can enter (CWD). */
  enterDir(path: string): Promise<void>;
  /** What `path` names (following links inside the home): its stats, its parent's and (withEntries) its entries. */
  describe(path: string, withEntries?: boolean): Promise<Described>;
  openRead(path: string): Promise<OpenedFile>;
  /** A new file for `path` (the last component is not followed), committed into place by its commit(). */
  createUpload(path: string, opts: { overwrite: boolean }): Promise<Upload>;
  /** APPE / REST+STOR (`create`: the file may not exist yet). ENOTSUP where the storage cannot write in place. */
  openInPlace(path: string, opts: { append: boolean; create: boolean }): Promise<InPlaceFile>;
  /** DELE: removes a non-directory. */
  remove(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** RMD: removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** RNFR/RNTO; with overwrite false, fails with EEXIST when `to` exists. */
  rename(from: string, to: string, opts: { overwrite: boolean }): Promise<void>;
  /** What the home holds (quota), bounded. */
  measureUsage(): Promise<Usage>;
}

/** A Node-style error with a code (what the backends throw and files.ts maps to a reply). */
export function fsError(code: string, message: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(message);
  e.code = code;
  return e;
}

/** Lexical: the virtual absolute path for `arg` relative to the virtual `cwd` (".." stops at "/"). */
export function virtualPath(cwd: string, arg: string): string {
  if (arg.includes("\0")) throw new PathError("invalid path");
  return path.posix.resolve("/", cwd, arg || ".");
}

/** The components of a virtual path ("/a/b" -> ["a", "b"]). */
export function pathComponents(virtual: string): string[] {
  return path.posix
    .normalize("/" + virtual)
    .split("/")
    .filter((c) => c !== "" && c !== ".");
}

/** Sorts entries by name (byte order of the UTF-16 code units, as listings always were). */
export function byName(a: Entry, b: Entry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
