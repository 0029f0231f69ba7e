// passive.sharePorts against the real server: 200 sessions from 20 client addresses hold leases on
// 10 passive ports at the same time (every port shared by 20 clients), then all transfer at once;
// each data connection must reach the session of its source address: 0 failures, every file
// byte-identical. Client addresses are loopback aliases (127.0.0.X: all of 127/8 is loopback on
// Linux), so the test stays on loopback.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import path from "node:path";
import { buildV1, buildV2Ipv4 } from "../src/proxy-protocol/parse.ts";
import { startServer, metricsText, metricValue, parseEpsv, type RunningServer } from "./helpers.ts";

const ADDRESSES = 20;
const PER_ADDRESS = 10;
const PORTS = 10;
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

/** A control connection from a chosen local address; replies are read one at a time. */
class Client {
  readonly socket: Socket;
  readonly from: string;
  private buf = "";
  private replies: Array<{ code: number; text: string }> = [];
  private wake: (() => void) | null = null;
  private closed = false;

  private constructor(socket: Socket, from: string) {
    this.socket = socket;
    this.from = from;
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      this.buf += d;
      for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
        const line = this.buf.slice(0, nl).replace(/\r$/, "");
        this.buf = this.buf.slice(nl + 1);
        if (/^\d{3} /.test(line)) this.replies.push({ code: Number(line.slice(0, 3)), text: line });
      }
      this.wake?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static open(port: number, from: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, localAddress: from }, () => resolve(new Client(s, from)));
      s.once("error", reject);
    });
  }

  async read(timeoutMs = 20_000): Promise<{ code: number; text: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.closed) throw new Error(`${this.from}: control connection closed`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.from}: no reply within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          r();
        };
      });
    }
    return this.replies.shift()!;
  }

  async expect(line: string, code: number): Promise<string> {
    this.socket.write(line + "\r\n");
    const r = await this.read();
    if (r.code !== code) throw new Error(`${this.from}: ${line.split(" ")[0]} -> ${r.text}`);
    return r.text;
  }

  /** A data connection to the passive port, from this client's address. */
  data(port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, localAddress: this.from }, () => resolve(s));
      s.once("error", reject);
    });
  }
}

function collect(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

test(`sharePorts: ${ADDRESSES * PER_ADDRESS} concurrent transfers from ${ADDRESSES} client addresses through ${PORTS} ports, each byte-identical`, async () => {
  const srv = await startServer({
    passivePorts: PORTS,
    config: (b) => ({ ...b, passive: { ...b.passive, sharePorts: true, acceptTimeoutSeconds: 60 }, dataConnectionCheck: "strict" }),
  });
  servers.push(srv);
  const clients: Client[] = [];
  for (let a = 0; a < ADDRESSES; a++) {
    for (let i = 0; i < PER_ADDRESS; i++) {
      const c = await Client.open(srv.controlPort, `127.0.0.${10 + a}`);
      await c.read();
      await c.expect("USER alice", 331);
      await c.expect("PASS alice-pw", 230);
      await c.expect("TYPE I", 200);
      clients.push(c);
    }
  }
  const payload = clients.map(() => randomBytes(16 * 1024 + Math.floor(Math.random() * 48 * 1024)));

  // Every session takes its port before any data connection: 200 leases on 10 ports at once.
  const leaseAll = async (): Promise<number[]> => {
    const ports = await Promise.all(clients.map(async (c) => parseEpsv(await c.expect("EPSV", 229))));
    for (let a = 0; a < ADDRESSES; a++) {
      const mine = ports.slice(a * PER_ADDRESS, (a + 1) * PER_ADDRESS);
      assert.equal(new Set(mine).size, PER_ADDRESS, `sessions from one address got distinct ports: ${mine.join(",")}`);
    }
    assert.ok(ports.every((p) => p >= srv.passive.start && p <= srv.passive.end));
    const m = await metricsText(srv.metricsPort!);
    assert.equal(metricValue(m, "ftp_passive_ports_in_use"), PORTS);
    assert.equal(metricValue(m, "ftp_passive_port_leases"), clients.length);
    return ports;
  };

  // One more session from an address that already holds all 10 ports: 425; from a new address: a shared port.
  const extra = await Client.open(srv.controlPort, "127.0.0.10");
  await extra.read();
  await extra.expect("USER alice", 331);
  await extra.expect("PASS alice-pw", 230);

  let ports = await leaseAll();
  assert.match(await extra.expect("EPSV", 425), /No passive port/);
  const failures: string[] = [];
  await Promise.all(
    clients.map(async (c, i) => {
      try {
        c.socket.write(`STOR f${i}.bin\r\n`);
        const d = await c.data(ports[i]!);
        const r150 = await c.read();
        if (r150.code !== 150) throw new Error(`STOR: ${r150.text}`);
        d.end(payload[i]!);
        const r226 = await c.read();
        if (r226.code !== 226) throw new Error(`STOR end: ${r226.text}`);
      } catch (e) {
        failures.push(`STOR ${i}: ${(e as Error).message}`);
      }
    }),
  );
  assert.equal(failures.length, 0, failures.join("\n"));
  for (let i = 0; i < clients.length; i++) {
    assert.ok((await readFile(path.join(srv.root, "alice", `f${i}.bin`))).equals(payload[i]!), `f${i}.bin differs`);
  }

  ports = await leaseAll();
  await Promise.all(
    clients.map(async (c, i) => {
      try {
        c.socket.write(`RETR f${i}.bin\r\n`);
        const d = await c.data(ports[i]!);
        const got = collect(d);
        const r150 = await c.read();
        if (r150.code !== 150) throw new Error(`RETR: ${r150.text}`);
        const r226 = await c.read();
        if (r226.code !== 226) throw new Error(`RETR end: ${r226.text}`);
        if (!(await got).equals(payload[i]!)) throw new Error("RETR bytes differ from what was stored");
      } catch (e) {
        failures.push(`RETR ${i}: ${(e as Error).message}`);
      }
    }),
  );
  assert.equal(failures.length, 0, failures.join("\n"));
  const m = await metricsText(srv.metricsPort!);
  assert.equal(metricValue(m, 'ftp_data_connections_rejected_total{reason="peer_mismatch"}'), NaN, "no connection went to the wrong session");
  for (const c of [...clients, extra]) c.socket.destroy();
});

test("sharePorts: a data connection from an address no session waits for is refused; the waiting session still gets its own", async () => {
  const srv = await startServer({
    passivePorts: 1,
    config: (b) => ({ ...b, passive: { ...b.passive, sharePorts: true }, dataConnectionCheck: "strict" }),
  });
  servers.push(srv);
  const a = await Client.open(srv.controlPort, "127.0.0.41");
  const b = await Client.open(srv.controlPort, "127.0.0.42");
  for (const c of [a, b]) {
    await c.read();
    await c.expect("USER alice", 331);
    await c.expect("PASS alice-pw", 230);
  }
  const pa = parseEpsv(await a.expect("EPSV", 229));
  const pb = parseEpsv(await b.expect("EPSV", 229));
  assert.equal(pa, pb, "one port, shared");
  // A stranger connects first: dropped.
  const stranger = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port: pa, localAddress: "127.0.0.43" }, () => resolve(s));
    s.once("error", reject);
  });
  const strangerGot = collect(stranger).catch(() => Buffer.alloc(0));
  await srv.waitForLog((l) => l.msg === "data connection refused" && l.reason === "peer_mismatch");
  assert.equal((await strangerGot).length, 0);
  // b then a: each LIST reaches its own session.
  for (const c of [b, a]) {
    c.socket.write("LIST\r\n");
    const d = await c.data(pa);
    const got = collect(d);
    assert.equal((await c.read()).code, 150);
    assert.equal((await c.read()).code, 226);
    await got;
  }
  a.socket.destroy();
  b.socket.destroy();
});

