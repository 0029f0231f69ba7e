// The FtpServer API (ftp.pasv.dev/v1alpha1) at run time: names, limits, the cross-field rules
// (each a CEL expression the API server evaluates at admission and its TypeScript twin, see
// rules.ts) and validateSpec, which the reconciler runs on every object it reads (an object
// stored before a rule existed gets a clear condition, never a crash). The schema itself is
// defined with zod in schema/ftpserver.ts (types, CRD); at run time it is checked with the JSON
// Schema generated from it (generated/validation.ts), so the operator never loads zod.
import { compileSchema } from "#server-config";
import { ftpServerSpecJsonSchema } from "./generated/validation.ts";
import { IP_WILDCARD_RE, isAddressForm, isCidr, type CrossRule } from "./rules.ts";
import type { Passive, ServiceSpec, Spec, Storage, Tls } from "./schema/ftpserver.ts";

export type {
  Condition, FtpServer, FtpServerInput, Passive, ServiceSpec, Spec, SpecInput, Status, Storage, Tls,
  NetworkPolicySpec, PodTemplate, Affinity,
} from "./schema/ftpserver.ts";

export const GROUP = "ftp.pasv.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "FtpServer";
export const PLURAL = "ftpservers";
export const SINGULAR = "ftpserver";
export const SHORT_NAMES = ["ftpsrv"];
export const CATEGORIES = ["pasv", "ftp"];

/** Most passive ports one FtpServer may declare (one Service port each; kube-proxy rules grow with it). */
export const MAX_PASSIVE_PORTS = 10000;
/** The FTP server's Prometheus port inside each pod (server config `metrics.port`). */
export const METRICS_PORT = 9100;
/** Default Kubernetes NodePort range (kube-apiserver --service-node-port-range). */
export const NODEPORT_MIN = 30000;
export const NODEPORT_MAX = 32767;

export const PROVIDERS = ["None", "AWSNLB", "GCP", "Azure", "OCI", "MetalLB"] as const;
export type Provider = (typeof PROVIDERS)[number];

export function passiveRules(): CrossRule<Passive>[] {
  return [
    {
      rule: "has(self.numberOfPorts) || has(self.expectedConcurrentConnections)",
      message: "set numberOfPorts, or expectedConcurrentConnections (numberOfPorts then defaults to 5x it)",
      reason: "FieldValueRequired",
      check: (p) => p.numberOfPorts !== undefined || p.expectedConcurrentConnections !== undefined,
    },
    {
      rule: `(has(self.numberOfPorts) ? self.numberOfPorts : (has(self.expectedConcurrentConnections) ? 5 * self.expectedConcurrentConnections : 1)) <= ${MAX_PASSIVE_PORTS}`,
      message: `the passive range may hold at most ${MAX_PASSIVE_PORTS} ports (5 x expectedConcurrentConnections is too many: set numberOfPorts)`,
      check: (p) => effectivePortCount(p) <= MAX_PASSIVE_PORTS,
    },
    {
      rule: "self.basePort + (has(self.numberOfPorts) ? self.numberOfPorts : (has(self.expectedConcurrentConnections) ? 5 * self.expectedConcurrentConnections : 1)) - 1 <= 65535",
      message: "the passive range must end at or below port 65535 (basePort + numberOfPorts - 1 <= 65535)",
      check: (p) => p.basePort + effectivePortCount(p) - 1 <= 65535,
    },
  ];
}

export function serviceRules(): CrossRule<ServiceSpec>[] {
  return [
    {
      rule: "!has(self.allocateLoadBalancerNodePorts) || self.type == 'LoadBalancer'",
      message: "allocateLoadBalancerNodePorts applies only to type LoadBalancer",
      fieldPath: ".allocateLoadBalancerNodePorts",
      check: (s) => s.allocateLoadBalancerNodePorts === undefined || s.type === "LoadBalancer",
    },
    {
      rule: "(!has(self.loadBalancerClass) && !has(self.loadBalancerSourceRanges)) || self.type == 'LoadBalancer'",
      message: "loadBalancerClass and loadBalancerSourceRanges apply only to type LoadBalancer",
      check: (s) => (s.loadBalancerClass === undefined && s.loadBalancerSourceRanges === undefined) || s.type === "LoadBalancer",
    },
    {
      rule: "!has(self.externalTrafficPolicy) || self.type != 'ClusterIP'",
      message: "externalTrafficPolicy applies only to types NodePort and LoadBalancer",
      fieldPath: ".externalTrafficPolicy",
      check: (s) => s.externalTrafficPolicy === undefined || s.type !== "ClusterIP",
    },
    {
      rule: `!has(self.controlNodePort) || (self.type == 'NodePort' && self.controlNodePort >= ${NODEPORT_MIN} && self.controlNodePort <= ${NODEPORT_MAX})`,
      message: `controlNodePort needs type NodePort and a port in ${NODEPORT_MIN}-${NODEPORT_MAX}`,
      fieldPath: ".controlNodePort",
      check: (s) =>
        s.controlNodePort === undefined || (s.type === "NodePort" && s.controlNodePort >= NODEPORT_MIN && s.controlNodePort <= NODEPORT_MAX),
    },
    {
      rule: "!has(self.sharedIPKey) || self.provider == 'MetalLB'",
      message: "sharedIPKey is a MetalLB setting: set provider MetalLB",
      fieldPath: ".sharedIPKey",
      check: (s) => s.sharedIPKey === undefined || s.provider === "MetalLB",
    },
  ];
}

