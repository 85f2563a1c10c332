// Every call a plugin worker makes is timed, failed ones too; the LB planner lists the workers of the
// modules serving now (what /metrics reads), and none once it is closed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { admitPlugin } from "../../runtime/plugins/admission.ts";
import { ByteWriter, inputHeader } from "../../runtime/plugins/envelope.ts";
import { KIND_CODES } from "../../runtime/plugins/kinds.ts";
import { encodeLbItems, lbOpWord } from "../../runtime/plugins/lb-codec.ts";
import { createWasmLbPlanner } from "../../runtime/plugins/lb-planner.ts";
import { PluginWorker } from "../../runtime/plugins/plugin-worker.ts";
import { endpoints, ensureBuilt, lbDir, lbRequest, lockAll } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: worker call latency");

test("the latency count equals the calls, failures included", async () => {
  const file = join(lbDir, "random.wasm");
  const plugin = admitPlugin(readFileSync(file), file, {
    grants: [],
    memoryCapBytes: 64 * 1024 * 1024,
    expectedKind: "lb",
  });
  const worker = new PluginWorker(plugin, { callBudgetMs: 10_000, randomSeed: 1 });
  await worker.start();
  try {
    const requests = [lbRequest("ns/a:http", "random", endpoints(3))];
    const { bytes } = encodeLbItems(requests, new ByteWriter(), 0);
    const input = [inputHeader(KIND_CODES.lb, lbOpWord(0), 1), bytes];
    for (let i = 0; i < 5; i++) assert.ok((await worker.call(input)).ok);
    // An input beyond the memory cap fails before the worker is asked: still a call, still timed.
    const tooBig = await worker.call(new Uint8Array(64 * 1024 * 1024 + 1));
    assert.not.ok(tooBig.ok);
    const latency = worker.stats.latency.snapshot();
    assert.is(worker.stats.calls, 6);
    assert.is(worker.stats.failures, 1);
    assert.is(latency.count, 6);
    assert.ok(latency.sumSeconds > 0);
    assert.is(latency.cumulative.at(-1), 6, "a call of a small batch took more than 5 s");
  } finally {
    await worker.close();
  }
});

test("the LB planner lists one worker per serving module, with its calls, and none once closed", async () => {
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins: { random: join(lbDir, "random.wasm"), maglev: join(lbDir, "maglev.wasm") },
    lockFile: lockAll(),
    log: () => {},
  });
  try {
    await planner.plan([lbRequest("ns/a:http", "maglev", endpoints(3))]);
    const listed = planner.workers().map((w) => [w.plugin.name, w.plugin.manifest.kind, w.stats.calls]);
    assert.equal(listed.sort(), [
      ["maglev", "lb", 1],
      ["random", "lb", 0],
    ]);
  } finally {
    await planner.close();
  }
  assert.equal(planner.workers(), []);
});

test.run();
