// The host's call protocol: an answer counts only when the worker moved the state word, never on a
// wake-up alone. A worker preempted between storing DONE and notifying delivers that notify during
// the host's next call; the host must not read the exchange buffer (still holding its own input) as
// the answer. Here a second thread notifies the state word without pause during the calls, which
// produces the same stray wake-ups on demand.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { admitPlugin } from "../../runtime/plugins/admission.ts";
import { ByteWriter, inputHeader } from "../../runtime/plugins/envelope.ts";
import { KIND_CODES } from "../../runtime/plugins/kinds.ts";
import { decodeLbOutput, encodeLbItems, lbOpWord } from "../../runtime/plugins/lb-codec.ts";
import { PluginWorker } from "../../runtime/plugins/plugin-worker.ts";
import { endpoints, ensureBuilt, lbDir, lbRequest } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: the worker call protocol");

/** Notifies index 0 of `ctrl` until `stop[0]` is set, or for at most `maxMs`. */
function notifySpammer(ctrl: SharedArrayBuffer, stop: Int32Array, maxMs: number): Worker {
  const code = `
    const { workerData } = require("node:worker_threads");
    const ctrl = new Int32Array(workerData.ctrl);
    const stop = new Int32Array(workerData.stop);
    const end = Date.now() + workerData.maxMs;
    while (Atomics.load(stop, 0) === 0 && Date.now() < end) Atomics.notify(ctrl, 0);
  `;
  return new Worker(code, { eval: true, workerData: { ctrl, stop: stop.buffer, maxMs } });
}

test("stray wake-ups during a call never make the host read its own input as the answer", async () => {
  const file = join(lbDir, "round-robin.wasm");
  const plugin = admitPlugin(readFileSync(file), file, {
    grants: [],
    memoryCapBytes: 64 * 1024 * 1024,
    expectedKind: "lb",
  });
  const worker = new PluginWorker(plugin, { callBudgetMs: 10_000, randomSeed: 1 });
  await worker.start();
  const requests = Array.from({ length: 500 }, (_, i) =>
    lbRequest(`ns/svc-${i}:http`, "round-robin", endpoints(10, { base: `10.${i % 200}` })),
  );
  const { bytes } = encodeLbItems(requests, new ByteWriter(), 0);
  const input = [inputHeader(KIND_CODES.lb, lbOpWord(0), requests.length), bytes];
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const ctrl = (worker as unknown as { ctrl: Int32Array }).ctrl.buffer as SharedArrayBuffer;
  const spammer = notifySpammer(ctrl, stop, 20_000);
  const failures: string[] = [];
  let answered = 0;
  try {
    await new Promise((r) => spammer.once("online", r));
    for (let i = 0; i < 200; i++) {
      const outcome = await worker.call(input);
      if (!outcome.ok) {
        failures.push(outcome.error);
        continue;
      }
      try {
        const decoded = decodeLbOutput(outcome.output, requests);
        if ("batchError" in decoded) failures.push(decoded.batchError);
        else answered++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  } finally {
    Atomics.store(stop, 0, 1);
    await spammer.terminate();
    await worker.close();
  }
  assert.equal(failures.slice(0, 3), [], `${failures.length} of 200 calls misread`);
  assert.is(answered, 200);
});

test.run();
