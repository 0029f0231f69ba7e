// FtpUsers on a real API server with the operator in-process: an FtpUser's add, disable and
// delete change the users file the pods mount (`<server>-users-effective`, owned by the
// FtpServer), the file's own users stay; a missing Secret, a missing key, a plain password and a
// duplicate name each make the FtpUser Ready=False with that reason and a Warning Event, and fixing
// it makes it Ready=True; the server's pods get the users-hash annotation (the kubelet refresh);
// a no-op resync writes nothing. (No kubelet here: the pod is a bare Pod with the server's labels.)
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call -- plain JSON objects */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Operator } from "../../operator/src/controller/operator.ts";
import { selectorLabels } from "../../operator/src/controller/model.ts";
import { USERS_HASH_ANNOTATION, USERS_VERSION_ANNOTATION, usersHash } from "../../operator/src/controller/users.ts";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources, type KubeObject } from "../../operator/src/runtime/types.ts";
import { FtpServers, FtpUsers, condition, eventually, ftpServerObject, startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ns = "ftp-users-it";
// htpasswd -nbB -C 4 alice pw1
const BCRYPT = "$2y$04$EZsrEDKYlg4Hhca3mPjX6ulWymXoUEkrtzgdiES6gmUGfBxDy6erG";
let env: TestEnv;
let client: ApiClient;
let op: Operator;

before(async () => {
  env = await startTestEnv({ namespace: ns, usersSecrets: ["file-users"], operator: true });
  ({ client, operator: op } = env);
  await client.create(FtpServers, ftpServerObject("files", ns, { passive: { basePort: 30000, numberOfPorts: 20 }, users: { secretName: "file-users" } }));
  // A pod of the server, as the StatefulSet would make it (no kubelet: it stays Pending).
  await client.create(Resources.Pod, {
    apiVersion: "v1", kind: "Pod", metadata: { name: "files-0", namespace: ns, labels: selectorLabels("files") },
    spec: { containers: [{ name: "ftp-server", image: "pasv.local/ftp-server:dev" }] },
  });
});
after(() => env?.stop());

const secret = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, type: "Opaque",
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
});
const ftpUser = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: FtpUsers.apiVersion, kind: FtpUsers.kind, metadata: { name, namespace: ns },
  spec: { serverRef: { name: "files" }, passwordSecretRef: { name: `${name}-pw` }, ...spec },
});
async function usersFile(): Promise<{ text: string; users: { name: string; password: string; [k: string]: unknown }[]; hash: string | undefined }> {
  const s = await client.get<any>(Resources.Secret, "files-users-effective", ns);
  const text = s?.data?.["users.json"] ? Buffer.from(s.data["users.json"], "base64").toString("utf8") : '{"users":[]}';
  return { text, users: JSON.parse(text).users, hash: s?.metadata?.annotations?.[USERS_HASH_ANNOTATION] };
}
const names = async () => (await usersFile()).users.map((u) => u.name);
const ready = async (name: string) => condition(await client.get(FtpUsers, name, ns), "Ready");
async function waitReason(name: string, status: string, reason: string) {
  return eventually(`${name} Ready=${status} ${reason}`, async () => {
    const c = await ready(name);
    return c?.status === status && c.reason === reason ? c : undefined;
  }, 20_000);
}
async function warningEvent(name: string, reason: string) {
  return eventually(`Warning ${reason} on FtpUser ${name}`, async () => {
    const list = await client.list<any>(Resources.Event, { namespace: ns, fieldSelector: `involvedObject.kind=FtpUser,involvedObject.name=${name},reason=${reason}` });
    return list.items.find((e) => e.type === "Warning");
  }, 20_000);
}

test("the merged users file exists before any FtpUser, owned by the FtpServer, with the Secret-based users", async () => {
  const s = await eventually("files-users-effective", () => client.get<any>(Resources.Secret, "files-users-effective", ns), 20_000);
  const fs = await client.get<any>(FtpServers, "files", ns);
  assert.equal(s.metadata.ownerReferences[0].uid, fs.metadata.uid);
  assert.deepEqual(await names(), ["demo"]);
  const sts = await eventually("StatefulSet", () => client.get<any>(Resources.StatefulSet, "files", ns));
  const vol = sts.spec.template.spec.volumes.find((v: any) => v.name === "users");
  assert.equal(vol.secret.secretName, "files-users-effective", "the pods mount the merged file");
});

