// Helpers shared by the operator's integration tests and benchmark: install the generated CRD,
// poll, read plain JSON objects through the runtime's client.
import { readFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { parse } from "yaml";
import { CRD_PATH, FTPUSER_CRD_PATH } from "../../operator/src/api/crd-gen.ts";
import { FtpUsers } from "../../operator/src/controller/ftpusers.ts";
import { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources, type KubeObject } from "../../operator/src/runtime/types.ts";
import { FtpServers } from "../../operator/src/controller/reconciler.ts";
import { eventually } from "../support/eventually.ts";

export { FtpServers, FtpUsers };

export { eventually };

/** Create (or keep) the generated CRDs (FtpServer, FtpUser: the operator watches both) and wait until they are Established. */
export async function installCrd(client: ApiClient): Promise<void> {
  for (const path of [CRD_PATH, FTPUSER_CRD_PATH]) {
    const crd = parse(readFileSync(path, "utf8")) as KubeObject;
    try {
      await client.create(Resources.CustomResourceDefinition, crd);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
    await eventually(`CRD ${crd.metadata!.name} established`, async () => {
      const got = await client.get(Resources.CustomResourceDefinition, crd.metadata!.name!);
      const conds = (got?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
      return conds.some((c) => c.type === "Established" && c.status === "True");
    });
  }
  // The discovery/OpenAPI handlers lag Established a little: wait until a list works.
  await eventually("ftpservers served", async () => (await client.list(FtpServers, { limit: 1 })).items !== undefined);
  await eventually("ftpusers served", async () => (await client.list(FtpUsers, { limit: 1 })).items !== undefined);
}

export async function ensureNamespace(client: ApiClient, name: string): Promise<void> {
  try {
    await client.create(Resources.Namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 409) throw err;
  }
}

export function newClient(kc: KubeConfig): ApiClient {
  return new ApiClient(kc);
}

export function condition(obj: KubeObject | undefined, type: string): { status: string; reason: string; message: string } | undefined {
  const conds = (obj?.status as { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined)?.conditions;
  return conds?.find((c) => c.type === type);
}

export function ftpServerObject(name: string, namespace: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: FtpServers.apiVersion, kind: FtpServers.kind, metadata: { name, namespace }, spec };
}

/**
 * A users file the FTP server accepts (one user `demo`, password `secret`, scrypt at a low test
 * cost): the operator validates the users Secret before it applies anything.
 */
export const VALID_USERS_JSON = JSON.stringify({
  users: [{ name: "demo", password: "scrypt$1024$8$1$oLCo6U5m5KDtTTg1R63usg==$8TAC1WfZw4DR0I+lbxjtCn/i6VjcCKJRd5uKqiOrtXQ=" }],
});

export function usersSecretObject(namespace: string, name: string, usersJson = VALID_USERS_JSON, key = "users.json"): KubeObject {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, type: "Opaque", data: { [key]: Buffer.from(usersJson).toString("base64") } };
}

/** Create (or keep) a valid users Secret for each name. */
export async function ensureUsersSecrets(client: ApiClient, namespace: string, ...names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await client.create(Resources.Secret, usersSecretObject(namespace, name));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
  }
}
