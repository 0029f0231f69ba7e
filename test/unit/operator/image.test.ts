/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return -- tests poke at plain JSON */
// Which FTP-server image a pod runs: spec.image when set, else the operator's default (the chart's
// --ftp-server-image), which is the chart's appVersion under the published name when unset.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { effective } from "../../../operator/src/controller/model.ts";
import { desiredChildren } from "../../../operator/src/controller/desired.ts";
import { buildStatefulSet } from "../../../operator/src/controller/statefulset.ts";
import { DEFAULT_FTP_SERVER_IMAGE, VERSION } from "../../../operator/src/version.ts";
import { appVersion, serverImage } from "../../images/names.ts";
import { ftpServer } from "./fixtures.ts";

const imageOf = (sts: any): string => sts.spec.template.spec.containers[0].image;

describe("FTP-server image", () => {
  it("the built-in default is the chart's appVersion under the published name (one source of truth)", () => {
    assert.equal(VERSION, appVersion(), "operator/src/version.ts VERSION = charts/pasv-operator/Chart.yaml appVersion");
    assert.equal(DEFAULT_FTP_SERVER_IMAGE, serverImage(), "the name test/images builds and imports");
  });

  it("spec.image has no default: a parsed FtpServer without it keeps it unset", () => {
    assert.equal(ftpServer().spec.image, undefined);
  });

  it("without spec.image the StatefulSet runs the operator's default; changing the default changes the pod template", () => {
    const fs = ftpServer();
    assert.equal(imageOf(buildStatefulSet(fs, effective(fs.spec))), DEFAULT_FTP_SERVER_IMAGE);
    const a = desiredChildren(fs, effective(fs.spec), null, [], { defaultServerImage: "images.pasv.dev/ftp-server:1.0.0" }).statefulSet as any;
    const b = desiredChildren(fs, effective(fs.spec), null, [], { defaultServerImage: "images.pasv.dev/ftp-server:1.1.0" }).statefulSet as any;
    assert.equal(imageOf(a), "images.pasv.dev/ftp-server:1.0.0");
    assert.equal(imageOf(b), "images.pasv.dev/ftp-server:1.1.0");
    assert.equal(a.spec.template.spec.containers[0].imagePullPolicy, "IfNotPresent");
  });

  it("spec.image overrides the operator's default", () => {
    const fs = ftpServer({ image: "registry.example/ftp:pinned" });
    const sts = desiredChildren(fs, effective(fs.spec), null, [], { defaultServerImage: "images.pasv.dev/ftp-server:1.1.0" }).statefulSet;
    assert.equal(imageOf(sts), "registry.example/ftp:pinned");
  });

  it("--ftp-server-image refuses an empty or spaced reference (exit 2)", () => {
    const main = fileURLToPath(new URL("../../../operator/src/main.ts", import.meta.url));
    for (const bad of ["", "two words"]) {
      const r = spawnSync(process.execPath, [main, "--ftp-server-image", bad], { encoding: "utf8", timeout: 30_000, env: { ...process.env, KUBECONFIG: "/nonexistent" } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /--ftp-server-image/);
    }
  });
});
