import { suite } from "uvu";
import * as assert from "uvu/assert";
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
import { normalizeRule } from "../../nft/normalize.ts";
import { renderJson } from "../../nft/render-json.ts";
import {
  chainCanonicalText,
  elementText,
  priorityNumber,
  renderText,
  ruleText,
  setSpecText,
} from "../../nft/render-text.ts";
import { Transaction } from "../../nft/transaction.ts";

const test = suite("nft render");

test("every statement and expression kind renders as nft reads it", () => {
  const cases: [ReturnType<typeof rule>, string][] = [
    [
      rule(match(meta("l4proto"), "tcp"), match(payload("tcp", "dport"), 80), counter(), accept()),
      "meta l4proto tcp tcp dport 80 counter accept",
    ],
    [
      rule(match(ct("state"), flags("established", "related")), accept()),
      "ct state established,related accept",
    ],
    [
      rule(match(ct("daddr", { dir: "original", family: "ip" }), "10.0.0.1"), drop()),
      "ct original ip daddr 10.0.0.1 drop",
    ],
    [
      rule(
        vmap(numgen("random", 3), [
          [0, goto("a")],
          [1, goto("b")],
          [2, jump("c")],
        ]),
      ),
      "numgen random mod 3 vmap { 0 : goto a, 1 : goto b, 2 : jump c }",
    ],
    [
      rule(
        vmap(jhash(concat(payload("ip", "saddr"), payload("th", "sport")), 4, { seed: 255, offset: 1 }), "m"),
      ),
      "jhash ip saddr . th sport mod 4 seed 0xff offset 1 vmap @m",
    ],
    [rule(match(fib(["saddr", "iif"], "oif"), true), accept()), "fib saddr . iif oif exists accept"],
    [rule(match(fib(["daddr"], "type"), "local"), jump("x")), "fib daddr type local jump x"],
    [rule(match(payload("ip", "saddr"), setRef("allowed")), ret()), "ip saddr @allowed return"],
    [
      rule(match(payload("tcp", "dport"), anonSet(80, range(8000, 8080))), reject("tcp reset")),
      "tcp dport { 80, 8000-8080 } reject with tcp reset",
    ],
    [
      rule(match(payload("ip", "daddr"), cidr("10.0.0.0/8")), reject("icmpx", "admin-prohibited")),
      "ip daddr 10.0.0.0/8 reject with icmpx admin-prohibited",
    ],
    [rule(notMatch(bitAnd(meta("mark"), 0x4000), 0), reject()), "meta mark & 16384 != 0 reject"],
    [
      rule(match(meta("l4proto"), "tcp"), dnat("10.0.0.1", 8080)),
      "meta l4proto tcp dnat ip to 10.0.0.1:8080",
    ],
    [rule(match(meta("l4proto"), "tcp"), dnat("fd00::1", 80)), "meta l4proto tcp dnat ip6 to [fd00::1]:80"],
    [rule(match(meta("l4proto"), "tcp"), dnat(undefined, 80)), "meta l4proto tcp dnat to :80"],
    [
      rule(dnat(mapLookup(payload("ip", "daddr"), "backends"), undefined, { family: "ip" })),
      "dnat ip to ip daddr map @backends",
    ],
    [
      rule(
        snat(
          mapLookup(numgen("inc", 2), [
            [0, "10.0.0.3"],
            [1, "10.0.0.4"],
          ]),
          undefined,
          { family: "ip" },
        ),
      ),
      "snat ip to numgen inc mod 2 map { 0 : 10.0.0.3, 1 : 10.0.0.4 }",
    ],
    [
      rule(match(meta("l4proto"), "udp"), snat("1.1.1.1", range(1000, 2000), { flags: ["fully-random"] })),
      "meta l4proto udp snat ip to 1.1.1.1:1000-2000 fully-random",
    ],
    [rule(masquerade()), "masquerade"],
    [rule(masquerade({ flags: ["random", "persistent"] })), "masquerade random,persistent"],
    [
      rule(match(meta("l4proto"), "tcp"), masquerade({ port: range(1024, 2000) })),
      "meta l4proto tcp masquerade to :1024-2000",
    ],
    [rule(markSet(0x4000)), "meta mark set 16384"],
    [rule(ctMarkSet(1)), "ct mark set 1"],
    [rule(setUpdate("update", "aff", payload("ip", "saddr"), 30)), "update @aff { ip saddr timeout 30s }"],
    [
      rule(setUpdate("add", "seen", concat(payload("ip", "saddr"), payload("tcp", "dport")))),
      "add @seen { ip saddr . tcp dport }",
    ],
    [rule(log({ prefix: "wp: ", level: "info" })), 'log prefix "wp: " level info'],
    [rule(log()), "log"],
    [rule(match(meta("iifname"), "accept"), accept()), 'meta iifname "accept" accept'],
    [
      commentedRule("svc ns/name:http", match(payload("ip6", "daddr"), prefix("fd00::", 64)), goto("svc")),
      'ip6 daddr fd00::/64 goto svc comment "svc ns/name:http"',
    ],
  ];
  for (const [r, want] of cases) assert.is(ruleText(r), want);
});

