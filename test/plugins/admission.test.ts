// Admission, the one choke point before instantiation: it reads the module itself (imports with
// limits, the ABI marker's value, the manifest) and refuses with every problem named.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { admitPlugin, inspectModule, PluginRefused } from "../../runtime/plugins/admission.ts";
import { MANIFEST_SECTION } from "../../runtime/plugins/manifest.ts";
import { appendCustomSection, readWasmModule } from "../../runtime/plugins/wasm-binary.ts";
import { tempDir, watToWasm } from "./fixtures.ts";

const test = suite("plugins: admission");
const MiB = 1024 * 1024;

const abiFunctions = `
  (global (export "wasmplane_abi") i32 (i32.const 1))
  (func (export "wasmplane_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "wasmplane_free") (param i32))
  (func (export "wasmplane_call") (param i32 i32) (result i32) (i32.const 0))`;

const manifest = (extra = {}) =>
  new TextEncoder().encode(
    JSON.stringify({ name: "t", version: "1", kind: "lb", abi: 1, capabilities: [], ...extra }),
  );

function refusal(
  bytes: Uint8Array,
  policy: Partial<Parameters<typeof admitPlugin>[2]> = {},
  file?: string,
): string[] {
  try {
    admitPlugin(bytes, file, { grants: [], memoryCapBytes: 16 * MiB, ...policy });
  } catch (err) {
    if (err instanceof PluginRefused) return err.problems;
    throw err;
  }
  return [];
}

test("reads limits, the marker's constant and custom sections", async () => {
  const bytes = appendCustomSection(
    await watToWasm(`(module (import "env" "memory" (memory 2 300)) ${abiFunctions})`),
    MANIFEST_SECTION,
    manifest(),
  );
  const info = readWasmModule(bytes);
  assert.equal(info.imports[0].desc, { kind: "memory", limits: { min: 2, max: 300, shared: false } });
  const inspected = inspectModule(bytes);
  assert.is(inspected.abi, 1);
  assert.is(inspected.manifest?.name, "t");
  assert.equal(refusal(bytes), []);
  const admitted = admitPlugin(bytes, undefined, { grants: [], memoryCapBytes: 16 * MiB });
  assert.equal(
    admitted.memory,
    { imported: true, initialPages: 2, maximumPages: 256 },
    "host caps the maximum",
  );
});

test("own memory: no maximum, or a maximum above the cap, is refused; within the cap is accepted", async () => {
  const withMemory = async (limits: string) =>
    appendCustomSection(
      await watToWasm(`(module (memory (export "memory") ${limits}) ${abiFunctions})`),
      MANIFEST_SECTION,
      manifest(),
    );
  assert.match(
    refusal(await withMemory("1")).join(),
    "defines its own memory with no maximum; the cap is 256 pages",
  );
  assert.match(
    refusal(await withMemory("1 1000")).join(),
    "declares a memory maximum of 1000 pages, above the cap of 256 pages",
  );
  assert.equal(refusal(await withMemory("1 256")), []);
  assert.match(
    refusal(
      appendCustomSection(
        await watToWasm(`(module (import "env" "memory" (memory 300)) ${abiFunctions})`),
        MANIFEST_SECTION,
        manifest(),
      ),
    ).join(),
    "needs 300 pages of memory at start, above the cap of 256 pages",
  );
});

test("every problem is named at once: manifest, exports, signatures, kind", async () => {
  const bytes = await watToWasm(`(module (memory (export "memory") 1 2)
    (global (export "wasmplane_abi") i32 (i32.const 1))
    (func (export "wasmplane_alloc") (param i64) (result i32) (i32.const 0)))`);
  const problems = refusal(bytes);
  assert.ok(
    problems.some((p) =>
      p.startsWith("no manifest: neither a custom section wasmplane.manifest nor a sidecar"),
    ),
  );
  assert.ok(
    problems.includes("export wasmplane_alloc has (i64) -> (i32), want (i32) -> (i32)"),
    problems.join("\n"),
  );
  assert.ok(problems.includes("missing export wasmplane_call (i32, i32) -> (i32)"));
  const ipam = appendCustomSection(
    await watToWasm(`(module (memory (export "memory") 1 2) ${abiFunctions})`),
    MANIFEST_SECTION,
    manifest({ kind: "ipam" }),
  );
  assert.ok(refusal(ipam, { expectedKind: "lb" }).includes("found kind ipam, expected kind lb"));
});