export function tlsRules(): CrossRule<Tls>[] {
  return [
    {
      rule: "self.mode == 'None' || has(self.secretName)",
      message: "tls.secretName is required when tls.mode is not None",
      fieldPath: ".secretName",
      reason: "FieldValueRequired",
      check: (t) => t.mode === "None" || t.secretName !== undefined,
    },
  ];
}

export function storageRules(): CrossRule<Storage>[] {
  return [
    {
      rule: "self.type != 'PersistentVolumeClaim' || has(self.size)",
      message: "storage.size is required for PersistentVolumeClaim",
      fieldPath: ".size",
      reason: "FieldValueRequired",
      check: (s) => s.type !== "PersistentVolumeClaim" || s.size !== undefined,
    },
    {
      rule: "(self.type == 'S3') == has(self.s3)",
      message: "storage.s3 is required for type S3 and only allowed with it",
      fieldPath: ".s3",
      reason: "FieldValueRequired",
      check: (s) => (s.type === "S3") === (s.s3 !== undefined),
    },
    {
      rule: "self.type != 'SharedClaim' || has(self.claimName)",
      message: "storage.claimName is required for SharedClaim (an existing ReadWriteMany PersistentVolumeClaim)",
      fieldPath: ".claimName",
      reason: "FieldValueRequired",
      check: (s) => s.type !== "SharedClaim" || s.claimName !== undefined,
    },
    {
      rule: "self.type == 'SharedClaim' || (!has(self.claimName) && !has(self.subPath))",
      message: "storage.claimName and storage.subPath apply only to type SharedClaim",
      reason: "FieldValueForbidden",
      check: (s) => s.type === "SharedClaim" || (s.claimName === undefined && s.subPath === undefined),
    },
    {
      rule: "self.type != 'SharedClaim' || (!has(self.size) && !has(self.storageClassName))",
      message: "storage.size and storage.storageClassName do not apply to SharedClaim (the existing claim has its own)",
      reason: "FieldValueForbidden",
      check: (s) => s.type !== "SharedClaim" || (s.size === undefined && s.storageClassName === undefined),
    },
  ];
}

/** Label keys the operator owns on its pods (selectors, the StatefulSet's own); spec.podTemplate may not set them. */
export const RESERVED_POD_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/managed-by",
  "apps.kubernetes.io/pod-index",
  "statefulset.kubernetes.io/pod-name",
  "controller-revision-hash",
] as const;
/** Every key under this prefix is the operator's (ftp.pasv.dev/server selects the pods). */
export const RESERVED_LABEL_PREFIX = `${GROUP}/`;
export const RESERVED_LABELS_MESSAGE = `spec.podTemplate.metadata.labels must not set the operator's labels (${RESERVED_POD_LABELS.join(", ")} or any ${RESERVED_LABEL_PREFIX}* key): they select this FtpServer's pods`;

export function isReservedPodLabel(key: string): boolean {
  return (RESERVED_POD_LABELS as readonly string[]).includes(key) || key.startsWith(RESERVED_LABEL_PREFIX);
}
export const RESERVED_LABELS_CEL = `!self.exists(k, k in [${RESERVED_POD_LABELS.map((k) => `'${k}'`).join(", ")}] || k.startsWith('${RESERVED_LABEL_PREFIX}'))`;

