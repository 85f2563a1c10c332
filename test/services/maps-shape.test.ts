// The "maps" service shape (issue 15): plain ClusterIP ports as 1–16 slot elements of
// services-backends4/6, everything else as chains; the slot quantisation and placement. No kernel
// (the service kernel tests run this shape by default, see test/services/harness.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { MAX_SLOT_COUNT, placeSlots, quantize, slotTable } from "../../runtime/services/slots.ts";
import { port, service, slice, snapshot } from "./fixtures.ts";
import { lbResults, planOnce, View } from "./render.ts";

const test = suite("maps shape");
const maps = { shape: "maps" as const };
const web = (over: Parameters<typeof service>[2] = {}) => service("default", "web", over);
const C4 = "svc-c4-default/web/tcp/http";

const counts = (table: string[]) => {
  const out: Record<string, number> = {};
  for (const id of table) out[id] = (out[id] ?? 0) + 1;
  return out;
};

test("slot counts: exact reduced weights up to 16 slots, else largest remainder to 16, at least one each", () => {
  assert.equal([...quantize(["a", "b", "c"])!.values()], [1, 1, 1]);
  // One or two reduced slots are repeated to four (a shorter rejection walk).
  assert.equal(Object.fromEntries(quantize(["a", "a", "b", "b"])!), { a: 2, b: 2 });
  assert.equal(Object.fromEntries(quantize(["a"])!), { a: 4 });
  assert.equal(Object.fromEntries(quantize(["a", "a", "a", "b"])!), { a: 3, b: 1 });
  assert.equal(Object.fromEntries(quantize([..."aaaaaaaaaa", "b"])!), { a: 10, b: 1 });
  assert.equal(Object.fromEntries(quantize([..."a".repeat(20), ..."b".repeat(11)])!), { a: 10, b: 6 });
  assert.equal(Object.fromEntries(quantize(["a", ..."b".repeat(99)])!), { a: 1, b: 15 });
  assert.is(quantize(Array.from({ length: 17 }, (_, i) => `e${i}`)), null);
  assert.is(quantize([]), null);
  const sixteen = quantize(Array.from({ length: 16 }, (_, i) => `e${i}`))!;
  assert.is(sixteen.size, MAX_SLOT_COUNT);
  assert.ok([...sixteen.values()].every((n) => n === 1));
});

test("placement: every slot filled with its quota, for every count; a replaced endpoint moves few slots", () => {
  for (let n = 1; n <= MAX_SLOT_COUNT; n++) {
    const ids = Array.from({ length: n }, (_, i) => `10.1.0.${i + 1}:80`);
    const table = placeSlots(quantize(ids)!);
    assert.is(table.length, n < 3 ? 4 : n);
    assert.equal(new Set(table).size, n, `count ${n}`);
    assert.equal(new Set(Object.values(counts(table))).size, 1, `equal shares for ${n}`);
  }
  const weighted = placeSlots(quantize(["a", "a", "a", "b"])!);
  assert.equal(counts(weighted), { a: 3, b: 1 });
  const three = placeSlots(quantize(["10.1.0.1:80", "10.1.0.2:80", "10.1.0.3:80"])!);
  const replaced = placeSlots(quantize(["10.1.0.1:80", "10.1.0.2:80", "10.1.0.9:80"])!);
  const moved = three.filter((id, i) => replaced[i] !== id).length;
  assert.ok(moved <= 2, `moved ${moved} of 3`);
  assert.equal(placeSlots(quantize(["x", "y"])!), placeSlots(quantize(["y", "x"])!), "order-independent");
});

test("slot tables only for random plans", () => {
  const eps = [
    { address: "10.1.0.1", port: 8080 },
    { address: "10.1.0.2", port: 8080 },
  ];
  const ids = eps.map((e) => `${e.address}:${e.port}`);
  assert.ok(slotTable({ selection: { mode: "random" }, slots: ids }, eps));
  assert.is(slotTable({ selection: { mode: "round-robin" }, slots: ids }, eps), null);
  assert.is(slotTable({ selection: { mode: "hash", fields: ["saddr"], seed: 1 }, slots: ids }, eps), null);
});

