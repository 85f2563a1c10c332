// `wasmplane status`: ask a running agent what it serves and how its syncs go.
import { parseArgs } from "node:util";
import { defaultStatusAddress } from "../agent/config.ts";
import { formatStatus } from "../agent/status.ts";
import { fetchStatus } from "../agent/status-server.ts";

export const summary = "show a running agent's services, endpoints, last sync and problems";

export async function run(args: string[]): Promise<number> {
  let values: { "status-address"?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        "status-address": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`wasmplane status: ${(err as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(
      `usage: wasmplane status [--status-address unix:/path|127.0.0.1:PORT|[::1]:PORT] [--json]\n\n` +
        "Prints the agent's pid and version, services, endpoints, syncs and problems.\n" +
        `default address: ${defaultStatusAddress}; the agent serves the same status on a TCP --status-address,\n` +
        "and its status page at http://ADDRESS/ (kubectl port-forward to it on a node).",
    );
    return 0;
  }
  const status = await fetchStatus(values["status-address"] ?? defaultStatusAddress);
  console.log(values.json ? JSON.stringify(status, null, 2) : formatStatus(status));
  return status.lastSync && !status.lastSync.ok ? 1 : 0;
}
