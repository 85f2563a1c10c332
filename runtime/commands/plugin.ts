// `wasmplane plugin build|inspect|test|lock`: build plugins, describe a module, run the conformance
// kit against any module, and pin modules by sha256.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type InspectedPlugin, inspectModule, manifestPinProblem } from "../plugins/admission.ts";
import { buildPlugins, describeBuild, projectRoot } from "../plugins/build.ts";
import { type Capability, isCapability } from "../plugins/capabilities.ts";
import { formatReport, runConformance } from "../plugins/conformance.ts";
import { findModules, lockedPin, readLock, writeLock } from "../plugins/lock.ts";
import { writeErr, writeOut } from "../plugins/platform.ts";

export const summary = "build|inspect|test|lock Wasm plugins";

const USAGE = `usage: wasmplane plugin <subcommand>
  build [--force]                 compile plugins/<kind>/*.ts (asc) and *.wat (wasm-as) into build/plugins/<kind>/
  inspect FILE [--json] [--lock FILE]
                                  manifest, ABI version, imports and the grants they need, exports, memory, size,
                                  sha256; with --lock, exit 1 when the module or its manifest differs from its pin
  test FILE [--grant log,random,clock] [--memory-cap MiB] [--budget MS] [--lock FILE]
                                  the conformance kit of the module's kind: vectors, properties, fault checks,
                                  under the agent's defaults for the kind (no grants, its memory cap and budget)
  lock [--lock FILE] [PATH…]      pin the sha256 of every .wasm under PATHs (default: build/plugins/<kind>/
                                  except test/) in FILE (default build/plugins/plugins.lock.json)`;

const outDir = join(projectRoot, "build", "plugins");
export const DEFAULT_LOCK_FILE = join(outDir, "plugins.lock.json");

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith("--")) throw new Error(`${name} needs a value`);
  args.splice(i, 2);
  return value;
}

function describeInspection(p: InspectedPlugin): string {
  const lines = [`${p.file}: ${p.size} bytes, sha256 ${p.sha256}`];
  if (p.parseError) return [...lines, `  not a valid module: ${p.parseError}`].join("\n");
  const m = p.manifest;
  if (m) {
    lines.push(
      `  manifest: ${m.name} ${m.version}, kind ${m.kind}, ABI ${m.abi}${m.description ? ` — ${m.description}` : ""}`,
    );
    lines.push(`  requested capabilities: ${m.capabilities.length ? m.capabilities.join(", ") : "none"}`);
    lines.push(
      `  reads: ${m.reads === undefined ? "every request field" : m.reads.length ? m.reads.join(", ") : "only the endpoint count"}`,
    );
  } else lines.push(`  manifest: ${p.manifestError ?? "none (no wasmplane.manifest section, no sidecar)"}`);
  const marker =
    p.abiMarker === "function" ? "function wasmplane_abi_version (ABI 1.1)" : "global wasmplane_abi (ABI 1)";
  lines.push(p.abiProblem ? `  ABI marker: unusable: ${p.abiProblem}` : `  ABI marker: ${marker} = ${p.abi}`);
  const src = p.manifestSource;
  if (src)
    lines.push(
      `  manifest source: ${src.kind === "section" ? "custom section wasmplane.manifest" : `${src.path}, sha256 ${src.sha256}`}`,
    );
  const mem = p.memory;
  lines.push(
    mem
      ? `  memory: ${mem.imported ? "imported env.memory (host-created, capped)" : "own"}, ${mem.minPages} pages at start, maximum ${mem.maxPages ?? "none declared"}`
      : "  memory: none",
  );
  lines.push("  imports:");
  if (p.imports.length === 0) lines.push("    (none)");
  for (const i of p.imports) {
    const needs =
      i.kind === "memory"
        ? "the capped memory (always provided)"
        : i.capability
          ? `needs grant "${i.capability}"`
          : "NO grant provides this";
    lines.push(`    ${i.module}.${i.name} ${i.signature ?? i.kind} — ${needs}`);
  }
  lines.push("  exports:");
  for (const e of p.exports) lines.push(`    ${e.name} ${e.signature ?? e.kind}`);
  return lines.join("\n");
}

