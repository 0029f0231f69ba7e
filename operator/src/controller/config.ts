// The server config the operator renders into the ConfigMap (format: the `#server-config` contract, server-image/src/config/contract.ts).
// Pods mount the ConfigMap as a directory (never subPath, which freezes the file), so the kubelet
// refreshes the file and the server hot-reloads it: rule and address changes reach running pods
// without a restart. Nothing derived from this config goes into the pod template.
import { stringify } from "yaml";
import type { ServerConfigInput } from "#server-config";
import type { FtpServer } from "../api/v1alpha1.ts";
import { CONFIG_KEY, DATA_DIR, TLS_DIR, USERS_DIR, childMeta, childNames, type Effective } from "./model.ts";
import type { KubeObject } from "../runtime/types.ts";

export const USERS_FILE = `${USERS_DIR}/users.json`;

export function renderServerConfig(e: Effective, externalAddress: string | null): ServerConfigInput {
  const s = e.spec;
  const cfg: ServerConfigInput = {
    version: 1,
    listen: {
      host: "0.0.0.0",
      controlPort: s.controlPort,
      ...(e.implicitTlsPort !== undefined ? { implicitTlsPort: e.implicitTlsPort } : {}),
    },
    passive: {
      portStart: e.basePort,
      portEnd: e.portEnd,
      ...(e.configSlices.length ? { slices: e.configSlices.map((x) => ({ slot: x.slot, portStart: x.portStart, portEnd: x.portEnd })) } : {}),
      externalAddress,
      addressRules: (s.passive.addressRules ?? []).map((r) => ({ userClass: r.userClass, address: r.address, enabled: r.enabled !== false })),
      ...(s.passive.quarantineSeconds !== undefined ? { quarantineSeconds: s.passive.quarantineSeconds } : {}),
      ...(s.passive.acceptTimeoutSeconds !== undefined ? { acceptTimeoutSeconds: s.passive.acceptTimeoutSeconds } : {}),
      ...(s.passive.sharePorts ? { sharePorts: true } : {}),
    },
    userClasses: (s.userClasses ?? []).map((c) => ({
      name: c.name,
      match: {
        ...(c.match?.userNames ? { userNames: c.match.userNames } : {}),
        ...(c.match?.groups ? { groups: c.match.groups } : {}),
        ...(c.match?.userTypes ? { userTypes: c.match.userTypes } : {}),
        ...(c.match?.fromAddresses ? { fromAddresses: c.match.fromAddresses } : {}),
      },
    })),
    usersFile: USERS_FILE,
    dataConnectionCheck: e.dataConnectionCheck,
    proxyProtocol: {
      enabled: s.proxyProtocol?.enabled ?? false,
      trustedSources: s.proxyProtocol?.trustedSources ?? [],
      onData: s.proxyProtocol?.onData ?? false,
    },
    tls: {
      mode: (s.tls?.mode ?? "None").toLowerCase() as "none" | "explicit" | "implicit" | "both",
      ...(s.tls && s.tls.mode !== "None" ? { certFile: `${TLS_DIR}/tls.crt`, keyFile: `${TLS_DIR}/tls.key` } : {}),
      requireForLogin: s.tls?.requireForLogin ?? false,
      requireForData: s.tls?.requireForData ?? false,
    },
    activeMode: { enabled: s.activeMode },
    storage: renderStorage(s.storage),
    metrics: { host: "0.0.0.0", port: 9100 },
  };
  if (s.greeting !== undefined) cfg.greeting = s.greeting;
  return cfg;
}

/** storage.type S3: the bucket prefix (credentials are not in the config: the pod's env or workload identity). */
function renderStorage(st: Effective["spec"]["storage"]): ServerConfigInput["storage"] {
  const s3 = st?.type === "S3" ? st.s3 : undefined;
  if (!s3) return { root: DATA_DIR };
  return {
    type: "s3",
    root: DATA_DIR,
    s3: {
      ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
      region: s3.region,
      bucket: s3.bucket,
      prefix: s3.prefix ?? "",
      forcePathStyle: s3.forcePathStyle,
      ...(s3.partSizeMiB !== undefined ? { partSizeMiB: s3.partSizeMiB } : {}),
      ...(s3.partBuffers !== undefined ? { partBuffers: s3.partBuffers } : {}),
    },
  };
}

/**
 * Rendered YAML by the config's JSON: YAML rendering was ≈ 8 % of the operator's CPU at 1,000
 * FtpServers (every Pod event re-renders an unchanged config). Bounded: cleared at 4,096 entries.
 */
const yamlMemo = new Map<string, string>();
const YAML_MEMO_MAX = 4096;

/** YAML text of the config (deterministic: same input, same bytes). */
export function renderServerConfigYaml(e: Effective, externalAddress: string | null): string {
  const cfg = renderServerConfig(e, externalAddress);
  const key = JSON.stringify(cfg);
  let text = yamlMemo.get(key);
  if (text === undefined) {
    text = "# Rendered by pasv-operator from the FtpServer; edits are overwritten.\n" + stringify(cfg, { lineWidth: 0 });
    if (yamlMemo.size >= YAML_MEMO_MAX) yamlMemo.clear();
    yamlMemo.set(key, text);
  }
  return text;
}

export function buildConfigMap(fs: FtpServer, e: Effective, externalAddress: string | null): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: childMeta(fs, childNames(fs.metadata.name).config),
    data: { [CONFIG_KEY]: renderServerConfigYaml(e, externalAddress) },
  };
}
