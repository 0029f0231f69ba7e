// Which storage a session's files live in (config `storage`, docs/storage.md): the local jail
// below storage.root, or a prefix of an S3 bucket. The AWS SDK is loaded only when S3 is used.

import type { ServerConfig } from "../config/schema.ts";
import { LocalStorage } from "./local.ts";
import type { UserStorage } from "./storage.ts";
import { sweepStaleUploads } from "./uploads.ts";

/** A multipart upload older than this belongs to an upload cut by a pod's death. */
const STALE_MULTIPART_MS = 24 * 3600_000;

/** The storage of a user's home (created when missing, locally) for the current config. */
export async function openUserStorage(cfg: ServerConfig["storage"], home: string): Promise<UserStorage> {
  if (cfg.type === "s3") {
    if (!cfg.s3) throw new Error("storage.type s3 needs storage.s3");
    const { S3Storage } = await import("./s3.ts");
    return new S3Storage(cfg.s3, home);
  }
  return LocalStorage.open(cfg.root, home);
}

/** At start: removes what uploads that died with their pod left behind. Never throws; returns how many. */
export async function sweepStale(cfg: ServerConfig["storage"]): Promise<number> {
  if (cfg.type === "s3") {
    if (!cfg.s3) return 0;
    const { sweepStaleMultipartUploads } = await import("./s3.ts");
    return sweepStaleMultipartUploads(cfg.s3, STALE_MULTIPART_MS);
  }
  return sweepStaleUploads(cfg.root);
}
