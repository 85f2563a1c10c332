// Builds every plugin entry point: plugins/<dir>/<name>.ts with asc (in-process, through asconfig.json)
// and plugins/<dir>/<name>.wat with binaryen's wasm-as, into build/plugins/<dir>/<name>.wasm. The
// manifest is embedded as the custom section `wasmplane.manifest`: defaults (name = file name,
// kind = directory, abi = 1) merged with a `// wasmplane:manifest {…}` line in the source (`;;` in .wat).
// An output newer than its source, its kind's helper subdirectories (plugins/<kind>/*/), the SDK,
// asconfig.json and this file is left alone, so `npm test` stays fast.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { isKnownKind } from "./kinds.ts";
import { MANIFEST_SECTION, parseManifest, sidecarPath } from "./manifest.ts";
import { appendCustomSection } from "./wasm-binary.ts";

export const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Flags every AssemblyScript plugin is built with: host-capped imported memory, no `env.abort` import. */
export const ASC_FLAGS = ["--target", "release", "--importMemory", "--use", "abort="];

/**
 * WebAssembly features a plugin may use: what Node 20's engine validates by default, less what ABI 1
 * excludes (threads: shared memory is refused; exception handling: V8 11.3 has only the legacy
 * proposal). asc enables the first four by default; wasm-as needs them named.
 */
export const WASM_FEATURES = [
  "bulk-memory",
  "sign-ext",
  "nontrapping-float-to-int",
  "mutable-globals",
  "multivalue",
  "simd",
  "reference-types",
  "tail-call",
] as const;

export const WAT_FEATURE_FLAGS = WASM_FEATURES.map((f) => `--enable-${f}`);

export interface BuildEntry {
  source: string;
  output: string;
  kindDir: string;
  name: string;
}

export interface BuildResult {
  built: string[];
  upToDate: string[];
}

const SDK_DIR = "sdk";
const MANIFEST_LINE = /^\s*(?:\/\/|;;)\s*wasmplane:manifest\s+(\{.*\})\s*$/m;

export function findEntries(pluginsDir: string, outDir: string): BuildEntry[] {
  const entries: BuildEntry[] = [];
  if (!existsSync(pluginsDir)) return entries;
  for (const dir of readdirSync(pluginsDir).sort()) {
    const path = join(pluginsDir, dir);
    if (dir === SDK_DIR || !statSync(path).isDirectory()) continue;
    for (const file of readdirSync(path).sort()) {
      if (!file.endsWith(".ts") && !file.endsWith(".wat")) continue;
      const name = file.replace(/\.(ts|wat)$/, "");
      entries.push({
        source: join(path, file),
        output: join(outDir, dir, `${name}.wasm`),
        kindDir: dir,
        name,
      });
    }
  }
  return entries;
}

/** The manifest a source declares, with the defaults filled in. */
export function sourceManifest(entry: BuildEntry): Uint8Array {
  const text = readFileSync(entry.source, "utf8");
  const match = MANIFEST_LINE.exec(text);
  let declared: Record<string, unknown> = {};
  if (match) {
    try {
      declared = JSON.parse(match[1]);
    } catch (err) {
      throw new Error(`${entry.source}: wasmplane:manifest line is not JSON: ${(err as Error).message}`);
    }
  }
  const manifest = {
    name: entry.name,
    version: "0.0.0",
    ...(isKnownKind(entry.kindDir) ? { kind: entry.kindDir } : {}),
    abi: 1,
    capabilities: [],
    ...declared,
  };
  parseManifest(manifest, entry.source);
  return new TextEncoder().encode(JSON.stringify(manifest));
}

