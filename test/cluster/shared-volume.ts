// A real ReadWriteMany volume for the single-node cluster: a directory on the node, declared as a
// hostPath PersistentVolume with accessModes ReadWriteMany and pinned to the node, plus a claim
// bound to it by name. Every FTP-server pod mounts the same directory, which is exactly what an
// NFS / CephFS / EFS / Azure Files / Filestore claim gives on a real cluster (there the pods may
// also run on several nodes). hostPath is only honest on one node: the node affinity says so.
//
// Used by `make demo` (CLI) and the e2e tests (import):
//   node test/cluster/shared-volume.ts --dir <host dir> --name <claim> [--namespace default] [--size 1Gi]
// creates the directory (owned by the server's uid) and prints the PV + PVC as JSON for `kubectl apply -f -`.
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { NODE_NAME } from "./node.ts";

/** uid/gid the FTP server runs as (server-image/Dockerfile; operator/src/controller/statefulset.ts SERVER_UID). */
export const SERVER_UID = 10001;

export interface SharedVolume {
  /** the claim to put in spec.storage.claimName */
  claimName: string;
  hostDir: string;
  manifests: object[];
}

/**
 * Prepares `hostDir` (fsGroup does not apply to hostPath volumes, so the directory is chowned to
 * the server's uid) and returns the PV + PVC. The PV's name is derived from the namespace and the
 * claim, so two test files never share one.
 */
export function sharedVolume(opts: { hostDir: string; claimName: string; namespace?: string; size?: string; nodeName?: string; subDirs?: string[] }): SharedVolume {
  const ns = opts.namespace ?? "default";
  const size = opts.size ?? "1Gi";
  mkdirSync(opts.hostDir, { recursive: true });
  chownSync(opts.hostDir, SERVER_UID, SERVER_UID);
  chmodSync(opts.hostDir, 0o775);
  // A storage.subPath the kubelet has to create would be root-owned (it copies the mode, not the
  // owner): prepare it like an administrator prepares a directory on an NFS export.
  for (const d of opts.subDirs ?? []) {
    const path = join(opts.hostDir, d);
    mkdirSync(path, { recursive: true });
    chownSync(path, SERVER_UID, SERVER_UID);
  }
  const pvName = `${ns}-${opts.claimName}`;
  const pv = {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: pvName, labels: { "ftp.pasv.dev/test-volume": opts.claimName } },
    spec: {
      capacity: { storage: size },
      accessModes: ["ReadWriteMany"],
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: "",
      hostPath: { path: opts.hostDir, type: "Directory" },
      claimRef: { namespace: ns, name: opts.claimName },
      nodeAffinity: {
        required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [opts.nodeName ?? NODE_NAME] }] }] },
      },
    },
  };
  const pvc = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: opts.claimName, namespace: ns },
    spec: { accessModes: ["ReadWriteMany"], storageClassName: "", volumeName: pvName, resources: { requests: { storage: size } } },
  };
  return { claimName: opts.claimName, hostDir: opts.hostDir, manifests: [pv, pvc] };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { dir: { type: "string" }, name: { type: "string" }, namespace: { type: "string" }, size: { type: "string" } },
  });
  if (!values.dir || !values.name) throw new Error("usage: shared-volume.ts --dir <host dir> --name <claim> [--namespace ns] [--size 1Gi]");
  const v = sharedVolume({ hostDir: values.dir, claimName: values.name, ...(values.namespace ? { namespace: values.namespace } : {}), ...(values.size ? { size: values.size } : {}) });
  console.log(JSON.stringify({ apiVersion: "v1", kind: "List", items: v.manifests }));
}
