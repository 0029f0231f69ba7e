// The seed's "make sure the ports are accessible through the firewall; do not use these ports for
// any other service", Kubernetes-style: one NetworkPolicy per FtpServer (spec.networkPolicy,
// default on) selecting its pods and admitting exactly
//   - the control port, the implicit-TLS port and the passive range (one `port`..`endPort` entry),
//     from spec.networkPolicy.ftpFrom CIDRs, or from everywhere when unset;
//   - the metrics port, from spec.networkPolicy.metricsFrom peers, or from any pod in the cluster;
// and letting the pods make only the connections the server needs:
//   - DNS (UDP and TCP 53), when a passive address is a host name the server resolves at PASV time
//     (an address rule with a host name, or `auto` whose load balancer reports a host name);
//   - with activeMode, TCP to the clients (ftpFrom, else anywhere) for PORT/EPRT data connections.
// Replies on admitted connections need no rule (NetworkPolicy is stateful). A pure builder; only
// CNIs that implement NetworkPolicy enforce it (docs/operator.md#networkpolicy).
import { isIP } from "node:net";
import { METRICS_PORT, type FtpServer } from "../api/v1alpha1.ts";
import type { KubeObject } from "../runtime/types.ts";
import { childMeta, selectorLabels, type Effective } from "./model.ts";

interface PolicyPort { protocol: "TCP" | "UDP"; port: number; endPort?: number }
type Peer = Record<string, unknown>;

const EVERYWHERE: Peer[] = [{ ipBlock: { cidr: "0.0.0.0/0" } }, { ipBlock: { cidr: "::/0" } }];

/** Whether the server resolves a host name when it answers PASV (so it needs DNS). */
export function needsDns(e: Effective, externalAddress: string | null): boolean {
  return (e.spec.passive.addressRules ?? []).some((r) => {
    if (r.enabled === false) return false;
    if (r.address === "auto") return externalAddress !== null && isIP(externalAddress) === 0 && e.spec.service.hostnamePolicy === "PassThrough";
    return isIP(r.address) === 0;
  });
}

/** The NetworkPolicy of an FtpServer, or undefined when spec.networkPolicy.enabled is false. */
export function buildNetworkPolicy(fs: FtpServer, e: Effective, externalAddress: string | null): KubeObject | undefined {
  const np = e.spec.networkPolicy;
  if (np?.enabled === false) return undefined;
  const ftpPorts: PolicyPort[] = [{ protocol: "TCP", port: e.spec.controlPort }];
  if (e.implicitTlsPort !== undefined) ftpPorts.push({ protocol: "TCP", port: e.implicitTlsPort });
  ftpPorts.push(e.portEnd > e.basePort ? { protocol: "TCP", port: e.basePort, endPort: e.portEnd } : { protocol: "TCP", port: e.basePort });
  const clients: Peer[] | undefined = np?.ftpFrom?.length ? np.ftpFrom.map((cidr) => ({ ipBlock: { cidr } })) : undefined;
  const scrapers: Peer[] = np?.metricsFrom?.length
    ? np.metricsFrom.map((p) => ({
        namespaceSelector: { matchLabels: { ...p.namespaceSelector?.matchLabels } },
        ...(p.podSelector ? { podSelector: { matchLabels: { ...p.podSelector.matchLabels } } } : {}),
      }))
    : [{ namespaceSelector: {} }];

  const egress: Record<string, unknown>[] = [];
  if (needsDns(e, externalAddress)) egress.push({ ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] });
  // Active mode: the server connects back to the client's PORT/EPRT address, on the port it names.
  if (e.spec.activeMode) egress.push({ to: clients ?? EVERYWHERE, ports: [{ protocol: "TCP", port: 1, endPort: 65535 }] });

  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: childMeta(fs, fs.metadata.name),
    spec: {
      podSelector: { matchLabels: selectorLabels(fs.metadata.name) },
      policyTypes: ["Ingress", "Egress"],
      ingress: [
        { ...(clients ? { from: clients } : {}), ports: ftpPorts },
        { from: scrapers, ports: [{ protocol: "TCP", port: METRICS_PORT }] },
      ],
      egress,
    },
  };
}
