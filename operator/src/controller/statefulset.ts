// The FTP-server workload: a StatefulSet, because port-partitioned routing needs stable slots
// (pod ordinal = slot = passive slice). The pod template holds nothing derived from the rendered
// config (no config hash): rule and address changes are hot-reloaded by the server from the
// mounted ConfigMap, so they never restart a pod or drop a session.
import type { Affinity, FtpServer, PodTemplate } from "../api/v1alpha1.ts";
import { METRICS_PORT } from "../api/v1alpha1.ts";
import type { KubeObject } from "../runtime/types.ts";
import { CONFIG_DIR, DATA_DIR, POD_INDEX_LABEL, TLS_DIR, USERS_DIR, childMeta, childNames, commonLabels, selectorLabels, type Effective } from "./model.ts";
import { canonicalQuantities, canonicalQuantity } from "./quantity.ts";
import { DEFAULT_FTP_SERVER_IMAGE } from "../version.ts";

/** Seconds a terminating pod keeps serving before SIGTERM (see the container's preStop). */
export const PRE_STOP_SECONDS = 5;

export const CONTAINER_NAME = "ftp-server";
/** uid/gid of the server image's user (server-image/Dockerfile). */
export const SERVER_UID = 10001;

/** `defaultServerImage`: the operator's --ftp-server-image, for FtpServers without spec.image. */
export function buildStatefulSet(fs: FtpServer, e: Effective, opts: { defaultServerImage?: string } = {}): KubeObject {
  const s = e.spec;
  const name = fs.metadata.name;
  const names = childNames(name);
  const pvc = s.storage?.type === "PersistentVolumeClaim";
  const shared = s.storage?.type === "SharedClaim" ? s.storage : undefined;

  const ports: Record<string, unknown>[] = [{ name: "ftp", containerPort: s.controlPort, protocol: "TCP" }];
  if (e.implicitTlsPort !== undefined) ports.push({ name: "ftps", containerPort: e.implicitTlsPort, protocol: "TCP" });
  ports.push({ name: "metrics", containerPort: METRICS_PORT, protocol: "TCP" });

  const volumeMounts: Record<string, unknown>[] = [
    { name: "config", mountPath: CONFIG_DIR, readOnly: true },
    { name: "users", mountPath: USERS_DIR, readOnly: true },
    // SharedClaim: every replica mounts the same ReadWriteMany claim (optionally a directory of it).
    { name: "data", mountPath: DATA_DIR, ...(shared?.subPath ? { subPath: shared.subPath } : {}) },
    { name: "tmp", mountPath: "/tmp" },
  ];
  const volumes: Record<string, unknown>[] = [
    // Whole-directory mounts (no subPath): the kubelet swaps the files atomically and the server reloads.
    { name: "config", configMap: { name: names.config } },
    // The operator-owned merge of spec.users' file and the FtpUsers (ftpusers.ts), not spec.users itself.
    { name: "users", secret: { secretName: names.effectiveUsers, items: [{ key: "users.json", path: "users.json" }] } },
    { name: "tmp", emptyDir: {} },
  ];
  if (s.tls && s.tls.mode !== "None" && s.tls.secretName) {
    volumeMounts.push({ name: "tls", mountPath: TLS_DIR, readOnly: true });
    volumes.push({ name: "tls", secret: { secretName: s.tls.secretName } });
  }
  if (shared?.claimName) volumes.push({ name: "data", persistentVolumeClaim: { claimName: shared.claimName } });
  else if (!pvc) volumes.push({ name: "data", emptyDir: s.storage?.size ? { sizeLimit: canonicalQuantity(s.storage.size) } : {} });

  const container: Record<string, unknown> = {
    name: CONTAINER_NAME,
    // spec.image pins an image; without it the operator's default runs, so upgrading the operator
    // (a new --ftp-server-image) rolls these pods with no edit to the FtpServer.
    image: s.image ?? opts.defaultServerImage ?? DEFAULT_FTP_SERVER_IMAGE,
    imagePullPolicy: s.imagePullPolicy,
    // The image's entrypoint runs `node [flags] server-image/src/main.js --config /etc/pasv/config/config.yaml` (compiled).
    env: [
      // The pod's slot = StatefulSet ordinal; the server picks passive.slices[slot] by it.
      { name: "PASV_SLOT", valueFrom: { fieldRef: { fieldPath: `metadata.labels['${POD_INDEX_LABEL}']` } } },
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      ...s3CredentialsEnv(s.storage),
    ],
    ports,
    readinessProbe: { tcpSocket: { port: s.controlPort }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { tcpSocket: { port: s.controlPort }, periodSeconds: 20, failureThreshold: 3 },
    // Keep serving while the pod's endpoints are withdrawn: the operator marks them terminating at
    // once, but kube-proxy applies that a few seconds later (measured 2-3 s in e2e). Without this
    // delay the server would stop listening on SIGTERM while new connections still arrive.
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SECONDS } } },
    volumeMounts,
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    // The server writes its fatal start error to /dev/termination-log; the log tail otherwise.
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
  if (s.resources && (s.resources.requests || s.resources.limits)) {
    container.resources = {
      // canonical form ("1000m" → "1"), as the server stores it: otherwise every resync re-applies
      ...(s.resources.requests ? { requests: canonicalQuantities(s.resources.requests) } : {}),
      ...(s.resources.limits ? { limits: canonicalQuantities(s.resources.limits) } : {}),
    };
  }

  const pod = podSettings(fs, e);

  const spec: Record<string, unknown> = {
    replicas: s.replicas,
    serviceName: names.service,
    // Slots are independent: start and replace pods in parallel.
    podManagementPolicy: "Parallel",
    selector: { matchLabels: selectorLabels(name) },
    updateStrategy: { type: "RollingUpdate" },
    template: {
      metadata: pod.metadata,
      spec: {
        // preStop delay, then the server drains for up to 30 s (drainGraceSeconds) on SIGTERM.
        terminationGracePeriodSeconds: PRE_STOP_SECONDS + 40,
        enableServiceLinks: false,
        // Pod Security "restricted": no API token in the pod (the server never calls the API),
        // the runtime's default seccomp profile, non-root, no capabilities, no privilege escalation.
        automountServiceAccountToken: false,
        securityContext: {
          seccompProfile: { type: "RuntimeDefault" },
          runAsNonRoot: true,
          runAsUser: SERVER_UID,
          runAsGroup: SERVER_UID,
          fsGroup: SERVER_UID,
          // Lets the non-root server bind port 21 (and 990) without capabilities.
          sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }],
        },
        ...pod.spec,
        containers: [container],
        volumes,
      },
    },
  };
  if (pvc && s.storage) {
    spec.volumeClaimTemplates = [
      {
        metadata: { name: "data" },
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: s.storage.size === undefined ? undefined : canonicalQuantity(s.storage.size) } },
          ...(s.storage.storageClassName ? { storageClassName: s.storage.storageClassName } : {}),
        },
      },
    ];
  }
  return { apiVersion: "apps/v1", kind: "StatefulSet", metadata: childMeta(fs, names.statefulSet), spec };
}

