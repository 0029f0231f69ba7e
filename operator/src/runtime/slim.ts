// Informer transforms: what an operator's caches keep of each object. Memory at 1,000 FtpServers
// was dominated by cached objects carrying every manager's `managedFields` (often larger than the
// object itself) and kubectl's last-applied annotation (a second copy of the object).
//
// `slimObject` keeps only the managedFields entries the no-op skip rule reads (ssa.ts: our
// manager's `Apply` entries, main resource and subresources) reduced to {manager, operation,
// subresource, fieldsV1}, and drops `kubectl.kubernetes.io/last-applied-configuration`.
// `slimPod` additionally keeps of a Pod only what a controller typically reads: identity, labels,
// owner references, deletion, node, IPs, phase and the Ready condition.
import { FIELD_MANAGER } from "./client.ts";
import type { KubeObject, ManagedFieldsEntry, ObjectMeta } from "./types.ts";

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/** An informer transform: called once per object received (LIST item or watch event); may mutate and return it. */
export type Transform<T extends KubeObject = KubeObject> = (obj: T) => T;

function slimMeta(md: ObjectMeta, manager: string): void {
  if (md.managedFields) {
    const keep: ManagedFieldsEntry[] = [];
    for (const e of md.managedFields) {
      if (e.manager !== manager || e.operation !== "Apply") continue;
      keep.push({ manager: e.manager, operation: e.operation, ...(e.subresource ? { subresource: e.subresource } : {}), ...(e.fieldsV1 ? { fieldsV1: e.fieldsV1 } : {}) });
    }
    if (keep.length) md.managedFields = keep;
    else delete md.managedFields;
  }
  if (md.annotations && LAST_APPLIED_ANNOTATION in md.annotations) {
    delete md.annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(md.annotations).length === 0) delete md.annotations;
  }
}

/** Drop other managers' managedFields and the last-applied annotation (in place). */
export function slimObject<T extends KubeObject>(obj: T, manager: string = FIELD_MANAGER): T {
  if (obj.metadata) slimMeta(obj.metadata, manager);
  return obj;
}

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  terminated?: { reason?: string; message?: string; exitCode?: number };
}
interface ContainerStatusShape {
  name?: string;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
}
interface PodShape {
  spec?: { nodeName?: string };
  status?: {
    phase?: string; podIP?: string; podIPs?: unknown[]; conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatusShape[];
  };
}

function slimState(st: ContainerState | undefined): ContainerState | undefined {
  const pick = <T extends object>(o: T | undefined, keys: (keyof T)[]) => {
    if (!o) return undefined;
    const out: Partial<T> = {};
    for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
    return out;
  };
  if (st?.waiting) return { waiting: pick(st.waiting, ["reason", "message"])! };
  if (st?.terminated) return { terminated: pick(st.terminated, ["reason", "message", "exitCode"])! };
  return undefined;
}

/** A container status reduced to name, restarts and *why* it is not running (running → no state). */
function slimContainerStatus(c: ContainerStatusShape): ContainerStatusShape | undefined {
  if (!c.name) return undefined;
  const state = slimState(c.state);
  const lastState = slimState(c.lastState);
  return { name: c.name, restartCount: c.restartCount ?? 0, ...(state ? { state } : {}), ...(lastState ? { lastState } : {}) };
}

/** A Pod reduced to identity, labels, owners, deletion, node, IPs, phase, the Ready condition, a failed PodScheduled condition and why containers are not running. */
export function slimPod<T extends KubeObject>(obj: T): T {
  const md = obj.metadata ?? {};
  const p = obj as PodShape;
  const metadata: ObjectMeta = {};
  for (const k of ["name", "namespace", "uid", "resourceVersion", "generation", "labels", "ownerReferences", "deletionTimestamp", "creationTimestamp"] as const) {
    if (md[k] !== undefined) (metadata as Record<string, unknown>)[k] = md[k];
  }
  const status: Record<string, unknown> = {};
  if (p.status?.phase) status.phase = p.status.phase;
  if (p.status?.podIP) status.podIP = p.status.podIP;
  if (p.status?.podIPs) status.podIPs = p.status.podIPs;
  const ready = p.status?.conditions?.filter((c) => c.type === "Ready").map((c) => ({ type: c.type, status: c.status }));
  // A pod the scheduler cannot place: PodScheduled False with its reason and message (which
  // nodes fail which predicate), so the status says why instead of "waiting for pods".
  const unscheduled = p.status?.conditions
    ?.filter((c) => c.type === "PodScheduled" && c.status === "False")
    .map((c) => ({ type: c.type, status: c.status, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) }));
  const conditions = [...(ready ?? []), ...(unscheduled ?? [])];
  if (conditions.length) status.conditions = conditions;
  // Why a container is not running (waiting/terminated reason and message, incl. the termination
  // log): a controller reports it instead of a bare "not ready".
  const containers = (p.status?.containerStatuses ?? []).map(slimContainerStatus).filter((c) => c !== undefined);
  if (containers.length) status.containerStatuses = containers;
  const out: KubeObject = { apiVersion: obj.apiVersion, kind: obj.kind, metadata, status };
  if (p.spec?.nodeName) out.spec = { nodeName: p.spec.nodeName };
  return out as T;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

