// GitOps: the user's manifests (every file in examples/) applied the way Argo CD and Flux apply
// them — server-side apply with their own field manager — against the real API server with the
// generated CRD installed (by the chart), while the operator runs under the chart's ServiceAccount
// (a TokenRequest kubeconfig; see chart-install.test.ts for why it runs as a local process).
// Proves: every example is accepted; re-applying is a no-op with no conflict and `kubectl diff`
// shows no drift (the operator owns no spec field); status is kstatus-readable with
// observedGeneration; the Argo CD health check in docs/install.md reads it correctly (run in Lua 5.1,
// the language version of Argo CD's VM).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ownClusterOnly, startTestCluster, type TestCluster } from "../cluster/harness.ts";
import {
  CHART, Kube, ROOT, conditions, eventually, isCurrent, parseDocs, run, serviceAccountKubeconfig, startChartOperator, tools,
  type K8sObject, type LocalOperator,
} from "./chart-lib.ts";

const NS = "pasv-system";
const FULLNAME = "pasv-pasv-operator";
const APPS = "gitops";
const ARGO = "argocd-controller"; // Argo CD's server-side apply field manager
const FLUX = "kustomize-controller"; // Flux's
const EXAMPLES = join(ROOT, "examples");
const exampleFiles = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml")).sort();
const ftpServerNames = exampleFiles.flatMap((f) => parseDocs(readFileSync(join(EXAMPLES, f), "utf8")).filter((d) => d.kind === "FtpServer").map((d) => d.metadata.name));
const ftpUserNames = exampleFiles.flatMap((f) => parseDocs(readFileSync(join(EXAMPLES, f), "utf8")).filter((d) => d.kind === "FtpUser").map((d) => d.metadata.name));

/** Load-balancer addresses a cloud controller would publish, per example. */
const LB: Record<string, Record<string, string>> = {
  "ftp-aws": { hostname: "ftp-aws-0123456789.elb.example.com" },
  "ftp-metallb": { ip: "198.51.100.20" },
};

/** A JS value as a Lua table constructor (for the Argo CD health script). */
function lua(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `{${v.map(lua).join(", ")}}`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${JSON.stringify(k)}] = ${lua(x)}`).join(", ")}}`;
}

const healthScript = (() => {
  const md = readFileSync(join(ROOT, "docs/install.md"), "utf8");
  const m = /<!-- argocd-health-lua: begin[^>]*-->\s*```lua\n([\s\S]*?)```\s*<!-- argocd-health-lua: end -->/.exec(md);
  if (!m?.[1]) throw new Error("docs/install.md: Argo CD health script not found");
  return m[1];
})();

/** Run the documented health check on `obj` as Argo CD would: the script is a chunk with a global `obj`. */
async function argoHealth(obj: unknown): Promise<{ status: string; message: string }> {
  const program = `obj = ${lua(obj)}\nlocal check = function()\n${healthScript}\nend\nlocal hs = check()\nio.write(hs.status, "\\t", hs.message or "")\n`;
  const r = await run("lua5.1", ["-"], { input: program });
  if (r.code !== 0) throw new Error(`lua5.1 failed (install hack/apt/chart.txt): ${r.stderr}`);
  const [status = "", message = ""] = r.stdout.split("\t");
  return { status, message };
}

