// The Service clients connect to: the control port plus one ServicePort per passive port
// (Kubernetes has no port ranges, kubernetes/kubernetes#23864), and the provider annotations.
//
// PortPartitioned: no selector. The operator's EndpointSlices decide which pod gets which port
// (kube-proxy merges slices per port name, so `pasv-30007` reaches only the pod whose slice lists it).
// ClientIPAffinity: a selector, sessionAffinity ClientIP, externalTrafficPolicy Local.
import { isIP } from "node:net";
import type { FtpServer, Provider } from "../api/v1alpha1.ts";
import type { KubeObject } from "../runtime/types.ts";
import { childMeta, childNames, selectorLabels, type Effective } from "./model.ts";

export const CONTROL_PORT_NAME = "ftp";
export const IMPLICIT_TLS_PORT_NAME = "ftps";
export const passivePortName = (port: number) => `pasv-${port}`;

export interface ServicePort {
  name: string;
  port: number;
  targetPort: number;
  protocol: "TCP";
  nodePort?: number;
}

/** Annotations a provider preset sets (explicit spec.service.annotations override them). */
export function providerAnnotations(provider: Provider, e: Effective): Record<string, string> {
  const s = e.spec;
  const proxy = s.proxyProtocol?.enabled === true;
  switch (provider) {
    case "AWSNLB":
      return {
        // AWS Load Balancer Controller: NLB with IP targets (routes to pod IPs: allocateLoadBalancerNodePorts false is safe).
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
        // Source-IP stickiness: 2-tuple affinity across listeners (what ClientIPAffinity needs).
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "stickiness.enabled=true,stickiness.type=source_ip",
        ...(proxy ? { "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*" } : {}),
      };
    case "GCP":
      // Backend-service based external passthrough NLB; Service sessionAffinity ClientIP becomes CLIENT_IP (2-tuple).
      return { "cloud.google.com/l4-rbs": "enabled" };
    case "Azure":
      // sessionAffinity ClientIP maps to SourceIP distribution. Idle control connections during long
      // transfers must outlive the LB's idle timeout (default 4 min): raise it to 30.
      return { "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout": "30" };
    case "OCI":
      return {
        "oci.oraclecloud.com/load-balancer-type": "nlb",
        "oci-network-load-balancer.oraclecloud.com/backend-policy": "TWO_TUPLE",
        ...(e.externalTrafficPolicy === "Local" ? { "oci-network-load-balancer.oraclecloud.com/is-preserve-source": "true" } : {}),
      };
    case "MetalLB":
      return s.service.sharedIPKey ? { "metallb.io/allow-shared-ip": s.service.sharedIPKey } : {};
    case "None":
      return {};
  }
}

export function servicePorts(e: Effective): ServicePort[] {
  const nodePortType = e.spec.service.type === "NodePort";
  const ports: ServicePort[] = [
    {
      name: CONTROL_PORT_NAME,
      port: e.spec.controlPort,
      targetPort: e.spec.controlPort,
      protocol: "TCP",
      ...(nodePortType && e.spec.service.controlNodePort !== undefined ? { nodePort: e.spec.service.controlNodePort } : {}),
    },
  ];
  if (e.implicitTlsPort !== undefined) {
    ports.push({ name: IMPLICIT_TLS_PORT_NAME, port: e.implicitTlsPort, targetPort: e.implicitTlsPort, protocol: "TCP" });
  }
  for (let p = e.basePort; p <= e.portEnd; p++) {
    // NodePort: the PASV reply names port P, so the node must listen on P itself.
    ports.push({ name: passivePortName(p), port: p, targetPort: p, protocol: "TCP", ...(nodePortType ? { nodePort: p } : {}) });
  }
  return ports;
}

export function buildService(fs: FtpServer, e: Effective): KubeObject {
  const s = e.spec;
  const svc = s.service;
  const annotations = { ...providerAnnotations(svc.provider, e), ...(svc.annotations ?? {}) };
  const pp = s.routing.mode === "PortPartitioned";
  const spec: Record<string, unknown> = {
    type: svc.type,
    ports: servicePorts(e),
  };
  if (!pp) {
    spec.selector = selectorLabels(fs.metadata.name);
    spec.sessionAffinity = "ClientIP";
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: s.routing.sessionAffinityTimeoutSeconds } };
  }
  if (e.externalTrafficPolicy !== undefined) spec.externalTrafficPolicy = e.externalTrafficPolicy;
  if (svc.type === "LoadBalancer") {
    if (svc.allocateLoadBalancerNodePorts !== undefined) spec.allocateLoadBalancerNodePorts = svc.allocateLoadBalancerNodePorts;
    if (svc.loadBalancerClass !== undefined) spec.loadBalancerClass = svc.loadBalancerClass;
    if (svc.loadBalancerSourceRanges !== undefined) spec.loadBalancerSourceRanges = svc.loadBalancerSourceRanges;
  }
  const meta = childMeta(fs, childNames(fs.metadata.name).service);
  if (Object.keys(annotations).length) meta.annotations = annotations;
  return { apiVersion: "v1", kind: "Service", metadata: meta, spec };
}

