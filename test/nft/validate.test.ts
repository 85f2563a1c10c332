import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  accept,
  chain,
  concat,
  dnat,
  element,
  goto,
  jump,
  match,
  meta,
  namedMap,
  namedSet,
  payload,
  prefix,
  rule,
  setRef,
  vmap,
} from "../../nft/build.ts";
import {
  addChain,
  addSet,
  type DesiredTable,
  emptyFragment,
  mergeFragments,
  type TableFragment,
} from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { NftValidationError, validateTable } from "../../nft/validate.ts";

const test = suite("nft validate");

function table(build: (f: TableFragment) => void, name = "wasmplane"): DesiredTable {
  const f = emptyFragment();
  build(f);
  return mergeFragments("inet", name, [f]);
}

function problems(t: DesiredTable): string[] {
  try {
    validateTable(t);
  } catch (err) {
    assert.instance(err, NftValidationError);
    return (err as NftValidationError).problems.map((p) => `${p.object} ${p.field}: ${p.message}`);
  }
  return [];
}

function expectProblem(t: DesiredTable, pattern: RegExp): void {
  const found = problems(t);
  assert.ok(
    found.some((p) => pattern.test(p)),
    `expected a problem matching ${pattern}, got:\n${found.join("\n")}`,
  );
}

test("a correct table has no problems", () => {
  const t = table((f) => {
    addChain(f, chain("svc-a", [rule(match(meta("l4proto"), "tcp"), dnat("10.0.0.1", 80))]));
    addSet(
      f,
      namedMap("services", ["ipv4_addr", "inet_proto", "inet_service"], "verdict", [
        element(concat("10.96.0.1", "tcp", 80), goto("svc-a")),
      ]),
    );
    addChain(
      f,
      chain("dispatch", [
        rule(vmap(concat(payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")), "services")),
      ]),
    );
  });
  assert.equal(problems(t), []);
});

test("invalid names name the object and field", () => {
  expectProblem(
    table(() => {}, "bad name"),
    /^table inet bad name name: "bad name" is not a valid nft name/,
  );
  expectProblem(
    table((f) => addChain(f, chain("1svc", [rule(accept())]))),
    /^chain 1svc name: "1svc" is not a valid nft name/,
  );
  expectProblem(
    table((f) => addSet(f, namedSet("has space", "ipv4_addr"))),
    /^set has space name:/,
  );
  expectProblem(
    table((f) => addChain(f, chain("c", [{ expr: [accept()], comment: 'say "hi"' }]))),
    /^chain c rules\[0\]\.comment: must not contain quotes/,
  );
});

test("bad addresses and prefixes", () => {
  expectProblem(
    table((f) => addChain(f, chain("c", [rule(match(payload("ip", "daddr"), "10.0.0.256"), accept())]))),
    /^chain c rules\[0\]\.expr\[0\]\.match\.right: "10\.0\.0\.256" is not an IPv4 address/,
  );
  expectProblem(
    table((f) => addChain(f, chain("c", [rule(match(payload("ip", "daddr"), "fd00::1"), accept())]))),
    /is not an IPv4 address/,
  );
  expectProblem(
    table((f) =>
      addChain(f, chain("c", [rule(match(payload("ip", "daddr"), prefix("10.0.0.1", 8)), accept())])),
    ),
    /10\.0\.0\.1\/8 has host bits set/,
  );
  expectProblem(
    table((f) =>
      addChain(f, chain("c", [rule(match(payload("ip6", "saddr"), prefix("fd00::", 129)), accept())])),
    ),
    /prefix length 129 is not in 0\.\.128/,
  );
  expectProblem(
    table((f) => addChain(f, chain("c", [rule(match(meta("l4proto"), "tcp"), dnat("10.0.0.x", 80))]))),
    /^chain c rules\[0\]\.expr\[1\]\.dnat\.addr: "10\.0\.0\.x" is not an IPv4 address/,
  );
});

test("unknown chain, set and map references", () => {
  expectProblem(
    table((f) => addChain(f, chain("c", [rule(jump("nowhere"))]))),
    /^chain c rules\[0\]\.expr\[0\]\.target: unknown chain "nowhere"/,
  );
  expectProblem(
    table((f) => addChain(f, chain("c", [rule(match(payload("ip", "saddr"), setRef("missing")), accept())]))),
    /^chain c rules\[0\]\.expr\[0\]\.match\.right: unknown set or map "missing"/,
  );
  expectProblem(
    table((f) => {
      addSet(f, namedSet("plain", "ipv4_addr"));
      addChain(f, chain("c", [rule(vmap(payload("ip", "daddr"), "plain"))]));
    }),
    /^chain c rules\[0\]\.expr\[0\]\.vmap\.data: "plain" is not a verdict map/,
  );
  expectProblem(
    table((f) => {
      addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.1", goto("gone"))]));
    }),
    /^map m elements\[0\]\.value\.target: unknown chain "gone"/,
  );
});

test("element keys and values must match the set's types", () => {
  expectProblem(
    table((f) => addSet(f, namedSet("s", "ipv4_addr", [element("fd00::1")]))),
    /^set s elements\[0\]\.key: "fd00::1" is not an IPv4 address/,
  );
  expectProblem(
    table((f) => addSet(f, namedSet("s", "inet_service", [element(70000)]))),
    /^set s elements\[0\]\.key: 70000 is not a valid inet_service/,
  );
  expectProblem(
    table((f) => addSet(f, namedSet("s", ["ipv4_addr", "inet_service"], [element("10.0.0.1")]))),
    /expected a concatenation of 2 values \(ipv4_addr \. inet_service\)/,
  );
  expectProblem(
    table((f) =>
      addSet(
        f,
        namedSet(
          "s",
          ["ipv4_addr", "inet_proto", "inet_service"],
          [element(concat("10.0.0.1", "tcp", "http"))],
        ),
      ),
    ),
    /^set s elements\[0\]\.key\.concat\[2\]: "http" is not a valid inet_service/,
  );
  expectProblem(
    table((f) => addSet(f, namedSet("s", "ipv4_addr", [element(prefix("10.0.0.0", 8))]))),
    /has no interval flag/,
  );
  expectProblem(
    table((f) => addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.1")]))),
    /^map m elements\[0\]\.value: a map element needs a value/,
  );
  expectProblem(
    table((f) => addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.1", "10.0.0.2")]))),
    /^map m elements\[0\]\.value: expected a verdict/,
  );
  expectProblem(
    table((f) => addSet(f, namedSet("s", "ipv4_addr", [element("10.0.0.1", undefined, { timeout: 5 })]))),
    /elements\[0\]\.timeout: the set has no timeout flag/,
  );
});

test("duplicate element keys are reported with both positions", () => {
  expectProblem(
    table((f) =>
      addSet(
        f,
        namedMap("m", "ipv4_addr", "verdict", [
          element("10.0.0.1", accept()),
          element("10.0.0.2", accept()),
          element("10.0.0.1", { drop: null }),
        ]),
      ),
    ),
    /^map m elements\[2\]\.key: 10\.0\.0\.1 is already elements\[0\]/,
  );
});

test("NAT needs a family in inet tables and a transport match before a port", () => {
  expectProblem(
    table((f) => addChain(f, chain("c", [rule(dnat("10.0.0.1", 80))]))),
    /^chain c rules\[0\]\.expr\[0\]\.dnat\.port: setting a port needs a transport protocol match first/,
  );
  expectProblem(
    table((f) =>
      addChain(f, chain("c", [rule(match(meta("l4proto"), "tcp"), { dnat: { addr: "10.0.0.1" } })])),
    ),
    /dnat\.family: an inet table needs the address family/,
  );
});

test("planSync validates before building anything", () => {
  const t = table((f) => addChain(f, chain("c", [rule(jump("nowhere"))])));
  assert.throws(
    () => planSync(null, t),
    (err: Error) => err instanceof NftValidationError && /unknown chain "nowhere"/.test(err.message),
  );
});

test("mergeFragments rejects name collisions between fragments", () => {
  const a = emptyFragment();
  const b = emptyFragment();
  addChain(a, chain("svc-x"));
  addChain(b, chain("svc-x"));
  assert.throws(
    () => mergeFragments("inet", "wasmplane", [a, b], ["services", "cni"]),
    /chain svc-x: defined by both services and cni/,
  );
});

test.run();
