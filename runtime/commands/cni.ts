// `wasmplane cni install|serve`: install the CNI executable and conflist; run the CNI server alone
// (without the rest of the agent), for tests, benchmarks and debugging.
import { parseArgs } from "node:util";
import { installCni } from "../cni/install.ts";

export const summary = "install the CNI executable and conflist; serve CNI requests standalone";

export const usage = `usage:
  wasmplane cni install --bin-dir DIR --conf-dir DIR [--socket PATH] [--name NAME] [--no-portmap]
  wasmplane cni serve --pod-cidr CIDR [--pod-cidr CIDR] [--socket PATH] [--state-dir DIR]
                      [--netns NAME] [--mtu N] [--ipam range|wasm:range|wasm:random|wasm:static|wasm:FILE] [--plugin-lock FILE]
                      [--node-rules [--cluster-cidr CIDR]...]   (own the netns's inet wasmplane table)`;

async function install(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "bin-dir": { type: "string" },
      "conf-dir": { type: "string" },
      socket: { type: "string" },
      name: { type: "string" },
      "no-portmap": { type: "boolean" },
    },
  });
  if (!values["bin-dir"] || !values["conf-dir"]) {
    process.stderr.write(`cni install: --bin-dir and --conf-dir are required\n${usage}` + "\n");
    return 2;
  }
  const out = await installCni({
    binDir: values["bin-dir"],
    confDir: values["conf-dir"],
    agentSocket: values.socket,
    name: values.name,
    portmap: !values["no-portmap"],
  });
  process.stdout.write(`installed ${out.executable}\ninstalled ${out.conflist}\n`);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "install") return install(rest);
  if (sub === "serve") return (await import("../cni/serve-command.ts")).serve(rest);
  process.stderr.write(`${usage}\n`);
  return 2;
}
