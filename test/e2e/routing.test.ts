// End to end, both routing modes with 3 replicas, through real kube-proxy and MetalLB, with a real
// FTP client (Python ftplib) in its own network namespace connecting to the load-balancer address:
// PASV carries the LB address for `auto`, a literal address for another class, a disabled rule is
// skipped, EPSV works, ports stay in the range; then 200 sequential and 50 parallel sessions, each
// proven to have had every data connection on the pod that holds its control connection.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  applyFtpServer, cond, ftpServer, getJson, log, parse227, parse229, pods, podFiles, probe, runClient, seedWhoami, setup,
  summarize, transferCounters, waitFor, waitReady, waitServing, type Env, type FtpServerObj, type SessionRecord,
} from "./lib.ts";

let env: Env;
before(async () => {
  env = await setup();
});
after(async () => {
  await env?.stop();
});

const PARTNER_ADDRESS = "198.51.100.7";

/** Every session ok, checksums equal, every PASV address = the LB, every port in its pod's slice; per-pod counters and files agree. */
async function assertEveryDataConnectionOnItsPod(
  name: string,
  records: SessionRecord[],
  lb: string,
  slices: Map<string, [number, number]>,
  before: Awaited<ReturnType<typeof transferCounters>>,
  tag: string,
): Promise<void> {
  const failed = records.filter((r) => !r.ok);
  assert.equal(failed.length, 0, `failed sessions: ${JSON.stringify(failed.slice(0, 5))}`);
  for (const r of records) {
    assert.equal(r.sha_ok, true, `session ${r.i}: checksum`);
    assert.ok(r.pod, `session ${r.i}: whoami`);
    assert.equal(r.ports.length, 3, `session ${r.i}: three data connections (whoami, STOR, RETR)`);
    for (const a of r.addresses) assert.equal(a, lb, `session ${r.i}: PASV address`);
    const range = slices.get(r.pod);
    assert.ok(range, `slice of ${r.pod}`);
    for (const p of r.ports) assert.ok(p >= range[0] && p <= range[1], `session ${r.i} on ${r.pod}: port ${p} in its slice ${range[0]}-${range[1]}`);
  }
  // Server side: each pod counted exactly the transfers of the sessions that said they were on it,
  // and refused or failed none. A data connection that reached another pod would have been a
  // transfer this pod never completed.
  const ps = pods(env, name);
  const afterC = await transferCounters(ps);
  for (const p of ps) {
    const mine = records.filter((r) => r.pod === p.name);
    const b = before.get(p.name);
    const a = afterC.get(p.name);
    assert.ok(a && b);
    assert.equal(a.upOk - b.upOk, mine.length, `${p.name}: uploads counted`);
    assert.equal(a.downOk - b.downOk, 2 * mine.length, `${p.name}: downloads counted (whoami + read-back)`);
    assert.equal(a.failed - b.failed, 0, `${p.name}: no failed transfer`);
    assert.equal(a.rejected - b.rejected, 0, `${p.name}: no refused data connection`);
    // The uploaded files are on this pod's volume, and only those.
    const files = podFiles(env, p.name, "alice").filter((f) => f.startsWith(`${tag}-`)).sort();
    assert.deepEqual(files, mine.map((r) => r.name ?? "").sort(), `${p.name}: files on its volume`);
  }
  const perPod = ps.map((p) => `${p.name}=${records.filter((r) => r.pod === p.name).length}`).join(" ");
  log(`${name}/${tag}: ${summarize(records)}; sessions per pod ${perPod}`);
}

describe("PortPartitioned, 3 replicas", () => {
  const name = "ftp-pp";
  let fs: FtpServerObj;
  let lb = "";
  const slices = new Map<string, [number, number]>();

  before(async () => {
    await applyFtpServer(env, ftpServer(name, "PortPartitioned", 31000));
    fs = await waitReady(env, name, 3);
    lb = fs.status?.passive?.externalAddress ?? "";
    await waitServing(env, lb);
    for (const s of fs.status?.passive?.slices ?? []) slices.set(`${name}-${s.slot}`, [s.portStart, s.portEnd]);
    seedWhoami(env, pods(env, name).map((p) => p.name));
    // kube-proxy programs the 300 passive ports a moment after the control port (a data connection
    // was refused once right after 220): wait, bounded, until one full probe with a data connection works.
    await waitFor("a probe with a data connection through the LB", 30_000, () => {
      try {
        probe(env, lb, "alice");
        return true;
      } catch {
        return false;
      }
    }, 1_000);
  });

  test("status: Ready, LB address from MetalLB, RoutingSound True, three disjoint slices", () => {
    const svc = getJson<{ status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }>(env, "service", name);
    assert.equal(lb, svc.status?.loadBalancer?.ingress?.[0]?.ip);
    assert.match(lb, /^203\.0\.113\./);
    assert.equal(cond(fs, "RoutingSound")?.status, "True");
    assert.deepEqual([...slices.values()], [[31000, 31099], [31100, 31199], [31200, 31299]]);
  });

  test("PASV: auto -> LB address, partners -> literal, disabled rule skipped; EPSV; ports in range", () => {
    checkAddresses(lb, 31000, 31299);
  });

  test("200 sequential sessions: every data connection on the control connection's pod", async () => {
    const before = await transferCounters(pods(env, name));
    const { records, summary } = await runClient(env, { host: lb, user: "alice", sessions: 200, parallel: 1, tag: "seq", pause: 0.05 });
    log(`sequential: ${summary.seconds}s`);
    const spread = new Map<string, number>();
    for (const r of records) spread.set(String(r.pod), (spread.get(String(r.pod)) ?? 0) + 1);
    assert.equal(spread.size, 3, `kube-proxy spread the control connections over the 3 pods: ${JSON.stringify([...spread])} ${JSON.stringify(records.filter((r) => !r.ok).slice(0, 3))}`);
    await assertEveryDataConnectionOnItsPod(name, records, lb, slices, before, "seq");
  });

  test("50 parallel sessions: same proof", async () => {
    const before = await transferCounters(pods(env, name));
    const { records, summary } = await runClient(env, { host: lb, user: "alice", sessions: 50, parallel: 50, tag: "par", size: 256 * 1024 });
    log(`parallel: ${summary.seconds}s`);
    await assertEveryDataConnectionOnItsPod(name, records, lb, slices, before, "par");
  });
});

