// What the operator's informer caches would hold for one namespace, per resource: object count,
// JSON size as served, JSON size after the earlier cache transform (`ownedFieldsOnly`), and the V8
// heap the objects take (heapUsed delta around holding them, after GC; needs --expose-gc): full,
// slim (`ownedFieldsOnly`), and for owned children the compact entries the operator now caches
// (runtime/compact.ts) — unverified (after a restart: the view string kept) and verified.
// Called by bench.ts --cache-report; also runnable: node --expose-gc test/bench/operator/cache-size.ts KUBECONFIG NAMESPACE
import type { ApiClient } from "../../../operator/src/runtime/client.ts";
import { AppliedMemo, compactOwned, fingerprintOf } from "../../../operator/src/runtime/compact.ts";
import { ownedFieldsOnly, slimObject, slimPod } from "../../../operator/src/runtime/slim.ts";
import { Resources, type KubeObject, type ResourceType } from "../../../operator/src/runtime/types.ts";
import { FtpServers } from "../../integration/operator-helpers.ts";

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

export async function cacheReport(client: ApiClient, namespace: string): Promise<Record<string, unknown>[]> {
  const kinds: [ResourceType, (o: KubeObject) => KubeObject, string | undefined][] = [
    [FtpServers, slimObject, undefined],
    [Resources.Service, ownedFieldsOnly([["spec", "clusterIP"], ["spec", "clusterIPs"], ["spec", "selector"]]), "ftp.pasv.dev/server"],
    [Resources.ConfigMap, ownedFieldsOnly(), "ftp.pasv.dev/server"],
    [Resources.StatefulSet, ownedFieldsOnly(), "ftp.pasv.dev/server"],
    [Resources.EndpointSlice, ownedFieldsOnly(), "ftp.pasv.dev/server"],
    [Resources.NetworkPolicy, ownedFieldsOnly(), "ftp.pasv.dev/server"],
    [Resources.Pod, slimPod, "ftp.pasv.dev/server"],
  ];
  const out: Record<string, unknown>[] = [];
  for (const [type, transform, selector] of kinds) {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    do {
      const page = await client.list<KubeObject>(type, { namespace, limit: 500, ...(cont ? { continue: cont } : {}), ...(selector ? { labelSelector: selector } : {}) });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
    } while (cont);
    const fullJson = items.reduce((a, o) => a + JSON.stringify(o).length, 0);
    const h0 = heapUsed();
    let held: KubeObject[] = items.map((o) => structuredClone(o));
    const fullHeap = heapUsed() - h0;
    held = [];
    const h1 = heapUsed();
    held = items.map((o) => transform(structuredClone(o)));
    const slimHeap = heapUsed() - h1;
    const slimJson = held.reduce((a, o) => a + JSON.stringify(o).length, 0);
    held = [];
    const mb = (n: number) => +(n / 2 ** 20).toFixed(1);
    const row: Record<string, unknown> = { resource: type.plural, count: items.length, fullJsonMB: mb(fullJson), slimJsonMB: mb(slimJson), fullHeapMB: mb(fullHeap), slimHeapMB: mb(slimHeap) };
    if (selector && type !== Resources.Pod) {
      const keep = type === Resources.Service ? [["spec", "clusterIP"], ["spec", "clusterIPs"], ["spec", "selector"]] : [];
      const compact = compactOwned(type, new AppliedMemo(), { keep });
      const h2 = heapUsed();
      held = items.map((o) => compact(structuredClone(o)));
      row.compactUnverifiedHeapMB = mb(heapUsed() - h2);
      for (const o of held) delete fingerprintOf(o)!.view;
      row.compactHeapMB = mb(heapUsed() - h2);
      held = [];
    }
    out.push(row);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { loadKubeConfigFile } = await import("../../../operator/src/runtime/kubeconfig.ts");
  const { ApiClient: Client } = await import("../../../operator/src/runtime/client.ts");
  const client = new Client(loadKubeConfigFile(process.argv[2]!));
  for (const r of await cacheReport(client, process.argv[3]!)) console.log(JSON.stringify(r));
  client.close();
}
