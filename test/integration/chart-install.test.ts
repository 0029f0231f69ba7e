// Install → FtpServer Ready → upgrade → uninstall, with the operator running under exactly the
// chart's ServiceAccount.
//
// The local control plane has no kubelet yet, so the chart's Deployment pods stay Pending. The
// operator therefore runs here as a local process, started with exactly the container args and
// env of the Deployment that `helm install` created (read back with `helm get manifest`), and
// authenticated with a kubeconfig holding a TokenRequest token of the chart's ServiceAccount —
// no admin rights, no client certificate. Every request it makes is authorized by the chart's
// ClusterRole/Role alone, so a missing RBAC rule fails this test (RBAC is really exercised).
// `--workload-readiness=applied` is added because no FTP-server pod can become ready without a
// kubelet; everything else comes from the chart.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ownClusterOnly, startTestCluster, type TestCluster } from "../cluster/harness.ts";
import {
  CHART, Kube, conditions, eventually, httpStatus, isCurrent, operatorContainer, serviceAccountKubeconfig,
  startChartOperator, tools, type K8sObject, type LocalOperator,
} from "./chart-lib.ts";

const NS = "pasv-system";
const RELEASE = "pasv";
const FULLNAME = "pasv-pasv-operator"; // release-chart
const APP_NS = "ftp-apps";

const ftpServer = (name: string) => `
apiVersion: ftp.pasv.dev/v1alpha1
kind: FtpServer
metadata:
  name: ${name}
  namespace: ${APP_NS}
spec:
  replicas: 2
  passive:
    basePort: 30000
    expectedConcurrentConnections: 20
    addressRules:
      - userClass: "*"
        address: auto
  users:
    secretName: ftp-users
`;

