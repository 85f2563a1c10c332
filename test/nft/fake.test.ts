import { suite } from "uvu";
import * as assert from "uvu/assert";
import { accept, chain, element, goto, jump, namedMap, rule } from "../../nft/build.ts";
import { FakeNft } from "../../nft/fake.ts";
import { Transaction } from "../../nft/transaction.ts";

const test = suite("nft fake");

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

test("records every transaction with its script and keeps state per namespace", async () => {
  const fake = new FakeNft();
  const tx = new Transaction("inet", "wasmplane").addTable().addChain(chain("c", [rule(accept())]), true);
  const result = await fake.applyTransaction(tx, { netns: "a" });
  assert.is(result.operations, 2);
  assert.is(fake.recorded.length, 1);
  assert.is(fake.recorded[0].netns, "a");
  assert.is(fake.scripts[0], "add table inet wasmplane\nadd chain inet wasmplane c { accept; }\n");
  assert.equal(fake.tables("a"), ["inet wasmplane"]);
  assert.equal(fake.tables(), [], "the current namespace is untouched");
  const held = await fake.readTable("inet", "wasmplane", { netns: "a" });
  assert.is(held!.chains.get("c")!.rules.length, 1);
});

test("a failing operation changes nothing and names the command", async () => {
  const fake = new FakeNft();
  await fake.applyTransaction(
    new Transaction("inet", "wasmplane")
      .addTable()
      .addChain(chain("svc"))
      .addSet(namedMap("m", "ipv4_addr", "verdict"))
      .addElements("m", [element("10.0.0.1", goto("svc"))]),
  );
  const before = JSON.stringify([...(await fake.readTable("inet", "wasmplane"))!.chains.keys()]);
  const bad = new Transaction("inet", "wasmplane").addChain(chain("new")).deleteChain("svc");
  try {
    await fake.applyTransaction(bad);
    assert.unreachable("deleting a referenced chain must fail");
  } catch (err) {
    assert.match((err as Error).message, /Device or resource busy \(chain svc is referenced\)/);
    assert.match((err as Error).message, /failing command: delete chain inet wasmplane svc/);
  }
  assert.is(JSON.stringify([...(await fake.readTable("inet", "wasmplane"))!.chains.keys()]), before);
  assert.is(fake.recorded.at(-1)!.ok, false);
});

test("checks references, duplicates and injected failures like nft", async () => {
  const fake = new FakeNft();
  await fake.applyTransaction(new Transaction("inet", "wasmplane").addTable());
  await rejects(
    fake.applyTransaction(
      new Transaction("inet", "wasmplane").addChain(chain("c", [rule(jump("missing"))]), true),
    ),
    /No such file or directory \(chain missing, from c\)/,
  );
  await rejects(fake.applyTransaction(new Transaction("inet", "wasmplane").createTable()), /File exists/);
  await rejects(
    fake.applyTransaction(
      new Transaction("inet", "wasmplane")
        .addSet(namedMap("m", "ipv4_addr", "verdict"))
        .deleteElements("m", [element("10.0.0.9")]),
    ),
    /No such file or directory \(element 10\.0\.0\.9\)/,
  );
  fake.failNext(new Error("boom"));
  await rejects(fake.applyTransaction(new Transaction("inet", "wasmplane").addChain(chain("x"))), /boom/);
  await rejects(fake.applyTransaction(new Transaction("inet", "filter").addTable()), /not a wasmplane table/);
  assert.equal([...(await fake.readTable("inet", "wasmplane"))!.chains.keys()], []);
});

test.run();
