// Pure checks of the rule linearizer (nft/netlink/rule.ts): the expressions of a few rules as bytes,
// written down from what nft 1.0.6 sends for the same rule (`nft --debug=mnl -c`, shown here in the
// `--debug=netlink` notation above each case), and the forms it leaves to nft. The kernel test
// (netlink-rule-kernel.test.ts) compares every rule of real tables with nft itself.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  anonSet,
  bitOr,
  concat,
  dnat,
  flags,
  goto,
  jhash,
  jump,
  markSet,
  match,
  meta,
  namedMap,
  namedSet,
  numgen,
  payload,
  range,
  reject,
  rule,
  setRef,
  vmap,
} from "../../nft/build.ts";
import type { DesiredRule, DesiredSet } from "../../nft/desired.ts";
import type { Family } from "../../nft/model.ts";
import {
  intervalElements,
  writeAnonymousElements,
  writeAnonymousSet,
} from "../../nft/netlink/expressions-sets.ts";
import { prepareRule, ruleUserdata, writeRuleExpressions } from "../../nft/netlink/rule.ts";
import { NetlinkUnsupported } from "../../nft/netlink/values.ts";
import { NetlinkWriter } from "../../nft/netlink/writer.ts";

const sets = new Map<string, DesiredSet>([
  ["vm", namedMap("vm", ["ipv4_addr", "inet_proto", "inet_service"], "verdict")],
  ["s", namedSet("s", "ipv4_addr")],
]);

function attrs(buf: Buffer): { type: number; nested: boolean; value: Buffer }[] {
  const out = [];
  for (let at = 0; at + 4 <= buf.length; ) {
    const len = buf.readUInt16LE(at);
    const t = buf.readUInt16LE(at + 2);
    out.push({ type: t & 0x3fff, nested: (t & 0x8000) !== 0, value: buf.subarray(at + 4, at + len) });
    at += (len + 3) & ~3;
  }
  return out;
}

function attrText(a: { type: number; nested: boolean; value: Buffer }): string {
  return a.nested
    ? `${a.type}{${attrs(a.value).map(attrText).join(" ")}}`
    : `${a.type}=${a.value.toString("hex")}`;
}

/** The rule's expressions, one line each: `name: attribute=hex …` in the order they were written. */
function encode(r: DesiredRule, family: Family = "inet"): string[] {
  const w = new NetlinkWriter(16);
  writeRuleExpressions(w, r, { family, sets });
  const b = w.bytes();
  assert.is(b.readUInt16LE(0), b.length, "one attribute, its length covers everything written");
  assert.is(b.readUInt16LE(2), 4 | 0x8000, "NFTA_RULE_EXPRESSIONS, nested");
  return attrs(b.subarray(4)).map((elem) => {
    const [name, data] = attrs(elem.value);
    return `${name.value.toString("latin1").replace(/\0+$/, "")}: ${attrs(data.value).map(attrText).join(" ")}`;
  });
}

const test = suite("netlink rule encoder");

test("dnat to address and port after a protocol match (inet)", () => {
  // [ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000006 ]
  // [ immediate reg 1 0x0200000a ] [ immediate reg 2 0x0000901f ]
  // [ nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2 ]
  assert.equal(encode(rule(match(meta("l4proto"), "tcp"), dnat("10.0.0.2", 8080))), [
    "meta: 2=00000010 1=00000001",
    "cmp: 1=00000001 2=00000000 3{1=06}",
    "immediate: 1=00000001 2{1=0a000002}",
    "immediate: 1=00000002 2{1=1f90}",
    "nat: 1=00000001 2=00000002 3=00000001 5=00000002 7=00000002",
  ]);
});

