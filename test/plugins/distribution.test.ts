// What the shipped LB plugins decide: random and weighted within statistical bounds (seeded draws
// stand in for nftables' numgen), Maglev's disruption and balance, topology and source-hash.
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { LbEndpoint, LbPlan, LbRequest } from "../../runtime/lb/plan.ts";
import { keyHash, maglevTable, maglevTableSize } from "../../runtime/lb/reference.ts";
import { createWasmLbPlanner, type WasmLbPlanner } from "../../runtime/plugins/lb-planner.ts";
import { endpoints, ensureBuilt, lbDir, lbRequest, lockAll, SHIPPED_LB, seededRandom } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: distribution");

let planner: WasmLbPlanner;
test.before(async () => {
  planner = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    plugins: Object.fromEntries(SHIPPED_LB.map((n) => [n, join(lbDir, `${n}.wasm`)])),
    lockFile: lockAll(),
    callBudgetMs: 10000,
    log: () => {},
  });
});
test.after(async () => planner.close());

async function planOne(req: LbRequest): Promise<LbPlan> {
  const [r] = await planner.plan([req]);
  if (!r.ok) throw new Error(r.error);
  return r.plan;
}

/** Draws `draws` new connections the way `numgen random mod <slots>` would; returns the share per endpoint. */
function shares(plan: LbPlan, endpointCount: number, draws: number, seed: number): number[] {
  const rnd = seededRandom(seed);
  const counts = new Array(endpointCount).fill(0);
  for (let i = 0; i < draws; i++) counts[plan.slots[Math.floor(rnd() * plan.slots.length)]]++;
  return counts.map((c) => c / draws);
}

function assertWithinBounds(observed: number[], expected: number[], draws: number, label: string) {
  for (const [i, p] of expected.entries()) {
    const sigma = Math.sqrt((p * (1 - p)) / draws);
    const bound = Math.max(5 * sigma, 1e-9);
    assert.ok(
      Math.abs(observed[i] - p) <= bound,
      `${label}: endpoint ${i} got ${observed[i].toFixed(4)}, expected ${p.toFixed(4)} ± ${bound.toFixed(4)}`,
    );
  }
}

test("random: every endpoint once, equal shares within 5σ over 200k seeded draws", async () => {
  const plan = await planOne(lbRequest("ns/r:http", "random", endpoints(7)));
  assert.equal(plan.selection, { mode: "random" });
  assert.equal([...plan.slots].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assertWithinBounds(shares(plan, 7, 200_000, 42), new Array(7).fill(1 / 7), 200_000, "random");
});

test("round-robin: every endpoint once, numgen inc", async () => {
  const plan = await planOne(lbRequest("ns/rr:http", "round-robin", endpoints(4)));
  assert.equal(plan, { selection: { mode: "round-robin" }, slots: [0, 1, 2, 3] });
});

test("weighted: annotation weights give exact slot shares, interleaved, and draws within 5σ", async () => {
  const eps = endpoints(3);
  const plan = await planOne(
    lbRequest("ns/w:http", "weighted", eps, {
      params: {
        "lb.wasmplane.io/weights": `${eps[0].address}=30, ${eps[1].address}:8080=10,${eps[2].address}=20`,
      },
    }),
  );
  assert.equal(plan.selection, { mode: "random" });
  assert.is(plan.slots.length, 6, "weights reduced by their gcd");
  const count = (i: number) => plan.slots.filter((s) => s === i).length;
  assert.equal([count(0), count(1), count(2)], [3, 1, 2]);
  assert.not.equal(plan.slots.slice(0, 3), [0, 0, 0], "slots interleaved");
  assertWithinBounds(shares(plan, 3, 200_000, 7), [0.5, 1 / 6, 1 / 3], 200_000, "weighted");
});

test("weighted: endpoint weights (hints), zero removes, large weights apportioned to max-slots", async () => {
  const eps: LbEndpoint[] = endpoints(4).map((e, i) => ({ ...e, weight: [1, 0, 3, 1000][i] }));
  const plan = await planOne(lbRequest("ns/w2:http", "weighted", eps, { params: { "max-slots": "64" } }));
  assert.is(plan.slots.length, 64);
  const count = (i: number) => plan.slots.filter((s) => s === i).length;
  assert.is(count(1), 0, "weight 0 gets no slot");
  assert.ok(count(0) >= 1 && count(2) >= 1, "every positive weight keeps at least one slot");
  assert.ok(count(3) >= 60, `heavy endpoint got ${count(3)} of 64`);
  const [bad] = await planner.plan([
    lbRequest("ns/w3:http", "weighted", endpoints(2), { params: { weights: "10.0.0.1=lots" } }),
  ]);
  assert.not.ok(bad.ok);
  if (!bad.ok)
    assert.match(bad.error, "weights: want comma-separated address[:port]=non-negative integer pairs");
});

function identities(req: LbRequest, plan: LbPlan): string[] {
  return plan.slots.map((s) => `${req.endpoints[s].address}:${req.endpoints[s].port}`);
}

/** A stand-in for nftables' jhash over (saddr, sport): FNV-1a over the key's bytes, mod the table size. */
function keySlot(key: string, m: number): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return h % m;
}

