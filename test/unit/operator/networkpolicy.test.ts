/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- the built object is plain JSON */
// The FtpServer's NetworkPolicy (operator/src/controller/networkpolicy.ts): exactly the control,
// implicit-TLS, passive and metrics ports in; DNS out only for host-name addresses; the clients
// out only with active mode; gone when disabled; follows range, port and active-mode changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { effective } from "../../../operator/src/controller/model.ts";
import { buildNetworkPolicy, needsDns } from "../../../operator/src/controller/networkpolicy.ts";
import type { SpecInput } from "../../../operator/src/api/v1alpha1.ts";
import { ftpServer } from "./fixtures.ts";

function policy(spec: Partial<SpecInput> = {}, externalAddress: string | null = null): any {
  const fs = ftpServer(spec);
  return buildNetworkPolicy(fs, effective(fs.spec), externalAddress);
}

test("default: on (also when spec.networkPolicy is omitted), selects the FtpServer's pods, owned by it", () => {
  const np = policy();
  assert.equal(np.kind, "NetworkPolicy");
  assert.equal(np.metadata.name, "ftp");
  assert.equal(np.metadata.namespace, "files");
  assert.equal(np.metadata.ownerReferences[0].kind, "FtpServer");
  assert.deepEqual(np.spec.podSelector.matchLabels, { "app.kubernetes.io/name": "ftp-server", "app.kubernetes.io/instance": "ftp", "ftp.pasv.dev/server": "ftp" });
  assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
  assert.equal(policy({ networkPolicy: { enabled: false } }), undefined);
});

test("ingress: control port and the passive range from everywhere, metrics from any pod in the cluster; no egress", () => {
  const np = policy();
  assert.deepEqual(np.spec.ingress, [
    { ports: [{ protocol: "TCP", port: 21 }, { protocol: "TCP", port: 30000, endPort: 30009 }] },
    { from: [{ namespaceSelector: {} }], ports: [{ protocol: "TCP", port: 9100 }] },
  ]);
  assert.deepEqual(np.spec.egress, [], "an FTP server with IP addresses and passive mode only opens no connection");
});

test("follows the range, the control port and implicit TLS", () => {
  const np = policy({ controlPort: 2121, passive: { basePort: 40000, numberOfPorts: 500 }, tls: { mode: "Both", secretName: "t", implicitPort: 990 } as any });
  assert.deepEqual(np.spec.ingress[0].ports, [{ protocol: "TCP", port: 2121 }, { protocol: "TCP", port: 990 }, { protocol: "TCP", port: 40000, endPort: 40499 }]);
  const one = policy({ passive: { basePort: 40000, numberOfPorts: 1 } });
  assert.deepEqual(one.spec.ingress[0].ports[1], { protocol: "TCP", port: 40000 }, "a one-port range has no endPort");
  const sized = policy({ passive: { basePort: 31000, expectedConcurrentConnections: 20 } });
  assert.deepEqual(sized.spec.ingress[0].ports[1], { protocol: "TCP", port: 31000, endPort: 31099 }, "the 5x default");
});

test("ftpFrom and metricsFrom restrict the sources", () => {
  const np = policy({ networkPolicy: { ftpFrom: ["203.0.113.0/24", "2001:db8::/32"], metricsFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } }, podSelector: { matchLabels: { app: "prometheus" } } }] } });
  assert.deepEqual(np.spec.ingress[0].from, [{ ipBlock: { cidr: "203.0.113.0/24" } }, { ipBlock: { cidr: "2001:db8::/32" } }]);
  assert.deepEqual(np.spec.ingress[1].from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } }, podSelector: { matchLabels: { app: "prometheus" } } }]);
});

test("egress: DNS only when a passive address is a host name the server resolves", () => {
  const rules = (address: string, enabled?: boolean) => ({ passive: { basePort: 30000, numberOfPorts: 10, addressRules: [{ userClass: "*", address, ...(enabled === undefined ? {} : { enabled }) }] } });
  const dns = [{ ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }];
  assert.deepEqual(policy(rules("ftp.example.com")).spec.egress, dns);
  assert.deepEqual(policy(rules("198.51.100.7")).spec.egress, []);
  assert.deepEqual(policy(rules("2001:db8::7")).spec.egress, []);
  assert.deepEqual(policy(rules("ftp.example.com", false)).spec.egress, [], "a disabled rule never answers PASV");
  assert.deepEqual(policy(rules("auto"), "198.51.100.7").spec.egress, []);
  assert.deepEqual(policy(rules("auto"), "lb-1.elb.example.com").spec.egress, dns, "auto with a load balancer host name (PassThrough)");
  const ignore = ftpServer({ ...rules("auto"), service: { type: "LoadBalancer", provider: "None", hostnamePolicy: "Ignore" } as any });
  assert.equal(needsDns(effective(ignore.spec), "lb-1.elb.example.com"), false, "hostnamePolicy Ignore: the server never sees the host name");
});

test("egress: active mode lets the server connect back to the clients (ftpFrom, else anywhere), and only then", () => {
  assert.deepEqual(policy({ activeMode: true }).spec.egress, [
    { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }, { ipBlock: { cidr: "::/0" } }], ports: [{ protocol: "TCP", port: 1, endPort: 65535 }] },
  ]);
  assert.deepEqual(policy({ activeMode: true, networkPolicy: { ftpFrom: ["203.0.113.0/24"] } }).spec.egress, [
    { to: [{ ipBlock: { cidr: "203.0.113.0/24" } }], ports: [{ protocol: "TCP", port: 1, endPort: 65535 }] },
  ]);
  assert.deepEqual(policy({ activeMode: false }).spec.egress, []);
});
