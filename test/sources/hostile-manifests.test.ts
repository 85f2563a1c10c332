// Hostile manifest texts: each one gets a problem that names the file and document, never an
// exception, and the limits say which one was hit.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { manifestLimits, parseManifestText } from "../../runtime/sources/parse-manifests.ts";
import { seededRandom } from "../plugins/fixtures.ts";
import { aliasBomb, nestedLists } from "./hostile-texts.ts";

const test = suite("hostile manifests");

function parse(text: string, file: string) {
  try {
    return parseManifestText(text, file);
  } catch (err) {
    throw new Error(`${file}: threw ${(err as Error).message}`);
  }
}

test("a YAML alias bomb is a problem naming the file and document", () => {
  const bomb = aliasBomb();
  assert.ok(bomb.length < 400, `${bomb.length} bytes`);
  const parsed = parse(`kind: Service\nmetadata: {name: fine}\n---\n${bomb}`, "bomb.yaml");
  assert.equal(
    parsed.objects.map((o) => o.object.metadata.name),
    ["fine"],
  );
  assert.equal(parsed.problems.length, 1);
  assert.is(parsed.problems[0].origin, "bomb.yaml#1");
  assert.match(
    parsed.problems[0].message,
    `YAML aliases expand past the limit (${manifestLimits.maxAliasCount}`,
  );
  assert.ok(parsed.invalid);
});

test("Lists nested 20,000 deep: a clear problem, in JSON and in YAML", () => {
  const json = nestedLists(20_000, true);
  assert.ok(json.length > 500_000);
  const fromJson = parse(json, "deep.json");
  assert.equal(fromJson.objects, []);
  assert.is(fromJson.problems.length, 1);
  assert.match(fromJson.problems[0].origin, /^deep\.json items\[0\]/);
  assert.match(fromJson.problems[0].message, `List nested in more than ${manifestLimits.maxListDepth} Lists`);
  assert.ok(fromJson.invalid);

  const fromYaml = parse(nestedLists(20_000, false), "deep.yaml");
  assert.equal(fromYaml.objects, []);
  assert.equal(fromYaml.problems, [
    { origin: "deep.yaml#0", message: `nested deeper than ${manifestLimits.maxDepth} levels; not read` },
  ]);
  // Within the limits, nesting is fine.
  assert.is(parse(nestedLists(3, true), "ok.json").objects.length, 1);
  assert.is(parse(nestedLists(3, false), "ok.yaml").objects.length, 1);
});

test("deep objects, alias cycles and expansion past the value budget are problems", () => {
  const deep = `{"kind":"Service","metadata":{"name":"d"},"spec":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
  const cases: [string, string, RegExp][] = [
    ["deep.json", deep, /^Service d: nested deeper than 100 levels; not read$/],
    ["cycle.yaml", "kind: Service\nmetadata: &m {name: c, self: *m}\n", /^Service c: nested deeper than 100/],
    [
      "linear.yaml",
      `kind: Service\nmetadata: {name: l}\nspec:\n  a: &a [${Array(30_000).fill("1").join(",")}]\n  b: [${Array(80).fill("*a").join(",")}]\n`,
      /^Service l: more than 2097152 values in the file \(YAML aliases\?\); not read$/,
    ],
  ];
  for (const [file, text, message] of cases) {
    const parsed = parse(text, file);
    assert.equal(parsed.objects, [], file);
    assert.is(parsed.problems.length, 1, file);
    assert.is(parsed.problems[0].origin, file);
    assert.match(parsed.problems[0].message, message, file);
    assert.ok(parsed.invalid, file);
  }
});

test("documents and List items of ignored kinds are skipped before they are built", () => {
  // A bomb is found when a document is built, nesting past the limit when it is composed: skipped
  // documents are neither.
  const text = `${aliasBomb("ConfigMap")}---
kind: List
items:
- {kind: Secret, data: {a: b}}
- {kind: Service, metadata: {name: s}}
---
kind: CustomResourceDefinition
spec: ${"[".repeat(500)}${"]".repeat(500)}
`;
  const parsed = parse(text, "mixed.yaml");
  assert.equal(parsed.problems, []);
  assert.is(parsed.ignored, 3);
  assert.equal(
    parsed.objects.map((o) => [o.object.metadata.name, o.origin]),
    [["s", "mixed.yaml#1 items[1]"]],
  );
});

test("a List with aliases is built in one piece, and a bomb in any of its items is found", () => {
  const items = Array.from(
    { length: 3000 },
    (_, i) => `- {kind: Service, metadata: {name: s${i}, labels: *l}}`,
  );
  const list = `kind: List\nlabels: &l {app: x}\nitems:\n${items.slice(0, 50).join("\n")}\n`;
  assert.equal(parse(list, "l.yaml").objects.length, 50);
  // One toJS call per item would resolve aliases against the whole document each time (quadratic).
  const started = performance.now();
  const many = parse(`kind: List\nlabels: &l {app: x}\nitems:\n${items.join("\n")}\n`, "many.yaml");
  assert.ok(performance.now() - started < 3000, `${performance.now() - started} ms`);
  assert.equal(many.problems, [
    { origin: "many.yaml#0", message: "YAML aliases expand past the limit (100 alias uses); not read" },
  ]);
  const bomb = aliasBomb("Secret")
    .trimEnd()
    .split("\n")
    .map((line, i) => `${i === 0 ? "- " : "  "}${line}`)
    .join("\n");
  const parsed = parse(`kind: List\nitems:\n${bomb}\n- {kind: Service, metadata: {name: s}}\n`, "b.yaml");
  assert.equal(parsed.objects, []);
  assert.match(parsed.problems[0].message, "YAML aliases expand past the limit");
});

test("objects are plain JSON values whatever the YAML tags and aliases", () => {
  const parsed = parse(
    "kind: Service\nmetadata: {name: a, labels: &l {x: y}, annotations: *l}\nspec: {when: !!timestamp 2001-12-14}\n",
    "tags.yaml",
  );
  assert.equal(parsed.problems, []);
  const { object, text } = parsed.objects[0];
  assert.equal(JSON.parse(text), object);
  assert.ok(object.metadata.labels !== object.metadata.annotations, "aliases are copies");
});

test("fuzz: mangled manifests never throw; every problem names the file", () => {
  const good = `apiVersion: v1
kind: Service
metadata: {name: a, namespace: x, labels: &l {app: a}}
spec:
  selector: *l
  ports: [{port: 80, targetPort: 8080}]
---
kind: List
items:
- {kind: EndpointSlice, metadata: {name: s}, endpoints: [{addresses: ["10.0.0.1"]}]}
`;
  const alphabet = [
    "\n",
    "-",
    "---\n",
    ":",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "*l",
    "!!",
    "'",
    '"',
    "\t",
    "  ",
    "\0",
    "#",
  ];
  const random = seededRandom(12);
  for (let round = 0; round < 400; round++) {
    const chars = [...good];
    const edits = 1 + Math.floor(random() * 6);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * chars.length);
      const op = random();
      if (op < 0.4) chars.splice(at, 1 + Math.floor(random() * 5));
      else chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]);
    }
    const text =
      random() < 0.2 ? chars.join("").slice(0, Math.floor(random() * chars.length)) : chars.join("");
    for (const file of ["f.yaml", "f.json"]) {
      const parsed = parse(text, file);
      for (const p of parsed.problems) assert.ok(p.origin.startsWith(file), `round ${round}: ${p.origin}`);
      for (const o of parsed.objects) assert.equal(JSON.parse(o.text), o.object, `round ${round}`);
    }
  }
});

test.run();
