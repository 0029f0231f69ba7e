// Status and conditions, computed by a pure function from the spec, what was applied and what is
// observed. kstatus: Ready / Reconciling / Stalled; plus PassiveRangeSized, AddressResolved,
// RoutingSound, WithinProviderLimits. Every False (and Stalled=True) carries a reason, a message and
// — on transition only, so a no-op resync writes nothing — a Warning Event.
import type { Condition, FtpServer, Status } from "../api/v1alpha1.ts";
import type { Effective } from "./model.ts";
import { servicePortCount } from "./model.ts";
import { nodePortsUsed, type AddressResult } from "./service.ts";
import { storageShared } from "./storage.ts";

export const AWS_NLB_MAX_LISTENERS = 50;
export const AZURE_MAX_RULES = 300;
export const DEFAULT_NODEPORT_POOL = 2768;
/** Providers whose load balancer offers 2-tuple (client IP) affinity across ports. */
const TWO_TUPLE_PROVIDERS = new Set(["AWSNLB", "GCP", "Azure", "OCI"]);

export type CondStatus = "True" | "False" | "Unknown";
export interface Cond {
  type: string;
  status: CondStatus;
  reason: string;
  message: string;
}

/** Positive-polarity conditions: False is the problem. For Reconciling/Stalled True is. */
const ABNORMAL_WHEN_TRUE = new Set(["Reconciling", "Stalled"]);

/**
 * Why this reconcile could not converge: Ready=False with this reason and message (naming the
 * object), and a Warning Event. `permanent`: only a change by the user fixes it (Stalled=True);
 * otherwise it is retried (Reconciling=True).
 */
export interface Blocker {
  reason: string;
  message: string;
  permanent: boolean;
}

export interface StatusInput {
  fs: FtpServer;
  /** undefined when the spec is invalid */
  eff: Effective | undefined;
  invalidProblems?: string[];
  address?: AddressResult;
  /** all children applied (or already in sync) in this reconcile */
  childrenApplied: boolean;
  /** what stopped this reconcile (a Secret, a name conflict, an apply error...) */
  blocker?: Blocker;
  /** what Kubernetes says keeps the pods from running (FailedCreate, CrashLoopBackOff + termination message, FailedMount...) */
  workloadProblem?: { reason: string; message: string };
  /** service routing consistent: Service ports = range, one slice set per slot */
  routingConsistent: boolean;
  /** desired replicas (spec) */
  replicas: number;
  /** pods the StatefulSet reports (status.replicas): what `status.replicas` shows */
  observedReplicas: number;
  readyReplicas: number;
  /** the StatefulSet controller has seen the current template (observedGeneration, updated replicas) */
  workloadUpdated: boolean;
  /** "pods": Ready needs readyReplicas == replicas; "applied": children applied is enough (control plane without kubelets) */
  workloadReadiness: "pods" | "applied";
  nodePortPool?: number;
}

export function passiveRangeSized(e: Effective): Cond {
  const exp = e.spec.passive.expectedConcurrentConnections;
  const n = e.numberOfPorts;
  if (exp === undefined) return { type: "PassiveRangeSized", status: "True", reason: "NoExpectation", message: `${n} passive ports; set expectedConcurrentConnections to check the sizing` };
  if (n <= exp) {
    return {
      type: "PassiveRangeSized",
      status: "False",
      reason: "RangeTooSmall",
      message: `${n} passive ports for ${exp} expected concurrent connections: with every port of a pod's slice holding a transfer, the next PASV gets 425 (each concurrent transfer needs its own port; closed ones are reused at once); use at least ${5 * exp} (5x)`,
    };
  }
  if (n < 5 * exp) {
    return {
      type: "PassiveRangeSized",
      status: "False",
      reason: "BelowRecommendedSize",
      message: `${n} passive ports for ${exp} expected concurrent connections is below the recommended 5x (${5 * exp}): bursts above the expected concurrency, and uneven spread across pods, leave a pod's slice full (425)`,
    };
  }
  return { type: "PassiveRangeSized", status: "True", reason: "Sized", message: `${n} passive ports >= 5 x ${exp} expected concurrent connections` };
}

