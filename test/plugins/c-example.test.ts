// The C example (plugins/examples/c/) built with Debian's clang and lld, no SDK: with the ABI 1.1
// function marker it passes the conformance kit; the same source with the v1 global marker is refused
// with a message that names the problem (clang exports the variable's address) and the fix.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { admitPlugin, inspectModule, PluginRefused } from "../../runtime/plugins/admission.ts";
import { projectRoot } from "../../runtime/plugins/build.ts";
import { formatReport, runConformance } from "../../runtime/plugins/conformance.ts";
import { tempDir } from "./fixtures.ts";

const test = suite("plugins: C example (clang, no SDK)");
const buildScript = join(projectRoot, "plugins", "examples", "c", "build.sh");

function hasClang(): boolean {
  try {
    execFileSync("clang", ["--version"], { stdio: "ignore" });
    execFileSync("wasm-ld", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function build(out: string, ...flags: string[]): string {
  execFileSync("sh", [buildScript, out, ...flags], { stdio: ["ignore", "ignore", "pipe"] });
  return out;
}

if (!hasClang()) {
  // .ci/run installs clang and lld; a machine without them cannot build the example at all.
  test("clang and wasm-ld are installed (apt-get install clang lld)", () => {
    assert.unreachable("clang or wasm-ld missing: apt-get install clang lld");
  });
} else {
  const dir = tempDir("wasmplane-c-");

  test("built with the ABI 1.1 function marker, it is admitted and passes `plugin test`", async () => {
    const file = build(join(dir, "c-round-robin.wasm"));
    const info = inspectModule(readFileSync(file), file);
    assert.is(info.abiMarker, "function");
    assert.is(info.abi, 1);
    assert.is(info.manifest?.name, "c-round-robin", "manifest from the custom section clang emitted");
    assert.equal(info.manifestSource, { kind: "section" });
    const report = await runConformance(file);
    assert.ok(report.passed, formatReport(report));
    assert.not.ok(
      report.checks.some((c) => c.status === "warn"),
      formatReport(report),
    );
  });

  test("built with the v1 global marker, clang exports its address and admission says so and how to fix it", () => {
    const file = build(join(dir, "c-v1.wasm"), "-DWASMPLANE_V1_GLOBAL_MARKER", "-Wl,--export=wasmplane_abi");
    const bytes = readFileSync(file);
    let problems: string[] = [];
    try {
      admitPlugin(bytes, file, { grants: [], memoryCapBytes: 64 << 20 });
    } catch (err) {
      if (!(err instanceof PluginRefused)) throw err;
      problems = err.problems;
    }
    const text = problems.join("\n");
    assert.match(
      text,
      /wasmplane_abi = \d+ is the address of a variable \(which holds 1\), not the ABI version/,
    );
    assert.match(text, "LLVM toolchains (clang, rustc, zig) export a global variable as its address");
    assert.match(text, 'export_name("wasmplane_abi_version")');
    assert.is(problems.length, 1, text);
  });

  test("`wasmplane plugin test` exits 0 for the C plugin", () => {
    const file = build(join(dir, "cli.wasm"));
    const out = execFileSync(
      "npx",
      ["tsx", join(projectRoot, "runtime", "main.ts"), "plugin", "test", file],
      {
        cwd: projectRoot,
        encoding: "utf8",
      },
    );
    assert.match(out, "(c-round-robin, kind lb)");
    assert.match(out, /passed \(\d+ checks\)/);
  });
}

test.run();
