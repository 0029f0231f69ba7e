/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call -- assertions poke at plain JSON */
// storage.type S3: what the operator renders into the server config and the pod template.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serverConfigSchema } from "../../../server-image/src/config/schema.ts";
import { renderServerConfig } from "../../../operator/src/controller/config.ts";
import { effective } from "../../../operator/src/controller/model.ts";
import { buildStatefulSet } from "../../../operator/src/controller/statefulset.ts";
import { storageShared } from "../../../operator/src/controller/storage.ts";
import type { SpecInput } from "../../../operator/src/api/v1alpha1.ts";
import { ftpServer } from "./fixtures.ts";

const s3Spec = {
  type: "S3",
  s3: {
    endpoint: "https://s3.example.net",
    region: "eu-west-3",
    bucket: "ftp-files",
    prefix: "prod/",
    forcePathStyle: true,
    credentialsSecret: { name: "s3-creds" },
    partSizeMiB: 16,
  },
} satisfies SpecInput["storage"];

describe("storage.type S3", () => {
  it("renders the bucket prefix into the server config, which the server's schema accepts", () => {
    const fs = ftpServer({ storage: s3Spec });
    const cfg = renderServerConfig(effective(fs.spec), null);
    assert.deepEqual(cfg.storage, {
      type: "s3",
      root: "/data",
      s3: { endpoint: "https://s3.example.net", region: "eu-west-3", bucket: "ftp-files", prefix: "prod/", forcePathStyle: true, partSizeMiB: 16 },
    });
    const parsed = serverConfigSchema.parse(cfg);
    assert.equal(parsed.storage.s3?.partBuffers, 2);
    assert.ok(!JSON.stringify(cfg).includes("s3-creds"), "no credentials in the ConfigMap");
  });

  it("puts the credentials Secret into the pod's env (the AWS SDK's default chain reads it) and no PVC", () => {
    const fs = ftpServer({ storage: s3Spec });
    const sts = buildStatefulSet(fs, effective(fs.spec)) as any;
    const env = sts.spec.template.spec.containers[0].env as any[];
    assert.deepEqual(
      env.filter((e) => e.name.startsWith("AWS_")),
      [
        { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "s3-creds", key: "accessKeyId" } } },
        { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "s3-creds", key: "secretAccessKey" } } },
      ],
    );
    assert.equal(sts.spec.volumeClaimTemplates, undefined);
    assert.equal(sts.spec.template.spec.serviceAccountName, undefined);
  });

  it("workload identity: no credentials env, the named ServiceAccount", () => {
    const fs = ftpServer({ storage: { type: "S3", s3: { bucket: "ftp-files", serviceAccountName: "ftp-s3" } } });
    const sts = buildStatefulSet(fs, effective(fs.spec)) as any;
    const env = sts.spec.template.spec.containers[0].env as any[];
    assert.ok(!env.some((e) => e.name.startsWith("AWS_")));
    assert.equal(sts.spec.template.spec.serviceAccountName, "ftp-s3");
    const cfg = renderServerConfig(effective(fs.spec), null);
    assert.deepEqual(cfg.storage, { type: "s3", root: "/data", s3: { region: "us-east-1", bucket: "ftp-files", prefix: "", forcePathStyle: false } });
  });

  it("StorageShared is True with 3 replicas (one namespace), and the advice names S3", () => {
    const fs = ftpServer({ replicas: 3, storage: s3Spec });
    const c = storageShared(effective(fs.spec));
    assert.equal(c.status, "True");
    assert.equal(c.reason, "ObjectStorage");
    assert.match(c.message, /s3:\/\/ftp-files\/prod\//);
    assert.match(storageShared(effective(ftpServer({ replicas: 3 }).spec)).message, /or S3/);
  });

  it("other storage types render the local root as before", () => {
    const fs = ftpServer({ storage: { type: "EmptyDir" } });
    assert.deepEqual(renderServerConfig(effective(fs.spec), null).storage, { root: "/data" });
  });
});
