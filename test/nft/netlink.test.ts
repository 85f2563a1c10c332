// The netlink fast path (nft/netlink/): pure checks of the encoding, and kernel round trips in
// throwaway namespaces: what goes through netlink reads back equal, failures are atomic and named,
// and anything the encoder does not cover falls back to the nft executable.
import { execFileSync } from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applyTransaction, NftError } from "../../nft/apply.ts";
import {
  anonSet,
  chain,
  cidr,
  concat,
  ct,
  element,
  fib,
  goto,
  jump,
  match,
  meta,
  namedMap,
  namedSet,
  numgen,
  payload,
  rule,
  vmap,
} from "../../nft/build.ts";
import { tableDifferences } from "../../nft/compare.ts";
import { addChain, addSet, type DesiredTable, emptyFragment, mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { encodeTransaction } from "../../nft/netlink/encode.ts";
import { encodeKey, encodeValue, NetlinkUnsupported } from "../../nft/netlink/values.ts";
import { NetlinkWriter } from "../../nft/netlink/writer.ts";
import { readTable } from "../../nft/readback.ts";
import { Transaction } from "../../nft/transaction.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, inNetns, withNetns } from "../support/netns.ts";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const test = suite("nft netlink");

test("writer: attribute lengths exclude padding, nested lengths include their children", () => {
  const w = new NetlinkWriter(8);
  const token = w.beginMessage(0x0a0c, 1, 7, 1);
  w.nested(3, () => w.stringAttr(1, "abc"));
  w.endMessage(token);
  const b = w.bytes();
  assert.is(b.readUInt32LE(0), b.length, "message length");
  assert.is(b.length % 4, 0);
  assert.is(b.readUInt16LE(20), 12, "nested: 4 + string attribute of 8 (4 + 'abc\\0')");
  assert.is(b.readUInt16LE(22), 3 | 0x8000, "nested flag set");
  assert.is(b.readUInt16LE(24), 8);
  assert.is(b.toString("latin1", 28, 31), "abc");
});

test("values: addresses, ports and concatenations as the kernel stores them", () => {
  assert.equal([...encodeValue("ipv4_addr", "10.96.0.17")], [10, 96, 0, 17]);
  assert.is(encodeValue("ipv6_addr", "fd00::1").toString("hex"), "fd000000000000000000000000000001");
  assert.is(encodeValue("ipv6_addr", "::ffff:10.0.0.1").toString("hex"), "00000000000000000000ffff0a000001");
  assert.is(
    encodeKey(["ipv4_addr", "inet_proto", "inet_service"], ["10.0.0.1", "tcp", 443]).toString("hex"),
    "0a000001" + "06000000" + "01bb0000",
  );
  assert.is(encodeValue("mark", 0x4000).toString("hex"), "00400000", "host order");
  assert.throws(
    () => encodeValue("ipv4_addr", "10.0.0.300"),
    (e: Error) => e instanceof NetlinkUnsupported && /10\.0\.0\.300/.test(e.message),
  );
  assert.throws(() => encodeValue("inet_service", 70000), /inet_service 70000/);
});

test("encoder: what nft would merge, check against the kernel or refuse is left to it (NetlinkUnsupported)", () => {
  const cidrs = namedSet("cidrs", "ipv4_addr", [], { flags: ["interval"] });
  const sets = new Map([["cidrs", cidrs]]);
  const cases: [Transaction, RegExp][] = [
    [
      new Transaction("inet", "wasmplane").addElements("unknown", [element("10.0.0.1")]),
      /set unknown: type unknown/,
    ],
    [
      new Transaction("inet", "wasmplane").addElements("cidrs", [element("10.0.0.1")]),
      /interval set that holds elements/,
    ],
    [
      new Transaction("inet", "wasmplane")
        .addSet(cidrs)
        .addElements("cidrs", [element(cidr("10.0.0.0/24")), element("10.0.1.0")]),
      /overlapping or adjacent/,
    ],
    [
      new Transaction("inet", "wasmplane").addSet({ ...cidrs, type: "ipv4_addr_prefix" }),
      /type ipv4_addr_prefix/,
    ],
    [new Transaction("inet", "wasmplane").addTable("x".repeat(129)), /longer than 128 bytes/],
  ];
  for (const [tx, message] of cases)
    assert.throws(
      () => encodeTransaction(tx, { sets }),
      (e: Error) => e instanceof NetlinkUnsupported && message.test(e.message),
      String(message),
    );
});

function table(elements: { svc: number; port: number }[], extraChains: string[] = []): DesiredTable {
  const f = emptyFragment();
  for (const name of ["svc-1", "svc-2"]) addChain(f, chain(name, [rule({ accept: null })]));
  for (const name of extraChains)
    addChain(
      f,
      chain(name, [
        rule(match(payload("ip", "saddr"), "10.1.0.1"), { return: null }),
        rule(match(payload("tcp", "dport"), anonSet(80, 443)), { accept: null }),
        rule(vmap(meta("l4proto"), [["udp", { drop: null }]])),
        rule({ accept: null }),
      ]),
    );
  addSet(
    f,
    namedMap(
      "services",
      ["ipv4_addr", "inet_proto", "inet_service"],
      "verdict",
      elements.map((e) => element(concat(`10.96.0.${e.svc}`, "tcp", e.port), goto(`svc-${e.svc}`))),
    ),
  );
  addSet(
    f,
    namedMap(
      "backends",
      "ipv4_addr",
      ["ipv4_addr", "inet_service"],
      [element("10.96.0.1", concat("10.1.0.1", 8080))],
    ),
  );
  addSet(f, namedSet("v6", "ipv6_addr", [element("fd00::1")]));
  addSet(
    f,
    namedSet("recent", "ipv4_addr", [element("10.9.9.9", undefined, { timeout: 600, comment: "x" })], {
      flags: ["timeout"],
    }),
  );
  return mergeFragments("inet", "wasmplane", [f]);
}

/** The nf_tables message types of an encoded batch, in order (NEWCHAIN = 3, NEWRULE = 6, ...). */
function messageTypes(bytes: Uint8Array): number[] {
  const b = Buffer.from(bytes);
  const types: number[] = [];
  for (let off = 0; off + 16 <= b.length; off += (b.readUInt32LE(off) + 3) & ~3) {
    const type = b.readUInt16LE(off + 4);
    if (type >> 8 === 10) types.push(type & 0xff);
  }
  return types;
}

test("encoder: a batch's buffer is not kept once the batch is dropped (cached loads hold no writer)", async () => {
  // Loads first met in this batch (a numgen, ct and fib of sizes no other test uses) are built
  // and cached while it is encoded; what they keep must not reach its writer.
  const ep = chain("ep", [
    rule(match(numgen("random", 9973), 17), { accept: null }),
    rule(match(ct("mark"), 9973), { accept: null }),
    rule(match(fib(["daddr"], "type"), "local"), match(meta("mark"), 9973), { accept: null }),
  ]);
  const tx = planSync(
    null,
    mergeFragments("inet", "wasmplane", [{ chains: new Map([["ep", ep]]), sets: new Map() }]),
  ).tx;
  let batch: ReturnType<typeof encodeTransaction> | null = encodeTransaction(tx, { sets: new Map() });
  const buffer = new WeakRef(batch.bytes.buffer);
  assert.ok(batch.bytes.length > 0);
  batch = null;
  await new Promise((r) => setImmediate(r));
  collectGarbage();
  collectGarbage();
  assert.is(buffer.deref(), undefined, "the batch buffer is still reachable after the batch was dropped");
});

test("encoder: a chain declared again unchanged in the same batch is declared once", () => {
  const NEWCHAIN = 3;
  const DELCHAIN = 5;
  const NEWRULE = 6;
  const ep = chain("ep", [rule(match(meta("l4proto"), "tcp"), { accept: null })]);
  const full = planSync(
    null,
    mergeFragments("inet", "wasmplane", [{ chains: new Map([["ep", ep]]), sets: new Map() }]),
  );
  const types = messageTypes(encodeTransaction(full.tx, { sets: new Map() }).bytes);
  assert.equal(
    types.filter((t) => t === NEWCHAIN || t === NEWRULE),
    [NEWCHAIN, NEWRULE],
    "full sync: `add chain ep` then `add chain ep { rule }` → one NEWCHAIN and the rule",
  );
  const changedSpec = new Transaction("inet", "wasmplane")
    .addChain(ep)
    .addChain({ ...ep, comment: "now with a comment" }, true)
    .createChain({ name: "other", rules: [] })
    .createChain({ name: "other", rules: [] });
  assert.equal(
    messageTypes(encodeTransaction(changedSpec, { sets: new Map() }).bytes).filter((t) => t === NEWCHAIN)
      .length,
    4,
    "a changed declaration, and a repeated create (the kernel refuses it), are still sent",
  );
  const deleted = new Transaction("inet", "wasmplane").addChain(ep).deleteChain("ep").addChain(ep, true);
  assert.equal(
    messageTypes(encodeTransaction(deleted, { sets: new Map() }).bytes),
    [NEWCHAIN, DELCHAIN, NEWCHAIN, NEWRULE],
    "after DELCHAIN the chain is declared again",
  );
});

kernelTest(test, "elements, chains and flushes go through netlink and read back equal", async () => {
  await withNetns(["nlink"], async ([ns]) => {
    let applied = table([{ svc: 1, port: 80 }]);
    const first = await applyTransaction(planSync(null, applied).tx, { netns: ns });
    assert.is(first.format, "netlink", "a first sync (table, chains, sets, elements, rules) too");
    const steps = [
      table([
        { svc: 1, port: 80 },
        { svc: 2, port: 443 },
      ]),
      table([{ svc: 2, port: 443 }], ["svc-3"]),
      table([{ svc: 2, port: 8443 }]),
    ];
    steps[2].sets.set("backends", {
      ...steps[2].sets.get("backends")!,
      elements: [element("10.96.0.2", concat("10.1.0.2", 9090))],
    });
    steps[2].sets.set("v6", {
      ...steps[2].sets.get("v6")!,
      elements: [element("fd00::2"), element("fd00::ffff:1")],
    });
    for (const desired of steps) {
      const plan = planSync(applied, desired);
      const result = await applyTransaction(plan.tx, { netns: ns, path: "netlink" });
      assert.is(result.format, "netlink");
      const back = await readTable("inet", "wasmplane", { netns: ns });
      assert.equal(tableDifferences(desired, back!), []);
      applied = plan.applied;
    }
  });
});

kernelTest(test, "a refused batch changes nothing and names the failing command", async () => {
  await withNetns(["nlink"], async ([ns]) => {
    const desired = table([{ svc: 1, port: 80 }]);
    await applyTransaction(planSync(null, desired).tx, { netns: ns });
    const ruleset = () => inNetns(ns, ["nft", "list", "ruleset"]).replace(/ expires \S+/g, "");
    const before = ruleset();
    const tx = new Transaction("inet", "wasmplane");
    tx.schema = desired.sets;
    tx.addElements("services", [element(concat("10.96.0.9", "tcp", 9), goto("svc-1"))]);
    tx.addElements("services", [element(concat("10.96.0.8", "tcp", 8), jump("no-such-chain"))]);
    try {
      await applyTransaction(tx, { netns: ns, path: "netlink" });
      assert.unreachable("the kernel must refuse a jump to a missing chain");
    } catch (err) {
      assert.instance(err, NftError);
      const e = err as NftError;
      assert.is(e.operationIndex, 1);
      assert.match(e.message, /No such file or directory/);
      assert.match(e.command ?? "", /add element inet wasmplane services .*no-such-chain/);
    }
    assert.is(ruleset(), before, "the first, valid element is not applied either");
  });
});

kernelTest(
  test,
  "auto falls back to nft for what the encoder does not cover; a recreated namespace gets a new session",
  async () => {
    const ns = `wpt-nlink-${process.pid}-same`;
    try {
      for (let round = 0; round < 2; round++) {
        createNetns(ns);
        const desired = table([{ svc: 1, port: 80 }]);
        await applyTransaction(planSync(null, desired).tx, { netns: ns });
        const next = table([{ svc: 2, port: 81 }]);
        const result = await applyTransaction(planSync(desired, next).tx, { netns: ns });
        assert.is(result.format, "netlink", `round ${round}: element changes take the fast path`);
        assert.equal(tableDifferences(next, (await readTable("inet", "wasmplane", { netns: ns }))!), []);
        // nft merges adjacent payload matches into one compare; the encoder leaves that to it.
        const merged = new Transaction("inet", "wasmplane").addRule(
          "svc-1",
          rule(match(payload("tcp", "sport"), 1), match(payload("tcp", "dport"), 2), { accept: null }),
        );
        assert.is((await applyTransaction(merged, { netns: ns })).format, "text");
        // Removed behind our back (test/support's deleteNetns would also end the sender): the next
        // round's namespace has the same name, and its batches must not land in this one.
        execFileSync("ip", ["netns", "delete", ns]);
      }
    } finally {
      deleteNetns(ns);
    }
  },
);

kernelTest(
  test,
  "element lists longer than one attribute holds go in several messages and read back whole",
  async () => {
    await withNetns(["nlink"], async ([ns]) => {
      const f = emptyFragment();
      addChain(f, chain("svc-1", [rule({ accept: null })]));
      const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      addSet(
        f,
        namedSet(
          "many",
          "ipv4_addr",
          Array.from({ length: 6000 }, (_, i) => element(ip(i))),
        ),
      );
      addSet(
        f,
        namedMap(
          "services",
          ["ipv4_addr", "inet_proto", "inet_service"],
          "verdict",
          Array.from({ length: 3000 }, (_, i) => element(concat(ip(i), "tcp", 80), goto("svc-1"))),
        ),
      );
      const desired = mergeFragments("inet", "wasmplane", [f]);
      const tx = planSync(null, desired).tx;
      const batch = encodeTransaction(tx, { sets: desired.sets });
      const elementOps = tx.ops.flatMap((op, i) => (op.kind === "element" ? [i] : []));
      for (const i of elementOps)
        assert.ok(batch.messageOps.filter((m) => m === i).length > 1, `operation ${i} split`);
      assert.is((await applyTransaction(tx, { netns: ns, path: "netlink" })).format, "netlink");
      assert.equal(tableDifferences(desired, (await readTable("inet", "wasmplane", { netns: ns }))!), []);
    });
  },
);

test.run();