describe("GitOps: examples applied like Argo CD / Flux, with the operator running", { skip: ownClusterOnly("installs the chart cluster-wide: CRD, ClusterRoles, release in pasv-system") }, () => {
  let cluster: TestCluster;
  let admin: Kube;
  let op: LocalOperator | undefined;

  const applyAll = (manager: string, extra: string[] = []) =>
    admin.kubectl(["apply", "--server-side", `--field-manager=${manager}`, "-n", APPS, ...extra, ...exampleFiles.flatMap((f) => ["-f", join(EXAMPLES, f)])]);
  const servers = async () => {
    const list = JSON.parse(await admin.kubectl(["get", "ftpservers", "-n", APPS, "-o", "json", "--show-managed-fields"])) as { items: K8sObject[] };
    return new Map(list.items.map((o) => [o.metadata.name, o]));
  };

  before(async () => {
    cluster = await startTestCluster();
    admin = new Kube(cluster.kubeconfigPath, tools());
    // The operator from the chart (the CRD comes with it); no kubelet here, so Ready = children applied.
    await admin.helm(["install", "pasv", CHART, "-n", NS, "--create-namespace", "--set", "workloadReadiness=applied"]);
    await eventually("CRD Established", async () =>
      conditions(await admin.get("crd", "ftpservers.ftp.pasv.dev")).some((c) => c.type === "Established" && c.status === "True"));
    const kc = await serviceAccountKubeconfig(admin, NS, FULLNAME, join(cluster.dir || "/tmp", "operator-sa.kubeconfig"));
    op = await startChartOperator(await admin.helm(["get", "manifest", "pasv", "-n", NS]), kc, `${FULLNAME}-6b8d-xyz12`, NS);
    await admin.kubectl(["create", "namespace", APPS]);
    // examples/ftps.yaml names the kubernetes.io/tls Secret `ftp-tls` (cert-manager's job in a real
    // repository); the operator validates it before applying anything, so it must be a real pair.
    const tlsDir = mkdtempSync(join(tmpdir(), "pasv-gitops-tls-"));
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ftp.example", "-days", "2",
        "-keyout", join(tlsDir, "tls.key"), "-out", join(tlsDir, "tls.crt")], { stdio: "ignore" });
      await admin.kubectl(["-n", APPS, "create", "secret", "tls", "ftp-tls", `--cert=${join(tlsDir, "tls.crt")}`, `--key=${join(tlsDir, "tls.key")}`]);
    } finally {
      rmSync(tlsDir, { recursive: true, force: true });
    }
  });
  after(async () => {
    await op?.stop();
    await cluster?.stop();
  });

  test("every file in examples/ is accepted by the API server (server-side dry run, then created)", async () => {
    assert.ok(exampleFiles.length >= 6, "examples present");
    for (const f of exampleFiles) {
      const out = await admin.kubectl(["apply", "--server-side", `--field-manager=${ARGO}`, "--dry-run=server", "-n", APPS, "-f", join(EXAMPLES, f)]);
      assert.match(out, /serverside-applied \(server dry run\)/, `${f}: ${out}`);
    }
    await applyAll(ARGO);
    const got = await servers();
    assert.deepEqual([...got.keys()].sort(), [...ftpServerNames].sort());
  });

  test("the operator brings every example to Ready; status is kstatus-readable with observedGeneration", async () => {
    for (const name of ftpServerNames) {
      const ingress = LB[name] ?? { ip: "203.0.113.10" };
      await eventually(`Service ${name}`, async () => admin.get("service", name, APPS));
      await admin.kubectl(["-n", APPS, "patch", "service", name, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { loadBalancer: { ingress: [ingress] } } })]);
    }
    let last = new Map<string, K8sObject>();
    try {
      await eventually("every example Current", async () => {
        last = await servers();
        return ftpServerNames.every((n) => isCurrent(last.get(n)));
      }, 90_000);
    } catch (err) {
      const summary = [...last.values()].map((o) => `${o.metadata.name}: ${conditions(o).filter((c) => c.status !== "True" || c.type === "Ready").map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`).join("; ")}`);
      throw new Error(`${(err as Error).message}\n${summary.join("\n")}\n${op?.logs().slice(-3000)}`);
    }
    for (const o of last.values()) {
      const st = o.status as { observedGeneration: number };
      assert.equal(st.observedGeneration, o.metadata.generation);
      const conds = conditions(o);
      for (const t of ["Ready", "Reconciling", "Stalled"]) assert.ok(conds.some((c) => c.type === t), `${o.metadata.name}: ${t} condition`);
      for (const c of conds) {
        assert.equal(c.observedGeneration, o.metadata.generation, `${o.metadata.name} ${c.type}.observedGeneration`);
        assert.ok(c.reason && c.message !== undefined && (c as { lastTransitionTime?: string }).lastTransitionTime, `${o.metadata.name} ${c.type} complete`);
      }
      assert.deepEqual(await argoHealth(o).then((h) => h.status), "Healthy", o.metadata.name);
    }
    assert.equal((last.get("ftp-aws")?.status as { passive: { externalAddress: string } }).passive.externalAddress, LB["ftp-aws"]?.hostname);
  });

  test("every example FtpUser is Ready (Active: in its FtpServer's users file)", async () => {
    assert.ok(ftpUserNames.length >= 1, "an FtpUser example present");
    for (const name of ftpUserNames) {
      await eventually(`FtpUser ${name} Ready=True Active`, async () => {
        const u = await admin.get("ftpuser", name, APPS);
        const c = conditions(u).find((x) => x.type === "Ready");
        return c?.status === "True" && c.reason === "Active" && (u?.status as { observedGeneration?: number } | undefined)?.observedGeneration === u?.metadata.generation;
      }, 30_000);
    }
  });

  test("re-applying the same manifests (a second sync) changes nothing: no conflict, no drift, no write", async () => {
    const before = await servers();
    await sleep(2000); // let the operator settle anything it still had queued
    const out = await applyAll(ARGO); // kubectl's default: --force-conflicts=false, so a conflict would fail here
    assert.doesNotMatch(out, /conflict/i);
    const after = await servers();
    for (const [name, o] of after) {
      const was = before.get(name);
      const why = () => JSON.stringify({ before: { managedFields: was?.metadata.managedFields, status: was?.status }, after: { managedFields: o.metadata.managedFields, status: o.status } }, null, 1);
      assert.equal(o.metadata.resourceVersion, was?.metadata.resourceVersion, `${name}: re-apply was a no-op\n${why()}`);
      assert.equal(o.metadata.generation, before.get(name)?.metadata.generation);
    }
    const diff = await admin.kubectlRun(["diff", "--server-side", `--field-manager=${ARGO}`, "-n", APPS, ...exampleFiles.flatMap((f) => ["-f", join(EXAMPLES, f)])]);
    assert.equal(diff.code, 0, `kubectl diff found drift:\n${diff.stdout}${diff.stderr}`);
  });

  test("the operator owns no field of the FtpServers but their status; the user owns the spec alone", async () => {
    for (const o of (await servers()).values()) {
      const mf = o.metadata.managedFields ?? [];
      const ops = mf.filter((m) => m.manager === "pasv-operator");
      assert.ok(ops.length > 0, `${o.metadata.name}: the operator wrote status`);
      for (const m of ops) {
        assert.equal(m.subresource, "status", `${o.metadata.name}: operator entry outside status`);
        assert.deepEqual(Object.keys(m.fieldsV1 ?? {}), ["f:status"]);
      }
      const specOwners = mf.filter((m) => m.fieldsV1 && "f:spec" in m.fieldsV1).map((m) => m.manager);
      assert.deepEqual(specOwners, [ARGO], `${o.metadata.name}: spec owners`);
    }
  });

  test("a change in Git is applied without conflict and the status follows (observedGeneration)", async () => {
    const file = readFileSync(join(EXAMPLES, "one-replica.yaml"), "utf8").replace("expectedConcurrentConnections: 10", "expectedConcurrentConnections: 12");
    await admin.kubectl(["apply", "--server-side", `--field-manager=${ARGO}`, "-n", APPS, "-f", "-"], file);
    const o = await eventually("ftp-single Current at generation 2", async () => {
      const x = await admin.get("ftpserver", "ftp-single", APPS);
      return x?.metadata.generation === 2 && isCurrent(x) ? x : undefined;
    }, 60_000);
    assert.equal((o.status as { passive: { numberOfPorts: number } }).passive.numberOfPorts, 60);
    // Flux takes over the same manifest with its own manager: shared ownership, no conflict.
    const flux = await admin.kubectl(["apply", "--server-side", `--field-manager=${FLUX}`, "-n", APPS, "-f", "-"], file);
    assert.doesNotMatch(flux, /conflict/i);
  });

  test("the documented Argo CD health check maps status to Progressing / Healthy / Degraded", async () => {
    const base = { apiVersion: "ftp.pasv.dev/v1alpha1", kind: "FtpServer", metadata: { name: "x", generation: 3 } };
    const cond = (type: string, status: string, reason = "R", message = "m") => ({ type, status, reason, message, observedGeneration: 3 });
    assert.equal((await argoHealth(base)).status, "Progressing");
    assert.equal((await argoHealth({ ...base, status: { observedGeneration: 2, conditions: [cond("Ready", "True")] } })).status, "Progressing");
    assert.equal((await argoHealth({ ...base, status: { observedGeneration: 3, conditions: [cond("Ready", "True"), cond("Reconciling", "False"), cond("Stalled", "False")] } })).status, "Healthy");
    assert.equal((await argoHealth({ ...base, status: { observedGeneration: 3, conditions: [cond("Ready", "False", "WaitingForPods"), cond("Reconciling", "True", "WaitingForPods")] } })).status, "Progressing");
    const stalled = await argoHealth({ ...base, status: { observedGeneration: 3, conditions: [cond("Ready", "False", "InvalidSpec"), cond("Stalled", "True", "InvalidSpec", "spec.passive: bad")] } });
    assert.deepEqual(stalled, { status: "Degraded", message: "InvalidSpec: spec.passive: bad" });
    assert.equal((await argoHealth({ ...base, status: { observedGeneration: 3, conditions: [cond("Ready", "False", "PerPortAffinity"), cond("Reconciling", "False"), cond("Stalled", "False")] } })).status, "Degraded");
  });
});