test("add: an FtpUser with a bcrypt hash joins the file with its fields; the pod gets the new hash annotation", async () => {
  await client.create(Resources.Secret, secret("alice-pw", { password: `${BCRYPT}\n` }));
  await client.create(FtpUsers, ftpUser("alice", { userName: "alice", groups: ["staff"], home: "partners/alice", permissions: { delete: false }, quota: { files: 10 } }));
  const c = await waitReason("alice", "True", "Active");
  assert.match(c.message, /files/);
  const file = await eventually("alice in the file", async () => {
    const f = await usersFile();
    return f.users.some((u) => u.name === "alice") ? f : undefined;
  });
  assert.deepEqual(file.users.find((u) => u.name === "alice"), { name: "alice", password: BCRYPT, groups: ["staff"], home: "partners/alice", permissions: { delete: false }, quota: { files: 10 } });
  assert.equal(file.hash, usersHash(file.text));
  const u = await client.get<any>(FtpUsers, "alice", ns);
  assert.equal(u.status.server, "files");
  assert.equal(u.status.userName, "alice");
  assert.equal(u.status.observedGeneration, u.metadata.generation);
  assert.equal(u.spec.enabled, undefined, "nothing defaulted into the stored FtpUser");
  await eventually("pod annotated with the file's hash", async () =>
    (await client.get<any>(Resources.Pod, "files-0", ns))?.metadata?.annotations?.[USERS_HASH_ANNOTATION] === file.hash);
});

test("disable and enable again, then delete: the user leaves and rejoins the file; the file's own user stays", async () => {
  await client.mergePatch(FtpUsers, "alice", ns, { spec: { enabled: false } });
  await waitReason("alice", "True", "Disabled");
  await eventually("alice out of the file", async () => JSON.stringify(await names()) === '["demo"]');
  await client.mergePatch(FtpUsers, "alice", ns, { spec: { enabled: null } });
  await waitReason("alice", "True", "Active");
  await eventually("alice back", async () => JSON.stringify(await names()) === '["demo","alice"]');
  await client.delete(FtpUsers, "alice", ns);
  await eventually("alice gone after delete", async () => JSON.stringify(await names()) === '["demo"]');
  const f = await usersFile();
  await eventually("pod annotated with the file's new hash", async () =>
    (await client.get<any>(Resources.Pod, "files-0", ns))?.metadata?.annotations?.[USERS_HASH_ANNOTATION] === f.hash);
});

test("a file that returns to an earlier hash before the pods were touched (A → B → A) still touches them for the last write", async () => {
  const a = await usersFile();
  await eventually("pod annotated with the current hash", async () =>
    (await client.get<any>(Resources.Pod, "files-0", ns))?.metadata?.annotations?.[USERS_HASH_ANNOTATION] === a.hash);
  // B and back to A within TOUCH_DELAY_MS: the pods still say A, but the kubelet may have mounted B.
  await client.create(Resources.Secret, secret("carol-pw", { password: `${BCRYPT}\n` }));
  await client.create(FtpUsers, ftpUser("carol", { userName: "carol" }));
  await eventually("carol in the file", async () => (await names()).includes("carol"), 20_000, 10);
  await client.mergePatch(FtpUsers, "carol", ns, { spec: { enabled: false } });
  await eventually("carol out of the file", async () => !(await names()).includes("carol"), 20_000, 10);
  const back = await client.get<any>(Resources.Secret, "files-users-effective", ns);
  assert.equal(back.metadata.annotations[USERS_HASH_ANNOTATION], a.hash, "the file is A again");
  const pod = await eventually("pod touched for the last write", async () => {
    const p = await client.get<any>(Resources.Pod, "files-0", ns);
    return p?.metadata?.annotations?.[USERS_VERSION_ANNOTATION] === back.metadata.resourceVersion ? p : undefined;
  }, 20_000);
  assert.equal(pod.metadata.annotations[USERS_HASH_ANNOTATION], a.hash);
  await client.delete(FtpUsers, "carol", ns);
  await eventually("carol's FtpUser gone", async () => !(await client.get(FtpUsers, "carol", ns)));
});

test("bad Secrets: missing, key missing, plain password → Ready=False with that reason and an Event; fixing each → Ready=True", async () => {
  await client.create(FtpUsers, ftpUser("bob", {}));
  await waitReason("bob", "False", "SecretNotFound");
  await warningEvent("bob", "SecretNotFound");
  await client.create(Resources.Secret, secret("bob-pw", { hash: BCRYPT }));
  await waitReason("bob", "False", "SecretKeyMissing");
  await warningEvent("bob", "SecretKeyMissing");
  await client.mergePatch(Resources.Secret, "bob-pw", ns, { data: { hash: null, password: Buffer.from("plain-text-password").toString("base64") } });
  const bad = await waitReason("bob", "False", "InvalidHash");
  assert.doesNotMatch(bad.message, /plain-text-password/, "the value is never echoed");
  await warningEvent("bob", "InvalidHash");
  assert.ok(!(await names()).includes("bob"), "not in the file while invalid");
  await client.mergePatch(Resources.Secret, "bob-pw", ns, { data: { password: Buffer.from(BCRYPT).toString("base64") } });
  await waitReason("bob", "True", "Active");
  await eventually("bob in the file", async () => (await names()).includes("bob"));
});

