// Port-partitioned routing: EndpointSlices the operator owns for its selector-less Service.
//
// kube-proxy builds each service port's endpoints from the slices that list that port's name.
// The control slice lists the control (and implicit-TLS) port with every pod; slot i's slices list
// only the passive ports of slot i with only pod i. A data connection to port P therefore reaches
// exactly the pod whose server hands out P. Slices are split to stay under the per-slice limits
// (1000 endpoints, `maxPortsPerSlice` ports: 20000 on current clusters, 100 on old ones).
import { isIP } from "node:net";
import type { FtpServer } from "../api/v1alpha1.ts";
import type { KubeObject } from "../runtime/types.ts";
import {
  ENDPOINTSLICE_MANAGED_BY,
  POD_INDEX_LABEL,
  ROLE_LABEL,
  SLOT_LABEL,
  childMeta,
  childNames,
  type Effective,
} from "./model.ts";
import { CONTROL_PORT_NAME, IMPLICIT_TLS_PORT_NAME, passivePortName } from "./service.ts";

export const MAX_ENDPOINTS_PER_SLICE = 1000;
export const DEFAULT_MAX_PORTS_PER_SLICE = 1000;

/** What the builders need to know about a pod. */
export interface PodView {
  name: string;
  uid: string;
  slot: number;
  ip: string | undefined;
  nodeName: string | undefined;
  ready: boolean;
  terminating: boolean;
}

interface PodLike {
  metadata?: { name?: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

/** A pod of the FtpServer's StatefulSet as the builders see it (slot from the pod-index label, else the name's ordinal). */
export function podView(pod: KubeObject, stsName: string): PodView | undefined {
  const p = pod as PodLike;
  const name = p.metadata?.name;
  if (!name) return undefined;
  let slot = Number(p.metadata?.labels?.[POD_INDEX_LABEL]);
  if (!Number.isInteger(slot)) {
    const m = new RegExp(`^${stsName.replace(/[.]/g, "\\.")}-(\\d+)$`).exec(name);
    if (!m) return undefined;
    slot = Number(m[1]);
  }
  return {
    name,
    uid: p.metadata?.uid ?? "",
    slot,
    ip: p.status?.podIP || undefined,
    nodeName: p.spec?.nodeName || undefined,
    ready: (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    terminating: p.metadata?.deletionTimestamp !== undefined,
  };
}

/** The only pods the slices are built from (a pod without an IP yet is in none): what of the pods `buildEndpointSlices` reads. */
export function podsWithIp(pods: PodView[]): PodView[] {
  return pods.filter((p) => p.ip !== undefined && isIP(p.ip) !== 0);
}

function target(pod: PodView, namespace: string) {
  return {
    addresses: [pod.ip],
    targetRef: { kind: "Pod", namespace, name: pod.name, uid: pod.uid },
    ...(pod.nodeName ? { nodeName: pod.nodeName } : {}),
  };
}

/** Control port: new sessions only to ready pods; a terminating pod takes none (other pods are ready). */
function controlEndpoint(pod: PodView, namespace: string) {
  return { ...target(pod, namespace), conditions: { ready: pod.ready && !pod.terminating, serving: pod.ready, terminating: pod.terminating } };
}

/**
 * Passive ports: routed for as long as the pod exists, whatever its readiness. Only the pod's own
 * sessions ever connect to its block, and a session only starts on a pod the control port routes
 * to, so routing the block early (before Ready) is safe and makes it reach kube-proxy before the
 * first session does; keeping it through a failing readiness probe keeps open sessions' transfers.
 * A terminating pod is `serving: true, terminating: true`: it is the port's only endpoint, and
 * kube-proxy falls back to serving terminating endpoints when a port has no ready one
 * (pkg/proxy/topology.go CategorizeEndpoints), so sessions draining on it keep opening data
 * connections until the server exits. (Established flows need nothing: kube-proxy's REJECT and
 * DNAT rules match only NEW connections and TCP conntrack entries are not flushed.)
 */
function passiveEndpoint(pod: PodView, namespace: string) {
  return { ...target(pod, namespace), conditions: { ready: !pod.terminating, serving: true, terminating: pod.terminating } };
}

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out.length ? out : [[]];
}

export function buildEndpointSlices(
  fs: FtpServer,
  e: Effective,
  pods: PodView[],
  opts: { maxPortsPerSlice?: number } = {},
): KubeObject[] {
  if (e.spec.routing.mode !== "PortPartitioned") return [];
  const maxPorts = Math.max(1, opts.maxPortsPerSlice ?? DEFAULT_MAX_PORTS_PER_SLICE);
  const names = childNames(fs.metadata.name);
  const ns = fs.metadata.namespace ?? "default";
  const svcName = names.service;
  // One address family per slice; pods of the other family (dual-stack) are listed by their IPv4 IP.
  const withIp = podsWithIp(pods).sort((a, b) => a.slot - b.slot);
  const family = withIp.length && isIP(withIp[0]!.ip!) === 6 ? "IPv6" : "IPv4";
  // Pods of a slot >= replicas stay listed while they exist: a scale-down's leaving pods are
  // terminating and drain their sessions through their own ports.
  const usable = withIp.filter((p) => (isIP(p.ip!) === 6 ? "IPv6" : "IPv4") === family);
  const labels = (role: string, extra: Record<string, string> = {}) => ({
    "endpointslice.kubernetes.io/managed-by": ENDPOINTSLICE_MANAGED_BY,
    "kubernetes.io/service-name": svcName,
    [ROLE_LABEL]: role,
    ...extra,
  });

  const out: KubeObject[] = [];
  const controlPorts = [{ name: CONTROL_PORT_NAME, port: e.spec.controlPort, protocol: "TCP" }];
  if (e.implicitTlsPort !== undefined) controlPorts.push({ name: IMPLICIT_TLS_PORT_NAME, port: e.implicitTlsPort, protocol: "TCP" });
  chunks(usable, MAX_ENDPOINTS_PER_SLICE).forEach((group, i) => {
    out.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: childMeta(fs, i === 0 ? names.controlSlice : `${names.controlSlice}-${i}`, labels("control")),
      addressType: family,
      ...(group.length ? { endpoints: group.map((p) => controlEndpoint(p, ns)) } : {}),
      ports: controlPorts,
    });
  });

