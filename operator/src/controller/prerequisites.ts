// What must hold before the operator applies anything of a spec, each check returning the reason
// the FtpServer's status will carry: the users file and the TLS Secret (validated with the server's
// own parsers, `#server-config`), and children names that belong to someone else.
//
// Secrets are read with GET by name (RBAC: `get` on secrets, no list/watch): the operator must see
// their content to validate it, and a GET of the two Secrets an FtpServer names keeps no copy of
// every Secret in memory. Because Secrets are not watched, a reconcile blocked on a Secret is
// re-run every SECRET_RETRY_MS, so creating or fixing the Secret is picked up without a manual step.
import { parseUsers, tlsContext, TLS_CERT_KEY, TLS_KEY_KEY } from "#server-config";
import type { FtpServer } from "../api/v1alpha1.ts";
import type { ApiClient } from "../runtime/client.ts";
import type { KubeObject } from "../runtime/types.ts";
import { Resources } from "../runtime/types.ts";
import type { Blocker } from "./status.ts";

export const SECRET_RETRY_MS = 5_000;

/** A step could not complete: the reconcile stops there and the status says why. */
export class Blocked extends Error {
  readonly blocker: Blocker;
  /** when to look again (permanent blockers: events on our objects also trigger a reconcile) */
  readonly retryAfterMs: number | undefined;
  constructor(reason: string, message: string, opts: { permanent?: boolean; retryAfterMs?: number } = {}) {
    super(message);
    this.blocker = { reason, message, permanent: opts.permanent ?? true };
    this.retryAfterMs = opts.retryAfterMs;
  }
}

interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}

const decode = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8"));

/** Throws Blocked (UsersSecretNotFound, UsersFileInvalid, TLSSecretNotFound, TLSSecretInvalid) or returns. */
export async function checkSecrets(client: Pick<ApiClient, "get">, fs: FtpServer): Promise<void> {
  const ns = fs.metadata.namespace ?? "default";
  const s = fs.spec;
  const users = await client.get<SecretLike>(Resources.Secret, s.users.secretName, ns);
  const usersRef = `Secret ${ns}/${s.users.secretName}`;
  if (!users) {
    throw new Blocked("UsersSecretNotFound", `${usersRef} (spec.users.secretName) does not exist: create it with the key ${s.users.key}`, { retryAfterMs: SECRET_RETRY_MS });
  }
  const text = decode(users.data?.[s.users.key]);
  if (text === undefined) {
    throw new Blocked("UsersFileInvalid", `${usersRef} has no key ${s.users.key} (spec.users.key); keys: ${Object.keys(users.data ?? {}).join(", ") || "none"}`, { retryAfterMs: SECRET_RETRY_MS });
  }
  try {
    parseUsers(text, `${usersRef} key ${s.users.key}`);
  } catch (err) {
    throw new Blocked("UsersFileInvalid", (err as Error).message, { retryAfterMs: SECRET_RETRY_MS });
  }
  if (!s.tls || s.tls.mode === "None" || !s.tls.secretName) return;
  const tlsRef = `Secret ${ns}/${s.tls.secretName}`;
  const tls = await client.get<SecretLike>(Resources.Secret, s.tls.secretName, ns);
  if (!tls) throw new Blocked("TLSSecretNotFound", `${tlsRef} (spec.tls.secretName) does not exist`, { retryAfterMs: SECRET_RETRY_MS });
  const cert = decode(tls.data?.[TLS_CERT_KEY]);
  const key = decode(tls.data?.[TLS_KEY_KEY]);
  if (cert === undefined || key === undefined) {
    throw new Blocked("TLSSecretInvalid", `${tlsRef} needs the keys ${TLS_CERT_KEY} and ${TLS_KEY_KEY} (a kubernetes.io/tls Secret)`, { retryAfterMs: SECRET_RETRY_MS });
  }
  try {
    tlsContext(cert, key);
  } catch (err) {
    throw new Blocked("TLSSecretInvalid", `${tlsRef}: the FTP server cannot use this certificate and key: ${(err as Error).message}`, { retryAfterMs: SECRET_RETRY_MS });
  }
}

/** Who controls `obj`, for a message ("FtpServer x (uid …)" or "nobody"). */
function controllerOf(obj: KubeObject): string {
  const ref = (obj.metadata?.ownerReferences ?? []).find((r) => r.controller);
  return ref ? `${ref.kind} ${ref.name} (uid ${ref.uid})` : "no controller";
}

/**
 * Refuse to take over an object we did not create: a server-side apply with force would adopt an
 * unlabelled Service or ConfigMap of the same name (and the garbage collector would later delete
 * it with the FtpServer). `existing` is the object as found (cache, or a GET when the cache has none).
 */
export function checkOwnership(fs: FtpServer, kind: string, name: string, existing: KubeObject | undefined): void {
  if (!existing) return;
  const ours = (existing.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === fs.metadata.uid);
  if (ours) return;
  const ns = fs.metadata.namespace ?? "default";
  throw new Blocked(
    "NameConflict",
    `${kind} ${ns}/${name} already exists and is not owned by this FtpServer (controller: ${controllerOf(existing)}): the operator does not adopt it; rename the FtpServer or delete the ${kind}`,
    // an unlabelled object is not in our caches (no event when it goes): look again soon
    { retryAfterMs: SECRET_RETRY_MS * 2 },
  );
}
