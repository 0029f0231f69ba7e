// test/bench/server/servers.ts imageNodeFlags: the bench runs our server with the node flags of the
// image's ENTRYPOINT (server-image/Dockerfile), so a flag the image ships is a flag the bench measures.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { imageNodeFlags, ROOT } from "../../bench/server/servers.ts";

test("imageNodeFlags: node's flags from server-image/Dockerfile's ENTRYPOINT, without the script or its --config", () => {
  const df = readFileSync(`${ROOT}/server-image/Dockerfile`, "utf8");
  const entrypoint = JSON.parse(/^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(df)![1]!) as string[];
  const script = entrypoint.indexOf("/app/server-image/src/main.js");
  assert.ok(script > 0, `the ENTRYPOINT runs the compiled server: ${entrypoint.join(" ")}`);
  const flags = imageNodeFlags();
  assert.deepEqual(flags, entrypoint.slice(1, script));
  assert.ok(flags.includes("--no-memory-reducer"), "the image's heap flag (docs/ftp-server.md) reaches the bench");
  assert.ok(!flags.includes("--config"), "the server's own arguments are not node flags");
});
