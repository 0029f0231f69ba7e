// The dashboard and the alerts (docs/observability.md): the real promtool (built from Prometheus'
// Go module, test/tools/promtool) checks the rules and runs their unit tests (test/alerts/), every
// alert has a firing and a silent case, every metric they read is one the FTP server or the
// operator really exports (their own Metrics classes, instantiated), and the chart renders them
// opt-in: the PrometheusRule, the dashboard ConfigMap for Grafana's sidecar, the FTP PodMonitor.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import { SERVER_LABEL, commonLabels } from "../../operator/src/controller/model.ts";
import { Metrics as OperatorMetrics } from "../../operator/src/runtime/metrics.ts";
import { Metrics as ServerMetrics } from "../../server-image/src/metrics.ts";
import { PortPool } from "../../server-image/src/passive/pool.ts";
import { CHART, ROOT, must, parseDocs, run, tools, type K8sObject } from "./chart-lib.ts";

const RULES = join(CHART, "files/prometheus-rules.yaml");
const DASHBOARD = join(CHART, "files/grafana-dashboard.json");
const TESTS = join(ROOT, "test/alerts/alerts.test.yaml");
let promtool: string;
let helm: string;
const work = mkdtempSync(join(tmpdir(), "pasv-alerts-"));

interface Rule { alert?: string; record?: string; expr: string }
const rules = (parse(readFileSync(RULES, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: { targets?: { expr: string }[] }[]; templating: { list: { query?: unknown }[] } };

before(() => {
  promtool = execFileSync(join(ROOT, "test/tools/promtool/build.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  helm = tools().helm;
});
after(() => rmSync(work, { recursive: true, force: true }));

test("promtool: the version is the pinned one, `check rules` accepts the rule file", async () => {
  assert.match(await must(promtool, ["--version"]), /promtool, version 3\.\d+\.\d+/);
  const out = await must(promtool, ["check", "rules", RULES]);
  assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test("promtool test rules: every case passes", async () => {
  const r = await run(promtool, ["test", "rules", TESTS]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS/);
});

test("the rule tests can fail: a changed threshold breaks them", async () => {
  const dir = join(work, "mutated");
  execFileSync("mkdir", ["-p", join(dir, "charts/pasv-operator/files"), join(dir, "test/alerts")]);
  const mutated = readFileSync(RULES, "utf8").replace("> 0.8", "> 0.9");
  assert.notEqual(mutated, readFileSync(RULES, "utf8"));
  writeFileSync(join(dir, "charts/pasv-operator/files/prometheus-rules.yaml"), mutated);
  writeFileSync(join(dir, "test/alerts/alerts.test.yaml"), readFileSync(TESTS, "utf8"));
  const r = await run(promtool, ["test", "rules", join(dir, "test/alerts/alerts.test.yaml")]);
  assert.notEqual(r.code, 0, "promtool test rules must fail when the pool alert's threshold moves");
  assert.match(r.stdout + r.stderr, /FtpPassivePoolNearlyFull/);
});

test("every alert has a case where it fires and one where it stays silent", () => {
  const cases = (parse(readFileSync(TESTS, "utf8")) as { tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }).tests
    .flatMap((t) => t.alert_rule_test ?? []);
  const alerts = rules.filter((r) => r.alert).map((r) => r.alert!);
  assert.ok(alerts.length >= 6, `alerts: ${alerts.join(", ")}`);
  for (const a of alerts) {
    assert.ok(cases.some((c) => c.alertname === a && (c.exp_alerts?.length ?? 0) > 0), `${a}: a firing case`);
    assert.ok(cases.some((c) => c.alertname === a && (c.exp_alerts?.length ?? 0) === 0), `${a}: a silent case`);
  }
});

test("every metric the alerts and the dashboard read is exported by the FTP server or the operator (or is kube-state-metrics' / Prometheus' own)", async () => {
  const pool = new PortPool(30000, 30009, 0);
  const exported = new Set<string>();
  for (const reg of [new ServerMetrics(() => pool.stats()).registry, new OperatorMetrics().registry]) {
    for (const m of await reg.getMetricsAsJSON()) {
      exported.add(m.name);
      if (String(m.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) exported.add(m.name + s);
    }
  }
  const exprs = [
    ...rules.map((r) => r.expr),
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => JSON.stringify(v.query ?? "")),
  ];
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:ftp|controller_runtime|workqueue|pasv_operator|rest_client|leader_election)_[a-z_]+)\b/g)].map((m) => m[1]!)));
  assert.ok(used.size >= 15, `metrics found in the expressions: ${[...used].join(", ")}`);
  const missing = [...used].filter((n) => !exported.has(n));
  assert.deepEqual(missing, [], "metrics nobody exports");
  const others = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(kube_[a-z_]+|up)\b(?=\s*[{)]|\s*-|\s*$)/g)].map((m) => m[1]!)));
  assert.deepEqual([...others].filter((n) => !["up", "kube_statefulset_replicas", "kube_statefulset_status_replicas_ready"].includes(n)), []);
});