  // One pod per slot (the StatefulSet never runs two pods of one ordinal). The slots routed: those
  // in use, plus - with fixed blocks, whose ports never change owner - the block of any pod still
  // running beyond `replicas` (a leaving pod, draining). With the even split a leaving pod's old
  // slice now belongs to the remaining pods, so it keeps only its control endpoint.
  const bySlot = new Map(usable.map((p) => [p.slot, p]));
  const routed = e.configSlices.filter((x) => x.slot < Math.max(e.spec.replicas, 1) || (e.portsPerReplica !== undefined && bySlot.has(x.slot)));
  for (const slice of routed) {
    const ports: { name: string; port: number; protocol: string }[] = [];
    for (let p = slice.portStart; p <= slice.portEnd; p++) ports.push({ name: passivePortName(p), port: p, protocol: "TCP" });
    const pod = bySlot.get(slice.slot);
    chunks(ports, maxPorts).forEach((group, chunk) => {
      out.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: childMeta(fs, names.passiveSlice(slice.slot, chunk), labels("passive", { [SLOT_LABEL]: String(slice.slot) })),
        addressType: family,
        // No pod (yet) for the slot: the slice still exists, with no endpoints, so its ports refuse
        // connections instead of falling through to another pod. (Empty lists are left out: the
        // server stores them as null, which would look like a difference on every resync.)
        ...(pod ? { endpoints: [passiveEndpoint(pod, ns)] } : {}),
        ports: group,
      });
    });
  }
  return out;
}