test("an anonymous map of plain strings renders as key : value pairs, not as a flag list", () => {
  const r = rule(
    match(meta("l4proto"), "tcp"),
    dnat(mapLookup(payload("ip", "daddr"), [["10.0.0.1", "10.1.0.1"]]), 80),
  );
  assert.match(ruleText(r), "ip daddr map { 10.0.0.1 : 10.1.0.1 }");
  // a flag list inside an anonymous set still renders as flags
  assert.match(
    ruleText(rule(match(ct("state"), anonSet(flags("established", "related"))))),
    "established,related",
  );
});

test("priorities resolve to the numbers the kernel lists", () => {
  assert.is(priorityNumber("dstnat"), -100);
  assert.is(priorityNumber("srcnat"), 100);
  assert.is(priorityNumber("filter+5"), 5);
  assert.is(priorityNumber("mangle-10"), -160);
  assert.is(priorityNumber(-7), -7);
  assert.throws(() => priorityNumber("nonsense" as never), /unknown chain priority "nonsense"/);
});

test("sets, maps and elements", () => {
  const m = namedMap("svc", ["ipv4_addr", "inet_proto", "inet_service"], "verdict", [], {
    flags: ["timeout"],
    timeout: 60,
  });
  assert.is(
    setSpecText(m),
    "{ type ipv4_addr . inet_proto . inet_service : verdict; flags timeout; timeout 60s; }",
  );
  assert.is(
    elementText(element(concat("10.96.0.1", "tcp", 80), goto("svc-x"), { timeout: 5, comment: "c" })),
    '10.96.0.1 . tcp . 80 timeout 5s comment "c" : goto svc-x',
  );
});

test("a transaction renders one line per operation, in order", () => {
  const tx = new Transaction("inet", "wasmplane");
  tx.addTable()
    .addChain(chain("svc-a"))
    .addChain(
      baseChain("pre", { type: "nat", hook: "prerouting", priority: "dstnat" }, [
        rule(vmap(payload("ip", "daddr"), "m")),
      ]),
      true,
    )
    .addSet(namedMap("m", "ipv4_addr", "verdict"))
    .addElements("m", [element("10.0.0.1", goto("svc-a"))])
    .deleteElements("m", [element("10.0.0.2", goto("svc-a"))], true)
    .flushChain("svc-a")
    .addRule("svc-a", rule(accept()))
    .insertRule("svc-a", rule(drop()), 7)
    .replaceRule("svc-a", 8, rule(counter()))
    .deleteRule("svc-a", 9)
    .flushSet("m", true)
    .deleteSet("m", true)
    .deleteChain("svc-a")
    .deleteTable();
  assert.is(
    renderText(tx),
    [
      "add table inet wasmplane",
      "add chain inet wasmplane svc-a",
      "add chain inet wasmplane pre { type nat hook prerouting priority -100; policy accept; ip daddr vmap @m; }",
      "add map inet wasmplane m { type ipv4_addr : verdict; }",
      "add element inet wasmplane m { 10.0.0.1 : goto svc-a }",
      "delete element inet wasmplane m { 10.0.0.2 }",
      "flush chain inet wasmplane svc-a",
      "add rule inet wasmplane svc-a accept",
      "insert rule inet wasmplane svc-a handle 7 drop",
      "replace rule inet wasmplane svc-a handle 8 counter",
      "delete rule inet wasmplane svc-a handle 9",
      "flush map inet wasmplane m",
      "delete map inet wasmplane m",
      "delete chain inet wasmplane svc-a",
      "delete table inet wasmplane",
      "",
    ].join("\n"),
  );
});

