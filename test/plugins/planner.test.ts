// The Wasm LB planner as the agent uses it: algorithm per request with a default, batching into few
// calls, the per-key cache (pure plugins), memory-bounded splitting, hot swap through reload().
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { inspectModule } from "../../runtime/plugins/admission.ts";
import { createWasmLbPlanner } from "../../runtime/plugins/lb-planner.ts";
import { writeLock } from "../../runtime/plugins/lock.ts";
import {
  collectLog,
  endpoints,
  ensureBuilt,
  lbDir,
  lbRequest,
  lockAll,
  SHIPPED_LB,
  tempDir,
  testDir,
} from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: wasm lb planner");

/** One service in ten on Maglev (tables are large), the rest random or the default. */
const algorithmOf = (i: number) => (i % 10 === 0 ? "maglev" : i % 2 === 1 ? "random" : "");

const shipped = () => Object.fromEntries(SHIPPED_LB.map((n) => [n, join(lbDir, `${n}.wasm`)]));

test("plans by algorithm per request, default when none, in request order; 10,000 services in few calls", async () => {
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "round-robin",
    plugins: shipped(),
    lockFile: lockAll(),
    log: () => {},
  });
  try {
    const requests = Array.from({ length: 10000 }, (_, i) =>
      lbRequest(`ns/svc-${i}:http`, algorithmOf(i), endpoints(1 + (i % 10))),
    );
    const results = await planner.plan(requests);
    assert.is(results.length, 10000);
    for (const [i, r] of results.entries()) {
      assert.ok(r.ok, `${i}: ${JSON.stringify(r)}`);
      if (!r.ok) continue;
      const want = { "": "round-robin", random: "random", maglev: "hash" }[algorithmOf(i)];
      assert.is(r.plan.selection.mode, want);
      assert.ok(r.plan.slots.every((s) => s < requests[i].endpoints.length));
    }
    const calls = Object.fromEntries(planner.status().map((s) => [s.algorithm, s.stats?.calls ?? 0]));
    assert.ok(calls["round-robin"] <= 2 && calls.random <= 2, `calls: ${JSON.stringify(calls)}`);
    assert.is(calls.maglev, 1, `maglev calls: ${calls.maglev}`);
  } finally {
    await planner.close();
  }
});

test("unchanged requests come from the cache; a changed endpoint list or plugin is planned again", async () => {
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins: shipped(),
    lockFile: lockAll(),
    log: () => {},
  });
  try {
    const calls = () => planner.status().find((s) => s.algorithm === "random")?.stats?.calls ?? 0;
    const reqs = [lbRequest("ns/a:http", "", endpoints(3)), lbRequest("ns/b:http", "", endpoints(4))];
    const first = await planner.plan(reqs);
    assert.is(calls(), 1);
    const second = await planner.plan(reqs);
    assert.is(calls(), 1, "nothing changed: no call");
    assert.equal(second, first);
    const third = await planner.plan([reqs[0], lbRequest("ns/b:http", "", endpoints(5))]);
    assert.is(calls(), 2);
    assert.ok(third[1].ok && third[1].plan.slots.length === 5);
    // A request answered by an identical one in its batch is cached under its own key too.
    const twins = [lbRequest("ns/c:http", "", endpoints(6)), lbRequest("ns/d:http", "", endpoints(6))];
    const fourth = await planner.plan(twins);
    assert.is(calls(), 3);
    assert.equal(await planner.plan([twins[1]]), [fourth[1]]);
    assert.is(calls(), 3, "the twin came from the cache");
  } finally {
    await planner.close();
  }
});

test("identical items are sent once when the plugin does not read the key; the answers are shared", async () => {
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "round-robin",
    plugins: shipped(),
    lockFile: lockAll(),
    cache: false,
    log: () => {},
  });
  const every = await createWasmLbPlanner({
    defaultAlgorithm: "round-robin",
    plugins: shipped(),
    lockFile: lockAll(),
    cache: false,
    dedupe: false,
    log: () => {},
  });
  try {
    // round-robin reads nothing but the endpoint count: 3 and 5 endpoints are the only two items.
    const requests = Array.from({ length: 200 }, (_, i) =>
      lbRequest(`ns/svc-${i}:http`, "", endpoints(i % 2 === 0 ? 3 : 5, { base: `10.${i}` })),
    );
    const shared = await planner.plan(requests);
    const separate = await every.plan(requests);
    assert.equal(shared, separate, "sharing answers changes no plan");
    for (const [i, r] of shared.entries())
      assert.equal(r, {
        ok: true,
        plan: { selection: { mode: "round-robin" }, slots: i % 2 === 0 ? [0, 1, 2] : [0, 1, 2, 3, 4] },
      });
    assert.ok(shared[0] === shared[2] && shared[1] === shared[3], "one answer per distinct item");
    assert.ok(shared[0] !== shared[1]);
    assert.ok(separate[0] !== separate[2], "dedupe off: every item answered on its own");
    // maglev reads the key (its jhash seed): same endpoints, different services, different plans.
    const [a, b] = await planner.plan([
      lbRequest("ns/m1:http", "maglev", endpoints(4)),
      lbRequest("ns/m2:http", "maglev", endpoints(4)),
    ]);
    assert.ok(a.ok && b.ok && a.plan.selection.mode === "hash" && b.plan.selection.mode === "hash");
    if (a.ok && b.ok && a.plan.selection.mode === "hash" && b.plan.selection.mode === "hash")
      assert.is.not(a.plan.selection.seed, b.plan.selection.seed);
  } finally {
    await planner.close();
    await every.close();
  }
});