test("chart: nothing by default; opt-in PrometheusRule = the rule file, dashboard ConfigMap with the sidecar label, FTP PodMonitor adds `ftpserver`", async () => {
  const template = async (...sets: string[]) => parseDocs(await must(helm, ["template", "t", CHART, "-n", "obs", ...sets.flatMap((s) => ["--set", s])]));
  const kinds = (docs: K8sObject[]) => docs.map((d) => d.kind);
  const plain = await template();
  for (const k of ["PrometheusRule", "PodMonitor"]) assert.ok(!kinds(plain).includes(k), `${k} is opt-in`);
  assert.ok(!plain.some((d) => d.kind === "ConfigMap" && d.metadata.name.endsWith("-dashboard")), "dashboard is opt-in");

  const on = await template("metrics.prometheusRule.enabled=true", "metrics.prometheusRule.labels.release=prom", "metrics.grafanaDashboard.enabled=true",
    "metrics.grafanaDashboard.namespace=grafana", "metrics.grafanaDashboard.annotations.grafana_folder=FTP", "metrics.ftpServerPodMonitor.enabled=true", "watchNamespace=ftp");
  const rule = on.find((d) => d.kind === "PrometheusRule") as K8sObject & { spec: unknown };
  assert.equal(rule.metadata.labels?.release, "prom");
  assert.deepEqual(rule.spec, parse(readFileSync(RULES, "utf8")), "the PrometheusRule carries exactly the promtool-tested rules");
  writeFileSync(join(work, "rendered-rules.yaml"), JSON.stringify(rule.spec));
  assert.match(await must(promtool, ["check", "rules", join(work, "rendered-rules.yaml")]), /SUCCESS/);

  const cm = on.find((d) => d.kind === "ConfigMap" && d.metadata.name === "t-pasv-operator-dashboard") as K8sObject & { data: Record<string, string> };
  assert.equal(cm.metadata.namespace, "grafana");
  assert.equal(cm.metadata.labels?.grafana_dashboard, "1");
  assert.equal(cm.metadata.annotations?.grafana_folder, "FTP");
  assert.deepEqual(JSON.parse(cm.data["pasv-operator.json"]!), JSON.parse(readFileSync(DASHBOARD, "utf8")));

  const pm = on.find((d) => d.kind === "PodMonitor") as K8sObject & { spec: { selector: unknown; namespaceSelector: unknown; podMetricsEndpoints: { port: string; relabelings: { sourceLabels: string[]; targetLabel: string }[] }[] } };
  assert.deepEqual(pm.spec.selector, { matchLabels: { "app.kubernetes.io/name": "ftp-server", "app.kubernetes.io/managed-by": "pasv-operator" } });
  assert.deepEqual(pm.spec.namespaceSelector, { matchNames: ["ftp"] });
  assert.equal(pm.spec.podMetricsEndpoints[0]!.port, "metrics");
  assert.deepEqual(pm.spec.podMetricsEndpoints[0]!.relabelings, [{ sourceLabels: ["__meta_kubernetes_pod_label_ftp_pasv_dev_server"], targetLabel: "ftpserver" }]);
  // ... and those are the labels the operator puts on FTP-server pods (Prometheus' meta label: non-alphanumerics → _)
  const podLabels = commonLabels("x");
  for (const [k, v] of Object.entries((pm.spec.selector as { matchLabels: Record<string, string> }).matchLabels)) assert.equal(podLabels[k], v, k);
  assert.equal(`__meta_kubernetes_pod_label_${SERVER_LABEL.replace(/[^A-Za-z0-9_]/g, "_")}`, pm.spec.podMetricsEndpoints[0]!.relabelings[0]!.sourceLabels[0]);
});
