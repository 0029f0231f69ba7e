// The S3 implementation of the storage seam (fs/storage.ts): a user's home is the key prefix
// `<prefix><home>/` of one bucket, shared by every replica (docs/storage.md).
//
// - Files are objects; directories are key prefixes, made visible when empty by a marker object
//   (`<dir>/`, empty) that MKD writes. A directory exists when its marker or any key below it does.
// - STOR (Upload) streams into a multipart upload through at most `partBuffers` buffers of
//   `partSizeMiB` each: memory per transfer is bounded, nothing goes to local disk. The upload is
//   created with the first full part and completed only by commit(), i.e. after the data
//   connection ended cleanly; abort() (a cut transfer, a failed part) aborts it, so nothing ever
//   appears under the final name. A file that fits in one part is one PutObject at commit.
// - RETR reads through one ranged GET (`Range: bytes=<REST offset>-`) pinned to the ETag the
//   HEAD saw, so a file replaced meanwhile fails the transfer instead of mixing two versions.
// - Listings come from ListObjectsV2 with the delimiter "/".
// - RNFR/RNTO is CopyObject + DeleteObject per key: not atomic (docs/storage.md says what a
//   crash in between leaves); a directory is renamed key by key, up to RENAME_MAX_KEYS.
// - There are no symbolic links, modes or owners: stats are synthesised (0644 files, 0755
//   directories, owned by this process), so the MLSx perm fact is the users-file permissions.
//
// Credentials: the SDK's default provider chain (env from a Secret, web identity / pod identity,
// instance metadata); the config names none.

import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import type { ServerConfig } from "../config/schema.ts";
import { PathError, isReservedName } from "./jail.ts";
import { byName, fsError, pathComponents, type Described, type Entry, type FileStat, type InPlaceFile, type OpenedFile, type Upload, type Usage, type UserStorage } from "./storage.ts";

export type S3Config = NonNullable<ServerConfig["storage"]["s3"]>;

/** S3's limit on parts per multipart upload. */
const MAX_PARTS = 10_000;
/** CopyObject's limit (a larger file would need a multipart copy). */
const COPY_MAX_BYTES = 5 * 1024 ** 3;
/** A directory rename copies every key below it: refused above this many. */
export const RENAME_MAX_KEYS = 1000;
/** Listings and quota measurements stop here (each ListObjectsV2 page is 1000 keys). */
const LIST_MAX_ENTRIES = 100_000;
const MEASURE_MAX_KEYS = 1_000_000;

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

class ObjectStat implements FileStat {
  readonly size: number;
  readonly mtime: Date;
  readonly mode: number;
  readonly uid = uid;
  readonly gid = gid;
  private readonly dir: boolean;

  constructor(dir: boolean, size: number, mtime: Date | undefined) {
    this.dir = dir;
    this.size = size;
    this.mtime = mtime ?? new Date();
    this.mode = dir ? 0o40755 : 0o100644;
  }
  isFile(): boolean {
    return !this.dir;
  }
  isDirectory(): boolean {
    return this.dir;
  }
  isSymbolicLink(): boolean {
    return false;
  }
}

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** An SDK error as the Node-style error the file commands map to replies. */
function s3Error(err: unknown): Error {
  if (err instanceof PathError || (err as NodeJS.ErrnoException).code) return err as Error;
  const e = err as SdkError;
  const status = e.$metadata?.httpStatusCode;
  if (e.name === "NoSuchBucket") return fsError("EIO", `object storage: no such bucket`);
  if (e.name === "NotFound" || e.name === "NoSuchKey" || status === 404) return fsError("ENOENT", "No such file or directory");
  if (e.name === "AccessDenied" || status === 403) return fsError("EACCES", "Permission denied");
  if (e.name === "EntityTooLarge") return fsError("EFBIG", "File too large for this storage");
  return fsError("EIO", `object storage: ${e.name ?? "error"}: ${e.message ?? String(err)}`);
}

async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw s3Error(err);
  }
}

const clients = new Map<string, S3Client>();