function newestMtime(paths: string[]): number {
  let newest = 0;
  for (const p of paths) {
    const st = statSync(p);
    if (st.isDirectory()) newest = Math.max(newest, newestMtime(readdirSync(p).map((f) => join(p, f))));
    else newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

async function compileAssemblyScript(entry: BuildEntry): Promise<Uint8Array> {
  const asc = (await import("assemblyscript/asc")).default;
  let binary: Uint8Array | null = null;
  const stderr: string[] = [];
  const result = await asc.main(
    [relative(projectRoot, entry.source), "--config", "asconfig.json", ...ASC_FLAGS, "--outFile", "out.wasm"],
    {
      writeFile: (name: string, contents: Uint8Array | string) => {
        if (name.endsWith(".wasm") && typeof contents !== "string") binary = contents;
      },
      stderr: {
        write: (chunk: string | Uint8Array) => {
          stderr.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
          return true;
        },
      } as never,
    },
  );
  if (result.error || !binary)
    throw new Error(`asc failed for ${entry.source}:\n${stderr.join("")}${result.error?.message ?? ""}`);
  return binary;
}

function assembleText(entry: BuildEntry): Uint8Array {
  const local = join(projectRoot, "node_modules/.bin/wasm-as");
  const tool = existsSync(local) ? local : "wasm-as";
  const tmp = `${entry.output}.tmp`;
  execFileSync(tool, [...WAT_FEATURE_FLAGS, entry.source, "-o", tmp], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const bytes = readFileSync(tmp);
  execFileSync("rm", ["-f", tmp]);
  return bytes;
}

/** Builds out-of-date entries (all of them with `force`). */
export async function buildPlugins(
  options: {
    pluginsDir?: string;
    outDir?: string;
    force?: boolean;
    /** Told of each plugin as it compiles and when it is done (a full build takes tens of seconds). */
    progress?: (line: string) => void;
  } = {},
) {
  const pluginsDir = options.pluginsDir ?? join(projectRoot, "plugins");
  const outDir = options.outDir ?? join(projectRoot, "build", "plugins");
  const shared = [
    join(pluginsDir, SDK_DIR),
    fileURLToPath(import.meta.url),
    join(projectRoot, "asconfig.json"),
  ].filter(existsSync);
  const sharedMtime = newestMtime(shared);
  const result: BuildResult = { built: [], upToDate: [] };
  for (const entry of findEntries(pluginsDir, outDir)) {
    const sidecar = entry.source.replace(/\.(ts|wat)$/, ".manifest.json");
    // Helpers in subdirectories of the kind's directory (e.g. plugins/ipam/lib/) count as inputs too.
    const kindPath = join(pluginsDir, entry.kindDir);
    const helpers = readdirSync(kindPath)
      .map((f) => join(kindPath, f))
      .filter((p) => statSync(p).isDirectory());
    const own = [entry.source, ...(existsSync(sidecar) ? [sidecar] : []), ...helpers];
    const inputs = Math.max(sharedMtime, newestMtime(own));
    if (!options.force && existsSync(entry.output) && statSync(entry.output).mtimeMs > inputs) {
      result.upToDate.push(entry.output);
      continue;
    }
    const name = `${entry.kindDir}/${basename(entry.output)}`;
    const started = performance.now();
    options.progress?.(`compiling ${name}`);
    // Before compiling: wasm-as writes its output there.
    mkdirSync(join(outDir, entry.kindDir), { recursive: true });
    const binary = entry.source.endsWith(".wat") ? assembleText(entry) : await compileAssemblyScript(entry);
    if (existsSync(sidecar)) {
      // A hand-written module may carry its manifest beside it instead of inside it.
      writeFileSync(entry.output, binary);
      copyFileSync(sidecar, sidecarPath(entry.output));
    } else writeFileSync(entry.output, appendCustomSection(binary, MANIFEST_SECTION, sourceManifest(entry)));
    result.built.push(entry.output);
    options.progress?.(`  ${name} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return result;
}

export function describeBuild(result: BuildResult, outDir: string): string {
  const names = result.built.map((p) => `${basename(dirname(p))}/${basename(p)}`);
  return `built ${result.built.length} plugin(s)${names.length ? ` (${names.join(", ")})` : ""}, ${result.upToDate.length} up to date, in ${outDir}`;
}