describe("ClientIPAffinity, 3 replicas on one node", () => {
  const name = "ftp-ca";
  let lb = "";
  let fs: FtpServerObj;

  before(async () => {
    await applyFtpServer(env, ftpServer(name, "ClientIPAffinity", 32000));
    // One pod per node (required anti-affinity): on this single node one pod runs, two stay Pending.
    fs = await waitFor("ftp-ca: external address and a ready pod", 120_000, () => {
      const f = getJson<FtpServerObj>(env, "ftpserver", name);
      return f.status?.passive?.externalAddress && pods(env, name).some((p) => p.ready) && cond(f, "RoutingSound") ? f : undefined;
    });
    lb = fs.status?.passive?.externalAddress ?? "";
    await waitServing(env, lb);
    seedWhoami(env, pods(env, name).filter((p) => p.ready).map((p) => p.name));
  });

  test("the operator says the routing is not sound, and keeps one pod per node", async () => {
    // Ready follows the pods: 1 of 3 can run here (one pod per node), so Ready=False/PodUnschedulable
    // naming the rule once the operator has seen the running pod (bounded: it may be a status write
    // behind the snapshot above).
    const now = await waitFor("ftp-ca Ready=False/PodUnschedulable with 1/3 pods ready", 30_000, () => {
      const f = getJson<FtpServerObj>(env, "ftpserver", name);
      const r = cond(f, "Ready");
      return r?.status === "False" && r.reason === "PodUnschedulable" && f.status?.readyReplicas === 1 ? f : undefined;
    });
    assert.match(cond(now, "Ready")?.message ?? "", /cannot be scheduled: .*anti-affinity.*ClientIPAffinity runs at most one pod per node/);
    const rs = cond(fs, "RoutingSound");
    assert.equal(rs?.status, "False");
    assert.equal(rs?.reason, "PerPortAffinity");
    assert.match(rs?.message ?? "", /per port/);
    const ps = pods(env, name);
    const ready = ps.filter((p) => p.ready).length;
    log(`ClientIPAffinity replicas 3 on 1 node: ${ps.length} pods, ${ready} ready (required anti-affinity); Ready=${cond(now, "Ready")?.status}/${cond(now, "Ready")?.reason}`);
    assert.equal(ready, 1);
    const svc = getJson<{ spec: { sessionAffinity?: string; externalTrafficPolicy?: string } }>(env, "service", name);
    assert.equal(svc.spec.sessionAffinity, "ClientIP");
    assert.equal(svc.spec.externalTrafficPolicy, "Local");
  });

  test("PASV: auto -> LB address, partners -> literal, disabled rule skipped; EPSV; ports in range", () => {
    checkAddresses(lb, 32000, 32299);
  });

  test("50 sequential sessions through the LB (one ready pod): all ok", async () => {
    const { records } = await runClient(env, { host: lb, user: "alice", sessions: 50, parallel: 1, tag: "ca", pause: 0.05 });
    const failed = records.filter((r) => !r.ok);
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)));
    for (const r of records) for (const p of r.ports) assert.ok(p >= 32000 && p <= 32299, `port ${p} in range`);
    log(`${name}: ${summarize(records)}`);
  });
});

function checkAddresses(lb: string, lo: number, hi: number): void {
  const inRange = (p: number): void => assert.ok(p >= lo && p <= hi, `port ${p} in ${lo}-${hi}`);
  // alice: class `office`, whose rule (198.51.100.9) is disabled -> next rule `*` = auto = the LB.
  const alice = probe(env, lb, "alice");
  assert.match(alice.greeting, /^220 /);
  assert.equal(parse227(alice.pasv).address, lb, alice.pasv);
  inRange(parse227(alice.pasv).port);
  // bob: class `partners` -> its rule's literal address (nobody can reach it here: text only).
  const bob = probe(env, lb, "bob");
  assert.equal(parse227(bob.pasv).address, PARTNER_ADDRESS, bob.pasv);
  inRange(parse227(bob.pasv).port);
  // EPSV carries no address: bob moves data through the LB with it.
  inRange(parse229(bob.epsv));
  assert.equal(bob.epsv_nlst_ok, true);
  for (const p of bob.epsv_ports) inRange(p);
  // carol: no class matches -> `default` -> `*` auto.
  const carol = probe(env, lb, "carol");
  assert.equal(parse227(carol.pasv).address, lb, carol.pasv);
  log(`PASV ${lb}: alice "${alice.pasv}", bob "${bob.pasv}", EPSV "${bob.epsv}"`);
}
