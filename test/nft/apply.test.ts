// A netlink batch the kernel refuses is retried once through nft -f: a retry that works applies the
// transaction and reports the refusal; a retry that fails too throws with both errors and leaves the
// table as it was. Counted by nft/apply-guard.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applyTransaction, NetlinkRefused, NftError, NftRetryFailed } from "../../nft/apply.ts";
import { ApplyGuard } from "../../nft/apply-guard.ts";
import { chain, concat, element, goto, jump, namedMap, rule } from "../../nft/build.ts";
import { tableDifferences } from "../../nft/compare.ts";
import { addChain, addSet, type DesiredTable, emptyFragment, mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { type EncodeOptions, encodeTransaction } from "../../nft/netlink/encode.ts";
import { readTable } from "../../nft/readback.ts";
import { Transaction } from "../../nft/transaction.ts";
import { formatApplyPath } from "../../runtime/agent/status.ts";
import { kernelTest } from "../support/kernel.ts";
import { inNetns, withNetns } from "../support/netns.ts";

const test = suite("nft apply retry");

function table(): DesiredTable {
  const f = emptyFragment();
  addChain(f, chain("svc-1", [rule({ accept: null })]));
  addSet(
    f,
    namedMap("services", ["ipv4_addr", "inet_proto", "inet_service"], "verdict", [
      element(concat("10.96.0.1", "tcp", 80), goto("svc-1")),
    ]),
  );
  return mergeFragments("inet", "wasmplane", [f]);
}

/** A transaction the encoder covers and the kernel refuses: an element jumping to a missing chain. */
function missingChainTx(desired: DesiredTable): Transaction {
  const tx = new Transaction("inet", "wasmplane");
  tx.schema = desired.sets;
  tx.addElements("services", [element(concat("10.96.0.9", "tcp", 9), goto("svc-1"))]);
  tx.addElements("services", [element(concat("10.96.0.8", "tcp", 8), jump("no-such-chain"))]);
  return tx;
}

/** An encoder with a bug: whatever it is given, it encodes the refused transaction above. */
function brokenEncoder(desired: DesiredTable) {
  return (_tx: Transaction, opts: EncodeOptions) => encodeTransaction(missingChainTx(desired), opts);
}

const ruleset = (ns: string) => inNetns(ns, ["nft", "list", "ruleset"]);

kernelTest(
  test,
  "a batch the kernel refuses is retried through nft -f; both errors are reported",
  async () => {
    await withNetns(["apply"], async ([ns]) => {
      const desired = table();
      await applyTransaction(planSync(null, desired).tx, { netns: ns });
      const before = ruleset(ns);
      try {
        await applyTransaction(missingChainTx(desired), { netns: ns });
        assert.unreachable("the kernel and nft must both refuse a jump to a missing chain");
      } catch (err) {
        assert.instance(err, NftRetryFailed);
        assert.instance(err, NftError, "callers that handle NftError keep working");
        const e = err as NftRetryFailed;
        assert.instance(e.netlinkError, NetlinkRefused);
        assert.match(e.netlinkError.nftMessage, /No such file or directory/);
        assert.is(e.netlinkError.operationIndex, 1);
        assert.is(e.operationIndex, 1, "nft names the same operation");
        assert.match(
          e.message,
          /the kernel refused the netlink batch on table inet wasmplane: .*No such file/,
        );
        assert.match(e.message, /retried once through nft -f, which failed too: nft refused the transaction/);
        assert.match(e.message, /no-such-chain/);
      }
      assert.is(ruleset(ns), before, "neither attempt changed anything: the last good rules stay");
    });
  },
);

kernelTest(test, "a duplicate create is refused by both; the guard counts the failed retry", async () => {
  await withNetns(["apply"], async ([ns]) => {
    const desired = table();
    const logs: string[] = [];
    const guard = new ApplyGuard({
      netns: ns,
      log: (l) => logs.push(l),
      selfTest: async () => ({ ok: true, durationMs: 1 }),
    });
    await guard.apply(planSync(null, desired).tx);
    const before = ruleset(ns);
    const duplicate = new Transaction("inet", "wasmplane").createChain({ name: "svc-1", rules: [] });
    const err = await guard.apply(duplicate).then(
      () => assert.unreachable("create of an existing chain must fail"),
      (e: Error) => e,
    );
    assert.instance(err, NftRetryFailed);
    assert.match((err as NftRetryFailed).netlinkError.nftMessage, /File exists/);
    assert.match((err as NftRetryFailed).nftMessage, /File exists/);
    assert.is(ruleset(ns), before);
    const stats = guard.stats();
    assert.is(stats.netlinkRefused, 1);
    assert.equal(stats.nftRetries, { ok: 0, failed: 1 });
    assert.equal(stats.applied, { netlink: 1, nft: 0 });
    assert.match(
      formatApplyPath(stats)[1],
      /netlink batches refused: 1 \(retried through nft -f: 0 ok, 1 failed\)/,
    );
  });
});

kernelTest(
  test,
  "when only the netlink batch is wrong, the retry through nft -f applies the transaction",
  async () => {
    await withNetns(["apply"], async ([ns]) => {
      const desired = table();
      await applyTransaction(planSync(null, desired).tx, { netns: ns });
      const next = mergeFragments("inet", "wasmplane", [
        {
          chains: desired.chains,
          sets: new Map([
            [
              "services",
              namedMap("services", ["ipv4_addr", "inet_proto", "inet_service"], "verdict", [
                element(concat("10.96.0.1", "tcp", 80), goto("svc-1")),
                element(concat("10.96.0.2", "tcp", 443), goto("svc-1")),
              ]),
            ],
          ]),
        },
      ]);
      const logs: string[] = [];
      const guard = new ApplyGuard({
        netns: ns,
        log: (l) => logs.push(l),
        selfTest: async () => ({ ok: true, durationMs: 1 }),
        apply: { encode: brokenEncoder(desired) },
      });
      const result = await guard.apply(planSync(desired, next).tx);
      assert.is(result.format, "text");
      assert.instance(result.netlinkRefused, NetlinkRefused);
      assert.equal(tableDifferences(next, (await readTable("inet", "wasmplane", { netns: ns }))!), []);
      const stats = guard.stats();
      assert.is(stats.netlinkRefused, 1);
      assert.equal(stats.nftRetries, { ok: 1, failed: 0 });
      assert.equal(stats.applied, { netlink: 0, nft: 1 });
      assert.match(
        logs.join("\n"),
        /refused the netlink batch.*No such file[\s\S]*retried once through nft -f, which applied/,
      );
    });
  },
);

kernelTest(test, "an explicit netlink path is not retried", async () => {
  await withNetns(["apply"], async ([ns]) => {
    const desired = table();
    await applyTransaction(planSync(null, desired).tx, { netns: ns });
    const err = await applyTransaction(missingChainTx(desired), { netns: ns, path: "netlink" }).then(
      () => assert.unreachable("must fail"),
      (e: Error) => e,
    );
    assert.instance(err, NetlinkRefused);
    assert.not.instance(err, NftRetryFailed);
  });
});

test.run();
