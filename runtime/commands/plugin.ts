// `wasmplane plugin build|inspect|test|lock`: build plugins, describe a module, run the conformance
// kit against any module, and pin modules by sha256.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type InspectedPlugin, inspectModule } from "../plugins/admission.ts";
import { buildPlugins, describeBuild, projectRoot } from "../plugins/build.ts";
import { type Capability, isCapability } from "../plugins/capabilities.ts";
import { formatReport, runConformance } from "../plugins/conformance.ts";
import { findModules, writeLock } from "../plugins/lock.ts";
import { writeErr, writeOut } from "../plugins/platform.ts";

export const summary = "build|inspect|test|lock Wasm plugins";

const USAGE = `usage: wasmplane plugin <subcommand>
  build [--force]                 compile plugins/<kind>/*.ts (asc) and *.wat (wasm-as) into build/plugins/<kind>/
  inspect FILE [--json]           manifest, ABI version, imports and the grants they need, exports, memory, size, sha256
  test FILE [--grant log,random,clock] [--memory-cap MiB] [--budget MS]
                                  the conformance kit of the module's kind: vectors, properties, fault checks
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
  lines.push(`  ABI marker wasmplane_abi: ${p.abi ?? "missing"}`);
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

function inspect(args: string[]): number {
  const json = args.includes("--json");
  const [file] = args.filter((a) => a !== "--json");
  if (!file) throw new Error("plugin inspect needs a FILE");
  const info = inspectModule(readFileSync(file), file);
  if (json) {
    const { info: _raw, ...rest } = info;
    writeOut(JSON.stringify(rest, null, 2));
  } else writeOut(describeInspection(info));
  return info.parseError ? 1 : 0;
}

async function test(args: string[]): Promise<number> {
  const grantText = flag(args, "--grant");
  const cap = flag(args, "--memory-cap");
  const budget = flag(args, "--budget");
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
    memoryCapBytes: cap ? Number(cap) * 1024 * 1024 : undefined,
    callBudgetMs: budget ? Number(budget) : undefined,
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
  if (sub === "build") {
    writeOut(describeBuild(await buildPlugins({ outDir, force: rest.includes("--force") }), outDir));
    return 0;
  }
  if (sub === "inspect") return inspect(rest);
  if (sub === "test") return test(rest);
  if (sub === "lock") return lock(rest);
  writeErr(USAGE);
  return 2;
}
