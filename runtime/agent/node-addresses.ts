// The node IPs NodePorts answer on when none are configured: every global-scope address of the
// namespace the agent programs (kube-proxy's default, nodePortAddresses unset, is similar).
import { execFileSync } from "node:child_process";

interface IpAddrJson {
  ifname: string;
  addr_info?: { local: string; scope: string; family: string }[];
}

export function globalAddresses(netns?: string): string[] {
  const args = [...(netns ? ["-n", netns] : []), "-j", "addr", "show", "scope", "global"];
  const out = execFileSync("ip", args, { encoding: "utf8" });
  const links = JSON.parse(out || "[]") as IpAddrJson[];
  return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.scope === "global").map((a) => a.local));
}