/** One client (one connection pool) per distinct S3 config for the whole process. */
export function clientFor(cfg: S3Config): S3Client {
  const key = JSON.stringify([cfg.endpoint, cfg.region, cfg.forcePathStyle]);
  let c = clients.get(key);
  if (!c) {
    c = new S3Client({
      region: cfg.region,
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
      forcePathStyle: cfg.forcePathStyle,
      // Checksums only where S3 requires them: S3-compatible servers differ in the newer
      // flexible-checksum headers, and TCP + TLS + the part ETags already cover transport.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    clients.set(key, c);
  }
  return c;
}

export class S3Storage implements UserStorage {
  readonly usageKey: string;
  private readonly client: S3Client;
  private readonly cfg: S3Config;
  private readonly bucket: string;
  /** `<prefix><home>/`: the key of the home directory. */
  private readonly base: string;

  constructor(cfg: S3Config, home: string, client: S3Client = clientFor(cfg)) {
    this.cfg = cfg;
    this.client = client;
    this.bucket = cfg.bucket;
    const comps = pathComponents(home);
    if (comps.length === 0 || comps.includes("..")) throw new PathError("invalid home");
    this.base = `${cfg.prefix}${comps.join("/")}/`;
    this.usageKey = `s3://${cfg.endpoint ?? "aws"}/${cfg.bucket}/${this.base}`;
  }

  /** The object key of a virtual path ("" components refused; "/" is the home's own key). */
  private key(v: string): string {
    const comps = pathComponents(v);
    if (comps.includes("..")) throw new PathError("invalid path");
    for (const c of comps) if (isReservedName(c)) throw new PathError("reserved name");
    const k = this.base + comps.join("/");
    if (Buffer.byteLength(k) > 1000) throw fsError("ENAMETOOLONG", "File name too long");
    return k;
  }

  private dirKey(v: string): string {
    const k = this.key(v);
    return k.endsWith("/") ? k : `${k}/`;
  }

  private parentOf(v: string): string {
    const comps = pathComponents(v);
    return "/" + comps.slice(0, -1).join("/");
  }

  private async head(key: string): Promise<{ size: number; mtime: Date | undefined; etag: string | undefined } | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: r.ContentLength ?? 0, mtime: r.LastModified, etag: r.ETag };
    } catch (err) {
      const e = s3Error(err) as NodeJS.ErrnoException;
      if (e.code === "ENOENT") return null;
      throw e;
    }
  }

  /** Whether anything (the marker or any key) exists below the directory key. */
  private async dirExists(dirKey: string): Promise<boolean> {
    if (dirKey === this.base) return true;
    const r = await call(this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dirKey, MaxKeys: 1 })));
    return (r.KeyCount ?? r.Contents?.length ?? 0) > 0 || (r.CommonPrefixes?.length ?? 0) > 0;
  }

  async stat(v: string): Promise<FileStat | null> {
    const k = this.key(v);
    if (k === this.base.slice(0, -1) || k === this.base) return new ObjectStat(true, 0, undefined);
    const h = await this.head(k);
    if (h) return new ObjectStat(false, h.size, h.mtime);
    return (await this.dirExists(`${k}/`)) ? new ObjectStat(true, 0, undefined) : null;
  }

  private async requireDir(v: string): Promise<void> {
    const st = await this.stat(v);
    if (!st) throw fsError("ENOENT", "No such file or directory");
    if (!st.isDirectory()) throw fsError("ENOTDIR", "Not a directory");
  }

  async enterDir(v: string): Promise<void> {
    await this.requireDir(v);
  }

  async describe(v: string, withEntries = true): Promise<Described> {
    const st = await this.stat(v);
    if (!st) throw fsError("ENOENT", "No such file or directory");
    const comps = pathComponents(v);
    const self: Entry = { name: comps.length ? comps[comps.length - 1]! : ".", stats: st };
    const parent = comps.length ? new ObjectStat(true, 0, undefined) : null;
    if (!st.isDirectory() || !withEntries) return { self, parent, entries: null };
    return { self, parent, entries: await this.list(this.dirKey(v)) };
  }

  private async list(dirKey: string): Promise<Entry[]> {
    const out: Entry[] = [];
    let token: string | undefined;
    do {
      const r: ListObjectsV2CommandOutput = await call(
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dirKey, Delimiter: "/", ContinuationToken: token })),
      );
      for (const p of r.CommonPrefixes ?? []) {
        const name = (p.Prefix ?? "").slice(dirKey.length, -1);
        if (name && !isReservedName(name)) out.push({ name, stats: new ObjectStat(true, 0, undefined) });
      }
      for (const o of r.Contents ?? []) {
        const name = (o.Key ?? "").slice(dirKey.length);
        if (name && !isReservedName(name)) out.push({ name, stats: new ObjectStat(false, o.Size ?? 0, o.LastModified) });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token && out.length < LIST_MAX_ENTRIES);
    return out.sort(byName);
  }

  async openRead(v: string): Promise<OpenedFile> {
    const k = this.key(v);
    const h = k.endsWith("/") ? null : await this.head(k);
    if (!h) {
      if (await this.dirExists(this.dirKey(v))) throw fsError("EISDIR", "Is a directory");
      throw fsError("ENOENT", "No such file or directory");
    }
    return new RangedReader(this.client, this.bucket, k, h.size, h.etag);
  }

  async createUpload(v: string, opts: { overwrite: boolean }): Promise<Upload> {
    const k = this.key(v);
    await this.requireDir(this.parentOf(v));
    return new MultipartUpload(this.client, this.bucket, k, this.cfg, opts.overwrite, (key) => this.head(key));
  }

  openInPlace(): Promise<InPlaceFile> {
    return Promise.reject(fsError("ENOTSUP", "APPE and REST+STOR are not supported on object storage (upload the whole file again)"));
  }

  async remove(v: string): Promise<void> {
    const k = this.key(v);
    if (!(await this.head(k))) throw fsError("ENOENT", "No such file or directory");
    await call(this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: k })));
  }

  async mkdir(v: string): Promise<void> {
    await this.requireDir(this.parentOf(v));
    if (await this.stat(v)) throw fsError("EEXIST", "File exists");
    await call(this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.dirKey(v), Body: Buffer.alloc(0), ContentLength: 0 })));
  }

  async rmdir(v: string): Promise<void> {
    const dk = this.dirKey(v);
    const r = await call(this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dk, MaxKeys: 2 })));
    const keys = (r.Contents ?? []).map((o) => o.Key);
    if (keys.length === 0 && (r.CommonPrefixes?.length ?? 0) === 0) throw fsError("ENOENT", "No such file or directory");
    if (keys.some((x) => x !== dk)) throw fsError("ENOTEMPTY", "Directory not empty");
    await call(this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: dk })));
  }

  async rename(fromV: string, toV: string, opts: { overwrite: boolean }): Promise<void> {
    const st = await this.stat(fromV);
    if (!st) throw fsError("ENOENT", "No such file or directory");
    await this.requireDir(this.parentOf(toV));
    const target = await this.stat(toV);
    if (target) {
      if (!opts.overwrite) throw fsError("EEXIST", "File exists");
      if (target.isDirectory()) throw fsError(st.isDirectory() ? "ENOTEMPTY" : "EISDIR", "The target is a directory");
      if (st.isDirectory()) throw fsError("ENOTDIR", "Not a directory");
    }
    if (!st.isDirectory()) return this.moveKey(this.key(fromV), this.key(toV), st.size);
    const from = this.dirKey(fromV);
    const to = this.dirKey(toV);
    if (to.startsWith(from)) throw fsError("EINVAL", "Cannot move a directory into itself");
    const keys: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const r: ListObjectsV2CommandOutput = await call(this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: from, ContinuationToken: token })));
      for (const o of r.Contents ?? []) if (o.Key) keys.push({ key: o.Key, size: o.Size ?? 0 });
      if (keys.length > RENAME_MAX_KEYS) throw fsError("ENOTSUP", `Renaming a directory of more than ${RENAME_MAX_KEYS} objects is not supported on object storage`);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    // Copies first, deletes after: a failure half-way leaves both names, never neither.
    // Markers are written anew, not copied (some servers keep "dir/" keys as directories, not objects).
    for (const o of keys) {
      const dest = to + o.key.slice(from.length);
      if (o.key.endsWith("/")) await this.copyMarker(dest);
      else await this.copyKey(o.key, dest, o.size);
    }
    if (!keys.some((o) => o.key === from)) await this.copyMarker(to);
    for (const o of keys) await call(this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.key })));
  }

  private async copyMarker(dk: string): Promise<void> {
    await call(this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: dk, Body: Buffer.alloc(0), ContentLength: 0 })));
  }

  private async copyKey(from: string, to: string, size: number): Promise<void> {
    if (size > COPY_MAX_BYTES) throw fsError("EFBIG", "Renaming a file over 5 GiB is not supported on object storage");
    const source = `${this.bucket}/${encodeURIComponent(from).replace(/%2F/g, "/")}`;
    await call(this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: to, CopySource: source })));
  }

  private async moveKey(from: string, to: string, size: number): Promise<void> {
    await this.copyKey(from, to, size);
    await call(this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: from })));
  }

  async measureUsage(): Promise<Usage> {
    const usage: Usage = { bytes: 0, files: 0 };
    let seen = 0;
    let token: string | undefined;
    do {
      const r: ListObjectsV2CommandOutput = await call(this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.base, ContinuationToken: token })));
      for (const o of r.Contents ?? []) {
        seen++;
        if (!o.Key || o.Key.endsWith("/")) continue; // directory markers
        usage.bytes += o.Size ?? 0;
        usage.files++;
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token && seen < MEASURE_MAX_KEYS);
    return usage;
  }
}

