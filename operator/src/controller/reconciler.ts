// The FtpServer controller: read the CR and its children from informer caches, build the desired
// children with pure functions, server-side apply only what differs (Applier skips no-op applies),
// delete stale EndpointSlices, then apply the status on the status subresource (also skipped when
// unchanged). A no-op resync therefore performs zero writes. Events only on condition transitions.
import type { Logger } from "pino";
import { API_VERSION, KIND, PLURAL, validateSpec, type FtpServer } from "../api/v1alpha1.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Controller, Request, Result } from "../runtime/controller.ts";
import { enqueueByLabel } from "../runtime/controller.ts";
import { ApiError } from "../runtime/client.ts";
import type { Informer } from "../runtime/informer.ts";
import { ownedFieldsOnly, slimObject, slimPod } from "../runtime/slim.ts";
import { Resources, labelsMatch, type KubeObject, type ResourceType } from "../runtime/types.ts";
import { desiredChildren } from "./desired.ts";
import { podView } from "./endpointslices.ts";
import { SERVER_LABEL, childNames, effective, selectorLabels, servicePortCount } from "./model.ts";
import { buildService, externalAddress } from "./service.ts";
import { computeStatus, mergeConditions, type StatusInput } from "./status.ts";

export const FtpServers: ResourceType = { apiVersion: API_VERSION, kind: KIND, plural: PLURAL, namespaced: true };

export interface ReconcilerOptions {
  /** watch one namespace; undefined = all */
  namespace?: string;
  workers?: number;
  /** see StatusInput.workloadReadiness */
  workloadReadiness?: "pods" | "applied";
  maxPortsPerSlice?: number;
  nodePortPool?: number;
  /** periodic resync of every FtpServer (ms); 0 = off */
  resyncMs?: number;
  /** test hook: called between applying the children and the status (kill-mid-reconcile tests) */
  afterChildren?: (key: string) => Promise<void>;
}

interface StsStatus {
  observedGeneration?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  replicas?: number;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** 4xx other than conflict / throttling: retrying the same request will not help. */
function isPermanent(err: unknown): err is ApiError {
  return err instanceof ApiError && err.statusCode >= 400 && err.statusCode < 500 && ![408, 409, 429].includes(err.statusCode);
}

/**
 * What we applied in the last few seconds, per object. An informer lags our own writes by a few
 * milliseconds; a reconcile triggered in that window (by another child's event) would see the old
 * copy and apply again. Using the fresher of (cache, our last answer) avoids those duplicate
 * writes. Entries expire, so an object deleted behind our back is re-created soon.
 */
class RecentWrites {
  private readonly map = new Map<string, { obj: KubeObject; at: number }>();
  private readonly ttlMs: number;
  private readonly slimmers: Map<string, (o: KubeObject) => KubeObject>;
  constructor(slimmers: Map<string, (o: KubeObject) => KubeObject>, ttlMs = 10_000) {
    this.slimmers = slimmers;
    this.ttlMs = ttlMs;
  }
  private static rv(o: KubeObject | undefined): number {
    const n = Number(o?.metadata?.resourceVersion);
    return Number.isFinite(n) ? n : -1;
  }
  observed(type: ResourceType, namespace: string, name: string, cached: KubeObject | undefined): KubeObject | undefined {
    const k = `${type.plural}/${namespace}/${name}`;
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
    // kept in the same shape as the informer caches hold it
    const slim = this.slimmers.get(type.plural) ?? slimObject;
    this.map.set(`${type.plural}/${md.namespace ?? ""}/${md.name}`, { obj: slim(obj), at: Date.now() });
  }
  forget(type: ResourceType, namespace: string, name: string): void {
    this.map.delete(`${type.plural}/${namespace}/${name}`);
  }
  get size(): number {
    return this.map.size;
  }
}

export interface FtpServerController {
  controller: Controller;
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
  // Children: only what our field manager owns (plus the Service's cluster IP) is cached — enough
  // for the no-op skip rule and the reconciler; server defaults and others' fields are dropped.
  const slimmers = new Map<string, (o: KubeObject) => KubeObject>([
    [Resources.Service.plural, ownedFieldsOnly([["spec", "clusterIP"], ["spec", "clusterIPs"]])],
    [Resources.ConfigMap.plural, ownedFieldsOnly()],
    [Resources.StatefulSet.plural, ownedFieldsOnly()],
    [Resources.EndpointSlice.plural, ownedFieldsOnly()],
    [Resources.NetworkPolicy.plural, ownedFieldsOnly()],
    [FtpServers.plural, slimObject],
  ]);
  const services = mgr.informer(Resources.Service, { ...ours, transform: slimmers.get(Resources.Service.plural)! });
  const configMaps = mgr.informer(Resources.ConfigMap, { ...ours, transform: slimmers.get(Resources.ConfigMap.plural)! });
  const statefulSets = mgr.informer(Resources.StatefulSet, { ...ours, transform: slimmers.get(Resources.StatefulSet.plural)! });
  const endpointSlices = mgr.informer(Resources.EndpointSlice, { ...ours, transform: slimmers.get(Resources.EndpointSlice.plural)! });
  const networkPolicies = mgr.informer(Resources.NetworkPolicy, { ...ours, transform: slimmers.get(Resources.NetworkPolicy.plural)! });
  // Pods: only identity, labels, owners, node, IP and readiness are read (podView).
  const pods = mgr.informer(Resources.Pod, { ...ours, transform: slimPod });
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
  const recent = new RecentWrites(slimmers);

