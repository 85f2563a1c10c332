// A desired table that uses every expression and statement kind nft/ models, for round-trip tests.
import {
  accept,
  anonSet,
  baseChain,
  bitAnd,
  chain,
  cidr,
  commentedRule,
  concat,
  counter,
  ct,
  ctMarkSet,
  dnat,
  drop,
  element,
  fib,
  flags,
  goto,
  jhash,
  jump,
  log,
  mapLookup,
  markSet,
  masquerade,
  match,
  meta,
  namedMap,
  namedSet,
  notMatch,
  numgen,
  payload,
  prefix,
  range,
  reject,
  ret,
  rule,
  setRef,
  setUpdate,
  snat,
  vmap,
} from "../../nft/build.ts";
import { addChain, addSet, type DesiredTable, emptyFragment, mergeFragments } from "../../nft/desired.ts";

export function everyKindTable(name: string): DesiredTable {
  const f = emptyFragment();
  addSet(
    f,
    namedSet("allowed", "ipv4_addr", [element(cidr("10.1.0.0/16")), element("192.168.1.1")], {
      flags: ["interval"],
    }),
  );
  addSet(
    f,
    namedSet(
      "svc-ports",
      ["ipv4_addr", "inet_proto", "inet_service"],
      [element(concat(prefix("10.0.0.0", 8), "tcp", range(80, 90)))],
      {
        flags: ["interval"],
        comment: "concatenated interval set",
      },
    ),
  );
  addSet(f, namedSet("affinity", "ipv4_addr", [], { flags: ["dynamic", "timeout"], timeout: 10800 }));
  addSet(
    f,
    namedSet("recent", "ipv4_addr", [element("10.9.9.9", undefined, { timeout: 600, comment: "x" })], {
      flags: ["timeout"],
    }),
  );
  addSet(f, namedSet("v6", "ipv6_addr", [element("fd00::1"), element("fd00::2")]));
  addSet(
    f,
    namedMap("services", ["ipv4_addr", "inet_proto", "inet_service"], "verdict", [
      element(concat("10.96.0.1", "tcp", 443), goto("svc-a")),
      element(concat("10.96.0.2", "udp", 53), jump("svc-b")),
    ]),
  );
  addSet(
    f,
    namedMap(
      "backends",
      "ipv4_addr",
      ["ipv4_addr", "inet_service"],
      [element("1.2.3.4", concat("10.0.0.1", 80))],
    ),
  );
  addSet(f, namedMap("marks", "mark", "ipv4_addr", [element(1, "10.0.0.9")]));
  addSet(f, namedMap("slots", "integer", "verdict", [element(10, goto("ep-1")), element(11, goto("ep-2"))]));
  addChain(f, chain("svc-c", [rule(vmap(numgen("inc", 2, 10), "slots"))]));

  addChain(
    f,
    chain("svc-a", [
      rule(
        vmap(numgen("random", 2), [
          [0, goto("ep-1")],
          [1, goto("ep-2")],
        ]),
      ),
    ]),
  );
  addChain(
    f,
    chain("svc-b", [
      rule(
        vmap(jhash(concat(payload("ip", "saddr"), payload("th", "sport")), 2, { seed: 0xdead }), [
          [0, goto("ep-1")],
          [1, goto("ep-2")],
        ]),
      ),
    ]),
  );
  addChain(
    f,
    chain("ep-1", [
      rule(setUpdate("update", "affinity", payload("ip", "saddr"), 30)),
      rule(match(meta("l4proto"), "tcp"), dnat("10.0.0.1", 80)),
    ]),
  );
  addChain(
    f,
    chain("ep-2", [
      rule(match(meta("l4proto"), "udp"), dnat("10.0.0.2", 5353)),
      rule(match(meta("l4proto"), "tcp"), dnat(undefined, 8080)),
    ]),
  );
  addChain(f, chain("empty", [], "a chain with a comment"));
  addChain(
    f,
    baseChain("services-pre", { type: "nat", hook: "prerouting", priority: "dstnat", policy: "accept" }, [
      rule(vmap(concat(payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")), "services")),
      rule(match(ct("state"), flags("established", "related")), accept()),
      rule(match(ct("daddr", { dir: "original", family: "ip" }), "1.2.3.4"), counter()),
      rule(match(fib(["daddr"], "type"), "local"), jump("svc-a")),
      commentedRule("hello world", match(payload("ip", "saddr"), setRef("allowed")), counter(), drop()),
      rule(
        match(meta("l4proto"), "tcp"),
        dnat(
          mapLookup(jhash(concat(payload("ip", "saddr"), payload("tcp", "sport")), 2, { seed: 7 }), [
            [0, "10.0.0.1"],
            [1, "10.0.0.2"],
          ]),
          undefined,
          { family: "ip" },
        ),
      ),
      rule(
        match(meta("l4proto"), "tcp"),
        dnat(mapLookup(payload("ip", "daddr"), "backends"), undefined, { family: "ip" }),
      ),
      rule(
        match(meta("l4proto"), "tcp"),
        dnat(
          mapLookup(concat(payload("ip", "daddr"), payload("tcp", "dport")), [
            [concat("1.2.3.4", 80), concat("10.0.0.1", 8080)],
          ]),
          undefined,
          { family: "ip" },
        ),
      ),
      rule(markSet(0x4000)),
      rule(notMatch(bitAnd(meta("mark"), 0x4000), 0), ret()),
      rule(log({ prefix: "wasmplane: ", level: "info" })),
      rule(match(payload("tcp", "dport"), anonSet(80, 443)), reject("tcp reset")),
      rule(match(meta("l4proto"), "udp"), reject()),
      rule(match(payload("ip", "daddr"), prefix("10.0.0.0", 8)), goto("svc-b")),
      rule(match(payload("tcp", "dport"), range(1000, 2000)), drop()),
      rule(notMatch(payload("ip", "saddr"), "10.0.0.1"), ctMarkSet(1)),
      rule(match(payload("ip6", "daddr"), setRef("v6")), accept()),
      rule(match(meta("iifname"), "eth*"), accept()),
    ]),
  );
  addChain(
    f,
    baseChain("services-post", { type: "nat", hook: "postrouting", priority: "srcnat" }, [
      rule(masquerade({ flags: ["random", "persistent"] })),
      rule(match(meta("l4proto"), "tcp"), masquerade({ port: range(1024, 2000) })),
      rule(
        match(meta("mark"), 5),
        snat(
          mapLookup(numgen("inc", 2), [
            [0, "10.0.0.3"],
            [1, "10.0.0.4"],
          ]),
          undefined,
          { family: "ip" },
        ),
      ),
      rule(match(meta("l4proto"), "tcp"), snat("1.1.1.1", range(1000, 2000), { flags: ["fully-random"] })),
      rule(masquerade()),
    ]),
  );
  addChain(
    f,
    baseChain("filter-in", { type: "filter", hook: "input", priority: "filter+5", policy: "accept" }, [
      rule(match(payload("tcp", "dport"), 22), accept()),
      rule(match(fib(["saddr", "iif"], "oif"), false), drop()),
      rule(match(payload("udp", "dport"), 1024, "<"), match(payload("ip", "ttl"), 64, ">="), counter(), {
        continue: null,
      }),
      rule(match(ct("status"), "dnat"), match(meta("oifname"), "lo", "!="), accept()),
      rule(drop()),
    ]),
  );
  return mergeFragments("inet", name, [f]);
}