/** RETR: one ranged GET from the first read's position, read through in order; a jump reopens it. */
class RangedReader implements OpenedFile {
  readonly size: number;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly key: string;
  private readonly etag: string | undefined;
  private body: Readable | null = null;
  private chunks: AsyncIterator<Uint8Array> | null = null;
  private left: Uint8Array | null = null;
  private at = -1;

  constructor(client: S3Client, bucket: string, key: string, size: number, etag: string | undefined) {
    this.client = client;
    this.bucket = bucket;
    this.key = key;
    this.size = size;
    this.etag = etag;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    if (position >= this.size || length === 0) return { bytesRead: 0 };
    if (!this.chunks || position !== this.at) {
      this.body?.destroy();
      const r = await call(
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, Range: `bytes=${position}-`, ...(this.etag ? { IfMatch: this.etag } : {}) })),
      );
      this.body = r.Body as Readable;
      this.chunks = this.body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
      this.left = null;
      this.at = position;
    }
    let n = 0;
    while (n < length) {
      if (!this.left || this.left.length === 0) {
        const next = await this.chunks.next();
        if (next.done) break;
        this.left = next.value;
      }
      const k = Math.min(length - n, this.left.length);
      buffer.set(this.left.subarray(0, k), offset + n);
      this.left = this.left.subarray(k);
      n += k;
    }
    this.at += n;
    return { bytesRead: n };
  }

  close(): Promise<void> {
    this.body?.destroy();
    this.body = null;
    this.chunks = null;
    return Promise.resolve();
  }
}

