// All desired children of an FtpServer in one pure function: the reconciler's whole "what should
// exist" answer, testable without a cluster.
import type { FtpServer } from "../api/v1alpha1.ts";
import type { KubeObject } from "../runtime/types.ts";
import { buildConfigMap } from "./config.ts";
import { buildEndpointSlices, type PodView } from "./endpointslices.ts";
import { buildNetworkPolicy } from "./networkpolicy.ts";
import type { Effective } from "./model.ts";
import { buildService } from "./service.ts";
import { buildStatefulSet } from "./statefulset.ts";

export interface Desired {
  service: KubeObject;
  endpointSlices: KubeObject[];
  configMap: KubeObject;
  statefulSet: KubeObject;
  /** undefined: spec.networkPolicy.enabled is false (an existing one is deleted) */
  networkPolicy: KubeObject | undefined;
}

export function desiredChildren(
  fs: FtpServer,
  e: Effective,
  externalAddress: string | null,
  pods: PodView[],
  opts: { maxPortsPerSlice?: number; defaultServerImage?: string } = {},
): Desired {
  return {
    service: buildService(fs, e),
    endpointSlices: buildEndpointSlices(fs, e, pods, opts),
    configMap: buildConfigMap(fs, e, externalAddress),
    statefulSet: buildStatefulSet(fs, e, opts),
    networkPolicy: buildNetworkPolicy(fs, e, externalAddress),
  };
}

/**
 * `desired` (built before the Service's answer, e.g. with the address unknown) for another external
 * address: only the children that read the address are built again (the ConfigMap and the
 * NetworkPolicy); equal to `desiredChildren(fs, e, externalAddress, …)` with the same pods.
 */
export function withAddress(desired: Desired, fs: FtpServer, e: Effective, externalAddress: string | null): Desired {
  return { ...desired, configMap: buildConfigMap(fs, e, externalAddress), networkPolicy: buildNetworkPolicy(fs, e, externalAddress) };
}
