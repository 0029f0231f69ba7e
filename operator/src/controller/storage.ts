// StorageShared: whether the replicas see the same files. With per-pod storage (EmptyDir, one PVC
// per pod) an upload through one pod exists only there, and a client's next session - balanced to
// another pod - does not see it. Advice, like PassiveRangeSized: it does not block Ready (a
// one-pod-per-user setup may want it), but it says so in status and with a Warning Event.
import type { Effective } from "./model.ts";
import type { Cond } from "./status.ts";

export function storageShared(e: Effective): Cond {
  const st = e.spec.storage;
  const type = st?.type ?? "EmptyDir";
  if (type === "SharedClaim") {
    return {
      type: "StorageShared",
      status: "True",
      reason: "SharedClaim",
      message: `every replica mounts the ReadWriteMany claim ${st?.claimName ?? ""}${st?.subPath ? ` (subPath ${st.subPath})` : ""}: an upload through one pod is seen through all`,
    };
  }
  if (type === "S3") {
    return {
      type: "StorageShared",
      status: "True",
      reason: "ObjectStorage",
      message: `every replica serves the bucket prefix s3://${st?.s3?.bucket ?? ""}/${st?.s3?.prefix ?? ""}: an upload through one pod is seen through all (docs/storage.md)`,
    };
  }
  if (e.spec.replicas <= 1) {
    return { type: "StorageShared", status: "True", reason: "SingleReplica", message: `one replica: its ${type} volume is the only copy of the files` };
  }
  const what = type === "PersistentVolumeClaim" ? "one PersistentVolumeClaim per pod" : "an EmptyDir per pod";
  return {
    type: "StorageShared",
    status: "False",
    reason: "PerPodStorage",
    message: `${e.spec.replicas} replicas with ${what}: uploads through one pod are invisible from the others, and a client's next session usually lands on another pod; use storage.type SharedClaim with a ReadWriteMany claim (NFS, CephFS, EFS, Azure Files, Filestore) or S3`,
  };
}
