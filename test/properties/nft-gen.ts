// Random desired tables for the planSync property: regular chains that jump and goto each other
// (only forward, c0 → c5, so there is never a loop, which the kernel would refuse), base chains
// that enter them directly or through verdict maps, and sets and maps with elements. A state is
// drawn as "shapes" (which objects exist, which rules they hold) and then resolved, so every
// reference points at an object present in the same state.
import fc from "fast-check";
import {
  accept,
  baseChain,
  chain,
  cidr,
  commentedRule,
  concat,
  counter,
  drop,
  element,
  goto,
  jump,
  mapLookup,
  markSet,
  match,
  meta,
  namedMap,
  namedSet,
  payload,
  ret,
  rule,
  setRef,
  vmap,
} from "../../nft/build.ts";
import type { DesiredRule, DesiredSet, DesiredTable } from "../../nft/desired.ts";
import type { SetElement } from "../../nft/model.ts";

const REGULAR = 6;
const regularName = (i: number) => `c${i}`;

/** One rule, with chain and set references as indexes resolved later. */
type RuleShape =
  | { kind: "jump" | "goto"; to: number; port: number }
  | { kind: "verdict"; verdict: "accept" | "drop" | "return"; address: number }
  | { kind: "inSet"; set: "s4" | "sPrefix" | "sConcat"; verdict: "accept" | "drop" }
  | { kind: "dataMap"; port: number }
  | { kind: "counter"; comment?: string }
  | { kind: "vmap"; map: "vAddr" | "vPort" };

interface SetShape {
  /** A spec variant: a change between states recreates the set. */
  variant: 0 | 1;
  keys: number[];
  targets: number[];
}

export interface TableShape {
  regular: (RuleShape[] | null)[];
  /** Rules of the base chains; null when the chain is absent. */
  input: RuleShape[] | null;
  prerouting: RuleShape[] | null;
  /** A changed priority recreates the base chain. */
  inputPriority: 0 | 10;
  sets: Record<SetName, SetShape | null>;
}

type SetName = "s4" | "sPrefix" | "sConcat" | "mAddr" | "vAddr" | "vPort";
const SET_NAMES: SetName[] = ["s4", "sPrefix", "sConcat", "mAddr", "vAddr", "vPort"];

const regularRule = fc.oneof(
  fc.record({
    kind: fc.constantFrom("jump" as const, "goto" as const),
    to: fc.nat(REGULAR - 1),
    port: fc.nat(3),
  }),
  fc.record({
    kind: fc.constant("verdict" as const),
    verdict: fc.constantFrom("accept" as const, "drop" as const, "return" as const),
    address: fc.nat(5),
  }),
  fc.record({
    kind: fc.constant("inSet" as const),
    set: fc.constantFrom("s4" as const, "sPrefix" as const, "sConcat" as const),
    verdict: fc.constantFrom("accept" as const, "drop" as const),
  }),
  fc.record({ kind: fc.constant("dataMap" as const), port: fc.nat(3) }),
  fc.record(
    { kind: fc.constant("counter" as const), comment: fc.constantFrom("x", "y z", "one-two") },
    {
      requiredKeys: ["kind"],
    },
  ),
);
const baseRule = fc.oneof(
  regularRule,
  fc.record({ kind: fc.constant("vmap" as const), map: fc.constantFrom("vAddr" as const, "vPort" as const) }),
);

const setShape: fc.Arbitrary<SetShape> = fc.record({
  variant: fc.constantFrom<0 | 1>(0, 0, 0, 1),
  keys: fc.uniqueArray(fc.nat(7), { maxLength: 6 }),
  targets: fc.array(fc.nat(REGULAR - 1), { minLength: 6, maxLength: 6 }),
});

export const tableShape: fc.Arbitrary<TableShape> = fc.record({
  regular: fc.array(fc.option(fc.array(regularRule, { maxLength: 4 }), { freq: 4 }), {
    minLength: REGULAR,
    maxLength: REGULAR,
  }),
  input: fc.option(fc.array(baseRule, { maxLength: 4 }), { freq: 5 }),
  prerouting: fc.option(fc.array(baseRule, { maxLength: 3 }), { freq: 3 }),
  inputPriority: fc.constantFrom<0 | 10>(0, 0, 0, 10),
  sets: fc.record({
    s4: fc.option(setShape, { freq: 4 }),
    sPrefix: fc.option(setShape, { freq: 4 }),
    sConcat: fc.option(setShape, { freq: 4 }),
    mAddr: fc.option(setShape, { freq: 4 }),
    vAddr: fc.option(setShape, { freq: 4 }),
    vPort: fc.option(setShape, { freq: 4 }),
  }),
});

const address = (n: number) => `10.0.0.${n + 1}`;
const PORTS = [22, 53, 80, 443];

