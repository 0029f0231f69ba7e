// The FtpUser API (ftp.pasv.dev/v1alpha1) at run time: one FTP login of one FtpServer, as a
// Kubernetes object, so users can be added, disabled and removed with kubectl (or GitOps) instead
// of editing the JSON users file by hand. The password is never in the object: passwordSecretRef
// names a Secret key holding a scrypt or bcrypt hash (the users file's formats,
// docs/users-file.md). The operator merges the Ready FtpUsers with the FtpServer's Secret-based
// users file into the file the pods read (operator/src/controller/ftpusers.ts). The schema is
// defined with zod in schema/ftpuser.ts (types, CRD) and checked here with the JSON Schema
// generated from it.
import { compileSchema } from "#server-config";
import { ftpUserSpecJsonSchema } from "./generated/validation.ts";
import { API_VERSION } from "./v1alpha1.ts";
import type { FtpUserSpec, FtpUserStatus } from "./schema/ftpuser.ts";

export type { FtpUserSpec, FtpUserStatus } from "./schema/ftpuser.ts";

export const FTPUSER_KIND = "FtpUser";
export const FTPUSER_PLURAL = "ftpusers";
export const FTPUSER_SINGULAR = "ftpuser";
export const FTPUSER_SHORT_NAMES = ["ftpu"];
export const FTPUSER_CATEGORIES = ["pasv", "ftp"];

/** Secret key read when passwordSecretRef.key is omitted. */
export const DEFAULT_PASSWORD_KEY = "password";

export interface FtpUser {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  spec: unknown;
  status?: FtpUserStatus;
}

export const FTPUSER_API_VERSION = API_VERSION;

const specValidator = compileSchema<FtpUserSpec>(ftpUserSpecJsonSchema, "spec");

export type FtpUserParse = { ok: true; spec: FtpUserSpec } | { ok: false; problems: string[] };

/** Parse a stored spec the way admission would (an object stored before a rule existed gets InvalidSpec, never a crash). */
export function validateFtpUserSpec(raw: unknown): FtpUserParse {
  const parsed = specValidator.validate(raw);
  return parsed.ok ? { ok: true, spec: parsed.value } : { ok: false, problems: parsed.problems };
}

/** The login name in effect. */
export function effectiveUserName(u: { metadata: { name: string }; spec: unknown }): string {
  const n = (u.spec as { userName?: unknown } | undefined)?.userName;
  return typeof n === "string" && n !== "" ? n : u.metadata.name;
}

/** The FtpServer an FtpUser names (undefined when the spec has none). */
export function serverRefName(spec: unknown): string | undefined {
  const n = (spec as { serverRef?: { name?: unknown } } | undefined)?.serverRef?.name;
  return typeof n === "string" && n !== "" ? n : undefined;
}
