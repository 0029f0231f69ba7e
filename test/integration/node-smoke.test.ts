// Proves the local full node is real: pods run in containerd with CNI addresses from the pod
// CIDR, kube-proxy (iptables) routes ClusterIP and LoadBalancer Services to them, MetalLB
// assigns the LoadBalancer address from its pool, a client in its own network namespace (the
// outside world) reaches the pods through that address, and pods reach the apiserver through
// the `kubernetes` Service. If the node cannot run here (not root, packages missing, another full
// node running), the file is skipped with the exact reason, as `make test` does for test/e2e —
// unless PASV_REQUIRE_NODE=1 (CI on a machine that must run it): then it fails with that reason.
import { CoreV1Api, type V1Pod, type V1Service } from "@kubernetes/client-node";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ownClusterOnly, startTestCluster, type TestCluster } from "../cluster/harness.ts";
import {
  ECHO_IMAGE, LB_POOL, PAUSE_IMAGE, POD_CIDR, canRunNode, createClientNamespace, kubectl, nodeImages, waitPodReady,
  type ClientNamespace,
} from "../cluster/node.ts";
import type { ClusterState } from "../cluster/cluster.ts";

const NS = "default";

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const toInt = (a: string): number => a.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === "0" ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base ?? "") & mask) >>> 0);
}

function echoPod(name: string): V1Pod {
  return {
    metadata: { name, labels: { app: "echo" } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: "echo", image: ECHO_IMAGE, imagePullPolicy: "Never", args: ["-port", "8080"],
        env: [
          { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        ],
        readinessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 1 },
      }],
    },
  };
}

function service(name: string, type: "ClusterIP" | "LoadBalancer"): V1Service {
  return { metadata: { name }, spec: { type, selector: { app: "echo" }, ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }] } };
}

/** "pod=echo-a ip=10.213.0.2 peer=10.213.0.1:40337" -> fields */
function parseBanner(line: string): { pod: string; ip: string; peer: string } {
  const m = /^pod=(\S+) ip=(\S+) peer=(\S+):\d+$/.exec(line);
  assert.ok(m, `unexpected banner ${JSON.stringify(line)}`);
  return { pod: m[1] ?? "", ip: m[2] ?? "", peer: m[3] ?? "" };
}

const nodeCheck = canRunNode();
const cannotRun = nodeCheck.ok || process.env.PASV_REQUIRE_NODE === "1"
  ? false
  : `the full node cannot run on this machine: ${nodeCheck.reason} (PASV_REQUIRE_NODE=1 makes this a failure)`;

