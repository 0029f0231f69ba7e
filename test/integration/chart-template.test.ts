// The Helm chart, statically and against the real API server: `helm lint` is clean, the values
// schema rejects bad values, the rendered objects have the shape the issue asks for (probes,
// non-root, read-only root filesystem, 2 replicas with leader election, least-privilege RBAC, CRD
// behind crds.enabled/crds.keep and identical to crds/), and every rendered object is accepted
// by kube-apiserver (server-side dry run with the pinned kubectl).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { ownClusterOnly, startTestCluster, type TestCluster } from "../cluster/harness.ts";
import { CHART, Kube, ROOT, parseDocs, run, tools, type K8sObject } from "./chart-lib.ts";

const bins = tools();

async function template(...set: string[]): Promise<K8sObject[]> {
  const r = await run(bins.helm, ["template", "pasv", CHART, "--namespace", "pasv-system", ...set.flatMap((s) => ["--set", s])]);
  if (r.code !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseDocs(r.stdout);
}
const find = (docs: K8sObject[], kind: string, name?: string) => docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

describe("chart: static checks", () => {
  test("helm lint --strict is clean with defaults and with every optional part toggled", async () => {
    for (const set of [[], ["crds.enabled=false", "leaderElection.enabled=false", "replicaCount=1"], ["metrics.serviceMonitor.enabled=true", "watchNamespace=ftp", "crds.keep=false"]]) {
      const r = await run(bins.helm, ["lint", "--strict", CHART, ...set.flatMap((s) => ["--set", s])]);
      assert.equal(r.code, 0, `helm lint ${set.join(" ")}:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR|INFO)\]/, r.stdout);
    }
  });

  test("helm is the pinned, version-stamped build", async () => {
    const r = await run(bins.helm, ["version", "--template", "{{.Version}}"]);
    const pin = /helm\.sh\/helm\/v3 (v\S+)/.exec(readFileSync(join(ROOT, "test/tools/helm/go.mod"), "utf8"))?.[1];
    assert.equal(r.stdout.trim(), pin);
  });

  test("values.schema.json rejects bad values", async () => {
    for (const bad of ["logLevel=loud", "replicaCount=-1", "image.pullPolicy=Sometimes", "crds.keep=maybe", "httpPort=80", "unknownKey=1", "workloadReadiness=soon"]) {
      const r = await run(bins.helm, ["template", "pasv", CHART, "--set", bad]);
      assert.notEqual(r.code, 0, `${bad} was accepted`);
      assert.match(r.stderr, /values don't meet the specifications of the schema|schema/i, r.stderr);
    }
  });

  test("Deployment: 2 replicas, leader election, probes, non-root, read-only root filesystem, resources", async () => {
    const docs = await template();
    const [dep] = find(docs, "Deployment");
    assert.ok(dep);
    const spec = dep.spec as { replicas: number; template: { spec: Record<string, unknown> } };
    assert.equal(spec.replicas, 2);
    const pod = spec.template.spec as {
      serviceAccountName: string;
      securityContext: { runAsNonRoot: boolean; runAsUser: number; seccompProfile: { type: string } };
      containers: {
        args: string[];
        env: { name: string; value?: string }[];
        livenessProbe: { httpGet: { path: string; port: string } };
        readinessProbe: { httpGet: { path: string; port: string } };
        ports: { name: string; containerPort: number }[];
        resources: { requests: Record<string, string>; limits: Record<string, string> };
        securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
      }[];
    };
    assert.equal(pod.serviceAccountName, "pasv-pasv-operator");
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
    const [c] = pod.containers;
    assert.ok(c);
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    assert.equal(c.readinessProbe.httpGet.path, "/readyz");
    assert.deepEqual(c.ports.map((p) => [p.name, p.containerPort]), [["http", 8080]]);
    assert.ok(c.args.includes("--health-port=8080"));
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    assert.ok(c.args.includes("--leader-elect"));
    assert.ok(c.args.includes("--leader-election-id=pasv-pasv-operator"));
    assert.ok(c.args.includes("--leader-election-namespace=$(POD_NAMESPACE)"));
    for (const a of ["--lease-duration=15", "--renew-deadline=10", "--retry-period=2"]) assert.ok(c.args.includes(a), a);
    const tuned = find(await template("leaderElection.leaseDurationSeconds=30", "leaderElection.renewDeadlineSeconds=20", "leaderElection.retryPeriodSeconds=4"), "Deployment")[0];
    const tunedArgs = (tuned?.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]?.args ?? [];
    for (const a of ["--lease-duration=30", "--renew-deadline=20", "--retry-period=4"]) assert.ok(tunedArgs.includes(a), a);
    await assert.rejects(template("leaderElection.leaseDurationSeconds=10", "leaderElection.renewDeadlineSeconds=10"), /renewDeadlineSeconds/);
    assert.equal(c.env.find((e) => e.name === "LOG_LEVEL")?.value, "info");

    const single = find(await template("leaderElection.enabled=false", "replicaCount=1"), "Deployment")[0];
    const args = (single?.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]?.args ?? [];
    assert.ok(args.includes("--no-leader-elect"));
  });

  test("RBAC: the ClusterRole grants exactly what the operator uses; the Role holds the Lease", async () => {
    const docs = await template();
    const [cr] = find(docs, "ClusterRole");
    const rules = (cr as unknown as { rules: Rule[] }).rules;
    const grants = new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)))));
    const want = [
      "ftp.pasv.dev/ftpservers:get", "ftp.pasv.dev/ftpservers:list", "ftp.pasv.dev/ftpservers:watch",
      "ftp.pasv.dev/ftpservers/status:patch", "ftp.pasv.dev/ftpservers/finalizers:update",
      ...["services", "configmaps"].flatMap((r) => ["get", "list", "watch", "create", "patch"].map((v) => `/${r}:${v}`)),
      ...["get", "list", "watch", "create", "patch"].map((v) => `apps/statefulsets:${v}`),
      ...["get", "list", "watch", "create", "patch", "delete"].map((v) => `discovery.k8s.io/endpointslices:${v}`),
      ...["get", "list", "watch", "create", "patch", "delete"].map((v) => `networking.k8s.io/networkpolicies:${v}`),
      "ftp.pasv.dev/ftpusers:get", "ftp.pasv.dev/ftpusers:list", "ftp.pasv.dev/ftpusers:watch", "ftp.pasv.dev/ftpusers/status:patch",
      // patch: only the users-hash and users-version annotations that make the kubelet refresh the users Secret volume
      "/pods:get", "/pods:list", "/pods:watch", "/pods:patch",
      // list/watch into a metadata-only cache; create/patch for <server>-users-effective (docs/operator.md, "Secrets")
      "/secrets:get", "/secrets:list", "/secrets:watch", "/secrets:create", "/secrets:patch",
      "/events:create", "/events:list", "/events:patch",
    ];
    assert.deepEqual([...grants].sort(), want.sort());
    for (const r of rules) {
      assert.ok(!r.verbs.includes("*") && !r.resources.includes("*") && !r.apiGroups.includes("*"), "no wildcards");
    }
    assert.equal(find(docs, "ClusterRoleBinding").length, 1);
    const [role] = find(docs, "Role");
    const roleRules = (role as unknown as { rules: Rule[] }).rules;
    assert.deepEqual(roleRules.find((r) => r.resourceNames)?.resourceNames, ["pasv-pasv-operator"]);
    assert.deepEqual(roleRules.find((r) => r.resourceNames)?.verbs, ["get", "update"]);
    assert.equal(role?.metadata.namespace, "pasv-system");

    // watchNamespace: the ClusterRole is bound in that namespace only.
    const scoped = await template("watchNamespace=ftp");
    assert.equal(find(scoped, "ClusterRoleBinding").length, 0);
    assert.deepEqual(find(scoped, "RoleBinding").map((b) => b.metadata.namespace).sort(), ["ftp", "pasv-system"]);
  });

  test("CRD: behind crds.enabled, kept with crds.keep, and identical to crds/", async () => {
    const src = readdirSync(join(ROOT, "crds")).filter((f) => f.endsWith(".yaml")).map((f) => parse(readFileSync(join(ROOT, "crds", f), "utf8")) as K8sObject);
    const docs = await template();
    const crds = find(docs, "CustomResourceDefinition");
    assert.equal(crds.length, src.length);
    for (const s of src) {
      const c = crds.find((x) => x.metadata.name === s.metadata.name);
      assert.ok(c, `${s.metadata.name} rendered`);
      assert.deepEqual(c.spec, s.spec, "rendered CRD spec equals crds/");
      assert.equal(c.metadata.annotations?.["helm.sh/resource-policy"], "keep");
    }
    const notKept = find(await template("crds.keep=false"), "CustomResourceDefinition")[0];
    assert.equal(notKept?.metadata.annotations?.["helm.sh/resource-policy"], undefined);
    assert.equal(find(await template("crds.enabled=false"), "CustomResourceDefinition").length, 0);
  });

  test("both images under the published names, tag = appVersion; the operator gets the FTP-server image as --ftp-server-image", async () => {
    const appVersion = (parse(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as { appVersion: string }).appVersion;
    const container = (docs: K8sObject[]) =>
      (find(docs, "Deployment")[0]?.spec?.template as { spec: { containers: { image: string; imagePullPolicy: string; args: string[] }[] } }).spec.containers[0];
    const c = container(await template());
    assert.equal(c?.image, `images.pasv.dev/pasv-operator:${appVersion}`);
    assert.equal(c?.imagePullPolicy, "IfNotPresent");
    assert.ok(c?.args.includes(`--ftp-server-image=images.pasv.dev/ftp-server:${appVersion}`), JSON.stringify(c?.args));
    const pinned = container(await template("ftpServerImage.repository=mirror.example/ftp", "ftpServerImage.digest=sha256:" + "b".repeat(64)));
    assert.ok(pinned?.args.includes(`--ftp-server-image=mirror.example/ftp@sha256:${"b".repeat(64)}`), JSON.stringify(pinned?.args));
    assert.ok(container(await template("ftpServerImage.tag=0.2.0"))?.args.includes("--ftp-server-image=images.pasv.dev/ftp-server:0.2.0"));
  });

  test("ServiceMonitor only when enabled; PodDisruptionBudget only with more than one replica", async () => {
    assert.equal(find(await template(), "ServiceMonitor").length, 0);
    const sm = find(await template("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"), "ServiceMonitor")[0];
    assert.ok(sm);
    assert.equal(sm.metadata.labels?.release, "prom");
    assert.equal(find(await template(), "PodDisruptionBudget").length, 1);
    assert.equal(find(await template("replicaCount=1"), "PodDisruptionBudget").length, 0);
  });
});

describe("chart: accepted by the real API server", { skip: ownClusterOnly("it creates the namespaces pasv-system and ftp for its dry runs") }, () => {
  let cluster: TestCluster;
  let kube: Kube;
  before(async () => {
    cluster = await startTestCluster();
    kube = new Kube(cluster.kubeconfigPath, bins);
    await kube.kubectl(["create", "namespace", "pasv-system"]);
    await kube.kubectl(["create", "namespace", "ftp"]);
  });
  after(async () => {
    await cluster?.stop();
  });

  for (const [what, set] of [
    ["defaults", []],
    ["single replica, no leader election, no CRD, no metrics Service", ["replicaCount=1", "leaderElection.enabled=false", "crds.enabled=false", "metrics.service.enabled=false"]],
    ["one watched namespace, digest-pinned image, extra env and args", ["watchNamespace=ftp", "image.digest=sha256:" + "a".repeat(64), "extraEnv[0].name=X", "extraEnv[0].value=y", "extraArgs[0]=--resync-period=60"]],
  ] as const) {
    test(`helm template (${what}) passes kubectl apply --dry-run=server`, async () => {
      const r = await run(bins.helm, ["template", "pasv", CHART, "--namespace", "pasv-system", ...set.flatMap((s) => ["--set", s])]);
      assert.equal(r.code, 0, r.stderr);
      const out = await kube.kubectl(["apply", "--server-side", "--field-manager=helm-template-test", "--dry-run=server", "-f", "-"], r.stdout);
      const applied = out.trim().split("\n");
      assert.equal(applied.length, parseDocs(r.stdout).length, out);
      for (const line of applied) assert.match(line, /serverside-applied \(server dry run\)$/);
    });
  }
});