export function specRules(): CrossRule<Spec>[] {
  const end = `(self.passive.basePort + (has(self.passive.numberOfPorts) ? self.passive.numberOfPorts : (has(self.passive.expectedConcurrentConnections) ? 5 * self.passive.expectedConcurrentConnections : 1)) - 1)`;
  const outside = (p: string) => `(${p} < self.passive.basePort || ${p} > ${end})`;
  const implicitOn = "(has(self.tls) && (self.tls.mode == 'Implicit' || self.tls.mode == 'Both'))";
  return [
    {
      rule: outside("self.controlPort"),
      message: "controlPort must lie outside the passive range basePort..portEnd",
      fieldPath: ".controlPort",
      check: (s) => outsideRange(s.controlPort, s.passive),
    },
    {
      rule: outside(String(METRICS_PORT)),
      message: `the passive range must not include port ${METRICS_PORT} (the FTP server's metrics port)`,
      fieldPath: ".passive.basePort",
      check: (s) => outsideRange(METRICS_PORT, s.passive),
    },
    {
      rule: `self.controlPort != ${METRICS_PORT}`,
      message: `controlPort must not be ${METRICS_PORT} (the FTP server's metrics port)`,
      fieldPath: ".controlPort",
      check: (s) => s.controlPort !== METRICS_PORT,
    },
    {
      rule: `!${implicitOn} || (${outside("self.tls.implicitPort")} && self.tls.implicitPort != self.controlPort && self.tls.implicitPort != ${METRICS_PORT})`,
      message: "tls.implicitPort must differ from controlPort and the metrics port and lie outside the passive range",
      fieldPath: ".tls.implicitPort",
      check: (s) => {
        if (!s.tls || (s.tls.mode !== "Implicit" && s.tls.mode !== "Both")) return true;
        const p = s.tls.implicitPort;
        return outsideRange(p, s.passive) && p !== s.controlPort && p !== METRICS_PORT;
      },
    },
    {
      rule: `self.routing.mode != 'PortPartitioned' || (has(self.passive.numberOfPorts) ? self.passive.numberOfPorts : (has(self.passive.expectedConcurrentConnections) ? 5 * self.passive.expectedConcurrentConnections : 1)) >= self.replicas`,
      message: "PortPartitioned gives each replica its own slice: numberOfPorts must be >= replicas",
      fieldPath: ".replicas",
      check: (s) => s.routing.mode !== "PortPartitioned" || effectivePortCount(s.passive) >= s.replicas,
    },
    {
      rule: `!has(self.passive.portsPerReplica) || self.routing.mode == 'PortPartitioned'`,
      message: "passive.portsPerReplica sets PortPartitioned's fixed port blocks: it does not apply to ClientIPAffinity",
      fieldPath: ".passive.portsPerReplica",
      reason: "FieldValueForbidden",
      check: (s) => s.passive.portsPerReplica === undefined || s.routing.mode === "PortPartitioned",
    },
    {
      rule: `!has(self.passive.portsPerReplica) || self.replicas * self.passive.portsPerReplica <= (has(self.passive.numberOfPorts) ? self.passive.numberOfPorts : (has(self.passive.expectedConcurrentConnections) ? 5 * self.passive.expectedConcurrentConnections : 1))`,
      message: "replicas x passive.portsPerReplica must fit in numberOfPorts (each replica owns a fixed block; the range holds numberOfPorts / portsPerReplica blocks)",
      fieldPath: ".replicas",
      check: (s) => s.passive.portsPerReplica === undefined || s.replicas * s.passive.portsPerReplica <= effectivePortCount(s.passive),
    },
    {
      // Effective check (model.ts effective()): Strict, or Auto where the pod sees client IPs.
      rule:
        "!has(self.passive.sharePorts) || !self.passive.sharePorts || self.dataConnectionCheck == 'Strict' || (self.dataConnectionCheck == 'Auto' && ((has(self.proxyProtocol) && self.proxyProtocol.enabled) || self.service.type == 'ClusterIP' || (has(self.service.externalTrafficPolicy) ? self.service.externalTrafficPolicy == 'Local' : self.routing.mode == 'ClientIPAffinity')))",
      message:
        "passive.sharePorts routes each data connection by its client IP, so the pod must see client IPs: set dataConnectionCheck Strict, or enable proxyProtocol, or use service.externalTrafficPolicy Local (dataConnectionCheck Relaxed cannot share ports)",
      fieldPath: ".passive.sharePorts",
      check: (s) => s.passive.sharePorts !== true || sharePortsSeesClients(s),
    },
    {
      rule: "!has(self.podTemplate) || !has(self.podTemplate.spec) || !has(self.podTemplate.spec.serviceAccountName) || !has(self.storage) || !has(self.storage.s3) || !has(self.storage.s3.serviceAccountName) || self.podTemplate.spec.serviceAccountName == self.storage.s3.serviceAccountName",
      message: "podTemplate.spec.serviceAccountName and storage.s3.serviceAccountName name the pods' one ServiceAccount: set one of them, or the same name in both",
      fieldPath: ".podTemplate.spec.serviceAccountName",
      check: (s) => {
        const a = s.podTemplate?.spec?.serviceAccountName;
        const b = s.storage?.s3?.serviceAccountName;
        return a === undefined || b === undefined || a === b;
      },
    },
    {
      rule: `self.service.type != 'NodePort' || (self.passive.basePort >= ${NODEPORT_MIN} && ${end} <= ${NODEPORT_MAX})`,
      message: `with service.type NodePort each passive port is also its nodePort: the range must lie in ${NODEPORT_MIN}-${NODEPORT_MAX}`,
      fieldPath: ".passive.basePort",
      check: (s) =>
        s.service.type !== "NodePort" ||
        (s.passive.basePort >= NODEPORT_MIN && s.passive.basePort + effectivePortCount(s.passive) - 1 <= NODEPORT_MAX),
    },
  ];
}

