// The netlink self-test (nft/self-test.ts) and the path it chooses (nft/apply-guard.ts): it passes on
// this machine, a faulty encoder or comparator makes it fail with a reason, and a failed self-test
// pins every transaction to nft -f, visible in the status lines.
import { existsSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ApplyGuard } from "../../nft/apply-guard.ts";
import { chain, rule } from "../../nft/build.ts";
import { tableDifferences } from "../../nft/compare.ts";
import { mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { type EncodeOptions, encodeTransaction } from "../../nft/netlink/encode.ts";
import { readTable } from "../../nft/readback.ts";
import { selfTestNetlink, selfTestTable } from "../../nft/self-test.ts";
import { Transaction } from "../../nft/transaction.ts";
import { formatApplyPath } from "../../runtime/agent/status.ts";
import { kernelTest } from "../support/kernel.ts";
import { uniqueNetnsName, withNetns } from "../support/netns.ts";

const test = suite("nft self-test");

/** An encoder that silently leaves out the transaction's last operation. */
function droppingEncoder(tx: Transaction, opts: EncodeOptions) {
  const shorter = new Transaction(tx.family, tx.table);
  if (tx.schema) shorter.schema = tx.schema;
  shorter.ops.push(...tx.ops.slice(0, -1));
  return encodeTransaction(shorter, opts);
}

function smallTable() {
  return mergeFragments("inet", "wasmplane", [
    { chains: new Map([["svc-1", chain("svc-1", [rule({ accept: null })])]]), sets: new Map() },
  ]);
}

test("the scratch tables differ between the steps and pass validation through planSync", () => {
  const first = planSync(null, selfTestTable(0));
  const second = planSync(first.applied, selfTestTable(1));
  assert.ok(first.tx.size > 10);
  const kinds = new Set(second.tx.ops.map((op) => `${op.verb} ${op.kind}`));
  for (const k of ["flush chain", "delete element", "add element", "add rule"])
    assert.ok(kinds.has(k), `step 1 sends ${k}`);
});

test("a self-test that throws counts as failed; the status lines say which state the path is in", async () => {
  const guard = new ApplyGuard({
    log: () => {},
    selfTest: () => Promise.reject(new Error("sender exploded")),
  });
  assert.is(formatApplyPath(guard.stats())[0], "apply path: not chosen yet (self-test not run yet)");
  await guard.ready();
  const stats = guard.stats();
  assert.is(stats.path, "nft");
  assert.equal(stats.selfTest, { state: "failed", reason: "sender exploded", durationMs: 0 });
  assert.is(formatApplyPath(stats)[0], "apply path: nft -f (self-test failed: sender exploded)");
  const skipped = { ...stats, selfTest: { state: "skipped" as const, reason: "WASMPLANE_NFT_PATH=nft" } };
  assert.is(formatApplyPath(skipped)[0], "apply path: nft -f (self-test skipped: WASMPLANE_NFT_PATH=nft)");
});

kernelTest(test, "passes on this machine and leaves no namespace behind", async () => {
  const netns = uniqueNetnsName("selftest");
  const result = await selfTestNetlink({ netns });
  assert.ok(result.ok, result.ok ? "" : result.reason);
  assert.not.ok(existsSync(`/run/netns/${netns}`), "scratch namespace deleted");
});

kernelTest(test, "a faulty encoder makes it fail, naming the difference", async () => {
  const netns = uniqueNetnsName("selftest");
  const result = await selfTestNetlink({ netns, encode: droppingEncoder });
  assert.not.ok(result.ok);
  assert.match(
    result.ok ? "" : result.reason,
    /^step 0: read back differs .*chain forward: \{ type filter .* jump antispoof; .* vs \{ type filter hook forward priority 0; policy accept; \}$/,
  );
  assert.not.ok(existsSync(`/run/netns/${netns}`), "scratch namespace deleted after a failure too");
});

kernelTest(test, "a comparator that finds a difference makes it fail", async () => {
  const result = await selfTestNetlink({
    netns: uniqueNetnsName("selftest"),
    compare: (a, b) => [...tableDifferences(a, b), "chain x: forced difference"],
  });
  assert.not.ok(result.ok);
  assert.match(result.ok ? "" : result.reason, /forced difference/);
});

kernelTest(test, "a failed self-test pins the path to nft -f and says why", async () => {
  await withNetns(["selftest"], async ([ns]) => {
    const logs: string[] = [];
    const guard = new ApplyGuard({
      netns: ns,
      log: (l) => logs.push(l),
      selfTest: () => selfTestNetlink({ netns: uniqueNetnsName("selftest"), encode: droppingEncoder }),
    });
    assert.is(guard.stats().path, "pending");
    const desired = smallTable();
    const result = await guard.apply(planSync(null, desired).tx);
    assert.is(result.format, "text", "nft -f, not netlink");
    assert.equal(tableDifferences(desired, (await readTable("inet", "wasmplane", { netns: ns }))!), []);
    const stats = guard.stats();
    assert.is(stats.path, "nft");
    assert.is(stats.selfTest.state, "failed");
    assert.equal(stats.applied, { netlink: 0, nft: 1 });
    assert.match(logs.join("\n"), /netlink self-test failed: step 0: read back differs.*through nft -f/);
    const lines = formatApplyPath(stats);
    assert.match(lines[0], /^apply path: nft -f \(self-test failed: step 0: read back differs/);
    assert.match(lines[1], /0 via netlink, 1 via nft -f/);
  });
});

kernelTest(test, "a passed self-test keeps the netlink path; the self-test runs once", async () => {
  await withNetns(["selftest"], async ([ns]) => {
    let runs = 0;
    const guard = new ApplyGuard({
      netns: ns,
      log: () => {},
      selfTest: () => {
        runs++;
        return selfTestNetlink({ netns: uniqueNetnsName("selftest") });
      },
    });
    const desired = smallTable();
    assert.is((await guard.apply(planSync(null, desired).tx)).format, "netlink");
    const next = new Transaction("inet", "wasmplane").addRule("svc-1", rule({ drop: null }));
    assert.is((await guard.apply(next)).format, "netlink");
    assert.is(runs, 1);
    const stats = guard.stats();
    assert.is(stats.path, "netlink");
    assert.equal(stats.applied, { netlink: 2, nft: 0 });
    assert.is(formatApplyPath(stats)[0], "apply path: netlink (self-test passed)");
  });
});

test.run();