  const reconcile = async (req: Request, log: Logger | undefined, signal: AbortSignal): Promise<Result | void> => {
    const raw = servers.get(req.name, req.namespace) as FtpServer | undefined;
    if (!raw || raw.metadata.deletionTimestamp) return; // children go with the owner (garbage collector)
    const namespace = raw.metadata.namespace ?? "default";
    const name = raw.metadata.name;
    const names = childNames(name);
    const prevConds = (raw.status?.conditions ?? []);

    const writeStatus = async (inp: Omit<StatusInput, "fs" | "workloadReadiness" | "nodePortPool">) => {
      if (signal.aborted) return;
      const { status, conditions: conds } = computeStatus({
        fs: raw,
        workloadReadiness: readiness,
        ...(opts.nodePortPool !== undefined ? { nodePortPool: opts.nodePortPool } : {}),
        ...inp,
      });
      const { conditions, newProblems } = mergeConditions(conds, prevConds, raw.metadata.generation, now());
      const desired: KubeObject = { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status: { ...status, conditions } };
      const res = await mgr.applier.applyStatus(FtpServers, desired, recent.observed(FtpServers, namespace, name, raw));
      if (res.changed) recent.record(FtpServers, res.object);
      if (res.changed) log?.debug({ ready: conditions[0]?.status, reason: conditions[0]?.reason }, "status updated");
      for (const c of newProblems) mgr.events.event(raw, "Warning", c.reason, c.message);
    };

    const parsed = validateSpec(raw.spec);
    if (!parsed.ok) {
      // Stored before a rule existed, or admission bypassed: say so, touch nothing (no half-applied state).
      log?.warn({ problems: parsed.problems }, "invalid spec");
      await writeStatus({
        eff: undefined, invalidProblems: parsed.problems, childrenApplied: false, routingConsistent: false,
        replicas: 0, readyReplicas: 0, workloadUpdated: false,
      });
      return;
    }
    const fs: FtpServer = { ...raw, spec: parsed.spec };
    const e = effective(parsed.spec);

    let applyError: string | undefined;
    const apply = async <T extends KubeObject>(type: ResourceType, desired: KubeObject, cached: KubeObject | undefined): Promise<T | undefined> => {
      if (signal.aborted) throw new Error("controller stopping");
      const observed = recent.observed(type, namespace, desired.metadata!.name!, cached);
      try {
        const res = await mgr.applier.apply<T>(type, desired, observed);
        if (res.changed) recent.record(type, res.object);
        return res.object;
      } catch (err) {
        if (!isPermanent(err)) throw err;
        applyError ??= `${type.kind} ${desired.metadata?.name}: ${err.message}`;
        return observed as T | undefined;
      }
    };

    // 1. The Service first: its status (load-balancer ingress) and cluster IP feed the config.
    const podViews = pods
      .byIndex(SERVER_LABEL, `${namespace}/${name}`)
      .filter((p) => labelsMatch(p.metadata?.labels, selectorLabels(name)))
      .map((p) => podView(p, names.statefulSet))
      .filter((p) => p !== undefined);
    // (the Service does not depend on the address; the other children are built once it is known)
    const svc = await apply(Resources.Service, buildService(fs, e), services.get(names.service, namespace));
    const address = externalAddress(fs, e, svc);
    const want = desiredChildren(fs, e, address.address, podViews, opts);

    // 2. Routing, config and workload, concurrently.
    const [slices, , sts] = await Promise.all([
      Promise.all(want.endpointSlices.map((s) => apply(Resources.EndpointSlice, s, endpointSlices.get(s.metadata!.name!, namespace)))),
      apply(Resources.ConfigMap, want.configMap, configMaps.get(names.config, namespace)),
      apply(Resources.StatefulSet, want.statefulSet, statefulSets.get(names.statefulSet, namespace)),
      // the firewall (networkpolicy.ts): applied, or deleted when switched off
      want.networkPolicy
        ? apply(Resources.NetworkPolicy, want.networkPolicy, networkPolicies.get(name, namespace))
        : networkPolicies.get(name, namespace) && mgr.client.delete(Resources.NetworkPolicy, name, namespace).then(() => recent.forget(Resources.NetworkPolicy, namespace, name)),
    ]);

    // 3. Stale EndpointSlices (fewer slots, smaller range, switched to ClientIPAffinity).
    const keep = new Set(want.endpointSlices.map((s) => s.metadata!.name!));
    for (const s of endpointSlices.byIndex(SERVER_LABEL, `${namespace}/${name}`)) {
      const owned = (s.metadata?.ownerReferences ?? []).some((r) => r.uid === raw.metadata.uid);
      if (owned && !keep.has(s.metadata!.name!)) {
        if (signal.aborted) throw new Error("controller stopping");
        await mgr.client.delete(Resources.EndpointSlice, s.metadata!.name!, namespace, { uid: s.metadata!.uid! });
        recent.forget(Resources.EndpointSlice, namespace, s.metadata!.name!);
      }
    }

    await opts.afterChildren?.(req.key);

    // 4. Status.
    const svcPorts = ((svc?.spec as { ports?: unknown[] } | undefined)?.ports ?? []).length;
    const routingConsistent =
      svcPorts === servicePortCount(e) &&
      (e.spec.routing.mode !== "PortPartitioned" || slices.every((s) => s !== undefined));
    const stsMeta = sts?.metadata;
    const stsStatus = (sts?.status ?? {}) as StsStatus;
    const replicas = e.spec.replicas;
    await writeStatus({
      eff: e,
      address,
      childrenApplied: applyError === undefined,
      ...(applyError !== undefined ? { applyError } : {}),
      routingConsistent,
      replicas,
      readyReplicas: stsStatus.readyReplicas ?? 0,
      workloadUpdated:
        (stsStatus.observedGeneration ?? 0) >= (stsMeta?.generation ?? 1) && (stsStatus.updatedReplicas ?? 0) >= replicas,
    });
    // A permanent error will not fix itself on the next event; look again later rather than hot-loop.
    if (applyError) return { requeueAfterMs: 60_000 };
  };