// The default ladder (M ≥ 20·N², up to 65521) keeps the 1.2/N bound up to N = 40 (32749 slots);
// capping the table (param max-table-size 4093, version 1.1's default) loosens it to 1.6/N there.
for (const [n, bound, maxTable] of [
  [5, 1.2, undefined],
  [10, 1.2, undefined],
  [16, 1.2, undefined],
  [40, 1.2, undefined],
  [40, 1.6, 4093],
] as const) {
  const params: Record<string, string> = maxTable ? { "max-table-size": `${maxTable}` } : {};
  const label = maxTable ? ` (max-table-size ${maxTable})` : "";
  test(`maglev: ${n} endpoints${label} — slots balanced within 1%, any one leaving moves ≤ ${bound}/N of keys`, async () => {
    const all = endpoints(n, { base: "10.7" });
    const full = lbRequest("ns/m:http", "maglev", all, { params });
    const plan = await planOne(full);
    const m = plan.slots.length;
    assert.equal(plan.selection.mode, "hash");
    if (plan.selection.mode === "hash") assert.equal(plan.selection.fields, ["saddr", "sport"]);
    assert.ok(m >= 100 * n, `table size ${m} below 100·N`);
    assert.ok(m <= (maxTable ?? 65521), `table size ${m} above the cap`);
    assert.is(m, maglevTableSize(n, maxTable), "the reference's table size");
    const counts = new Array(n).fill(0);
    for (const s of plan.slots) counts[s]++;
    for (const [i, c] of counts.entries())
      assert.ok(
        Math.abs(c - m / n) / (m / n) <= 0.01,
        `endpoint ${i}: ${c} slots of ${m}, ideal ${(m / n).toFixed(1)}`,
      );

    const before = identities(full, plan);
    const rnd = seededRandom(n);
    const keys = Array.from(
      { length: 20000 },
      () =>
        `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}:${1024 + Math.floor(rnd() * 60000)}`,
    );
    let worst = 0;
    for (let leaving = 0; leaving < n; leaving++) {
      const rest = lbRequest(
        "ns/m:http",
        "maglev",
        all.filter((_, i) => i !== leaving),
        { params },
      );
      const after = identities(rest, await planOne(rest));
      assert.is(after.length, m, "table size unchanged when one endpoint leaves");
      const movedSlots = before.filter((id, s) => id !== after[s]).length / m;
      const movedKeys =
        keys.filter((k) => before[keySlot(k, m)] !== after[keySlot(k, m)]).length / keys.length;
      worst = Math.max(worst, movedSlots);
      assert.ok(
        movedSlots <= bound / n,
        `endpoint ${leaving} left: ${(movedSlots * 100).toFixed(2)}% of slots moved, limit ${((bound / n) * 100).toFixed(2)}%`,
      );
      // Keys land on slots uniformly, so sampled keys estimate the slot share: allow 4σ of sampling error.
      const sampling = 4 * Math.sqrt((movedSlots * (1 - movedSlots)) / keys.length);
      assert.ok(
        Math.abs(movedKeys - movedSlots) <= sampling + 1e-9,
        `${(movedKeys * 100).toFixed(2)}% of sampled keys moved vs ${(movedSlots * 100).toFixed(2)}% of slots`,
      );
      // Keys that were not on the leaving endpoint mostly stay: only the leaver's keys must move.
      const leaverId = `${all[leaving].address}:${all[leaving].port}`;
      assert.not.ok(after.includes(leaverId));
    }
    assert.ok(
      worst >= 1 / n - 0.02,
      "at least the leaver's own share moved (the measurement measures something)",
    );
  });
}

