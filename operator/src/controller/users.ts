// The users file the pods read, built from the FtpServer's Secret-based users file plus its
// FtpUsers (pure: no I/O; ftpusers.ts does the reads and writes). Each FtpUser gets a verdict
// (its Ready condition): Active (in the file), Disabled (deliberately out of it), or why not.
//
// Rules, so that no existing login is ever dropped or replaced silently:
// - the Secret-based file's users come first and always win a name: an FtpUser with the same
//   name is DuplicateUserName;
// - among FtpUsers, the oldest enabled one (creationTimestamp, then namespace/name) holds a name,
//   even while its own Secret is broken (a new FtpUser cannot take over a name because the old
//   one's Secret blipped); later ones are DuplicateUserName;
// - the output is deterministic (the file's users in file order, then FtpUsers sorted by name, fixed
//   key order), so an unchanged input gives byte-identical output and a no-op resync writes nothing.
import { createHash } from "node:crypto";
import { checkUsersFile, homeProblem, parseUsers, type UsersFile } from "#server-config";
import type { KubeObject } from "../runtime/types.ts";
import { DEFAULT_PASSWORD_KEY, effectiveUserName, validateFtpUserSpec, type FtpUser } from "../api/ftpuser.ts";

/** Pod annotation carrying the users file's hash: changing it makes the kubelet sync the pod and refresh its Secret volume (docs/users-file.md). */
export const USERS_HASH_ANNOTATION = "ftp.pasv.dev/users-hash";
/**
 * On a pod: the resourceVersion of the merged users Secret the operator last touched the pod for.
 * The hash alone cannot say a pod is current: a file that goes A → B → A before the touch leaves
 * the pods annotated A while the kubelet may have mounted B, so every write gets its own touch.
 */
export const USERS_VERSION_ANNOTATION = "ftp.pasv.dev/users-version";
/** Key of the operator-owned Secret the pods mount (contract.ts USERS_FILE_NAME). */
export const MERGED_USERS_KEY = "users.json";

export type UserReason =
  | "Active"
  | "Disabled"
  | "SecretNotFound"
  | "SecretKeyMissing"
  | "InvalidHash"
  | "DuplicateUserName"
  | "InvalidSpec"
  | "ServerNotFound"
  | "ServerUsersFileInvalid";

export interface Verdict {
  ready: boolean;
  reason: UserReason;
  message: string;
  userName: string;
}

/** What was read of a password Secret: undefined = not found. */
export type SecretData = Record<string, string> | undefined;

export interface MergeInput {
  /** the FtpServer's users file (its Secret's key) as text; throws ConfigError when the server would refuse it */
  baseText: string;
  /** where the base file comes from, for messages ("Secret ns/name key users.json") */
  baseRef: string;
  ftpUsers: FtpUser[];
  /** password Secrets by name (the FtpUsers' namespace), data base64 as the API returns it */
  secrets: Map<string, SecretData>;
}

export interface MergeResult {
  /** the users file the pods read */
  text: string;
  /** sha256 of `text`, 16 hex characters */
  hash: string;
  /** verdict per FtpUser name (metadata.name) */
  verdicts: Map<string, Verdict>;
}

type Entry = UsersFile["users"][number];

/** What a hash check of the Secret's value says: the hash (trimmed) or why it is not one. */
export function checkHash(value: string): { hash: string } | { problem: string } {
  const v = value.trim();
  if (checkUsersFile({ users: [{ name: "x", password: v }] }).ok) return { hash: v };
  if (/^[^$:\s]+:\$/.test(v)) return { problem: "holds an htpasswd line (user:hash): store only the part after the colon (htpasswd -nbB user pass | cut -d: -f2-)" };
  if (/^\$2[aby]\$\d\d\$/.test(v)) return { problem: "holds a bcrypt hash the server refuses (cost must be 4-17, 53 characters after the cost)" };
  return { problem: "is not an scrypt or bcrypt hash (plain passwords are refused: hash it with htpasswd -nbB or make hash-password)" };
}

