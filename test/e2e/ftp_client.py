#!/usr/bin/env python3
"""A real FTP client (Python's ftplib) for the e2e tests. It runs inside a client network
namespace (the "outside world") and talks to the load-balancer address only.

  ftp_client.py probe   --host H --user U --password P
      greeting, login, the raw PASV and EPSV replies, and a LIST over EPSV: one JSON object.
  ftp_client.py run     --host H --user U --password P --sessions N --parallel C [--size B] [--mode pasv|epsv]
                        [--retries R] [--deadline S] [--tag T]
      N sessions (C at a time). Each: connect, login, RETR whoami.txt (the pod's name, seeded by the
      test), STOR <tag>-<i>.bin (random bytes), RETR it back, compare SHA-256, QUIT. One JSON line
      per session, then a summary line. With --retries R a session whose *connect or greeting* fails
      (connection refused/reset, 421) is retried up to R times: nothing was sent yet, so a retry is
      what any client does. Any error after the greeting counts as a failed session.
  ftp_client.py session --host H --user U --password P
      one long-lived session driven by JSON lines on stdin (ops: pasv, epsv, whoami, put, get,
      put_slow, put_stream, get_stream, nlst, list, rename, delete, quit); one JSON line per op on
      stdout. put_stream/get_stream move large files without holding them (SHA-256 as they go).

PASV mode connects to the address *in the PASV reply* (trust_server_pasv_ipv4_address), the
strict behaviour: the reply must carry an address the client can reach.
"""
import argparse
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import ftplib
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 15.0


class Client(ftplib.FTP):
    """ftplib.FTP that records every data connection's passive port and chosen mode."""

    def __init__(self, mode="pasv", **kw):
        super().__init__(**kw)
        self.mode = mode
        self.trust_server_pasv_ipv4_address = True
        self.ports = []
        self.addresses = []
        self.replies = []

    def makepasv(self):
        if self.mode == "epsv":
            resp = self.sendcmd("EPSV")
            self.replies.append(resp)
            m = re.search(r"\(\|\|\|(\d+)\|\)", resp)
            if not m:
                raise ftplib.error_proto(resp)
            host, port = self.host, int(m.group(1))
        else:
            resp = self.sendcmd("PASV")
            self.replies.append(resp)
            host, port = ftplib.parse227(resp)
        self.ports.append(port)
        self.addresses.append(host)
        return host, port


def sha(b):
    return hashlib.sha256(b).hexdigest()


def login(args, mode):
    c = Client(mode=mode, timeout=TIMEOUT)
    greeting = c.connect(args.host, args.port, timeout=TIMEOUT)
    c.login(args.user, args.password)
    return c, greeting


def retr(c, name):
    buf = []
    c.retrbinary("RETR " + name, buf.append)
    return b"".join(buf)


def probe(args):
    out = {}
    c, out["greeting"] = login(args, "pasv")
    out["pasv"] = c.sendcmd("PASV")
    # The PASV listener is pending; a data connection is not needed for the address check.
    c.close()
    c, _ = login(args, "epsv")
    out["epsv"] = c.sendcmd("EPSV")
    c.close()
    c, _ = login(args, "epsv")
    names = []
    c.retrlines("NLST", names.append)
    out["epsv_nlst_ok"] = True
    out["epsv_ports"] = c.ports
    c.quit()
    print(json.dumps(out), flush=True)


