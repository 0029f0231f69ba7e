// The naive setup today's Helm charts ship, measured: 3 FTP-server pods on one node behind a
// LoadBalancer Service with `sessionAffinity: ClientIP` and `externalTrafficPolicy: Local`, the
// passive range listed port by port, the LB address pasted into the config. kube-proxy keeps
// ClientIP affinity per (client, Service port) (kubernetes/kubernetes#103000), so a data connection
// reaches a pod chosen independently of the control connection's: measure how often that breaks.
// Then the same intent as an FtpServer: the operator reports RoutingSound=False with a reason.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { createClientNamespace, type ClientNamespace } from "../cluster/node.ts";
import {
  CLIENT_PY, IMAGE, NS, PASSWORD, applyFtpServer, cond, ftpServer, getJson, log, pods, seedWhoami, setup, waitFor, waitServing,
  type Env, type FtpServerObj, type SessionRecord,
} from "./lib.ts";

const NAME = "naive";
const LB = "203.0.113.30";
const BASE = 33000;
const COUNT = 60;
const SESSIONS_PER_CLIENT = 40;

let env: Env;
const extraClients: ClientNamespace[] = [];
before(async () => {
  env = await setup();
});
after(async () => {
  for (const c of extraClients) c.remove();
  await env?.stop();
});