test("concurrent plan() calls on one plugin each get their own answers", async () => {
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "maglev",
    plugins: shipped(),
    lockFile: lockAll(),
    cache: false,
    log: () => {},
  });
  try {
    // Both batches use maglev (the encode buffer and the reused output buffer are per plugin).
    const batch = (prefix: string, n: number) =>
      Array.from({ length: 50 }, (_, i) =>
        lbRequest(`ns/${prefix}-${i}:http`, "", endpoints(n, { base: `10.${i}` })),
      );
    const a = batch("a", 3);
    const b = batch("b", 7);
    const [ra, rb] = await Promise.all([planner.plan(a), planner.plan(b)]);
    const [sa, sb] = [await planner.plan(a), await planner.plan(b)];
    assert.equal(ra, sa, "batch a planned alone gives the same plans");
    assert.equal(rb, sb, "batch b planned alone gives the same plans");
    assert.ok(ra.every((r) => r.ok && r.plan.slots.every((s) => s < 3)));
    assert.ok(rb.every((r) => r.ok && r.plan.slots.every((s) => s < 7) && new Set(r.plan.slots).size === 7));
  } finally {
    await planner.close();
  }
});

test("a batch too big for the memory cap is split until it fits", async () => {
  const { lines, log } = collectLog();
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "maglev",
    plugins: { maglev: join(lbDir, "maglev.wasm") },
    lockFile: lockAll(),
    memoryCapBytes: 4 * 1024 * 1024,
    callBudgetMs: 20000,
    log,
  });
  try {
    // 16 tables of 65521 slots (param table-size): 4 MiB of output alone, more than the 4 MiB memory.
    const requests = Array.from({ length: 16 }, (_, i) =>
      lbRequest(`ns/big-${i}:http`, "", endpoints(30, { base: `10.${i}` }), {
        params: { "table-size": "65521" },
      }),
    );
    const results = await planner.plan(requests);
    assert.ok(
      results.every((r) => r.ok && r.plan.slots.length === 65521),
      JSON.stringify(results.find((r) => !r.ok)),
    );
    assert.ok(
      lines.some((l) => l.includes("ran out of memory for 16 service ports; retrying in halves")),
      lines.join("\n"),
    );
  } finally {
    await planner.close();
  }
});

test("hot swap: reload() swaps a re-locked module and removes a dropped one; status tells", async () => {
  const dir = tempDir();
  const module = join(dir, "lb.wasm");
  copyFileSync(join(lbDir, "random.wasm"), module);
  const lockFile = join(dir, "plugins.lock.json");
  writeLock(lockFile, [module]);
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "swap",
    plugins: { swap: module },
    lockFile,
    log: () => {},
  });
  try {
    const req = [lbRequest("ns/a:http", "", endpoints(3))];
    const before = await planner.plan(req);
    assert.ok(before[0].ok && before[0].plan.selection.mode === "random");
    copyFileSync(join(lbDir, "round-robin.wasm"), module);
    writeLock(lockFile, [module]);
    const report = await planner.reload();
    assert.equal(report.replaced, ["swap"]);
    const after = await planner.plan(req);
    assert.ok(
      after[0].ok && after[0].plan.selection.mode === "round-robin",
      "cache keyed by module hash too",
    );
    const [status] = planner.status();
    assert.is(status.version, inspectModule(readFileSync(module), module).manifest?.version);
    assert.match(status.sha256 ?? "", /^[0-9a-f]{64}$/);
    assert.equal((await planner.reload()).unchanged, ["swap"]);
  } finally {
    await planner.close();
  }
});

test("the hand-written WAT module (no SDK, sidecar manifest) plans through the planner", async () => {
  const planner = await createWasmLbPlanner({
    defaultAlgorithm: "wat",
    plugins: { wat: join(testDir, "wat-round-robin.wasm") },
    lockFile: lockAll(),
    log: () => {},
  });
  try {
    const results = await planner.plan([
      lbRequest("ns/a:http", "", endpoints(3), { params: { "lb.wasmplane.io/x": "y" }, nodeZone: "zone-a" }),
      lbRequest("ns/b:http", "", []),
      lbRequest("ns/c:http", "", endpoints(7)),
    ]);
    assert.equal(results, [
      { ok: true, plan: { selection: { mode: "round-robin" }, slots: [0, 1, 2] } },
      { ok: true, plan: { selection: { mode: "round-robin" }, slots: [] } },
      { ok: true, plan: { selection: { mode: "round-robin" }, slots: [0, 1, 2, 3, 4, 5, 6] } },
    ]);
  } finally {
    await planner.close();
  }
});

test.run();
