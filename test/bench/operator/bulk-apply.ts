// The yardstick for `make bench-operator`: server-side apply of exactly the child objects the
// operator's pure builders produce (operator/src/controller/desired.ts) for every FtpServer in a
// namespace, with no operator logic — no informers, no no-op skipping, no status, no events. What
// is left is the API server's own cost of storing these objects (and fanning them out to the
// watchers that exist, e.g. kube-controller-manager's StatefulSet and EndpointSlice controllers).
//
// Same shape as one reconcile: the Service first (its answer carries the cluster IP the config
// needs), then the EndpointSlices, ConfigMap, StatefulSet (and NetworkPolicy) concurrently, with
// the merged users Secret the FtpUser controller writes (ftpusers.ts; no FtpUsers in the bench, so
// the users file of spec.users as it is, read once per Secret); `concurrency` FtpServers at a time
// (the bench passes the operator's --workers). Same HTTP client as the operator
// (operator/src/runtime/client.ts), same field manager. Status writes are operator logic, not
// children: the bulk apply has none.
import { validateSpec, type FtpServer } from "../../../operator/src/api/v1alpha1.ts";
import { desiredChildren } from "../../../operator/src/controller/desired.ts";
import { desiredUsersSecret } from "../../../operator/src/controller/ftpusers.ts";
import { mergeUsers } from "../../../operator/src/controller/users.ts";
import { effective } from "../../../operator/src/controller/model.ts";
import { externalAddress } from "../../../operator/src/controller/service.ts";
import type { ApiClient } from "../../../operator/src/runtime/client.ts";
import { Resources, type KubeObject, type ResourceType } from "../../../operator/src/runtime/types.ts";
import { FtpServers } from "../../integration/operator-helpers.ts";

export interface BulkApplyResult {
  ftpServers: number;
  /** objects applied (= API writes) */
  objects: number;
  /** JSON bytes of the applied bodies */
  bytes: number;
  seconds: number;
}

export async function bulkApply(client: ApiClient, namespace: string, concurrency: number, opts: { maxPortsPerSlice?: number } = {}): Promise<BulkApplyResult> {
  const list = await client.list<KubeObject>(FtpServers, { namespace });
  const servers = list.items;
  let objects = 0;
  let bytes = 0;
  const apply = async (type: ResourceType, obj: KubeObject): Promise<KubeObject> => {
    objects++;
    bytes += JSON.stringify(obj).length;
    return client.apply<KubeObject>(type, obj);
  };
  const usersFiles = new Map<string, Promise<{ text: string; hash: string }>>();
  const mergedUsers = (fs: FtpServer): Promise<{ text: string; hash: string }> => {
    const { secretName = "", key = "users.json" } = (fs.spec as { users?: { secretName?: string; key?: string } }).users ?? {};
    const id = `${secretName}\0${key}`;
    if (!usersFiles.has(id)) {
      usersFiles.set(
        id,
        client.get<KubeObject & { data?: Record<string, string> }>(Resources.Secret, secretName, namespace).then((s) => {
          if (!s) throw new Error(`Secret ${namespace}/${secretName} (spec.users) does not exist`);
          const b64 = s.data?.[key];
          if (b64 === undefined) throw new Error(`Secret ${namespace}/${secretName} has no key ${key}`);
          return mergeUsers({ baseText: Buffer.from(b64, "base64").toString("utf8"), baseRef: `Secret ${namespace}/${secretName} key ${key}`, ftpUsers: [], secrets: new Map() });
        }),
      );
    }
    return usersFiles.get(id)!;
  };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < servers.length) {
        const raw = servers[next++]!;
        const parsed = validateSpec(raw.spec);
        if (!parsed.ok) throw new Error(`${raw.metadata?.name}: invalid spec: ${JSON.stringify(parsed.problems)}`);
        const fs = { ...raw, spec: parsed.spec } as FtpServer;
        const e = effective(parsed.spec);
        const first = desiredChildren(fs, e, null, [], opts);
        const svc = await apply(Resources.Service, first.service);
        const want = desiredChildren(fs, e, externalAddress(fs, e, svc).address, [], opts);
        await Promise.all([
          ...want.endpointSlices.map((s) => apply(Resources.EndpointSlice, s)),
          apply(Resources.ConfigMap, want.configMap),
          apply(Resources.StatefulSet, want.statefulSet),
          ...(want.networkPolicy ? [apply(Resources.NetworkPolicy, want.networkPolicy)] : []),
          mergedUsers(fs).then((merged) => apply(Resources.Secret, desiredUsersSecret(fs, merged))),
        ]);
      }
    }),
  );
  return { ftpServers: servers.length, objects, bytes, seconds: (performance.now() - t0) / 1000 };
}