/** A set's declaration and elements; verdict elements go to present chains only. */
function buildSet(name: SetName, s: SetShape, present: (i: number) => boolean): DesiredSet {
  const targetsOf = (i: number): number | undefined => {
    const t = s.targets[i % s.targets.length];
    return present(t) ? t : undefined;
  };
  switch (name) {
    case "s4":
      return namedSet(
        name,
        "ipv4_addr",
        s.keys.map((k) => element(address(k))),
        s.variant ? { comment: "v1" } : {},
      );
    case "sPrefix":
      return namedSet(
        name,
        "ipv4_addr",
        s.keys.map((k) => element(cidr(`10.${k}.0.0/16`))),
        { flags: ["interval"], ...(s.variant ? { comment: "v1" } : {}) },
      );
    case "sConcat":
      return s.variant
        ? namedSet(
            name,
            ["ipv4_addr", "inet_proto"],
            s.keys.map((k) => element(concat(address(k), "udp"))),
          )
        : namedSet(
            name,
            ["ipv4_addr", "inet_service"],
            s.keys.map((k) => element(concat(address(k), PORTS[k % 4]))),
          );
    case "mAddr":
      return namedMap(
        name,
        "ipv4_addr",
        s.variant ? "mark" : "ipv4_addr",
        s.keys.map((k, i) => element(address(k), s.variant ? k + i : address((k + i) % 8))),
      );
    case "vAddr":
    case "vPort": {
      const elements: SetElement[] = [];
      s.keys.forEach((k, i) => {
        const t = targetsOf(i);
        if (t === undefined) return;
        const key = name === "vAddr" ? address(k) : PORTS[k % 4] + 1000 * Math.floor(k / 4);
        elements.push(element(key, (k + i) % 2 === 0 ? jump(regularName(t)) : goto(regularName(t))));
      });
      return namedMap(name, name === "vAddr" ? "ipv4_addr" : "inet_service", "verdict", elements);
    }
  }
}

function buildRule(
  r: RuleShape,
  from: number,
  present: (i: number) => boolean,
  sets: Set<string>,
): DesiredRule | null {
  switch (r.kind) {
    case "jump":
    case "goto": {
      // Forward only: never a loop.
      const to = from + 1 + (r.to % (REGULAR - from - 1 || 1));
      if (to >= REGULAR || !present(to)) return null;
      const verdict = r.kind === "jump" ? jump(regularName(to)) : goto(regularName(to));
      return rule(match(payload("tcp", "dport"), PORTS[r.port]), verdict);
    }
    case "verdict": {
      const v = r.verdict === "accept" ? accept() : r.verdict === "drop" ? drop() : ret();
      return rule(match(payload("ip", "saddr"), address(r.address)), v);
    }
    case "inSet": {
      if (!sets.has(r.set)) return null;
      const left =
        r.set === "sConcat"
          ? concat(payload("ip", "daddr"), payload("tcp", "dport"))
          : payload("ip", "daddr");
      return rule(match(left, setRef(r.set)), r.verdict === "accept" ? accept() : drop());
    }
    case "dataMap":
      if (!sets.has("mAddr")) return null;
      return rule(match(meta("l4proto"), "tcp"), markSet(mapLookup(payload("ip", "saddr"), "mAddr")));
    case "counter":
      return r.comment === undefined ? rule(counter()) : commentedRule(r.comment, counter());
    case "vmap":
      if (!sets.has(r.map)) return null;
      return rule(vmap(r.map === "vAddr" ? payload("ip", "daddr") : payload("tcp", "dport"), r.map));
  }
}

/** Resolves a shape into a table whose every reference points at an object of the same table. */
export function buildTable(shape: TableShape): DesiredTable {
  const present = (i: number) => shape.regular[i] !== null;
  const table: DesiredTable = { family: "inet", name: "wasmplane", chains: new Map(), sets: new Map() };
  // The concat set of variant 1 has no port: a rule matching it by port would not fit. Kept simple:
  // sConcat rules always match address . port, so variant 1 is not referenced from rules.
  const referable = new Set<string>();
  for (const name of SET_NAMES) {
    const s = shape.sets[name];
    if (!s) continue;
    table.sets.set(name, buildSet(name, s, present));
    if (!(name === "sConcat" && s.variant === 1) && !(name === "mAddr" && s.variant === 1))
      referable.add(name);
  }
  const rules = (list: RuleShape[], from: number, allowVmap: boolean) =>
    list
      .filter((r) => allowVmap || r.kind !== "vmap")
      .map((r) => buildRule(r, from, present, referable))
      .filter((r): r is DesiredRule => r !== null);
  shape.regular.forEach((list, i) => {
    if (list) table.chains.set(regularName(i), chain(regularName(i), rules(list, i, false)));
  });
  if (shape.input)
    table.chains.set(
      "input",
      baseChain(
        "input",
        { type: "filter", hook: "input", priority: shape.inputPriority, policy: "accept" },
        rules(shape.input, -1, true),
      ),
    );
  if (shape.prerouting)
    table.chains.set(
      "prerouting",
      baseChain(
        "prerouting",
        { type: "filter", hook: "prerouting", priority: "raw" },
        rules(shape.prerouting, -1, true),
      ),
    );
  return table;
}