test("duplicate names: vs the Secret-based file and vs an older FtpUser → DuplicateUserName, the existing user kept", async () => {
  await client.create(Resources.Secret, secret("clash-pw", { password: BCRYPT }));
  await client.create(FtpUsers, ftpUser("clash", { userName: "demo" }));
  await waitReason("clash", "False", "DuplicateUserName");
  await warningEvent("clash", "DuplicateUserName");
  await client.create(Resources.Secret, secret("bob2-pw", { password: BCRYPT.replace("EZsr", "AAAA") }));
  await client.create(FtpUsers, ftpUser("bob2", { userName: "bob" }));
  const c = await waitReason("bob2", "False", "DuplicateUserName");
  assert.match(c.message, /FtpUser bob/);
  const f = await usersFile();
  assert.deepEqual(f.users.filter((u) => u.name === "demo").length, 1);
  assert.equal(f.users.find((u) => u.name === "bob")?.password, BCRYPT, "the older bob's hash, not bob2's");
  assert.equal((await ready("bob"))?.status, "True");
  // The older one goes: the duplicate takes the name.
  await client.delete(FtpUsers, "bob", ns);
  await waitReason("bob2", "True", "Active");
  await eventually("bob2's hash in effect", async () => (await usersFile()).users.find((u) => u.name === "bob")?.password === BCRYPT.replace("EZsr", "AAAA"));
});

test("an FtpUser of a missing FtpServer is ServerNotFound; a bad home is refused at admission", async () => {
  await client.create(FtpUsers, { ...ftpUser("orphan", {}), spec: { serverRef: { name: "nope" }, passwordSecretRef: { name: "clash-pw" } } });
  await waitReason("orphan", "False", "ServerNotFound");
  await assert.rejects(client.create(FtpUsers, ftpUser("evil", { home: "a/../../etc" })), /home must name a directory below the storage root/);
  await assert.rejects(client.create(FtpUsers, ftpUser("root", { home: "/" })), /home must name a directory below the storage root/);
});

test("a pod created after the last write is not touched (it mounted the current file): no pod write", async () => {
  // creationTimestamp has 1 s resolution (a pod of the write's second counts as older): start 2 s after it.
  await new Promise((r) => setTimeout(r, 2000));
  const podWrites = () => op.manager.client.writes.count({ resource: "pods" });
  const w0 = podWrites();
  await client.create(Resources.Pod, {
    apiVersion: "v1", kind: "Pod", metadata: { name: "files-later", namespace: ns, labels: selectorLabels("files") },
    spec: { containers: [{ name: "ftp-server", image: "pasv.local/ftp-server:dev" }] },
  });
  await eventually("files-later in the operator's pod cache", async () => op.informers.pods.get("files-later", ns) !== undefined);
  await new Promise((r) => setTimeout(r, 2500)); // past TOUCH_DELAY_MS: a touch would have happened
  assert.equal(podWrites(), w0);
  assert.equal((await client.get<any>(Resources.Pod, "files-later", ns))?.metadata?.annotations?.[USERS_HASH_ANNOTATION], undefined);
});

test("a no-op resync writes nothing (no Secret, FtpUser status or pod write)", async () => {
  const writes = () => op.manager.client.writes.count({ exclude: ["events"] });
  let seen = -1;
  await eventually("settled", async () => {
    const now = writes();
    const still = now === seen && op.users.controller.queue.length === 0;
    seen = now;
    if (!still) await new Promise((r) => setTimeout(r, 1500));
    return still;
  }, 30_000);
  const before = writes();
  const reconciles = async () => (await op.manager.metrics.reconcileTotal.get()).values.filter((v) => v.labels.controller === "ftpuser").reduce((n, v) => n + v.value, 0);
  const r0 = await reconciles();
  op.users.controller.enqueue(`${ns}/files`);
  op.users.controller.enqueue(`${ns}/nope`);
  await eventually("reconciled again", async () => (await reconciles()) >= r0 + 2 && op.users.controller.queue.length === 0);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(writes(), before);
});
