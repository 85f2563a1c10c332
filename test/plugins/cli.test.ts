// `wasmplane plugin …` as a user runs it.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { sha256Hex } from "../../runtime/plugins/admission.ts";
import { findEntries, projectRoot } from "../../runtime/plugins/build.ts";
import { ensureBuilt, lbDir, SHIPPED_LB, tempDir, testDir } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: wasmplane plugin CLI");
const main = join(projectRoot, "runtime/main.ts");

function wasmplane(...args: string[]) {
  return spawnSync("npx", ["tsx", main, "plugin", ...args], { encoding: "utf8", cwd: projectRoot });
}

test("build finds every entry point under plugins/<kind>/ (AssemblyScript and WebAssembly text), not the SDK", () => {
  const entries = findEntries(join(projectRoot, "plugins"), "/out");
  const outputs = entries.map((e) => e.output);
  for (const name of SHIPPED_LB) assert.ok(outputs.includes(`/out/lb/${name}.wasm`), name);
  assert.ok(outputs.includes("/out/test/wat-round-robin.wasm"));
  assert.ok(outputs.includes("/out/test/endless-loop.wasm"));
  assert.not.ok(entries.some((e) => e.source.includes("/sdk/")));
});

test("test: a bad --memory-cap or --budget is the user's mistake, named, not the plugin failing", () => {
  const random = join(lbDir, "random.wasm");
  for (const [flag, value, unit] of [
    ["--memory-cap", "abc", "MiB"],
    ["--memory-cap", "0", "MiB"],
    ["--budget", "1.5", "milliseconds"],
  ]) {
    const res = wasmplane("test", random, flag, value);
    assert.is(res.status, 1, res.stdout);
    assert.match(res.stderr, `${flag}: want a whole number of ${unit} above 0, got "${value}"`);
    assert.not.match(res.stdout, "FAILED");
  }
});

test("inspect names each import and the grant it needs", () => {
  const res = wasmplane("inspect", join(testDir, "ungranted-import.wasm"));
  assert.is(res.status, 0, res.stderr);
  assert.match(res.stdout, "manifest: ungranted-import 0.0.1, kind lb, ABI 1");
  assert.match(res.stdout, 'wasmplane.log (i32, i32) -> () — needs grant "log"');
  assert.match(res.stdout, "host.exec (i32) -> (i32) — NO grant provides this");
  assert.match(res.stdout, "imported env.memory (host-created, capped)");
  assert.match(res.stdout, /sha256 [0-9a-f]{64}/);
  assert.match(res.stdout, "reads: every request field");
  const maglev = wasmplane("inspect", join(lbDir, "maglev.wasm"));
  assert.match(maglev.stdout, "reads: key, params, endpoint.address, endpoint.port");
});

test("test passes a conforming module (exit 0) and fails a trapping one (exit 1)", () => {
  const ok = wasmplane("test", join(testDir, "wat-round-robin.wasm"));
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /passed \(\d+ checks\)/);
  const bad = wasmplane("test", join(testDir, "trap.wasm"), "--budget", "3000");
  assert.is(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, "FAIL vector: one endpoint");
  assert.match(bad.stdout, "trapped: unreachable");
});

test("lock pins each module's sha256, keyed by path relative to the lock file", () => {
  const lockFile = join(tempDir(), "plugins.lock.json");
  const res = wasmplane("lock", "--lock", lockFile, lbDir);
  assert.is(res.status, 0, res.stderr);
  const lock = JSON.parse(readFileSync(lockFile, "utf8"));
  assert.is(lock.lockVersion, 1);
  const maglev = Object.entries(lock.plugins).find(([k]) => k.endsWith("lb/maglev.wasm"));
  assert.ok(maglev, Object.keys(lock.plugins).join(", "));
  const entry = maglev![1] as { sha256: string; name: string; kind: string };
  assert.is(entry.sha256, sha256Hex(readFileSync(join(lbDir, "maglev.wasm"))));
  assert.is(entry.name, "maglev");
  assert.is(entry.kind, "lb");
  assert.is(Object.keys(lock.plugins).length, SHIPPED_LB.length);
});

test("an unknown subcommand prints usage and exits 2", () => {
  const res = wasmplane("frobnicate");
  assert.is(res.status, 2);
  assert.match(res.stderr, "usage: wasmplane plugin");
});

test.run();
