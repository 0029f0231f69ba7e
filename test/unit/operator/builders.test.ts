/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return -- test fixtures poke at plain JSON */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { serverConfigSchema } from "../../../server-image/src/config/schema.ts";
import { buildConfigMap, renderServerConfig } from "../../../operator/src/controller/config.ts";
import { desiredChildren, withAddress } from "../../../operator/src/controller/desired.ts";
import { buildEndpointSlices, type PodView } from "../../../operator/src/controller/endpointslices.ts";
import { ENDPOINTSLICE_MANAGED_BY, effective, fixedBlocks, partition } from "../../../operator/src/controller/model.ts";
import { buildService, externalAddress, providerAnnotations } from "../../../operator/src/controller/service.ts";
import { buildStatefulSet } from "../../../operator/src/controller/statefulset.ts";
import { ftpServer } from "./fixtures.ts";

const pod = (slot: number, ip: string | undefined, ready = true): PodView => ({
  name: `ftp-${slot}`, uid: `uid-${slot}`, slot, ip, nodeName: `node-${slot}`, ready, terminating: false,
});

describe("partition", () => {
  it("splits the range into contiguous disjoint slices covering it", () => {
    const s = partition(30000, 10, 3);
    assert.deepEqual(s, [
      { slot: 0, portStart: 30000, portEnd: 30003 },
      { slot: 1, portStart: 30004, portEnd: 30006 },
      { slot: 2, portStart: 30007, portEnd: 30009 },
    ]);
  });
  it("one slot gets the whole range", () => {
    assert.deepEqual(partition(10000, 1024, 1), [{ slot: 0, portStart: 10000, portEnd: 11023 }]);
  });
});

describe("fixed blocks (passive.portsPerReplica)", () => {
  it("slot i owns base + i x size whatever the replica count; a partial block at the end is not used", () => {
    assert.deepEqual(fixedBlocks(31000, 45, 10).map((b) => [b.slot, b.portStart, b.portEnd]), [
      [0, 31000, 31009], [1, 31010, 31019], [2, 31020, 31029], [3, 31030, 31039],
    ]);
  });
  it("the server config lists every block, so it is the same for every replica count (a new pod needs no ConfigMap update)", () => {
    const cfg = (replicas: number) =>
      buildConfigMap(ftpServer({ replicas, passive: { basePort: 31000, numberOfPorts: 40, portsPerReplica: 10 } }), effective(ftpServer({ replicas, passive: { basePort: 31000, numberOfPorts: 40, portsPerReplica: 10 } }).spec), "198.51.100.7") as any;
    const texts = [1, 2, 3, 4].map((r) => cfg(r).data["config.yaml"]);
    assert.ok(texts.every((t) => t === texts[0]));
    assert.equal(parse(texts[0]).passive.slices.length, 4);
    // status shows the slices in use only
    assert.equal(effective(ftpServer({ replicas: 3, passive: { basePort: 31000, numberOfPorts: 40, portsPerReplica: 10 } }).spec).slices.length, 3);
  });
  it("without it, the even split re-slices with the replica count (the config changes)", () => {
    const a = effective(ftpServer({ replicas: 3, passive: { basePort: 31000, numberOfPorts: 40 } }).spec);
    const b = effective(ftpServer({ replicas: 4, passive: { basePort: 31000, numberOfPorts: 40 } }).spec);
    assert.notDeepEqual(a.configSlices, b.configSlices);
  });
});