describe("full node: pods, kube-proxy, MetalLB", { skip: cannotRun || ownClusterOnly("the harness's own full node on this machine: containerd, kubelet, kube-proxy, MetalLB, its client network namespace") }, () => {
  let cluster: TestCluster;
  let state: ClusterState;
  let core: CoreV1Api;
  let client: ClientNamespace | undefined;
  const podIps = new Map<string, string>();

  before(async () => {
    // Only reached when the node can run or PASV_REQUIRE_NODE=1: then its absence is a failure.
    if (!nodeCheck.ok) throw new Error(`full node cannot run on this machine: ${nodeCheck.reason}`);
    const started = Date.now();
    cluster = await startTestCluster({ node: true });
    if (!cluster.state) throw new Error("expected a cluster started by the harness");
    state = cluster.state;
    console.error(`# control plane + node ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  });

  after(async () => {
    client?.remove();
    await cluster?.stop();
  });

  test("the node is Ready with its locally built images", async () => {
    const node = await core.readNode({ name: "pasv-node" });
    assert.equal(node.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? "", /^containerd:\/\//);
    const images = nodeImages(state);
    assert.ok(images.includes(PAUSE_IMAGE), `pause image in containerd: ${images.join(", ")}`);
    assert.ok(images.includes(ECHO_IMAGE), `echo image in containerd: ${images.join(", ")}`);
  });

  test("pods run and get addresses from the pod CIDR", async () => {
    for (const name of ["echo-a", "echo-b"]) await core.createNamespacedPod({ namespace: NS, body: echoPod(name) });
    for (const name of ["echo-a", "echo-b"]) {
      const ip = await waitPodReady(state, NS, name, 60_000);
      assert.ok(inCidr(ip, POD_CIDR), `pod IP ${ip} in ${POD_CIDR}`);
      podIps.set(name, ip);
    }
    assert.notEqual(podIps.get("echo-a"), podIps.get("echo-b"));
  });

  test("a pod reaches the apiserver through the kubernetes Service (exec via the kubelet)", () => {
    const out = kubectl(state, ["exec", "-n", NS, "echo-a", "--", "/echo", "-get", "https://10.214.0.1:443/api"]);
    assert.match(out, /^200\n/, out);
    assert.match(out, /"kind":\s*"APIVersions"/);
  });

  test("kube-proxy routes a ClusterIP Service to the pods", async () => {
    const svc = await core.createNamespacedService({ namespace: NS, body: service("echo", "ClusterIP") });
    const ip = svc.spec?.clusterIP ?? "";
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      // From the host's network namespace (kube-proxy's OUTPUT rules).
      const line = await tcpFirstLineFromHost(ip, 80).catch(() => "");
      if (line) seen.add(parseBanner(line).pod);
      else await sleep(250); // rules not synced yet
    }
    assert.deepEqual([...seen].sort(), ["echo-a", "echo-b"]);
  });

  test("MetalLB assigns a LoadBalancer address and a client in its own netns reaches the pods through it", async () => {
    await core.createNamespacedService({ namespace: NS, body: service("echo-lb", "LoadBalancer") });
    let lbIp = "";
    for (let i = 0; i < 100 && !lbIp; i++) {
      const s = await core.readNamespacedService({ namespace: NS, name: "echo-lb" });
      lbIp = s.status?.loadBalancer?.ingress?.[0]?.ip ?? "";
      if (!lbIp) await sleep(200);
    }
    assert.ok(lbIp, "status.loadBalancer.ingress[0].ip set");
    assert.ok(inCidr(lbIp, LB_POOL), `${lbIp} from the pool ${LB_POOL}`);

    client = createClientNamespace(state);
    const seen = new Set<string>();
    let last = "";
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      try {
        const b = parseBanner(client.firstLine(lbIp, 80));
        assert.equal(b.ip, podIps.get(b.pod), "the pod answered with its own IP");
        seen.add(b.pod);
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
        await sleep(250);
      }
    }
    assert.deepEqual([...seen].sort(), ["echo-a", "echo-b"], `both pods reached through ${lbIp} (last error: ${last})`);

    // externalTrafficPolicy: Local keeps the client's address (what an FTP server sees in production).
    await core.patchNamespacedService({ namespace: NS, name: "echo-lb", body: [{ op: "replace", path: "/spec/externalTrafficPolicy", value: "Local" }] });
    let peer = "";
    for (let i = 0; i < 40 && peer !== client.ip; i++) {
      try {
        peer = parseBanner(client.firstLine(lbIp, 80)).peer;
      } catch {
        /* resync in progress */
      }
      if (peer !== client.ip) await sleep(250);
    }
    assert.equal(peer, client.ip, "with externalTrafficPolicy Local the pod sees the client's own address");
  });
});

async function tcpFirstLineFromHost(host: string, port: number): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((res, rej) => {
    const s = connect({ host, port, timeout: 3000 });
    let d = "";
    s.setEncoding("utf8");
    s.on("data", (c: string) => {
      d += c;
      const i = d.indexOf("\n");
      if (i >= 0) {
        s.destroy();
        res(d.slice(0, i));
      }
    });
    s.on("timeout", () => {
      s.destroy();
      rej(new Error("timeout"));
    });
    s.on("error", rej);
  });
}
