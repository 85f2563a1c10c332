// Shared by the plugin tests: built modules (incremental build, a no-op when up to date), a lock
// file in a temp directory, request builders, and a seeded PRNG for distribution tests.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LbEndpoint, LbRequest } from "../../runtime/lb/plan.ts";
import { buildPlugins, projectRoot } from "../../runtime/plugins/build.ts";
import { findModules, writeLock } from "../../runtime/plugins/lock.ts";

export const builtDir = join(projectRoot, "build", "plugins");
export const lbDir = join(builtDir, "lb");
export const testDir = join(builtDir, "test");
export const SHIPPED_LB = [
  "local-first",
  "maglev",
  "random",
  "round-robin",
  "source-hash",
  "topology",
  "weighted",
];

let built: Promise<unknown> | null = null;
export function ensureBuilt(): Promise<unknown> {
  built ??= buildPlugins({ outDir: builtDir });
  return built;
}

export function tempDir(prefix = "wasmplane-plg-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A lock file pinning every built lb and test module. */
export function lockAll(dir = tempDir()): string {
  const lockFile = join(dir, "plugins.lock.json");
  writeLock(lockFile, findModules(builtDir));
  return lockFile;
}

export function endpoints(
  n: number,
  opts: { base?: string; zones?: string[]; port?: number } = {},
): LbEndpoint[] {
  const zones = opts.zones ?? ["zone-a", "zone-b"];
  return Array.from({ length: n }, (_, i) => ({
    address: `${opts.base ?? "10.0"}.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    port: opts.port ?? 8080,
    weight: 1,
    zone: zones[i % zones.length],
  }));
}

export function lbRequest(
  key: string,
  algorithm: string,
  eps: LbEndpoint[],
  extra: Partial<LbRequest> = {},
): LbRequest {
  return { key, algorithm, endpoints: eps, params: {}, ...extra };
}

/** mulberry32: a small seeded PRNG so distribution tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Assembles WebAssembly text with binaryen's wasm-as: the native one when installed (Debian's
 * binaryen; milliseconds), else the copy assemblyscript ships (a few seconds per call).
 */
export async function watToWasm(text: string, dir = tempDir()): Promise<Uint8Array> {
  const src = join(dir, "module.wat");
  const out = join(dir, "module.wasm");
  writeFileSync(src, text);
  const tool = existsSync("/usr/bin/wasm-as")
    ? "/usr/bin/wasm-as"
    : join(projectRoot, "node_modules/.bin/wasm-as");
  execFileSync(tool, [src, "-o", out]);
  return readFileSync(out);
}

export function collectLog(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}
