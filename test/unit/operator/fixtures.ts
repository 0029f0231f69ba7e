/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access -- test fixtures poke at plain JSON */
// Shared fixtures for the operator's unit tests.
import type { FtpServer, SpecInput } from "../../../operator/src/api/v1alpha1.ts";
import { ftpServerSchema } from "../../../operator/src/api/schema/ftpserver.ts";

export function ftpServer(spec: Partial<SpecInput> = {}, name = "ftp"): FtpServer {
  return ftpServerSchema.parse({
    apiVersion: "ftp.pasv.dev/v1alpha1",
    kind: "FtpServer",
    metadata: { name, namespace: "files", uid: "00000000-0000-4000-8000-000000000001", generation: 3 },
    spec: {
      passive: { basePort: 30000, numberOfPorts: 10 },
      users: { secretName: "ftp-users" },
      ...spec,
    },
  });
}

export const validBase = { passive: { basePort: 30000, numberOfPorts: 10 }, users: { secretName: "u" } };
const withSpec = (patch: (s: Record<string, any>) => void) => {
  const s = structuredClone(validBase) as Record<string, any>;
  patch(s);
  return s;
};

/**
 * Invalid specs: [name, spec, what the operator says, what admission says (defaults to the same)].
 * The integration test sends each to a real API server.
 */
