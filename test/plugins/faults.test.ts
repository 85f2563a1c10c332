// Every fault plugin is contained with a clear error naming plugin and call, while the same planner
// keeps answering other services; refused modules (ABI, grants, hash) never run.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createWasmLbPlanner, type WasmLbPlanner } from "../../runtime/plugins/lb-planner.ts";
import { writeLock } from "../../runtime/plugins/lock.ts";
import {
  collectLog,
  endpoints,
  ensureBuilt,
  lbDir,
  lbRequest,
  lockAll,
  tempDir,
  testDir,
} from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: faults are contained");

const faultPlugins = ["trap", "endless-loop", "memory-hog", "out-of-range", "wrong-abi", "ungranted-import"];

async function plannerWithFaults(log: (line: string) => void): Promise<WasmLbPlanner> {
  const plugins: Record<string, string> = { random: join(lbDir, "random.wasm") };
  for (const name of faultPlugins) plugins[name] = join(testDir, `${name}.wasm`);
  return createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins,
    lockFile: lockAll(),
    callBudgetMs: 1000,
    budgetPerRequestMs: 0,
    memoryCapBytes: 16 * 1024 * 1024,
    log,
  });
}

test("each fault fails only its own service, with plugin and call named, and the planner keeps serving", async () => {
  const { lines, log } = collectLog();
  const planner = await plannerWithFaults(log);
  try {
    const expected: Record<string, RegExp> = {
      trap: /lb plugin trap call #1 .*trapped: unreachable.*instance discarded/,
      "endless-loop":
        /lb plugin endless-loop call #1 .*exceeded its time budget of 1000 ms; worker terminated and restarted/,
      "memory-hog": /lb plugin memory-hog call #1 .*trapped.*of its 16\.0 MiB cap/,
      "out-of-range":
        /lb plugin out-of-range call #1 .*ns\/out-of-range:http: invalid plan: slot 3 names endpoint 8, out of range \(3 endpoints\)/,
      "wrong-abi":
        /plugin wrong-abi .* refused: found ABI version 99 \(exported wasmplane_abi\); this host speaks ABI 1/,
      "ungranted-import":
        /plugin ungranted-import .* refused: .*imports wasmplane\.log, which needs the "log" grant.*imports function host\.exec, which no grant provides.*imports wasmplane\.clock_ms, which needs the "clock" grant.*grant it in the agent config: lb: \{ grants: \{ "ungranted-import": \["log", "clock"\] \} \}/,
    };
    const requests = [
      ...faultPlugins.map((name) => lbRequest(`ns/${name}:http`, name, endpoints(3))),
      lbRequest("ns/healthy:http", "", endpoints(4)),
    ];
    const results = await planner.plan(requests);
    for (const [i, name] of faultPlugins.entries()) {
      const r = results[i];
      assert.not.ok(r.ok, `${name} should fail`);
      if (!r.ok) assert.match(r.error, expected[name], `${name}: ${r.error}`);
    }
    const healthy = results.at(-1)!;
    assert.ok(healthy.ok, JSON.stringify(healthy));
    if (healthy.ok) assert.equal(healthy.plan.slots, [0, 1, 2, 3]);
    assert.ok(lines.some((l) => l.includes("lb plugin trap call #1") && l.includes("last good plans stay")));

    // Served again after the faults: the restarted and re-instantiated plugins answer (and fail) again.
    const again = await planner.plan([
      lbRequest("ns/trap:http", "trap", endpoints(2)),
      lbRequest("ns/endless-loop:http", "endless-loop", endpoints(2)),
      lbRequest("ns/healthy:http", "random", endpoints(5)),
    ]);
    assert.match((again[0] as { error: string }).error, /call #2 .*trapped/);
    assert.match((again[1] as { error: string }).error, /call #2 .*time budget/);
    assert.ok(again[2].ok);

    const status = new Map(planner.status().map((s) => [s.algorithm, s]));
    assert.is(status.get("trap")?.stats?.traps, 2);
    assert.is(status.get("endless-loop")?.stats?.timeouts, 2);
    assert.is(status.get("endless-loop")?.stats?.restarts, 2);
    assert.is(status.get("memory-hog")?.stats?.traps, 1);
    assert.is(status.get("out-of-range")?.stats?.invalidPlans, 1);
    assert.match(status.get("wrong-abi")?.refused ?? "", "ABI version 99");
    assert.is(status.get("random")?.stats?.failures, 0);
  } finally {
    await planner.close();
  }
});

test("a tampered module is refused until re-locked; the admitted one keeps serving meanwhile", async () => {
  const dir = tempDir();
  const module = join(dir, "random.wasm");
  copyFileSync(join(lbDir, "random.wasm"), module);
  const lockFile = join(dir, "plugins.lock.json");
  writeLock(lockFile, [module]);
  const { lines, log } = collectLog();
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins: { random: module },
    lockFile,
    log,
  });
  try {
    const req = [lbRequest("ns/a:http", "", endpoints(2))];
    assert.ok((await planner.plan(req))[0].ok);
    // Tamper: append a custom section (the module still validates, only its hash changes).
    const bytes = readFileSync(module);
    writeFileSync(module, Buffer.concat([bytes, Buffer.from([0, 4, 3, 0x78, 0x79, 0x7a])]));
    const report = await planner.reload();
    assert.is(report.refused.length, 1);
    assert.match(
      report.refused[0].error,
      /sha256 [0-9a-f]{64} differs from the locked [0-9a-f]{64}; .*wasmplane plugin lock/,
    );
    assert.ok(lines.some((l) => l.includes("the previously admitted module keeps serving")));
    assert.ok(
      (await planner.plan([lbRequest("ns/b:http", "", endpoints(3))]))[0].ok,
      "old module still serves",
    );
    // A fresh planner refuses it outright.
    const fresh = await createWasmLbPlanner({
      defaultAlgorithm: "random",
      plugins: { random: module },
      lockFile,
      log,
    });
    const [r] = await fresh.plan(req);
    await fresh.close();
    assert.not.ok(r.ok);
    if (!r.ok) assert.match(r.error, /refused: sha256 .* differs from the locked/);
    // Re-lock, reload: the new module is swapped in.
    writeLock(lockFile, [module]);
    const swapped = await planner.reload();
    assert.equal(swapped.replaced, ["random"]);
    assert.ok((await planner.plan([lbRequest("ns/c:http", "", endpoints(3))]))[0].ok);
  } finally {
    await planner.close();
  }
});

