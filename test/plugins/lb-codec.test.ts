// The lb item codec on its own: fields left out by a plugin's `reads`, and the answer flag for
// tables of every endpoint once, with the checks the host applies before a plan is used.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ByteWriter } from "../../runtime/plugins/envelope.ts";
import {
  decodeLbOutput,
  encodeLbItems,
  omittedLbFields,
  PLAN_EVERY_ENDPOINT,
} from "../../runtime/plugins/lb-codec.ts";
import { endpoints, lbRequest } from "./fixtures.ts";

const test = suite("plugins: lb codec");

test("a reads list leaves out the other fields; the endpoint count is always sent", () => {
  const req = lbRequest("ns/a:http", "", endpoints(3), { nodeZone: "zone-a" });
  const full = encodeLbItems([req], new ByteWriter()).bytes;
  assert.is(omittedLbFields(undefined), 0, "no declaration: every field");
  const countOnly = encodeLbItems([req], new ByteWriter(), omittedLbFields([])).bytes;
  assert.equal([...countOnly], [3, 0, 0, 0]);
  const addresses = encodeLbItems([req], new ByteWriter(), omittedLbFields(["endpoint.address"])).bytes;
  // u32 count, then per endpoint str address ("10.0.0.1": 2 + 8 bytes).
  assert.is(addresses.length, 4 + 3 * 10);
  assert.ok(full.length > addresses.length);
});

test("a field is checked only when it is sent", () => {
  const bad = lbRequest("ns/p:http", "", [{ address: "10.0.0.1", port: 70000, weight: 1 }]);
  assert.throws(
    () => encodeLbItems([bad], new ByteWriter()),
    /endpoints\[0\]\.port 70000 is not a port number/,
  );
  assert.not.throws(() => encodeLbItems([bad], new ByteWriter(), omittedLbFields([])));
});

/** An output envelope with one answer: mode round-robin, the given flags and slot count, no slot words. */
function answer(flags: number, slotCount: number, slots: number[] = []): Uint8Array {
  const out = new Uint8Array(16 + 12 + slots.length * 4);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint32(4, 1, true);
  v.setUint32(12, 1, true);
  out.set([0, 1, 0, flags], 16);
  v.setUint32(24, slotCount, true);
  for (const [i, s] of slots.entries()) v.setUint32(28 + i * 4, s, true);
  return out;
}

test("the every-endpoint flag stands for [0, …, n-1]; a wrong count or unknown flag is refused", () => {
  const req = [{ key: "ns/a:http", endpoints: endpoints(4) }];
  assert.equal(decodeLbOutput(answer(PLAN_EVERY_ENDPOINT, 4), req), [
    { ok: true, plan: { selection: { mode: "round-robin" }, slots: [0, 1, 2, 3] } },
  ]);
  assert.equal(decodeLbOutput(answer(0, 2, [3, 1]), req), [
    { ok: true, plan: { selection: { mode: "round-robin" }, slots: [3, 1] } },
  ]);
  const [wrongCount] = decodeLbOutput(answer(PLAN_EVERY_ENDPOINT, 3), req) as {
    ok: boolean;
    error?: string;
  }[];
  assert.equal(wrongCount, {
    ok: false,
    error: "invalid plan: every-endpoint table of 3 slots for 4 endpoints",
  });
  assert.throws(() => decodeLbOutput(answer(4, 4), req), /plan flags 4 has unknown bits/);
});

test.run();