describe("server config", () => {
  it("renders exactly the server's config format (validated by its zod schema)", () => {
    const fs = ftpServer({
      passive: {
        basePort: 30000,
        expectedConcurrentConnections: 4,
        addressRules: [
          { userClass: "partner*", address: "auto" },
          { userClass: "internal", address: "192.0.2.10", enabled: false },
        ],
      },
      userClasses: [{ name: "partners", match: { groups: ["partners"], fromAddresses: ["198.51.100.0/24"] } }],
      tls: { mode: "Both", secretName: "ftp-tls" },
      proxyProtocol: { enabled: true, trustedSources: ["10.0.0.0/8"] },
    });
    const e = effective(fs.spec);
    const cfg = serverConfigSchema.parse(renderServerConfig(e, "198.51.100.7"));
    assert.equal(cfg.passive.portStart, 30000);
    assert.equal(cfg.passive.portEnd, 30019); // 5 x 4
    assert.equal(cfg.passive.externalAddress, "198.51.100.7");
    assert.deepEqual(cfg.passive.slices, [
      { slot: 0, portStart: 30000, portEnd: 30009 },
      { slot: 1, portStart: 30010, portEnd: 30019 },
    ]);
    assert.deepEqual(cfg.passive.addressRules.map((r) => [r.userClass, r.address, r.enabled]), [
      ["partner*", "auto", true],
      ["internal", "192.0.2.10", false],
    ]);
    assert.equal(cfg.tls.mode, "both");
    assert.equal(cfg.listen.implicitTlsPort, 990);
    assert.equal(cfg.dataConnectionCheck, "strict"); // PROXY protocol restores the client IP
    assert.equal(cfg.usersFile, "/etc/pasv/users/users.json");
    // the ConfigMap carries the same thing as YAML, and it parses back through the schema
    const cm = buildConfigMap(fs, e, "198.51.100.7") as any;
    assert.deepEqual(serverConfigSchema.parse(parse(cm.data["config.yaml"])), cfg);
  });
  it("ClientIPAffinity: no slices (every pod serves the whole range); SNAT without PROXY = relaxed check", () => {
    const fs = ftpServer({ routing: { mode: "ClientIPAffinity" }, service: { type: "LoadBalancer", externalTrafficPolicy: "Cluster" } as any });
    const cfg = serverConfigSchema.parse(renderServerConfig(effective(fs.spec), null));
    assert.equal(cfg.passive.slices, undefined);
    assert.equal(cfg.dataConnectionCheck, "relaxed");
    assert.equal(cfg.passive.externalAddress, null);
  });
});

describe("Service", () => {
  it("PortPartitioned: selector-less, control port + one pasv-<port> per passive port", () => {
    const fs = ftpServer();
    const svc = buildService(fs, effective(fs.spec)) as any;
    assert.equal(svc.spec.selector, undefined);
    assert.equal(svc.spec.type, "LoadBalancer");
    assert.equal(svc.spec.externalTrafficPolicy, "Cluster");
    assert.equal(svc.spec.ports.length, 11);
    assert.deepEqual(svc.spec.ports[0], { name: "ftp", port: 21, targetPort: 21, protocol: "TCP" });
    assert.deepEqual(svc.spec.ports[1], { name: "pasv-30000", port: 30000, targetPort: 30000, protocol: "TCP" });
    assert.ok(svc.spec.ports.every((p: any) => p.name.length <= 15));
    assert.equal(svc.metadata.ownerReferences[0].kind, "FtpServer");
    assert.equal(svc.metadata.ownerReferences[0].controller, true);
  });
  it("ClientIPAffinity: selector, ClientIP affinity with timeout, Local policy, provider stickiness", () => {
    const fs = ftpServer({ routing: { mode: "ClientIPAffinity", sessionAffinityTimeoutSeconds: 600 }, service: { type: "LoadBalancer", provider: "AWSNLB" } as any });
    const svc = buildService(fs, effective(fs.spec)) as any;
    assert.equal(svc.spec.sessionAffinity, "ClientIP");
    assert.equal(svc.spec.sessionAffinityConfig.clientIP.timeoutSeconds, 600);
    assert.equal(svc.spec.externalTrafficPolicy, "Local");
    assert.ok(svc.spec.selector);
    assert.equal(
      svc.metadata.annotations["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"],
      "stickiness.enabled=true,stickiness.type=source_ip",
    );
  });
  it("NodePort: every passive port is its own nodePort", () => {
    const fs = ftpServer({ service: { type: "NodePort" } as any });
    const svc = buildService(fs, effective(fs.spec)) as any;
    assert.ok(svc.spec.ports.slice(1).every((p: any) => p.nodePort === p.port));
  });
  it("provider presets; explicit annotations win", () => {
    const e = (provider: string, extra: object = {}) => effective(ftpServer({ service: { type: "LoadBalancer", provider, ...extra } as any }).spec);
    assert.equal(providerAnnotations("OCI", e("OCI"))["oci-network-load-balancer.oraclecloud.com/backend-policy"], "TWO_TUPLE");
    assert.equal(providerAnnotations("MetalLB", e("MetalLB", { sharedIPKey: "ftp" }))["metallb.io/allow-shared-ip"], "ftp");
    assert.ok(providerAnnotations("Azure", e("Azure"))["service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"]);
    const fs = ftpServer({ service: { type: "LoadBalancer", provider: "GCP", annotations: { "cloud.google.com/l4-rbs": "disabled" } } as any });
    assert.equal((buildService(fs, effective(fs.spec)) as any).metadata.annotations["cloud.google.com/l4-rbs"], "disabled");
  });
});

