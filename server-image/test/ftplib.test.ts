// Python ftplib: the PASV address follows the session's user class (first matching class,
// first enabled matching rule), a disabled rule is skipped, `auto` gives the external address,
// and every port is inside the passive range. Also checks the per-slot slice.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { requireTool, startServer, type RunningServer, type TestUser } from "./helpers.ts";
import type { ServerConfigInput } from "../src/config/schema.ts";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("./py/pasv_classes.py", import.meta.url));
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

const USERS: TestUser[] = [
  { name: "alice", password: "a", groups: ["staff"] },
  { name: "bob", password: "b", groups: ["partners"] },
  { name: "carol", password: "c" },
  { name: "dave", password: "d", type: "robot" },
];

function classesConfig(b: ServerConfigInput): ServerConfigInput {
  return {
    ...b,
    userClasses: [
      { name: "partners", match: { groups: ["partner?"] } },
      { name: "lan", match: { fromAddresses: ["10.0.0.0/8"] } },
      { name: "carol-class", match: { userNames: ["car?l"] } },
      { name: "robots", match: { userTypes: ["robot"], fromAddresses: ["192.0.2.*"] } },
      { name: "local", match: { userNames: ["alice"], fromAddresses: ["127.0.0.0/8", "::1"] } },
    ],
    passive: {
      ...b.passive,
      externalAddress: "198.51.100.200",
      addressRules: [
        { userClass: "partner*", address: "198.51.100.7" },
        { userClass: "car*", address: "203.0.113.9", enabled: false },
        { userClass: "*-class", address: "192.0.2.55" },
        { userClass: "local", address: "auto" },
      ],
    },
  };
}

async function ftplib(srv: RunningServer, users: TestUser[]): Promise<Record<string, { pasvHost: string; pasvPort: number; epsvPort: number; retr: string; names: string[] }>> {
  requireTool("python3");
  const { stdout } = await run("python3", [SCRIPT, String(srv.controlPort), ...users.map((u) => `${u.name}:${u.password}`)], { timeout: 60_000 });
  return JSON.parse(stdout) as Awaited<ReturnType<typeof ftplib>>;
}

test("ftplib: PASV address per user class, disabled rule skipped, ports in range", async () => {
  const srv = await startServer({ users: USERS, config: classesConfig });
  servers.push(srv);
  const r = await ftplib(srv, USERS);
  assert.equal(r.bob!.pasvHost, "198.51.100.7", "group partners -> class partners -> rule partner*");
  assert.equal(r.carol!.pasvHost, "192.0.2.55", "class carol-class: disabled rule car* skipped, *-class used");
  assert.equal(r.alice!.pasvHost, "198.51.100.200", "class local -> rule auto -> externalAddress");
  assert.equal(r.dave!.pasvHost, "198.51.100.200", "robots needs 192.0.2.*: class default, no rule -> externalAddress");
  for (const [name, v] of Object.entries(r)) {
    for (const p of [v.pasvPort, v.epsvPort]) {
      assert.ok(p >= srv.passive.start && p <= srv.passive.end, `${name}: port ${p} outside ${srv.passive.start}-${srv.passive.end}`);
    }
    assert.equal(v.retr, `hello ${name}`);
    assert.deepEqual(v.names, ["hello.txt"]);
  }
});

test("ftplib: no rule and no external address -> the local address; a slot uses only its slice", async () => {
  const srv = await startServer({
    users: USERS,
    passivePorts: 12,
    slot: 1,
    config: (b) => ({
      ...b,
      passive: {
        ...b.passive,
        slices: [
          { slot: 0, portStart: b.passive.portStart, portEnd: b.passive.portStart + 3 },
          { slot: 1, portStart: b.passive.portStart + 4, portEnd: b.passive.portStart + 7 },
          { slot: 2, portStart: b.passive.portStart + 8, portEnd: b.passive.portEnd },
        ],
      },
    }),
  });
  servers.push(srv);
  const r = await ftplib(srv, USERS);
  for (const [name, v] of Object.entries(r)) {
    assert.equal(v.pasvHost, "127.0.0.1");
    for (const p of [v.pasvPort, v.epsvPort]) {
      assert.ok(p >= srv.passive.start + 4 && p <= srv.passive.start + 7, `${name}: port ${p} outside slot 1's slice`);
    }
  }
});