type Trie = { [k: string]: Trie };

const isPrimitive = (v: unknown): boolean => v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";

function mergeTries(a: Trie, b: Trie): Trie {
  const out: Trie = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = out[k] ? mergeTries(out[k], v) : v;
  return out;
}

/** `value` reduced to the fields of a managedFields trie (a leaf keeps the whole value). */
export function pruneToFields(value: unknown, fields: Trie): unknown {
  const keys = Object.keys(fields).filter((k) => k !== ".");
  if (keys.length === 0) return value;
  if (isObj(value)) {
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      if (!k.startsWith("f:")) continue;
      const name = k.slice(2);
      if (value[name] !== undefined) out[name] = pruneToFields(value[name], fields[k]!);
    }
    return out;
  }
  if (Array.isArray(value)) {
    const items = keys.map((k, order) => ({ k, order, child: fields[k]!, parsed: k.startsWith("k:") || k.startsWith("v:") ? (JSON.parse(k.slice(2)) as unknown) : undefined }));
    // "k:" items with primitive key values are looked up by key (O(1) per element; a 10,000-port
    // Service took ~4 s per cache update with a scan per element); the rest are scanned. The
    // first item in trie order that matches wins, as in a plain scan.
    const byKey = new Map<string, { names: string[]; items: Map<string, (typeof items)[number]> }>();
    const scanned: typeof items = [];
    for (const it of items) {
      const names = isObj(it.parsed) ? Object.keys(it.parsed) : [];
      if (!it.k.startsWith("k:") || names.length === 0 || !names.every((n) => isPrimitive((it.parsed as Record<string, unknown>)[n]))) {
        scanned.push(it);
        continue;
      }
      const signature = JSON.stringify(names);
      let group = byKey.get(signature);
      if (!group) byKey.set(signature, (group = { names, items: new Map() }));
      const key = JSON.stringify(names.map((n) => (it.parsed as Record<string, unknown>)[n]));
      if (!group.items.has(key)) group.items.set(key, it);
    }
    const out: unknown[] = [];
    value.forEach((e, i) => {
      let found: (typeof items)[number] | undefined;
      if (isObj(e)) {
        for (const { names, items: index } of byKey.values()) {
          if (!names.every((n) => isPrimitive(e[n]))) continue;
          const it = index.get(JSON.stringify(names.map((n) => e[n])));
          if (it && (!found || it.order < found.order)) found = it;
        }
      }
      for (const it of scanned) {
        if (found && it.order > found.order) break;
        const hit = it.k.startsWith("k:")
          ? isObj(e) && isObj(it.parsed) && Object.entries(it.parsed).every(([kk, kv]) => jsonEqual(e[kk], kv))
          : it.k.startsWith("v:") ? jsonEqual(e, it.parsed) : it.k === `i:${i}`;
        if (hit) {
          found = it;
          break;
        }
      }
      if (!found) return;
      if (found.k.startsWith("v:")) out.push(e);
      else if (found.k.startsWith("k:")) out.push({ ...(found.parsed as Record<string, unknown>), ...(pruneToFields(e, found.child) as Record<string, unknown>) });
      else out.push(pruneToFields(e, found.child));
    });
    return out;
  }
  return value;
}

/**
 * A transform for caches of objects the operator owns: like `slimObject`, and every top-level
 * field other than metadata and status is reduced to what our manager's Apply entries own, plus
 * the `keep` paths (e.g. ["spec", "clusterIP"]). Server defaults (a StatefulSet's pod template
 * is mostly defaults) and other managers' fields go. The no-op skip rule (ssa.ts) is unchanged:
 * it compares only fields `desired` sets, and a desired field we do not own is absent here, so it
 * is applied (after which we own it) — exactly as before. List items other managers own are
 * dropped, so lists we share no longer look changed on every pass.
 */
export function ownedFieldsOnly(keep: string[][] = [], manager: string = FIELD_MANAGER): Transform {
  return (obj) => {
    slimObject(obj, manager);
    let trie: Trie = {};
    for (const e of obj.metadata?.managedFields ?? []) if (!e.subresource && e.fieldsV1) trie = mergeTries(trie, e.fieldsV1);
    const out: KubeObject = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata };
    if (obj.status !== undefined) out.status = obj.status;
    for (const [k, v] of Object.entries(obj)) {
      if (k === "apiVersion" || k === "kind" || k === "metadata" || k === "status") continue;
      const t = trie[`f:${k}`];
      if (t) out[k] = pruneToFields(v, t);
    }
    for (const path of keep) {
      let src: unknown = obj;
      for (const p of path) src = isObj(src) ? src[p] : undefined;
      if (src === undefined) continue;
      let dst = out as Record<string, unknown>;
      for (const p of path.slice(0, -1)) {
        if (!isObj(dst[p])) dst[p] = {};
        dst = dst[p] as Record<string, unknown>;
      }
      dst[path[path.length - 1]!] = src;
    }
    return out;
  };
}
