// Live per-backend connection counts for the status page: one `conntrack -L` per family in the
// agent's namespace, run only when the page asks (every few seconds while it is open).

import { execFile } from "node:child_process";
import { inNetns, namedNetnsPath } from "../../nft/netns.ts";
import { countByBackend } from "../sandbox/conntrack-counts.ts";

export type ConnectionCounts =
  | { available: true; counts: Record<string, { tcp: number; udp: number }> }
  | { available: false; reason: string };

const LIST_TIMEOUT_MS = 3000;

function list(netns: string | null, family: "ipv4" | "ipv6"): Promise<string> {
  const [cmd, args] = netns
    ? inNetns(namedNetnsPath(netns), "conntrack", ["-L", "-f", family])
    : ["conntrack", ["-L", "-f", family]];
  return new Promise((resolve, reject) => {
    execFile(
      cmd as string,
      args as string[],
      { encoding: "utf8", timeout: LIST_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        // conntrack exits 1 on an empty table in some versions; output is what counts.
        if (err && !stdout) reject(new Error(`conntrack -L -f ${family}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

/** Counts the flows per backend address, or says why it cannot (no conntrack tool, no permission). */
export async function connectionCounts(netns: string | null, backends: string[]): Promise<ConnectionCounts> {
  try {
    const text = (await Promise.all([list(netns, "ipv4"), list(netns, "ipv6")])).join("\n");
    const counts: Record<string, { tcp: number; udp: number }> = {};
    for (const [address, c] of countByBackend(text, backends)) counts[address] = { tcp: c.tcp, udp: c.udp };
    return { available: true, counts };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}
