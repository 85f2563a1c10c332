// The lock pins a module and its sidecar manifest together: a tampered manifest is refused by the
// agent's admission path (the LB planner, at start and on reload) and by `plugin test --lock` and
// `plugin inspect --lock`, with the same message.
import { spawnSync } from "node:child_process";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../../runtime/plugins/build.ts";
import { formatReport, runConformance } from "../../runtime/plugins/conformance.ts";
import { createWasmLbPlanner } from "../../runtime/plugins/lb-planner.ts";
import { readLock, writeLock } from "../../runtime/plugins/lock.ts";
import { ensureBuilt, tempDir, testDir } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: the lock pins the manifest too");

/** A copy of the hand-written WAT plugin (sidecar manifest) in its own directory, locked. */
function lockedCopy(): { dir: string; wasm: string; sidecar: string; lockFile: string } {
  const dir = tempDir("wasmplane-lockm-");
  const wasm = join(dir, "wat-round-robin.wasm");
  const sidecar = join(dir, "wat-round-robin.manifest.json");
  copyFileSync(join(testDir, "wat-round-robin.wasm"), wasm);
  copyFileSync(join(testDir, "wat-round-robin.manifest.json"), sidecar);
  const lockFile = join(dir, "plugins.lock.json");
  writeLock(lockFile, [wasm]);
  return { dir, wasm, sidecar, lockFile };
}

function tamper(sidecar: string): void {
  const m = JSON.parse(readFileSync(sidecar, "utf8"));
  writeFileSync(sidecar, JSON.stringify({ ...m, version: `${m.version}-tampered`, reads: [] }));
}

const MANIFEST_DIFFERS =
  /manifest .*wat-round-robin\.manifest\.json sha256 [0-9a-f]{64} differs from the locked [0-9a-f]{64}; if the change is intended, run `wasmplane plugin lock`/;

function cli(...args: string[]) {
  return spawnSync("npx", ["tsx", join(projectRoot, "runtime", "main.ts"), "plugin", ...args], {
    cwd: projectRoot,
    encoding: "utf8",
  });
}

test("the lock records the sidecar manifest's sha256 next to the module's", () => {
  const { lockFile } = lockedCopy();
  const [entry] = Object.values(readLock(lockFile).plugins);
  assert.match(entry.manifestSha256 ?? "", /^[0-9a-f]{64}$/);
});

test("the agent's LB planner refuses a module whose manifest changed after locking, at start and on reload", async () => {
  const { dir, sidecar, lockFile } = lockedCopy();
  const logs: string[] = [];
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "wat-round-robin",
    pluginDir: dir,
    lockFile,
    log: (l) => logs.push(l),
  });
  try {
    assert.equal(planner.status().length, 1);
    tamper(sidecar);
    const report = await planner.reload();
    assert.is(report.refused.length, 1, JSON.stringify(report));
    assert.match(report.refused[0].error, MANIFEST_DIFFERS);
  } finally {
    await planner.close();
  }
  const fresh = await createWasmLbPlanner({
    defaultAlgorithm: "wat-round-robin",
    pluginDir: dir,
    lockFile,
    log: () => {},
  });
  try {
    const [result] = await fresh.plan([
      {
        key: "ns/s:http",
        algorithm: "",
        endpoints: [{ address: "10.0.0.1", port: 80, weight: 1 }],
        params: {},
      },
    ]);
    assert.not.ok(result.ok, "a tampered manifest must not serve");
    assert.match(result.ok ? "" : result.error, MANIFEST_DIFFERS);
  } finally {
    await fresh.close();
  }
});

test("`plugin test --lock` passes a locked module and refuses it once its manifest is tampered with", async () => {
  const { wasm, sidecar, lockFile } = lockedCopy();
  const good = await runConformance(wasm, { lockFile });
  assert.ok(good.passed, formatReport(good));
  tamper(sidecar);
  const bad = await runConformance(wasm, { lockFile });
  assert.not.ok(bad.passed);
  assert.is(bad.checks[0].name, "admission");
  assert.match(bad.checks[0].detail ?? "", MANIFEST_DIFFERS);
  const res = cli("test", wasm, "--lock", lockFile);
  assert.is(res.status, 1, res.stdout + res.stderr);
  assert.match(res.stdout, MANIFEST_DIFFERS);
});

test("`plugin inspect --lock` exits 1 for a changed module or manifest, 0 when both match", () => {
  const { wasm, sidecar, lockFile } = lockedCopy();
  const ok = cli("inspect", wasm, "--lock", lockFile);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, "module and manifest match their pin");
  tamper(sidecar);
  const bad = cli("inspect", wasm, "--lock", lockFile);
  assert.is(bad.status, 1);
  assert.match(bad.stdout, MANIFEST_DIFFERS);
  const bytes = readFileSync(wasm);
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(wasm, bytes);
  const changed = cli("inspect", wasm, "--lock", lockFile);
  assert.is(changed.status, 1);
  assert.match(changed.stdout, /sha256 [0-9a-f]{64} differs from the locked [0-9a-f]{64}/);
});

test("a lock that pins no manifest for a sidecar module (an old lock) is refused, asking for a re-lock", async () => {
  const { wasm, lockFile } = lockedCopy();
  const lock = readLock(lockFile);
  for (const e of Object.values(lock.plugins)) delete e.manifestSha256;
  writeFileSync(lockFile, JSON.stringify(lock));
  const report = await runConformance(wasm, { lockFile });
  assert.not.ok(report.passed);
  assert.match(
    report.checks[0].detail ?? "",
    "is not pinned by the lock; if the change is intended, run `wasmplane plugin lock`",
  );
});

test.run();