export function routingSound(e: Effective): Cond {
  const s = e.spec;
  const svc = s.service;
  const external = svc.type !== "ClusterIP";
  if (
    e.dataConnectionCheck === "strict" &&
    external &&
    e.externalTrafficPolicy === "Cluster" &&
    s.proxyProtocol?.enabled !== true
  ) {
    return {
      type: "RoutingSound",
      status: "False",
      reason: "SnatBreaksStrictCheck",
      message: "externalTrafficPolicy Cluster SNATs client traffic, so the strict data-connection check (data IP = control IP) will refuse transfers: enable proxyProtocol or set dataConnectionCheck Auto/Relaxed",
    };
  }
  if (s.routing.mode === "PortPartitioned") {
    if (external && e.externalTrafficPolicy === "Local" && !(svc.type === "LoadBalancer" && svc.allocateLoadBalancerNodePorts === false)) {
      return {
        type: "RoutingSound",
        status: "False",
        reason: "LocalPolicyPerPortEndpoints",
        message: "PortPartitioned with externalTrafficPolicy Local: each passive port has one pod, so only that pod's node accepts it, but load-balancer health checks are per Service, not per port; use Cluster, or a load balancer that targets pod IPs (allocateLoadBalancerNodePorts: false)",
      };
    }
    return {
      type: "RoutingSound",
      status: "True",
      reason: "PortPartitioned",
      message: `each pod owns a slice of the passive range; EndpointSlices route each passive port to its owner only (${e.slices.length} slots)`,
    };
  }
  if (s.replicas <= 1) {
    return { type: "RoutingSound", status: "True", reason: "SingleReplica", message: "one replica: every data connection reaches the control connection's pod" };
  }
  if (svc.type === "LoadBalancer" && TWO_TUPLE_PROVIDERS.has(svc.provider) && e.externalTrafficPolicy === "Local") {
    return {
      type: "RoutingSound",
      status: "True",
      reason: "TwoTupleAffinity",
      message: `relies on ${svc.provider}'s client-IP (2-tuple) affinity picking the same node for every port, externalTrafficPolicy Local and one pod per node`,
    };
  }
  return {
    type: "RoutingSound",
    status: "False",
    reason: "PerPortAffinity",
    message: `ClientIPAffinity with ${s.replicas} replicas: kube-proxy's sessionAffinity ClientIP is kept per port (kubernetes/kubernetes#103000), so a data connection can reach another pod than its control connection; use routing.mode PortPartitioned, 1 replica, or a LoadBalancer provider with 2-tuple affinity and externalTrafficPolicy Local`,
  };
}

export function withinProviderLimits(e: Effective, pool = DEFAULT_NODEPORT_POOL): Cond {
  const svc = e.spec.service;
  const ports = servicePortCount(e);
  if (svc.type === "LoadBalancer" && svc.provider === "AWSNLB" && ports > AWS_NLB_MAX_LISTENERS) {
    return {
      type: "WithinProviderLimits",
      status: "False",
      reason: "TooManyListeners",
      message: `${ports} Service ports need ${ports} NLB listeners; AWS NLB allows ${AWS_NLB_MAX_LISTENERS} per load balancer (not adjustable): reduce numberOfPorts to ${AWS_NLB_MAX_LISTENERS - (ports - e.numberOfPorts)}`,
    };
  }
  if (svc.type === "LoadBalancer" && svc.provider === "Azure" && ports > AZURE_MAX_RULES) {
    return {
      type: "WithinProviderLimits",
      status: "False",
      reason: "TooManyRules",
      message: `${ports} Service ports need ${ports} Azure load-balancing rules; about ${AZURE_MAX_RULES} fit per NIC`,
    };
  }
  const np = nodePortsUsed(e);
  if (np > pool) {
    return {
      type: "WithinProviderLimits",
      status: "False",
      reason: "NodePortPoolExhausted",
      message: `the Service needs ${np} NodePorts but the cluster's pool has ${pool}: set service.allocateLoadBalancerNodePorts false (load balancers that target pods) or reduce numberOfPorts`,
    };
  }
  if (np > pool / 4) {
    return {
      type: "WithinProviderLimits",
      status: "True",
      reason: "NodePortPoolPressure",
      message: `the Service takes ${np} of the cluster's ${pool} NodePorts (${Math.round((100 * np) / pool)}%); consider allocateLoadBalancerNodePorts false`,
    };
  }
  return { type: "WithinProviderLimits", status: "True", reason: "WithinLimits", message: `${ports} Service ports, ${np} NodePorts` };
}