test("concatenated vmap key: nfproto dependency, 32-bit registers for the parts", () => {
  // [ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x00000002 ]
  // [ payload load 4b @ network header + 16 => reg 1 ] [ meta load l4proto => reg 9 ]
  // [ payload load 2b @ transport header + 2 => reg 10 ] [ lookup reg 1 set vm dreg 0 ]
  assert.equal(
    encode(rule(vmap(concat(payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")), "vm"))),
    [
      "meta: 2=0000000f 1=00000001",
      "cmp: 1=00000001 2=00000000 3{1=02}",
      "payload: 1=00000001 2=00000001 3=00000010 4=00000004",
      "meta: 2=00000010 1=00000009",
      "payload: 1=0000000a 2=00000002 3=00000002 4=00000002",
      "lookup: 2=00000001 3=00000000 1=766d00",
    ],
  );
  // In an ip table the network protocol is known: no dependency.
  assert.is(
    encode(rule(vmap(concat(payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")), "vm")), "ip")
      .length,
    4,
  );
});

test("numgen below a bound: converted to network order before the compare", () => {
  // [ numgen reg 1 = random mod 3 ] [ byteorder reg 1 = hton(reg 1, 4, 4) ] [ cmp lt reg 1 0x01000000 ]
  assert.equal(encode(rule(match(numgen("random", 3), 1, "<"), goto("c"))), [
    "numgen: 1=00000001 2=00000003 3=00000001 4=00000000",
    "byteorder: 1=00000001 2=00000001 3=00000001 4=00000004 5=00000004",
    "cmp: 1=00000001 2=00000002 3{1=00000001}",
    "immediate: 1=00000000 2{2{1=fffffffc 2=6300}}",
  ]);
});

test("jhash of a concatenation in a range: the hashed value in the next 128-bit register", () => {
  // [ payload load 4b @ network header + 12 => reg 2 ] [ payload load 2b @ transport header + 0 => reg 13 ]
  // [ hash reg 1 = jhash(reg 2, 8, 0xdead) % mod 4 ] [ byteorder … ] [ cmp gte … 1 ] [ cmp lte … 2 ]
  const key = jhash(concat(payload("ip", "saddr"), payload("th", "sport")), 4, { seed: 0xdead });
  assert.equal(encode(rule(match(key, range(1, 2)), jump("c"))).slice(2), [
    "payload: 1=00000002 2=00000001 3=0000000c 4=00000004",
    "payload: 1=0000000d 2=00000002 3=00000000 4=00000002",
    "hash: 1=00000002 2=00000001 3=00000008 4=00000004 5=0000dead 6=00000000 7=00000000",
    "byteorder: 1=00000001 2=00000001 3=00000001 4=00000004 5=00000004",
    "cmp: 1=00000001 2=00000005 3{1=00000001}",
    "cmp: 1=00000001 2=00000003 3{1=00000002}",
    "immediate: 1=00000000 2{2{1=fffffffd 2=6300}}",
  ]);
});

test("mark set from mark | bit: one bitwise with mask and xor in host order", () => {
  // [ meta load mark => reg 1 ] [ bitwise reg 1 = ( reg 1 & 0xffffbfff ) ^ 0x00004000 ]
  // [ meta set mark with reg 1 ]
  const [load, bitwise, set] = encode(rule(markSet(bitOr(meta("mark"), 0x4000))));
  assert.is(load, "meta: 2=00000003 1=00000001");
  assert.match(bitwise, /^bitwise: 1=00000001 2=00000001 .*4\{1=ffbfffff\} 5\{1=00400000\}$/);
  assert.is(set, "meta: 2=00000003 3=00000001");
});

test("ct state flags: bitwise then 'not zero'; a set lookup, inverted with !=", () => {
  assert.equal(encode(rule(match({ ct: { key: "state" } }, flags("established", "related")))).slice(1), [
    "bitwise: 1=00000001 2=00000001 3=00000004 4{1=06000000} 5{1=00000000}",
    "cmp: 1=00000001 2=00000001 3{1=00000000}",
  ]);
  assert.equal(encode(rule(match(payload("ip", "saddr"), setRef("s"), "!="))).slice(2), [
    "payload: 1=00000001 2=00000001 3=0000000c 4=00000004",
    "lookup: 2=00000001 1=7300 5=00000001",
  ]);
});

test("comment: nftnl user data, type 0, length with the NUL", () => {
  assert.is(ruleUserdata({ expr: [], comment: "hi there" })?.toString("hex"), "0009686920746865726500");
  assert.is(ruleUserdata(rule()), undefined);
  // nft accepts up to 128 bytes (NFTNL_UDATA_COMMENT_MAXLEN) and refuses more.
  assert.is(ruleUserdata({ expr: [], comment: "c".repeat(128) })?.length, 2 + 129);
  assert.throws(
    () => ruleUserdata({ expr: [], comment: "c".repeat(129) }),
    (e: Error) => e instanceof NetlinkUnsupported && /longer than 128 bytes/.test(e.message),
  );
});

test("forms left to nft throw NetlinkUnsupported naming the statement", () => {
  const cases: [DesiredRule, RegExp, Family?][] = [
    [rule(match(payload("tcp", "dport"), anonSet(80, 443))), /anonymous sets/],
    [rule(vmap(numgen("random", 2), [[0, goto("a")]])), /anonymous sets/],
    [rule(match(payload("ip", "saddr"), setRef("nope"))), /no set or map @nope/],
    [rule(match(payload("ip6", "saddr"), setRef("s"))), /@s is keyed by ipv4_addr, not ipv6_addr/],
    [rule(match(payload("ip", "saddr"), "1.2.3.4"), match(payload("ip6", "saddr"), "::1")), /conflicting/],
    [rule(dnat("10.0.0.1", 80)), /port needs a transport protocol match/],
    [rule(match(meta("iif"), "eth0")), /iface_index eth0/],
    [rule(match(payload("ip", "saddr"), "1.2.3.4")), /family bridge/, "bridge"],
    [rule(reject("icmpx", "port-unreachable")), /icmpx in a ip table/, "ip"],
    [rule(match(meta("l4proto"), "tcp"), match(payload("udp", "dport"), 53)), /udp after tcp/],
  ];
  for (const [r, message, family] of cases)
    assert.throws(
      () => encode(r, family),
      (e: Error) => e instanceof NetlinkUnsupported && message.test(e.message),
      `${JSON.stringify(r.expr)} → ${message}`,
    );
});

test("anonymous set: declaration and elements of `tcp dport { 443, 80 }` as nft sends them", () => {
  const prepared = prepareRule(rule(match(payload("tcp", "dport"), anonSet(443, 80))), {
    family: "inet",
    sets,
  });
  assert.is(prepared.anonymousSets.length, 1);
  const [set] = prepared.anonymousSets;
  const declaration = new NetlinkWriter();
  writeAnonymousSet(declaration, set, 7);
  // __set%d, flags anonymous|constant, key inet_service (13) of 2 bytes, id 7, size 2, user data:
  // key byte order big endian, typeof payload (7) of tcp (desc 8) dport (template 2).
  assert.equal(attrs(declaration.bytes()).map(attrText), [
    "2=5f5f736574256400",
    "3=00000003",
    "4=0000000d",
    "5=00000002",
    "10=00000007",
    "9{1=00000002}",
    "13=0004020000000314000407000000010c000408000000010402000000",
  ]);
  const elements = new NetlinkWriter();
  writeAnonymousElements(elements, set, 7);
  assert.equal(attrs(elements.bytes()).map(attrText), [
    "2=5f5f736574256400",
    "4=00000007",
    "3{1{1{1=01bb}} 2{1{1=0050}}}",
  ]);
  const w = new NetlinkWriter();
  prepared.writeExpressions(w, [7]);
  const lookup = attrs(attrs(w.bytes().subarray(4)).at(-1)!.value)[1];
  assert.is(
    attrText(lookup),
    "2{2=00000001 1=5f5f736574256400 4=00000007}",
    "lookup names the set and its id",
  );
  assert.throws(() => prepared.writeExpressions(new NetlinkWriter(), []), /1 anonymous sets, 0 set ids/);
});

test("interval elements: nft's layout (end markers, a zero start, an open end, merged ranges)", () => {
  const b = (...bytes: number[]) => Buffer.from(bytes);
  const show = (r: ReturnType<typeof intervalElements>) => ({
    size: r.size,
    elements: r.elements.map((e) => `${e.end ? "end " : ""}${e.key.toString("hex")}${e.open ? " open" : ""}`),
  });
  // { 10.0.0.0/8, 192.168.1.1 }
  assert.equal(
    show(
      intervalElements([
        [b(10, 0, 0, 0), b(10, 255, 255, 255)],
        [b(192, 168, 1, 1), b(192, 168, 1, 1)],
      ]),
    ),
    { size: 5, elements: ["end 00000000", "0a000000", "end 0b000000", "c0a80101", "end c0a80102"] },
  );
  // Overlapping and adjacent ranges merge: { 10.0.0.0/8, 10.1.0.0/16, 11.0.0.0/8 } is 10.0.0.0/7.
  assert.equal(
    show(
      intervalElements([
        [b(10, 1, 0, 0), b(10, 1, 255, 255)],
        [b(11, 0, 0, 0), b(11, 255, 255, 255)],
        [b(10, 0, 0, 0), b(10, 255, 255, 255)],
      ]),
    ),
    { size: 3, elements: ["end 00000000", "0a000000", "end 0c000000"] },
  );
  // From zero and up to the last value: no leading end marker, and an open last range.
  assert.equal(
    show(
      intervalElements([
        [b(0, 0), b(0, 9)],
        [b(255, 0), b(255, 255)],
      ]),
    ),
    { size: 4, elements: ["0000", "end 000a", "ff00 open"] },
  );
});

test.run();
