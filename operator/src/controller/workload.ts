// Why the FTP-server pods do not run, from what Kubernetes already says: the StatefulSet
// controller's FailedCreate events (e.g. Pod Security admission), a pod's FailedMount events, and
// the containers' waiting/terminated reasons with the termination message (the server writes its
// fatal start error to /dev/termination-log). Pure: the reconciler fetches the inputs.
import type { KubeObject } from "../runtime/types.ts";

export interface EventLike {
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  involvedObject?: { kind?: string; name?: string };
}

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  terminated?: { reason?: string; message?: string; exitCode?: number };
}
interface PodStatusLike {
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  containerStatuses?: { name: string; restartCount?: number; state?: ContainerState; lastState?: ContainerState }[];
}

/** Waiting reasons that mean "will not start without a change" (not the normal ContainerCreating / PodInitializing). */
const BAD_WAITING = new Set([
  "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "ErrImagePull", "ImagePullBackOff",
  "InvalidImageName", "RunContainerError", "ErrImageNeverPull",
]);

/** An event is current when it happened within this window (the controllers retry and bump it). */
export const EVENT_WINDOW_MS = 5 * 60_000;

function latest(events: EventLike[], reason: string, nowMs: number): EventLike | undefined {
  const at = (e: EventLike) => Date.parse(e.lastTimestamp ?? e.eventTime ?? "") || 0;
  return events
    .filter((e) => e.reason === reason && nowMs - at(e) < EVENT_WINDOW_MS)
    .sort((a, b) => at(b) - at(a))[0];
}

export function failedCreate(stsRef: string, events: EventLike[], nowMs = Date.now()): { reason: string; message: string } | undefined {
  const ev = latest(events, "FailedCreate", nowMs);
  if (!ev) return undefined;
  const msg = ev.message ?? "";
  const reason = /exceeded quota/.test(msg) ? "QuotaExceeded" : /violates PodSecurity|is forbidden/.test(msg) ? "PodsForbidden" : "PodCreateFailed";
  return { reason, message: `StatefulSet ${stsRef} cannot create pods: ${msg}` };
}

export function failedMount(podRef: string, events: EventLike[], nowMs = Date.now()): { reason: string; message: string } | undefined {
  const ev = latest(events, "FailedMount", nowMs);
  return ev ? { reason: "VolumeMountFailed", message: `pod ${podRef}: ${ev.message ?? "a volume cannot be mounted"}` } : undefined;
}

/** The first container of `pod` that waits for a reason that will not pass by itself. */
export function containerProblem(pod: KubeObject): { reason: string; message: string } | undefined {
  const ref = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  for (const c of (pod.status as PodStatusLike | undefined)?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (!w?.reason || !BAD_WAITING.has(w.reason)) continue;
    const last = c.lastState?.terminated;
    const exit = last
      ? `; last exit code ${last.exitCode ?? "?"}${last.reason ? ` (${last.reason})` : ""}${last.message ? `: ${last.message.trim()}` : ""}`
      : "";
    return { reason: w.reason, message: `pod ${ref} container ${c.name}: ${w.reason}${w.message ? `: ${w.message}` : ""}${exit}` };
  }
  return undefined;
}

/**
 * A pod the scheduler cannot place (PodScheduled False, reason Unschedulable): e.g. a
 * podTemplate.spec.nodeSelector no node matches, an untolerated taint, a DoNotSchedule spread or
 * too little CPU. The scheduler's message says which nodes fail what.
 */
export function unschedulable(pod: KubeObject, routingMode?: string): { reason: string; message: string } | undefined {
  const c = (pod.status as PodStatusLike | undefined)?.conditions?.find((x) => x.type === "PodScheduled" && x.status === "False");
  if (!c || (c.reason !== undefined && c.reason !== "Unschedulable")) return undefined;
  const ref = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  // ClientIPAffinity's own required anti-affinity (one pod per node) is the usual cause there.
  const hint = routingMode === "ClientIPAffinity"
    ? "routing.mode ClientIPAffinity runs at most one pod per node: lower replicas to the number of schedulable nodes, or use PortPartitioned; else check spec.podTemplate.spec"
    : "check spec.podTemplate.spec nodeSelector, tolerations, affinity and topologySpreadConstraints";
  return { reason: "PodUnschedulable", message: `pod ${ref} cannot be scheduled: ${c.message ?? "no node fits"} (${hint})` };
}

/** A pod still creating its containers (where a FailedMount would show). */
export function isContainerCreating(pod: KubeObject): boolean {
  return ((pod.status as PodStatusLike | undefined)?.containerStatuses ?? []).some((c) => c.state?.waiting?.reason === "ContainerCreating") ||
    ((pod.status as { phase?: string } | undefined)?.phase === "Pending" && !((pod.status as PodStatusLike | undefined)?.containerStatuses?.length));
}