/** NodePorts this Service takes from the cluster-wide pool. */
export function nodePortsUsed(e: Effective): number {
  const t = e.spec.service.type;
  if (t === "NodePort") return e.numberOfPorts + 1 + (e.implicitTlsPort !== undefined ? 1 : 0);
  if (t === "LoadBalancer" && e.spec.service.allocateLoadBalancerNodePorts !== false) return e.numberOfPorts + 1 + (e.implicitTlsPort !== undefined ? 1 : 0);
  return 0;
}

export interface AddressResult {
  address: string | null;
  /** condition status/reason/message for AddressResolved */
  resolved: boolean;
  reason: string;
  message: string;
}

interface LbIngress {
  ip?: string;
  hostname?: string;
}

/**
 * The external address for `auto` rules and the default PASV address.
 * LoadBalancer: `status.loadBalancer.ingress` — an IPv4 address first (PASV's 227 reply can only
 * carry IPv4), else an IPv6 one (EPSV still works), else a host name under hostnamePolicy
 * PassThrough (the server resolves it per PASV, so a changing DNS answer is followed).
 * ClusterIP: the Service's cluster IP (in-cluster clients; data connections then go through the
 * Service too, so port-partitioned routing applies). NodePort: there is no single address.
 */
export function externalAddress(fs: FtpServer, e: Effective, observedService: KubeObject | undefined): AddressResult {
  const svc = e.spec.service;
  const needsAuto = (e.spec.passive.addressRules ?? []).some((r) => r.enabled !== false && r.address === "auto");
  const status = observedService?.status as { loadBalancer?: { ingress?: LbIngress[] } } | undefined;
  const spec = observedService?.spec as { clusterIP?: string } | undefined;
  if (svc.type === "ClusterIP") {
    const ip = spec?.clusterIP && spec.clusterIP !== "None" ? spec.clusterIP : null;
    return ip
      ? { address: ip, resolved: true, reason: "ClusterIP", message: `in-cluster clients: PASV answers with the Service's cluster IP ${ip}` }
      : { address: null, resolved: false, reason: "WaitingForClusterIP", message: "the Service has no cluster IP yet" };
  }
  if (svc.type === "NodePort") {
    return needsAuto
      ? {
          address: null,
          resolved: false,
          reason: "NoExternalAddress",
          message: "a NodePort Service has no single external address: give the `auto` rules the address clients use (a node's or the firewall's)",
        }
      : { address: null, resolved: true, reason: "ExplicitAddresses", message: "NodePort: the address rules give explicit addresses" };
  }
  const ingress = status?.loadBalancer?.ingress ?? [];
  const v4 = ingress.find((i) => i.ip && isIP(i.ip) === 4)?.ip;
  const v6 = ingress.find((i) => i.ip && isIP(i.ip) === 6)?.ip;
  const host = ingress.find((i) => i.hostname)?.hostname;
  if (v4) return { address: v4, resolved: true, reason: "LoadBalancerIP", message: `load balancer address ${v4}` };
  if (v6) {
    return {
      address: v6,
      resolved: true,
      reason: "LoadBalancerIPv6",
      message: `load balancer address ${v6} is IPv6: PASV (IPv4 only) cannot carry it, clients must use EPSV`,
    };
  }
  if (host) {
    if (svc.hostnamePolicy === "PassThrough") {
      return { address: host, resolved: true, reason: "LoadBalancerHostname", message: `load balancer host name ${host}; the FTP server resolves it when answering PASV` };
    }
    return { address: null, resolved: false, reason: "HostnameIgnored", message: `the load balancer reports only the host name ${host} and hostnamePolicy is Ignore` };
  }
  return { address: null, resolved: false, reason: "WaitingForLoadBalancer", message: "waiting for the load balancer to report an address in the Service's status.loadBalancer.ingress" };
}