test("a sidecar manifest serves a module without the custom section", async () => {
  const dir = tempDir();
  const file = join(dir, "plain.wasm");
  const bytes = await watToWasm(`(module (memory (export "memory") 1 2) ${abiFunctions})`);
  writeFileSync(file, bytes);
  writeFileSync(
    join(dir, "plain.manifest.json"),
    JSON.stringify({ name: "plain", version: "2", kind: "lb", abi: 1 }),
  );
  assert.equal(refusal(bytes, {}, file), []);
  writeFileSync(
    join(dir, "plain.manifest.json"),
    JSON.stringify({ name: "Bad Name!", version: "", kind: "dns", abi: "1" }),
  );
  const [problem] = refusal(bytes, {}, file);
  assert.match(problem, "plain.manifest.json: name: want lower-case letters");
  assert.match(problem, 'kind: want one of lb, ipam, policy (got "dns")');
  assert.match(problem, 'abi: want an integer (got "1")');
});

test("manifest `reads`: lb field names are taken, unknown names and other kinds are refused", async () => {
  const module = await watToWasm(`(module (memory (export "memory") 1 2) ${abiFunctions})`);
  const withReads = (extra: object) => appendCustomSection(module, MANIFEST_SECTION, manifest(extra));
  assert.equal(refusal(withReads({ reads: ["key", "endpoint.address", "endpoint.port"] })), []);
  const [unknown] = refusal(withReads({ reads: ["key", "endpoint.ip"] }));
  assert.match(unknown, "reads: want a list of key, nodeZone, nodeName, params, endpoint.address");
  assert.match(unknown, '(got ["key","endpoint.ip"])');
  const [ipam] = refusal(withReads({ kind: "ipam", reads: [] }));
  assert.match(ipam, 'reads: kind "ipam" takes no field list');
});

test("imports: a capability not requested by the manifest, and a wrong signature, are refused", async () => {
  const bytes = appendCustomSection(
    await watToWasm(
      `(module (import "wasmplane" "clock_ms" (func (result i32))) (memory (export "memory") 1 2) ${abiFunctions})`,
    ),
    MANIFEST_SECTION,
    manifest(),
  );
  const problems = refusal(bytes, { grants: ["clock"] });
  assert.ok(
    problems.includes("imports wasmplane.clock_ms as () -> (i32), the host provides () -> (f64)"),
    problems.join("\n"),
  );
  assert.ok(problems.includes('imports wasmplane.clock_ms but its manifest does not request "clock"'));
});

test("ABI 1.1: the function marker is read from its constant body; other bodies and versions are refused", async () => {
  const rest = abiFunctions.replace(`(global (export "wasmplane_abi") i32 (i32.const 1))`, "");
  const withMarker = async (body: string) =>
    appendCustomSection(
      await watToWasm(
        `(module (import "env" "memory" (memory 1)) (func (export "wasmplane_abi_version") (result i32) ${body}) ${rest})`,
      ),
      MANIFEST_SECTION,
      manifest(),
    );
  const ok = await withMarker("(i32.const 1)");
  assert.equal(refusal(ok), []);
  assert.is(inspectModule(ok).abiMarker, "function");
  assert.match(
    refusal(await withMarker("(i32.add (i32.const 0) (i32.const 1))")).join(),
    "wasmplane_abi_version must be a function () -> (i32) whose body is only `i32.const <version>`",
  );
  assert.match(
    refusal(await withMarker("(i32.const 2)")).join(),
    "found ABI version 2 (exported wasmplane_abi_version()); this host speaks ABI 1",
  );
  assert.match(
    refusal(
      appendCustomSection(
        await watToWasm(`(module (import "env" "memory" (memory 1)) ${rest})`),
        MANIFEST_SECTION,
        manifest(),
      ),
    ).join(),
    "exports neither wasmplane_abi_version",
  );
});

test.run();
