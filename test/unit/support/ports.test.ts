import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { canListen, ephemeralRange, freePort } from "../../support/ports.ts";

test("freePort: outside the kernel's ephemeral range, bindable, never the same twice in a process", async () => {
  const eph = ephemeralRange();
  const seen = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    assert.ok(port < eph.low || port > eph.high, `port ${port} lies in the ephemeral range ${eph.low}-${eph.high}`);
    assert.ok(!seen.has(port), `port ${port} handed out twice`);
    seen.add(port);
  }
  assert.equal(await canListen([...seen][0]!), true);
});

test("canListen: false while something listens on the port", async () => {
  const port = await freePort();
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(port, "127.0.0.1", resolve));
  try {
    assert.equal(await canListen(port), false);
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
});