def one_session(args, i):
    rec = {"i": i, "ok": False, "pod": None, "ports": [], "addresses": [], "attempts": 0, "t": round(time.time(), 3)}
    t0 = time.monotonic()
    data = os.urandom(args.size)
    name = "%s-%d.bin" % (args.tag, i)
    c = None
    # Phase 1: connect + greeting. Retried (bounded) only on a refusal before anything was sent.
    while True:
        rec["attempts"] += 1
        try:
            c = Client(mode=args.mode, timeout=TIMEOUT)
            c.connect(args.host, args.port, timeout=TIMEOUT)
            break
        except (ConnectionRefusedError, ConnectionResetError, EOFError, ftplib.error_temp, OSError) as e:
            # Before the greeting nothing was sent: refused/reset, 421 ("service not available",
            # draining) and unreachable/timeout are retried. The test reports each kind.
            rec.setdefault("retried", []).append(type(e).__name__ + ": " + str(e)[:80])
            if rec["attempts"] > args.retries:
                rec["error"] = "connect: %s: %s" % (type(e).__name__, e)
                rec["ms"] = round((time.monotonic() - t0) * 1000)
                return rec
            time.sleep(0.2 * rec["attempts"])
        except Exception as e:  # noqa: BLE001 - report everything else as a failure
            rec["error"] = "connect: %s: %s" % (type(e).__name__, e)
            rec["ms"] = round((time.monotonic() - t0) * 1000)
            return rec
    # Phase 2: everything after the greeting must succeed.
    step = "login"
    try:
        c.login(args.user, args.password)
        step = "whoami"
        rec["pod"] = retr(c, "whoami.txt").decode().strip() if not args.no_whoami else None
        step = "stor"
        c.storbinary("STOR " + name, __import__("io").BytesIO(data), blocksize=65536)
        step = "retr"
        back = retr(c, name)
        rec["sha_ok"] = sha(back) == sha(data)
        if not rec["sha_ok"]:
            raise RuntimeError("checksum mismatch: %d bytes back" % len(back))
        step = "quit"
        c.quit()
        rec["ok"] = True
    except Exception as e:  # noqa: BLE001
        rec["error"] = "%s: %s: %s" % (step, type(e).__name__, str(e)[:200])
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass
    rec["ports"] = c.ports
    rec["addresses"] = c.addresses
    rec["name"] = name
    rec["sha"] = sha(data)
    rec["ms"] = round((time.monotonic() - t0) * 1000)
    return rec


def run(args):
    t0 = time.monotonic()
    deadline = t0 + args.deadline
    lock = threading.Lock()
    results = []

    def task(i):
        if time.monotonic() > deadline or (args.stop_file and os.path.exists(args.stop_file)):
            # Never started: the load was stopped (deadline or the test's stop file), not a failure.
            return None
        else:
            r = one_session(args, i)
            if args.pause:
                time.sleep(args.pause)
        with lock:
            results.append(r)
            print(json.dumps(r), flush=True)
        return r

    with ThreadPoolExecutor(max_workers=args.parallel) as ex:
        list(ex.map(task, range(args.start, args.start + args.sessions)))
    ok = sum(1 for r in results if r["ok"])
    summary = {
        "summary": True,
        "sessions": len(results),
        "ok": ok,
        "failed": len(results) - ok,
        "retried": sum(1 for r in results if r.get("retried")),
        "seconds": round(time.monotonic() - t0, 2),
    }
    print(json.dumps(summary), flush=True)


