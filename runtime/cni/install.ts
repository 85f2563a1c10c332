// Installs the CNI executable and the network configuration list. The executable is bundled from
// shim.ts with esbuild into one CommonJS file whose first line runs the Node binary that performed
// the install (container runtimes do not promise a PATH).
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { DEFAULT_AGENT_SOCKET } from "./spec.ts";

export const EXECUTABLE_NAME = "wasmplane";
export const CONFLIST_NAME = "10-wasmplane.conflist";

const shimSource = fileURLToPath(new URL("./shim.ts", import.meta.url));

/** Bundles the executable's source to plain JavaScript (no shebang). */
export async function bundleShim(): Promise<string> {
  const out = await build({
    entryPoints: [shimSource],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minify: true,
    write: false,
    legalComments: "none",
  });
  return out.outputFiles[0].text;
}

export interface ConflistOptions {
  /** Network name; the runtime keys its cache by it. */
  name?: string;
  agentSocket?: string;
  /** Chain Debian/upstream portmap after us (hostPort support). */
  portmap?: boolean;
}

/** The conflist: cniVersion 1.0.0 so the reference plugins (1.1.1, up to 1.0.0) chain after us. */
export function renderConflist(options: ConflistOptions = {}): Record<string, unknown> {
  const plugins: Record<string, unknown>[] = [
    { type: EXECUTABLE_NAME, agentSocket: options.agentSocket ?? DEFAULT_AGENT_SOCKET },
  ];
  if (options.portmap !== false)
    plugins.push({ type: "portmap", capabilities: { portMappings: true }, snat: true });
  return { cniVersion: "1.0.0", name: options.name ?? "wasmplane", plugins };
}

function writeAtomically(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

export interface InstallOptions extends ConflistOptions {
  binDir: string;
  confDir: string;
  /** The Node binary the executable runs with; defaults to the one running this install. */
  nodePath?: string;
}

export async function installCni(options: InstallOptions): Promise<{ executable: string; conflist: string }> {
  mkdirSync(options.binDir, { recursive: true });
  mkdirSync(options.confDir, { recursive: true });
  const executable = join(options.binDir, EXECUTABLE_NAME);
  const conflist = join(options.confDir, CONFLIST_NAME);
  const js = await bundleShim();
  writeAtomically(executable, `#!${options.nodePath ?? process.execPath}\n${js}`, 0o755);
  writeAtomically(conflist, `${JSON.stringify(renderConflist(options), null, 2)}\n`, 0o644);
  return { executable, conflist };
}