test("sharePorts behind a load balancer with PROXY protocol: data connections are routed by the header's client IP", async () => {
  const srv = await startServer({
    passivePorts: 1,
    config: (b) => ({
      ...b,
      passive: { ...b.passive, sharePorts: true },
      dataConnectionCheck: "strict",
      proxyProtocol: { enabled: true, trustedSources: ["127.0.0.1/32"], onData: true },
    }),
  });
  servers.push(srv);
  // Both control connections come from the "load balancer" 127.0.0.1; the headers name the clients.
  const clients: Client[] = [];
  for (const ip of ["203.0.113.5", "203.0.113.6"]) {
    const c = await Client.open(srv.controlPort, "127.0.0.1");
    c.socket.write(buildV1(ip, "10.0.0.1", 40000, 21));
    await c.read();
    await c.expect("USER alice", 331);
    await c.expect("PASS alice-pw", 230);
    clients.push(c);
  }
  const [a, b] = clients as [Client, Client];
  await writeFileInHome(srv, "a.txt", "for 203.0.113.5");
  await writeFileInHome(srv, "b.txt", "for 203.0.113.6");
  const port = parseEpsv(await a.expect("EPSV", 229));
  assert.equal(parseEpsv(await b.expect("EPSV", 229)), port, "one port, shared by two clients behind one balancer");
  // b's data connection first, then a's; each header names its client.
  const transfers = [
    { c: b, ip: "203.0.113.6", file: "b.txt", header: (p: number) => buildV2Ipv4("203.0.113.6", "10.0.0.1", 1235, p) },
    { c: a, ip: "203.0.113.5", file: "a.txt", header: (p: number) => buildV1("203.0.113.5", "10.0.0.1", 1234, p) },
  ];
  for (const t of transfers) {
    t.c.socket.write(`RETR ${t.file}\r\n`);
    const d = await t.c.data(port);
    d.write(t.header(port));
    const got = collect(d);
    assert.equal((await t.c.read()).code, 150);
    assert.equal((await t.c.read()).code, 226);
    assert.equal((await got).toString(), `for ${t.ip}`);
  }
  for (const c of clients) c.socket.destroy();
});

async function writeFileInHome(srv: RunningServer, name: string, text: string): Promise<void> {
  await mkdir(path.join(srv.root, "alice"), { recursive: true });
  await writeFile(path.join(srv.root, "alice", name), text);
}