function byAge(a: FtpUser, b: FtpUser): number {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace ?? ""}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace ?? ""}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** One users-file entry, keys in a fixed order (only fields the spec sets: the server's defaults apply to the rest). */
function entryFrom(name: string, hash: string, spec: NonNullable<ReturnType<typeof validateFtpUserSpec> & { ok: true }>["spec"]): Entry {
  const e: Record<string, unknown> = { name, password: hash };
  if (spec.groups) e.groups = [...spec.groups];
  if (spec.type !== undefined) e.type = spec.type;
  if (spec.home !== undefined) e.home = spec.home;
  if (spec.permissions) {
    const p: Record<string, boolean> = {};
    for (const k of ["write", "delete", "rename"] as const) if (spec.permissions[k] !== undefined) p[k] = spec.permissions[k];
    e.permissions = p;
  }
  if (spec.quota) {
    const q: Record<string, number> = {};
    for (const k of ["bytes", "files"] as const) if (spec.quota[k] !== undefined) q[k] = spec.quota[k];
    e.quota = q;
  }
  return e as unknown as Entry;
}

export function mergeUsers(input: MergeInput): MergeResult {
  const verdicts = new Map<string, Verdict>();
  const base = parseUsers(input.baseText, input.baseRef);
  // The file's entries as written (not with the parser's defaults filled in): passed through.
  const baseRaw = (JSON.parse(input.baseText) as { users: unknown[] }).users;
  const baseNames = new Set(base.users.map((u) => u.name));
  const claimed = new Map<string, FtpUser>();
  const entries: Entry[] = [];
  for (const u of [...input.ftpUsers].sort(byAge)) {
    const userName = effectiveUserName(u);
    const no = (reason: UserReason, message: string) => verdicts.set(u.metadata.name, { ready: false, reason, message, userName });
    const parsed = validateFtpUserSpec(u.spec);
    if (!parsed.ok) {
      no("InvalidSpec", parsed.problems.join("; "));
      continue;
    }
    const spec = parsed.spec;
    if (spec.enabled === false) {
      verdicts.set(u.metadata.name, { ready: true, reason: "Disabled", message: `spec.enabled is false: ${JSON.stringify(userName)} is not in the users file (cannot log in)`, userName });
      continue;
    }
    if (baseNames.has(userName)) {
      no("DuplicateUserName", `user ${JSON.stringify(userName)} is already defined in ${input.baseRef} (spec.users of the FtpServer); that entry stays in effect: rename this FtpUser's userName or remove the entry from the file`);
      continue;
    }
    const holder = claimed.get(userName);
    if (holder) {
      no("DuplicateUserName", `user ${JSON.stringify(userName)} is already FtpUser ${holder.metadata.name} (older); that one stays in effect`);
      continue;
    }
    claimed.set(userName, u);
    const ref = spec.passwordSecretRef;
    const key = ref.key ?? DEFAULT_PASSWORD_KEY;
    const ns = u.metadata.namespace ?? "default";
    const secretRef = `Secret ${ns}/${ref.name}`;
    if (!input.secrets.has(ref.name) || input.secrets.get(ref.name) === undefined) {
      no("SecretNotFound", `${secretRef} (spec.passwordSecretRef.name) does not exist: create it with the key ${key} holding a bcrypt or scrypt hash`);
      continue;
    }
    const data = input.secrets.get(ref.name)!;
    const b64 = data[key];
    if (b64 === undefined) {
      no("SecretKeyMissing", `${secretRef} has no key ${key} (spec.passwordSecretRef.key); keys: ${Object.keys(data).sort().join(", ") || "none"}`);
      continue;
    }
    const checked = checkHash(Buffer.from(b64, "base64").toString("utf8"));
    if ("problem" in checked) {
      no("InvalidHash", `${secretRef} key ${key} ${checked.problem}`);
      continue;
    }
    const entry = entryFrom(userName, checked.hash, spec);
    // The server's own checks on the one entry (home rules, schema), so one bad FtpUser never
    // makes the whole file invalid for the pods.
    const home = spec.home ?? userName;
    const why = homeProblem(home);
    if (why) {
      no("InvalidSpec", `home ${JSON.stringify(home)}${spec.home === undefined ? " (from the user name)" : ""} ${why}; set spec.home to a directory below the storage root`);
      continue;
    }
    const single = checkUsersFile({ users: [entry] });
    if (!single.ok) {
      no("InvalidSpec", single.problems.map((p) => p.replace(/^users\[0\]\.?/, "")).join("; "));
      continue;
    }
    entries.push(entry);
    verdicts.set(u.metadata.name, { ready: true, reason: "Active", message: `user ${JSON.stringify(userName)} is in the users file of FtpServer ${serverOf(u)}`, userName });
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const text = JSON.stringify({ users: [...baseRaw, ...entries] });
  // Belt and braces: the whole file as the server will load it.
  parseUsers(text, "merged users file");
  return { text, hash: usersHash(text), verdicts };
}

function serverOf(u: FtpUser): string {
  return (u.spec as { serverRef?: { name?: string } }).serverRef?.name ?? "?";
}

export function usersHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Every FtpUser of a server that cannot be merged at all (server missing, its users file broken). */
export function allNotReady(ftpUsers: FtpUser[], reason: UserReason, message: string): Map<string, Verdict> {
  return new Map(ftpUsers.map((u) => [u.metadata.name, { ready: false, reason, message, userName: effectiveUserName(u) }]));
}

/** Pod transform for the FtpServer controller's cache: slimPod plus our users annotations (the touch is skipped when they are current). */
export function withUsersHash(slim: (o: KubeObject) => KubeObject): (o: KubeObject) => KubeObject {
  return (o) => {
    const annotations: Record<string, string> = {};
    for (const k of [USERS_HASH_ANNOTATION, USERS_VERSION_ANNOTATION]) {
      const v = o.metadata?.annotations?.[k];
      if (v) annotations[k] = v;
    }
    const out = slim(o);
    if (Object.keys(annotations).length && out.metadata) out.metadata.annotations = annotations;
    return out;
  };
}
