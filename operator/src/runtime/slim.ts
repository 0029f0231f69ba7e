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

interface PodShape {
  spec?: { nodeName?: string };
  status?: { phase?: string; podIP?: string; podIPs?: unknown[]; conditions?: { type: string; status: string }[] };
}

/** A Pod reduced to identity, labels, owners, deletion, node, IPs, phase and the Ready condition. */
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
  if (ready?.length) status.conditions = ready;
  const out: KubeObject = { apiVersion: obj.apiVersion, kind: obj.kind, metadata, status };
  if (p.spec?.nodeName) out.spec = { nodeName: p.spec.nodeName };
  return out as T;
}
