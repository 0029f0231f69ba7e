// The jail against a hostile volume: symlinks that point out (absolute, relative, chained, a
// relative one made hostile by a move, one swapped in a loop by another process during the test)
// and every file command tried through them. Canary files outside the home have known content,
// size and mtime; no reply, download or listing may carry them and nothing outside may change.
// Plus the deep-path cost. The real server runs stand-alone on 127.0.0.1 (helpers.ts).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, symlink, writeFile, readFile, readdir, lstat, utimes, readlink, rm } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { RawFtp, startServer, parseEpsv, readData, requireTool, type RunningServer } from "./helpers.ts";

const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

const OUT_MARK = "OUTSIDE-CANARY-7f3a";
const OUT_NAME = "outside-only-name-91c2";
// Sizes no inside file has, and an mtime far from now: a reply carrying one came from outside.
const OUT_SIZES = [7777, 8888];
const OUT_MTIME = new Date("2001-02-03T04:05:06Z");
const OUT_MDTM = "20010203040506";

async function session(port: number): Promise<RawFtp> {
  const c = await RawFtp.connect(port);
  assert.equal((await c.read()).code, 220);
  await c.login("alice", "alice-pw");
  return c;
}

/** Runs a data command on a fresh EPSV connection; returns the final reply and what came over the data connection. */
async function dataCmd(c: RawFtp, line: string, upload?: Buffer): Promise<{ code: number; text: string; data: Buffer }> {
  const port = parseEpsv((await c.cmd("EPSV")).text);
  if (upload) {
    const sock = connect({ port, host: "127.0.0.1" });
    sock.on("error", () => {});
    await new Promise((r) => sock.once("connect", r));
    const first = await c.cmd(line);
    if (first.code !== 150) {
      sock.destroy();
      return { ...first, data: Buffer.alloc(0) };
    }
    sock.end(upload);
    return { ...(await c.read(10_000)), data: Buffer.alloc(0) };
  }
  const d = readData(port);
  d.done.catch(() => {});
  const first = await c.cmd(line);
  if (first.code !== 150) {
    d.socket.destroy();
    return { ...first, data: Buffer.alloc(0) };
  }
  const data = await d.done.catch(() => Buffer.alloc(0));
  return { ...(await c.read(10_000)), data };
}

/** Everything below `dir`: name -> content/size/mtime/link target (links not followed). */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const n of await readdir(d)) {
      const p = path.join(d, n);
      const st = await lstat(p);
      const rel = path.relative(dir, p);
      if (st.isSymbolicLink()) out.set(rel, `link:${await readlink(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir:${st.mtimeMs}`);
        await walk(p);
      } else out.set(rel, `file:${st.size}:${st.mtimeMs}:${(await readFile(p)).toString("base64")}`);
    }
  };
  await walk(dir);
  return out;
}