function naiveManifests(): object[] {
  const config = {
    version: 1,
    listen: { host: "0.0.0.0", controlPort: 21 },
    passive: {
      portStart: BASE,
      portEnd: BASE + COUNT - 1,
      externalAddress: LB, // pasted by hand, as the charts ask
      addressRules: [{ userClass: "*", address: "auto", enabled: true }],
      quarantineSeconds: 1,
      acceptTimeoutSeconds: 5,
    },
    usersFile: "/etc/pasv/users/users.json",
    dataConnectionCheck: "strict", // externalTrafficPolicy Local keeps the client IP
    storage: { root: "/data" },
    metrics: { host: "0.0.0.0", port: 9100 },
  };
  const labels = { app: NAME, "app.kubernetes.io/instance": NAME };
  const ports = [{ name: "ftp", port: 21, targetPort: 21, protocol: "TCP" }];
  for (let p = BASE; p < BASE + COUNT; p++) ports.push({ name: `pasv-${p}`, port: p, targetPort: p, protocol: "TCP" });
  return [
    { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${NAME}-config`, namespace: NS }, data: { "config.yaml": stringify(config) } },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: NAME, namespace: NS, annotations: { "metallb.io/loadBalancerIPs": LB } },
      spec: {
        type: "LoadBalancer",
        selector: labels,
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
        externalTrafficPolicy: "Local",
        ports,
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: NAME, namespace: NS },
      spec: {
        replicas: 3,
        serviceName: NAME,
        podManagementPolicy: "Parallel",
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 5,
            securityContext: { runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, runAsNonRoot: true },
            containers: [
              {
                name: "ftp-server",
                image: IMAGE,
                imagePullPolicy: "IfNotPresent",
                env: [
                  { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                  // Listen per PASV, as the servers of today's charts (vsftpd, pure-ftpd) do: a data
                  // connection that reaches another pod is refused at once. With our pre-opened
                  // listeners it would be accepted and closed there, and each failed session would
                  // wait out acceptTimeoutSeconds (5 s) for its 425 instead (120 sessions: about 10 min).
                  { name: "PASV_PREOPEN_MAX_PORTS", value: "0" },
                ],
                readinessProbe: { tcpSocket: { port: 21 }, periodSeconds: 2 },
                volumeMounts: [
                  { name: "config", mountPath: "/etc/pasv/config", readOnly: true },
                  { name: "users", mountPath: "/etc/pasv/users", readOnly: true },
                  { name: "data", mountPath: "/data" },
                  { name: "tmp", mountPath: "/tmp" },
                ],
              },
            ],
            volumes: [
              { name: "config", configMap: { name: `${NAME}-config` } },
              { name: "users", secret: { secretName: "ftp-users" } },
              { name: "data", emptyDir: {} },
              { name: "tmp", emptyDir: {} },
            ],
          },
        },
      },
    },
  ];
}

describe("the naive setup: ClientIP affinity, 3 replicas on one node", () => {
  const results: { client: string; records: SessionRecord[] }[] = [];

  before(async () => {
    env.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: naiveManifests() }));
    await waitFor("3 naive pods ready", 120_000, () => pods(env, NAME).filter((p) => p.ready).length === 3);
    await waitFor(`Service ${NAME} gets ${LB}`, 60_000, () =>
      getJson<{ status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }>(env, "service", NAME).status?.loadBalancer?.ingress?.[0]?.ip === LB);
    await waitServing(env, LB);
    seedWhoami(env, pods(env, NAME).map((p) => p.name));
  });

  test("data connections fail at a measurable rate (3 client IPs x 40 sessions)", () => {
    const clients = [env.client, createClientNamespace(env.state), createClientNamespace(env.state)];
    extraClients.push(...clients.slice(1));
    for (const c of clients) {
      // Sequential sessions, no retry: every failure is a data connection that reached another pod.
      const out = c.exec("python3", [CLIENT_PY, "run", "--host", LB, "--user", "alice", "--password", PASSWORD,
        "--sessions", String(SESSIONS_PER_CLIENT), "--parallel", "1", "--pause", "0.02", "--tag", `n-${c.ip}`]);
      const records = out.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as SessionRecord & { summary?: boolean }).filter((r) => !r.summary);
      results.push({ client: c.ip, records });
    }
    let sessions = 0;
    let failedSessions = 0;
    let dataConns = 0;
    let failedData = 0;
    const controlPods = new Map<string, Set<string>>();
    for (const { client, records } of results) {
      for (const r of records) {
        sessions++;
        dataConns += r.ports.length;
        if (!r.ok) {
          failedSessions++;
          // Every failure must be a data-connection failure (login worked: the control path is fine).
          assert.match(r.error ?? "", /^(whoami|stor|retr): /, `session ${r.i} from ${client}: ${r.error}`);
          failedData++;
        }
        if (r.pod) controlPods.set(client, (controlPods.get(client) ?? new Set()).add(r.pod));
      }
    }
    const rate = failedData / dataConns;
    log(`naive: ${failedSessions}/${sessions} sessions failed (${(100 * failedSessions / sessions).toFixed(1)} %); ` +
      `${failedData}/${dataConns} data connections failed (${(100 * rate).toFixed(1)} %); ` +
      `control pod per client: ${JSON.stringify([...controlPods].map(([c, s]) => [c, [...s]]))}`);
    const sample = results.flatMap((x) => x.records).find((r) => !r.ok);
    if (sample) log(`naive: e.g. session ${sample.i}: ${sample.error}`);
    // ClientIP affinity keeps each client's control connections on one pod...
    for (const [c, s] of controlPods) assert.equal(s.size, 1, `client ${c}: control connections stick to one pod`);
    // ...but not its data connections: with 3 pods about 2 in 3 passive ports are pinned elsewhere.
    assert.ok(failedSessions > sessions * 0.2, `the naive setup breaks: ${failedSessions}/${sessions} sessions failed`);
  });

  test("the same intent as an FtpServer: RoutingSound=False with a reason", async () => {
    await applyFtpServer(env, ftpServer("sticky", "ClientIPAffinity", 34000));
    const fs = await waitFor("RoutingSound on FtpServer sticky", 60_000, () => {
      const f = getJson<FtpServerObj>(env, "ftpserver", "sticky");
      return cond(f, "RoutingSound") ? f : undefined;
    });
    const rs = cond(fs, "RoutingSound");
    log(`FtpServer sticky: RoutingSound=${rs?.status} reason=${rs?.reason}: ${rs?.message}`);
    assert.equal(rs?.status, "False");
    assert.equal(rs?.reason, "PerPortAffinity");
    assert.match(rs?.message ?? "", /103000/);
    // The Event is posted after the status write that carries the condition (fire and forget), so it can trail it.
    const events = await waitFor("a Warning Event PerPortAffinity on FtpServer sticky", 30_000, () => {
      const reasons = env.kubectl(["get", "events", "-n", NS, "--field-selector", "involvedObject.name=sticky,type=Warning", "-o", "jsonpath={.items[*].reason}"]);
      return /PerPortAffinity|RoutingSound/.test(reasons) ? reasons : undefined;
    });
    log(`FtpServer sticky Warning events: ${events}`);
  });
});