/** The agent's refusal for a module that does not match its pin, or undefined when it does. */
function pinProblem(info: InspectedPlugin, file: string, lockFile: string): string | undefined {
  const pin = lockedPin(readLock(lockFile), lockFile, file);
  if (pin.sha256 !== info.sha256)
    return `sha256 ${info.sha256} differs from the locked ${pin.sha256}; if the change is intended, run \`wasmplane plugin lock\``;
  return manifestPinProblem(info.manifestSource, pin.manifestSha256);
}

function inspect(args: string[]): number {
  const lockFile = flag(args, "--lock");
  const json = args.includes("--json");
  const [file] = args.filter((a) => a !== "--json");
  if (!file) throw new Error("plugin inspect needs a FILE");
  const info = inspectModule(readFileSync(file), file);
  const problem = lockFile ? pinProblem(info, file, lockFile) : undefined;
  if (json) {
    const { info: _raw, ...rest } = info;
    writeOut(
      JSON.stringify(lockFile ? { ...rest, lock: { file: lockFile, ok: !problem, problem } } : rest, null, 2),
    );
  } else {
    writeOut(describeInspection(info));
    if (lockFile)
      writeOut(
        problem
          ? `  lock ${lockFile}: REFUSED: ${info.manifest?.name ?? file} (${file}) refused: ${problem}`
          : `  lock ${lockFile}: module and manifest match their pin`,
      );
  }
  return info.parseError || problem ? 1 : 0;
}

/** A flag's value as a whole number above zero; anything else is the user's mistake, said so. */
function positiveInteger(text: string, flagName: string, unit: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0)
    throw new Error(`${flagName}: want a whole number of ${unit} above 0, got ${JSON.stringify(text)}`);
  return n;
}

async function test(args: string[]): Promise<number> {
  const grantText = flag(args, "--grant");
  const cap = flag(args, "--memory-cap");
  const budget = flag(args, "--budget");
  const lockFile = flag(args, "--lock");
  const [file] = args;
  if (!file) throw new Error("plugin test needs a FILE");
  let grants: Capability[] | undefined;
  if (grantText !== undefined) {
    grants = grantText.split(",").filter(Boolean) as Capability[];
    const bad = grants.filter((g) => !isCapability(g));
    if (bad.length)
      throw new Error(`--grant: unknown capability ${bad.join(", ")} (known: log, random, clock)`);
  }
  const report = await runConformance(file, {
    grants,
    memoryCapBytes: cap === undefined ? undefined : positiveInteger(cap, "--memory-cap", "MiB") * 1024 * 1024,
    callBudgetMs: budget === undefined ? undefined : positiveInteger(budget, "--budget", "milliseconds"),
    lockFile,
  });
  writeOut(formatReport(report));
  return report.passed ? 0 : 1;
}

function lock(args: string[]): number {
  const lockFile = flag(args, "--lock") ?? DEFAULT_LOCK_FILE;
  const paths =
    args.length > 0
      ? args
      : [join(outDir, "lb"), join(outDir, "ipam"), join(outDir, "policy")].filter(existsSync);
  const modules = paths.flatMap((p) => {
    if (!existsSync(p)) throw new Error(`${p} does not exist`);
    return statSync(p).isDirectory() ? findModules(p) : [p];
  });
  if (modules.length === 0)
    throw new Error(`no .wasm modules under ${paths.join(", ")}; run \`wasmplane plugin build\``);
  const written = writeLock(lockFile, modules);
  for (const [key, entry] of Object.entries(written.plugins)) writeOut(`${entry.sha256}  ${key}`);
  writeOut(`locked ${modules.length} module(s) in ${lockFile}`);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  // --help anywhere (before a `--`) prints the usage and does nothing else: no build, no file opened.
  const options = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  if (options.includes("--help") || options.includes("-h") || sub === "help") {
    writeOut(USAGE);
    return 0;
  }
  if (sub === "build") {
    const progress = (line: string) => writeErr(line);
    writeOut(
      describeBuild(await buildPlugins({ outDir, force: rest.includes("--force"), progress }), outDir),
    );
    return 0;
  }
  if (sub === "inspect") return inspect(rest);
  if (sub === "test") return test(rest);
  if (sub === "lock") return lock(rest);
  writeErr(USAGE);
  return 2;
}