  const controller = mgr.controller({
    name: "ftpserver",
    workers: opts.workers ?? 8,
    reconcile: (req, ctx) => reconcile(req, ctx.log, ctx.signal),
  });
  controller.watch(servers, (o) => `${o.metadata?.namespace}/${o.metadata?.name}`, {
    // Our own status writes do not change the generation: no reconcile for them.
    updatePredicate: (o, n) =>
      o.metadata?.generation !== n.metadata?.generation ||
      o.metadata?.deletionTimestamp !== n.metadata?.deletionTimestamp ||
      o === n,
  });
  const byLabel = enqueueByLabel(SERVER_LABEL);
  for (const inf of [services, configMaps, statefulSets, endpointSlices, networkPolicies]) controller.watch(inf, byLabel);
  // Pods: only changes of what podView reads (slot label, IP, readiness, node, deletion) matter;
  // scheduler/kubelet status churn is not a reconcile (most reconciles at 1,000 FtpServers were these).
  const podFacts = (p: KubeObject) => {
    const { resourceVersion: _rv, ...md } = p.metadata ?? {};
    return JSON.stringify([md, p.spec, p.status]);
  };
  controller.watch(pods, byLabel, { updatePredicate: (o, n) => podFacts(o) !== podFacts(n) });
  return { controller, informers };
}
