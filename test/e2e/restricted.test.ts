// Pod Security `restricted` end to end: in a namespace that enforces it, the operator's FTP-server
// pods are admitted, run and serve a real FTP client (Python's ftplib from the client network
// namespace, through the LoadBalancer address); and a pod-level cause the operator cannot see in
// advance (an image that is not on the node, pull policy Never) reaches the FtpServer's status
// with the kubelet's reason and the pod's name, then clears when the image is fixed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { IMAGE, cond, log, probe, setup, usersFile, waitFor, waitServing, type Env, type FtpServerObj } from "./lib.ts";

const RNS = "ftp-restricted";
const NAME = "ftp-psa";

let env: Env;
before(async () => {
  env = await setup();
  env.kubectl(["apply", "-f", "-"], JSON.stringify({
    apiVersion: "v1", kind: "Namespace",
    metadata: { name: RNS, labels: { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" } },
  }));
  env.kubectl(["apply", "-f", "-"], JSON.stringify({
    apiVersion: "v1", kind: "Secret", metadata: { name: "ftp-users", namespace: RNS }, type: "Opaque", stringData: { "users.json": usersFile() },
  }));
});
after(async () => {
  await env?.stop();
});

const getFs = (): FtpServerObj => JSON.parse(env.kubectl(["get", "ftpserver", NAME, "-n", RNS, "-o", "json"])) as FtpServerObj;
const spec = (image: string) => ({
  apiVersion: "ftp.pasv.dev/v1alpha1", kind: "FtpServer", metadata: { name: NAME, namespace: RNS },
  spec: {
    replicas: 2, image, imagePullPolicy: "Never", routing: { mode: "PortPartitioned" },
    passive: { basePort: 32000, numberOfPorts: 20, addressRules: [{ userClass: "*", address: "auto" }] },
    users: { secretName: "ftp-users" },
  },
});

describe("Pod Security restricted namespace (full node)", () => {
  test("pods are admitted, become ready and serve FTP through the load balancer", async () => {
    env.kubectl(["apply", "-f", "-"], JSON.stringify(spec(IMAGE)));
    const fs = await waitFor(`${NAME} Ready with 2 ready pods`, 180_000, () => {
      const f = getFs();
      return cond(f, "Ready")?.status === "True" && f.status?.readyReplicas === 2 && f.status.passive?.externalAddress ? f : undefined;
    }, 1000);
    const failed = env.kubectl(["get", "events", "-n", RNS, "--field-selector", "reason=FailedCreate", "-o", "name"]).trim();
    assert.equal(failed, "", "no pod was refused by Pod Security admission");
    const lb = fs.status!.passive!.externalAddress!;
    await waitServing(env, lb);
    const p = probe(env, lb, "alice");
    assert.match(p.greeting, /^220/);
    assert.match(p.pasv, /^227 /);
    assert.equal(p.epsv_nlst_ok, true, "a passive data connection worked");
    log(`restricted namespace: ${NAME} serves FTP at ${lb}`);
  });

  test("an image that is not on the node → Ready=False with the kubelet's reason and the pod's name; fixed → Ready", async () => {
    env.kubectl(["apply", "-f", "-"], JSON.stringify(spec("pasv.local/does-not-exist:1")));
    const t0 = Date.now();
    const f = await waitFor(`${NAME} reports the pod-level cause`, 60_000, () => {
      const x = getFs();
      const r = cond(x, "Ready");
      return r?.status === "False" && r.reason === "ErrImageNeverPull" ? x : undefined;
    }, 500);
    log(`pod-level cause reported ${Date.now() - t0} ms after the bad image was applied`);
    assert.match(cond(f, "Ready")!.message!, new RegExp(`pod ${RNS}/${NAME}-\\d container ftp-server: ErrImageNeverPull`));
    env.kubectl(["apply", "-f", "-"], JSON.stringify(spec(IMAGE)));
    await waitFor(`${NAME} Ready again`, 180_000, () => {
      const x = getFs();
      return cond(x, "Ready")?.status === "True" && x.status?.readyReplicas === 2 && x.status.observedGeneration === x.metadata.generation;
    }, 1000);
  });
});
