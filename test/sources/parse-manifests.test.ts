import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseManifestText } from "../../runtime/sources/parse-manifests.ts";

const test = suite("manifest parsing");

test("multi-document YAML, List, unknown kinds and empty documents", () => {
  const text = `
apiVersion: v1
kind: Service
metadata: {name: a}
---
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: ns1}}
  - {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: s, namespace: ns1}}
`;
  const parsed = parseManifestText(text, "x.yaml");
  assert.equal(
    parsed.objects.map((o) => [o.object.kind, o.object.metadata.name, o.origin]),
    [
      ["Service", "a", "x.yaml#0"],
      ["Namespace", "ns1", "x.yaml#3 items[0]"],
      ["EndpointSlice", "s", "x.yaml#3 items[1]"],
    ],
  );
  assert.is(parsed.ignored, 1);
  assert.equal(parsed.problems, []);
});

test("problems name the file and document", () => {
  const cases: [string, string, string][] = [
    ["a.json", "{nope", "a.json"],
    ["b.yaml", "kind: Service\nmetadata: {}\n", "b.yaml"],
    ["c.yaml", "a: [1\n", "c.yaml#0"],
    ["d.yaml", "- 1\n- 2\n", "d.yaml"],
  ];
  for (const [file, text, origin] of cases) {
    const parsed = parseManifestText(text, file);
    assert.is(parsed.objects.length, 0, file);
    assert.is(parsed.problems.length, 1, file);
    assert.is(parsed.problems[0].origin, origin, file);
  }
  assert.match(
    parseManifestText("kind: Service\nmetadata: {}\n", "b.yaml").problems[0].message,
    "metadata.name: required",
  );
});

test("a broken document among good ones: the others are kept, the problem names its line", () => {
  const text = `kind: Service
metadata: {name: a}
---
kind: Service
metadata: {name: [b
---
kind: Service
metadata: {name: c}
`;
  const parsed = parseManifestText(text, "m.yaml");
  assert.equal(
    parsed.objects.map((o) => [o.object.metadata.name, o.origin]),
    [
      ["a", "m.yaml#0"],
      ["c", "m.yaml#2"],
    ],
  );
  assert.is(parsed.problems.length, 1);
  assert.is(parsed.problems[0].origin, "m.yaml#1");
  assert.match(parsed.problems[0].message, /^invalid YAML: .* at line \d+, column \d+/s);
});

test.run();
