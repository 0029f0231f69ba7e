// Which storage a session's files live in (config `storage`, docs/storage.md): the local jail
// below storage.root, or an S3 prefix.

import type { ServerConfig } from "../config/schema.ts";
import { LocalStorage } from "./local.ts";
import type { UserStorage } from "./storage.ts";

/** The storage of a user's home (created when missing) for the current config. */
export async function openUserStorage(cfg: ServerConfig["storage"], home: string): Promise<UserStorage> {
  return LocalStorage.open(cfg.root, home);
}
