// The FtpServer controller. A reconcile is a short sequence of named steps (see `reconcile`):
// validate the spec, check the Secrets, refuse foreign objects, apply the Service (a prerequisite:
// when it fails nothing else of the new spec is applied), then routing, config and workload, remove
// stale EndpointSlices, look at the pods, and write the status. Every step that cannot complete
// throws `Blocked` (or an API error); the status is written on every path with the cause as the
// Ready reason, so `kubectl get ftpsrv` names the problem. Applies are skipped when nothing
// differs, so a no-op resync performs zero writes; Events only on condition transitions.
import type { Logger } from "pino";
import { API_VERSION, KIND, PLURAL, validateSpec, type FtpServer } from "../api/v1alpha1.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Controller, ReconcileContext, Request, Result } from "../runtime/controller.ts";
import { enqueueByLabel } from "../runtime/controller.ts";
import { ApiError } from "../runtime/client.ts";
import { hashText } from "../runtime/compact.ts";
import type { Informer } from "../runtime/informer.ts";
import { slimObject, slimPod } from "../runtime/slim.ts";
import { Resources, labelsMatch, type KubeObject, type ResourceType } from "../runtime/types.ts";
import { desiredChildren, withAddress, type Desired } from "./desired.ts";
import { podView, podsWithIp, type PodView } from "./endpointslices.ts";
import { ENDPOINTSLICE_MANAGED_BY, ROLE_LABEL, SERVER_LABEL, childNames, effective, selectorLabels, servicePortCount, type Effective } from "./model.ts";
import { Blocked, checkOwnership, checkSecrets } from "./prerequisites.ts";
import { externalAddress, type AddressResult } from "./service.ts";
import { computeStatus, mergeConditions, type Blocker, type StatusInput } from "./status.ts";
import { containerProblem, failedCreate, failedMount, isContainerCreating, unschedulable, type EventLike } from "./workload.ts";
import { withUsersHash } from "./users.ts";

export const FtpServers: ResourceType = { apiVersion: API_VERSION, kind: KIND, plural: PLURAL, namespaced: true };

/** How often a reconcile waiting on something we do not watch (Events, Secrets) looks again. */
const UNWATCHED_RETRY_MS = 10_000;
/** A permanent error will not fix itself on the next event; look again later rather than hot-loop. */
const PERMANENT_RETRY_MS = 60_000;
/** While the StatefulSet has fewer pods than wanted, look again this soon (its FailedCreate events are not watched). */
const PODS_MISSING_RETRY_MS = 5_000;
/** Secrets found valid are not read again for this long (a reconcile runs on every pod event). */
const SECRETS_OK_TTL_MS = 30_000;

/** Injected test seams (production passes none). */
export interface ReconcilerSeams {
  /** called between applying the children and the status (kill-mid-reconcile tests) */
  afterChildren?: (key: string) => Promise<void>;
  /** called before each write of a reconcile (deposed-leader tests hold a write here) */
  beforeWrite?: (key: string, what: string) => Promise<void>;
}

export interface ReconcilerOptions {
  /** watch one namespace; undefined = all */
  namespace?: string;
  workers?: number;
  /** see StatusInput.workloadReadiness */
  workloadReadiness?: "pods" | "applied";
  maxPortsPerSlice?: number;
  /** image of FtpServers without spec.image (main.ts: --ftp-server-image); default version.ts DEFAULT_FTP_SERVER_IMAGE */
  defaultServerImage?: string;
  nodePortPool?: number;
  /** periodic resync of every FtpServer (ms); 0 = off */
  resyncMs?: number;
  seams?: ReconcilerSeams;
}

interface StsStatus {
  observedGeneration?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  replicas?: number;
}

/** A child as one reconcile's apply decided on it (`resourceVersion` undefined: it did not exist). */
interface ChildVersion {
  type: ResourceType;
  name: string;
  uid: string | undefined;
  resourceVersion: string | undefined;
}

function versionOf(type: ResourceType, name: string, obj: KubeObject | undefined): ChildVersion {
  return { type, name, uid: obj?.metadata?.uid, resourceVersion: obj?.metadata?.resourceVersion };
}

/** What the status step needs of the children phase. */
interface ChildrenFacts {
  address: AddressResult;
  /** the EndpointSlices wanted (others of ours are stale) */
  sliceNames: ReadonlySet<string>;
  routingConsistent: boolean;
}

