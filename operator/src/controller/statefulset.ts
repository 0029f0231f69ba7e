// The FTP-server workload: a StatefulSet, because port-partitioned routing needs stable slots
// (pod ordinal = slot = passive slice). The pod template holds nothing derived from the rendered
// config (no config hash): rule and address changes are hot-reloaded by the server from the
// mounted ConfigMap, so they never restart a pod or drop a session.
import type { FtpServer } from "../api/v1alpha1.ts";
import { METRICS_PORT } from "../api/v1alpha1.ts";
import type { KubeObject } from "../runtime/types.ts";
import { CONFIG_DIR, DATA_DIR, POD_INDEX_LABEL, TLS_DIR, USERS_DIR, childMeta, childNames, commonLabels, selectorLabels, type Effective } from "./model.ts";
import { canonicalQuantities, canonicalQuantity } from "./quantity.ts";

/** Seconds a terminating pod keeps serving before SIGTERM (see the container's preStop). */
export const PRE_STOP_SECONDS = 5;

export const CONTAINER_NAME = "ftp-server";
/** uid/gid of the server image's user (server-image/Dockerfile). */
export const SERVER_UID = 10001;

export function buildStatefulSet(fs: FtpServer, e: Effective): KubeObject {
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
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    // The image's entrypoint runs `node server-image/src/main.ts --config /etc/pasv/config/config.yaml`.
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

  const antiAffinityTerm = {
    labelSelector: { matchLabels: selectorLabels(name) },
    topologyKey: "kubernetes.io/hostname",
  };
  const affinity =
    s.routing.mode === "ClientIPAffinity"
      ? // One pod per node: with externalTrafficPolicy Local, a node's traffic stays on its only pod.
        { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [antiAffinityTerm] } }
      : { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: antiAffinityTerm }] } };

  const spec: Record<string, unknown> = {
    replicas: s.replicas,
    serviceName: names.service,
    // Slots are independent: start and replace pods in parallel.
    podManagementPolicy: "Parallel",
    selector: { matchLabels: selectorLabels(name) },
    updateStrategy: { type: "RollingUpdate" },
    template: {
      metadata: { labels: commonLabels(name) },
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
        affinity,
        ...(s.storage?.type === "S3" && s.storage.s3?.serviceAccountName ? { serviceAccountName: s.storage.s3.serviceAccountName } : {}),
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
