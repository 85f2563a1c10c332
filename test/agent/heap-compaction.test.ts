// runtime/agent/heap-compaction.ts: a compacting GC, once, after a large sync and only then.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compactHeap, HeapCompaction } from "../../runtime/agent/heap-compaction.ts";
import { parseMemoryLimit } from "../../runtime/agent/memory-limit.ts";

const test = suite("heap compaction");
setFlagsFromString("--expose-gc");
/** A full GC without compaction flags: V8 evacuates only the pages it picks. */
const plainGc = runInNewContext("gc") as () => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("compactHeap gives back the pages a plain full GC leaves part-filled", () => {
  // Half of many small objects survive, spread over every page they were allocated on.
  let all: { n: number; pad: string }[] = [];
  for (let i = 0; i < 1_500_000; i++) all.push({ n: i, pad: `x${i}` });
  const kept = all.filter((_, i) => i % 4 === 0);
  all = [];
  compactHeap(); // a first one settles what the test runner itself left behind
  for (let i = 0; i < 1_500_000; i++) all.push({ n: i, pad: `y${i}` });
  const kept2 = all.filter((_, i) => i % 4 === 0);
  all = [];
  plainGc();
  plainGc();
  const plain = process.memoryUsage().heapTotal;
  compactHeap();
  const compacted = process.memoryUsage().heapTotal;
  assert.ok(kept.length + kept2.length === 750_000);
  assert.ok(
    compacted < plain - 8 * 1024 * 1024,
    `committed heap ${Math.round(plain / 2 ** 20)} MiB → ${Math.round(compacted / 2 ** 20)} MiB`,
  );
});

/** A HeapCompaction whose log lines are collected; no memory limit unless one is given. */
function compaction(minBytes: number, idleMs: number, limit: number | null = null) {
  const lines: { line: string; fields: Record<string, number> }[] = [];
  const c = new HeapCompaction({
    minBytes,
    idleMs,
    log: (line, fields) => lines.push({ line, fields }),
    memoryLimit: () => limit,
  });
  return { c, lines };
}

test("runs once, idleMs after the last large sync; small syncs do not arm it", async () => {
  const { c, lines } = compaction(1000, 30);
  try {
    c.afterSync(999);
    await sleep(60);
    assert.equal(lines, []);
    c.afterSync(1000);
    await sleep(15);
    c.afterSync(5000); // restarts the wait
    await sleep(20);
    assert.equal(lines, []);
    await sleep(40);
    assert.is(lines.length, 1);
    assert.match(lines[0].line, /^heap compacted in \d+ ms after a large sync: \d+ → \d+ MiB committed/);
    assert.ok(
      lines[0].fields.heapTotalMiB > 0 && lines[0].fields.heapUsedMiB <= lines[0].fields.heapTotalMiB,
    );
    await sleep(60);
    assert.is(lines.length, 1);
  } finally {
    c.stop();
  }
});

test("skipped when the memory limit leaves no room for a second copy of the live heap", async () => {
  const { c, lines } = compaction(1, 10, process.memoryUsage().rss + 1024 * 1024);
  c.afterSync(10);
  await sleep(60);
  c.stop();
  assert.is(lines.length, 1);
  assert.match(
    lines[0].line,
    /^heap not compacted after a large sync: it needs about \d+ MiB for a moment, over the memory limit of \d+ MiB$/,
  );
});

test("memory limits as cgroup v1 and v2 write them", () => {
  assert.is(parseMemoryLimit("max\n"), null);
  assert.is(parseMemoryLimit("9223372036854771712\n"), null);
  assert.is(parseMemoryLimit("1073741824\n"), 1073741824);
  assert.is(parseMemoryLimit("garbage"), null);
});

test("stop cancels a pending compaction", async () => {
  const { c, lines } = compaction(1, 20);
  c.afterSync(10);
  c.stop();
  await sleep(50);
  assert.equal(lines, []);
});

test.run();
