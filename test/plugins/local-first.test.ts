// ABI 1.1's node name in the LB request: sent only to a plugin whose `reads` names it, and what the
// shipped local-first plugin makes of it (this node's endpoints, else this zone's, else all).
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { LbEndpoint, LbRequest } from "../../runtime/lb/plan.ts";
import { ByteWriter } from "../../runtime/plugins/envelope.ts";
import { encodeLbItems, lbOpWord, omittedLbFields } from "../../runtime/plugins/lb-codec.ts";
import { createWasmLbPlanner, type WasmLbPlanner } from "../../runtime/plugins/lb-planner.ts";
import { ensureBuilt, lbDir, lockAll } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: node name (ABI 1.1) and local-first");

const ep = (address: string, nodeName: string, zone: string): LbEndpoint => ({
  address,
  port: 80,
  weight: 1,
  nodeName,
  zone,
});
const eps = [
  ep("10.0.0.1", "node-a", "z1"),
  ep("10.0.0.2", "node-b", "z1"),
  ep("10.0.0.3", "node-c", "z2"),
  ep("10.0.0.4", "node-a", "z1"),
];
const req = (nodeName: string | undefined, nodeZone: string | undefined, endpoints = eps): LbRequest => ({
  key: "ns/svc:http",
  algorithm: "local-first",
  endpoints,
  params: {},
  ...(nodeName ? { nodeName } : {}),
  ...(nodeZone ? { nodeZone } : {}),
});

test("the node name is encoded only for a plugin that reads it, flagged in the op word's third byte", () => {
  const r = req("node-a", "z1");
  const without = encodeLbItems([r], new ByteWriter(), omittedLbFields(["nodeZone"])).bytes;
  const fields = omittedLbFields(["nodeZone", "nodeName"]);
  const withName = encodeLbItems([r], new ByteWriter(), fields).bytes;
  assert.is(withName.length - without.length, 2 + "node-a".length);
  assert.is((lbOpWord(fields) >>> 16) & 0xff, 1);
  assert.is(lbOpWord(omittedLbFields(undefined)), 0, "a plugin that declares nothing gets the ABI 1 layout");
  assert.is(omittedLbFields(undefined) & 0x100, 0);
});

let planner: WasmLbPlanner;
test.before(async () => {
  planner = await createWasmLbPlanner({
    defaultAlgorithm: "local-first",
    plugins: { "local-first": join(lbDir, "local-first.wasm") },
    lockFile: lockAll(),
    log: () => {},
  });
});
test.after(async () => planner.close());

async function slotsFor(r: LbRequest): Promise<string[]> {
  const [res] = await planner.plan([r]);
  if (!res.ok) throw new Error(res.error);
  return [...new Set(res.plan.slots.map((s) => r.endpoints[s].address))].sort();
}

test("local-first picks this node's endpoints, else this zone's, else every endpoint", async () => {
  assert.equal(await slotsFor(req("node-a", "z1")), ["10.0.0.1", "10.0.0.4"]);
  assert.equal(await slotsFor(req("node-x", "z1")), ["10.0.0.1", "10.0.0.2", "10.0.0.4"]);
  assert.equal(await slotsFor(req("node-x", "z9")), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
  assert.equal(await slotsFor(req(undefined, undefined)), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
  const [none] = await planner.plan([req("node-a", "z1", [])]);
  assert.ok(none.ok && none.plan.slots.length === 0);
});

test.run();
