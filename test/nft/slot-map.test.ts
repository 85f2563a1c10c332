// The slot data map of the element-only Service shape (issue 15): a map declared by `typeof` with a
// concatenated key ending in `numgen` and a concatenated `address . port` value, and the rule
// `dnat ip to KEY map @m` reading it.
// - Pure: the text nft is given, and the NEWSET message, byte for byte as nft 1.0.6 sends it
//   (`nft --debug=mnl -c`, copied below; only the table name attribute and the batch-local set id
//   are left out, as the encoder writes them separately).
// - Kernel: the same table applied by nft and through netlink in two namespaces lists the same
//   kernel expressions (`nft --debug=netlink list table`), reads back equal to the desired table,
//   and an element change goes through netlink.
import { execFileSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applyTransaction } from "../../nft/apply.ts";
import {
  anonSet,
  chain,
  concat,
  dnat,
  element,
  mapLookup,
  match,
  meta,
  namedMap,
  numgen,
  payload,
  rule,
} from "../../nft/build.ts";
import { tableDifferences } from "../../nft/compare.ts";
import { addChain, addSet, type DesiredTable, emptyFragment, mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { writeSetDeclaration } from "../../nft/netlink/declarations.ts";
import { NetlinkWriter } from "../../nft/netlink/writer.ts";
import { readTable } from "../../nft/readback.ts";
import { setSpecText } from "../../nft/render-text.ts";
import { validateTable } from "../../nft/validate.ts";
import { kernelTest } from "../support/kernel.ts";
import { withNetns } from "../support/netns.ts";

const test = suite("slot map (typeof key with numgen, dnat to address . port map)");

const KEY4 = ["ipv4_addr", "inet_proto", "inet_service", "integer"] as const;
const KEY6 = ["ipv6_addr", "inet_proto", "inet_service", "integer"] as const;

function slotMaps(elements4 = [element(concat("10.96.0.1", "tcp", 80, 3), concat("10.1.0.1", 8080))]) {
  return {
    b4: namedMap("b4", [...KEY4], ["ipv4_addr", "inet_service"], elements4),
    b6: namedMap(
      "b6",
      [...KEY6],
      ["ipv6_addr", "inet_service"],
      [element(concat("fd00::1", "udp", 53, 15), concat("fd01::2", 5353))],
    ),
  };
}

function slotTable(elements4?: Parameters<typeof slotMaps>[0]): DesiredTable {
  const f = emptyFragment();
  const maps = slotMaps(elements4);
  addSet(f, maps.b4);
  addSet(f, maps.b6);
  const protos = match(meta("l4proto"), anonSet("tcp", "udp", "sctp"));
  const key = (family: "ip" | "ip6") =>
    concat(payload(family, "daddr"), meta("l4proto"), payload("th", "dport"), numgen("random", 16));
  addChain(
    f,
    chain("d", [
      rule(protos, dnat(mapLookup(key("ip"), "b4"), undefined, { family: "ip" })),
      rule(protos, dnat(mapLookup(key("ip6"), "b6"), undefined, { family: "ip6" })),
    ]),
  );
  return mergeFragments("inet", "wasmplane", [f]);
}

test("declared by typeof, key and value", () => {
  const { b4, b6 } = slotMaps();
  assert.is(
    setSpecText(b4),
    "{ typeof ip daddr . meta l4proto . th dport . numgen inc mod 1 : ip daddr . th dport; }",
  );
  assert.is(
    setSpecText(b6),
    "{ typeof ip6 daddr . meta l4proto . th dport . numgen inc mod 1 : ip6 daddr . th dport; }",
  );
  validateTable(slotTable());
});

// NEWSET attributes after the table name, from `nft --debug=mnl -c` of the two declarations above
// (nft 1.0.6), with NFTA_SET_ID 1: name, flags (map), key type 7.12.13.4 / 8.12.13.4, key length 16 /
// 28, data type 7.13 / 8.13, data length 8 / 20, id, and the user data (byte orders, the key's typeof
// as a concat of payload, meta, payload, numgen, the value's as a concat of two payloads).
const NFT_NEWSET = {
  b4: "0700020062340000080003000000000808000400001cc344080005000000001008000600000001cd080007000000000808000a0000000001ae000d00000400000000010400000000036000040d00000001580014000407000000010c00040c00000001040c000000010e00040900000001060004100000000214000407000000010c00040b000000010402000000031a0004170000000112000400000000010401000000020400000000043400040d000000012c0014000407000000010c00040c00000001040c0000000114000407000000010c00040b0000000104020000000604000000000000",
  b6: "07000200623600000800030000000008080004000020c344080005000000001c080006000000020d080007000000001408000a0000000001ae000d00000400000000010400000000036000040d00000001580014000407000000010c00040d000000010409000000010e00040900000001060004100000000214000407000000010c00040b000000010402000000031a0004170000000112000400000000010401000000020400000000043400040d000000012c0014000407000000010c00040d0000000104090000000114000407000000010c00040b0000000104020000000604000000000000",
};

test("NEWSET: byte for byte what nft 1.0.6 sends", () => {
  const maps = slotMaps();
  for (const name of ["b4", "b6"] as const) {
    const w = new NetlinkWriter();
    writeSetDeclaration(w, maps[name], 1);
    assert.is(w.bytes().toString("hex"), NFT_NEWSET[name], name);
  }
});

/** The kernel's expressions and elements as nft lists them, without handles and anonymous set numbers. */
function kernelListing(ns: string): string {
  const text = execFileSync(
    "ip",
    ["netns", "exec", ns, "nft", "--debug=netlink", "list", "table", "inet", "wasmplane"],
    {
      encoding: "utf8",
    },
  );
  return text
    .replace(/__set\d+/g, "__set")
    .replace(/^(inet wasmplane \S+)( \d+)+$/gm, "$1")
    .replace(/ 0x0 \]/g, " ]");
}

kernelTest(
  test,
  "kernel: nft and netlink load the same table; read-back equal; element change via netlink",
  async () => {
    await withNetns(["s15", "s15"], async ([byNft, byNetlink]) => {
      const table = slotTable();
      await applyTransaction(planSync(null, table).tx, { netns: byNft, path: "nft" });
      const r = await applyTransaction(planSync(null, table).tx, { netns: byNetlink, path: "netlink" });
      assert.is(r.format, "netlink");
      assert.is(kernelListing(byNetlink), kernelListing(byNft));
      const back = await readTable("inet", "wasmplane", { netns: byNetlink });
      assert.ok(back);
      assert.equal(tableDifferences(table, back), []);

      // Move slot 3 to another backend and add slot 4: element operations only.
      const next = slotTable([
        element(concat("10.96.0.1", "tcp", 80, 3), concat("10.1.0.2", 8080)),
        element(concat("10.96.0.1", "tcp", 80, 4), concat("10.1.0.1", 8080)),
      ]);
      const plan = planSync(table, next);
      assert.equal(
        plan.tx.ops.map((op) => `${op.verb} ${op.kind}`),
        ["delete element", "add element"],
      );
      const change = await applyTransaction(plan.tx, { netns: byNetlink, path: "netlink" });
      assert.is(change.format, "netlink");
      const after = await readTable("inet", "wasmplane", { netns: byNetlink });
      assert.ok(after);
      assert.equal(tableDifferences(next, after), []);
    });
  },
);

test.run();
