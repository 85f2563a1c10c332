// `wasmplane plugin build|inspect|test|lock`: build plugins, describe a module, run the conformance
// kit against any module, and pin modules by sha256.
import { join } from "node:path";
import { buildPlugins, describeBuild, projectRoot } from "../plugins/build.ts";
import { writeErr, writeOut } from "../plugins/platform.ts";

export const summary = "build|inspect|test|lock Wasm plugins";

const USAGE = `usage: wasmplane plugin <subcommand>
  build [--force]                 compile plugins/<kind>/*.ts (asc) and *.wat (wasm-as) into build/plugins/<kind>/
  inspect FILE [--json]           manifest, ABI version, imports and the grants they need, exports, memory, size, sha256
  test FILE [--grant CAPS] [--memory-cap MiB] [--budget MS]
                                  the conformance kit for the module's kind: vectors and fault checks
  lock [--lock FILE] [PATH…]      write sha256 of every .wasm under PATHs (default build/plugins/{lb,ipam,policy})
                                  into FILE (default build/plugins/plugins.lock.json)`;

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "build") {
    const outDir = join(projectRoot, "build", "plugins");
    writeOut(describeBuild(await buildPlugins({ outDir, force: rest.includes("--force") }), outDir));
    return 0;
  }
  writeErr(USAGE);
  return 2;
}