test("maglev: the TypeScript reference builds the identical table (the ABI is language-neutral)", async () => {
  for (const n of [1, 3, 10, 17]) {
    const eps = endpoints(n, { base: "172.16" });
    const plan = await planOne(lbRequest(`ns/x${n}:http`, "maglev", eps));
    assert.equal(plan.slots, maglevTable(eps), `${n} endpoints`);
    if (plan.selection.mode === "hash") assert.is(plan.selection.seed, keyHash(`ns/x${n}:http`));
  }
});

test("maglev: same endpoint set in another order gives the same table; table-size param pins M", async () => {
  const eps = endpoints(8);
  const a = lbRequest("ns/m2:http", "maglev", eps);
  const b = lbRequest("ns/m2:http", "maglev", [...eps].reverse());
  assert.equal(identities(a, await planOne(a)), identities(b, await planOne(b)));
  const pinned = await planOne(lbRequest("ns/m2:http", "maglev", eps, { params: { "table-size": "4093" } }));
  assert.is(pinned.slots.length, 4093);
  const [bad] = await planner.plan([
    lbRequest("ns/m2:http", "maglev", eps, { params: { "table-size": "1000" } }),
  ]);
  assert.not.ok(bad.ok, "1000 is not prime");
  const [tooSmall] = await planner.plan([
    lbRequest("ns/m2:http", "maglev", eps, { params: { "max-table-size": "100" } }),
  ]);
  assert.not.ok(tooSmall.ok);
  if (!tooSmall.ok) assert.match(tooSmall.error, "max-table-size: want 251..65536");
});

test("topology: only same-zone endpoints when there are some, all of them otherwise", async () => {
  const eps = endpoints(6, { zones: ["zone-a", "zone-b", "zone-c"] });
  const local = await planOne(lbRequest("ns/t:http", "topology", eps, { nodeZone: "zone-b" }));
  assert.equal(local.slots, [1, 4]);
  const none = await planOne(lbRequest("ns/t:http", "topology", eps, { nodeZone: "zone-z" }));
  assert.equal(none.slots, [0, 1, 2, 3, 4, 5]);
  const noZone = await planOne(lbRequest("ns/t:http", "topology", eps));
  assert.equal(noZone.slots, [0, 1, 2, 3, 4, 5]);
});

test("source-hash: jhash on saddr over a canonical endpoint order, stable per service", async () => {
  const eps = endpoints(5);
  const a = lbRequest("ns/s:http", "source-hash", eps);
  const b = lbRequest("ns/s:http", "source-hash", [eps[3], eps[0], eps[4], eps[2], eps[1]]);
  const pa = await planOne(a);
  const pb = await planOne(b);
  assert.equal(pa.selection, pb.selection);
  if (pa.selection.mode === "hash") assert.equal(pa.selection.fields, ["saddr"]);
  assert.equal(identities(a, pa), identities(b, pb));
  const other = await planOne(lbRequest("ns/other:http", "source-hash", eps));
  if (other.selection.mode === "hash" && pa.selection.mode === "hash")
    assert.is.not(other.selection.seed, pa.selection.seed, "seed differs per service");
  const ports = await planOne(
    lbRequest("ns/s:http", "source-hash", eps, { params: { "hash-fields": "saddr,sport" } }),
  );
  if (ports.selection.mode === "hash") assert.equal(ports.selection.fields, ["saddr", "sport"]);
});

test.run();