describe("external address", () => {
  const fs = ftpServer({ passive: { basePort: 30000, numberOfPorts: 10, addressRules: [{ userClass: "*", address: "auto", enabled: true }] } });
  const e = effective(fs.spec);
  const svc = (ingress: object[]) => ({ status: { loadBalancer: { ingress } } });
  it("takes the IPv4 ingress first", () => {
    assert.equal(externalAddress(fs, e, svc([{ ip: "2001:db8::1" }, { ip: "203.0.113.9" }])).address, "203.0.113.9");
  });
  it("passes a host name through (the server resolves it)", () => {
    const r = externalAddress(fs, e, svc([{ hostname: "lb.example.net" }]));
    assert.equal(r.address, "lb.example.net");
    assert.equal(r.reason, "LoadBalancerHostname");
  });
  it("waits when the load balancer has no address", () => {
    const r = externalAddress(fs, e, svc([]));
    assert.equal(r.resolved, false);
    assert.equal(r.reason, "WaitingForLoadBalancer");
  });
  it("ClusterIP: the cluster IP", () => {
    const f2 = ftpServer({ service: { type: "ClusterIP" } as any });
    assert.equal(externalAddress(f2, effective(f2.spec), { spec: { clusterIP: "10.96.0.20" } }).address, "10.96.0.20");
  });
});

