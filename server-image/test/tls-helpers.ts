// A self-signed certificate made with openssl for the TLS tests.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { requireTool } from "./helpers.ts";

export function makeCert(dir: string): { certFile: string; keyFile: string } {
  requireTool("openssl");
  const certFile = path.join(dir, "tls.crt");
  const keyFile = path.join(dir, "tls.key");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", keyFile, "-out", certFile],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}
