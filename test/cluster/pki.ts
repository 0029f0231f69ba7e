// PKI for a local control plane, generated with the openssl CLI (Node has no X.509
// issuing API): one CA, the apiserver serving cert, client certs per component, and
// the service-account signing key pair.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
  /** client cert/key per identity name */
  clients: Record<string, { cert: string; key: string }>;
}

export interface ClientIdentity {
  /** file stem */
  name: string;
  commonName: string;
  organizations?: string[];
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function issue(dir: string, stem: string, subject: string, extFile: string | null, days = 30): void {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${stem}.key`], dir);
  openssl(["req", "-new", "-key", `${stem}.key`, "-subj", subject, "-out", `${stem}.csr`], dir);
  const args = ["x509", "-req", "-in", `${stem}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
    "-days", String(days), "-out", `${stem}.crt`];
  if (extFile) args.push("-extfile", extFile);
  openssl(args, dir);
}

/** Writes a fresh PKI into `dir`. `serverIps` are the SANs of the apiserver's serving cert. */
export function generatePki(dir: string, identities: ClientIdentity[], serverIps: string[] = ["127.0.0.1"]): Pki {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
  openssl(["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=pasv-local-ca", "-days", "30", "-out", "ca.crt",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);

  const sans = [
    "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local", ...serverIps.map((ip) => `IP:${ip}`),
  ];
  writeFileSync(join(dir, "server.ext"),
    `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  issue(dir, "apiserver", "/CN=kube-apiserver", "server.ext");

  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
  const clients: Pki["clients"] = {};
  for (const id of identities) {
    const subject = `${(id.organizations ?? []).map((o) => `/O=${o}`).join("")}/CN=${id.commonName}`;
    issue(dir, id.name, subject, "client.ext");
    clients[id.name] = { cert: join(dir, `${id.name}.crt`), key: join(dir, `${id.name}.key`) };
  }

  openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
  openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);

  return {
    dir,
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "apiserver.crt"),
    serverKey: join(dir, "apiserver.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
    clients,
  };
}

/** Issues one more client certificate from an existing PKI's CA (e.g. a node's kubelet identity). */
export function issueClientCert(pki: Pki, id: ClientIdentity): { cert: string; key: string } {
  const subject = `${(id.organizations ?? []).map((o) => `/O=${o}`).join("")}/CN=${id.commonName}`;
  issue(pki.dir, id.name, subject, "client.ext");
  const c = { cert: join(pki.dir, `${id.name}.crt`), key: join(pki.dir, `${id.name}.key`) };
  pki.clients[id.name] = c;
  return c;
}