/** Build the status (conditions without timestamps; `mergeConditions` adds them). */
export function computeStatus(inp: StatusInput): { status: Omit<Status, "conditions">; conditions: Cond[] } {
  const gen = inp.fs.metadata.generation;
  if (!inp.eff) {
    const msg = (inp.invalidProblems ?? ["invalid spec"]).join("; ");
    return {
      status: { ...(gen !== undefined ? { observedGeneration: gen } : {}) },
      conditions: [
        { type: "Ready", status: "False", reason: "InvalidSpec", message: msg },
        { type: "Reconciling", status: "False", reason: "InvalidSpec", message: "nothing to do until the spec is fixed" },
        { type: "Stalled", status: "True", reason: "InvalidSpec", message: msg },
      ],
    };
  }
  const e = inp.eff;
  const sized = passiveRangeSized(e);
  const routing = routingSound(e);
  const limits = withinProviderLimits(e, inp.nodePortPool);
  const addr = inp.address;
  const addressCond: Cond = addr
    ? { type: "AddressResolved", status: addr.resolved ? "True" : "False", reason: addr.reason, message: addr.message }
    : { type: "AddressResolved", status: "Unknown", reason: "NotObserved", message: "the Service is not observed yet" };

  const hardLimit = limits.status === "False";
  const stalled: Cond = inp.blocker?.permanent
    ? { type: "Stalled", status: "True", reason: inp.blocker.reason, message: inp.blocker.message }
    : hardLimit
      ? { type: "Stalled", status: "True", reason: limits.reason, message: limits.message }
      : { type: "Stalled", status: "False", reason: "NotStalled", message: "no permanent error" };

  // What still has to happen, in order.
  let waiting: { reason: string; message: string } | undefined;
  if (inp.blocker) waiting = { reason: inp.blocker.reason, message: inp.blocker.message };
  else if (!inp.childrenApplied) waiting = { reason: "ApplyingChildren", message: "applying the Service, EndpointSlices, ConfigMap and StatefulSet" };
  else if (!inp.routingConsistent) waiting = { reason: "RoutingPending", message: "the Service's ports or EndpointSlices do not match the passive range yet" };
  else if (addressCond.status !== "True") waiting = { reason: addressCond.reason, message: addressCond.message };
  else if (inp.workloadProblem) waiting = inp.workloadProblem;
  else if (inp.workloadReadiness === "pods" && !inp.workloadUpdated) waiting = { reason: "RollingOut", message: "the StatefulSet controller has not rolled out the current template yet" };
  else if (inp.workloadReadiness === "pods" && inp.readyReplicas < inp.replicas)
    waiting = { reason: "WaitingForPods", message: `${inp.readyReplicas}/${inp.replicas} FTP-server pods ready` };

  const reconciling: Cond =
    waiting && stalled.status !== "True"
      ? { type: "Reconciling", status: "True", reason: waiting.reason, message: waiting.message }
      : { type: "Reconciling", status: "False", reason: "Reconciled", message: "children are in sync with the spec" };

  let ready: Cond;
  if (stalled.status === "True") ready = { type: "Ready", status: "False", reason: stalled.reason, message: stalled.message };
  else if (waiting) ready = { type: "Ready", status: "False", reason: waiting.reason, message: waiting.message };
  else if (routing.status === "False") ready = { type: "Ready", status: "False", reason: routing.reason, message: routing.message };
  else {
    const what = inp.workloadReadiness === "pods" ? `${inp.readyReplicas}/${inp.replicas} pods ready` : "children applied (pod readiness not required)";
    ready = {
      type: "Ready",
      status: "True",
      reason: "Ready",
      message: `passive ports ${e.basePort}-${e.portEnd} routed, address ${addr?.address ?? "(pod address)"}, ${what}`,
    };
  }

  const status: Omit<Status, "conditions"> = {
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    passive: {
      basePort: e.basePort,
      numberOfPorts: e.numberOfPorts,
      portEnd: e.portEnd,
      ...(addr?.address ? { externalAddress: addr.address } : {}),
      ...(e.slices.length ? { slices: e.slices.map((s) => ({ ...s })) } : {}),
    },
    replicas: inp.observedReplicas,
    readyReplicas: inp.readyReplicas,
    serviceName: inp.fs.metadata.name,
    nodePortsUsed: nodePortsUsed(e),
  };
  return { status, conditions: [ready, reconciling, stalled, sized, addressCond, routing, limits, storageShared(e)] };
}

/** Whether a condition is a problem worth a Warning Event. */
export function isProblem(c: Cond): boolean {
  return ABNORMAL_WHEN_TRUE.has(c.type) ? c.type === "Stalled" && c.status === "True" : c.status === "False";
}

/**
 * Full conditions with observedGeneration and lastTransitionTime (kept from `previous` when the
 * status did not change, so a no-op reconcile computes an identical status), plus the conditions
 * that newly became a problem (status or reason changed): those get a Warning Event.
 */
export function mergeConditions(
  conds: Cond[],
  previous: Condition[] | undefined,
  generation: number | undefined,
  now: string,
): { conditions: Condition[]; newProblems: Cond[] } {
  const prev = new Map((previous ?? []).map((c) => [c.type, c]));
  const newProblems: Cond[] = [];
  const conditions = conds.map((c) => {
    const p = prev.get(c.type);
    const sameStatus = p !== undefined && p.status === c.status;
    if (isProblem(c) && !(sameStatus && p.reason === c.reason)) newProblems.push(c);
    return {
      type: c.type,
      status: c.status,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: sameStatus ? p.lastTransitionTime : now,
      reason: c.reason,
      message: c.message,
    };
  });
  return { conditions, newProblems };
}