/**
 * STOR: the bytes go into part buffers (at most `partBuffers` of `partSizeMiB`); a full buffer is
 * sent as one UploadPart while the next fills, and a write waits only when every buffer is in
 * flight — that wait is the backpressure that pauses the data connection.
 */
class MultipartUpload implements Upload {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly key: string;
  private readonly partSize: number;
  private readonly maxBuffers: number;
  private readonly overwrite: boolean;
  private readonly headOf: (key: string) => Promise<unknown>;
  private cur: Buffer | null = null;
  private fill = 0;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private partNumber = 0;
  private uploadId: Promise<string> | null = null;
  private error: Error | null = null;
  private pos = 0;
  private done = false;

  constructor(client: S3Client, bucket: string, key: string, cfg: S3Config, overwrite: boolean, headOf: (key: string) => Promise<unknown>) {
    this.client = client;
    this.bucket = bucket;
    this.key = key;
    this.partSize = cfg.partSizeMiB * 1024 * 1024;
    this.maxBuffers = cfg.partBuffers;
    this.overwrite = overwrite;
    this.headOf = headOf;
  }

  async write(buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }> {
    this.checkPosition(position);
    await this.put(buffer.subarray(offset, offset + length));
    return { bytesWritten: length };
  }

  async writev(buffers: Buffer[], position?: number): Promise<{ bytesWritten: number }> {
    this.checkPosition(position ?? null);
    let n = 0;
    for (const b of buffers) {
      await this.put(b);
      n += b.length;
    }
    return { bytesWritten: n };
  }

  written(): Promise<number> {
    return Promise.resolve(this.pos);
  }

  heartbeat(): Promise<void> {
    return Promise.resolve(); // an unfinished multipart upload is invisible; nothing to keep fresh
  }

  private checkPosition(position: number | null): void {
    if (position !== null && position !== this.pos) throw fsError("EINVAL", "object uploads are written in order");
  }

