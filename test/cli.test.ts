import { execFileSync, spawnSync } from "node:child_process";
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

test.run();