describe("EndpointSlices", () => {
  it("one control slice with every pod, one passive slice per slot with only its pod", () => {
    const fs = ftpServer({ replicas: 3 });
    const slices = buildEndpointSlices(fs, effective(fs.spec), [pod(0, "10.0.0.10"), pod(1, "10.0.0.11", false), pod(2, undefined)]) as any[];
    assert.equal(slices.length, 4);
    const [control, s0, s1, s2] = slices;
    assert.equal(control.metadata.labels["endpointslice.kubernetes.io/managed-by"], ENDPOINTSLICE_MANAGED_BY);
    assert.equal(control.metadata.labels["kubernetes.io/service-name"], "ftp");
    assert.deepEqual(control.ports, [{ name: "ftp", port: 21, protocol: "TCP" }]);
    assert.deepEqual(control.endpoints.map((e: any) => [e.addresses[0], e.conditions.ready]), [["10.0.0.10", true], ["10.0.0.11", false]]);
    assert.deepEqual(s0.endpoints.map((e: any) => e.addresses[0]), ["10.0.0.10"]);
    assert.deepEqual(s0.ports.map((p: any) => p.name), ["pasv-30000", "pasv-30001", "pasv-30002", "pasv-30003"]);
    assert.deepEqual(s1.ports.map((p: any) => p.port), [30004, 30005, 30006]);
    // pod 1 is not Ready: the control port sends it no session, but its block stays routed (only
    // its own sessions use it; a failing probe must not break their transfers)
    assert.deepEqual(s1.endpoints[0].conditions, { ready: true, serving: true, terminating: false });
    assert.equal(s2.endpoints, undefined); // no pod IP yet: the slot's ports go nowhere, never to another pod
    // every passive port appears in exactly one slice
    const ports = slices.slice(1).flatMap((s) => s.ports.map((p: any) => p.port));
    assert.equal(new Set(ports).size, 10);
  });
  it("fixed blocks: a scale-down's leaving pod keeps its block (serving, terminating) until it is gone", () => {
    const fs = ftpServer({ replicas: 2, passive: { basePort: 30000, numberOfPorts: 40, portsPerReplica: 10 } });
    const leaving = { ...pod(3, "10.0.0.13"), terminating: true };
    const slices = buildEndpointSlices(fs, effective(fs.spec), [pod(0, "10.0.0.10"), pod(1, "10.0.0.11"), leaving]) as any[];
    assert.deepEqual(slices.map((s) => s.metadata.name), ["ftp-control", "ftp-pasv-0-0", "ftp-pasv-1-0", "ftp-pasv-3-0"]);
    const [control, , , s3] = slices;
    // control: no new session for the leaving pod
    assert.deepEqual(control.endpoints.map((e: any) => [e.addresses[0], e.conditions.ready, e.conditions.terminating]), [
      ["10.0.0.10", true, false], ["10.0.0.11", true, false], ["10.0.0.13", false, true],
    ]);
    // its block: still its ports and only its pod, as kube-proxy's serving-terminating fallback wants it
    assert.deepEqual([s3.ports[0].port, s3.ports.at(-1).port], [30030, 30039]);
    assert.deepEqual(s3.endpoints.map((e: any) => [e.addresses[0], e.conditions]), [["10.0.0.13", { ready: false, serving: true, terminating: true }]]);
    // once it is gone its block is no longer routed (the reconciler deletes the stale slice)
    const after = buildEndpointSlices(fs, effective(fs.spec), [pod(0, "10.0.0.10"), pod(1, "10.0.0.11")]) as any[];
    assert.deepEqual(after.map((s) => s.metadata.name), ["ftp-control", "ftp-pasv-0-0", "ftp-pasv-1-0"]);
  });
  it("fixed blocks: scaling never moves a port to another pod", () => {
    const owner = (replicas: number) => {
      const fs = ftpServer({ replicas, passive: { basePort: 30000, numberOfPorts: 40, portsPerReplica: 10 } });
      const pods = Array.from({ length: replicas }, (_, i) => pod(i, `10.0.0.${10 + i}`));
      const m = new Map<number, string>();
      for (const s of (buildEndpointSlices(fs, effective(fs.spec), pods) as any[]).slice(1)) for (const p of s.ports) m.set(p.port, s.endpoints[0].addresses[0]);
      return m;
    };
    const by = [3, 4, 2, 3, 1].map(owner);
    for (const a of by) for (const b of by) for (const [port, ip] of a) if (b.has(port)) assert.equal(b.get(port), ip, `port ${port}`);
  });
  it("even split (no portsPerReplica): a leaving pod keeps only its control endpoint (its old ports now have other owners)", () => {
    const fs = ftpServer({ replicas: 2, passive: { basePort: 30000, numberOfPorts: 40 } });
    const slices = buildEndpointSlices(fs, effective(fs.spec), [pod(0, "10.0.0.10"), pod(1, "10.0.0.11"), { ...pod(2, "10.0.0.12"), terminating: true }]) as any[];
    assert.deepEqual(slices.map((s) => s.metadata.name), ["ftp-control", "ftp-pasv-0-0", "ftp-pasv-1-0"]);
    assert.equal(slices[0].endpoints.length, 3);
  });
  it("splits a slot's ports to stay within the per-slice limit", () => {
    const fs = ftpServer({ replicas: 2, passive: { basePort: 40000, numberOfPorts: 250 } });
    const slices = buildEndpointSlices(fs, effective(fs.spec), [pod(0, "10.0.0.10"), pod(1, "10.0.0.11")], { maxPortsPerSlice: 100 }) as any[];
    assert.deepEqual(slices.map((s) => [s.metadata.name, s.ports.length]), [
      ["ftp-control", 1], ["ftp-pasv-0-0", 100], ["ftp-pasv-0-1", 25], ["ftp-pasv-1-0", 100], ["ftp-pasv-1-1", 25],
    ]);
    assert.ok(slices.every((s) => s.metadata.ownerReferences?.[0]?.uid === fs.metadata.uid));
  });
  it("none for ClientIPAffinity (the Service has a selector)", () => {
    const fs = ftpServer({ routing: { mode: "ClientIPAffinity" } as any });
    assert.deepEqual(buildEndpointSlices(fs, effective(fs.spec), [pod(0, "10.0.0.10")]), []);
  });
});

