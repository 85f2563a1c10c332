// runtime/services/inputs.ts: the services whose inputs changed between two snapshots, whatever the
// order of the maps' keys (the store keeps it; other producers may not).
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { InputTracker } from "../../runtime/services/inputs.ts";
import type { Service, Snapshot } from "../../runtime/store/objects.ts";
import { service } from "./fixtures.ts";

const test = suite("service input tracker");

const snap = (services: Map<string, Service>): Snapshot => ({
  services,
  endpointSlices: new Map(),
  nodes: new Map(),
  namespaces: new Map(),
  pods: new Map(),
});

const pool = Array.from({ length: 12 }, (_, i) =>
  service("default", `s${i}`, { clusterIPs: [`10.96.0.${i}`] }),
);
const key = (i: number) => `default/s${i}`;

test("the changed keys are those whose object differs, added or deleted", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.nat(11)),
      fc.array(fc.record({ op: fc.constantFrom("set", "new", "delete"), i: fc.nat(11) })),
      fc.boolean(),
      (initial, ops, shuffle) => {
        const before = new Map(initial.map((i) => [key(i), pool[i]]));
        const after = new Map(before);
        for (const { op, i } of ops)
          if (op === "delete") after.delete(key(i));
          else after.set(key(i), op === "new" ? { ...pool[i] } : pool[i]);
        const next = shuffle ? new Map([...after].reverse()) : after;
        const tracker = new InputTracker();
        tracker.observe(snap(before));
        tracker.takeChanged();
        tracker.observe(snap(next));
        const expected = [...new Set([...before.keys(), ...next.keys()])].filter(
          (k) => before.get(k) !== next.get(k),
        );
        assert.equal(tracker.takeChanged().sort(), expected.sort());
      },
    ),
    { numRuns: 500 },
  );
});

test.run();
