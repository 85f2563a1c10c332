// `wasmplane sandbox` (what `npm start` runs): a local sandbox in network namespaces.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { sandboxPrerequisiteProblem, startSandbox } from "../sandbox/sandbox.ts";

export const summary = "run a local sandbox: node, client and pod namespaces, the agent, echo servers";

const defaultExamples = fileURLToPath(new URL("../../examples/", import.meta.url));

export async function run(args: string[]): Promise<number> {
  let values: { manifests?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { manifests: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    console.error(`wasmplane sandbox: ${(err as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(
      "usage: wasmplane sandbox [--manifests DIR]\n\nBuilds namespaces for the endpoints in DIR (default examples), runs the agent, removes all on Ctrl-C.",
    );
    return 0;
  }
  const problem = sandboxPrerequisiteProblem();
  if (problem) {
    console.error(`wasmplane sandbox: ${problem}`);
    return 1;
  }
  const out = (line: string) => console.log(line);
  const sandbox = await startSandbox({
    examplesDir: values.manifests ?? defaultExamples,
    countsIntervalMs: 2000,
    out,
  });
  await new Promise<void>((resolve) => {
    // `on`, not `once`: a second Ctrl-C during teardown must not kill us with namespaces half removed.
    process.on("SIGINT", () => resolve());
    process.on("SIGTERM", () => resolve());
  });
  await sandbox.stop();
  return 0;
}
