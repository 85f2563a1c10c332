import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { RawObject, SourceEvent } from "../../runtime/sources/source.ts";
import { formatProblem } from "../../runtime/store/problems.ts";
import { Store } from "../../runtime/store/store.ts";

const test = suite("store");

function svc(name: string, port: number): RawObject {
  return {
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: { clusterIP: "10.96.0.10", ports: [{ port }] },
  };
}

function event(type: SourceEvent["type"], object: RawObject): SourceEvent {
  return { type, kind: object.kind, key: `default/${object.metadata.name}`, object };
}

test("a bad object is rejected while the others are accepted; fixing it is picked up", () => {
  const store = new Store();
  assert.ok(store.apply([event("add", svc("good", 80)), event("add", svc("bad", 70000))]));
  assert.equal([...store.snapshot().services.keys()], ["default/good"]);
  assert.equal(
    store.rejected().flatMap((r) => r.problems.map(formatProblem)),
    ["Service default/bad: spec.ports[0].port: must be 1-65535, got 70000"],
  );
  assert.ok(store.apply([event("update", svc("bad", 8080))]));
  assert.equal([...store.snapshot().services.keys()].sort(), ["default/bad", "default/good"]);
  assert.equal(store.rejected(), []);
});

test("a bad update keeps the last accepted version; deleting removes both", () => {
  const store = new Store();
  store.apply([event("add", svc("web", 80))]);
  assert.not.ok(store.apply([event("update", svc("web", 0))]));
  assert.is(store.snapshot().services.get("default/web")?.ports[0].port, 80);
  assert.is(store.rejected()[0].keepsLastAccepted, true);
  assert.ok(store.apply([event("delete", svc("web", 0))]));
  assert.is(store.snapshot().services.size, 0);
  assert.equal(store.rejected(), []);
});

test("snapshots are independent of later changes", () => {
  const store = new Store();
  store.apply([event("add", svc("a", 80))]);
  const first = store.snapshot();
  store.apply([event("add", svc("b", 80))]);
  assert.is(first.services.size, 1);
  assert.is(store.snapshot().services.size, 2);
});

test("an unchanged kind keeps its Map across snapshots; a changed one gets a fresh Map", () => {
  const store = new Store();
  store.apply([event("add", svc("a", 80))]);
  const first = store.snapshot();
  assert.is(store.snapshot().services, first.services);
  store.apply([
    {
      type: "add",
      kind: "Namespace",
      key: "team",
      object: { kind: "Namespace", metadata: { name: "team" } },
    },
  ]);
  const second = store.snapshot();
  assert.is(second.services, first.services, "services did not change");
  assert.is.not(second.namespaces, first.namespaces);
  assert.is(first.namespaces.size, 0, "a handed-out map was mutated");
  store.apply([event("update", svc("a", 81))]);
  assert.is.not(store.snapshot().services, first.services);
  assert.is(first.services.get("default/a")?.ports[0].port, 80);
});

test.run();
