// Which FTP-server image the pods run, on a real control plane: an FtpServer without spec.image
// stores no default (the API server writes nothing into it) and its StatefulSet runs the operator's
// --ftp-server-image; spec.image overrides it; an operator restarted with a new default (what
// `helm upgrade` to a new appVersion does) moves the StatefulSet to the new image with no edit to
// the FtpServer (same generation). test/e2e/upgrade.test.ts does the same with pods and sessions.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return -- plain JSON objects */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Operator } from "../../operator/src/controller/operator.ts";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources } from "../../operator/src/runtime/types.ts";
import { uniqueName } from "../cluster/harness.ts";
import { FtpServers, eventually, ftpServerObject, startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ns = uniqueName("ftp-image");
const V1 = "images.pasv.dev/ftp-server:1.0.0";
const V2 = "images.pasv.dev/ftp-server:1.1.0";
const PINNED = "registry.example/ftp-server:pinned";
const spec = { replicas: 1, passive: { basePort: 30000, numberOfPorts: 10 }, users: { secretName: "users" } };

describe("FTP-server image: the operator's default, spec.image as an override", () => {
  let env: TestEnv;
  let client: ApiClient;
  let op: Operator | undefined;

  const stsImage = async (name: string): Promise<string | undefined> =>
    (await client.get<any>(Resources.StatefulSet, name, ns))?.spec.template.spec.containers[0].image;

  before(async () => {
    env = await startTestEnv({ namespace: ns, usersSecrets: ["users"], operator: { defaultServerImage: V1 } });
    ({ client, operator: op } = env);
  });
  after(() => env?.stop());

  test("without spec.image: nothing is stored in the object, the StatefulSet runs the operator's default", async () => {
    const created = await client.create<any>(FtpServers, ftpServerObject("plain", ns, spec));
    assert.equal("image" in created.spec, false, `the API server stored no image default: ${JSON.stringify(created.spec)}`);
    assert.equal(created.spec.imagePullPolicy, "IfNotPresent", "the pull policy keeps its default");
    assert.equal(await eventually("StatefulSet plain", () => stsImage("plain")), V1);
    const readBack = await client.get<any>(FtpServers, "plain", ns);
    assert.equal("image" in readBack.spec, false, "the operator wrote no image into the spec either");
  });

  test("with spec.image: the override wins over the operator's default", async () => {
    await client.create(FtpServers, ftpServerObject("pinned", ns, { ...spec, image: PINNED }));
    assert.equal(await eventually("StatefulSet pinned", () => stsImage("pinned")), PINNED);
    assert.equal((await client.get<any>(FtpServers, "pinned", ns)).spec.image, PINNED);
  });

  test("operator restarted with a new default (helm upgrade): unpinned StatefulSets follow, the FtpServer is not edited", async () => {
    const before = await client.get<any>(FtpServers, "plain", ns);
    await op?.stop();
    op = await env.startOperator({ defaultServerImage: V2 });
    await eventually(`StatefulSet plain on ${V2}`, async () => (await stsImage("plain")) === V2);
    const after = await client.get<any>(FtpServers, "plain", ns);
    assert.equal(after.metadata.generation, before.metadata.generation, "generation unchanged: no spec edit");
    assert.deepEqual(after.spec, before.spec);
    assert.equal(await stsImage("pinned"), PINNED, "a pinned FtpServer keeps its image");
  });
});