  private async put(data: Buffer): Promise<void> {
    let i = 0;
    while (i < data.length) {
      if (this.error) throw this.error;
      this.cur ??= await this.takeBuffer();
      const k = Math.min(data.length - i, this.partSize - this.fill);
      data.copy(this.cur, this.fill, i, i + k);
      this.fill += k;
      i += k;
      this.pos += k;
      if (this.fill === this.partSize) this.sendPart();
    }
  }

  private async takeBuffer(): Promise<Buffer> {
    for (;;) {
      if (this.error) throw this.error;
      const b = this.free.pop();
      if (b) return b;
      if (this.allocated < this.maxBuffers) {
        this.allocated++;
        return Buffer.allocUnsafeSlow(this.partSize);
      }
      if (this.inFlight.size === 0) throw fsError("EIO", "upload has no part buffer"); // cannot happen: every buffer is filling, free or in flight
      await Promise.race(this.inFlight);
    }
  }

  private startUpload(): Promise<string> {
    this.uploadId ??= call(this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key }))).then((r) => {
      if (!r.UploadId) throw fsError("EIO", "object storage: no UploadId");
      return r.UploadId;
    });
    return this.uploadId;
  }

  private sendPart(): void {
    const buf = this.cur!;
    const n = this.fill;
    this.cur = null;
    this.fill = 0;
    const partNumber = ++this.partNumber;
    if (partNumber > MAX_PARTS) {
      this.error ??= fsError("EFBIG", `File too large for this storage (more than ${MAX_PARTS} parts of ${this.partSize / 1024 / 1024} MiB)`);
      this.free.push(buf);
      return;
    }
    const p: Promise<void> = this.uploadPart(buf, n, partNumber).finally(() => {
      this.free.push(buf);
      this.inFlight.delete(p);
    });
    this.inFlight.add(p);
  }

  private async uploadPart(buf: Buffer, n: number, partNumber: number): Promise<void> {
    try {
      const UploadId = await this.startUpload();
      const r = await call(
        this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: this.key, UploadId, PartNumber: partNumber, Body: buf.subarray(0, n), ContentLength: n })),
      );
      this.parts.push({ PartNumber: partNumber, ETag: r.ETag });
    } catch (err) {
      this.error ??= err as Error;
    }
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async commit(): Promise<void> {
    if (this.done) throw fsError("EINVAL", "upload already finished");
    try {
      if (!this.overwrite && (await this.headOf(this.key))) throw fsError("EEXIST", "File exists");
      if (this.partNumber === 0) {
        // Fits in one part: a plain PUT, no multipart upload at all.
        const body = this.cur ? this.cur.subarray(0, this.fill) : Buffer.alloc(0);
        await call(this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: body, ContentLength: body.length })));
        this.done = true;
        return;
      }
      if (this.fill > 0) this.sendPart();
      await this.settle();
      if (this.error) throw this.error;
      const UploadId = await this.startUpload();
      const Parts = [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      await call(this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId, MultipartUpload: { Parts } })));
      this.done = true;
    } catch (err) {
      await this.abort();
      throw s3Error(err);
    } finally {
      this.release();
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.error ??= fsError("ECANCELED", "upload aborted");
    await this.settle();
    this.release();
    if (!this.uploadId) return;
    const UploadId = await this.uploadId.catch(() => null);
    if (UploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId })).catch(() => {});
  }

  private release(): void {
    this.cur = null;
    this.free.length = 0;
  }
}

/**
 * Aborts multipart uploads below `prefix` started more than `olderThanMs` ago: what uploads cut
 * by a pod's death leave (invisible, but stored and billed). Never throws; returns how many.
 */
export async function sweepStaleMultipartUploads(cfg: S3Config, olderThanMs: number, now = Date.now()): Promise<number> {
  const client = clientFor(cfg);
  let removed = 0;
  try {
    const r = await client.send(new ListMultipartUploadsCommand({ Bucket: cfg.bucket, Prefix: cfg.prefix || undefined }));
    for (const u of r.Uploads ?? []) {
      if (!u.Key || !u.UploadId || !u.Initiated || now - u.Initiated.getTime() < olderThanMs) continue;
      await client.send(new AbortMultipartUploadCommand({ Bucket: cfg.bucket, Key: u.Key, UploadId: u.UploadId })).then(
        () => removed++,
        () => {},
      );
    }
  } catch {
    // best effort: a bucket lifecycle rule (docs/storage.md) is the backstop
  }
  return removed;
}
