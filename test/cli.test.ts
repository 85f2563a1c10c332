import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

const main = new URL("../runtime/main.ts", import.meta.url).pathname;

test("help lists the commands", () => {
  const out = execFileSync("npx", ["tsx", main, "help"], { encoding: "utf8" });
  assert.match(out, "usage: wasmplane <command>");
  assert.match(out, "plugin");
});

test("an unknown command fails and names it", () => {
  const res = spawnSync("npx", ["tsx", main, "no-such-command"], { encoding: "utf8" });
  assert.is(res.status, 2);
  assert.match(res.stderr, "unknown command 'no-such-command'");
});

test("a runtime error names the flag it came from", () => {
  const lockDir = mkdtempSync(join(tmpdir(), "wpt-cli-"));
  try {
    const config = join(lockDir, "agent.yaml");
    writeFileSync(config, `lockDir: ${lockDir}\n`);
    const args = [
      "agent",
      "--kubeconfig",
      "/nonexistent/kubeconfig",
      "--status-address",
      "",
      "--config",
      config,
    ];
    const res = spawnSync("npx", ["tsx", main, ...args], { encoding: "utf8", timeout: 30_000 });
    assert.is(res.status, 1, res.stderr);
    assert.match(res.stderr, "--kubeconfig /nonexistent/kubeconfig: ENOENT");
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
});

test.run();
