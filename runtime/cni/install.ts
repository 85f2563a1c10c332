// Installs the CNI executable and the network configuration list. The executable is runtime/cni/shim.c
// built as a static binary (it needs nothing on the host: no Node, no shared libraries); it is
// compiled on first use with the system C compiler into build/native/, as the netlink sender is.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_AGENT_SOCKET } from "./spec.ts";

export const EXECUTABLE_NAME = "wasmplane";
export const CONFLIST_NAME = "10-wasmplane.conflist";

const SOURCE = fileURLToPath(new URL("./shim.c", import.meta.url));
const PROJECT_BUILD = fileURLToPath(new URL("../../build/native/", import.meta.url));

/** The compiler command line (without output and source), also used by deploy/Containerfile's build stage. */
export const CNI_CFLAGS = ["-static", "-O2", "-Wall"];

/** File name of the built executable: it changes with the source, so a stale build is never used. */
export function cniBinaryName(source = readFileSync(SOURCE)): string {
  return `wasmplane-cni-${createHash("sha256").update(source).digest("hex").slice(0, 12)}`;
}

/**
 * Path of the static CNI executable, compiling runtime/cni/shim.c into build/native/ (or the temp
 * directory when the project is read-only) when it is not built yet. Throws when it cannot be
 * built, naming the compiler's complaint.
 */
export function cniBinary(): string {
  const name = cniBinaryName();
  const problems: string[] = [];
  for (const dir of [PROJECT_BUILD, join(tmpdir(), "wasmplane-native")]) {
    const binary = join(dir, name);
    if (existsSync(binary)) return binary;
    try {
      mkdirSync(dir, { recursive: true });
      const partial = `${binary}.${process.pid}.tmp`;
      execFileSync(process.env.CC ?? "cc", [...CNI_CFLAGS, "-o", partial, SOURCE], { stdio: "pipe" });
      renameSync(partial, binary);
      return binary;
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      problems.push(`${binary}: ${stderr || (err as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(
    `cannot build the CNI executable from ${SOURCE} (needs a C compiler and a static libc, e.g. Debian's gcc and libc6-dev): ${problems.join("; ")}`,
  );
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

/** Writes next to `path` and renames: a runtime never executes or reads a half-written file. */
function replaceAtomically(path: string, write: (tmp: string) => void, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  write(tmp);
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

export interface InstallOptions extends ConflistOptions {
  binDir: string;
  confDir: string;
}

export async function installCni(options: InstallOptions): Promise<{ executable: string; conflist: string }> {
  const built = cniBinary();
  mkdirSync(options.binDir, { recursive: true });
  mkdirSync(options.confDir, { recursive: true });
  const executable = join(options.binDir, EXECUTABLE_NAME);
  const conflist = join(options.confDir, CONFLIST_NAME);
  replaceAtomically(executable, (tmp) => copyFileSync(built, tmp), 0o755);
  const text = `${JSON.stringify(renderConflist(options), null, 2)}\n`;
  replaceAtomically(conflist, (tmp) => writeFileSync(tmp, text), 0o644);
  return { executable, conflist };
}
