import { test } from "node:test";
import assert from "node:assert/strict";
import { LineSplitter, parseCommand, stripTelnet } from "../../src/protocol/parser.ts";
import { formatReply, quotePath } from "../../src/protocol/reply.ts";
import { parseProxyHeader, buildV1, buildV2Ipv4, V2_SIGNATURE } from "../../src/proxy-protocol/parse.ts";
import { parseEprt, parsePort, refuseTarget } from "../../src/data/active.ts";
import { hashPassword, verifyPassword, parseHash } from "../../src/auth/password.ts";

test("line splitter: CRLF and LF, split chunks, overlong lines discarded whole", () => {
  const s = new LineSplitter(10);
  assert.deepEqual(s.push(Buffer.from("NOOP\r\nUS")), [{ kind: "line", text: "NOOP" }]);
  assert.deepEqual(s.push(Buffer.from("ER a\n")), [{ kind: "line", text: "USER a" }]);
  assert.deepEqual(s.push(Buffer.from("x".repeat(25))), []);
  assert.deepEqual(s.push(Buffer.from("yyy\r\nPWD\r\n")), [{ kind: "too-long" }, { kind: "line", text: "PWD" }]);
  assert.deepEqual(s.push(Buffer.from("0123456789A\r\n")), [{ kind: "too-long" }]);
});

test("commands: verb upper-cased, argument kept verbatim, telnet IAC stripped", () => {
  assert.deepEqual(parseCommand("retr my file.txt "), { verb: "RETR", arg: "my file.txt " });
  assert.deepEqual(parseCommand("  "), null);
  assert.deepEqual(parseCommand("R3TR x"), { verb: "", arg: "" });
  assert.equal(stripTelnet(Buffer.from([0xff, 0xf4, 0xff, 0xf2, 0x41, 0x42, 0x4f, 0x52])).toString(), "ABOR");
  assert.deepEqual([...stripTelnet(Buffer.from([0x41, 0xff, 0xff]))], [0x41, 0xff]);
});

test("replies: single and multi-line, CR/LF in text neutralised, 257 quoting", () => {
  assert.equal(formatReply(200, "ok"), "200 ok\r\n");
  assert.equal(formatReply(211, "Features:\n EPSV\n123 x\nEnd"), "211-Features:\r\n EPSV\r\n 123 x\r\n211 End\r\n");
  assert.equal(formatReply(550, "a\rb"), "550 a b\r\n");
  // The single-line fast path gives what the general path gives.
  assert.equal(formatReply(227, "Entering Passive Mode (127,0,0,1,78,32)"), "227 Entering Passive Mode (127,0,0,1,78,32)\r\n");
  assert.equal(formatReply(550, "a\r"), "550 a \r\n");
  assert.equal(formatReply(550, "a\r\n"), "550-a\r\n550 \r\n");
  assert.equal(quotePath('/a"b'), '"/a""b"');
});

test("PROXY v1 and v2 parse; garbage is an error, partial input is incomplete", () => {
  const v1 = parseProxyHeader(Buffer.concat([buildV1("203.0.113.5", "10.0.0.1", 5555, 21), Buffer.from("USER x\r\n")]));
  assert.equal(v1.kind, "ok");
  if (v1.kind === "ok") {
    assert.equal(v1.info.sourceAddress, "203.0.113.5");
    assert.equal(v1.info.sourcePort, 5555);
    assert.equal(v1.length, 41);
  }
  const v16 = parseProxyHeader(Buffer.from("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"));
  assert.ok(v16.kind === "ok" && v16.info.sourceAddress === "2001:db8::1");
  assert.ok(parseProxyHeader(Buffer.from("PROXY UNKNOWN\r\n")).kind === "ok");
  assert.equal(parseProxyHeader(Buffer.from("PROXY TCP4 1.2.3.4")).kind, "incomplete");
  assert.equal(parseProxyHeader(Buffer.from("PROXY TCP4 1.2.3.999 1.2.3.4 1 2\r\n")).kind, "error");
  assert.equal(parseProxyHeader(Buffer.from("PROXY TCP4 1.2.3.4 1.2.3.4 1 99999\r\n")).kind, "error");
  assert.equal(parseProxyHeader(Buffer.from("GET / HTTP/1.0\r\n")).kind, "error");
  assert.equal(parseProxyHeader(Buffer.from("PROXY " + "x".repeat(200))).kind, "error");
  const v2 = buildV2Ipv4("198.51.100.9", "10.0.0.1", 4000, 21);
  const p2 = parseProxyHeader(v2);
  assert.ok(p2.kind === "ok" && p2.info.sourceAddress === "198.51.100.9" && p2.info.sourcePort === 4000 && p2.length === 28);
  assert.equal(parseProxyHeader(v2.subarray(0, 20)).kind, "incomplete");
  const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const pl = parseProxyHeader(local);
  assert.ok(pl.kind === "ok" && pl.info.sourceAddress === null);
  const bad = Buffer.from(v2);
  bad[12] = 0x31;
  assert.equal(parseProxyHeader(bad).kind, "error");
  const v6 = Buffer.alloc(16 + 36);
  V2_SIGNATURE.copy(v6);
  v6[12] = 0x21;
  v6[13] = 0x21;
  v6.writeUInt16BE(36, 14);
  v6[16] = 0x20;
  v6[17] = 0x01;
  v6[18] = 0x0d;
  v6[19] = 0xb8;
  v6[31] = 1;
  const p6 = parseProxyHeader(v6);
  assert.ok(p6.kind === "ok" && p6.info.sourceAddress === "2001:db8::1", JSON.stringify(p6));
});

test("PORT/EPRT parsing and the no-bounce rule", () => {
  assert.deepEqual(parsePort("127,0,0,1,4,1"), { host: "127.0.0.1", port: 1025 });
  assert.equal(parsePort("127,0,0,1,4"), null);
  assert.equal(parsePort("256,0,0,1,4,1"), null);
  assert.deepEqual(parseEprt("|1|127.0.0.1|6000|"), { host: "127.0.0.1", port: 6000 });
  assert.deepEqual(parseEprt("|2|::1|6000|"), { host: "::1", port: 6000 });
  assert.equal(parseEprt("|1|::1|6000|"), null);
  assert.equal(parseEprt("|1|1.2.3.4|0|"), null);
  assert.equal(refuseTarget({ host: "127.0.0.1", port: 6000 }, "127.0.0.1"), null);
  assert.match(refuseTarget({ host: "192.0.2.1", port: 6000 }, "127.0.0.1")!, /own address/);
  assert.match(refuseTarget({ host: "127.0.0.1", port: 25 }, "127.0.0.1")!, /privileged/);
});

test("password hashes: scrypt format, verify, wrong password, malformed hash", async () => {
  const h = await hashPassword("s3cret", { N: 1024, r: 8, p: 1 });
  assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.ok(parseHash(h));
  assert.equal(await verifyPassword("s3cret", h), true);
  assert.equal(await verifyPassword("s3cret", h), true); // cached path
  assert.equal(await verifyPassword("wrong", h), false);
  assert.equal(await verifyPassword("s3cret", "scrypt$3$8$1$AAAA$AAAA"), false);
  assert.equal(await verifyPassword("s3cret", "plain"), false);
});