describe("StatefulSet", () => {
  it("slot from the pod-index label, config mounted as a directory, no config hash in the template", () => {
    const fs = ftpServer();
    const sts = buildStatefulSet(fs, effective(fs.spec)) as any;
    const c = sts.spec.template.spec.containers[0];
    const slot = c.env.find((v: any) => v.name === "PASV_SLOT");
    assert.equal(slot.valueFrom.fieldRef.fieldPath, "metadata.labels['apps.kubernetes.io/pod-index']");
    const cfgMount = c.volumeMounts.find((m: any) => m.name === "config");
    assert.equal(cfgMount.mountPath, "/etc/pasv/config");
    assert.equal(cfgMount.subPath, undefined);
    assert.equal(sts.spec.template.metadata.annotations, undefined);
    assert.equal(sts.spec.replicas, 2);
  });
  it("the pod template does not change when rules or the address change", () => {
    const a = ftpServer();
    const b = ftpServer({ passive: { basePort: 30000, numberOfPorts: 10, addressRules: [{ userClass: "*", address: "198.51.100.7", enabled: true }] } });
    assert.deepEqual((buildStatefulSet(a, effective(a.spec)) as any).spec.template, (buildStatefulSet(b, effective(b.spec)) as any).spec.template);
  });
  it("a terminating pod keeps serving while its endpoints are withdrawn, and the grace covers delay + drain", () => {
    const fs = ftpServer();
    const pod = (buildStatefulSet(fs, effective(fs.spec)) as any).spec.template.spec;
    const delay = pod.containers[0].lifecycle.preStop.sleep.seconds;
    assert.ok(delay >= 3, "longer than kube-proxy's observed 2-3 s endpoint propagation");
    const drainGrace = serverConfigSchema.parse(renderServerConfig(effective(fs.spec), null)).drainGraceSeconds;
    assert.ok(pod.terminationGracePeriodSeconds > delay + drainGrace, "kubelet does not SIGKILL a draining server");
  });
  it("ClientIPAffinity: one pod per node (required anti-affinity)", () => {
    const fs = ftpServer({ routing: { mode: "ClientIPAffinity" } as any });
    const sts = buildStatefulSet(fs, effective(fs.spec)) as any;
    assert.equal(sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey, "kubernetes.io/hostname");
  });
  it("SharedClaim: every replica mounts the one existing claim at /data, with its subPath; no claim templates", () => {
    const fs = ftpServer({ replicas: 3, storage: { type: "SharedClaim", claimName: "ftp-files", subPath: "tenants/a" } as any });
    const sts = buildStatefulSet(fs, effective(fs.spec)) as any;
    assert.equal(sts.spec.volumeClaimTemplates, undefined);
    assert.deepEqual(sts.spec.template.spec.volumes.find((v: any) => v.name === "data"), { name: "data", persistentVolumeClaim: { claimName: "ftp-files" } });
    const mount = sts.spec.template.spec.containers[0].volumeMounts.find((m: any) => m.name === "data");
    assert.deepEqual(mount, { name: "data", mountPath: "/data", subPath: "tenants/a" });
  });
  it("PVC storage becomes volumeClaimTemplates", () => {
    const fs = ftpServer({ storage: { type: "PersistentVolumeClaim", size: "10Gi" } as any });
    const sts = buildStatefulSet(fs, effective(fs.spec)) as any;
    assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "10Gi");
    assert.ok(!sts.spec.template.spec.volumes.some((v: any) => v.name === "data"));
  });
});

describe("withAddress (the reconciler builds the children once, before the Service answers)", () => {
  it("equals building every child with the address, for a host-name and an IP address, with pods", () => {
    const fs = ftpServer({
      replicas: 2,
      passive: { basePort: 30000, numberOfPorts: 10, addressRules: [{ userClass: "*", address: "auto", enabled: true }] },
      networkPolicy: { enabled: true },
      service: { type: "LoadBalancer", hostnamePolicy: "PassThrough" },
    } as any);
    const e = effective(fs.spec);
    const pods = [pod(0, "10.0.0.1"), pod(1, "10.0.0.2", false)];
    const unaddressed = desiredChildren(fs, e, null, pods);
    for (const address of ["ftp.example.com", "198.51.100.7"]) {
      const want = desiredChildren(fs, e, address, pods);
      assert.notDeepEqual(unaddressed.configMap, want.configMap, "the address reaches the config");
      assert.deepEqual(withAddress(unaddressed, fs, e, address), want);
    }
  });
});
