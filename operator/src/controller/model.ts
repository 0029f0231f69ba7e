// Names, labels and the "effective" spec (defaults the CRD cannot express: numberOfPorts = 5x,
// routing-dependent traffic policy, the data-connection check) shared by every builder.
import { API_VERSION, KIND, effectivePortCount, type FtpServer, type Spec } from "../api/v1alpha1.ts";
import type { KubeObject, OwnerReference } from "../runtime/types.ts";

export const OPERATOR_NAME = "pasv-operator";
/** EndpointSlice managed-by value: tells the EndpointSlice controller these slices are ours. */
export const ENDPOINTSLICE_MANAGED_BY = "pasv-operator.ftp.pasv.dev";
/** Label carrying the owning FtpServer's name on every child (informer → work-queue key). */
export const SERVER_LABEL = "ftp.pasv.dev/server";
/** Label on EndpointSlices: control | passive. */
export const ROLE_LABEL = "ftp.pasv.dev/role";
/** Label on passive EndpointSlices: the slot (pod ordinal). */
export const SLOT_LABEL = "ftp.pasv.dev/slot";
/** StatefulSet pod-index label (Kubernetes >= 1.28); the server reads it as PASV_SLOT. */
export const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";

export const CONFIG_KEY = "config.yaml";
export const CONFIG_DIR = "/etc/pasv/config";
export const USERS_DIR = "/etc/pasv/users";
export const TLS_DIR = "/etc/pasv/tls";
export const DATA_DIR = "/data";

export function childNames(name: string) {
  return {
    service: name,
    config: `${name}-config`,
    /** operator-owned Secret: the users file the pods read (spec.users' file + the FtpUsers; ftpusers.ts) */
    effectiveUsers: `${name}-users-effective`,
    statefulSet: name,
    controlSlice: `${name}-control`,
    passiveSlice: (slot: number, chunk: number) => `${name}-pasv-${slot}-${chunk}`,
  };
}

export function selectorLabels(name: string): Record<string, string> {
  return { "app.kubernetes.io/name": "ftp-server", "app.kubernetes.io/instance": name, [SERVER_LABEL]: name };
}

export function commonLabels(name: string): Record<string, string> {
  return { ...selectorLabels(name), "app.kubernetes.io/managed-by": OPERATOR_NAME };
}

export function ownerRef(fs: FtpServer): OwnerReference {
  if (!fs.metadata.uid) throw new Error(`FtpServer ${fs.metadata.name} has no uid`);
  return { apiVersion: API_VERSION, kind: KIND, name: fs.metadata.name, uid: fs.metadata.uid, controller: true, blockOwnerDeletion: true };
}

export function childMeta(fs: FtpServer, name: string, extraLabels: Record<string, string> = {}): NonNullable<KubeObject["metadata"]> {
  return {
    name,
    namespace: fs.metadata.namespace ?? "default",
    labels: { ...commonLabels(fs.metadata.name), ...extraLabels },
    ownerReferences: [ownerRef(fs)],
  };
}

export interface Slice {
  slot: number;
  portStart: number;
  portEnd: number;
}

/** The spec with every derived default filled in: what the builders and the status work from. */
export interface Effective {
  spec: Spec;
  basePort: number;
  numberOfPorts: number;
  portEnd: number;
  /** PortPartitioned: the slices of the slots in use (one per replica); ClientIPAffinity: none (every pod uses the whole range). */
  slices: Slice[];
  /**
   * The slices the server config lists. Fixed blocks (passive.portsPerReplica): every block of the
   * range, so the config does not change with `replicas` and a new pod finds its block in whatever
   * version of the ConfigMap the kubelet mounted. Even split: the same as `slices`.
   */
  configSlices: Slice[];
  /** passive.portsPerReplica: fixed blocks whose owner never changes; undefined = even split. */
  portsPerReplica: number | undefined;
  externalTrafficPolicy: "Cluster" | "Local" | undefined;
  dataConnectionCheck: "strict" | "relaxed";
  implicitTlsPort: number | undefined;
}

/**
 * Split `count` ports from `base` into `slots` contiguous slices; the first `count % slots`
 * slices get one port more. Slot i's slice depends only on (base, count, slots), so a pod keeps its
 * ports across operator restarts.
 */
export function partition(base: number, count: number, slots: number): Slice[] {
  if (slots <= 0) return [];
  const per = Math.floor(count / slots);
  const extra = count % slots;
  const out: Slice[] = [];
  let start = base;
  for (let slot = 0; slot < slots; slot++) {
    const size = per + (slot < extra ? 1 : 0);
    if (size === 0) break;
    out.push({ slot, portStart: start, portEnd: start + size - 1 });
    start += size;
  }
  return out;
}

/**
 * Fixed blocks of `size` ports from `base`: slot i owns base + i x size .. base + (i + 1) x size - 1,
 * independent of the replica count (scaling adds or removes whole blocks; no port changes owner).
 * Ports after the last whole block are not handed out.
 */
export function fixedBlocks(base: number, count: number, size: number): Slice[] {
  const out: Slice[] = [];
  if (size <= 0) return out;
  for (let slot = 0; (slot + 1) * size <= count; slot++) {
    out.push({ slot, portStart: base + slot * size, portEnd: base + (slot + 1) * size - 1 });
  }
  return out;
}

export function effective(spec: Spec): Effective {
  const numberOfPorts = effectivePortCount(spec.passive);
  const basePort = spec.passive.basePort;
  const pp = spec.routing.mode === "PortPartitioned";
  const svcType = spec.service.type;
  const externalTrafficPolicy = svcType === "ClusterIP" ? undefined : (spec.service.externalTrafficPolicy ?? (pp ? "Cluster" : "Local"));
  let check: "strict" | "relaxed";
  if (spec.dataConnectionCheck === "Strict") check = "strict";
  else if (spec.dataConnectionCheck === "Relaxed") check = "relaxed";
  else {
    // Auto: strict only when the pod sees the client's own IP.
    const seesClient = spec.proxyProtocol?.enabled === true || svcType === "ClusterIP" || externalTrafficPolicy === "Local";
    check = seesClient ? "strict" : "relaxed";
  }
  const tlsMode = spec.tls?.mode ?? "None";
  const portsPerReplica = pp ? spec.passive.portsPerReplica : undefined;
  const replicas = Math.max(spec.replicas, 1);
  const configSlices = !pp
    ? []
    : portsPerReplica !== undefined
      ? fixedBlocks(basePort, numberOfPorts, portsPerReplica)
      : partition(basePort, numberOfPorts, replicas);
  return {
    spec,
    basePort,
    numberOfPorts,
    portEnd: basePort + numberOfPorts - 1,
    slices: configSlices.filter((x) => x.slot < replicas),
    configSlices,
    portsPerReplica,
    externalTrafficPolicy,
    dataConnectionCheck: check,
    implicitTlsPort: tlsMode === "Implicit" || tlsMode === "Both" ? spec.tls?.implicitPort : undefined,
  };
}

/** Every port the Service exposes (control, implicit TLS, passive), in Service order. */
export function servicePortCount(e: Effective): number {
  return 1 + (e.implicitTlsPort !== undefined ? 1 : 0) + e.numberOfPorts;
}
