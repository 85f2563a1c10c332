// Builds and removes the sandbox namespaces with `ip`. Everything is created inside namespaces the
// sandbox owns: veth pairs are created directly in the node namespace with the peer end placed in
// the pod or client namespace, so no interface ever appears in the machine's own namespace.
// The sandbox attaches its pods through the CNI executable (cni-attach.ts); `wirePods` is the
// hand-made equivalent for tests that run the agent without pod networking.
import { execFileSync } from "node:child_process";
import { inNamedNetns } from "../../nft/netns.ts";
import type { SandboxPlan } from "./plan.ts";

/** Runs `command args…`; an error names the command line and carries its stderr. */
function run(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`${command} ${args.join(" ")}: ${stderr || (err as Error).message}`);
  }
}

function ip(args: string[]): void {
  run("ip", args);
}

function sysctl(netns: string, key: string, value: string): void {
  run(...inNamedNetns(netns, "sysctl", ["-q", "-w", `${key}=${value}`]));
}

export function namespacesOf(plan: SandboxPlan): string[] {
  return [plan.nodeNetns, plan.clientNetns, ...plan.pods.map((p) => p.netns)];
}

/** The node-side name of the client link: not `wp…`, which the pod anti-spoofing rules claim. */
export const clientLink = "sb-client";

/** Every namespace of the plan, the node's forwarding sysctls and the client link; pods stay unwired. */
export function buildNamespaces(plan: SandboxPlan): void {
  const v6 = plan.ipv6;
  for (const ns of namespacesOf(plan)) {
    ip(["netns", "add", ns]);
    ip(["-n", ns, "link", "set", "lo", "up"]);
    // No duplicate address detection in these private links: addresses are usable at once.
    if (v6) for (const scope of ["all", "default"]) sysctl(ns, `net.ipv6.conf.${scope}.accept_dad`, "0");
  }
  const node = plan.nodeNetns;
  sysctl(node, "net.ipv4.ip_forward", "1");
  if (v6) sysctl(node, "net.ipv6.conf.all.forwarding", "1");
  // Masqueraded replies and hairpin need conntrack to see bridged/local traffic; route_localnet is not needed.

  // client <-> node: an ordinary /24 link; the node's address here is the node IP for NodePorts.
  ip([
    "-n",
    node,
    "link",
    "add",
    clientLink,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    plan.clientNetns,
  ]);
  ip(["-n", node, "addr", "add", `${plan.nodeIP}/24`, "dev", clientLink]);
  ip(["-n", node, "link", "set", clientLink, "up"]);
  ip(["-n", plan.clientNetns, "addr", "add", `${plan.clientIP}/24`, "dev", "eth0"]);
  ip(["-n", plan.clientNetns, "link", "set", "eth0", "up"]);
  ip(["-n", plan.clientNetns, "route", "add", "default", "via", plan.nodeIP]);
  if (v6) {
    ip(["-n", node, "addr", "add", `${v6.nodeIP}/64`, "dev", clientLink, "nodad"]);
    ip(["-n", plan.clientNetns, "addr", "add", `${v6.clientIP}/64`, "dev", "eth0", "nodad"]);
    ip(["-n", plan.clientNetns, "-6", "route", "add", "default", "via", v6.nodeIP]);
  }
}

/** Namespaces plus hand-made pod veths (no CNI): what tests of the service half use. */
export function buildTopology(plan: SandboxPlan): void {
  buildNamespaces(plan);
  wirePods(plan);
}

/** Routed /32 pod addresses; every node-side veth holds the same link-local gateway address. */
export function wirePods(plan: SandboxPlan): void {
  const node = plan.nodeNetns;
  const v6 = plan.ipv6;
  for (const pod of plan.pods) {
    ip(["-n", node, "link", "add", pod.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", pod.netns]);
    ip(["-n", node, "link", "set", pod.hostVeth, "up"]);
    ip(["-n", node, "addr", "add", `${plan.podGateway}/32`, "dev", pod.hostVeth, "scope", "link"]);
    ip(["-n", node, "route", "add", `${pod.address}/32`, "dev", pod.hostVeth]);
    ip(["-n", pod.netns, "addr", "add", `${pod.address}/32`, "dev", "eth0"]);
    ip(["-n", pod.netns, "link", "set", "eth0", "up"]);
    ip(["-n", pod.netns, "route", "add", plan.podGateway, "dev", "eth0", "scope", "link"]);
    ip(["-n", pod.netns, "route", "add", "default", "via", plan.podGateway, "dev", "eth0"]);
    if (v6 && pod.address6) {
      ip(["-n", node, "addr", "add", `${v6.podGateway}/64`, "dev", pod.hostVeth, "nodad"]);
      ip(["-n", node, "-6", "route", "add", `${pod.address6}/128`, "dev", pod.hostVeth]);
      ip(["-n", pod.netns, "addr", "add", `${pod.address6}/128`, "dev", "eth0", "nodad"]);
      ip(["-n", pod.netns, "-6", "route", "add", "default", "via", v6.podGateway, "dev", "eth0"]);
    }
  }
}

/** Deletes every namespace of the plan (deleting the node namespace also removes its nftables table). */
export function destroyTopology(plan: SandboxPlan): string[] {
  const failed: string[] = [];
  for (const ns of namespacesOf(plan)) {
    try {
      execFileSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
    } catch {
      if (listNetns().includes(ns)) failed.push(ns);
    }
  }
  return failed;
}

export function listNetns(): string[] {
  const out = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter(Boolean);
}

/** Whether `name` (`wpsb-<pid>-…`) belongs to a sandbox whose process is gone (killed with SIGKILL). */
export function isLeftover(name: string): boolean {
  const m = /^wpsb-(\d+)-/.exec(name);
  if (!m) return false;
  try {
    process.kill(Number(m[1]), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Namespaces of sandboxes whose process is gone. */
export function leftoverSandboxNetns(): string[] {
  return listNetns().filter(isLeftover);
}