/** Wait until the FtpServer is kstatus-Current; on timeout, say what its status and the operator said. */
async function current(admin: Kube, name: string, op: LocalOperator, timeoutMs = 60_000): Promise<K8sObject> {
  let last: K8sObject | undefined;
  try {
    return await eventually(`FtpServer ${name} Ready (kstatus Current)`, async () => {
      last = await admin.get("ftpserver", name, APP_NS);
      return isCurrent(last) ? last : undefined;
    }, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast seen: ${JSON.stringify({ generation: last?.metadata.generation, status: last?.status }, null, 1)}\noperator log (tail):\n${op.logs().slice(-4000)}`);
  }
}

describe("chart: install, operate under the chart's ServiceAccount, upgrade, uninstall", { skip: ownClusterOnly("installs the chart cluster-wide: CRD, ClusterRoles, release in pasv-system") }, () => {
  let cluster: TestCluster;
  let admin: Kube;
  let sa: Kube;
  let op: LocalOperator | undefined;
  let saKubeconfig: string;

  before(async () => {
    cluster = await startTestCluster();
    admin = new Kube(cluster.kubeconfigPath, tools());
  });
  after(async () => {
    await op?.stop();
    await cluster?.stop();
  });

  test("helm install creates the operator's objects and an Established CRD with the keep policy", async () => {
    await admin.helm(["install", RELEASE, CHART, "--namespace", NS, "--create-namespace"]);
    const status = JSON.parse(await admin.helm(["status", RELEASE, "-n", NS, "-o", "json"])) as { info: { status: string } };
    assert.equal(status.info.status, "deployed");
    for (const [kind, name, ns] of [
      ["deployment", FULLNAME, NS], ["serviceaccount", FULLNAME, NS], ["clusterrole", FULLNAME, undefined],
      ["clusterrolebinding", FULLNAME, undefined], ["role", `${FULLNAME}-leader-election`, NS], ["service", `${FULLNAME}-metrics`, NS],
    ] as const) {
      assert.ok(await admin.get(kind, name, ns), `${kind} ${name}`);
    }
    const crd = await eventually("CRD Established", async () => {
      const c = await admin.get("crd", "ftpservers.ftp.pasv.dev");
      return conditions(c).some((x) => x.type === "Established" && x.status === "True") ? c : undefined;
    });
    assert.equal(crd.metadata.annotations?.["helm.sh/resource-policy"], "keep");
  });

  test("the chart's ServiceAccount has exactly the operator's rights, and no more", async () => {
    saKubeconfig = await serviceAccountKubeconfig(admin, NS, FULLNAME, join(cluster.dir || "/tmp", "operator-sa.kubeconfig"));
    sa = new Kube(saKubeconfig, tools());
    const who = JSON.parse(await sa.kubectl(["auth", "whoami", "-o", "json"])) as { status: { userInfo: { username: string } } };
    assert.equal(who.status.userInfo.username, `system:serviceaccount:${NS}:${FULLNAME}`);
    for (const [verb, res, ns] of [
      ["watch", "ftpservers.ftp.pasv.dev", undefined], ["patch", "ftpservers.ftp.pasv.dev/status", undefined],
      ["patch", "statefulsets.apps", APP_NS], ["patch", "services", APP_NS], ["patch", "configmaps", APP_NS],
      ["delete", "endpointslices.discovery.k8s.io", APP_NS], ["list", "pods", undefined], ["create", "events", APP_NS],
      // the users/TLS Secrets an FtpServer names are read (validated before pods mount them); FailedCreate/FailedMount events listed
      ["get", "secrets", APP_NS], ["list", "events", APP_NS],
      // FtpUsers: watched, status written; password Secrets watched (metadata-only cache); the merged users Secret written; pods touched
      ["watch", "ftpusers.ftp.pasv.dev", undefined], ["patch", "ftpusers.ftp.pasv.dev/status", APP_NS],
      ["watch", "secrets", APP_NS], ["patch", "secrets", APP_NS], ["patch", "pods", APP_NS],
      ["create", "leases.coordination.k8s.io", NS], ["update", `leases.coordination.k8s.io/${FULLNAME}`, NS],
    ] as const) {
      assert.equal(await sa.canI(verb, res, ns), true, `can ${verb} ${res}`);
    }
    for (const [verb, res, ns] of [
      ["update", "ftpservers.ftp.pasv.dev", APP_NS], ["patch", "ftpservers.ftp.pasv.dev", APP_NS], ["delete", "ftpservers.ftp.pasv.dev", APP_NS],
      ["delete", "secrets", APP_NS], ["update", "ftpusers.ftp.pasv.dev", APP_NS], ["create", "pods", APP_NS], ["delete", "pods", APP_NS], ["delete", "services", APP_NS],
      ["create", "clusterroles.rbac.authorization.k8s.io", undefined], ["create", "leases.coordination.k8s.io", APP_NS],
      ["update", "leases.coordination.k8s.io/someone-else", NS], ["delete", "customresourcedefinitions.apiextensions.k8s.io", undefined],
    ] as const) {
      assert.equal(await sa.canI(verb, res, ns), false, `cannot ${verb} ${res}`);
    }
  });

  test("the operator, run as the chart's Deployment under its ServiceAccount, takes the Lease and makes an FtpServer Ready", async () => {
    const manifest = await admin.helm(["get", "manifest", RELEASE, "-n", NS]);
    op = await startChartOperator(manifest, saKubeconfig, `${FULLNAME}-7d9f-abcde`, NS, ["--workload-readiness=applied"]);
    await eventually("operator /readyz", async () => (await httpStatus(op!.port, "/readyz")) === 200, 60_000);
    assert.equal(await httpStatus(op.port, "/healthz"), 200);
    const lease = await eventually("Lease held by the operator", async () => {
      const l = await admin.get("lease", FULLNAME, NS);
      return (l?.spec as { holderIdentity?: string } | undefined)?.holderIdentity === op!.podName ? l : undefined;
    });
    assert.ok(lease);

    await admin.kubectl(["create", "namespace", APP_NS]);
    await admin.kubectl(["-n", APP_NS, "create", "secret", "generic", "ftp-users", "--from-literal=users.json={\"users\":[]}"]);
    await admin.kubectl(["apply", "--server-side", "--field-manager=test-user", "-f", "-"], ftpServer("demo"));
    // No cloud controller here: publish the load balancer's address as one would.
    await eventually("Service demo created", async () => admin.get("service", "demo", APP_NS));
    await admin.kubectl(["-n", APP_NS, "patch", "service", "demo", "--subresource=status", "--type=merge", "-p", '{"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.7"}]}}}']);
    const fs = await current(admin, "demo", op);
    const st = fs.status as { passive: { basePort: number; numberOfPorts: number; portEnd: number; externalAddress: string } };
    assert.deepEqual([st.passive.basePort, st.passive.numberOfPorts, st.passive.portEnd], [30000, 100, 30099]);
    assert.equal(st.passive.externalAddress, "198.51.100.7");
    for (const [kind, name] of [["statefulset", "demo"], ["service", "demo"], ["configmap", "demo-config"]] as const) {
      const o = await admin.get(kind, name, APP_NS);
      assert.ok(o, `${kind} ${name}`);
      assert.ok(o.metadata.managedFields?.some((m) => m.manager === "pasv-operator"), `${kind} applied by the operator's field manager`);
    }
    const slices = JSON.parse(await admin.kubectl(["-n", APP_NS, "get", "endpointslices", "-l", "ftp.pasv.dev/server=demo", "-o", "json"])) as { items: unknown[] };
    assert.ok(slices.items.length > 0, "EndpointSlices written");
    assert.doesNotMatch(op.logs(), /forbidden/i, "no request of the operator was forbidden");
  });

  test("helm upgrade applies a changed value (log level, resources) to the Deployment; the operator runs with it", async () => {
    const before = await admin.get("deployment", FULLNAME, NS);
    await admin.helm(["upgrade", RELEASE, CHART, "-n", NS, "--reuse-values", "--set", "logLevel=debug", "--set", "resources.limits.memory=300Mi"]);
    const dep = await admin.get("deployment", FULLNAME, NS);
    assert.ok(dep && before);
    assert.ok((dep.metadata.generation ?? 0) > (before.metadata.generation ?? 0), "the Deployment changed");
    const c = (dep.spec as { template: { spec: { containers: { env: { name: string; value?: string }[]; resources: { limits: Record<string, string> } }[] } } }).template.spec.containers[0];
    assert.equal(c?.env.find((e) => e.name === "LOG_LEVEL")?.value, "debug");
    assert.equal(c?.resources.limits.memory, "300Mi");
    const history = JSON.parse(await admin.helm(["history", RELEASE, "-n", NS, "-o", "json"])) as { revision: number; status: string }[];
    assert.deepEqual(history.map((h) => [h.revision, h.status]), [[1, "superseded"], [2, "deployed"]]);

    // The rollout, as the kubelet would do it: the old pod stops (releasing the Lease), the new one
    // starts with the upgraded manifest and takes over; the FtpServer stays Current.
    await op?.stop();
    const manifest = await admin.helm(["get", "manifest", RELEASE, "-n", NS]);
    assert.ok(operatorContainer(manifest).env.some((e) => e.name === "LOG_LEVEL" && e.value === "debug"));
    op = await startChartOperator(manifest, saKubeconfig, `${FULLNAME}-5c4b-fghij`, NS, ["--workload-readiness=applied"]);
    await eventually("new pod holds the Lease", async () => {
      const l = await admin.get("lease", FULLNAME, NS);
      return (l?.spec as { holderIdentity?: string } | undefined)?.holderIdentity === op!.podName;
    }, 60_000);
    await eventually("debug logs from the upgraded operator", () => /"level":"debug"/.test(op!.logs()), 30_000);
    // A spec change is still reconciled by the new leader.
    await admin.kubectl(["-n", APP_NS, "patch", "ftpserver", "demo", "--type=merge", "-p", '{"spec":{"passive":{"expectedConcurrentConnections":30}}}']);
    const fs = await current(admin, "demo", op);
    assert.equal((fs.status as { passive: { numberOfPorts: number } }).passive.numberOfPorts, 150);
    assert.doesNotMatch(op.logs(), /forbidden/i);
  });

  test("helm uninstall removes the operator but keeps the CRD and the FtpServers (crds.keep)", async () => {
    await op?.stop();
    op = undefined;
    const out = await admin.helm(["uninstall", RELEASE, "-n", NS]);
    assert.match(out, /kept due to the resource policy/i, out);
    for (const [kind, name, ns] of [
      ["deployment", FULLNAME, NS], ["serviceaccount", FULLNAME, NS], ["clusterrole", FULLNAME, undefined], ["role", `${FULLNAME}-leader-election`, NS],
    ] as const) {
      await eventually(`${kind} ${name} deleted`, async () => (await admin.get(kind, name, ns)) === undefined, 30_000);
    }
    const crd = await admin.get("crd", "ftpservers.ftp.pasv.dev");
    assert.ok(crd, "CRD kept");
    const fs = await admin.get("ftpserver", "demo", APP_NS);
    assert.ok(fs, "FtpServer kept");
    assert.ok(await admin.get("statefulset", "demo", APP_NS), "its children too");
  });
});
