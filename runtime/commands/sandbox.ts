// `wasmplane sandbox` (what `npm start` runs): a local sandbox in network namespaces.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type SandboxOptions, sandboxPrerequisiteProblem, startSandbox } from "../sandbox/sandbox.ts";

export const summary = "run a local sandbox: node, client and pod namespaces, the agent, echo servers";

const defaultExamples = fileURLToPath(new URL("../../examples/", import.meta.url));

const USAGE = `usage: wasmplane sandbox [--manifests DIR] [--lb-plugin-dir DIR [--lb-lock FILE] [--lb-default ALG]]

Builds namespaces for the endpoints in DIR (default examples), runs the agent, removes all on Ctrl-C.
  --lb-plugin-dir DIR  LB plugins: every .wasm in DIR through the Wasm host, named by file
                       (DIR/first.wasm is algorithm "first"); kill -HUP <sandbox PID> reloads them
  --lb-lock FILE       the lock file pinning them (default build/plugins/plugins.lock.json)
  --lb-default ALG     algorithm for services without an lb.wasmplane.io/algorithm annotation
                       (default random)`;

export interface Flags {
  manifests?: string;
  "lb-plugin-dir"?: string;
  "lb-lock"?: string;
  "lb-default"?: string;
  help?: boolean;
}

/**
 * The directory relative paths in flags are taken from: the user's. `npm start` runs the script in the
 * project root, so under it that is npm's INIT_CWD (where `npm --prefix CHECKOUT start` was typed).
 */
export function userDirectory(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return env.npm_lifecycle_event === "start" && env.INIT_CWD ? env.INIT_CWD : cwd;
}

/** The `lb` option from the flags, its paths made absolute from `base`. */
export function lbOption(values: Flags, base: string): SandboxOptions["lb"] {
  const dir = values["lb-plugin-dir"];
  if (dir === undefined) {
    const stray = (["lb-lock", "lb-default"] as const).filter((f) => values[f] !== undefined);
    if (stray.length > 0) throw new Error(`--${stray.join(" and --")} needs --lb-plugin-dir`);
    return undefined;
  }
  return {
    pluginDir: resolve(base, dir),
    ...(values["lb-lock"] !== undefined ? { lockFile: resolve(base, values["lb-lock"]) } : {}),
    ...(values["lb-default"] !== undefined ? { default: values["lb-default"] } : {}),
  };
}

export async function run(args: string[]): Promise<number> {
  let values: Flags;
  let lb: SandboxOptions["lb"];
  try {
    ({ values } = parseArgs({
      args,
      options: {
        manifests: { type: "string" },
        "lb-plugin-dir": { type: "string" },
        "lb-lock": { type: "string" },
        "lb-default": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
    lb = lbOption(values, userDirectory());
  } catch (err) {
    console.error(`wasmplane sandbox: ${(err as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const problem = sandboxPrerequisiteProblem();
  if (problem) {
    console.error(`wasmplane sandbox: ${problem}`);
    return 1;
  }
  const out = (line: string) => console.log(line);
  const sandbox = await startSandbox({
    examplesDir: values.manifests ? resolve(userDirectory(), values.manifests) : defaultExamples,
    countsIntervalMs: 2000,
    out,
    ...(lb ? { lb } : {}),
  });
  if (lb) {
    // As the agent does: SIGHUP re-reads the lock and swaps changed modules in.
    process.on("SIGHUP", () => {
      out("SIGHUP: reloading LB plugins");
      sandbox.reloadPlugins().then(
        () => out("LB plugins reloaded"),
        (err: Error) => out(`LB plugin reload failed: ${err.message}`),
      );
    });
    out(`LB plugins from ${lb.pluginDir}; after \`plugin lock\`, reload them with: kill -HUP ${process.pid}`);
  }
  await new Promise<void>((done) => {
    // `on`, not `once`: a second Ctrl-C during teardown must not kill us with namespaces half removed.
    process.on("SIGINT", () => done());
    process.on("SIGTERM", () => done());
  });
  await sandbox.stop();
  return 0;
}
