// Leader election on a real kube-apiserver: two managers → exactly one leader; a leader whose
// renewals stop loses and the other takes over; a leader killed with SIGKILL is replaced after the
// lease expires; a leader stopped with SIGTERM releases the Lease so the standby takes over at once.
//
// The killed/terminated leader is a real separate process: this file re-runs itself in child mode.
import { KubeConfig } from "@kubernetes/client-node";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { ApiClient } from "../../operator/src/runtime/client.ts";
import type { Lease } from "../../operator/src/runtime/leader.ts";
import { Manager } from "../../operator/src/runtime/manager.ts";
import { Resources } from "../../operator/src/runtime/types.ts";
import { eventually as pollUntil, within } from "../support/eventually.ts";
import { pausableLeaseClient } from "../support/seams.ts";
import type { TestCluster } from "../cluster/harness.ts";
import type { TestEnv } from "./operator-helpers.ts";

// The child (below) gets the namespace from its parent: uniqueName() is random per process.
const ns = process.env.RT_NAMESPACE ?? (await import("../cluster/harness.ts")).uniqueName("rt-leader");
const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

if (process.env.RT_LEADER_CHILD) {
  // child mode: one manager that says when it leads; SIGTERM → graceful stop
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.RT_KUBECONFIG!);
  const mgr = new Manager({
    kubeConfig: kc, http: false, logger: pino({ level: "silent" }),
    leaderElection: { namespace: ns, name: process.env.RT_LEASE!, identity: process.env.RT_IDENTITY!, ...timing },
  });
  mgr.handleSignals((code) => {
    process.stdout.write("EXITING\n");
    process.exit(code);
  });
  await mgr.start();
  await mgr.waitForLeadership();
  process.stdout.write("LEADING\n");
} else {
  // Loaded in the parent only: the child needs neither the helpers nor the harness, which installs exit and signal handlers.
  const { startTestEnv } = await import("./operator-helpers.ts");

  const eventually = <T,>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> =>
    pollUntil(what, fn, timeoutMs, 25);

  describe("runtime leader election on a real apiserver", () => {
    let env: TestEnv;
    let cluster: TestCluster;
    let admin: ApiClient;
    const quiet = pino({ level: process.env.LOG_LEVEL ?? "silent" });

    const lease = (name: string) => admin.get<Lease>(Resources.Lease, name, ns);

    /** A manager whose Lease requests the test can pause (`hang`) through the injected lease client. */
    function manager(lease: string, identity: string, onLost?: () => void): Manager & { hang(paused?: boolean): void } {
      const leaseClient = pausableLeaseClient(cluster.kubeConfig);
      const m = new Manager({
        kubeConfig: cluster.kubeConfig, http: false, logger: quiet,
        leaderElection: { namespace: ns, name: lease, identity, ...timing },
        ...(onLost ? { onLostLeadership: onLost } : {}),
        seams: { leaseClient: leaseClient.client },
      });
      return Object.assign(m, { hang: (paused?: boolean) => leaseClient.pause(paused) });
    }

    /** Sample both managers until `ms` passes; fail if both ever lead at once. */
    async function neverBoth(a: Manager, b: Manager, ms: number): Promise<void> {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        assert.ok(!(a.isLeader() && b.isLeader()), "two leaders at once");
        await sleep(10);
      }
    }

    function child(leaseName: string, identity: string): { proc: ChildProcess; leading: Promise<void>; exited: Promise<number | null> } {
      const proc = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
        env: { ...process.env, RT_LEADER_CHILD: "1", RT_KUBECONFIG: cluster.kubeconfigPath, RT_LEASE: leaseName, RT_IDENTITY: identity, RT_NAMESPACE: ns },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      const leading = new Promise<void>((resolve) => {
        proc.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("LEADING")) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
      return { proc, leading, exited };
    }

    before(async () => {
      env = await startTestEnv({ cluster: { controllerManager: false, scheduler: false }, crds: [], namespace: ns });
      ({ cluster, client: admin } = env);
    });
    after(() => env?.stop());

    test("two managers → exactly one leader; a leader that stops renewing loses, the other takes over", async (t) => {
      let lostA = 0;
      const a = manager("l1", "a", () => lostA++);
      const b = manager("l1", "b");
      t.after(() => Promise.all([a.stop(), b.stop()]));
      const reconciledBy: string[] = [];
      for (const [m, id] of [[a, "a"], [b, "b"]] as const) {
        const c = m.controller({ name: `c-${id}`, reconcile: async () => void reconciledBy.push(id) });
        c.enqueue("x/tick");
      }
      await Promise.all([a.start(), b.start()]);
      await eventually("a leader", () => a.isLeader() || b.isLeader());
      await neverBoth(a, b, 1500);
      const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
      assert.equal(standby.isLeader(), false);
      assert.equal((await lease("l1"))?.spec?.holderIdentity, leader.elector!.identity);
      assert.deepEqual([...new Set(reconciledBy)], [leader.elector!.identity], "only the leader's workers ran");

      // the leader stops renewing (a hung process): it must step down before the other takes over
      const t0 = Date.now();
      leader.hang();
      const sample = neverBoth(a, b, 4000);
      await eventually("standby takes over", () => standby.isLeader(), 10_000);
      const took = Date.now() - t0;
      await sample;
      assert.equal(leader.isLeader(), false);
      assert.ok(took >= timing.leaseDurationMs - 300, `not before the lease expired (${took} ms)`);
      const l = await lease("l1");
      assert.equal(l?.spec?.holderIdentity, standby.elector!.identity);
      assert.equal(l?.spec?.leaseTransitions, 1);
      if (leader === a) assert.equal(lostA, 1, "onLostLeadership called");
      // the old leader campaigns again as a standby once renewals resume
      leader.hang(false);
      await neverBoth(a, b, 1000);
      assert.equal(standby.isLeader(), true);
    });

    test("leader killed with SIGKILL → the standby takes over after the lease expires", async (t) => {
      const c = child("l2", "child-kill");
      t.after(() => void c.proc.kill("SIGKILL"));
      await within("the child prints LEADING", c.leading, 20_000);
      const standby = manager("l2", "standby");
      t.after(() => standby.stop());
      await standby.start();
      await sleep(1000);
      assert.equal(standby.isLeader(), false, "standby while the child leads");
      const t0 = Date.now();
      c.proc.kill("SIGKILL");
      await within("the SIGKILLed child exits", c.exited, 10_000);
      await within("the standby leads", standby.waitForLeadership(), 10_000);
      const took = Date.now() - t0;
      assert.ok(took >= timing.leaseDurationMs - 300 && took < timing.leaseDurationMs + 3000, `took over after ~lease duration (${took} ms)`);
      const l = await lease("l2");
      assert.equal(l?.spec?.holderIdentity, "standby");
      assert.equal(l?.spec?.leaseTransitions, 1);
    });

    test("leader stopped with SIGTERM releases the Lease → the standby takes over at once", async (t) => {
      const c = child("l3", "child-term");
      t.after(() => void c.proc.kill("SIGKILL"));
      await within("the child prints LEADING", c.leading, 20_000);
      const standby = manager("l3", "standby3");
      t.after(() => standby.stop());
      await standby.start();
      await sleep(500);
      assert.equal(standby.isLeader(), false);
      const t0 = Date.now();
      c.proc.kill("SIGTERM");
      assert.equal(await within("the SIGTERMed child exits", c.exited, 10_000), 0, "graceful exit");
      assert.ok(!(await lease("l3"))?.spec?.holderIdentity || standby.isLeader(), "released (holder emptied)");
      await within("the standby leads", standby.waitForLeadership(), 10_000);
      const took = Date.now() - t0;
      assert.ok(took < timing.leaseDurationMs, `took over before the lease would have expired (${took} ms)`);
      // and a graceful stop of the new leader releases too
      await standby.stop();
      assert.ok(!(await lease("l3"))?.spec?.holderIdentity, "released on stop()");
    });
  });
}
