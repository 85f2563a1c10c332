// Network namespaces for tests: unique names, always removed.
import { execFileSync } from "node:child_process";
import { closeSession } from "../../nft/netlink/sender.ts";

let counter = 0;

/** A name no other test process uses: prefix, process id and a counter. */
export function uniqueNetnsName(prefix: string): string {
  counter++;
  return `wpt-${prefix}-${process.pid}-${counter}`;
}

export function createNetns(name: string): void {
  execFileSync("ip", ["netns", "add", name]);
  execFileSync("ip", ["-n", name, "link", "set", "lo", "up"]);
}

export function deleteNetns(name: string): void {
  closeSession(name);
  try {
    execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
  } catch {
    // already gone
  }
}

/** Runs `body` with fresh namespaces named after `prefixes`, deleting them afterwards whatever happens. */
export async function withNetns<T>(
  prefixes: string[],
  body: (names: string[]) => Promise<T> | T,
): Promise<T> {
  const names: string[] = [];
  try {
    for (const prefix of prefixes) {
      const name = uniqueNetnsName(prefix);
      createNetns(name);
      names.push(name);
    }
    return await body(names);
  } finally {
    for (const name of names) deleteNetns(name);
  }
}

/** Runs a command inside a namespace and returns its stdout. */
export function inNetns(name: string, command: string[], input?: string): string {
  return execFileSync("ip", ["netns", "exec", name, ...command], { input, encoding: "utf8" });
}

/** Runs `ip` with `args`; its stderr becomes part of the error if it fails. */
export function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A veth pair: `name` in namespace `ns`, its peer `peerName` in namespace `peerNs`. */
export function vethPair(ns: string, name: string, peerName: string, peerNs: string): void {
  ip("-n", ns, "link", "add", name, "type", "veth", "peer", "name", peerName, "netns", peerNs);
}

/**
 * A routed veth between `node` (end `nodeSide`) and `peer` (end `eth0`): a /24 address on each end
 * (`v4` = [node, peer]) and, when `v6` is given, a /64 on each end without DAD; both ends up and the
 * peer's default routes via the node's addresses.
 */
export function vethLink(
  node: string,
  peer: string,
  nodeSide: string,
  v4: [string, string],
  v6?: [string, string],
): void {
  vethPair(node, nodeSide, "eth0", peer);
  ip("-n", node, "addr", "add", `${v4[0]}/24`, "dev", nodeSide);
  if (v6) ip("-n", node, "addr", "add", `${v6[0]}/64`, "dev", nodeSide, "nodad");
  ip("-n", node, "link", "set", nodeSide, "up");
  ip("-n", peer, "addr", "add", `${v4[1]}/24`, "dev", "eth0");
  if (v6) ip("-n", peer, "addr", "add", `${v6[1]}/64`, "dev", "eth0", "nodad");
  ip("-n", peer, "link", "set", "eth0", "up");
  ip("-n", peer, "route", "add", "default", "via", v4[0]);
  if (v6) ip("-n", peer, "-6", "route", "add", "default", "via", v6[0]);
}