test("jail: hostile symlinks (absolute, relative, chained, swapped in a loop) — no command returns or changes a byte outside the home", async () => {
  requireTool("python3");
  const srv = await startServer();
  servers.push(srv);
  const root = srv.root;
  const outside = path.join(root, "outside");
  const home = path.join(root, "alice");
  await mkdir(path.join(outside, "deeper"), { recursive: true });
  await writeFile(path.join(outside, "canary.txt"), OUT_MARK.padEnd(OUT_SIZES[0]!, "o"));
  await writeFile(path.join(outside, OUT_NAME), OUT_MARK.padEnd(OUT_SIZES[1]!, "n"));
  await writeFile(path.join(root, "outside.txt"), OUT_MARK.padEnd(OUT_SIZES[1]!, "x"));
  for (const p of [path.join(outside, "canary.txt"), path.join(outside, OUT_NAME), path.join(root, "outside.txt"), path.join(outside, "deeper"), outside]) {
    await utimes(p, OUT_MTIME, OUT_MTIME);
  }
  await mkdir(path.join(home, "inside"), { recursive: true });
  await mkdir(path.join(home, "sub"), { recursive: true });
  await mkdir(path.join(home, "swap.dir"), { recursive: true });
  await writeFile(path.join(home, "inside", "canary.txt"), "inside".padEnd(100, "i"));
  await writeFile(path.join(home, "swap.dir", "canary.txt"), "inside".padEnd(100, "s"));
  await writeFile(path.join(home, "swapf.file"), "inside".padEnd(100, "f"));
  await symlink(outside, path.join(home, "out-abs")); // absolute, out
  await symlink("../outside", path.join(home, "out-rel")); // relative, out
  await symlink("../outside.txt", path.join(home, "out-file")); // to a file outside
  await symlink("out-rel", path.join(home, "chain2")); // chained: chain1 -> chain2 -> out-rel -> ../outside
  await symlink("chain2", path.join(home, "chain1"));
  await symlink(path.join(home, "chain1"), path.join(home, "chain-abs")); // absolute into the home, then out
  await symlink("../..", path.join(home, "sub", "up")); // relative: from sub, the storage root
  await symlink("../outside/nothing-here", path.join(home, "dangling-out"));
  await symlink(outside, path.join(home, "swap.lnk"));
  await symlink(path.join(root, "outside.txt"), path.join(home, "swapf.lnk"));
  const before = await snapshot(outside);
  const beforeRootFile = await readFile(path.join(root, "outside.txt"));

  // Another process flips `swap` between a directory inside and a link out, and `swapf` between
  // a file inside and a link to a file outside, as fast as it can (bounded: 60 s or the stop file).
  const stopFile = path.join(srv.dir, "stop-swapper");
  const swapper = spawn(
    "python3",
    [
      "-c",
      `
import os, sys, time
home, stop = sys.argv[1], sys.argv[2]
os.chdir(home)
end = time.time() + 60
n = 0
while time.time() < end and not os.path.exists(stop):
    for a, b in (("swap.dir", "swap"), ("swap", "swap.dir"), ("swap.lnk", "swap"), ("swap", "swap.lnk"),
                 ("swapf.file", "swapf"), ("swapf", "swapf.file"), ("swapf.lnk", "swapf"), ("swapf", "swapf.lnk")):
        try:
            os.rename(a, b)
        except OSError:
            pass
    n += 1
print(n)
`,
      home,
      stopFile,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let swaps = "";
  swapper.stdout.on("data", (d: Buffer) => (swaps += d.toString()));
  const swapperDone = new Promise<void>((r) => swapper.once("exit", () => r()));

  const hostileDirs = ["out-abs", "out-rel", "chain1", "chain-abs", "sub/up/outside", "swap", "swap.lnk", "/sub/../out-rel"];
  const hostileFiles = [...hostileDirs.map((d) => `${d}/canary.txt`), `sub/up/outside/${OUT_NAME}`, "out-file", "swapf", "swapf.lnk", "dangling-out", "sub/up/outside.txt"];
  const leaks: string[] = [];
  const seen = (what: string, text: string | Buffer) => {
    const t = text.toString();
    if (t.includes(OUT_MARK) || t.includes(OUT_NAME) || t.includes(OUT_MDTM) || OUT_SIZES.some((n) => new RegExp(`(^|\\D)${n}(\\D|$)`).test(t))) {
      leaks.push(`${what}: ${t.slice(0, 200)}`);
    }
  };

  const c = await session(srv.controlPort);
  const deadline = Date.now() + 75_000;
  let commands = 0;
  const rounds = 12;
  try {
    for (let round = 0; round < rounds && Date.now() < deadline; round++) {
      for (const f of hostileFiles) {
        for (const line of [`SIZE ${f}`, `MDTM ${f}`, `MLST ${f}`, `STAT ${f}`, `RNFR ${f}`]) {
          const r = await c.cmd(line);
          seen(line, r.text);
          if (line.startsWith("RNFR") && r.code === 350) seen(`RNTO after ${line}`, (await c.cmd(`RNTO stolen-${round}.txt`)).text);
          commands++;
        }
        for (const line of [`RETR ${f}`, `REST 5`, `RETR ${f}`]) {
          if (line === "REST 5") {
            await c.cmd(line);
            continue;
          }
          const r = await dataCmd(c, line);
          seen(line, r.text);
          seen(`${line} (data)`, r.data);
          commands++;
        }
        for (const [line, body] of [
          [`APPE ${f}`, Buffer.from("appended-by-attacker")],
          [`STOR ${f}`, Buffer.from("overwritten-by-attacker")],
        ] as const) {
          const r = await dataCmd(c, line, body);
          seen(line, r.text);
          commands++;
        }
        await c.cmd("REST 3");
        seen("REST+STOR", (await dataCmd(c, `STOR ${f}`, Buffer.from("rest-store"))).text);
        seen(`DELE ${f}`, (await c.cmd(`DELE ${f}`)).text);
        commands += 2;
      }
      for (const d of hostileDirs) {
        for (const line of [`LIST ${d}`, `NLST ${d}`, `MLSD ${d}`, `LIST -la ${d}`]) {
          const r = await dataCmd(c, line);
          seen(line, r.text);
          seen(`${line} (data)`, r.data);
          commands++;
        }
        for (const line of [`CWD ${d}`, `MKD ${d}/planted-dir`, `RMD ${d}/deeper`, `STAT ${d}`]) {
          const r = await c.cmd(line);
          seen(line, r.text);
          if (line.startsWith("CWD") && r.code === 250) {
            // Inside the directory a racing swap led to: listing and reading must still stay in.
            seen("PWD", (await c.cmd("PWD")).text);
            const l = await dataCmd(c, "LIST");
            seen(`LIST in ${d}`, l.data);
            const g = await dataCmd(c, "RETR canary.txt");
            seen(`RETR canary.txt in ${d}`, g.data);
            seen("SIZE in cwd", (await c.cmd("SIZE canary.txt")).text);
            await c.cmd("CWD /");
          }
          commands++;
        }
        const st = await dataCmd(c, `STOR ${d}/planted.txt`, Buffer.from("planted"));
        seen(`STOR ${d}/planted.txt`, st.text);
        const mover = `mover-${round}-${commands}.txt`;
        await writeFile(path.join(home, "inside", mover), "mover");
        assert.equal((await c.cmd(`RNFR inside/${mover}`)).code, 350);
        seen(`RNTO ${d}`, (await c.cmd(`RNTO ${d}/moved-in.txt`)).text);
        commands += 2;
      }
      // The whole home, listed while links flip: links out are not described.
      for (const line of ["LIST", "LIST -la /", "MLSD /", "NLST /sub", "LIST sub", "MLSD sub"]) {
        const r = await dataCmd(c, line);
        seen(`${line} (data)`, r.data);
        commands++;
      }
    }
  } finally {
    await writeFile(stopFile, "");
    await swapperDone;
    c.close();
  }
  const swapsDone = Number(swaps.trim());
  console.log(`${commands} commands through hostile links while the swapper flipped them ${swapsDone} times`);
  assert.ok(swapsDone > 100, `the swapper ran (${swaps.trim()} rounds)`);
  assert.ok(commands > 500, `enough commands were tried (${commands})`);
  assert.deepEqual(leaks, [], "no reply, download or listing carried anything from outside the home");
  assert.deepEqual(await snapshot(outside), before, "nothing outside the home changed (content, size, mtime, names)");
  assert.deepEqual(await readFile(path.join(root, "outside.txt")), beforeRootFile);
  assert.deepEqual((await readdir(root)).sort(), ["alice", "outside", "outside.txt"], "nothing was created next to the home");
  assert.equal(await readlink(path.join(home, "sub", "up")), "../..", "the relative link was not moved");
});

test("jail: RNFR/RNTO cannot move a relative symlink to where it points outside; RNTO re-resolves the RNFR path", async () => {
  const srv = await startServer();
  servers.push(srv);
  const home = path.join(srv.root, "alice");
  await mkdir(path.join(home, "sub", "deeper"), { recursive: true });
  await writeFile(path.join(srv.root, "secret.txt"), OUT_MARK);
  await symlink("..", path.join(home, "sub", "up")); // from sub: the home, harmless
  const c = await session(srv.controlPort);
  // Moving it one level up would make it point at storage.root.
  assert.equal((await c.cmd("RNFR sub/up")).code, 350);
  const r = await c.cmd("RNTO up");
  assert.equal(r.code, 550, r.text);
  assert.equal(await readlink(path.join(home, "sub", "up")), "..", "the link stayed where it was");
  await assert.rejects(lstat(path.join(home, "up")));
  // Moving it deeper keeps it inside: allowed.
  assert.equal((await c.cmd("RNFR sub/up")).code, 350);
  assert.equal((await c.cmd("RNTO sub/deeper/up")).code, 250);
  assert.equal(await readlink(path.join(home, "sub", "deeper", "up")), "..");
  // RNFR names a directory; before RNTO it is swapped for a link out: RNTO must not move the target.
  await mkdir(path.join(home, "victim"));
  assert.equal((await c.cmd("RNFR victim/../sub/deeper")).code, 350);
  await rm(path.join(home, "sub", "deeper"), { recursive: true });
  await symlink(path.join(srv.root), path.join(home, "sub", "deeper"));
  const r2 = await c.cmd("RNTO taken");
  // The link itself may be renamed (a name inside the home), but it must still not point out from its new place.
  assert.equal(r2.code, 550, r2.text);
  assert.equal((await readFile(path.join(srv.root, "secret.txt"))).toString(), OUT_MARK);
  assert.deepEqual((await readdir(srv.root)).sort(), ["alice", "secret.txt"]);
  c.close();
});

test("jail: a deep missing path costs about what a shallow one does (no per-level realpath)", async () => {
  const srv = await startServer();
  servers.push(srv);
  await mkdir(path.join(srv.root, "alice"), { recursive: true });
  const c = await session(srv.controlPort);
  const deep = "m/".repeat(1500) + "f"; // 1,501 components that do not exist
  const time = async (line: string, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) assert.equal((await c.cmd(line)).code, 550);
    return (performance.now() - t0) / n;
  };
  await time("SIZE x", 20); // warm up
  const shallow = await time("SIZE f", 50);
  const deepMs = await time(`SIZE ${deep}`, 50);
  console.log(`SIZE of a missing path: 1 component ${shallow.toFixed(3)} ms, 1501 components ${deepMs.toFixed(3)} ms`);
  assert.ok(deepMs < Math.max(5 * shallow, 2), `deep ${deepMs.toFixed(3)} ms vs shallow ${shallow.toFixed(3)} ms`);
  c.close();
});
