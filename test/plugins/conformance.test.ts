// The conformance kit passes every shipped LB plugin and the hand-written (non-SDK) module, and
// fails a plugin that breaks the contract.
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { formatReport, runConformance } from "../../runtime/plugins/conformance.ts";
import { ensureBuilt, lbDir, SHIPPED_LB, testDir } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: conformance kit");

for (const name of [
  ...SHIPPED_LB.map((n) => join(lbDir, `${n}.wasm`)),
  join(testDir, "wat-round-robin.wasm"),
]) {
  test(`passes ${name.split("/build/")[1]}`, async () => {
    const report = await runConformance(name, { callBudgetMs: 10000 });
    assert.ok(report.passed, formatReport(report));
    assert.ok(report.checks.length >= 15, `only ${report.checks.length} checks ran`);
    assert.not.ok(
      report.checks.some((c) => c.status === "warn"),
      `a shipped plugin should answer malformed envelopes with a batch error:\n${formatReport(report)}`,
    );
  });
}

test("fails a plugin whose plans name endpoints out of range", async () => {
  const report = await runConformance(join(testDir, "out-of-range.wasm"));
  assert.not.ok(report.passed);
  const failed = report.checks.filter((c) => c.status === "fail");
  assert.ok(
    failed.some((c) => /out of range/.test(c.detail ?? "")),
    formatReport(report),
  );
});

test("fails a plugin whose manifest `reads` leaves out a field its plans depend on", async () => {
  const report = await runConformance(join(testDir, "wrong-reads.wasm"));
  assert.not.ok(report.passed);
  const reads = report.checks.find((c) => c.name.startsWith("reads:"));
  assert.is(reads?.status, "fail", formatReport(report));
  assert.match(reads?.detail ?? "", "leaves out a field the plugin uses");
});

test("fails admission for an unknown ABI version and says what it found", async () => {
  const report = await runConformance(join(testDir, "wrong-abi.wasm"));
  assert.not.ok(report.passed);
  assert.match(report.checks[0].detail ?? "", "found ABI version 99");
});

test("reports a trapping plugin as failing, every check still answered", async () => {
  const report = await runConformance(join(testDir, "trap.wasm"));
  assert.not.ok(report.passed);
  assert.ok(
    report.checks.some((c) => /trapped/.test(c.detail ?? "")),
    formatReport(report),
  );
});

test.run();