test("JSON rendering wraps the model in commands and maps each back to its operation", () => {
  const tx = new Transaction("inet", "wasmplane");
  tx.addTable().addChain(
    chain("c", [rule(match(ct("daddr", { dir: "original", family: "ip" }), "1.2.3.4"), counter())]),
    true,
  );
  const { text, commandOps } = renderJson(tx);
  const doc = JSON.parse(text);
  assert.equal(commandOps, [0, 1, 1]);
  assert.equal(doc.nftables[0], { add: { table: { family: "inet", name: "wasmplane" } } });
  assert.equal(doc.nftables[2].add.rule.expr[0].match.left, { ct: { key: "ip daddr", dir: "original" } });
  assert.equal(doc.nftables[2].add.rule.expr[1], { counter: null });
});

test("normalisation matches what nft lists", () => {
  const r = normalizeRule(
    rule(match(meta("l4proto"), "tcp"), match(payload("th", "dport"), 80), accept()),
    "inet",
  );
  assert.is(ruleText(r), "tcp dport 80 accept");
  assert.is(
    ruleText(
      normalizeRule(
        rule(match(meta("nfproto"), "ipv4"), match(payload("ip", "saddr"), "1.2.3.4"), accept()),
        "inet",
      ),
    ),
    "ip saddr 1.2.3.4 accept",
  );
  assert.is(
    ruleText(normalizeRule(rule(match(meta("l4proto"), "tcp"), dnat("10.0.0.1", 80)), "inet")),
    "meta l4proto tcp dnat ip to 10.0.0.1:80",
  );
  assert.is(
    ruleText(
      normalizeRule(
        rule(
          match(payload("ip6", "daddr"), "fd00:0::0001"),
          match(payload("ip", "daddr"), cidr("10.0.0.1/32")),
          accept(),
        ),
        "inet",
      ),
    ),
    "ip6 daddr fd00::1 ip daddr 10.0.0.1 accept",
  );
  assert.is(
    ruleText(
      normalizeRule(
        rule(match(payload("tcp", "dport"), anonSet(80)), reject("icmpx", "port-unreachable")),
        "inet",
      ),
    ),
    "tcp dport 80 reject",
  );
  assert.is(
    ruleText(
      normalizeRule(
        rule(
          vmap(numgen("random", 2, 0), [
            [0, accept()],
            [1, drop()],
          ]),
        ),
        "inet",
      ),
    ),
    "numgen random mod 2 vmap { 0 : accept, 1 : drop }",
  );
  const unchanged = rule(match(meta("l4proto"), "udp"), counter());
  assert.is(
    normalizeRule(unchanged, "inet"),
    unchanged,
    "a rule with nothing to normalise is returned as is",
  );
});

test("canonical chain text ignores chain comments and fills in the default policy", () => {
  const a = baseChain("pre", { type: "nat", hook: "prerouting", priority: "dstnat" }, [rule(accept())]);
  const b = {
    ...baseChain("pre", { type: "nat", hook: "prerouting", priority: -100, policy: "accept" }, [
      rule(accept()),
    ]),
    comment: "x",
  };
  assert.is(chainCanonicalText(a, "inet"), chainCanonicalText(b, "inet"));
});

test.run();
