// Shared types of the runtime: a resource type descriptor (enough to build REST paths without
// discovery) and the plain-JSON object shape every runtime component works with.
//
// Objects are plain JSON as the API server returns them (timestamps are RFC 3339 strings), not
// client-node's model classes (whose types claim `Date`).

/** Object metadata: the fields the runtime reads. Everything else passes through untouched. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  finalizers?: string[];
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldsV1;
  subresource?: string;
}

/** The managedFields trie ("f:spec" → {"f:replicas": {}}, "k:{...}" for list items, "." for self). */
export interface FieldsV1 {
  [key: string]: FieldsV1;
}

/** Any Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [key: string]: unknown;
}

/**
 * What the runtime needs to talk to one resource: group/version, kind, plural and scope. Using a
 * descriptor (instead of discovery) keeps every request predictable and testable.
 */
export interface ResourceType {
  /** "v1", "apps/v1", "ftp.pasv.dev/v1alpha1" */
  apiVersion: string;
  kind: string;
  /** lower-case plural resource name: "services", "ftpservers" */
  plural: string;
  namespaced: boolean;
}

/** Well-known resource types the operator uses. */
export const Resources = {
  Pod: { apiVersion: "v1", kind: "Pod", plural: "pods", namespaced: true },
  Service: { apiVersion: "v1", kind: "Service", plural: "services", namespaced: true },
  ConfigMap: { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true },
  Secret: { apiVersion: "v1", kind: "Secret", plural: "secrets", namespaced: true },
  Namespace: { apiVersion: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
  Event: { apiVersion: "v1", kind: "Event", plural: "events", namespaced: true },
  StatefulSet: { apiVersion: "apps/v1", kind: "StatefulSet", plural: "statefulsets", namespaced: true },
  Deployment: { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments", namespaced: true },
  EndpointSlice: {
    apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", plural: "endpointslices", namespaced: true,
  },
  Lease: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", plural: "leases", namespaced: true },
  NetworkPolicy: { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true },
  CustomResourceDefinition: {
    apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions", namespaced: false,
  },
} as const satisfies Record<string, ResourceType>;

/** "namespace/name", or "name" for cluster-scoped objects (the work-queue key format). */
export function objectKey(obj: { metadata?: { name?: string; namespace?: string } }): string {
  const name = obj.metadata?.name ?? "";
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

/** Inverse of objectKey. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf("/");
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** REST path of a collection (`namespace` ignored for cluster-scoped types; omitted = all namespaces). */
export function collectionPath(type: ResourceType, namespace?: string): string {
  const base = type.apiVersion.includes("/") ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`;
  if (type.namespaced && namespace) return `${base}/namespaces/${encodeURIComponent(namespace)}/${type.plural}`;
  return `${base}/${type.plural}`;
}

/** REST path of one object, optionally a subresource ("status"). */
export function objectPath(type: ResourceType, name: string, namespace?: string, subresource?: string): string {
  if (type.namespaced && !namespace) throw new Error(`${type.kind} ${name}: namespace required`);
  const p = `${collectionPath(type, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${p}/${subresource}` : p;
}

/** Equality-based label selector ({app: "x"}) to the query-string form "app=x". */
export function formatLabelSelector(sel: Record<string, string> | string | undefined): string | undefined {
  if (sel === undefined || typeof sel === "string") return sel;
  const parts = Object.entries(sel).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(",") : undefined;
}

/** Whether `labels` satisfy an equality selector. */
export function labelsMatch(labels: Record<string, string> | undefined, sel: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel)) if (labels?.[k] !== v) return false;
  return true;
}