export const INVALID: [string, Record<string, unknown>, RegExp, RegExp?][] = [
  ["no size", withSpec((s) => delete s.passive.numberOfPorts), /numberOfPorts, or expectedConcurrentConnections/],
  ["range past 65535", withSpec((s) => (s.passive = { basePort: 65530, numberOfPorts: 10 })), /at or below port 65535/],
  ["5x default past 65535", withSpec((s) => (s.passive = { basePort: 65000, expectedConcurrentConnections: 200 })), /65535/],
  ["control port inside", withSpec((s) => (s.controlPort = 30005)), /controlPort must lie outside/],
  ["metrics port inside", withSpec((s) => (s.passive = { basePort: 9000, numberOfPorts: 200 })), /9100/],
  ["partition too small", withSpec((s) => ((s.replicas = 5), (s.passive.numberOfPorts = 3))), /numberOfPorts must be >= replicas/],
  ["bad address", withSpec((s) => (s.passive.addressRules = [{ userClass: "*", address: "not an address!" }])), /address must be/],
  ["numeric non-IP", withSpec((s) => (s.passive.addressRules = [{ userClass: "*", address: "999.1.1.1" }])), /address must be/],
  ["bad pattern", withSpec((s) => (s.passive.addressRules = [{ userClass: "a b", address: "auto" }])), /pattern/, /userClass.*should match/],
  ["tls without secret", withSpec((s) => (s.tls = { mode: "Explicit" })), /secretName is required/],
  ["implicit port = control", withSpec((s) => ((s.tls = { mode: "Implicit", secretName: "t", implicitPort: 21 }))), /implicitPort must differ/],
  ["nodeport range", withSpec((s) => ((s.service = { type: "NodePort" }), (s.passive.basePort = 10000))), /NodePort range|30000-32767/],
  ["alloc on ClusterIP", withSpec((s) => (s.service = { type: "ClusterIP", allocateLoadBalancerNodePorts: false })), /only to type LoadBalancer/],
  ["etp on ClusterIP", withSpec((s) => (s.service = { type: "ClusterIP", externalTrafficPolicy: "Local" })), /externalTrafficPolicy applies/],
  ["bad source range", withSpec((s) => (s.service = { type: "LoadBalancer", loadBalancerSourceRanges: ["203.0.113.0"] })), /CIDR/],
  ["pvc without size", withSpec((s) => (s.storage = { type: "PersistentVolumeClaim" })), /storage.size is required/],
  ["S3 without s3", withSpec((s) => (s.storage = { type: "S3" })), /storage.s3 is required for type S3/],
  ["s3 with EmptyDir", withSpec((s) => (s.storage = { type: "EmptyDir", s3: { bucket: "files" } })), /storage.s3 is required for type S3 and only allowed/],
  ["bad bucket", withSpec((s) => (s.storage = { type: "S3", s3: { bucket: "Not_A_Bucket" } })), /S3 bucket name/, /bucket.*should match/],
  ["duplicate class", withSpec((s) => (s.userClasses = [{ name: "a" }, { name: "a" }])), /duplicate/, /[Dd]uplicate value/],
  ["bad fromAddress", withSpec((s) => (s.userClasses = [{ name: "a", match: { fromAddresses: ["partner.example"] } }])), /CIDR or an IP wildcard/],
  ["sharedIPKey without MetalLB", withSpec((s) => (s.service = { type: "LoadBalancer", sharedIPKey: "k" })), /MetalLB/],
  ["SharedClaim without claimName", withSpec((s) => (s.storage = { type: "SharedClaim" })), /claimName is required for SharedClaim/],
  ["claimName on EmptyDir", withSpec((s) => (s.storage = { type: "EmptyDir", claimName: "files" })), /apply only to type SharedClaim/],
  ["SharedClaim with a size", withSpec((s) => (s.storage = { type: "SharedClaim", claimName: "files", size: "1Gi" })), /do not apply to SharedClaim/],
  ["subPath escaping the claim", withSpec((s) => (s.storage = { type: "SharedClaim", claimName: "files", subPath: "ftp/../other" })), /relative path without/, /subPath.*should match/],
  ["absolute subPath", withSpec((s) => (s.storage = { type: "SharedClaim", claimName: "files", subPath: "/ftp" })), /relative path without/, /subPath.*should match/],
  ["blocks do not fit", withSpec((s) => ((s.replicas = 4), (s.passive.portsPerReplica = 3))), /replicas x passive.portsPerReplica must fit/],
  ["portsPerReplica with ClientIPAffinity", withSpec((s) => ((s.routing = { mode: "ClientIPAffinity" }), (s.passive.portsPerReplica = 2))), /does not apply to ClientIPAffinity/],
  ["port 0", withSpec((s) => (s.passive.basePort = 0)), /basePort/, /basePort.*should be greater than or equal to 1/],
  ["sharePorts behind SNAT", withSpec((s) => (s.passive.sharePorts = true)), /sharePorts routes each data connection by its client IP/],
  // spec.podTemplate
  ["pod label that selects the pods", withSpec((s) => (s.podTemplate = { metadata: { labels: { "app.kubernetes.io/instance": "other" } } })), /must not set the operator's labels/],
  ["pod label under ftp.pasv.dev/", withSpec((s) => (s.podTemplate = { metadata: { labels: { "ftp.pasv.dev/server": "other" } } })), /must not set the operator's labels/],
  ["pod-index label", withSpec((s) => (s.podTemplate = { metadata: { labels: { "apps.kubernetes.io/pod-index": "7" } } })), /must not set the operator's labels/],
  ["pod label key with a space", withSpec((s) => (s.podTemplate = { metadata: { labels: { "team name": "a" } } })), /keys must be qualified names/],
  ["pod label value too long", withSpec((s) => (s.podTemplate = { metadata: { labels: { team: "x".repeat(64) } } })), /63/, /labels.team.*(Too long|63)/],
  ["pod annotation key with two slashes", withSpec((s) => (s.podTemplate = { metadata: { annotations: { "a/b/c": "x" } } })), /keys must be qualified names/],
  ["nodeSelector key invalid", withSpec((s) => (s.podTemplate = { spec: { nodeSelector: { "-bad": "x" } } })), /keys must be qualified names/],
  ["toleration with an unknown effect", withSpec((s) => (s.podTemplate = { spec: { tolerations: [{ key: "k", effect: "Sometimes" }] } })), /effect/, /effect.*Unsupported value/],
  ["spread without whenUnsatisfiable", withSpec((s) => (s.podTemplate = { spec: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname" }] } })), /whenUnsatisfiable/, /whenUnsatisfiable.*Required/],
  ["two different ServiceAccounts", withSpec((s) => ((s.storage = { type: "S3", s3: { bucket: "files", serviceAccountName: "s3-reader" } }), (s.podTemplate = { spec: { serviceAccountName: "other" } }))), /name the pods' one ServiceAccount/],
  ["sharePorts with Relaxed", withSpec((s) => ((s.passive.sharePorts = true), (s.dataConnectionCheck = "Relaxed"), (s.service = { type: "ClusterIP" }))), /sharePorts routes each data connection/],
];

/** One value for every field of spec.podTemplate (the integration test applies the same). */
export const EVERY_FIELD = {
  metadata: { labels: { team: "storage", "example.com/tier": "gold" }, annotations: { "example.com/owner": "ops@example.com", note: "" } },
  spec: {
    imagePullSecrets: [{ name: "registry-a" }, { name: "registry-b" }],
    nodeSelector: { "kubernetes.io/os": "linux", pool: "ftp" },
    tolerations: [
      { key: "dedicated", operator: "Equal", value: "ftp", effect: "NoSchedule" },
      { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 },
    ],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64", "arm64"] }] }],
        },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: "disk", operator: "In", values: ["ssd"] }] } }],
      },
      podAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 5, podAffinityTerm: { labelSelector: { matchLabels: { app: "cache" } }, topologyKey: "topology.kubernetes.io/zone" } },
        ],
      },
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["noisy"] }] }, topologyKey: "kubernetes.io/hostname" }],
      },
    },
    topologySpreadConstraints: [{ maxSkew: 2, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule", minDomains: 2, nodeTaintsPolicy: "Honor" }],
    priorityClassName: "ftp-critical",
    serviceAccountName: "ftp-pods",
  },
} as const;
