import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compactArrays } from "../../runtime/store/compact.ts";

const test = suite("compactArrays");

test("keeps the object and every value; arrays at any depth become copies", () => {
  const inner: string[] = [];
  inner.push("10.0.0.1");
  const endpoints = [{ addresses: inner, conditions: { ready: true } }];
  const value = { name: "s", endpoints, ports: [[80, 81]], empty: [], none: null, at: new Date(0) };
  const before = structuredClone(value);
  const out = compactArrays(value);
  assert.is(out, value);
  assert.equal(out, before);
  assert.is.not(out.endpoints, endpoints);
  assert.is.not(out.endpoints[0].addresses, inner);
  assert.is(out.at, value.at);
});

test.run();