test("a module missing from the lock, or no lock at all, is refused with how to lock it", async () => {
  const dir = tempDir();
  const module = join(dir, "random.wasm");
  copyFileSync(join(lbDir, "random.wasm"), module);
  const lockFile = join(dir, "plugins.lock.json");
  writeLock(lockFile, []);
  const { log } = collectLog();
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins: { random: module },
    lockFile,
    log,
  });
  const [r] = await planner.plan([lbRequest("ns/a:http", "", endpoints(2))]);
  await planner.close();
  assert.not.ok(r.ok);
  if (!r.ok)
    assert.match(
      r.error,
      /is not in lock file .*plugins\.lock\.json \(as "random\.wasm"\); run `wasmplane plugin lock`/,
    );
  const none = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins: { random: module },
    lockFile: join(dir, "missing.json"),
    log,
  });
  const [n] = await none.plan([lbRequest("ns/a:http", "", endpoints(2))]);
  await none.close();
  assert.not.ok(n.ok);
  if (!n.ok) assert.match(n.error, /missing\.json does not exist; create it with `wasmplane plugin lock/);
});

test("granted capabilities work: log lines reach the host log, random is seeded per call", async () => {
  const { lines, log } = collectLog();
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "logging",
    plugins: { logging: join(testDir, "logging.wasm") },
    lockFile: lockAll(),
    grants: { logging: ["log", "random", "clock"] },
    cache: false,
    log,
  });
  try {
    assert.ok((await planner.plan([lbRequest("ns/a:http", "", endpoints(2))]))[0].ok);
    assert.ok((await planner.plan([lbRequest("ns/a:http", "", endpoints(2))]))[0].ok);
    await new Promise((r) => setTimeout(r, 50));
    const logged = lines.filter((l) => l.startsWith("lb plugin logging: planning ns/a:http"));
    assert.is(logged.length, 2, lines.join("\n"));
    assert.is(logged[0], logged[1], "same seed every call: same random value");
    assert.match(logged[0], /random=\d+ clock=yes/);
  } finally {
    await planner.close();
  }
});

test("an unknown algorithm fails its service and lists what is loaded", async () => {
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins: { random: join(lbDir, "random.wasm") },
    lockFile: lockAll(),
    log: () => {},
  });
  const [r] = await planner.plan([lbRequest("ns/a:http", "nope", endpoints(2))]);
  await planner.close();
  assert.not.ok(r.ok);
  if (!r.ok) assert.is(r.error, 'unknown lb algorithm "nope" (loaded: random)');
});

test.run();