/**
 * Everything the desired children are built from, hashed: the FtpServer (validated spec, metadata
 * without resourceVersion and managedFields, which our own status writes change) and the pods the
 * slices read (`podsWithIp`). The builders' options are fixed for the process; the address comes
 * from the Service, whose version is compared separately.
 */
function childInputs(fs: FtpServer, pods: PodView[]): string {
  const { resourceVersion: _rv, managedFields: _mf, ...md } = fs.metadata as FtpServer["metadata"] & { managedFields?: unknown };
  return hashText(JSON.stringify([md, fs.spec, podsWithIp(pods)]));
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** 4xx other than conflict / throttling: retrying the same request will not help. */
function isPermanent(err: unknown): err is ApiError {
  return err instanceof ApiError && err.statusCode >= 400 && err.statusCode < 500 && ![408, 409, 429].includes(err.statusCode);
}

/** An API error while writing `what` as the status reports it. */
function apiBlocker(err: unknown, what: string): Blocked {
  const msg = err instanceof Error ? err.message : String(err);
  if (what.startsWith("Service")) {
    // The cause is another object we do not watch (a Service holding the port): look again soon.
    const again = { permanent: true, retryAfterMs: UNWATCHED_RETRY_MS };
    if (/range is full|no available|exhausted/i.test(msg)) return new Blocked("NodePortsExhausted", `${what}: the cluster's NodePort range has no free ports: ${msg}`, again);
    if (/already allocated/i.test(msg)) return new Blocked("NodePortConflict", `${what}: a nodePort is taken by another Service: ${msg}`, again);
    return new Blocked("ServiceApplyFailed", `${what}: ${msg}`, isPermanent(err) ? again : { permanent: false });
  }
  return isPermanent(err)
    ? new Blocked("ApplyFailed", `${what}: ${msg}`, { permanent: true })
    : new Blocked("TemporaryApiError", `${what}: ${msg} (retrying)`, { permanent: false });
}

/**
 * What we applied in the last few seconds, per object. An informer lags our own writes by a few
 * milliseconds; a reconcile triggered in that window (by another child's event) would see the old
 * copy and apply again. Using the fresher of (cache, our last answer) avoids those duplicate
 * writes. An informer delete event forgets the entry (`forget`), so a child deleted right after
 * our write is re-created by the reconcile that delete triggers; expired entries are swept.
 */
export class RecentWrites {
  private readonly map = new Map<string, { obj: KubeObject; at: number }>();
  private readonly ttlMs: number;
  private readonly slimmers: Map<string, (o: KubeObject) => KubeObject>;
  private lastSweep = Date.now();
  constructor(slimmers: Map<string, (o: KubeObject) => KubeObject>, ttlMs = 10_000) {
    this.slimmers = slimmers;
    this.ttlMs = ttlMs;
  }
  private static rv(o: KubeObject | undefined): number {
    const n = Number(o?.metadata?.resourceVersion);
    return Number.isFinite(n) ? n : -1;
  }
  private static key(type: ResourceType, namespace: string, name: string): string {
    return `${type.plural}/${namespace}/${name}`;
  }
  observed(type: ResourceType, namespace: string, name: string, cached: KubeObject | undefined): KubeObject | undefined {
    const k = RecentWrites.key(type, namespace, name);
    const r = this.map.get(k);
    if (!r) return cached;
    if (Date.now() - r.at > this.ttlMs || (cached && RecentWrites.rv(cached) >= RecentWrites.rv(r.obj))) {
      this.map.delete(k);
      return cached;
    }
    return r.obj;
  }
  record(type: ResourceType, obj: KubeObject | undefined): void {
    const md = obj?.metadata;
    if (!obj || !md?.name) return;
    this.sweep();
    // kept in the same shape as the informer caches hold it
    const slim = this.slimmers.get(type.plural) ?? slimObject;
    this.map.set(RecentWrites.key(type, md.namespace ?? "", md.name), { obj: slim(obj), at: Date.now() });
  }
  /**
   * The informer event carries exactly the state our last write of the object returned (the
   * watch echo of our own write): the reconcile that wrote it already knew it, so the event is
   * not a reason to reconcile again.
   */
  isEcho(type: ResourceType, obj: KubeObject): boolean {
    const md = obj.metadata;
    const r = md?.name ? this.map.get(RecentWrites.key(type, md.namespace ?? "", md.name)) : undefined;
    return r !== undefined && md?.resourceVersion !== undefined && r.obj.metadata?.resourceVersion === md.resourceVersion && Date.now() - r.at <= this.ttlMs;
  }
  forget(type: ResourceType, namespace: string, name: string): void {
    this.map.delete(RecentWrites.key(type, namespace, name));
  }
  /** Drop expired entries (at most once per ttl; entries of objects never re-read would stay forever). */
  sweep(nowMs = Date.now()): void {
    if (nowMs - this.lastSweep < this.ttlMs) return;
    this.lastSweep = nowMs;
    for (const [k, r] of this.map) if (nowMs - r.at > this.ttlMs) this.map.delete(k);
  }
  get size(): number {
    return this.map.size;
  }
}

export interface FtpServerController {
  controller: Controller;
  recent: RecentWrites;
  /** childrenShortcuts: reconciles that found every child as last applied for the same inputs (nothing built) */
  stats: { childrenShortcuts: number };
  informers: {
    servers: Informer<KubeObject>;
    services: Informer<KubeObject>;
    configMaps: Informer<KubeObject>;
    statefulSets: Informer<KubeObject>;
    endpointSlices: Informer<KubeObject>;
    pods: Informer<KubeObject>;
  };
}

export function setupFtpServerController(mgr: Manager, opts: ReconcilerOptions = {}): FtpServerController {
  const ns = opts.namespace ? { namespace: opts.namespace } : {};
  // Children carry the server label; selecting on its existence keeps the caches to our objects.
  const ours = { ...ns, labelSelector: SERVER_LABEL };
  const servers = mgr.informer(FtpServers, { ...ns, ...(opts.resyncMs ? { resyncMs: opts.resyncMs } : {}) });
  // Children: compact entries (runtime/compact.ts) — metadata, status, the Service's cluster IP and
  // selector, and a fingerprint of what our field manager owns; the no-op skip rule decides from the
  // fingerprint and the applier's memo (port lists are not kept: they were most of the memory).
  const compact = (type: ResourceType, keep: string[][] = []) => mgr.applier.compactTransform(type, { keep });
  const slimmers = new Map<string, (o: KubeObject) => KubeObject>([
    [Resources.Service.plural, compact(Resources.Service, [["spec", "clusterIP"], ["spec", "clusterIPs"], ["spec", "selector"]])],
    [Resources.ConfigMap.plural, compact(Resources.ConfigMap)],
    [Resources.StatefulSet.plural, compact(Resources.StatefulSet)],
    [Resources.EndpointSlice.plural, compact(Resources.EndpointSlice)],
    [Resources.NetworkPolicy.plural, compact(Resources.NetworkPolicy)],
    [FtpServers.plural, slimObject],
  ]);
  const services = mgr.informer(Resources.Service, { ...ours, transform: slimmers.get(Resources.Service.plural)! });
  const configMaps = mgr.informer(Resources.ConfigMap, { ...ours, transform: slimmers.get(Resources.ConfigMap.plural)! });
  const statefulSets = mgr.informer(Resources.StatefulSet, { ...ours, transform: slimmers.get(Resources.StatefulSet.plural)! });
  const endpointSlices = mgr.informer(Resources.EndpointSlice, { ...ours, transform: slimmers.get(Resources.EndpointSlice.plural)! });
  const networkPolicies = mgr.informer(Resources.NetworkPolicy, { ...ours, transform: slimmers.get(Resources.NetworkPolicy.plural)! });
  // Pods: identity, labels, owners, node, IP, readiness and why containers wait (podView, workload.ts).
  // Plus the users-file hash annotation the FtpUser controller sets (ftpusers.ts: the kubelet refresh).
  const pods = mgr.informer(Resources.Pod, { ...ours, transform: withUsersHash(slimPod) });
  const informers = { servers, services, configMaps, statefulSets, endpointSlices, pods };
  // Children by owning server ("ns/name" from the server label): a reconcile reads its own pods and
  // slices without scanning the namespace (O(N) per reconcile → O(N²) for a full resync).
  const byServer = (o: KubeObject) => {
    const v = o.metadata?.labels?.[SERVER_LABEL];
    return v ? [`${o.metadata?.namespace ?? ""}/${v}`] : [];
  };
  pods.addIndex(SERVER_LABEL, byServer);
  endpointSlices.addIndex(SERVER_LABEL, byServer);
  const readiness = opts.workloadReadiness ?? "pods";
  const seams = opts.seams ?? {};
  const recent = new RecentWrites(slimmers);
  const childCaches = new Map<ResourceType, Informer<KubeObject>>([
    [Resources.Service, services], [Resources.ConfigMap, configMaps], [Resources.StatefulSet, statefulSets], [Resources.EndpointSlice, endpointSlices],
    [Resources.NetworkPolicy, networkPolicies],
  ]);
  for (const [type, inf] of childCaches) {
    inf.addHandler({
      onDelete: (o) => {
        recent.forget(type, o.metadata?.namespace ?? "", o.metadata?.name ?? "");
        mgr.applier.memo.forget(type, o.metadata?.namespace, o.metadata?.name);
      },
    });
  }

  /**
   * Per FtpServer: the inputs its children were last applied or found in sync for, the version of
   * each child that decision was made on, and what the status step needs. Dropped when a
   * reconcile is blocked or fails.
   */
  const lastInSync = new Map<string, { inputs: string; children: ChildVersion[]; facts: ChildrenFacts }>();
  const stats = { childrenShortcuts: 0 };
  servers.addHandler({ onDelete: (o) => lastInSync.delete(`${o.metadata?.namespace}/${o.metadata?.name}`) });
  /** Whether the child is (still) the version `c` records: the fresher of the cache and our last write of it. */
  function sameVersion(run: Run, c: ChildVersion): boolean {
    const o = recent.observed(c.type, run.namespace, c.name, childCaches.get(c.type)?.get(c.name, run.namespace));
    return o?.metadata?.resourceVersion === c.resourceVersion && o?.metadata?.uid === c.uid;
  }

  /** One reconcile's context: the FtpServer as read, its namespace and the abort signal. */
  interface Run {
    key: string;
    raw: FtpServer;
    namespace: string;
    signal: AbortSignal;
    log: Logger | undefined;
    /** every child this run applied or found in sync: the version the decision was made on */
    decided: ChildVersion[];
  }

  // ---- steps ------------------------------------------------------------------------------

  /** Secret references (namespace, users Secret and key, TLS Secret) → when they were last found valid. */
  const secretsOk = new Map<string, number>();
  async function secretsValid(fs: FtpServer): Promise<void> {
    const ref = JSON.stringify([fs.metadata.namespace, fs.spec.users, fs.spec.tls?.mode, fs.spec.tls?.secretName]);
    const at = secretsOk.get(ref);
    if (at !== undefined && Date.now() - at < SECRETS_OK_TTL_MS) return;
    secretsOk.delete(ref);
    await checkSecrets(mgr.client, fs);
    if (secretsOk.size >= 10_000) secretsOk.clear();
    secretsOk.set(ref, Date.now());
  }

  function validSpec(run: Run): { fs: FtpServer; e: Effective } | { problems: string[] } {
    const parsed = validateSpec(run.raw.spec);
    if (!parsed.ok) return { problems: parsed.problems };
    return { fs: { ...run.raw, spec: parsed.spec }, e: effective(parsed.spec) };
  }

  /** The cached child, or — when the label-selected cache has none — a GET by name (an object with our name but not our label). */
  async function findChild(run: Run, type: ResourceType, name: string): Promise<KubeObject | undefined> {
    const cached = recent.observed(type, run.namespace, name, childCaches.get(type)?.get(name, run.namespace));
    return cached ?? (await mgr.client.get(type, name, run.namespace));
  }

  /** Refuses objects with a child's name we do not own; tells whether the StatefulSet exists. */
  async function refuseForeignObjects(run: Run, fs: FtpServer, want: Desired): Promise<{ statefulSetExists: boolean }> {
    const children: [ResourceType, KubeObject][] = [
      [Resources.Service, want.service], [Resources.ConfigMap, want.configMap], [Resources.StatefulSet, want.statefulSet],
      ...want.endpointSlices.map((s) => [Resources.EndpointSlice, s] as [ResourceType, KubeObject]),
    ];
    // Looked up concurrently: on a cold start none is cached and each is a GET (one round, not seven).
    const found = await Promise.all(children.map(([type, obj]) => findChild(run, type, obj.metadata!.name!)));
    children.forEach(([type, obj], i) => checkOwnership(fs, type.kind, obj.metadata!.name!, found[i]));
    return { statefulSetExists: found[children.findIndex(([type]) => type === Resources.StatefulSet)] !== undefined };
  }

  async function apply<T extends KubeObject>(run: Run, type: ResourceType, desired: KubeObject): Promise<T | undefined> {
    const name = desired.metadata!.name!;
    const observed = recent.observed(type, run.namespace, name, childCaches.get(type)?.get(name, run.namespace));
    await seams.beforeWrite?.(run.key, `${type.kind} ${name}`);
    try {
      const res = await mgr.applier.apply<T>(type, desired, observed, { signal: run.signal });
      if (res.changed) recent.record(type, res.object);
      run.decided.push(versionOf(type, name, res.object));
      return res.object;
    } catch (err) {
      if (run.signal.aborted) throw err;
      throw apiBlocker(err, `${type.kind} ${run.namespace}/${name}`);
    }
  }

  /** The Service, first and alone: what it exposes is what the rest is built for. */
  async function applyService(run: Run, fs: FtpServer, e: Effective, desired: KubeObject): Promise<KubeObject | undefined> {
    const svc = await apply(run, Resources.Service, desired);
    const selector = (svc?.spec as { selector?: Record<string, string> } | undefined)?.selector;
    if (e.spec.routing.mode === "PortPartitioned" && selector && Object.keys(selector).length) {
      // Someone else set it: the EndpointSlice controller would add slices for every pod and port,
      // and kube-proxy would merge them with ours — partitioning silently gone. Report, do not fight.
      throw new Blocked(
        "UnexpectedSelector",
        `Service ${run.namespace}/${fs.metadata.name} has spec.selector ${JSON.stringify(selector)}, not set by pasv-operator: PortPartitioned routing needs a Service without selector (kube-proxy would merge the EndpointSlice controller's slices with the operator's); remove it, e.g. kubectl patch service ${fs.metadata.name} -n ${run.namespace} --type=json -p '[{"op":"remove","path":"/spec/selector"}]'`,
      );
    }
    return svc;
  }

  /**
   * Routing, config and firewall concurrently, and the workload that reads the config: after them
   * when the StatefulSet exists (a pod it rolls must start with the new config), with them when it
   * is created — its pods cannot start before the ConfigMap exists (the volume is not optional),
   * so nothing can run an older config, and a cold start saves a dependent round per FtpServer.
   * The control slices go after the passive ones: a pod's IP and its readiness often arrive in
   * one pod event, and kube-proxy programs whatever slices it has seen when it syncs, so the
   * control port must never send sessions to a pod whose passive block it does not route yet.
   */
  async function applyChildren(run: Run, want: Desired, creating: boolean): Promise<{ slices: (KubeObject | undefined)[]; sts: KubeObject | undefined }> {
    const workload = () => apply(run, Resources.StatefulSet, want.statefulSet);
    const isControl = (s: KubeObject) => s.metadata?.labels?.[ROLE_LABEL] === "control";
    const routing = async () => {
      const passive = await Promise.all(want.endpointSlices.filter((s) => !isControl(s)).map((s) => apply(run, Resources.EndpointSlice, s)));
      const control = await Promise.all(want.endpointSlices.filter(isControl).map((s) => apply(run, Resources.EndpointSlice, s)));
      return [...passive, ...control];
    };
    const [slices, , , created] = await Promise.all([
      routing(),
      apply(run, Resources.ConfigMap, want.configMap),
      applyNetworkPolicy(run, want),
      creating ? workload() : undefined,
    ]);
    const sts = creating ? created : await workload();
    return { slices, sts };
  }

  /** The firewall (networkpolicy.ts): applied, or deleted when switched off. */
  async function applyNetworkPolicy(run: Run, want: Desired): Promise<void> {
    if (want.networkPolicy) {
      await apply(run, Resources.NetworkPolicy, want.networkPolicy);
      return;
    }
    const name = run.raw.metadata.name;
    if (!networkPolicies.get(name, run.namespace)) {
      run.decided.push(versionOf(Resources.NetworkPolicy, name, undefined));
      return;
    }
    await seams.beforeWrite?.(run.key, `delete NetworkPolicy ${name}`);
    try {
      await mgr.client.delete(Resources.NetworkPolicy, name, run.namespace, { signal: run.signal });
      recent.forget(Resources.NetworkPolicy, run.namespace, name);
    } catch (err) {
      if (run.signal.aborted) throw err;
      throw apiBlocker(err, `NetworkPolicy ${run.namespace}/${name}`);
    }
  }

  /**
   * Slices of our Service we do not want: ours of removed slots/ranges, and in PortPartitioned mode
   * also foreign ones (the EndpointSlice controller's, left from ClientIPAffinity's selector): they
   * carry the Service's name, so kube-proxy would merge them with ours.
   */
  async function removeStaleSlices(run: Run, fs: FtpServer, e: Effective, keep: ReadonlySet<string>): Promise<void> {
    const svcName = childNames(fs.metadata.name).service;
    for (const s of endpointSlices.byIndex(SERVER_LABEL, `${run.namespace}/${fs.metadata.name}`)) {
      const name = s.metadata!.name!;
      if (keep.has(name) || s.metadata?.labels?.["kubernetes.io/service-name"] !== svcName) continue;
      const owned = (s.metadata?.ownerReferences ?? []).some((r) => r.uid === fs.metadata.uid);
      const foreign = s.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"] !== ENDPOINTSLICE_MANAGED_BY;
      if (!owned && !(foreign && e.spec.routing.mode === "PortPartitioned")) continue;
      await seams.beforeWrite?.(run.key, `delete EndpointSlice ${name}`);
      try {
        await mgr.client.delete(Resources.EndpointSlice, name, run.namespace, { uid: s.metadata.uid!, signal: run.signal });
      } catch (err) {
        if (run.signal.aborted) throw err;
        throw apiBlocker(err, `deleting EndpointSlice ${run.namespace}/${name}`);
      }
      recent.forget(Resources.EndpointSlice, run.namespace, name);
    }
  }

  /**
   * Event LISTs that found nothing, per query, for PODS_MISSING_RETRY_MS: while pods are missing
   * every pod event is a reconcile, and each asked the API server again (a field-selected LIST of
   * Events per reconcile was a large share of its load on a cold start of 1,000 FtpServers).
   */
  const noEventsSince = new Map<string, number>();
  async function events(run: Run, kind: string, name: string, reason: string): Promise<EventLike[]> {
    const fieldSelector = `involvedObject.kind=${kind},involvedObject.name=${name},reason=${reason}`;
    const key = `${run.namespace}/${fieldSelector}`;
    const at = noEventsSince.get(key);
    if (at !== undefined && Date.now() - at < PODS_MISSING_RETRY_MS) return [];
    noEventsSince.delete(key);
    const list = await mgr.client.list<KubeObject & EventLike>(Resources.Event, { namespace: run.namespace, fieldSelector, signal: run.signal });
    if (list.items.length === 0) {
      if (noEventsSince.size >= 10_000) noEventsSince.clear();
      noEventsSince.set(key, Date.now());
    }
    return list.items;
  }

  /** What Kubernetes says keeps the pods from running (Events are read only while pods are missing or stuck). */
  async function workloadProblem(run: Run, fs: FtpServer, podObjs: KubeObject[], sts: KubeObject | undefined): Promise<{ reason: string; message: string } | undefined> {
    const st = (sts?.status ?? {}) as StsStatus;
    const stsName = childNames(fs.metadata.name).statefulSet;
    // FailedCreate can only be there once the StatefulSet controller has seen this generation (a
    // StatefulSet we just created has no status yet): no Events LIST before that — the requeue
    // while pods are missing, and the StatefulSet's status event, look again.
    const stsObserved = (st.observedGeneration ?? 0) >= (sts?.metadata?.generation ?? 1);
    if (sts && stsObserved && podObjs.length < fs.spec.replicas) {
      const p = failedCreate(`${run.namespace}/${stsName}`, await events(run, "StatefulSet", stsName, "FailedCreate"));
      if (p) return p;
    }
    for (const pod of podObjs) {
      // Unschedulable only counts where pods must run (a control plane without nodes never schedules).
      const p = containerProblem(pod) ?? (readiness === "pods" ? unschedulable(pod, fs.spec.routing.mode) : undefined);
      if (p) return p;
    }
    if (readiness === "pods" && (st.readyReplicas ?? 0) < fs.spec.replicas) {
      for (const pod of podObjs.filter(isContainerCreating)) {
        const p = failedMount(`${run.namespace}/${pod.metadata?.name}`, await events(run, "Pod", pod.metadata!.name!, "FailedMount"));
        if (p) return p;
      }
    }
    return undefined;
  }

  type StatusFacts = Omit<StatusInput, "fs" | "workloadReadiness" | "nodePortPool">;

  async function writeStatus(run: Run, facts: StatusFacts): Promise<void> {
    if (run.signal.aborted) return;
    const { raw, namespace } = run;
    const { status, conditions: conds } = computeStatus({
      fs: raw,
      workloadReadiness: readiness,
      ...(opts.nodePortPool !== undefined ? { nodePortPool: opts.nodePortPool } : {}),
      ...facts,
    });
    const { conditions, newProblems } = mergeConditions(conds, raw.status?.conditions ?? [], raw.metadata.generation, now());
    const desired: KubeObject = { apiVersion: API_VERSION, kind: KIND, metadata: { name: raw.metadata.name, namespace }, status: { ...status, conditions } };
    await seams.beforeWrite?.(run.key, "status");
    const res = await mgr.applier.applyStatus(FtpServers, desired, recent.observed(FtpServers, namespace, raw.metadata.name, raw), { signal: run.signal });
    if (res.changed) recent.record(FtpServers, res.object);
    if (res.changed) run.log?.debug({ ready: conditions[0]?.status, reason: conditions[0]?.reason }, "status updated");
    for (const c of newProblems) mgr.events.event(raw, "Warning", c.reason, c.message);
  }

  /** Status when a step stopped the reconcile: the cause, plus whatever is observed of the children. */
  function blockedFacts(fs: FtpServer, e: Effective, blocker: Blocker, address: AddressResult | undefined): StatusFacts {
    const st = (statefulSets.get(childNames(fs.metadata.name).statefulSet, fs.metadata.namespace ?? "default")?.status ?? {}) as StsStatus;
    return {
      eff: e, blocker, childrenApplied: false, routingConsistent: false, ...(address ? { address } : {}),
      replicas: e.spec.replicas, observedReplicas: st.replicas ?? 0, readyReplicas: st.readyReplicas ?? 0, workloadUpdated: false,
    };
  }

  // ---- the reconcile ------------------------------------------------------------------------

  const reconcile = async (req: Request, ctx: ReconcileContext): Promise<Result | void> => {
    const raw = servers.get(req.name, req.namespace) as FtpServer | undefined;
    if (!raw || raw.metadata.deletionTimestamp) return; // children go with the owner (garbage collector)
    const run: Run = { key: req.key, raw, namespace: raw.metadata.namespace ?? "default", signal: ctx.signal, log: ctx.log, decided: [] };

    const spec = validSpec(run);
    if ("problems" in spec) {
      // Stored before a rule existed, or admission bypassed: say so, touch nothing (no half-applied state).
      run.log?.warn({ problems: spec.problems }, "invalid spec");
      await writeStatus(run, {
        eff: undefined, invalidProblems: spec.problems, childrenApplied: false, routingConsistent: false,
        replicas: 0, observedReplicas: 0, readyReplicas: 0, workloadUpdated: false,
      });
      return;
    }
    const { fs, e } = spec;
    let address: AddressResult | undefined;
    try {
      await secretsValid(fs);
      const podObjs = pods
        .byIndex(SERVER_LABEL, `${run.namespace}/${fs.metadata.name}`)
        .filter((p) => labelsMatch(p.metadata?.labels, selectorLabels(fs.metadata.name)));
      const podViews = podObjs.map((p) => podView(p, childNames(fs.metadata.name).statefulSet)).filter((p) => p !== undefined);
      // Nothing the children are built from changed since they were last applied or found in sync
      // (spec, metadata, the pods' views) and every child is still the version that decision was
      // made on: building, serialising and hashing every child again would decide the same (most
      // reconciles at 1,000 FtpServers are pod events that change none of it).
      const inputs = childInputs(fs, podViews);
      const last = lastInSync.get(run.key);
      let facts: ChildrenFacts;
      if (last && last.inputs === inputs && last.children.every((c) => sameVersion(run, c))) {
        stats.childrenShortcuts++;
        facts = last.facts;
        address = facts.address;
        await removeStaleSlices(run, fs, e, facts.sliceNames);
      } else {
        lastInSync.delete(run.key);
        // Built with the address unknown: the names (refuseForeignObjects), the Service, and what
        // does not read the address; the ConfigMap and NetworkPolicy again once the Service answered.
        const unaddressed = desiredChildren(fs, e, null, podViews, opts);
        const { statefulSetExists } = await refuseForeignObjects(run, fs, unaddressed);
        const svc = await applyService(run, fs, e, unaddressed.service);
        address = externalAddress(fs, e, svc);
        const want = withAddress(unaddressed, fs, e, address.address);
        const { slices } = await applyChildren(run, want, !statefulSetExists);
        const sliceNames = new Set(want.endpointSlices.map((s) => s.metadata!.name!));
        await removeStaleSlices(run, fs, e, sliceNames);
        // A skipped apply returns the compact cache entry (no port list): its ports are the desired ones.
        const portsOf = (o: KubeObject | undefined) => (o?.spec as { ports?: unknown[] } | undefined)?.ports;
        const svcPorts = (portsOf(svc) ?? (svc ? portsOf(want.service) : undefined) ?? []).length;
        facts = {
          address,
          sliceNames,
          routingConsistent: svcPorts === servicePortCount(e) && (e.spec.routing.mode !== "PortPartitioned" || slices.every((s) => s !== undefined)),
        };
        if (!run.signal.aborted) lastInSync.set(run.key, { inputs, children: run.decided, facts });
      }
      await seams.afterChildren?.(req.key);
      const stsName = childNames(fs.metadata.name).statefulSet;
      const sts = recent.observed(Resources.StatefulSet, run.namespace, stsName, statefulSets.get(stsName, run.namespace));
      const problem = await workloadProblem(run, fs, podObjs, sts);

      const stsStatus = (sts?.status ?? {}) as StsStatus;
      await writeStatus(run, {
        eff: e,
        address,
        childrenApplied: true,
        routingConsistent: facts.routingConsistent,
        ...(problem ? { workloadProblem: problem } : {}),
        replicas: e.spec.replicas,
        observedReplicas: stsStatus.replicas ?? 0,
        readyReplicas: stsStatus.readyReplicas ?? 0,
        workloadUpdated: (stsStatus.observedGeneration ?? 0) >= (sts?.metadata?.generation ?? 1) && (stsStatus.updatedReplicas ?? 0) >= e.spec.replicas,
      });
      // Events are not watched: while pods cannot be created or run, look again soon.
      if (problem) return { requeueAfterMs: UNWATCHED_RETRY_MS };
      // Pods missing: FailedCreate (not watched) is looked for once the StatefulSet controller has
      // seen this generation; before that, its status update is the (watched) next event.
      if (sts && podObjs.length < e.spec.replicas && stsStatus.observedGeneration !== undefined && stsStatus.observedGeneration >= (sts.metadata?.generation ?? 1)) {
        return { requeueAfterMs: PODS_MISSING_RETRY_MS };
      }
    } catch (err) {
      lastInSync.delete(req.key);
      if (ctx.signal.aborted) throw err; // stopping or deposed: write nothing more
      const blocked = err instanceof Blocked ? err : apiBlocker(err, `FtpServer ${req.key}`);
      run.log?.warn({ reason: blocked.blocker.reason, err: blocked.message }, "reconcile blocked");
      try {
        await writeStatus(run, blockedFacts(fs, e, blocked.blocker, address));
      } catch (statusErr) {
        run.log?.warn({ err: (statusErr as Error).message }, "status write failed");
      }
      if (!blocked.blocker.permanent) throw err; // temporary: per-key backoff
      return { requeueAfterMs: blocked.retryAfterMs ?? PERMANENT_RETRY_MS };
    }
  };

  const controller = mgr.controller({ name: "ftpserver", workers: opts.workers ?? 8, reconcile });
  controller.watch(servers, (o) => `${o.metadata?.namespace}/${o.metadata?.name}`, {
    // Our own status writes do not change the generation: no reconcile for them.
    updatePredicate: (o, n) =>
      o.metadata?.generation !== n.metadata?.generation ||
      o.metadata?.deletionTimestamp !== n.metadata?.deletionTimestamp ||
      o === n,
  });
  const byLabel = enqueueByLabel(SERVER_LABEL);
  // The echo of our own write is no news (the delete handler above forgot the write first, so a
  // delete always enqueues). Known only once the write's answer is in: an echo that arrives
  // first still enqueues (docs/operator.md, "Remembered writes").
  for (const [type, inf] of childCaches) controller.watch(inf, (o) => (recent.isEcho(type, o) ? [] : byLabel(o)));
  // Pods: only changes of what podView and workload.ts read (slot label, IP, readiness, node,
  // deletion, container waiting reasons) matter; other scheduler/kubelet status churn is not a
  // reconcile (most reconciles at 1,000 FtpServers were these).
  const podFacts = (p: KubeObject) => {
    const { resourceVersion: _rv, annotations: _users, ...md } = p.metadata ?? {}; // the annotation is the FtpUser controller's
    return JSON.stringify([md, p.spec, p.status]);
  };
  controller.watch(pods, byLabel, { updatePredicate: (o, n) => podFacts(o) !== podFacts(n) });
  return { controller, recent, stats, informers };
}
