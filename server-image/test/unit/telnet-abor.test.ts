// ABOR as BSD ftp and lftp send it: IAC IP in band, IAC as TCP urgent data (the Synch), DM "ABOR".
// Depending on SO_OOBINLINE the urgent IAC is in the stream or taken out of it by the kernel; both
// must parse as ABOR, also when the sequence is split across reads.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LineSplitter, parseCommand } from "../../src/protocol/parser.ts";

const IAC = 0xff;
const IP = 0xf4;
const DM = 0xf2;

function parseAll(chunks: Buffer[]): Array<string | null> {
  const sp = new LineSplitter(4096);
  const out: Array<string | null> = [];
  for (const c of chunks) {
    for (const l of sp.push(c)) out.push(l.kind === "line" ? (parseCommand(l.text)?.verb ?? null) : "too-long");
  }
  return out;
}

test("telnet Synch ABOR: urgent IAC removed by the kernel (IAC IP DM ABOR) parses as ABOR", () => {
  assert.deepEqual(parseAll([Buffer.from([IAC, IP, DM, ...Buffer.from("ABOR\r\n")])]), ["ABOR"]);
});

test("telnet Synch ABOR: urgent IAC left inline (IAC IP IAC DM ABOR) parses as ABOR", () => {
  assert.deepEqual(parseAll([Buffer.from([IAC, IP, IAC, DM, ...Buffer.from("ABOR\r\n")])]), ["ABOR"]);
});

test("telnet Synch ABOR split across reads, and followed by another command", () => {
  assert.deepEqual(parseAll([Buffer.from([IAC, IP]), Buffer.from([DM]), Buffer.from("AB"), Buffer.from("OR\r\nNOOP\r\n")]), ["ABOR", "NOOP"]);
});

test("a literal 0xFF (IAC IAC) inside an argument is kept; telnet bytes only vanish at the start of a line", () => {
  const sp = new LineSplitter(4096);
  const [l] = sp.push(Buffer.concat([Buffer.from("STOR a"), Buffer.from([IAC, IAC]), Buffer.from("b\r\n")]));
  assert.ok(l && l.kind === "line");
  // 0xFF alone is not valid UTF-8: it decodes to U+FFFD, but it is not dropped.
  assert.equal(parseCommand(l.text)?.arg, "a\uFFFDb");
});
