// `wasmplane cleanup [--netns NAME]`: remove wasmplane's nftables tables (only ours).
import { parseArgs } from "node:util";
import { deleteOwnedTables } from "../agent/cleanup.ts";

export const summary = "remove wasmplane's nftables tables (only ours) [--netns NAME]";

export async function run(args: string[]): Promise<number> {
  let netns: string | undefined;
  try {
    const { values } = parseArgs({
      args,
      options: { netns: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      console.log(
        "usage: wasmplane cleanup [--netns NAME]\n\nDeletes the nftables tables wasmplane created (inet wasmplane); other tables are untouched.",
      );
      return 0;
    }
    netns = values.netns;
  } catch (err) {
    console.error(`wasmplane cleanup: ${(err as Error).message}`);
    return 2;
  }
  const deleted = await deleteOwnedTables(netns);
  const where = netns ? ` in netns ${netns}` : "";
  if (deleted.length === 0) console.log(`no wasmplane tables${where}`);
  else console.log(`deleted ${deleted.map((t) => `table ${t.family} ${t.name}`).join(", ")}${where}`);
  return 0;
}