def session(args):
    c, greeting = login(args, "pasv")
    print(json.dumps({"op": "connected", "greeting": greeting}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        op = cmd["op"]
        res = {"op": op}
        try:
            c.mode = cmd.get("mode", "pasv")
            if op == "pasv":
                res["reply"] = c.sendcmd("PASV")
            elif op == "epsv":
                res["reply"] = c.sendcmd("EPSV")
            elif op == "noop":
                res["reply"] = c.sendcmd("NOOP")
            elif op == "whoami":
                res["pod"] = retr(c, "whoami.txt").decode().strip()
            elif op == "put":
                data = os.urandom(int(cmd.get("size", 65536)))
                c.storbinary("STOR " + cmd["name"], __import__("io").BytesIO(data))
                res["sha"] = sha(data)
            elif op == "get":
                res["sha"] = sha(retr(c, cmd["name"]))
            elif op == "put_stream":
                # STOR `size` bytes without holding them: 1 MiB of random bytes, each copy stamped
                # with its index (so no two MiB are alike), hashed as they go; also the SHA-256 of
                # the tail from `tail_from` (what a RETR after REST must return).
                size, tail_from = int(cmd["size"]), int(cmd.get("tail_from", 0))
                block = bytearray(os.urandom(1 << 20))
                h, tail = hashlib.sha256(), hashlib.sha256()
                conn = c.transfercmd("STOR " + cmd["name"])
                sent = 0
                t0 = time.monotonic()
                while sent < size:
                    block[0:8] = (sent >> 20).to_bytes(8, "big")
                    chunk = bytes(block[: min(len(block), size - sent)])
                    conn.sendall(chunk)
                    h.update(chunk)
                    if sent + len(chunk) > tail_from:
                        tail.update(chunk[max(0, tail_from - sent):])
                    sent += len(chunk)
                conn.close()
                res["final"] = c.voidresp()
                res["seconds"] = time.monotonic() - t0
                res["sent"] = sent
                res["sha"] = h.hexdigest()
                res["tail_sha"] = tail.hexdigest()
            elif op == "get_stream":
                # RETR hashed as it arrives (never held), from REST `rest` when given.
                h = hashlib.sha256()
                n = [0]

                def got(b):
                    h.update(b)
                    n[0] += len(b)
                t0 = time.monotonic()
                rest = int(cmd["rest"]) if cmd.get("rest") else None
                res["final"] = c.retrbinary("RETR " + cmd["name"], got, blocksize=1 << 20, rest=rest)
                res["seconds"] = time.monotonic() - t0
                res["bytes"] = n[0]
                res["sha"] = h.hexdigest()
            elif op == "put_slow":
                # Upload `size` bytes in 64 KiB chunks, `delay` s apart: a transfer that is in flight
                # long enough for the test to kill the pod. Prints a line once bytes are flowing.
                size, delay = int(cmd["size"]), float(cmd.get("delay", 0.05))
                conn = c.transfercmd("STOR " + cmd["name"])
                sent = 0
                h = hashlib.sha256()
                try:
                    while sent < size:
                        chunk = os.urandom(min(65536, size - sent))
                        conn.sendall(chunk)
                        h.update(chunk)
                        sent += len(chunk)
                        if sent == 65536 * 4:
                            print(json.dumps({"op": "flowing", "sent": sent}), flush=True)
                        time.sleep(delay)
                    conn.close()
                    res["final"] = c.voidresp()
                finally:
                    res["sent"] = sent
                res["sha"] = h.hexdigest()
            elif op == "nlst":
                names = []
                c.retrlines("NLST", names.append)
                res["names"] = names
            elif op == "list":
                lines = []
                c.retrlines("LIST", lines.append)
                res["lines"] = lines
            elif op == "rename":
                res["reply"] = c.rename(cmd["from"], cmd["to"])
            elif op == "delete":
                res["reply"] = c.delete(cmd["name"])
            elif op == "quit":
                res["reply"] = c.quit()
                print(json.dumps(res), flush=True)
                return
            else:
                raise ValueError("unknown op " + op)
            res["ok"] = True
        except Exception as e:  # noqa: BLE001
            res["ok"] = False
            res["error"] = "%s: %s" % (type(e).__name__, str(e)[:200])
        res["ports"] = c.ports[-3:]
        print(json.dumps(res), flush=True)


def demo(args):
    """make demo: a session shown line by line (> sent, < received), PASV data connections by hand."""
    c = ftplib.FTP(timeout=TIMEOUT)
    print("connecting to %s:%d" % (args.host, args.port))
    print("< " + c.connect(args.host, args.port, timeout=TIMEOUT))

    def cmd(line, shown=None):
        print("> " + (shown or line))
        r = c.sendcmd(line)
        print("< " + r)
        return r

    def data_conn():
        host, port = ftplib.parse227(cmd("PASV"))
        print("  (data connection to %s:%d, the address and port from the 227 reply)" % (host, port))
        return socket.create_connection((host, port), TIMEOUT)

    cmd("USER " + args.user)
    cmd("PASS " + args.password, "PASS ********")
    cmd("TYPE I")
    payload = os.urandom(1 << 20)
    d = data_conn()
    cmd("STOR demo-file.bin")
    d.sendall(payload)
    d.close()
    print("< " + c.getresp())
    d = data_conn()
    cmd("RETR demo-file.bin")
    got = bytearray()
    while True:
        b = d.recv(65536)
        if not b:
            break
        got += b
    d.close()
    print("< " + c.getresp())
    cmd("SIZE demo-file.bin")
    print("> QUIT")
    print("< " + c.quit())
    print()
    print("uploaded   %d bytes sha256 %s" % (len(payload), sha(payload)))
    print("downloaded %d bytes sha256 %s" % (len(got), sha(bytes(got))))
    if sha(bytes(got)) != sha(payload):
        print("CHECKSUM MISMATCH")
        sys.exit(1)
    print("checksums match")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["probe", "run", "session", "demo"])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=21)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--size", type=int, default=32768)
    p.add_argument("--mode", choices=["pasv", "epsv"], default="pasv")
    p.add_argument("--retries", type=int, default=0)
    p.add_argument("--deadline", type=float, default=300.0)
    p.add_argument("--tag", default="t")
    p.add_argument("--no-whoami", action="store_true")
    p.add_argument("--stop-file", default="")
    p.add_argument("--pause", type=float, default=0.0, help="sleep between a worker's sessions")
    args = p.parse_args()
    socket.setdefaulttimeout(TIMEOUT)
    {"probe": probe, "run": run, "session": session, "demo": demo}[args.cmd](args)


if __name__ == "__main__":
    main()