test("a plain ClusterIP port is one element per slot and no chain; cluster IP and hairpin elements stay", () => {
  const svc = web();
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1", "10.1.0.2", "10.1.0.3"])]), maps);
  assert.is(view.chain(C4), undefined);
  const slots = view.elements("services-backends4");
  assert.is(slots.length, 3);
  assert.ok(slots.every((e) => /^10\.96\.0\.10 \. tcp \. 80 \. \d+ : 10\.1\.0\.[123] \. 8080$/.test(e)));
  assert.equal(view.elements("services-ips4"), []);
  assert.equal(view.elements("services-cluster-ips4"), ["10.96.0.10"]);
  assert.is(view.elements("services-hairpin4").length, 3);
  const rule = (k: number) =>
    `meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod ${k} map @services-backends4`;
  const slotChain = view.chain("services-slots")!;
  // One rule per slot count, the largest first (rejection sampling, runtime/services/slots.ts).
  const ipRules = slotChain.filter((line) => line.includes("dnat ip to"));
  assert.equal(
    ipRules,
    Array.from({ length: MAX_SLOT_COUNT }, (_, i) => rule(MAX_SLOT_COUNT - i)),
  );
});

test("chains stay for affinity, NodePort, external IPs, iTP Local, non-random plans; no endpoints rejects", () => {
  const eps = ["10.1.0.1", "10.1.0.2"];
  const chainOf = (svc: ReturnType<typeof web>, plans = {}) => {
    const { view } = planOnce(snapshot([svc], [slice(svc, eps)]), maps, plans);
    return { view, chain: view.chain(C4) };
  };
  for (const svc of [
    web({ sessionAffinityTimeoutSeconds: 60 }),
    web({ type: "NodePort", ports: [port("http", "TCP", 80, 8080, 30080)] }),
    web({ externalIPs: ["192.0.2.1"] }),
  ]) {
    const { view, chain } = chainOf(svc);
    assert.ok(chain, JSON.stringify(svc));
    assert.equal(view.elements("services-backends4"), []);
    assert.ok(view.elements("services-ips4").includes(`10.96.0.10 . tcp . 80 : goto ${C4}`));
  }
  const local = web({ internalTrafficPolicy: "Local" });
  const { view: lv } = planOnce(snapshot([local], [slice(local, eps)]), maps);
  assert.equal(lv.elements("services-backends4"), []);

  const rr = chainOf(web(), { "default/web:http": { selection: { mode: "round-robin" }, slots: [0, 1] } });
  assert.ok(rr.chain);
  assert.equal(rr.view.elements("services-ips4"), [`10.96.0.10 . tcp . 80 : goto ${C4}`]);

  const none = web();
  const { view: nv } = planOnce(snapshot([none], []), maps);
  assert.equal(nv.elements("services-backends4"), []);
  assert.equal(nv.elements("services-no-endpoints4"), ["10.96.0.10 . tcp . 80 : goto services-reject"]);
});

test("two services on one ClusterIP and port: the first keeps the slots, the second is reported once", () => {
  const a = service("default", "a", { clusterIPs: ["10.96.0.10"] });
  const b = service("default", "b", { clusterIPs: ["10.96.0.10"] });
  const { view } = planOnce(snapshot([a, b], [slice(a, ["10.1.0.1"]), slice(b, ["10.1.0.2"])]), maps);
  assert.equal(
    view.plan.problems.map((p) => `${p.name} ${p.field}`),
    ["b spec.clusterIPs"],
  );
  assert.ok(view.elements("services-backends4").every((e) => e.endsWith(": 10.1.0.1 . 8080")));
});

test("an endpoint change and a service added are element changes only", () => {
  const svc = web();
  const other = service("default", "other", { clusterIPs: ["10.96.0.11"] });
  const { proxy, view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1", "10.1.0.2", "10.1.0.3"])]), maps);
  const applied = mergeFragments("inet", "wasmplane", [view.fragment]);
  const next = snapshot(
    [svc, other],
    [slice(svc, ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"]), slice(other, ["10.1.0.9"])],
  );
  const plan = proxy.plan(next, lbResults(proxy, next));
  assert.equal(plan.problems, []);
  const sync = planSync(applied, mergeFragments("inet", "wasmplane", [plan.fragment]));
  const kinds = new Set(sync.tx.ops.map((op) => `${op.verb} ${op.kind}`));
  assert.equal([...kinds].sort(), ["add element", "delete element"]);
  const after = new View(plan);
  assert.is(after.elements("services-backends4").length, 8, "4 slots for web, 4 for other (one endpoint)");
});

test.run();