/** storage.type S3 with a credentials Secret: the variables the AWS SDK's default chain reads first. */
function s3CredentialsEnv(st: Effective["spec"]["storage"]): Record<string, unknown>[] {
  const c = st?.type === "S3" ? st.s3?.credentialsSecret : undefined;
  if (!c) return [];
  return [
    { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: c.name, key: c.accessKeyIdKey } } },
    { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: c.name, key: c.secretAccessKeyKey } } },
  ];
}

// ---------------------------------------------------------------- pod settings (spec.podTemplate)
// The user's pod settings merged with the operator's. The operator's labels and annotations win
// (admission already refuses the reserved label keys); its own scheduling needs are added to the
// user's, never replaced by them.

type Json = Record<string, unknown>;

/**
 * Spread the replicas across nodes, then zones, counting this FtpServer's pods only. ScheduleAnyway:
 * a soft preference, so a one-node cluster (or one zone, or nodes without the zone label) still
 * schedules every replica. The selector labels are the StatefulSet's own selector: every pod of
 * this FtpServer, whatever its revision (matchLabelKeys pod-template-hash is the Deployment
 * idiom; a StatefulSet replaces pods in place, so the whole set is what must be spread).
 */
export function defaultTopologySpread(name: string): Json[] {
  const labelSelector = { matchLabels: selectorLabels(name) };
  return ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector,
  }));
}

/** template.metadata and the scheduling/identity part of template.spec. */
export function podSettings(fs: FtpServer, e: Effective): { metadata: Json; spec: Json } {
  const name = fs.metadata.name;
  const s = e.spec;
  const pt: PodTemplate | undefined = s.podTemplate;
  const ps = pt?.spec;

  const annotations = { ...(pt?.metadata?.annotations ?? {}) };
  const metadata: Json = {
    labels: { ...(pt?.metadata?.labels ?? {}), ...commonLabels(name) },
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };

  const spec: Json = {};
  if (ps?.imagePullSecrets?.length) spec.imagePullSecrets = ps.imagePullSecrets.map((x) => ({ name: x.name }));
  if (ps?.nodeSelector && Object.keys(ps.nodeSelector).length) spec.nodeSelector = { ...ps.nodeSelector };
  if (ps?.tolerations?.length) spec.tolerations = ps.tolerations.map(withoutEmptyStrings);
  const affinity = mergeAffinity(ps?.affinity, s.routing.mode === "ClientIPAffinity" ? name : undefined);
  if (affinity) spec.affinity = affinity;
  const spread = ps?.topologySpreadConstraints
    ? ps.topologySpreadConstraints.map((c) => ({ ...c, labelSelector: c.labelSelector ?? { matchLabels: selectorLabels(name) } }))
    : defaultTopologySpread(name);
  if (spread.length) spec.topologySpreadConstraints = spread;
  if (ps?.priorityClassName) spec.priorityClassName = ps.priorityClassName;
  // One ServiceAccount (admission refuses two different names): the pod template's, else the S3 one.
  const sa = ps?.serviceAccountName ?? (s.storage?.type === "S3" ? s.storage.s3?.serviceAccountName : undefined);
  if (sa) spec.serviceAccountName = sa;
  return { metadata, spec };
}

/**
 * The user's affinity, plus, for ClientIPAffinity, the operator's required one-pod-per-node term
 * (with externalTrafficPolicy Local a node's traffic must stay on its only pod) appended to the
 * user's required anti-affinity terms: both hold.
 */
function mergeAffinity(user: Affinity | undefined, onePodPerNodeFor: string | undefined): Json | undefined {
  const out = structuredClone(user ?? {}) as Json;
  if (onePodPerNodeFor !== undefined) {
    const anti = (out.podAntiAffinity ?? {}) as Json;
    const required = (anti.requiredDuringSchedulingIgnoredDuringExecution ?? []) as Json[];
    anti.requiredDuringSchedulingIgnoredDuringExecution = [
      ...required,
      { labelSelector: { matchLabels: selectorLabels(onePodPerNodeFor) }, topologyKey: "kubernetes.io/hostname" },
    ];
    out.podAntiAffinity = anti;
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * A toleration without its "" fields: the API server drops empty strings (omitempty), so a stored
 * `value: ""` would never equal the desired one and every resync would re-apply.
 */
function withoutEmptyStrings<T extends object>(o: T): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== "" && v !== undefined));
}
