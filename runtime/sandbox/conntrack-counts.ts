// Live per-backend connection counts for the sandbox, from the node namespace's conntrack table: a
// DNATed flow's reply source is the backend that serves it.
import { execFile } from "node:child_process";
import { inNamedNetns } from "../../nft/netns.ts";

export interface BackendCount {
  backend: string;
  tcp: number;
  udp: number;
}

/** Parses `conntrack -L` lines; counts flows whose reply source differs from the original destination. */
export function countByBackend(conntrackOutput: string, backends: string[]): Map<string, BackendCount> {
  const counts = new Map<string, BackendCount>(backends.map((b) => [b, { backend: b, tcp: 0, udp: 0 }]));
  for (const line of conntrackOutput.split("\n")) {
    const proto = /^(tcp|udp)\s/.exec(line)?.[1] as "tcp" | "udp" | undefined;
    if (!proto) continue;
    const srcs = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]);
    const dsts = [...line.matchAll(/\bdst=(\S+)/g)].map((m) => m[1]);
    if (srcs.length < 2 || dsts.length < 1) continue;
    const backend = srcs[1];
    const entry = counts.get(backend);
    if (entry && dsts[0] !== backend) entry[proto]++;
  }
  return counts;
}

function listFamily(netns: string, family: "ipv4" | "ipv6"): Promise<string> {
  return new Promise((resolve) => {
    const [cmd, args] = inNamedNetns(netns, "conntrack", ["-L", "-f", family]);
    execFile(cmd, args, { encoding: "utf8" }, (err, stdout) => {
      resolve(err && !stdout ? "" : stdout);
    });
  });
}

/** The namespace's conntrack table, IPv4 and IPv6 (`conntrack -L` alone lists only IPv4). */
export async function readConntrack(netns: string): Promise<string> {
  return (await Promise.all([listFamily(netns, "ipv4"), listFamily(netns, "ipv6")])).join("\n");
}
