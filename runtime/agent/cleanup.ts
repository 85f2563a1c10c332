// Removes wasmplane's nftables tables from one network namespace, and nothing else.
import { assertOwnedTable, OWNED_TABLE, runNft } from "../../nft/apply.ts";

export interface OwnedTable {
  family: string;
  name: string;
}

/** Our tables in the namespace (`nft list tables` lines such as "table inet wasmplane"). */
export async function listOwnedTables(netns?: string): Promise<OwnedTable[]> {
  const out = await runNft(["list", "tables"], { netns });
  if (out.code !== 0)
    throw new Error(`nft list tables${netns ? ` in netns ${netns}` : ""}: ${out.stderr.trim()}`);
  return out.stdout
    .split("\n")
    .map((line) => /^table (\S+) (\S+)$/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null && OWNED_TABLE.test(m[2]))
    .map((m) => ({ family: m[1], name: m[2] }));
}

/** Deletes every wasmplane table in one transaction; returns what was deleted. */
export async function deleteOwnedTables(netns?: string): Promise<OwnedTable[]> {
  const tables = await listOwnedTables(netns);
  if (tables.length === 0) return [];
  for (const t of tables) assertOwnedTable(t.name);
  const script = tables.map((t) => `delete table ${t.family} ${t.name}`).join("\n");
  const out = await runNft(["-f", "-"], { netns }, `${script}\n`);
  if (out.code !== 0)
    throw new Error(
      `deleting ${tables.map((t) => `${t.family} ${t.name}`).join(", ")}: ${out.stderr.trim()}`,
    );
  return tables;
}