/** numberOfPorts, or 5 x expectedConcurrentConnections when omitted. */
export function effectivePortCount(p: Pick<Passive, "numberOfPorts" | "expectedConcurrentConnections">): number {
  return p.numberOfPorts ?? (p.expectedConcurrentConnections !== undefined ? 5 * p.expectedConcurrentConnections : 1);
}

export function portEnd(p: Passive): number {
  return p.basePort + effectivePortCount(p) - 1;
}

function outsideRange(x: number, p: Passive): boolean {
  return x < p.basePort || x > portEnd(p);
}

/** Whether the data-connection check in effect is strict (same decision as controller/model.ts effective()). */
function sharePortsSeesClients(s: Spec): boolean {
  if (s.dataConnectionCheck === "Strict") return true;
  if (s.dataConnectionCheck === "Relaxed") return false;
  const policy = s.service.externalTrafficPolicy ?? (s.routing.mode === "ClientIPAffinity" ? "Local" : "Cluster");
  return s.proxyProtocol?.enabled === true || s.service.type === "ClusterIP" || policy === "Local";
}

/** All cross-field rules with the object path they apply to (for tests and for runtime validation). */
export const crossRules = {
  passive: passiveRules(),
  service: serviceRules(),
  tls: tlsRules(),
  storage: storageRules(),
  spec: specRules(),
};

/** Leaf checks CEL does per field (address form, CIDRs); TypeScript twins. */
function leafProblems(s: Spec): string[] {
  const out: string[] = [];
  (s.passive.addressRules ?? []).forEach((r, i) => {
    if (!isAddressForm(r.address)) out.push(`spec.passive.addressRules[${i}].address: address must be \`auto\`, an IPv4/IPv6 address or a DNS host name`);
  });
  (s.userClasses ?? []).forEach((c, i) => {
    (c.match?.fromAddresses ?? []).forEach((a, j) => {
      if (!isCidr(a) && !new RegExp(IP_WILDCARD_RE).test(a))
        out.push(`spec.userClasses[${i}].match.fromAddresses[${j}]: must be a CIDR or an IP wildcard`);
    });
  });
  (s.service.loadBalancerSourceRanges ?? []).forEach((c, i) => {
    if (!isCidr(c)) out.push(`spec.service.loadBalancerSourceRanges[${i}]: must be a CIDR`);
  });
  (s.proxyProtocol?.trustedSources ?? []).forEach((c, i) => {
    if (!isCidr(c)) out.push(`spec.proxyProtocol.trustedSources[${i}]: must be a CIDR`);
  });
  for (const k of Object.keys(s.podTemplate?.metadata?.labels ?? {})) {
    if (isReservedPodLabel(k)) out.push(`${RESERVED_LABELS_MESSAGE} (got ${k})`);
  }
  const names = new Set<string>();
  for (const c of s.userClasses ?? []) {
    if (names.has(c.name)) out.push(`spec.userClasses: duplicate class name ${c.name}`);
    names.add(c.name);
  }
  return out;
}

export type ParseResult = { ok: true; spec: Spec } | { ok: false; problems: string[] };

const specValidator = compileSchema<Spec>(ftpServerSpecJsonSchema, "spec");

/**
 * Parse and validate a spec the way admission would (schema + every cross-field rule), filling
 * the schema's defaults. Used by the reconciler: an invalid stored object becomes Stalled with
 * these messages.
 */
export function validateSpec(raw: unknown): ParseResult {
  const parsed = specValidator.validate(raw);
  if (!parsed.ok) return { ok: false, problems: parsed.problems };
  const s = parsed.value;
  const problems: string[] = [];
  const run = <T>(rules: CrossRule<T>[], self: T | undefined, at: string) => {
    if (self === undefined) return;
    for (const r of rules) if (!r.check(self)) problems.push(`${at}: ${r.message}`);
  };
  run(crossRules.passive, s.passive, "spec.passive");
  run(crossRules.service, s.service, "spec.service");
  run(crossRules.tls, s.tls, "spec.tls");
  run(crossRules.storage, s.storage, "spec.storage");
  run(crossRules.spec, s, "spec");
  problems.push(...leafProblems(s));
  return problems.length ? { ok: false, problems } : { ok: true, spec: s };
}
