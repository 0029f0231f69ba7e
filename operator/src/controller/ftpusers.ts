// The FtpUser controller: per FtpServer (work-queue key "ns/name"), merge its Secret-based users
// file with its FtpUsers (users.ts) into an operator-owned Secret `<server>-users-effective` that
// the pods mount, write each FtpUser's status, and make the change reach the pods within seconds.
//
// Why a pod annotation: the kubelet refreshes a Secret volume only when it syncs the pod (every
// syncFrequency, 1 min by default, plus jitter). Any change of a pod's annotations is an update
// of the pod for the kubelet (pkg/kubelet/config/config.go: podsDifferSemantically compares the
// annotations; checkAndUpdatePod → needUpdate), the update syncs the pod, and the sync's
// WaitForAttachAndMount calls ReprocessPod, after which the volume populator marks the pod's
// volumes for remount (populator processPodVolumes → MarkRemountRequired): the Secret volume is
// written again from the kubelet's watch-based Secret cache, and the server's file watch reloads
// the users (no restart, open sessions untouched). The annotation is set TOUCH_DELAY_MS after the
// Secret write so the kubelet's own watch of the Secret has delivered the new content first.
//
// Secrets are watched through one informer that keeps only name, labels and our hash annotation
// (no data: the cache stays small however many Secrets the cluster has); a reconcile GETs the
// few Secrets it needs. Events map to the servers that use the Secret (users file, FtpUsers'
// password Secrets, our merged Secret).
import type { Logger } from "pino";
import { API_VERSION } from "../api/v1alpha1.ts";
import { FTPUSER_KIND, FTPUSER_PLURAL, effectiveUserName, serverRefName, type FtpUser } from "../api/ftpuser.ts";
import type { FtpServer } from "../api/v1alpha1.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Controller, ReconcileContext, Request, Result } from "../runtime/controller.ts";
import { enqueueByLabel } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import { slimObject } from "../runtime/slim.ts";
import { Resources, labelsMatch, type KubeObject, type ObjectMeta, type ResourceType } from "../runtime/types.ts";
import { SERVER_LABEL, childMeta, childNames, selectorLabels } from "./model.ts";
import { RecentWrites } from "./reconciler.ts";
import { mergeConditions } from "./status.ts";
import { MERGED_USERS_KEY, USERS_HASH_ANNOTATION, USERS_VERSION_ANNOTATION, allNotReady, mergeUsers, type SecretData, type Verdict } from "./users.ts";

export const FtpUsers: ResourceType = { apiVersion: API_VERSION, kind: FTPUSER_KIND, plural: FTPUSER_PLURAL, namespaced: true };

/** The operator-owned Secret the pods mount (statefulset.ts). */
export function effectiveUsersSecretName(server: string): string {
  return childNames(server).effectiveUsers;
}

/** The merged users Secret of a server (its pods mount it): the merged file and its hash. */
export function desiredUsersSecret(fs: FtpServer, merged: { text: string; hash: string }): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { ...childMeta(fs, effectiveUsersSecretName(fs.metadata.name)), annotations: { [USERS_HASH_ANNOTATION]: merged.hash } },
    type: "Opaque",
    data: { [MERGED_USERS_KEY]: Buffer.from(merged.text).toString("base64") },
  };
}

/** Wait this long after writing the merged Secret before touching the pods (the kubelet's Secret watch must have the new content). */
export const TOUCH_DELAY_MS = 1_000;

const INDEX_SERVER = "ftpuser.server";
const INDEX_PASSWORD_SECRET = "ftpuser.passwordSecret";
const INDEX_USERS_SECRET = "ftpserver.usersSecret";

/** A Secret as the cache keeps it: identity, our label, our hash annotation, owners. Never data. */
export function slimSecret<T extends KubeObject>(obj: T): T {
  const md = obj.metadata ?? {};
  const metadata: ObjectMeta = {};
  for (const k of ["name", "namespace", "uid", "resourceVersion"] as const) if (md[k] !== undefined) (metadata as Record<string, unknown>)[k] = md[k];
  const server = md.labels?.[SERVER_LABEL];
  if (server) metadata.labels = { [SERVER_LABEL]: server };
  const hash = md.annotations?.[USERS_HASH_ANNOTATION];
  if (hash) metadata.annotations = { [USERS_HASH_ANNOTATION]: hash };
  if (md.ownerReferences?.length) metadata.ownerReferences = md.ownerReferences.map((r) => ({ ...r }));
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata } as T;
}

