// passive.sharePorts from the FtpServer to the rendered server config: the server gets the flag
// only with the strict data-connection check it needs (admission refuses the rest: api.test.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serverConfigSchema } from "../../../server-image/src/config/schema.ts";
import { renderServerConfig } from "../../../operator/src/controller/config.ts";
import { effective } from "../../../operator/src/controller/model.ts";
import { ftpServer } from "./fixtures.ts";

describe("passive.sharePorts in the server config", () => {
  it("is rendered with the strict check when the pod sees client IPs (PROXY protocol)", () => {
    const fs = ftpServer({ passive: { basePort: 30000, numberOfPorts: 10, sharePorts: true }, proxyProtocol: { enabled: true, onData: true, trustedSources: ["10.0.0.0/8"] } });
    const cfg = serverConfigSchema.parse(renderServerConfig(effective(fs.spec), null));
    assert.equal(cfg.passive.sharePorts, true);
    assert.equal(cfg.dataConnectionCheck, "strict");
  });
  it("is off (and absent from the config) by default", () => {
    const rendered = renderServerConfig(effective(ftpServer().spec), null);
    assert.equal("sharePorts" in rendered.passive, false);
    assert.equal(serverConfigSchema.parse(rendered).passive.sharePorts, false);
  });
  it("the server refuses sharePorts with the relaxed check", () => {
    const r = serverConfigSchema.safeParse({ version: 1, passive: { portStart: 1, portEnd: 2, sharePorts: true }, dataConnectionCheck: "relaxed" });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /needs dataConnectionCheck strict/);
  });
});
