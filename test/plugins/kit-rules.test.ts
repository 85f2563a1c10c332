// One kit, the agent's rules: by default `plugin test` runs a module under the agent's limits for its
// kind (time budget, memory cap, no grants); the ipam kit passes every shipped IPAM plugin and fails a
// broken one; the zero-endpoints vector refuses a slot for no endpoints.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { formatReport, runConformance } from "../../runtime/plugins/conformance.ts";
import { AGENT_LIMITS } from "../../runtime/plugins/limits.ts";
import { MANIFEST_SECTION } from "../../runtime/plugins/manifest.ts";
import { appendCustomSection } from "../../runtime/plugins/wasm-binary.ts";
import { builtDir, ensureBuilt, tempDir, testDir, watToWasm } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: the kit runs under the agent's rules");

/** Writes a WAT module with an embedded manifest to a temp file; returns its path. */
async function module(wat: string, manifest: Record<string, unknown>): Promise<string> {
  const dir = tempDir("wasmplane-kit-");
  const bytes = appendCustomSection(
    await watToWasm(wat, dir),
    MANIFEST_SECTION,
    new TextEncoder().encode(JSON.stringify({ version: "0.0.1", abi: 1, capabilities: [], ...manifest })),
  );
  const file = join(dir, `${manifest.name}.wasm`);
  writeFileSync(file, bytes);
  return file;
}

// Answers every item with one random-mode slot, index 0: even for an item with no endpoints.
const oneSlotAlways = `(module
  (memory (export "memory") 1 16)
  (func (export "wasmplane_abi_version") (result i32) (i32.const 1))
  (func (export "wasmplane_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "wasmplane_free") (param i32))
  (func (export "wasmplane_call") (param $in i32) (param $len i32) (result i32)
    (local $out i32) (local $n i32) (local $i i32) (local $a i32)
    (local.set $out (i32.and (i32.add (i32.add (local.get $in) (local.get $len)) (i32.const 3)) (i32.const -4)))
    (local.set $n (i32.load offset=12 (local.get $in)))
    (i32.store (local.get $out) (i32.add (i32.const 16) (i32.mul (local.get $n) (i32.const 16))))
    (i32.store offset=4 (local.get $out) (i32.const 1))
    (i32.store offset=8 (local.get $out) (i32.const 0))
    (i32.store offset=12 (local.get $out) (local.get $n))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $a (i32.add (i32.add (local.get $out) (i32.const 16)) (i32.mul (local.get $i) (i32.const 16))))
      (i64.store (local.get $a) (i64.const 0))
      (i32.store offset=8 (local.get $a) (i32.const 1))
      (i32.store offset=12 (local.get $a) (i32.const 0))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $out)))`;

// An ipam module that answers every envelope with a batch error.
const alwaysBatchError = `(module
  (memory (export "memory") 1 1)
  (global (export "wasmplane_abi") i32 (i32.const 1))
  (func (export "wasmplane_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "wasmplane_free") (param i32))
  (func (export "wasmplane_call") (param i32 i32) (result i32)
    (i32.store (i32.const 16) (i32.const 18))
    (i32.store (i32.const 20) (i32.const 1))
    (i32.store (i32.const 24) (i32.const 1))
    (i32.store (i32.const 28) (i32.const 0))
    (i32.store16 (i32.const 32) (i32.const 0))
    (i32.const 16)))`;

test("the zero-endpoints vector fails a plugin that answers one slot for no endpoints", async () => {
  const file = await module(oneSlotAlways, { name: "one-slot", kind: "lb", reads: [] });
  const report = await runConformance(file);
  const zero = report.checks.find((c) => c.name.startsWith("vector: no endpoints"));
  assert.is(zero?.status, "fail", formatReport(report));
  const one = report.checks.find((c) => c.name === "vector: one endpoint");
  assert.is(one?.status, "pass", "the ABI 1.1 function marker in WAT is admitted");
});

test("by default a call gets the agent's budget for the kind, not more", async () => {
  const report = await runConformance(join(testDir, "endless-loop.wasm"));
  assert.not.ok(report.passed);
  assert.match(
    formatReport(report),
    `exceeded its time budget of ${AGENT_LIMITS.lb.callBudgetMs} ms`,
    "the lb kit's default budget is the agent's",
  );
});

test("by default nothing is granted, as in the agent; --grant grants", async () => {
  const logging = join(testDir, "logging.wasm");
  const refused = await runConformance(logging);
  assert.is(refused.checks[0].status, "fail");
  assert.match(refused.checks[0].detail ?? "", 'needs the "log" grant');
  assert.match(refused.checks[0].detail ?? "", "--grant random,log,clock for wasmplane plugin test");
  const granted = await runConformance(logging, { grants: ["log", "random", "clock"] });
  assert.is(granted.checks[0].status, "pass", formatReport(granted));
});

for (const name of ["range", "random", "static"]) {
  test(`the ipam kit passes the shipped ipam/${name}.wasm`, async () => {
    const report = await runConformance(join(builtDir, "ipam", `${name}.wasm`));
    assert.ok(report.passed, formatReport(report));
    assert.is(report.kind, "ipam");
    assert.ok(report.checks.length >= 10, `only ${report.checks.length} checks ran`);
    assert.not.ok(
      report.checks.some((c) => c.status === "warn"),
      formatReport(report),
    );
  });
}

test("the ipam kit fails a plugin that answers every call with a batch error", async () => {
  const file = await module(alwaysBatchError, { name: "no-ipam", kind: "ipam" });
  const report = await runConformance(file);
  assert.not.ok(report.passed);
  const vector = report.checks.find((c) => c.name === "vector: first attachment, IPv4 /24");
  assert.is(vector?.status, "fail", formatReport(report));
  assert.match(vector?.detail ?? "", "batch error");
});

test.run();