export interface FtpUserControllerDeps {
  servers: Informer<KubeObject>;
  pods: Informer<KubeObject>;
  namespace?: string;
  workers?: number;
}

export interface FtpUserController {
  controller: Controller;
  informers: { ftpUsers: Informer<KubeObject>; secrets: Informer<KubeObject> };
}

interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

export function setupFtpUserController(mgr: Manager, deps: FtpUserControllerDeps): FtpUserController {
  const ns = deps.namespace ? { namespace: deps.namespace } : {};
  const { servers, pods } = deps;
  const ftpUsers = mgr.informer(FtpUsers, { ...ns, transform: (o) => slimObject(o, mgr.applier.fieldManager) });
  const secrets = mgr.informer(Resources.Secret, { ...ns, transform: slimSecret });
  const serverKeyOf = (u: KubeObject) => {
    const s = serverRefName(u.spec);
    return s ? [`${u.metadata?.namespace ?? ""}/${s}`] : [];
  };
  ftpUsers.addIndex(INDEX_SERVER, serverKeyOf);
  ftpUsers.addIndex(INDEX_PASSWORD_SECRET, (u) => {
    const n = (u.spec as { passwordSecretRef?: { name?: unknown } } | undefined)?.passwordSecretRef?.name;
    return typeof n === "string" ? [`${u.metadata?.namespace ?? ""}/${n}`] : [];
  });
  servers.addIndex(INDEX_USERS_SECRET, (s) => {
    const n = (s.spec as { users?: { secretName?: unknown } } | undefined)?.users?.secretName;
    return typeof n === "string" ? [`${s.metadata?.namespace ?? ""}/${n}`] : [];
  });
  const recent = new RecentWrites(new Map([[FTPUSER_PLURAL, (o: KubeObject) => slimObject(o, mgr.applier.fieldManager)], [Resources.Secret.plural, slimSecret]]));
  /** When the merged Secret of a server was last written by this process (ms, for TOUCH_DELAY_MS) and the version it got. */
  const written = new Map<string, { at: number; version: string }>();

  async function writeStatus(u: FtpUser, v: Verdict, server: string, signal: AbortSignal): Promise<void> {
    const namespace = u.metadata.namespace ?? "default";
    const cond = { type: "Ready", status: v.ready ? ("True" as const) : ("False" as const), reason: v.reason, message: v.message };
    const prev = u.status?.conditions;
    const { conditions, newProblems } = mergeConditions([cond], prev, u.metadata.generation, now());
    const desired: KubeObject = {
      apiVersion: API_VERSION, kind: FTPUSER_KIND, metadata: { name: u.metadata.name, namespace },
      status: { ...(u.metadata.generation !== undefined ? { observedGeneration: u.metadata.generation } : {}), server, userName: v.userName, conditions },
    };
    const res = await mgr.applier.applyStatus(FtpUsers, desired, recent.observed(FtpUsers, namespace, u.metadata.name, u as unknown as KubeObject), { signal });
    if (res.changed) recent.record(FtpUsers, res.object);
    for (const c of newProblems) mgr.events.event(u as unknown as KubeObject, "Warning", c.reason, c.message);
  }

  async function writeAll(users: FtpUser[], verdicts: Map<string, Verdict>, server: string, signal: AbortSignal): Promise<void> {
    for (const u of users) {
      const v = verdicts.get(u.metadata.name);
      if (v) await writeStatus(u, v, server, signal);
    }
  }

  /**
   * Secret data as last read, by resourceVersion: a reconcile runs per FtpServer (and again on its
   * merged Secret's and pods' events), and FtpServers usually share a users Secret — re-read only
   * when the informer's copy (no data, but the resourceVersion) says it changed. A change also
   * enqueues every server using it (secretUsers), so nothing waits on a stale read.
   */
  const secretData = new Map<string, { rv: string; data: SecretData }>();
  async function readSecret(name: string, namespace: string): Promise<SecretData> {
    const key = `${namespace}/${name}`;
    const rv = secrets.get(name, namespace)?.metadata?.resourceVersion;
    const known = secretData.get(key);
    if (rv !== undefined && known?.rv === rv) return known.data;
    const s = await mgr.client.get<SecretLike>(Resources.Secret, name, namespace);
    const data = s ? (s.data ?? {}) : undefined;
    if (s?.metadata?.resourceVersion) {
      if (secretData.size >= 10_000) secretData.clear();
      secretData.set(key, { rv: s.metadata.resourceVersion, data });
    } else secretData.delete(key);
    return data;
  }

  /**
   * Touch the pods that may hold an older file: created before our last write of it (a pod created
   * later mounted the current one) and not yet touched for that write (its hash and the Secret's
   * version: a file that returned to an earlier hash is still a new write); TOUCH_DELAY_MS after it.
   * Without a write by this process (operator restart, unchanged file) nothing is touched.
   */
  async function touchPods(key: string, fs: FtpServer, hash: string, log: Logger | undefined): Promise<Result | void> {
    const namespace = fs.metadata.namespace ?? "default";
    const last = written.get(key);
    if (last === undefined) return;
    const { at, version } = last;
    // creationTimestamp has 1 s resolution: a pod of the same second as the write counts as older.
    const olderThanWrite = (p: KubeObject) => Date.parse(p.metadata?.creationTimestamp ?? "") <= at;
    const stale = pods
      .byIndex(SERVER_LABEL, key)
      .filter((p) => labelsMatch(p.metadata?.labels, selectorLabels(fs.metadata.name)) && !p.metadata?.deletionTimestamp)
      .filter((p) => (p.metadata?.annotations?.[USERS_HASH_ANNOTATION] !== hash || p.metadata?.annotations?.[USERS_VERSION_ANNOTATION] !== version) && olderThanWrite(p));
    if (!stale.length) return;
    const wait = at + TOUCH_DELAY_MS - Date.now();
    if (wait > 0) return { requeueAfterMs: wait };
    for (const p of stale) {
      try {
        await mgr.client.mergePatch(Resources.Pod, p.metadata!.name!, namespace, { metadata: { annotations: { [USERS_HASH_ANNOTATION]: hash, [USERS_VERSION_ANNOTATION]: version } } });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) continue; // gone meanwhile; its successor mounts the new Secret
        throw err;
      }
    }
    log?.debug({ pods: stale.length, hash }, "pods touched for a users-file refresh");
  }

  const reconcile = async (req: Request, ctx: ReconcileContext): Promise<Result | void> => {
    const users = ftpUsers.byIndex(INDEX_SERVER, req.key).filter((u) => !u.metadata?.deletionTimestamp) as unknown as FtpUser[];
    const namespace = req.namespace ?? "default";
    const fs = servers.get(req.name, req.namespace) as FtpServer | undefined;
    if (!fs || fs.metadata.deletionTimestamp) {
      // The merged Secret goes with the FtpServer (owner reference).
      await writeAll(users, allNotReady(users, "ServerNotFound", `FtpServer ${namespace}/${req.name} (spec.serverRef.name) does not exist`), req.name, ctx.signal);
      written.delete(req.key);
      return;
    }
    const ref = (fs.spec as { users?: { secretName?: string; key?: string } }).users ?? {};
    const baseRef = `Secret ${namespace}/${ref.secretName ?? "?"} key ${ref.key ?? "users.json"}`;
    const serverBlocked = async (message: string) => {
      await writeAll(users, allNotReady(users, "ServerUsersFileInvalid", `${message}; the FtpServer's users stay as they were until it is fixed`), req.name, ctx.signal);
    };
    if (!ref.secretName) return serverBlocked(`FtpServer ${req.key} has no spec.users.secretName`);
    const base = await readSecret(ref.secretName, namespace);
    const b64 = base?.[ref.key ?? "users.json"];
    if (b64 === undefined) return serverBlocked(`${baseRef} does not exist`);
    const passwordSecrets = new Map<string, SecretData>();
    for (const u of users) {
      const spec = u.spec as { enabled?: boolean; passwordSecretRef?: { name?: unknown } } | undefined;
      const name = spec?.passwordSecretRef?.name;
      if (spec?.enabled === false || typeof name !== "string" || passwordSecrets.has(name)) continue;
      passwordSecrets.set(name, await readSecret(name, namespace));
    }
    let merged;
    try {
      merged = mergeUsers({ baseText: Buffer.from(b64, "base64").toString("utf8"), baseRef, ftpUsers: users, secrets: passwordSecrets });
    } catch (err) {
      return serverBlocked((err as Error).message);
    }

    const secretName = effectiveUsersSecretName(fs.metadata.name);
    const cached = recent.observed(Resources.Secret, namespace, secretName, secrets.get(secretName, namespace));
    if (cached && !(cached.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === fs.metadata.uid)) {
      const msg = `Secret ${namespace}/${secretName} exists and is not owned by FtpServer ${req.key}: the operator does not adopt it; delete or rename it`;
      await writeAll(users, allNotReady(users, "ServerUsersFileInvalid", msg), req.name, ctx.signal);
      return;
    }
    if (cached?.metadata?.annotations?.[USERS_HASH_ANNOTATION] !== merged.hash) {
      // The cache holds no data: the hash annotation is the no-op check, so apply unconditionally here.
      const res = await mgr.applier.apply(Resources.Secret, desiredUsersSecret(fs, merged), undefined, { signal: ctx.signal });
      recent.record(Resources.Secret, res.object);
      written.set(req.key, { at: Date.now(), version: res.object?.metadata?.resourceVersion ?? "" });
      ctx.log?.info({ hash: merged.hash, ftpUsers: users.length }, "users file updated");
    }
    await writeAll(users, merged.verdicts, req.name, ctx.signal);
    return touchPods(req.key, fs, merged.hash, ctx.log);
  };

  const controller = mgr.controller({ name: "ftpuser", workers: deps.workers ?? 4, reconcile });
  controller.watch(servers, (o) => `${o.metadata?.namespace}/${o.metadata?.name}`, {
    updatePredicate: (o, n) => o.metadata?.generation !== n.metadata?.generation || o.metadata?.deletionTimestamp !== n.metadata?.deletionTimestamp,
  });
  controller.watch(ftpUsers, serverKeyOf, {
    // our status writes do not change the generation
    updatePredicate: (o, n) => o.metadata?.generation !== n.metadata?.generation || o.metadata?.deletionTimestamp !== n.metadata?.deletionTimestamp,
  });
  // An FtpUser moved to another server: the old one must drop it.
  ftpUsers.addHandler({
    onUpdate: (o, n) => {
      const [was] = serverKeyOf(o);
      if (was && was !== serverKeyOf(n)[0]) controller.enqueue(was);
    },
  });
  const secretUsers = (s: KubeObject): string[] => {
    const k = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
    const keys = new Set<string>();
    for (const fsObj of servers.byIndex(INDEX_USERS_SECRET, k)) keys.add(`${fsObj.metadata?.namespace}/${fsObj.metadata?.name}`);
    for (const u of ftpUsers.byIndex(INDEX_PASSWORD_SECRET, k)) for (const sk of serverKeyOf(u)) keys.add(sk);
    const own = enqueueByLabel(SERVER_LABEL)(s);
    if (typeof own === "string" && s.metadata?.name === effectiveUsersSecretName(s.metadata?.labels?.[SERVER_LABEL] ?? "")) keys.add(own);
    return [...keys];
  };
  controller.watch(secrets, secretUsers, { updatePredicate: (o, n) => o.metadata?.resourceVersion !== n.metadata?.resourceVersion });
  // A pod the cache learns of only after our write (created just before it) may need the touch;
  // pod updates do not matter (the touch's own update included).
  controller.watch(pods, enqueueByLabel(SERVER_LABEL), { updatePredicate: (o, n) => o === n });
  return { controller, informers: { ftpUsers, secrets } };
}

export { effectiveUserName };
