// The Wasm features docs/plugin-abi.md promises (what Node 20's engine supports by default) pass the
// host's binary reader, admission and compilation; `plugin build` assembles WAT with them enabled.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { admitPlugin } from "../../runtime/plugins/admission.ts";
import { projectRoot, WAT_FEATURE_FLAGS } from "../../runtime/plugins/build.ts";
import { MANIFEST_SECTION } from "../../runtime/plugins/manifest.ts";
import { appendCustomSection } from "../../runtime/plugins/wasm-binary.ts";
import { tempDir } from "./fixtures.ts";

const test = suite("plugins: accepted Wasm features");

// One function per feature; the marker is the ABI 1.1 function.
const wat = `(module
  (import "env" "memory" (memory 1 16))
  (global $v (mut v128) (v128.const i32x4 1 2 3 4))
  (global (export "counter") (mut i32) (i32.const 0))
  (table 1 funcref)
  (func (export "wasmplane_abi_version") (result i32) (i32.const 1))
  (func (export "wasmplane_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "wasmplane_free") (param i32))
  (func $bulk (memory.copy (i32.const 0) (i32.const 8) (i32.const 4)) (memory.fill (i32.const 0) (i32.const 0) (i32.const 4)))
  (func $signext (result i32) (i32.extend8_s (i32.const 255)))
  (func $sat (result i32) (i32.trunc_sat_f32_s (f32.const 1e20)))
  (func $multi (result i32 i32) (i32.const 1) (i32.const 2))
  (func $simd (result i32) (i32x4.extract_lane 0 (global.get $v)))
  (func $ref (result funcref) (ref.null func))
  (func $tail (result i32) (return_call $signext))
  (func (export "wasmplane_call") (param i32 i32) (result i32) (i32.const 0)))`;

test("a module using every accepted feature assembles with the build's flags and is admitted", () => {
  const dir = tempDir("wasmplane-feat-");
  writeFileSync(join(dir, "f.wat"), wat);
  execFileSync(join(projectRoot, "node_modules/.bin/wasm-as"), [
    ...WAT_FEATURE_FLAGS,
    join(dir, "f.wat"),
    "-o",
    join(dir, "f.wasm"),
  ]);
  const manifest = { name: "features", version: "1", kind: "lb", abi: 1, capabilities: [] };
  const bytes = appendCustomSection(
    readFileSync(join(dir, "f.wasm")),
    MANIFEST_SECTION,
    new TextEncoder().encode(JSON.stringify(manifest)),
  );
  const admitted = admitPlugin(bytes, undefined, { grants: [], memoryCapBytes: 16 << 20 });
  assert.is(admitted.inspected.abiMarker, "function");
  assert.is(admitted.inspected.abi, 1);
});

test("without the feature flags wasm-as refuses memory.copy (what the build used to do)", () => {
  const dir = tempDir("wasmplane-feat-");
  writeFileSync(join(dir, "f.wat"), wat);
  assert.throws(() =>
    execFileSync(
      join(projectRoot, "node_modules/.bin/wasm-as"),
      ["--mvp-features", join(dir, "f.wat"), "-o", join(dir, "f.wasm")],
      { stdio: "pipe" },
    ),
  );
});

test.run();
